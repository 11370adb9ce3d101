package store_test

import (
	"context"
	"errors"
	"testing"

	"github.com/sluice-ln/sluice/ledger"
	"github.com/sluice-ln/sluice/store"
	"github.com/sluice-ln/sluice/store/storetest"
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
