package main

import (
	"bytes"
	"context"
	"errors"
	"io"
	"strings"
	"testing"
	"time"

	"connectrpc.com/connect"
	"github.com/sluice-ln/sluice/ledger"
	"github.com/sluice-ln/sluice/payout"
	"github.com/sluice-ln/sluice/reconcile"
	"github.com/sluice-ln/sluice/rpc"
	"github.com/sluice-ln/sluice/settlement"
	"github.com/sluice-ln/sluice/settlement/settlementtest"
	"github.com/sluice-ln/sluice/store"
	"github.com/sluice-ln/sluice/store/storetest"
	"github.com/urfave/cli"
)

// fixedPayouts answers every provider's status with st.
type fixedPayouts struct{ st payout.ProviderStatus }

func (f fixedPayouts) ProviderStatus(_ context.Context, id string,
	_ bool) (payout.ProviderStatus, error) {

	st := f.st
	st.ProviderID = id
	return st, nil
}

// noProviders serves no provider call but the status, which the
// ProviderService needs a backend for; calling it panics.
type noProviders struct{ rpc.ProviderBackend }

// startStatusServer serves jobs, reconciliation with report and provider
// status over fakes.
func startStatusServer(t *testing.T, report *reconcile.Report) []string {
	t.Helper()
	dir := t.TempDir()
	db := storetest.Open(t, storetest.Config(t, store.SQLite))
	hub := settlementtest.NewHub(t, nil)
	m, err := settlement.New(settlement.Config{
		DB: db, Ledger: ledger.New(store.NewLedgerStore(db), nil),
		Invoices: hub, Payments: hub, Routes: hub,
		Providers: settlementtest.NewProviders(),
		Network:   "regtest",
	})
	if err != nil {
		t.Fatal(err)
	}
	at := time.Now().Add(-3 * time.Second)
	srv := startServer(t, dir, rpc.Config{
		Info:      fixedInfo{Network: "regtest"},
		Jobs:      m,
		Providers: noProviders{},
		Payouts: fixedPayouts{payout.ProviderStatus{
			ProviderView: payout.ProviderView{PaidOut: 12_345,
				Payable: 7, Status: payout.Status{
					State:  payout.StatusBlocked,
					Reason: "no route"}},
			AsOf: time.Now(), Payouts: 3, Succeeded: 2,
			LastPayoutAt: at,
			Jobs: []payout.JobEarnings{{JobID: "job-a",
				State: "running", SecondsMetered: 42,
				Earned: 4_200}},
		}},
		Reconciler: rpc.ReconcilerFunc(func(context.Context) (
			*reconcile.Report, error) {

			return report, nil
		}),
	})
	return []string{"--rpcserver", srv.Addr(), "--sluicedir", dir}
}

// TestOperatorReconcile prints the totals and every difference, and
// exits with an error exactly when there is one.
func TestOperatorReconcile(t *testing.T) {
	report := &reconcile.Report{At: time.Now(), Invoices: 1, Payouts: 2,
		Ledger: reconcile.Totals{Funded: 1000, PaidOut: 500, Held: 500},
		Lnd:    reconcile.Totals{Funded: 1000, PaidOut: 500, Held: 500},
		Vault:  120,
	}
	base := startStatusServer(t, report)

	tests := []struct {
		name    string
		diffs   []reconcile.Difference
		args    []string
		wantErr bool
		want    []string
	}{{
		name: "clean",
		want: []string{"no difference", "payouts vs succeeded " +
			"payments", "compared 1 settled job invoices, 2 payouts",
			"held for the books vs what lnd's leave",
			"the vault's 120 msat"},
	}, {
		name: "a difference",
		diffs: []reconcile.Difference{{Kind: reconcile.KindPayout,
			Subject: "payout p1", Sluice: "succeeded",
			Lnd: "no payment"}},
		wantErr: true,
		want: []string{"1 differences", "payout payout p1: sluice " +
			"has succeeded, lnd has no payment"},
	}, {
		name: "a difference as JSON",
		diffs: []reconcile.Difference{{Kind: reconcile.KindTotal,
			Subject: "paid_out", Sluice: "1", Lnd: "2"}},
		args:    []string{"--json"},
		wantErr: true,
		want:    []string{`"subject": "paid_out"`, `"ok": false`},
	}}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			report.Differences = tc.diffs
			out, err := runCLI(append(append(base, "operator",
				"reconcile"), tc.args...)...)
			if (err != nil) != tc.wantErr {
				t.Fatalf("error %v, want one: %v", err, tc.wantErr)
			}
			if err != nil && !errors.Is(err, errNotReconciled) {
				t.Fatalf("error %v, want errNotReconciled", err)
			}
			for _, w := range tc.want {
				if !strings.Contains(out, w) {
					t.Fatalf("output lacks %q:\n%s", w, out)
				}
			}
		})
	}
}

// TestProviderStatusOnce prints one snapshot of a named provider.
func TestProviderStatusOnce(t *testing.T) {
	base := startStatusServer(t, &reconcile.Report{})
	run := func(args ...string) (string, error) {
		var out bytes.Buffer
		app := cli.NewApp()
		app.Flags = globalFlags
		app.Commands = []cli.Command{providerCommand}
		app.Writer = &out
		err := app.Run(append(append([]string{"sluice"}, base...),
			args...))
		return out.String(), err
	}
	out, err := run("provider", "status", "--once", "prov-9")
	if err != nil {
		t.Fatal(err)
	}
	for _, w := range []string{"prov-9", "blocked: no route",
		"12345 msat (12.345 sat) in 2 payouts (3 tried)", "job-a",
		"42", "4200", "ago"} {

		if !strings.Contains(out, w) {
			t.Fatalf("output lacks %q:\n%s", w, out)
		}
	}
	out, err = run("provider", "status", "--json", "prov-9")
	if err != nil || !strings.Contains(out, `"secondsMetered": "42"`) &&
		!strings.Contains(out, `"seconds_metered": "42"`) {

		t.Fatalf("--json: %v\n%s", err, out)
	}
}

// TestFollow refreshes until a frame says it is the last, retries a
// transient failure, and stops at another error or when ctx ends.
func TestFollow(t *testing.T) {
	unavailable := connect.NewError(connect.CodeUnavailable,
		errors.New("down"))
	refused := errors.New("refused")
	tests := []struct {
		name    string
		results []error
		cancel  bool
		want    error
		frames  int
	}{
		{"until done", []error{nil, nil, errFollowDone}, false, nil, 3},
		{"retries unavailable", []error{unavailable, errFollowDone},
			false, nil, 2},
		{"stops at an error", []error{nil, refused}, false, refused, 2},
		{"stops when cancelled", nil, true, nil, 1},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			calls := 0
			var out bytes.Buffer
			err := follow(ctx, &out, time.Millisecond,
				func(_ context.Context, w io.Writer) error {
					calls++
					io.WriteString(w, "frame\n")
					if tc.cancel {
						cancel()
						return nil
					}
					return tc.results[calls-1]
				})
			if !errors.Is(err, tc.want) && err != tc.want {
				t.Fatalf("error %v, want %v", err, tc.want)
			}
			if calls != tc.frames {
				t.Fatalf("%d frames, want %d", calls, tc.frames)
			}
		})
	}
}

// TestMsatSign checks that an amount under a sat keeps its sign in sats:
// a report's net can be negative.
func TestMsatSign(t *testing.T) {
	for v, want := range map[int64]string{
		0:      "0 msat (0.000 sat)",
		1_500:  "1500 msat (1.500 sat)",
		-500:   "-500 msat (-0.500 sat)",
		-1_500: "-1500 msat (-1.500 sat)",
	} {
		if got := msat(v); got != want {
			t.Errorf("msat(%d) = %q, want %q", v, got, want)
		}
	}
}
