package store_test

import (
	"context"
	"testing"

	"github.com/sluice-ln/sluice/ledger"
	"github.com/sluice-ln/sluice/store"
	"github.com/sluice-ln/sluice/store/storetest"
)

// TestKindTotal sums the balances of one kind's accounts.
func TestKindTotal(t *testing.T) {
	t.Parallel()

	storetest.ForEachBackend(t, func(t *testing.T, cfg store.Config) {
		t.Parallel()
		db := storetest.Open(t, cfg)
		l := ledger.New(store.NewLedgerStore(db), nil)
		ctx := context.Background()

		total := func(kind ledger.AccountKind) ledger.MilliSatoshi {
			t.Helper()
			var got ledger.MilliSatoshi
			mustTx(t, db, func(ctx context.Context,
				tx *store.Tx) error {

				var err error
				got, err = tx.KindTotal(ctx, kind)
				return err
			})
			return got
		}
		if got := total(ledger.KindPaidOut); got != 0 {
			t.Fatalf("empty total %v", got)
		}

		for i, tr := range []ledger.Transaction{
			ledger.Transfer("f", "", ledger.HubHoldings(),
				ledger.BuyerEscrow("j"), 10_000),
			ledger.Transfer("a", "", ledger.BuyerEscrow("j"),
				ledger.PaidOut("p1"), 3_000),
			ledger.Transfer("b", "", ledger.BuyerEscrow("j"),
				ledger.PaidOut("p2"), 4_000),
		} {
			if _, err := l.Post(ctx, tr); err != nil {
				t.Fatalf("post %d: %v", i, err)
			}
		}
		if got := total(ledger.KindPaidOut); got != 7_000 {
			t.Fatalf("paid out total %v, want 7000 msat", got)
		}
		if got := total(ledger.KindHubHoldings); got != -10_000 {
			t.Fatalf("hub holdings total %v, want -10000 msat", got)
		}
	})
}
