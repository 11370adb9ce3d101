package store_test

import (
	"context"
	"errors"
	"reflect"
	"testing"
	"time"

	"github.com/btcsuite/btcd/chaincfg/chainhash"
	"github.com/sluice-ln/sluice/store"
	"github.com/sluice-ln/sluice/store/storetest"
	"github.com/sluice-ln/sluice/yield"
)

// epochAt is a time in another zone and with nanoseconds, which the store
// must turn into UTC microseconds.
var epochAt = time.Date(2026, 8, 1, 10, 0, 0, 123456789,
	time.FixedZone("CEST", 2*3600))

// vaultTx runs fn in one vault transaction and fails the test on its
// error.
func vaultTx(t *testing.T, db *store.DB, fn func(ctx context.Context,
	tx yield.VaultTx) error) {

	t.Helper()
	ctx := context.Background()
	err := db.ExecVault(ctx, false, func(tx yield.VaultTx) error {
		return fn(ctx, tx)
	})
	if err != nil {
		t.Fatalf("vault transaction: %v", err)
	}
}

// vaultErr runs fn in one vault transaction and returns its error.
func vaultErr(db *store.DB, fn func(ctx context.Context,
	tx yield.VaultTx) error) error {

	ctx := context.Background()
	return db.ExecVault(ctx, false, func(tx yield.VaultTx) error {
		return fn(ctx, tx)
	})
}

// TestEpochRows checks, on each backend, the epochs' rows: one open epoch
// at a time, contributions that accumulate per provider and come back in
// byte order, a close that stores every final field once, and the lists.
func TestEpochRows(t *testing.T) {
	t.Parallel()

	storetest.ForEachBackend(t, func(t *testing.T, cfg store.Config) {
		t.Parallel()
		db := storetest.Open(t, cfg)
		// "B" sorts before "a" in byte order, after it in most
		// collations.
		addProvider(t, db, "a", nodeA)
		addProvider(t, db, "B", nodeB)

		err := vaultErr(db, func(ctx context.Context,
			tx yield.VaultTx) error {

			_, err := tx.OpenEpoch(ctx)
			return err
		})
		if !errors.Is(err, yield.ErrNoOpenEpoch) {
			t.Fatalf("OpenEpoch before any = %v, want "+
				"ErrNoOpenEpoch", err)
		}

		vaultTx(t, db, func(ctx context.Context, tx yield.VaultTx) error {
			return tx.InsertEpoch(ctx, yield.StoredEpoch{Number: 1,
				Start: epochAt})
		})
		err = vaultErr(db, func(ctx context.Context,
			tx yield.VaultTx) error {

			return tx.InsertEpoch(ctx, yield.StoredEpoch{Number: 2,
				Start: epochAt})
		})
		if !errors.Is(err, store.ErrUniqueViolation) {
			t.Fatalf("second open epoch = %v, want "+
				"ErrUniqueViolation", err)
		}

		open := yield.StoredEpoch{Number: 1,
			Start: epochAt.UTC().Truncate(time.Microsecond)}
		vaultTx(t, db, func(ctx context.Context, tx yield.VaultTx) error {
			got, err := tx.OpenEpoch(ctx)
			if err != nil {
				return err
			}
			if !reflect.DeepEqual(got, open) {
				t.Errorf("open epoch = %+v, want %+v", got, open)
			}
			return nil
		})

		adds := []yield.Contribution{
			{Epoch: 1, ProviderID: "a", Seconds: 10, Earned: 900,
				Fees: 100},
			{Epoch: 1, ProviderID: "B", Seconds: 5, Earned: 450,
				Fees: 50},
			{Epoch: 1, ProviderID: "a", Seconds: 2, Earned: 180,
				Fees: 20},
		}
		for _, c := range adds {
			vaultTx(t, db, func(ctx context.Context,
				tx yield.VaultTx) error {

				return tx.AddContribution(ctx, c)
			})
		}
		err = vaultErr(db, func(ctx context.Context,
			tx yield.VaultTx) error {

			return tx.AddContribution(ctx, yield.Contribution{
				Epoch: 1, ProviderID: "nobody", Seconds: 1})
		})
		if !errors.Is(err, store.ErrForeignKeyViolation) {
			t.Fatalf("contribution of an unknown provider = %v, "+
				"want ErrForeignKeyViolation", err)
		}

		want := []yield.Contribution{
			{Epoch: 1, ProviderID: "B", Seconds: 5, Earned: 450,
				Fees: 50},
			{Epoch: 1, ProviderID: "a", Seconds: 12, Earned: 1080,
				Fees: 120},
		}
		contributions := func() []yield.Contribution {
			t.Helper()
			var cs []yield.Contribution
			vaultTx(t, db, func(ctx context.Context,
				tx yield.VaultTx) error {

				var err error
				cs, err = tx.Contributions(ctx, 1)
				return err
			})
			return cs
		}
		if got := contributions(); !reflect.DeepEqual(got, want) {
			t.Fatalf("contributions = %+v, want %+v", got, want)
		}

		vaultTx(t, db, func(ctx context.Context, tx yield.VaultTx) error {
			return tx.SetContributionShares(ctx, 1, "a", 777)
		})
		want[1].Shares = 777
		if got := contributions(); !reflect.DeepEqual(got, want) {
			t.Fatalf("contributions after shares = %+v, want %+v",
				got, want)
		}
		err = vaultErr(db, func(ctx context.Context,
			tx yield.VaultTx) error {

			return tx.SetContributionShares(ctx, 1, "nobody", 1)
		})
		if !errors.Is(err, store.ErrNotFound) {
			t.Fatalf("shares of no contribution = %v, want "+
				"ErrNotFound", err)
		}

		closed := yield.StoredEpoch{
			Number:    1,
			Start:     open.Start,
			End:       epochAt.Add(time.Hour),
			Closed:    true,
			Seconds:   17,
			Earned:    1530,
			Fees:      170,
			Reward:    34,
			Issued:    777,
			NAVAssets: 1_000_000,
			NAVSupply: 999_000,
			Root:      chainhash.Hash{0: 0xab, 31: 0xcd},
		}
		vaultTx(t, db, func(ctx context.Context, tx yield.VaultTx) error {
			return tx.CloseEpoch(ctx, closed)
		})
		err = vaultErr(db, func(ctx context.Context,
			tx yield.VaultTx) error {

			return tx.CloseEpoch(ctx, closed)
		})
		if !errors.Is(err, yield.ErrEpochClosed) {
			t.Fatalf("second close = %v, want ErrEpochClosed", err)
		}
		err = vaultErr(db, func(ctx context.Context,
			tx yield.VaultTx) error {

			never := closed
			never.Number = 5
			return tx.CloseEpoch(ctx, never)
		})
		if !errors.Is(err, yield.ErrEpochNotFound) {
			t.Fatalf("close of epoch never opened = %v, want "+
				"ErrEpochNotFound", err)
		}

		wantClosed := closed
		wantClosed.End = closed.End.UTC().Truncate(time.Microsecond)
		vaultTx(t, db, func(ctx context.Context, tx yield.VaultTx) error {
			got, err := tx.Epoch(ctx, 1)
			if err != nil {
				return err
			}
			if !reflect.DeepEqual(got, wantClosed) {
				t.Errorf("closed epoch = %+v, want %+v", got,
					wantClosed)
			}
			if _, err := tx.OpenEpoch(ctx); !errors.Is(err,
				yield.ErrNoOpenEpoch) {

				t.Errorf("OpenEpoch after close = %v, want "+
					"ErrNoOpenEpoch", err)
			}
			_, err = tx.Epoch(ctx, 9)
			if !errors.Is(err, yield.ErrEpochNotFound) {
				t.Errorf("Epoch(9) = %v, want ErrEpochNotFound",
					err)
			}
			return tx.InsertEpoch(ctx, yield.StoredEpoch{Number: 2,
				Start: closed.End})
		})

		second := yield.StoredEpoch{Number: 2, Start: wantClosed.End}
		lists := []struct {
			after uint64
			limit int
			want  []yield.StoredEpoch
		}{
			{0, 0, []yield.StoredEpoch{wantClosed, second}},
			{0, 1, []yield.StoredEpoch{wantClosed}},
			{1, 0, []yield.StoredEpoch{second}},
			{1, 5, []yield.StoredEpoch{second}},
			{2, 0, []yield.StoredEpoch{}},
		}
		for _, l := range lists {
			vaultTx(t, db, func(ctx context.Context,
				tx yield.VaultTx) error {

				got, err := tx.Epochs(ctx, l.after, l.limit)
				if err != nil {
					return err
				}
				if !reflect.DeepEqual(got, l.want) {
					t.Errorf("Epochs(%d, %d) = %+v, want %+v",
						l.after, l.limit, got, l.want)
				}
				return nil
			})
		}

		// A close must say when the epoch ended.
		err = vaultErr(db, func(ctx context.Context,
			tx yield.VaultTx) error {

			bad := closed
			bad.Number = 2
			bad.End = time.Time{}
			return tx.CloseEpoch(ctx, bad)
		})
		if err == nil {
			t.Fatal("close without an end time stored")
		}
	})
}
