package store_test

import (
	"bytes"
	"context"
	"errors"
	"testing"

	"github.com/btcsuite/btcd/wire"
	"github.com/sluice-ln/sluice/outbound"
	"github.com/sluice-ln/sluice/shares"
	"github.com/sluice-ln/sluice/store"
	"github.com/sluice-ln/sluice/store/storetest"
)

// TestShareGenesis checks, on each backend, the share asset's genesis
// rows: one genesis not failed at a time, names unique, an outcome
// recorded once with the asset's fields read back as written, and a new
// genesis allowed after a failed one.
func TestShareGenesis(t *testing.T) {
	t.Parallel()

	storetest.ForEachBackend(t, func(t *testing.T, cfg store.Config) {
		t.Parallel()
		db := storetest.Open(t, cfg)
		ctx := context.Background()

		if _, err := db.Genesis(ctx); !errors.Is(err,
			shares.ErrNoGenesis) {

			t.Fatalf("genesis before any: %v", err)
		}
		first := shares.Mint{Name: "first", Kind: shares.KindGenesis,
			Amount: 1000, MetaJSON: []byte(`{"name":"first"}`),
			State: outbound.StatusPending, CreatedAt: epochAt}
		if err := db.InsertGenesis(ctx, first); err != nil {
			t.Fatalf("insert genesis: %v", err)
		}
		second := first
		second.Name = "second"
		if err := db.InsertGenesis(ctx, second); !errors.Is(err,
			shares.ErrGenesisDone) {

			t.Fatalf("second genesis while one pending: %v", err)
		}
		got, err := db.Genesis(ctx)
		if err != nil || got.Name != "first" || got.Amount != 1000 ||
			got.State != outbound.StatusPending ||
			string(got.MetaJSON) != `{"name":"first"}` ||
			!got.CreatedAt.Equal(epochAt.Truncate(1000)) ||
			!got.ResolvedAt.IsZero() {

			t.Fatalf("pending genesis read back %+v, %v", got, err)
		}

		// The first fails; a genesis of its name is refused, one
		// of another name written.
		failed := first
		failed.State = outbound.StatusFailed
		failed.Failure = "cancelled"
		failed.ResolvedAt = epochAt
		if err := db.ResolveMint(ctx, failed); err != nil {
			t.Fatalf("resolve failed: %v", err)
		}
		if err := db.ResolveMint(ctx, failed); !errors.Is(err,
			outbound.ErrAlreadyFailed) {

			t.Fatalf("second resolve: %v", err)
		}
		if _, err := db.Genesis(ctx); !errors.Is(err,
			shares.ErrNoGenesis) {

			t.Fatalf("a failed genesis is read as the genesis: %v",
				err)
		}
		if err := db.InsertGenesis(ctx, first); !errors.Is(err,
			shares.ErrNameTaken) {

			t.Fatalf("genesis of a used name: %v", err)
		}
		if err := db.InsertGenesis(ctx, second); err != nil {
			t.Fatalf("genesis after a failed one: %v", err)
		}

		done := second
		done.State = outbound.StatusSucceeded
		done.GroupKey = bytes.Repeat([]byte{0x02}, 33)
		done.AssetID = bytes.Repeat([]byte{0xab}, 32)
		done.Anchor = wire.OutPoint{Hash: [32]byte{7}, Index: 3}
		done.ResolvedAt = epochAt
		if err := db.ResolveMint(ctx, done); err != nil {
			t.Fatalf("resolve succeeded: %v", err)
		}
		got, err = db.Genesis(ctx)
		if err != nil || got.State != outbound.StatusSucceeded ||
			!bytes.Equal(got.GroupKey, done.GroupKey) ||
			!bytes.Equal(got.AssetID, done.AssetID) ||
			got.Anchor != done.Anchor ||
			got.ResolvedAt.IsZero() {

			t.Fatalf("succeeded genesis read back %+v, %v", got,
				err)
		}
		if err := db.ResolveMint(ctx, failed); !errors.Is(err,
			outbound.ErrInvalidTransition) {

			t.Fatalf("resolve a failed mint again: %v", err)
		}
		done.State = outbound.StatusFailed
		if err := db.ResolveMint(ctx, done); !errors.Is(err,
			outbound.ErrAlreadySucceeded) {

			t.Fatalf("fail a succeeded genesis: %v", err)
		}
		third := first
		third.Name = "third"
		if err := db.InsertGenesis(ctx, third); !errors.Is(err,
			shares.ErrGenesisDone) {

			t.Fatalf("genesis after a succeeded one: %v", err)
		}
	})
}
