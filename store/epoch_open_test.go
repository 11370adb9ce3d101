package store_test

import (
	"context"
	"errors"
	"reflect"
	"testing"

	"github.com/sluice-ln/sluice/store"
	"github.com/sluice-ln/sluice/store/storetest"
	"github.com/sluice-ln/sluice/yield"
)

// TestAddOpenContribution checks, on each backend, the contribution to the
// open epoch in one statement: none before an epoch is open, then added
// to the open epoch's, whatever the contribution says, accumulating per
// provider, and refused for an unknown provider.
func TestAddOpenContribution(t *testing.T) {
	t.Parallel()

	storetest.ForEachBackend(t, func(t *testing.T, cfg store.Config) {
		t.Parallel()
		db := storetest.Open(t, cfg)
		addProvider(t, db, "a", nodeA)

		add := func(c yield.Contribution) (uint64, error) {
			var n uint64
			err := vaultErr(db, func(ctx context.Context,
				tx yield.VaultTx) error {

				var err error
				n, err = tx.AddOpenContribution(ctx, c)
				return err
			})
			return n, err
		}

		c := yield.Contribution{Epoch: 7, ProviderID: "a", Seconds: 10,
			Earned: 900, Fees: 100}
		if _, err := add(c); !errors.Is(err, yield.ErrNoOpenEpoch) {
			t.Fatalf("before any epoch = %v, want ErrNoOpenEpoch",
				err)
		}

		vaultTx(t, db, func(ctx context.Context, tx yield.VaultTx) error {
			return tx.InsertEpoch(ctx, yield.StoredEpoch{Number: 3,
				Start: epochAt})
		})
		for i := 0; i < 2; i++ {
			n, err := add(c)
			if err != nil || n != 3 {
				t.Fatalf("add %d: epoch %d, %v; want 3", i, n, err)
			}
		}
		_, err := add(yield.Contribution{ProviderID: "nobody",
			Seconds: 1})
		if !errors.Is(err, store.ErrForeignKeyViolation) {
			t.Fatalf("unknown provider = %v, want "+
				"ErrForeignKeyViolation", err)
		}

		vaultTx(t, db, func(ctx context.Context, tx yield.VaultTx) error {
			got, err := tx.Contributions(ctx, 3)
			want := []yield.Contribution{{Epoch: 3, ProviderID: "a",
				Seconds: 20, Earned: 1800, Fees: 200}}
			if err != nil || !reflect.DeepEqual(got, want) {
				t.Errorf("contributions %+v, %v; want %+v", got,
					err, want)
			}
			return nil
		})
	})
}
