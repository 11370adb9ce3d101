package dashboard

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/shopspring/decimal"
	"github.com/sluice-ln/sluice/channels"
	"github.com/sluice-ln/sluice/ledger"
	"github.com/sluice-ln/sluice/payout"
	"github.com/sluice-ln/sluice/settlement"
)

// goodMac is the one macaroon the fake verifier takes.
const goodMac = "0201abcdef"

type fakeVerifier struct{}

func (fakeVerifier) VerifyOperatorMacaroon(m string) error {
	if m != goodMac {
		return errors.New("not valid")
	}
	return nil
}

// fakeDomain is the domain's reads, with one running job of provider p1
// whose seconds and paid total the test moves.
type fakeDomain struct {
	mu      sync.Mutex
	seconds int64
	paid    ledger.MilliSatoshi
}

func (f *fakeDomain) status() settlement.Status {
	f.mu.Lock()
	defer f.mu.Unlock()
	st := settlement.Status{Job: settlement.Job{ID: "job1", BuyerID: "b1",
		ProviderID: "p1", State: settlement.StateRunning,
		PricePerSecond: decimal.NewFromInt(1000)},
		SecondsMetered: f.seconds,
		Spent:          ledger.MilliSatoshi(f.seconds * 1000)}
	st.Solvency = settlement.Evaluate(50_000, st.PricePerSecond, 5)
	return st
}

func (f *fakeDomain) ListJobs(context.Context, settlement.ListFilter) (
	[]settlement.Status, error) {

	return []settlement.Status{f.status()}, nil
}

func (f *fakeDomain) GetJob(_ context.Context, id string) (settlement.Status,
	error) {

	if id != "job1" {
		return settlement.Status{}, settlement.ErrJobNotFound
	}
	return f.status(), nil
}

func (f *fakeDomain) Providers(context.Context) ([]channels.Provider, error) {
	return []channels.Provider{{ID: "p1", Alias: "alice"}}, nil
}

func (f *fakeDomain) view(id string) (payout.ProviderView, error) {
	if id != "p1" {
		return payout.ProviderView{}, payout.ErrProviderNotFound
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	return payout.ProviderView{ProviderID: id, PaidOut: f.paid,
		Status: payout.Status{State: payout.StatusOK}}, nil
}

func (f *fakeDomain) Provider(_ context.Context, id string, _ int) (
	payout.ProviderView, error) {

	return f.view(id)
}

func (f *fakeDomain) ProviderStatus(_ context.Context, id string, _ bool) (
	payout.ProviderStatus, error) {

	v, err := f.view(id)
	return payout.ProviderStatus{ProviderView: v}, err
}

// newTestServer serves a dashboard over TLS with a client that keeps
// cookies and does not follow redirects.
func newTestServer(t *testing.T) (*httptest.Server, *http.Client,
	*Sessions, *fakeDomain, *time.Time) {

	now := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	clock := func() time.Time { return now }
	sessions := NewSessions(clock)
	dom := &fakeDomain{seconds: 3}
	h, err := New(Config{Verifier: fakeVerifier{}, Sessions: sessions,
		Jobs: dom, Providers: dom, Payouts: dom, Now: clock})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewTLSServer(h)
	t.Cleanup(srv.Close)
	c := srv.Client()
	jar := newJar()
	c.Jar = jar
	c.CheckRedirect = func(*http.Request, []*http.Request) error {
		return http.ErrUseLastResponse
	}
	c.Timeout = 10 * time.Second
	return srv, c, sessions, dom, &now
}

// jar is a minimal cookie jar that ignores Secure and paths.
type jar struct {
	mu sync.Mutex
	c  map[string]*http.Cookie
}

func newJar() *jar { return &jar{c: map[string]*http.Cookie{}} }

func (j *jar) SetCookies(_ *url.URL, cs []*http.Cookie) {
	j.mu.Lock()
	defer j.mu.Unlock()
	for _, c := range cs {
		if c.MaxAge < 0 {
			delete(j.c, c.Name)
			continue
		}
		j.c[c.Name] = c
	}
}

func (j *jar) Cookies(*url.URL) []*http.Cookie {
	j.mu.Lock()
	defer j.mu.Unlock()
	var out []*http.Cookie
	for _, c := range j.c {
		out = append(out, c)
	}
	return out
}

// protected are every page, data endpoint and stream.
var protected = []string{"/dashboard/", "/dashboard/job?id=job1",
	"/dashboard/provider?id=p1", "/dashboard/vault", "/dashboard/api/now",
	"/dashboard/api/job?id=job1", "/dashboard/api/provider?id=p1",
	"/dashboard/api/vault", "/dashboard/stream/now"}

func get(t *testing.T, c *http.Client, u string,
	header ...string) (*http.Response, string) {

	t.Helper()
	req, err := http.NewRequest(http.MethodGet, u, nil)
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	resp, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp, string(b)
}

// TestNoSessionNoData: every page, data endpoint and stream answers 401
// without a session, with a wrong macaroon header or a made-up cookie,
// and nothing read from the domain is in the answer.
func TestNoSessionNoData(t *testing.T) {
	srv, c, _, _, _ := newTestServer(t)
	for _, p := range protected {
		for name, hdr := range map[string][]string{
			"none":         nil,
			"wrong header": {"macaroon", "02deadbeef"},
			"made-up cookie": {"Cookie", CookieName + "=" +
				strings.Repeat("ab", 32)},
		} {
			resp, body := get(t, c, srv.URL+p, hdr...)
			if resp.StatusCode != http.StatusUnauthorized {
				t.Errorf("%s, %s: %d", p, name, resp.StatusCode)
			}
			// The login page names the page asked for (next),
			// nothing the store holds.
			if strings.Contains(body, "alice") ||
				strings.Contains(body, "seconds_metered") {

				t.Errorf("%s, %s: data in the answer: %s", p,
					name, body)
			}
		}
	}
	// The header with the operator's macaroon is enough for scripts.
	resp, body := get(t, c, srv.URL+"/dashboard/api/now", "macaroon",
		goodMac)
	if resp.StatusCode != http.StatusOK || !strings.Contains(body, "job1") {
		t.Fatalf("with the macaroon header: %d %s", resp.StatusCode, body)
	}
}

// TestLogin: a wrong macaroon is refused with 401 and no cookie; the
// right one sets an HttpOnly, Secure, SameSite=Strict session cookie that
// opens the pages; logging out ends it.
func TestLogin(t *testing.T) {
	srv, c, _, _, _ := newTestServer(t)
	post := func(mac string) *http.Response {
		resp, err := c.PostForm(srv.URL+"/dashboard/login", url.Values{
			"macaroon": {mac}, "next": {"/dashboard/vault"}})
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp
	}
	for _, bad := range []string{"", "02deadbeef", "not hex"} {
		resp := post(bad)
		if resp.StatusCode != http.StatusUnauthorized ||
			len(resp.Cookies()) != 0 {

			t.Fatalf("login with %q: %d %v", bad, resp.StatusCode,
				resp.Cookies())
		}
	}
	resp := post(goodMac)
	if resp.StatusCode != http.StatusSeeOther ||
		resp.Header.Get("Location") != "/dashboard/vault" {

		t.Fatalf("login: %d %s", resp.StatusCode,
			resp.Header.Get("Location"))
	}
	ck := resp.Cookies()
	if len(ck) != 1 || !ck[0].HttpOnly || !ck[0].Secure ||
		ck[0].SameSite != http.SameSiteStrictMode ||
		ck[0].Path != Prefix {

		t.Fatalf("cookie: %+v", ck)
	}
	for _, p := range protected[:len(protected)-1] {
		if resp, body := get(t, c, srv.URL+p); resp.StatusCode !=
			http.StatusOK {

			t.Errorf("%s with a session: %d %s", p,
				resp.StatusCode, body)
		}
	}
	var now NowView
	_, body := get(t, c, srv.URL+"/dashboard/api/now")
	if err := json.Unmarshal([]byte(body), &now); err != nil {
		t.Fatal(err)
	}
	if len(now.Jobs) != 1 || now.Jobs[0].SecondsMetered != 3 ||
		now.Jobs[0].SpentMsat != 3000 || now.Jobs[0].RunwaySeconds != 50 ||
		len(now.Providers) != 1 || now.Providers[0].Alias != "alice" ||
		now.Reconcile.Ran {

		t.Fatalf("now: %+v", now)
	}
	if resp, _ := get(t, c, srv.URL+"/dashboard/api/job?id=nope"); resp.
		StatusCode != http.StatusNotFound {

		t.Fatalf("unknown job: %d", resp.StatusCode)
	}

	resp, err := c.PostForm(srv.URL+"/dashboard/logout", nil)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp, _ := get(t, c, srv.URL+"/dashboard/"); resp.StatusCode !=
		http.StatusUnauthorized {

		t.Fatalf("after logout: %d", resp.StatusCode)
	}
}

// TestLinkOnce: a link works once and not after it expired; a session
// expires too.
func TestLinkOnce(t *testing.T) {
	srv, c, sessions, _, now := newTestServer(t)
	tok, _, err := sessions.NewLink()
	if err != nil {
		t.Fatal(err)
	}
	resp, _ := get(t, c, srv.URL+"/dashboard/link?token="+tok)
	if resp.StatusCode != http.StatusSeeOther || len(resp.Cookies()) != 1 {
		t.Fatalf("link: %d", resp.StatusCode)
	}
	if resp, _ := get(t, c, srv.URL+"/dashboard/"); resp.StatusCode !=
		http.StatusOK {

		t.Fatalf("after the link: %d", resp.StatusCode)
	}
	c.Jar = newJar()
	if resp, _ := get(t, c, srv.URL+"/dashboard/link?token="+tok); resp.
		StatusCode != http.StatusUnauthorized || len(resp.Cookies()) != 0 {

		t.Fatalf("link again: %d", resp.StatusCode)
	}

	late, _, err := sessions.NewLink()
	if err != nil {
		t.Fatal(err)
	}
	*now = now.Add(LinkTTL)
	if resp, _ := get(t, c, srv.URL+"/dashboard/link?token="+late); resp.
		StatusCode != http.StatusUnauthorized {

		t.Fatalf("expired link: %d", resp.StatusCode)
	}
}

// TestStream: the stream pushes the now view, and a later message shows
// the meter moved.
func TestStream(t *testing.T) {
	srv, c, _, dom, _ := newTestServer(t)
	ctx, cancel := context.WithTimeout(context.Background(),
		10*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet,
		srv.URL+"/dashboard/stream/now", nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("macaroon", goodMac)
	resp, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if ct := resp.Header.Get("Content-Type"); ct != "text/event-stream" {
		t.Fatalf("content type %q", ct)
	}
	lines := bufio.NewScanner(resp.Body)
	lines.Buffer(nil, 1<<20)
	next := func() NowView {
		for lines.Scan() {
			data, ok := strings.CutPrefix(lines.Text(), "data: ")
			if !ok {
				continue
			}
			var v NowView
			if err := json.Unmarshal([]byte(data), &v); err != nil {
				t.Fatal(err)
			}
			return v
		}
		t.Fatalf("stream ended: %v", lines.Err())
		return NowView{}
	}
	if v := next(); v.Jobs[0].SecondsMetered != 3 {
		t.Fatalf("first: %+v", v.Jobs)
	}
	dom.mu.Lock()
	dom.seconds, dom.paid = 9, 4000
	dom.mu.Unlock()
	for {
		v := next()
		if v.Jobs[0].SecondsMetered == 9 {
			if v.Providers[0].PaidOutMsat != 4000 {
				t.Fatalf("paid: %+v", v.Providers)
			}
			return
		}
	}
}

// TestSafeNext keeps redirects on the dashboard.
func TestSafeNext(t *testing.T) {
	for in, want := range map[string]string{
		"/dashboard/job?id=x":    "/dashboard/job?id=x",
		"https://evil/dashboard": Prefix,
		"//evil/dashboard/":      Prefix,
		"/other":                 Prefix,
		"/dashboard/login":       Prefix,
		"":                       Prefix,
	} {
		if got := safeNext(in); got != want {
			t.Errorf("safeNext(%q) = %q, want %q", in, got, want)
		}
	}
}

// TestCloseEndsStreams: Close ends open event streams, so that the API
// server can drain when sluiced stops.
func TestCloseEndsStreams(t *testing.T) {
	dom := &fakeDomain{seconds: 1}
	h, err := New(Config{Verifier: fakeVerifier{},
		Sessions: NewSessions(time.Now), Jobs: dom, Providers: dom,
		Payouts: dom})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewTLSServer(h)
	defer srv.Close()
	ctx, cancel := context.WithTimeout(context.Background(),
		10*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet,
		srv.URL+"/dashboard/stream/now", nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("macaroon", goodMac)
	resp, err := srv.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	first := make([]byte, 16)
	if _, err := io.ReadFull(resp.Body, first); err != nil {
		t.Fatal(err)
	}
	h.Close()
	if _, err := io.Copy(io.Discard, resp.Body); err != nil {
		t.Fatalf("the stream did not end cleanly: %v", err)
	}
}
