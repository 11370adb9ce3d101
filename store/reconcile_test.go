package store_test

import (
	"context"
	"errors"
	"reflect"
	"testing"

	"github.com/sluice-ln/sluice/ledger"
	"github.com/sluice-ln/sluice/reconcile"
	"github.com/sluice-ln/sluice/store"
	"github.com/sluice-ln/sluice/store/storetest"
	"github.com/sluice-ln/sluice/yield"
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

// TestReconcileShareBooks checks, on each backend, what reconciliation
// reads of the vault's share books: every shares_locked account by
// provider, refused for an msat kind, and the shares of each provider's
// pending redemptions, not its finalized or cancelled ones.
func TestReconcileShareBooks(t *testing.T) {
	t.Parallel()

	storetest.ForEachBackend(t, func(t *testing.T, cfg store.Config) {
		t.Parallel()
		db := storetest.Open(t, cfg)
		l := ledger.New(store.NewLedgerStore(db), nil)
		ctx := context.Background()
		addProvider(t, db, "prov-1", nodeA)
		addProvider(t, db, "prov-2", nodeB)

		read := func() (locked, pending map[string]ledger.Shares) {
			t.Helper()
			err := db.ReadBooks(ctx, func(tx reconcile.BooksTx) error {
				var err error
				locked, err = tx.ShareBalances(ctx,
					ledger.KindSharesLocked)
				if err != nil {
					return err
				}
				pending, err = tx.PendingRedemptionShares(ctx)
				return err
			})
			if err != nil {
				t.Fatal(err)
			}
			return locked, pending
		}
		if locked, pending := read(); len(locked) != 0 ||
			len(pending) != 0 {

			t.Fatalf("empty books: %v, %v", locked, pending)
		}

		for i, tr := range []ledger.Transaction{
			{IdempotencyKey: "issue", Postings: []ledger.Posting{
				{Account: ledger.ShareSupply(), Shares: -3_000},
				{Account: ledger.ProviderShares("prov-1"),
					Shares: 2_000},
				{Account: ledger.ProviderShares("prov-2"),
					Shares: 1_000},
			}},
			ledger.TransferShares("lock1", "",
				ledger.ProviderShares("prov-1"),
				ledger.SharesLocked("prov-1"), 700),
			ledger.TransferShares("lock2", "",
				ledger.ProviderShares("prov-2"),
				ledger.SharesLocked("prov-2"), 100),
			ledger.TransferShares("unlock2", "",
				ledger.SharesLocked("prov-2"),
				ledger.ProviderShares("prov-2"), 100),
		} {
			if _, err := l.Post(ctx, tr); err != nil {
				t.Fatalf("post %d: %v", i, err)
			}
		}
		err := db.ExecVault(ctx, false, func(tx yield.VaultTx) error {
			for _, r := range []yield.StoredRedemption{
				{Key: "a", ProviderID: "prov-1", Shares: 500,
					State: yield.RedemptionPending},
				{Key: "b", ProviderID: "prov-1", Shares: 200,
					State: yield.RedemptionPending},
				{Key: "c", ProviderID: "prov-1", Shares: 900,
					State: yield.RedemptionFinalized},
				{Key: "d", ProviderID: "prov-2", Shares: 100,
					State: yield.RedemptionCancelled},
			} {
				r.RequestedAt = setAt
				if _, err := tx.InsertRedemption(ctx,
					r); err != nil {

					return err
				}
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}

		locked, pending := read()
		wantLocked := map[string]ledger.Shares{"prov-1": 700,
			"prov-2": 0}
		wantPending := map[string]ledger.Shares{"prov-1": 700}
		if !reflect.DeepEqual(locked, wantLocked) ||
			!reflect.DeepEqual(pending, wantPending) {

			t.Fatalf("locked %v, pending %v; want %v, %v", locked,
				pending, wantLocked, wantPending)
		}

		err = db.ReadBooks(ctx, func(tx reconcile.BooksTx) error {
			_, err := tx.ShareBalances(ctx, ledger.KindVault)
			return err
		})
		if !errors.Is(err, ledger.ErrWrongUnit) {
			t.Fatalf("balances of an msat kind: %v, want %v", err,
				ledger.ErrWrongUnit)
		}
	})
}
