package main

import (
	"bytes"
	"encoding/json"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/sluice-ln/sluice/ledger"
	"github.com/sluice-ln/sluice/rpc"
	"github.com/sluice-ln/sluice/rpc/rpcclient"
	"github.com/sluice-ln/sluice/rpc/yieldtest"
	"github.com/sluice-ln/sluice/yield"
	"github.com/urfave/cli"
)

// yieldSluiced is an API server whose YieldService is a real vault with
// yieldtest's allocator: 1,000,000 msat idle, a floor of 20 %, a cap of
// 600,000 msat on routing, three candidate peers for channels of 250,000
// msat whose opens cost 1,000 msat.
type yieldSluiced struct {
	dir, addr string
	env       *yieldtest.Env
}

func startYieldSluiced(t *testing.T) yieldSluiced {
	t.Helper()
	e := yieldtest.New(t, 1_000_000)
	e.Policy(2_000, 600_000)
	e.Alloc.SetPeers(250_000, 1_000, "02aa", "02bb", "02cc")
	dir := t.TempDir()
	srv := startServer(t, dir, rpc.Config{
		Info:  fixedInfo{Network: "regtest"},
		Yield: e.Vault,
	})
	return yieldSluiced{dir: dir, addr: srv.Addr(), env: e}
}

// run runs `sluice --rpcserver ... --sluicedir ... args`, with the
// operator macaroon, the default.
func (s yieldSluiced) run(args ...string) (string, error) {
	var out bytes.Buffer
	app := cli.NewApp()
	app.Name = "sluice"
	app.Flags = globalFlags
	app.Commands = []cli.Command{yieldCommand}
	app.Writer = &out
	err := app.Run(append([]string{"sluice", "--rpcserver", s.addr,
		"--sluicedir", s.dir}, args...))
	return out.String(), err
}

// planID is the id in a printed plan's "apply with" line.
var planID = regexp.MustCompile(`apply with: sluice yield apply ([0-9a-f]{32})`)

// plan runs `yield plan` and returns its output and the plan's id.
func (s yieldSluiced) plan(t *testing.T) (string, string) {
	t.Helper()
	out, err := s.run("yield", "plan")
	if err != nil {
		t.Fatal(err)
	}
	m := planID.FindStringSubmatch(out)
	if m == nil {
		t.Fatalf("plan without an id to apply:\n%s", out)
	}
	return out, m[1]
}

// TestYieldPlanApply makes a plan, applies it, shows it again and lists
// its actions.
func TestYieldPlanApply(t *testing.T) {
	t.Parallel()
	s := startYieldSluiced(t)

	out, id := s.plan(t)
	contains(t, "yield plan", out,
		"vault:", "NAV 1000000 msat", "floor 200000 msat",
		"free for strategies 800000 msat",
		"reserve:", "1000000 msat (1000.000 sat) → 500000 msat",
		"routing:", "0 msat (0.000 sat) → 500000 msat (500.000 sat)",
		"cap 600000 msat",
		"no cost budget; this plan expects 2000 msat",
		"1. routing open 02aa with 250000 msat (250.000 sat) "+
			"[base_fee_msat=1000 fee_rate_ppm=500], expected cost "+
			"1000 msat",
		"why: room under the cap",
		"2. routing open 02bb",
		"left out: 02cc: room of 100000 msat is below a channel of "+
			"250000 msat",
		"plan "+id+", made ", "(valid 10m)",
		"apply with: sluice yield apply "+id)

	out, err := s.run("yield", "plan", "--json")
	if err != nil {
		t.Fatal(err)
	}
	var js struct {
		Plan struct {
			ID      string `json:"id"`
			Actions []struct {
				AmountMsat string `json:"amount_msat"`
			} `json:"actions"`
		} `json:"plan"`
	}
	if err := json.Unmarshal([]byte(out), &js); err != nil ||
		len(js.Plan.ID) != 32 || len(js.Plan.Actions) != 2 ||
		js.Plan.Actions[0].AmountMsat != "250000" {

		t.Fatalf("plan --json: %v\n%s", err, out)
	}

	// The newer plan was made on the same state: either applies.
	out, err = s.run("yield", "apply", id)
	if err != nil {
		t.Fatal(err)
	}
	contains(t, "yield apply", out, "Applied plan "+id+": 2 actions",
		"ID", "STATUS", "routing", "open", "02aa", "250000",
		"succeeded", "chan1", "chan2")
	if strings.Contains(out, "Pending actions") {
		t.Errorf("apply speaks of pending actions:\n%s", out)
	}
	if got := s.env.Balance(ledger.StrategyPrincipal(
		yieldtest.Name)); got != 500_000 {

		t.Fatalf("principal %v", got)
	}

	out, err = s.run("yield", "plan", "--id", id)
	if err != nil {
		t.Fatal(err)
	}
	contains(t, "yield plan --id", out, "plan "+id,
		"applied at ", "sluice yield actions --plan "+id)

	out, err = s.run("yield", "actions", "--plan", id)
	if err != nil {
		t.Fatal(err)
	}
	contains(t, "yield actions", out, "chan1", "chan2", "succeeded")
	out, err = s.run("yield", "actions", "--status", "pending")
	if err != nil || !strings.Contains(out, "no actions") {
		t.Errorf("pending actions: %v\n%s", err, out)
	}

	// The vault has room for no further channel under the cap.
	out, err = s.run("yield", "plan")
	if err != nil {
		t.Fatal(err)
	}
	contains(t, "plan at the cap", out, "actions: none",
		"left out: 02aa: has a channel already",
		"left out: 02cc: room of 100000 msat", "nothing to apply",
		"position chan1 to 02aa: 250000 msat")
}

// TestYieldApplyRefused prints each refusal with its code and the
// vault's words.
func TestYieldApplyRefused(t *testing.T) {
	t.Parallel()
	s := startYieldSluiced(t)

	_, err := s.run("yield", "apply", "feed")
	if err == nil || !strings.Contains(err.Error(),
		"yield apply refused (not_found)") ||
		!strings.Contains(err.Error(), "plan not found") {

		t.Errorf("unknown plan: %v", err)
	}
	_, id := s.plan(t)
	s.env.Advance(yield.DefaultPlanTTL)
	_, err = s.run("yield", "apply", id)
	if err == nil || !strings.Contains(err.Error(),
		"refused (failed_precondition)") ||
		!strings.Contains(err.Error(), "plan expired") {

		t.Errorf("expired plan: %v", err)
	}
	_, id = s.plan(t)
	s.env.Alloc.AddPosition(yield.Position{ID: "chanX", Peer: "02ff",
		Status: "opening"})
	_, err = s.run("yield", "apply", id)
	if err == nil || !strings.Contains(err.Error(),
		"state changed since the plan was made") {

		t.Errorf("stale plan: %v", err)
	}
	if _, err := s.run("yield", "apply"); err == nil ||
		!strings.Contains(err.Error(), "give the plan's id") {

		t.Errorf("apply without an id: %v", err)
	}
	if _, err := s.run("yield", "actions", "--status", "lost"); err == nil ||
		!strings.Contains(err.Error(), "refused (invalid_argument)") {

		t.Errorf("unknown status: %v", err)
	}
	if n := len(s.env.Alloc.Executed()); n != 0 {
		t.Errorf("refusals executed %d actions", n)
	}
}

// TestYieldReport reports an income and a cost over a window and since
// the start, explained with the keys' legend.
func TestYieldReport(t *testing.T) {
	t.Parallel()
	s := startYieldSluiced(t)
	_, id := s.plan(t)
	if _, err := s.run("yield", "apply", id); err != nil {
		t.Fatal(err)
	}
	s.env.Advance(24 * time.Hour)
	s.env.Alloc.Earn("yield-routing:1x1x0:1-5", "forwards 1-5", 3_000)
	s.env.Alloc.Spend("yield-cost:open:ab01", "open chain fee", 2_000)
	s.env.Harvest()
	s.env.Advance(24 * time.Hour)

	out, err := s.run("yield", "report", "--window", "2d")
	if err != nil {
		t.Fatal(err)
	}
	contains(t, "yield report", out,
		"window:", "(2d)",
		"capital in place:", "500000 msat (500.000 sat) averaged over "+
			"the window; 500000 msat (500.000 sat) at its end",
		"income, routing fees:", "3000 msat (3.000 sat) (1 entry)",
		"cost, open chain fees:", "-2000 msat (-2.000 sat) (1 entry)",
		"net:", "1000 msat (1.000 sat)",
		"return:", "0.20 % (0.002)",
		"APR:", "36.50 % (0.365), APR over 2d",
		"vault:", "value per share:", "1000001000 msat → 1001001000 msat",
		"APY:", ", APY over 2d (value per share)")
	if strings.Contains(out, "yield-routing") {
		t.Errorf("entries without --explain:\n%s", out)
	}

	out, err = s.run("yield", "report", "--explain")
	if err != nil {
		t.Fatal(err)
	}
	contains(t, "yield report --explain", out,
		"since the start, ", "APR since 2026-06-01T12:00Z (2d)",
		"entries (income +, costs −):",
		"+3000", "yield-routing:1x1x0:1-5", "forwards 1-5",
		"-2000", "yield-cost:open:ab01",
		"keys: yield-routing:<scid>:<a>-<b> = forwards a to b of "+
			"`lncli fwdinghistory` out of channel <scid>",
		"yield-cost:open:<txid>")

	out, err = s.run("yield", "report", "--window", "48h", "--json")
	if err != nil {
		t.Fatal(err)
	}
	var js struct {
		Strategies []struct {
			Apr      string `json:"apr"`
			AprLabel string `json:"apr_label"`
		} `json:"strategies"`
	}
	if err := json.Unmarshal([]byte(out), &js); err != nil ||
		len(js.Strategies) != 1 || js.Strategies[0].Apr != "0.365" ||
		js.Strategies[0].AprLabel != "APR over 2d" {

		t.Errorf("report --json: %v\n%s", err, out)
	}

	for _, bad := range []string{"0", "-1d", "7days", "1.5d"} {
		if _, err := s.run("yield", "report", "--window",
			bad); err == nil || !strings.Contains(err.Error(),
			"--window") {

			t.Errorf("--window %s: %v", bad, err)
		}
	}
}

// TestYieldStrategy sets the kill switch and the budget, keeping what is
// not given, and lists them.
func TestYieldStrategy(t *testing.T) {
	t.Parallel()
	s := startYieldSluiced(t)

	out, err := s.run("yield", "strategy", "list")
	if err != nil {
		t.Fatal(err)
	}
	contains(t, "strategy list", out, "STRATEGY", "routing", "off",
		"none")

	steps := []struct {
		args []string
		want []string
	}{
		{[]string{"--kill"}, []string{"routing", "ON", "none"}},
		{[]string{"--budget", "5", "--period", "1d"},
			[]string{"ON", "5000 msat per 1d"}},
		{[]string{"--unkill", "--budget", "1500msat"},
			[]string{"off", "1500 msat per 1d"}},
		{[]string{"--period", "1d12h"},
			[]string{"1500 msat per 1d12h"}},
		{[]string{"--no-budget"}, []string{"off", "none"}},
	}
	for _, st := range steps {
		out, err := s.run(append([]string{"yield", "strategy", "set",
			"routing"}, st.args...)...)
		if err != nil {
			t.Fatalf("%v: %v", st.args, err)
		}
		contains(t, strings.Join(st.args, " "), out, st.want...)
	}
	out, err = s.run("yield", "strategy", "list", "--json")
	if err != nil || !strings.Contains(out, `"killed": false`) ||
		!strings.Contains(out, `"budget_period_seconds": "0"`) {

		t.Errorf("list --json: %v\n%s", err, out)
	}

	for _, tc := range []struct {
		args []string
		msg  string
	}{
		{[]string{"routing"}, "nothing to set"},
		{[]string{"routing", "--kill", "--unkill"}, "not both"},
		{[]string{"routing", "--no-budget", "--budget", "5"},
			"not both"},
		{[]string{"routing", "--budget", "5"}, "--budget needs --period"},
		{[]string{"routing", "--budget", "-5", "--period", "1h"},
			"--budget"},
		{[]string{"routing", "--period", "0s"}, "--period"},
		{[]string{"lease", "--kill"},
			"refused (invalid_argument): unknown strategy"},
		{[]string{"reserve", "--kill"}, "unknown strategy"},
		{[]string{"--kill"}, "give the strategy's name"},
	} {
		_, err := s.run(append([]string{"yield", "strategy", "set"},
			tc.args...)...)
		if err == nil || !strings.Contains(err.Error(), tc.msg) {
			t.Errorf("%v: %v, want %q", tc.args, err, tc.msg)
		}
	}
}

// TestYieldNotServed checks that a sluiced without strategies says so.
func TestYieldNotServed(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	srv := startServer(t, dir, rpc.Config{Info: fixedInfo{
		Network: "regtest"}})
	s := yieldSluiced{dir: dir, addr: srv.Addr()}
	_, err := s.run("yield", "plan")
	if err == nil || !strings.Contains(err.Error(),
		"serves no yield strategies") {

		t.Fatalf("yield plan without strategies: %v", err)
	}
}

// TestYieldNeedsOperator checks that a provider's macaroon is refused.
func TestYieldNeedsOperator(t *testing.T) {
	t.Parallel()
	v := startVaultSluiced(t)
	s := yieldSluiced{dir: v.dir, addr: v.addr}
	_, err := s.run("--macaroonpath", filepath.Join(v.dir, "regtest",
		rpcclient.ProviderMacaroonFile), "yield", "report")
	if err == nil || !strings.Contains(err.Error(), "does not allow") {
		t.Fatalf("report with a provider macaroon: %v", err)
	}
}

// TestParseDuration reads durations with days and writes them back.
func TestParseDuration(t *testing.T) {
	for in, want := range map[string]time.Duration{
		"7d":     7 * day,
		"1d12h":  36 * time.Hour,
		"24h":    day,
		"30m":    30 * time.Minute,
		" 90s ":  90 * time.Second,
		"0d1s":   time.Second,
		"2d3h4m": 2*day + 3*time.Hour + 4*time.Minute,
	} {
		got, err := parseDuration(in)
		if err != nil || got != want {
			t.Errorf("parseDuration(%q) = %v, %v; want %v", in, got,
				err, want)
		}
	}
	for _, bad := range []string{"", "0", "0d", "d", "-1d", "1.5d",
		"7days", "1d-1h", "-5m", "106752d", "x"} {

		if d, err := parseDuration(bad); err == nil {
			t.Errorf("parseDuration(%q) = %v, want an error", bad, d)
		}
	}
	for d, want := range map[time.Duration]string{
		7 * day:                      "7d",
		36 * time.Hour:               "1d12h",
		3*time.Hour + 12*time.Minute: "3h12m",
		45 * time.Second:             "45s",
		1500 * time.Millisecond:      "1s",
		0:                            "0s",
	} {
		if got := durationText(d); got != want {
			t.Errorf("durationText(%v) = %q, want %q", d, got, want)
		}
	}
}
