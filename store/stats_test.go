package store_test

import (
	"context"
	"testing"

	"github.com/sluice-ln/sluice/ledger"
	"github.com/sluice-ln/sluice/store"
	"github.com/sluice-ln/sluice/store/storetest"
)

// TestStatementsCounted: every statement a transaction runs on SQLite is
// counted, reads and writes, and a transaction that runs none adds none.
func TestStatementsCounted(t *testing.T) {
	db := storetest.Open(t, storetest.Config(t, store.SQLite))
	ctx := context.Background()

	before := store.Statements()
	err := db.ExecTx(ctx, store.TxOptions{ReadOnly: true},
		func(tx *store.Tx) error { return nil })
	if err != nil {
		t.Fatal(err)
	}
	if got := store.Statements() - before; got != 0 {
		t.Fatalf("an empty transaction ran %d statements", got)
	}

	before = store.Statements()
	err = db.ExecTx(ctx, store.TxOptions{ReadOnly: true},
		func(tx *store.Tx) error {
			_, err := tx.Balance(ctx, ledger.PlatformFees())
			if err != nil {
				return err
			}
			_, err = tx.PayoutCandidates(ctx)
			return err
		})
	if err != nil {
		t.Fatal(err)
	}
	if got := store.Statements() - before; got < 2 {
		t.Fatalf("two queries counted as %d statements", got)
	}
}
