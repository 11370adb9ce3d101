package store_test

import (
	"context"
	"errors"
	"fmt"
	"testing"

	"github.com/sluice-ln/sluice/ledger"
	"github.com/sluice-ln/sluice/store"
	"github.com/sluice-ln/sluice/store/storetest"
	"github.com/sluice-ln/sluice/yield"
)

// TestTxMemo: in a transaction that remembers (metering's group commit), a
// job or an account read again answers what a read would, with the
// transaction's own writes, and costs no statement on SQLite; a write
// makes the job read again.
func TestTxMemo(t *testing.T) {
	storetest.ForEachBackend(t, func(t *testing.T, cfg store.Config) {
		ctx := context.Background()
		db := storetest.Open(t, cfg)
		lg := ledger.New(store.NewLedgerStore(db), nil)
		storetest.SeedJobs(t, db, lg, jobStart,
			meteredJob(t, "job-1", 1000))
		addProvider(t, db, "prov-1", nodeA)
		escrow := ledger.BuyerEscrow("job-1")
		pay := ledger.ProviderPayable("prov-1")
		sqlite := cfg.Backend == store.SQLite

		// counted checks that fn ran want statements on SQLite.
		counted := func(what string, want int64, fn func()) {
			t.Helper()
			before := store.Statements()
			fn()
			if got := store.Statements() - before; sqlite &&
				got != want {

				t.Errorf("%s ran %d statements, want %d", what,
					got, want)
			}
		}

		mustTx(t, db, func(ctx context.Context, tx *store.Tx) error {
			tx.Remember()
			var j store.Job
			var err error
			counted("first job read", 2, func() {
				j, err = tx.JobByID(ctx, "job-1")
			})
			if err != nil || j.State != "funded" {
				t.Fatalf("job %+v, %v", j, err)
			}
			counted("second job read", 0, func() {
				j, err = tx.JobByID(ctx, "job-1")
			})
			if err != nil || j.State != "funded" {
				t.Fatalf("job again %+v, %v", j, err)
			}
			err = tx.UpdateJobState(ctx, store.JobUpdate{ID: "job-1",
				From: "funded", To: "running", At: ingestNow,
				StartedAt: ingestNow})
			if err != nil {
				t.Fatal(err)
			}
			counted("job read after its update", 2, func() {
				j, err = tx.JobByID(ctx, "job-1")
			})
			if err != nil || j.State != "running" ||
				!j.StartedAt.Equal(ingestNow) {

				t.Fatalf("job after update %+v, %v", j, err)
			}

			var bal ledger.MilliSatoshi
			counted("first balance", 1, func() {
				bal, err = tx.Balance(ctx, escrow)
			})
			if err != nil || bal != 1000 {
				t.Fatalf("escrow %v, %v", bal, err)
			}
			// The transfer reads only the payable, never seen.
			counted("transfer", 4, func() {
				_, err = lg.PostTx(ctx, tx, ledger.Transfer("use",
					"", escrow, pay, 300))
			})
			if err != nil {
				t.Fatal(err)
			}
			counted("balances after the transfer", 0, func() {
				bal, err = tx.Balance(ctx, escrow)
				if err == nil && bal == 700 {
					bal, err = tx.Balance(ctx, pay)
				}
			})
			if err != nil || bal != 300 {
				t.Fatalf("payable %v, %v", bal, err)
			}

			// The meter: none, then the one written.
			counted("first meter read", 1, func() {
				_, err = tx.UsageMeter(ctx, "job-1")
			})
			if !errors.Is(err, store.ErrNotFound) {
				t.Fatalf("meter of a job never metered: %v", err)
			}
			counted("second meter read", 0, func() {
				_, err = tx.UsageMeter(ctx, "job-1")
			})
			if !errors.Is(err, store.ErrNotFound) {
				t.Fatalf("meter read again: %v", err)
			}
			put := store.UsageMeter{JobID: "job-1", LastSeq: 5,
				LastSecond: 7, Carry: "0.5", Charged: 300, Fees: 3,
				FeeRate: 100, UpdatedAt: ingestNow}
			if err := tx.PutUsageMeter(ctx, put); err != nil {
				t.Fatal(err)
			}
			var m store.UsageMeter
			counted("meter read after its write", 1, func() {
				m, err = tx.UsageMeter(ctx, "job-1")
			})
			if err != nil || m != put {
				t.Fatalf("meter %+v, %v; want %+v", m, err, put)
			}

			// The vault's rows: read once, read again after a
			// write.
			vt := store.VaultTx(tx)
			for i, want := range []int64{1, 0} {
				counted(fmt.Sprintf("auto-stake read %d", i), want,
					func() {
						var pct uint32
						pct, err = vt.AutoStake(ctx, "prov-1")
						if err == nil && pct != 0 {
							t.Errorf("auto-stake %d", pct)
						}
					})
				counted(fmt.Sprintf("policy read %d", i), want,
					func() {
						_, err = vt.Policy(ctx)
					})
				counted(fmt.Sprintf("allocated read %d", i), want,
					func() {
						_, err = vt.AllocatedTotal(ctx)
					})
				if err != nil {
					t.Fatal(err)
				}
			}
			err = vt.SetAutoStake(ctx, "prov-1", 30, ingestNow)
			if err == nil {
				err = vt.PutPolicy(ctx, yield.Policy{FloorBPS: 5,
					Caps: map[string]ledger.MilliSatoshi{
						"reserve": 7}, UpdatedAt: ingestNow})
			}
			if err == nil {
				_, err = lg.PostTx(ctx, tx, ledger.Transfer("alloc",
					"", ledger.HubHoldings(),
					ledger.StrategyPrincipal("reserve"), 10))
			}
			if err != nil {
				t.Fatal(err)
			}
			pct, err := vt.AutoStake(ctx, "prov-1")
			if err != nil || pct != 30 {
				t.Fatalf("auto-stake after its write %d, %v", pct,
					err)
			}
			pol, err := vt.Policy(ctx)
			if err != nil || pol.FloorBPS != 5 ||
				pol.Caps["reserve"] != 7 {

				t.Fatalf("policy after its write %+v, %v", pol, err)
			}
			alloc, err := vt.AllocatedTotal(ctx)
			if err != nil || alloc != 10 {
				t.Fatalf("allocated after a posting %v, %v", alloc,
					err)
			}
			return nil
		})

		// What the transaction wrote is what a fresh one reads.
		for a, want := range map[ledger.Account]ledger.MilliSatoshi{
			escrow: 700, pay: 300,
		} {
			got, err := lg.Balance(ctx, a)
			if err != nil || got != want {
				t.Errorf("%v: %v, %v; want %v", a, got, err, want)
			}
		}
	})
}
