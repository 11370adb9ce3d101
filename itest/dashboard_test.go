//go:build itest

package itest

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
)

// chromiumPath is Debian's chromium, which scripts/chromium.sh installs.
const chromiumPath = "/usr/bin/chromium"

// envArtifacts names the directory the browser test saves its screenshots
// in; a new directory under the system's temp dir when unset.
const envArtifacts = "SLUICE_ARTIFACTS"

// browser is a headless chromium with a fresh profile, driven by chromedp
// through a pipe.
type browser struct {
	t      *testing.T
	ctx    context.Context
	shots  string
	cancel func()
}

// newBrowser starts chromium with a profile of its own; it is stopped when
// the test ends.
func newBrowser(t *testing.T, shots string) *browser {
	t.Helper()
	if _, err := os.Stat(chromiumPath); err != nil {
		t.Fatalf("no chromium at %s (scripts/chromium.sh installs it; "+
			"make itest runs it): %v", chromiumPath, err)
	}
	alloc, cancelAlloc := chromedp.NewExecAllocator(context.Background(),
		chromedp.ExecPath(chromiumPath),
		chromedp.Flag("headless", true),
		chromedp.Flag("no-sandbox", true),
		chromedp.Flag("disable-gpu", true),
		chromedp.Flag("no-first-run", true),
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.Flag("disable-quic", true),
		// sluiced's certificate is its own, self-signed.
		chromedp.Flag("ignore-certificate-errors", true),
		chromedp.WindowSize(1280, 1000),
		chromedp.UserDataDir(t.TempDir()),
	)
	ctx, cancelTab := chromedp.NewContext(alloc)
	// Bounds every action of the test in this browser.
	ctx, cancelTime := context.WithTimeout(ctx, 4*time.Minute)
	b := &browser{t: t, ctx: ctx, shots: shots, cancel: func() {
		cancelTime()
		cancelTab()
		cancelAlloc()
	}}
	t.Cleanup(b.cancel)
	return b
}

// do runs actions or fails the test.
func (b *browser) do(what string, actions ...chromedp.Action[chromedp.Void]) {
	b.t.Helper()
	if err := chromedp.Do(b.ctx, actions...); err != nil {
		b.t.Fatalf("browser, %s: %v", what, err)
	}
}

// eval evaluates a JavaScript expression in the page.
func eval[T any](b *browser, js string) T {
	b.t.Helper()
	v, err := chromedp.Run(b.ctx, chromedp.Evaluate[T](js))
	if err != nil {
		b.t.Fatalf("browser, %s: %v", js, err)
	}
	return v
}

// waitJS waits until the expression is true in the page.
func (b *browser) waitJS(timeout time.Duration, what, js string) {
	b.t.Helper()
	eventually(b.t, timeout, what, func() error {
		ok, err := chromedp.Run(b.ctx, chromedp.Evaluate[bool](js))
		if err != nil {
			return err
		}
		if !ok {
			return fmt.Errorf("not yet: %s", js)
		}
		return nil
	})
}

// shot saves a full-page screenshot as name.png in the artifacts.
func (b *browser) shot(name string) {
	b.t.Helper()
	png, err := chromedp.Run(b.ctx, chromedp.FullScreenshot(100))
	if err != nil {
		b.t.Fatalf("screenshot %s: %v", name, err)
	}
	path := filepath.Join(b.shots, name+".png")
	if err := os.WriteFile(path, png, 0o644); err != nil {
		b.t.Fatal(err)
	}
}

// artifactsDir is where screenshots go: $SLUICE_ARTIFACTS, or a new
// directory that outlives the test.
func artifactsDir(t *testing.T) string {
	dir := os.Getenv(envArtifacts)
	if dir == "" {
		var err error
		dir, err = os.MkdirTemp("", "sluice-dashboard-shots-")
		if err != nil {
			t.Fatal(err)
		}
	} else {
		dir = filepath.Join(dir, safeName(t.Name()))
		if err := os.MkdirAll(dir, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	t.Logf("dashboard screenshots in %s", dir)
	return dir
}

// dashboardClient is an HTTPS client trusting sluiced's certificate, that
// follows no redirect.
func (s *sluiced) dashboardClient(t *testing.T) *http.Client {
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(readFile(t, filepath.Join(s.dir,
		"tls.cert"))) {

		t.Fatal("no certificate in tls.cert")
	}
	return &http.Client{
		Timeout: 30 * time.Second,
		Transport: &http.Transport{TLSClientConfig: &tls.Config{
			RootCAs: pool}},
		CheckRedirect: func(*http.Request, []*http.Request) error {
			return http.ErrUseLastResponse
		},
	}
}

// TestDashboard opens the operator's dashboard in Debian's chromium on the
// local network while provider1's agent meters a funded job: a missing or
// wrong operator macaroon sees the login page and no data (401 on every
// page and data endpoint); the operator's macaroon logs in, the now page
// shows the running job's meter seconds and the provider's paid total
// rise (read from the page at two moments, pushed by the server each
// second); the job, provider and vault pages open; the one-time link
// `sluice operator dashboard` prints logs a fresh browser in once.
// Screenshots of each page are saved as artifacts.
func TestDashboard(t *testing.T) {
	// Rates high enough that a busy core earns about half a satoshi a
	// second: payouts (one satoshi at least) go out every few seconds.
	f := newMeteredJob(t, 10_000_000, map[string]string{
		"cpu": "0.5", "mem": "0.01"})
	s, jobID, providerID := f.s, f.job.JobId, f.providerID
	base := "https://" + s.rpcListen
	shots := artifactsDir(t)
	operatorMac := hex.EncodeToString(readFile(t, filepath.Join(s.dir,
		s.net.profile.Network, "operator.macaroon")))

	// The agent runs a busy loop on the job until the test ends.
	args := append(s.cliArgs(), "--macaroonpath", f.files.macaroon,
		"agent", "run", "--job", jobID, "--agentkey", f.files.agentKey,
		"--", "sh", "-c", `timeout 180 sh -c 'while :; do :; done'; exit 0`)
	agent := exec.Command(binaries.sluice, args...)
	agentOut := &strings.Builder{}
	agent.Stdout, agent.Stderr = agentOut, agentOut
	// The busy loop inherits the output pipe: do not wait for it to
	// close once the agent has gone.
	agent.WaitDelay = time.Second
	if err := agent.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan struct{})
	go func() {
		_ = agent.Wait()
		close(exited)
	}()
	t.Cleanup(func() {
		// SIGTERM: the agent stops its command's process group, so
		// no busy loop outlives the test; SIGKILL if it lingers.
		_ = agent.Process.Signal(syscall.SIGTERM)
		select {
		case <-exited:
		case <-time.After(15 * time.Second):
			_ = agent.Process.Kill()
			<-exited
		}
	})
	f.waitState(t, "running", "low_balance")
	// A reconciliation the now page then shows.
	s.wantReconciled(t)

	// Without a session or with a wrong macaroon: 401 and no data, on
	// every page and data endpoint.
	hc := s.dashboardClient(t)
	wrong := strings.Repeat("ab", 40)
	for _, p := range []string{"/dashboard/", "/dashboard/job?id=" + jobID,
		"/dashboard/provider?id=" + providerID, "/dashboard/vault",
		"/dashboard/api/now", "/dashboard/api/job?id=" + jobID,
		"/dashboard/api/provider?id=" + providerID,
		"/dashboard/api/vault", "/dashboard/stream/now"} {

		for name, mac := range map[string]string{"missing": "",
			"wrong": wrong, "provider's": hex.EncodeToString(
				readFile(t, f.files.macaroon))} {

			req, err := http.NewRequest(http.MethodGet, base+p, nil)
			if err != nil {
				t.Fatal(err)
			}
			if mac != "" {
				req.Header.Set("macaroon", mac)
			}
			resp, err := hc.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode != http.StatusUnauthorized ||
				strings.Contains(string(body), "seconds_metered") ||
				strings.Contains(string(body), "paid_out_msat") {

				t.Fatalf("%s with a %s macaroon: %d\n%s", p, name,
					resp.StatusCode, body)
			}
		}
	}

	b := newBrowser(t, shots)
	noData := `document.querySelector("#jobs") === null && ` +
		`document.querySelector("#providers") === null && ` +
		`document.querySelector("#login-form") !== null && ` +
		`!document.body.innerText.includes("` + providerID + `")`
	// Missing: the now page is the login page.
	b.do("open without a session", chromedp.Navigate(base+"/dashboard/"))
	if !eval[bool](b, noData) {
		t.Fatalf("without a macaroon the page shows: %s",
			eval[string](b, "document.body.innerText"))
	}
	b.shot("01-missing-macaroon")
	// Wrong: refused, still no data.
	b.do("log in with a wrong macaroon",
		chromedp.Navigate(base+"/dashboard/login"),
		chromedp.SetValue(chromedp.CSS("#macaroon"), wrong),
		chromedp.Click(chromedp.CSS("#login-submit")),
		chromedp.WaitVisible(chromedp.CSS("#login-error")))
	if !eval[bool](b, noData) {
		t.Fatalf("with a wrong macaroon the page shows: %s",
			eval[string](b, "document.body.innerText"))
	}
	b.shot("02-wrong-macaroon")

	// The operator's macaroon: the now page, live.
	b.do("log in with the operator macaroon",
		chromedp.Navigate(base+"/dashboard/login"),
		chromedp.SetValue(chromedp.CSS("#macaroon"), operatorMac),
		chromedp.Click(chromedp.CSS("#login-submit")),
		chromedp.WaitVisible(chromedp.CSS("#jobs")))
	jobRow := `document.querySelector('#jobs tr[data-job="` + jobID + `"]`
	provRow := `document.querySelector('#providers tr[data-provider="` +
		providerID + `"]`
	secondsJS := `Number((` + jobRow + ` td.seconds') || {}).textContent || -1)`
	paidJS := `Number((` + provRow + ` td.paid') || {}).dataset?.msat ?? -1)`
	// The first moment: the job has metered and its provider was paid.
	b.waitJS(2*time.Minute, "the job metered and a payout on the page",
		secondsJS+` > 0 && `+paidJS+` > 0`)
	sec1, paid1 := eval[int64](b, secondsJS), eval[int64](b, paidJS)
	t.Logf("now page: job %s at %d s, provider paid %d msat", jobID, sec1,
		paid1)
	b.shot("03-now")
	// The second: both rose, without a reload (the stream pushed them).
	if !eval[bool](b, `window.__notReloaded = true`) {
		t.Fatal("cannot mark the page")
	}
	b.waitJS(2*time.Minute, "the meter and the paid total to rise",
		fmt.Sprintf(`%s > %d && %s > %d`, secondsJS, sec1, paidJS, paid1))
	sec2, paid2 := eval[int64](b, secondsJS), eval[int64](b, paidJS)
	if !eval[bool](b, `window.__notReloaded === true`) {
		t.Fatal("the page reloaded")
	}
	t.Logf("now page later: %d s, paid %d msat", sec2, paid2)
	if rc := eval[string](b, `document.querySelector("#reconcile").`+
		`textContent`); !strings.Contains(rc, "Balanced") {

		t.Fatalf("reconciliation on the now page: %q", rc)
	}
	b.shot("04-now-later")

	// The job's, the provider's and the vault's pages.
	b.do("open the job's page",
		chromedp.Navigate(base+"/dashboard/job?id="+jobID))
	b.waitJS(30*time.Second, "the job's page filled",
		`Number((document.querySelector('[data-key="seconds"] td') || {}).`+
			`textContent || -1) >= `+fmt.Sprint(sec2)+` && `+
			`document.querySelectorAll("#events tbody tr").length > 0`)
	b.waitJS(30*time.Second, "the job's charts",
		`document.querySelector("#chart-payouts canvas, `+
			`#chart-payouts .missing") !== null`)
	if !eval[bool](b, `typeof uPlot !== "undefined"`) {
		t.Errorf("the chart library is missing: run scripts/web.sh " +
			"(make itest does)")
	}
	b.shot("05-job")
	b.do("open the provider's page",
		chromedp.Navigate(base+"/dashboard/provider?id="+providerID))
	b.waitJS(30*time.Second, "the provider's page filled",
		`Number((document.querySelector('[data-key="paid"] td') || {}).`+
			`dataset?.msat ?? -1) >= `+fmt.Sprint(paid2)+` && `+
			`document.querySelector('#jobs tr[data-job="`+jobID+`"]') !== null`)
	b.shot("06-provider")
	b.do("open the vault's page",
		chromedp.Navigate(base+"/dashboard/vault"))
	b.waitJS(30*time.Second, "the vault's page filled",
		`document.querySelectorAll("#summary tbody tr").length > 0 && `+
			`document.querySelector("#live").className.includes("ok")`)
	b.shot("07-vault")

	// The one-time link: a fresh browser follows it once.
	out, err := s.cli("operator", "dashboard", "--json")
	if err != nil {
		t.Fatalf("sluice operator dashboard: %v", err)
	}
	var link struct {
		Path string `json:"path"`
	}
	if err := json.Unmarshal([]byte(out), &link); err != nil ||
		!strings.HasPrefix(link.Path, base+"/dashboard/link?token=") {

		t.Fatalf("sluice operator dashboard: %v\n%s", err, out)
	}
	fresh := newBrowser(t, shots)
	fresh.do("follow the one-time link", chromedp.Navigate(link.Path),
		chromedp.WaitVisible(chromedp.CSS("#jobs")))
	fresh.waitJS(30*time.Second, "the now page by the link",
		secondsJS+` > 0`)
	fresh.shot("08-link")
	resp, err := hc.Get(link.Path)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusUnauthorized ||
		len(resp.Cookies()) != 0 {

		t.Fatalf("the link a second time: %d", resp.StatusCode)
	}
}
