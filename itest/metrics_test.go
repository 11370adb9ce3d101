//go:build itest

package itest

import (
	"fmt"
	"net"
	"net/http"
	"strconv"
	"testing"
	"time"

	"connectrpc.com/connect"
	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
	"github.com/sluice-ln/sluice/rpc/sluicerpc"
)

// scrape is one parsed scrape of sluiced's /metrics.
type scrape map[string]*dto.MetricFamily

// metricsAddr is the address the metrics test's sluiced serves /metrics
// on: the port after its API's, in the network's own block of ports
// (package devnet leaves it unused), checked free.
func (s *sluiced) metricsAddr() string {
	s.t.Helper()
	host, port, err := net.SplitHostPort(s.rpcListen)
	if err != nil {
		s.t.Fatal(err)
	}
	p, err := strconv.Atoi(port)
	if err != nil {
		s.t.Fatal(err)
	}
	addr := net.JoinHostPort(host, strconv.Itoa(p+1))
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		s.t.Fatalf("metrics port %s is taken: %v", addr, err)
	}
	if err := ln.Close(); err != nil {
		s.t.Fatal(err)
	}
	return addr
}

// scrapeMetrics fetches http://addr/metrics and parses it with
// Prometheus' own text parser.
func scrapeMetrics(t testing.TB, addr string) scrape {
	t.Helper()
	client := &http.Client{Timeout: 15 * time.Second}
	resp, err := client.Get("http://" + addr + "/metrics")
	if err != nil {
		t.Fatalf("scrape: %v", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("scrape: %s", resp.Status)
	}
	parser := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := parser.TextToMetricFamilies(resp.Body)
	if err != nil {
		t.Fatalf("scrape: %v", err)
	}
	return scrape(fams)
}

// metric returns the value of the named metric whose labels include the
// given name, value pairs (a histogram's sample count), and whether the
// scrape has it.
func (sc scrape) metric(name string, labels ...string) (float64, bool) {
	f, ok := sc[name]
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

// value is metric, failing the test when the scrape lacks it.
func (sc scrape) value(t testing.TB, name string, labels ...string) int64 {
	t.Helper()
	v, ok := sc.metric(name, labels...)
	if !ok {
		t.Fatalf("scrape has no %s%v", name, labels)
	}
	return int64(v)
}

// TestMetricsScrape starts sluiced with --prometheus.listen on the devnet,
// funds a job for provider1 and runs `sluice agent run` on a busy loop:
// a scrape while the agent meters shows records ingested and escrow
// spent; once the agent is done and the payouts have settled, the
// counters equal, to the millisatoshi and the second, what the API shows
// (GetMeter, `sluice provider status`): records ingested, payouts and
// what they paid, payable, fees and escrow. A reconciliation then shows
// as a clean run.
func TestMetricsScrape(t *testing.T) {
	const budget = 10_000_000
	var addr string
	// About 2000 msat a second at one busy core: several payouts of
	// the one-satoshi minimum in eight seconds, even on a loaded
	// machine that gives the loop a fraction of a core.
	f := newMeteredJob(t, budget, map[string]string{
		"cpu": "2", "mem": "0.01"}, func(s *sluiced) {
		addr = s.metricsAddr()
		s.addConf("prometheus", "prometheus.listen="+addr)
	})
	s, job := f.s, f.job

	before := scrapeMetrics(t, addr)
	if got := before.value(t, "sluice_escrow_msat"); got != budget {
		t.Fatalf("escrow before the run: %d msat, want %d", got,
			budget)
	}
	for _, name := range []string{"sluice_vault_nav_msat",
		"go_goroutines", "process_resident_memory_bytes"} {

		if _, ok := before.metric(name); !ok {
			t.Fatalf("scrape has no %s", name)
		}
	}

	// The provider's agent meters a busy loop for eight seconds.
	args := append(s.cliArgs(), "--macaroonpath", f.files.macaroon,
		"agent", "run", "--job", job.JobId,
		"--agentkey", f.files.agentKey,
		"--", "sh", "-c", `timeout 8 sh -c 'while :; do :; done'; exit 0`)
	agent := startProcess(t, binaries.sluice, args...)

	// During the run: records ingested, escrow spent.
	eventually(t, time.Minute, "a scrape to show the job metered",
		func() error {
			select {
			case <-agent.exited:
				return permanent(fmt.Errorf("agent exited "+
					"before a scrape saw usage: %v\n%s",
					agent.err, agent.output()))
			default:
			}
			sc := scrapeMetrics(t, addr)
			recs := sc.value(t, "sluice_ingest_records_total",
				"result", "accepted")
			escrow := sc.value(t, "sluice_escrow_msat")
			if recs == 0 || escrow >= budget {
				return fmt.Errorf("%d records, escrow %d msat",
					recs, escrow)
			}
			t.Logf("during the run: %d records accepted, escrow "+
				"%d msat", recs, escrow)
			return nil
		})

	select {
	case <-agent.exited:
		if agent.err != nil {
			t.Fatalf("agent run: %v\n%s\n%s", agent.err,
				agent.output(), s.tail())
		}
	case <-time.After(2 * time.Minute):
		t.Fatalf("agent still running:\n%s", agent.output())
	}

	meter, err := f.prov.metering.GetMeter(f.ctx, connect.NewRequest(
		&sluicerpc.GetMeterRequest{JobId: job.JobId}))
	if err != nil {
		t.Fatalf("get meter: %v", err)
	}
	m := meter.Msg
	earned := m.ChargedMsat - m.FeesMsat

	// The payouts settle: nothing in flight, and what is left payable
	// is below the one-satoshi minimum, so nothing moves any more.
	var st *sluicerpc.GetProviderStatusResponse
	eventually(t, 2*time.Minute, "the provider's payouts to settle",
		func() error {
			st = s.providerStatusCLI(t, f.providerID)
			if st.InFlightMsat != 0 || st.PayableMsat >= 1_000 ||
				st.PayoutsSucceeded == 0 {

				return fmt.Errorf("payable %d, in flight %d, "+
					"%d payouts succeeded", st.PayableMsat,
					st.InFlightMsat, st.PayoutsSucceeded)
			}
			return nil
		})
	if st.PaidOutMsat+st.PayableMsat != earned {
		t.Fatalf("provider status: paid %d + payable %d msat, the "+
			"meter says it earned %d", st.PaidOutMsat,
			st.PayableMsat, earned)
	}

	after := scrapeMetrics(t, addr)
	checks := []struct {
		name   string
		labels []string
		want   int64
	}{
		// Metering: every metered second once, and what it
		// credited.
		{"sluice_ingest_records_total",
			[]string{"result", "accepted"}, int64(m.LastSeq)},
		{"sluice_ingest_credited_msat_total", nil, earned},
		{"sluice_platform_fees_msat", nil, m.FeesMsat},
		{"sluice_escrow_msat", nil, m.EscrowMsat},
		{"sluice_escrow_msat", nil, budget - m.ChargedMsat},
		// Payouts: as `sluice provider status` counts them.
		{"sluice_payouts_total", []string{"result", "succeeded"},
			st.PayoutsSucceeded},
		{"sluice_payouts_total", []string{"result", "failed"},
			st.Payouts - st.PayoutsSucceeded},
		{"sluice_payouts_paid_msat_total", nil, st.PaidOutMsat},
		{"sluice_paid_out_msat", nil, st.PaidOutMsat},
		{"sluice_payable_msat", nil, st.PayableMsat},
		{"sluice_payouts_in_flight", nil, 0},
		{"sluice_payouts_in_flight_msat", nil, 0},
	}
	for _, c := range checks {
		if got := after.value(t, c.name, c.labels...); got != c.want {
			t.Errorf("%s%v = %d, the API shows %d", c.name,
				c.labels, got, c.want)
		}
	}
	if len(st.Jobs) != 1 || st.Jobs[0].SecondsMetered != int64(m.LastSeq) {
		t.Errorf("provider status jobs %+v, meter at seq %d", st.Jobs,
			m.LastSeq)
	}
	latencies := after.value(t, "sluice_payout_latency_seconds")
	if latencies < 1 || latencies > st.PayoutsSucceeded {
		t.Errorf("%d payout latencies for %d payouts", latencies,
			st.PayoutsSucceeded)
	}
	if n := after.value(t, "sluice_ingest_commit_duration_seconds"); n < 1 {
		t.Errorf("%d group commits timed", n)
	}
	t.Logf("after the run: %d seconds metered, %d msat credited; %d "+
		"payouts paid %d msat, %d msat payable; %d latencies",
		m.LastSeq, earned, st.PayoutsSucceeded, st.PaidOutMsat,
		st.PayableMsat, latencies)

	// A reconciliation shows as a clean run.
	s.wantReconciled(t)
	rec := scrapeMetrics(t, addr)
	if got := rec.value(t, "sluice_reconcile_runs_total", "result",
		"ok"); got != 1 {

		t.Errorf("%d clean reconciliations, want 1", got)
	}
	for _, kind := range []string{"funding", "payout", "refund", "total",
		"shares", "share_asset"} {

		if got := rec.value(t, "sluice_reconcile_differences", "kind",
			kind); got != 0 {

			t.Errorf("%d %s differences", got, kind)
		}
	}
	if rec.value(t, "sluice_reconcile_last_run_timestamp_seconds") == 0 {
		t.Error("no time of the last reconciliation")
	}
}
