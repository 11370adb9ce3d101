package dashboard

import (
	"context"
	"embed"
	"encoding/json"
	"errors"
	"fmt"
	"html/template"
	"io/fs"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"
)

// Prefix is where sluiced mounts the dashboard on the API's listener.
const Prefix = "/dashboard/"

// Names the handler uses on the wire.
const (
	// CookieName is the session cookie.
	CookieName = "sluice_dashboard"

	// headerMacaroon carries an operator macaroon in hex, as on the
	// API; data endpoints take it instead of a session, for scripts.
	headerMacaroon = "macaroon"

	// streamInterval is how often the event stream pushes its view.
	streamInterval = time.Second

	// readTimeout bounds one view's reads.
	readTimeout = 10 * time.Second

	// maxLoginBytes bounds the login form.
	maxLoginBytes = 64 << 10
)

// web holds the pages and their assets. web/static/vendor holds the
// chart library, copied from npm by scripts/web.sh; without it the pages
// say the charts are missing.
//
//go:embed web/*.html web/static
var web embed.FS

// Config is what New needs.
type Config struct {
	// Verifier checks operator macaroons at login.
	Verifier Verifier

	// Sessions holds links and sessions; the API's operator call mints
	// links in the same one.
	Sessions *Sessions

	// Jobs, Providers and Payouts are read for every view.
	Jobs      Jobs
	Providers Providers
	Payouts   Payouts

	// Reconcile tells the last reconciliation; nil shows none.
	Reconcile Reconciliations

	// Vault reads the vault's figures; nil shows that there is none.
	Vault Vault

	// ShareOps reads the share asset's recorded tranches and burns; nil
	// when sluiced runs without tapd.
	ShareOps ShareOps

	// Now is the clock; time.Now when nil.
	Now func() time.Time
}

// Handler serves the dashboard under Prefix.
type Handler struct {
	cfg   Config
	views *views
	mux   *http.ServeMux
	login *template.Template

	// done is closed by Close: event streams end.
	done      chan struct{}
	closeOnce sync.Once
}

var _ http.Handler = (*Handler)(nil)

// New returns the dashboard's handler.
func New(cfg Config) (*Handler, error) {
	if cfg.Verifier == nil || cfg.Sessions == nil || cfg.Jobs == nil ||
		cfg.Providers == nil || cfg.Payouts == nil {

		return nil, errors.New("dashboard: Verifier, Sessions, Jobs, " +
			"Providers and Payouts are required")
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	login, err := template.ParseFS(web, "web/login.html")
	if err != nil {
		return nil, fmt.Errorf("dashboard: login page: %w", err)
	}
	h := &Handler{
		cfg: cfg,
		views: &views{jobs: cfg.Jobs, providers: cfg.Providers,
			payouts: cfg.Payouts, reconcile: cfg.Reconcile,
			vault: cfg.Vault, shareOps: cfg.ShareOps,
			now: cfg.Now},
		mux:   http.NewServeMux(),
		login: login,
		done:  make(chan struct{}),
	}
	static, err := fs.Sub(web, "web/static")
	if err != nil {
		return nil, err
	}
	m := h.mux
	// Open: the login, the link and the assets (our own code and the
	// chart library, the same in every build; no data).
	m.Handle("GET "+Prefix+"static/", http.StripPrefix(Prefix+"static/",
		http.FileServerFS(static)))
	m.HandleFunc("GET "+Prefix+"login", h.loginPage)
	m.HandleFunc("POST "+Prefix+"login", h.loginPost)
	m.HandleFunc("GET "+Prefix+"link", h.link)
	m.HandleFunc("POST "+Prefix+"logout", h.logout)

	// Behind a session: the pages, the data and the stream.
	m.HandleFunc("GET "+Prefix+"{$}", h.page("now.html"))
	m.HandleFunc("GET "+Prefix+"job", h.page("job.html"))
	m.HandleFunc("GET "+Prefix+"provider", h.page("provider.html"))
	m.HandleFunc("GET "+Prefix+"vault", h.page("vault.html"))
	m.HandleFunc("GET "+Prefix+"api/{view}", h.data)
	m.HandleFunc("GET "+Prefix+"stream/{view}", h.stream)
	return h, nil
}

// ServeHTTP serves a dashboard request. Every answer forbids caching and
// framing.
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	hd := w.Header()
	hd.Set("Cache-Control", "no-store")
	hd.Set("X-Frame-Options", "DENY")
	hd.Set("X-Content-Type-Options", "nosniff")
	hd.Set("Referrer-Policy", "no-referrer")
	hd.Set("Content-Security-Policy", "default-src 'self'; "+
		"style-src 'self' 'unsafe-inline'; frame-ancestors 'none'")
	h.mux.ServeHTTP(w, r)
}

// Close ends every event stream, now and later, so that the server
// drains: the daemon calls it when the API server stops.
func (h *Handler) Close() {
	h.closeOnce.Do(func() { close(h.done) })
}

// authorized says whether r carries a live session cookie or, for
// scripts, a valid operator macaroon in the macaroon header.
func (h *Handler) authorized(r *http.Request) bool {
	if c, err := r.Cookie(CookieName); err == nil &&
		h.cfg.Sessions.valid(c.Value) {

		return true
	}
	if mac := r.Header.Get(headerMacaroon); mac != "" {
		return h.cfg.Verifier.VerifyOperatorMacaroon(mac) == nil
	}
	return false
}

// loginData fills the login page.
type loginData struct {
	Next    string
	Message string
}

// refuse answers 401: the login page for a page, a short JSON error for
// data; nothing else.
func (h *Handler) refuse(w http.ResponseWriter, r *http.Request,
	message string) {

	if strings.HasPrefix(r.URL.Path, Prefix+"api/") ||
		strings.HasPrefix(r.URL.Path, Prefix+"stream/") {

		writeJSON(w, http.StatusUnauthorized, map[string]string{
			"error": "unauthenticated: log in with the operator " +
				"macaroon"})
		return
	}
	h.renderLogin(w, http.StatusUnauthorized, r.URL.RequestURI(), message)
}

// renderLogin writes the login page with status.
func (h *Handler) renderLogin(w http.ResponseWriter, status int,
	next, message string) {

	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.WriteHeader(status)
	err := h.login.Execute(w, loginData{Next: safeNext(next),
		Message: message})
	if err != nil {
		log.Debugf("Login page: %v", err)
	}
}

// safeNext keeps a post-login redirect on the dashboard.
func safeNext(next string) string {
	u, err := url.Parse(next)
	if err != nil || u.IsAbs() || u.Host != "" ||
		!strings.HasPrefix(u.Path, Prefix) ||
		strings.HasPrefix(u.Path, Prefix+"login") ||
		strings.HasPrefix(u.Path, Prefix+"link") {

		return Prefix
	}
	return u.RequestURI()
}

// loginPage shows the login form.
func (h *Handler) loginPage(w http.ResponseWriter, r *http.Request) {
	h.renderLogin(w, http.StatusOK, r.URL.Query().Get("next"), "")
}

// loginPost checks the operator macaroon and starts a session.
func (h *Handler) loginPost(w http.ResponseWriter, r *http.Request) {
	r.Body = http.MaxBytesReader(w, r.Body, maxLoginBytes)
	if err := r.ParseForm(); err != nil {
		h.renderLogin(w, http.StatusBadRequest, "", "Bad form.")
		return
	}
	next := r.PostForm.Get("next")
	mac := strings.TrimSpace(r.PostForm.Get("macaroon"))
	if mac == "" {
		h.renderLogin(w, http.StatusUnauthorized, next,
			"Paste the operator macaroon in hex.")
		return
	}
	if err := h.cfg.Verifier.VerifyOperatorMacaroon(mac); err != nil {
		log.Infof("Dashboard login refused from %s: %v", r.RemoteAddr,
			err)
		h.renderLogin(w, http.StatusUnauthorized, next,
			"That is not an operator macaroon of this sluiced.")
		return
	}
	h.startSession(w, r, next)
}

// link trades a one-time link token for a session.
func (h *Handler) link(w http.ResponseWriter, r *http.Request) {
	if err := h.cfg.Sessions.useLink(r.URL.Query().Get("token")); err != nil {
		log.Infof("Dashboard link refused from %s: %v", r.RemoteAddr,
			err)
		h.renderLogin(w, http.StatusUnauthorized, Prefix,
			"That link was used already or has expired; ask "+
				"`sluice operator dashboard` for another.")
		return
	}
	h.startSession(w, r, Prefix)
}

// startSession sets a new session's cookie and sends the browser on.
func (h *Handler) startSession(w http.ResponseWriter, r *http.Request,
	next string) {

	tok, _, err := h.cfg.Sessions.newSession()
	if err != nil {
		log.Errorf("Dashboard session: %v", err)
		http.Error(w, "no session", http.StatusInternalServerError)
		return
	}
	log.Infof("Dashboard session started from %s", r.RemoteAddr)
	// Max-Age, not Expires: the browser's clock need not agree with
	// sluiced's. The session ends on sluiced's clock either way.
	http.SetCookie(w, &http.Cookie{
		Name: CookieName, Value: tok, Path: Prefix,
		MaxAge: int(SessionTTL / time.Second), HttpOnly: true,
		Secure: true, SameSite: http.SameSiteStrictMode,
	})
	http.Redirect(w, r, safeNext(next), http.StatusSeeOther)
}

// logout ends the session.
func (h *Handler) logout(w http.ResponseWriter, r *http.Request) {
	if c, err := r.Cookie(CookieName); err == nil {
		h.cfg.Sessions.end(c.Value)
	}
	http.SetCookie(w, &http.Cookie{Name: CookieName, Path: Prefix,
		MaxAge: -1, HttpOnly: true, Secure: true,
		SameSite: http.SameSiteStrictMode})
	http.Redirect(w, r, Prefix+"login", http.StatusSeeOther)
}

// page serves one of the pages, behind a session. The pages hold no data:
// their script reads it from api/ and stream/.
func (h *Handler) page(name string) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if !h.authorized(r) {
			h.refuse(w, r, "")
			return
		}
		b, err := web.ReadFile("web/" + name)
		if err != nil {
			http.Error(w, "no page", http.StatusInternalServerError)
			return
		}
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		_, _ = w.Write(b)
	}
}

// read builds the view r asks for.
func (h *Handler) read(ctx context.Context, r *http.Request) (any, error) {
	ctx, cancel := context.WithTimeout(ctx, readTimeout)
	defer cancel()
	id := r.URL.Query().Get("id")
	switch r.PathValue("view") {
	case "now":
		return h.views.nowView(ctx)
	case "job":
		return h.views.jobView(ctx, id)
	case "provider":
		return h.views.providerPage(ctx, id)
	case "vault":
		return h.views.vaultView(ctx)
	default:
		return nil, fmt.Errorf("view %q: %w", r.PathValue("view"),
			errNotFound)
	}
}

// data answers one view as JSON, behind a session.
func (h *Handler) data(w http.ResponseWriter, r *http.Request) {
	if !h.authorized(r) {
		h.refuse(w, r, "")
		return
	}
	v, err := h.read(r.Context(), r)
	if err != nil {
		writeError(w, err)
		return
	}
	writeJSON(w, http.StatusOK, v)
}

// stream pushes one view as server-sent events every streamInterval, until
// the client goes or the session ends.
func (h *Handler) stream(w http.ResponseWriter, r *http.Request) {
	if !h.authorized(r) {
		h.refuse(w, r, "")
		return
	}
	flusher, ok := w.(http.Flusher)
	if !ok {
		http.Error(w, "streaming unsupported", http.StatusInternalServerError)
		return
	}
	if _, err := h.read(r.Context(), r); errors.Is(err, errNotFound) {
		writeError(w, err)
		return
	}
	w.Header().Set("Content-Type", "text/event-stream")
	w.WriteHeader(http.StatusOK)

	ticker := time.NewTicker(streamInterval)
	defer ticker.Stop()
	for {
		if !h.authorized(r) {
			_, _ = fmt.Fprint(w, "event: logout\ndata: {}\n\n")
			flusher.Flush()
			return
		}
		v, err := h.read(r.Context(), r)
		var b []byte
		if err == nil {
			b, err = json.Marshal(v)
		}
		if err != nil {
			if r.Context().Err() != nil {
				return
			}
			log.Warnf("Dashboard stream %s: %v", r.URL.Path, err)
			b, _ = json.Marshal(map[string]string{
				"error": err.Error()})
			_, _ = fmt.Fprintf(w, "event: failure\ndata: %s\n\n", b)
		} else {
			_, _ = fmt.Fprintf(w, "data: %s\n\n", b)
		}
		flusher.Flush()
		select {
		case <-r.Context().Done():
			return
		case <-h.done:
			return
		case <-ticker.C:
		}
	}
}

// writeError answers a read's error: 404 for an unknown job, provider or
// view, 500 otherwise.
func writeError(w http.ResponseWriter, err error) {
	status := http.StatusInternalServerError
	if errors.Is(err, errNotFound) {
		status = http.StatusNotFound
	} else {
		log.Warnf("Dashboard read: %v", err)
	}
	writeJSON(w, status, map[string]string{"error": err.Error()})
}

// writeJSON writes v as JSON with status.
func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	if err := json.NewEncoder(w).Encode(v); err != nil {
		log.Debugf("Dashboard write: %v", err)
	}
}
