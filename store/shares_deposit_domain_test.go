package store_test

import (
	"context"
	"errors"
	"testing"

	"github.com/sluice-ln/sluice/ledger"
	"github.com/sluice-ln/sluice/shares"
	"github.com/sluice-ln/sluice/store"
	"github.com/sluice-ln/sluice/store/storetest"
)

// TestShareDeposits checks, on each backend, the deposit rows as package
// shares uses them: the first address of a provider stays, an outpoint is
// credited once, with its ledger move in the same transaction, and a
// failed transaction leaves nothing.
func TestShareDeposits(t *testing.T) {
	t.Parallel()

	storetest.ForEachBackend(t, func(t *testing.T, cfg store.Config) {
		t.Parallel()
		db := storetest.Open(t, cfg)
		ctx := context.Background()
		addProvider(t, db, "pa", nodeA)
		addProvider(t, db, "pb", nodeB)

		if _, err := db.DepositAddress(ctx, "pa"); !errors.Is(err,
			shares.ErrNoDepositAddress) {

			t.Fatalf("address before any: %v", err)
		}
		for _, addr := range []string{"taprt1first", "taprt1second"} {
			a, err := db.InsertDepositAddress(ctx,
				shares.DepositAddress{ProviderID: "pa",
					Addr: addr, CreatedAt: epochAt})
			if err != nil || a.Addr != "taprt1first" {
				t.Fatalf("insert %s: %+v, %v", addr, a, err)
			}
		}
		if _, err := db.InsertDepositAddress(ctx, shares.DepositAddress{
			ProviderID: "pb", Addr: "taprt1pb",
			CreatedAt: epochAt}); err != nil {

			t.Fatal(err)
		}
		all, err := db.DepositAddresses(ctx)
		if err != nil || len(all) != 2 || all[0].ProviderID != "pa" ||
			all[1].Addr != "taprt1pb" {

			t.Fatalf("addresses: %+v, %v", all, err)
		}

		led := ledger.New(store.NewLedgerStore(db), nil)
		credit := func(d shares.Deposit, fail bool) (bool, error) {
			var ok bool
			err := db.ExecDeposits(ctx, func(tx shares.DepositTx) error {
				var err error
				d.ID, ok, err = tx.InsertDeposit(ctx, d)
				if err != nil || !ok {
					return err
				}
				_, err = led.PostTx(ctx, tx.Ledger(),
					ledger.TransferShares(d.LedgerKey(), "",
						ledger.SharesDeposited(d.ProviderID),
						ledger.ProviderShares(d.ProviderID),
						d.Amount))
				if err == nil && fail {
					err = errors.New("crash before commit")
				}
				return err
			})
			return ok, err
		}
		d := shares.Deposit{Outpoint: "aa:0", ProviderID: "pa",
			Addr: "taprt1first", Amount: 700, Height: 150,
			CreditedAt: epochAt}
		if _, err := credit(d, true); err == nil {
			t.Fatal("a failed transaction committed")
		}
		if ops, err := db.CreditedOutpoints(ctx); err != nil ||
			len(ops) != 0 {

			t.Fatalf("after a failed credit: %v, %v", ops, err)
		}
		if ok, err := credit(d, false); err != nil || !ok {
			t.Fatalf("credit: %v, %v", ok, err)
		}
		if ok, err := credit(d, false); err != nil || ok {
			t.Fatalf("credit again: %v, %v", ok, err)
		}
		n, err := led.ShareBalance(ctx, ledger.ProviderShares("pa"))
		if err != nil || n != 700 {
			t.Fatalf("pa holds %v, %v; want 700", n, err)
		}
		if out, err := db.SharesOutside(ctx); err != nil || out != -700 {
			t.Fatalf("outside custody: %v, %v; want -700", out, err)
		}
		ops, err := db.CreditedOutpoints(ctx)
		if err != nil || len(ops) != 1 || !ops["aa:0"] {
			t.Fatalf("credited outpoints: %v, %v", ops, err)
		}
		ds, err := db.Deposits(ctx, "pa")
		if err != nil || len(ds) != 1 || ds[0].Amount != 700 ||
			ds[0].Height != 150 || ds[0].Outpoint != "aa:0" {

			t.Fatalf("deposits: %+v, %v", ds, err)
		}
		if ds, err := db.Deposits(ctx, "pb"); err != nil ||
			len(ds) != 0 {

			t.Fatalf("pb's deposits: %+v, %v", ds, err)
		}
	})
}
