package metrics

import (
	"context"
	"errors"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"
	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
	"github.com/shopspring/decimal"
	"github.com/sluice-ln/sluice/ledger"
	"github.com/sluice-ln/sluice/metering"
	"github.com/sluice-ln/sluice/payout"
	"github.com/sluice-ln/sluice/reconcile"
	"github.com/sluice-ln/sluice/settlement"
)

// fakeSource is a Source with fixed answers; it fails the test when a
// scrape did not read it.
type fakeSource struct {
	books    Books
	booksErr error
	vault    Vault
	vaultErr error
	reads    int
}

func (f *fakeSource) Books(context.Context) (Books, error) {
	f.reads++
	return f.books, f.booksErr
}

func (f *fakeSource) Vault(context.Context) (Vault, error) {
	return f.vault, f.vaultErr
}

// gather returns the registry's families by name.
func gather(t *testing.T, m *Metrics) map[string]*dto.MetricFamily {
	t.Helper()
	fams, err := m.Registry().Gather()
	if err != nil {
		t.Fatalf("gather: %v", err)
	}
	out := make(map[string]*dto.MetricFamily, len(fams))
	for _, f := range fams {
		out[f.GetName()] = f
	}
	return out
}

// value is the value of the family's metric with the labels (name=value
// pairs), and whether there is one.
func value(fams map[string]*dto.MetricFamily, name string,
	labels ...string) (float64, bool) {

	f, ok := fams[name]
	if !ok {
		return 0, false
	}
next:
	for _, m := range f.GetMetric() {
		have := make(map[string]string)
		for _, l := range m.GetLabel() {
			have[l.GetName()] = l.GetValue()
		}
		for i := 0; i+1 < len(labels); i += 2 {
			if have[labels[i]] != labels[i+1] {
				continue next
			}
		}
		switch {
		case m.Counter != nil:
			return m.Counter.GetValue(), true
		case m.Gauge != nil:
			return m.Gauge.GetValue(), true
		case m.Histogram != nil:
			return float64(m.Histogram.GetSampleCount()), true
		}
	}
	return 0, false
}

// want checks one metric's value.
func want(t *testing.T, fams map[string]*dto.MetricFamily, name string,
	v float64, labels ...string) {

	t.Helper()
	got, ok := value(fams, name, labels...)
	if !ok {
		t.Errorf("%s%v: missing", name, labels)
		return
	}
	if got != v {
		t.Errorf("%s%v = %v, want %v", name, labels, got, v)
	}
}

// TestStateCollector checks that a scrape reads the source and reports its
// figures in base units, the vault's shares in whole shares.
func TestStateCollector(t *testing.T) {
	src := &fakeSource{
		books: Books{Escrow: 9_000, Payable: 1_500, InFlight: 700,
			PayoutsInFlight: 2, PaidOut: 12_345, Refunded: 400,
			PlatformFees: 55, RoutingFees: 3},
		vault: Vault{NAV: 2_000_000, Idle: 500_000,
			ShareValue: decimal.RequireFromString("1000.5"),
			Supply:     2_500, QueueLen: 3, Queued: 42,
			Strategies: []Strategy{
				{Name: "reserve", Capital: 500_000},
				{Name: "lease", Capital: 1_500_000,
					Income: -20},
			}},
	}
	m, err := New(NewStateCollector(src, time.Second))
	if err != nil {
		t.Fatal(err)
	}
	fams := gather(t, m)
	if src.reads != 1 {
		t.Fatalf("one scrape read the books %d times", src.reads)
	}
	for name, v := range map[string]float64{
		"sluice_escrow_msat":                          9_000,
		"sluice_payable_msat":                         1_500,
		"sluice_payouts_in_flight_msat":               700,
		"sluice_payouts_in_flight":                    2,
		"sluice_paid_out_msat":                        12_345,
		"sluice_refunded_msat":                        400,
		"sluice_platform_fees_msat":                   55,
		"sluice_routing_fees_msat":                    3,
		"sluice_vault_nav_msat":                       2_000_000,
		"sluice_vault_idle_msat":                      500_000,
		"sluice_vault_share_value_msat":               1000.5,
		"sluice_vault_shares":                         2.5,
		"sluice_vault_redemption_queue_length":        3,
		"sluice_vault_redemption_queue_msat":          42,
		"sluice_reconcile_last_run_timestamp_seconds": 0,
	} {
		want(t, fams, name, v)
	}
	want(t, fams, "sluice_strategy_capital_msat", 1_500_000,
		"strategy", "lease")
	want(t, fams, "sluice_strategy_income_msat", -20, "strategy", "lease")
	want(t, fams, "sluice_strategy_capital_msat", 500_000,
		"strategy", "reserve")
	want(t, fams, "sluice_state_scrape_error", 0, "part", "books")
	want(t, fams, "sluice_state_scrape_error", 0, "part", "vault")
	for _, name := range []string{"go_goroutines",
		"process_cpu_seconds_total"} {

		if _, ok := fams[name]; !ok {
			t.Errorf("%s missing: no Go or process collector",
				name)
		}
	}
}

// TestStateCollectorErrors checks that a part that cannot be read is left
// out and flagged while the rest is served, and that a sluiced without a
// vault shows no vault metrics and no error.
func TestStateCollectorErrors(t *testing.T) {
	tests := []struct {
		name      string
		src       *fakeSource
		wantBooks bool
		wantVault bool
		errParts  []string
	}{{
		name:      "books fail",
		src:       &fakeSource{booksErr: errors.New("db gone")},
		wantVault: true,
		errParts:  []string{"books"},
	}, {
		name: "vault fails",
		src: &fakeSource{vaultErr: errors.New("vault " +
			"gone")},
		wantBooks: true,
		errParts:  []string{"vault"},
	}, {
		name:      "no vault",
		src:       &fakeSource{vaultErr: ErrNoVault},
		wantBooks: true,
	}}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			m, err := New(NewStateCollector(tc.src, time.Second))
			if err != nil {
				t.Fatal(err)
			}
			fams := gather(t, m)
			_, books := value(fams, "sluice_escrow_msat")
			_, vault := value(fams, "sluice_vault_nav_msat")
			if books != tc.wantBooks || vault != tc.wantVault {
				t.Fatalf("books shown %v, vault shown %v; "+
					"want %v, %v", books, vault,
					tc.wantBooks, tc.wantVault)
			}
			for _, p := range tc.errParts {
				want(t, fams, "sluice_state_scrape_error", 1,
					"part", p)
			}
		})
	}
}

// TestIngestCounts checks that a commit's batches and records are counted
// by result and its credits by amount.
func TestIngestCounts(t *testing.T) {
	m, err := New(nil)
	if err != nil {
		t.Fatal(err)
	}
	m.Committed(metering.Commit{
		Duration: 3 * time.Millisecond,
		Batches: metering.CommitCounts{Accepted: 2, Duplicate: 1,
			Refused: 1},
		Records: metering.CommitCounts{Accepted: 7, Duplicate: 3,
			Refused: 2},
		Credits: []metering.Credit{
			{ProviderID: "p1", Amount: 1000,
				FirstSecond: time.Unix(100, 0)},
			{ProviderID: "p2", Amount: 234,
				FirstSecond: time.Unix(101, 0)},
		},
	})
	m.Committed(metering.Commit{Duration: time.Second, Failed: true,
		Batches: metering.CommitCounts{Failed: 1},
		Records: metering.CommitCounts{Failed: 5}})

	fams := gather(t, m)
	for _, c := range []struct {
		result           string
		batches, records float64
	}{
		{ResultAccepted, 2, 7}, {ResultDuplicate, 1, 3},
		{ResultRefused, 1, 2}, {ResultFailed, 1, 5},
	} {
		want(t, fams, "sluice_ingest_batches_total", c.batches,
			"result", c.result)
		want(t, fams, "sluice_ingest_records_total", c.records,
			"result", c.result)
	}
	want(t, fams, "sluice_ingest_credited_msat_total", 1234)
	want(t, fams, "sluice_ingest_commit_duration_seconds", 2)
}

// TestPayoutLatency checks the payout counters, and that a payout's
// latency runs from the first metered second credited since the
// provider's last payout took its payable, a failed payout handing its
// seconds on to the next.
func TestPayoutLatency(t *testing.T) {
	m, err := New(nil)
	if err != nil {
		t.Fatal(err)
	}
	t0 := time.Unix(1_000_000, 0)
	credit := func(provider string, at time.Time) {
		m.Committed(metering.Commit{Credits: []metering.Credit{
			{ProviderID: provider, Amount: 10, FirstSecond: at},
		}})
	}
	pay := func(id, provider string, state payout.State,
		at time.Time, amt, fee ledger.MilliSatoshi) {

		p := payout.Payout{ID: id, ProviderID: provider,
			Amount: amt, Fee: fee, State: payout.StatePending}
		m.PayoutPending(p)
		p.State, p.ResolvedAt = state, at
		m.PayoutResolved(p)
	}

	credit("p1", t0.Add(2*time.Second))
	credit("p1", t0) // an earlier second in a later commit
	credit("p1", t0.Add(4*time.Second))
	// Failed: its seconds wait for the next payout.
	pay("a", "p1", payout.StateFailed, t0.Add(9*time.Second), 500, 0)
	credit("p1", t0.Add(10*time.Second))
	pay("b", "p1", payout.StateSucceeded, t0.Add(15*time.Second), 700, 2)
	// A payout with nothing credited since start (resumed after a
	// restart): counted, no latency.
	pay("c", "p2", payout.StateSucceeded, t0.Add(20*time.Second), 50, 0)

	fams := gather(t, m)
	want(t, fams, "sluice_payouts_total", 2, "result", ResultSucceeded)
	want(t, fams, "sluice_payouts_total", 1, "result", ResultFailed)
	want(t, fams, "sluice_payouts_paid_msat_total", 750)
	want(t, fams, "sluice_payouts_fee_msat_total", 2)

	h := fams["sluice_payout_latency_seconds"].GetMetric()[0].Histogram
	if h.GetSampleCount() != 1 || h.GetSampleSum() != 15 {
		t.Fatalf("latency: %d samples summing to %v, want one of 15 s",
			h.GetSampleCount(), h.GetSampleSum())
	}
	if len(m.unpaid) != 0 || len(m.paying) != 0 {
		t.Fatalf("left behind: unpaid %v, paying %v", m.unpaid,
			m.paying)
	}
}

// TestRefundsAndReconcile checks the refund counters and that the last
// reconciliation's differences are shown by kind.
func TestRefundsAndReconcile(t *testing.T) {
	m, err := New(nil)
	if err != nil {
		t.Fatal(err)
	}
	m.RefundResolved(settlement.Refund{State: settlement.RefundSucceeded,
		Amount: 8_000, Fee: 4})
	m.RefundResolved(settlement.Refund{State: settlement.RefundFailed,
		Amount: 1_000})

	at := time.Unix(1_700_000_000, 0)
	m.Reconciled(&reconcile.Report{At: at, Differences: []reconcile.
		Difference{{Kind: reconcile.KindPayout},
		{Kind: reconcile.KindPayout}, {Kind: reconcile.KindTotal}}},
		nil)
	m.Reconciled(nil, errors.New("lnd unreachable"))

	fams := gather(t, m)
	want(t, fams, "sluice_refunds_total", 1, "result", ResultSucceeded)
	want(t, fams, "sluice_refunds_total", 1, "result", ResultFailed)
	want(t, fams, "sluice_refunds_msat_total", 8_000)
	want(t, fams, "sluice_refunds_fee_msat_total", 4)
	want(t, fams, "sluice_reconcile_differences", 2, "kind", "payout")
	want(t, fams, "sluice_reconcile_differences", 1, "kind", "total")
	want(t, fams, "sluice_reconcile_differences", 0, "kind", "funding")
	want(t, fams, "sluice_reconcile_runs_total", 1, "result",
		ResultDiffers)
	want(t, fams, "sluice_reconcile_runs_total", 1, "result", ResultError)
	want(t, fams, "sluice_reconcile_last_run_timestamp_seconds",
		1_700_000_000)

	// A clean run clears the differences.
	m.Reconciled(&reconcile.Report{At: at.Add(time.Minute)}, nil)
	fams = gather(t, m)
	want(t, fams, "sluice_reconcile_differences", 0, "kind", "payout")
	want(t, fams, "sluice_reconcile_runs_total", 1, "result", ResultOK)
}

// TestNamesLint checks every metric's name and help against Prometheus'
// own linter (testutil.CollectAndLint).
func TestNamesLint(t *testing.T) {
	m, err := New(NewStateCollector(&fakeSource{}, time.Second))
	if err != nil {
		t.Fatal(err)
	}
	problems, err := testutil.GatherAndLint(m.Registry())
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range problems {
		// The process collector's names are client_golang's own.
		if strings.HasPrefix(p.Metric, Namespace+"_") {
			t.Errorf("%s: %s", p.Metric, p.Text)
		}
	}
}

// TestServer checks that the server serves the registry in the text
// format at /metrics on 127.0.0.1, and stops.
func TestServer(t *testing.T) {
	m, err := New(NewStateCollector(&fakeSource{
		books: Books{Escrow: 77}}, time.Second))
	if err != nil {
		t.Fatal(err)
	}
	s := NewServer("127.0.0.1:0", m)
	if err := s.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(),
			5*time.Second)
		defer cancel()
		if err := s.Stop(ctx); err != nil {
			t.Error(err)
		}
	})

	client := &http.Client{Timeout: 10 * time.Second}
	resp, err := client.Get("http://" + s.Addr() + Path)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		b, _ := io.ReadAll(resp.Body)
		t.Fatalf("%s: %s", resp.Status, b)
	}
	parser := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := parser.TextToMetricFamilies(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	f, ok := fams["sluice_escrow_msat"]
	if !ok || f.GetMetric()[0].GetGauge().GetValue() != 77 {
		t.Fatalf("scrape has sluice_escrow_msat %v", f)
	}
}
