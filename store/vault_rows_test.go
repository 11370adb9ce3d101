package store_test

import (
	"context"
	"errors"
	"reflect"
	"testing"
	"time"

	"github.com/sluice-ln/sluice/ledger"
	"github.com/sluice-ln/sluice/store"
	"github.com/sluice-ln/sluice/store/storetest"
	"github.com/sluice-ln/sluice/yield"
)

// TestVaultPolicyRows checks, on each backend, that the policy reads as
// zero before it is set and as written after, caps replaced whole and
// times in UTC microseconds.
func TestVaultPolicyRows(t *testing.T) {
	t.Parallel()

	storetest.ForEachBackend(t, func(t *testing.T, cfg store.Config) {
		t.Parallel()
		db := storetest.Open(t, cfg)
		ctx := context.Background()

		read := func() yield.Policy {
			t.Helper()
			var p yield.Policy
			err := db.ExecVault(ctx, true, func(tx yield.VaultTx) error {
				var err error
				p, err = tx.Policy(ctx)
				return err
			})
			if err != nil {
				t.Fatalf("Policy: %v", err)
			}
			return p
		}
		put := func(p yield.Policy) {
			t.Helper()
			err := db.ExecVault(ctx, false, func(tx yield.VaultTx) error {
				return tx.PutPolicy(ctx, p)
			})
			if err != nil {
				t.Fatalf("PutPolicy: %v", err)
			}
		}

		if got := read(); !reflect.DeepEqual(got, yield.Policy{}) {
			t.Fatalf("policy before any = %+v, want zero", got)
		}

		first := yield.Policy{
			FloorBPS: 2500,
			Caps: map[string]ledger.MilliSatoshi{
				"routing": 5_000_000, "lending": 0,
			},
			Shutdown:  true,
			UpdatedAt: payoutAt,
		}
		put(first)
		want := first
		want.UpdatedAt = payoutAt.UTC().Truncate(time.Microsecond)
		if got := read(); !reflect.DeepEqual(got, want) {
			t.Fatalf("policy = %+v, want %+v", got, want)
		}

		second := yield.Policy{FloorBPS: 10_000,
			UpdatedAt: payoutAt.Add(time.Hour)}
		put(second)
		want = second
		want.UpdatedAt = second.UpdatedAt.UTC().Truncate(
			time.Microsecond)
		if got := read(); !reflect.DeepEqual(got, want) {
			t.Fatalf("policy = %+v, want %+v (caps replaced)", got,
				want)
		}

		// The schema refuses a floor above 100 %, whatever the vault
		// lets through.
		err := db.ExecVault(ctx, false, func(tx yield.VaultTx) error {
			return tx.PutPolicy(ctx, yield.Policy{FloorBPS: 10_001,
				UpdatedAt: payoutAt})
		})
		if err == nil {
			t.Fatal("a floor of 10,001 bps was stored")
		}
	})
}

// TestVaultAutoStakeRows checks, on each backend, the auto-stake percent:
// 0 when never set, the last one set, and an unknown provider refused
// with yield's sentinel.
func TestVaultAutoStakeRows(t *testing.T) {
	t.Parallel()

	storetest.ForEachBackend(t, func(t *testing.T, cfg store.Config) {
		t.Parallel()
		db := storetest.Open(t, cfg)
		ctx := context.Background()
		addProvider(t, db, "pa", nodeA)

		get := func(id string) uint32 {
			t.Helper()
			var pct uint32
			err := db.ExecVault(ctx, true, func(tx yield.VaultTx) error {
				var err error
				pct, err = tx.AutoStake(ctx, id)
				return err
			})
			if err != nil {
				t.Fatalf("AutoStake(%s): %v", id, err)
			}
			return pct
		}
		set := func(id string, pct uint32) error {
			return db.ExecVault(ctx, false, func(tx yield.VaultTx) error {
				return tx.SetAutoStake(ctx, id, pct, payoutAt)
			})
		}

		if got := get("pa"); got != 0 {
			t.Fatalf("auto-stake before any = %d, want 0", got)
		}
		for _, pct := range []uint32{50, 100, 0, 7} {
			if err := set("pa", pct); err != nil {
				t.Fatalf("SetAutoStake(%d): %v", pct, err)
			}
			if got := get("pa"); got != pct {
				t.Fatalf("auto-stake = %d, want %d", got, pct)
			}
		}
		if err := set("nobody", 10); !errors.Is(err,
			yield.ErrProviderNotFound) {

			t.Fatalf("SetAutoStake(nobody) = %v, want %v", err,
				yield.ErrProviderNotFound)
		}
		if err := set("pa", 101); err == nil {
			t.Fatal("auto-stake of 101 % was stored")
		}
	})
}

// TestVaultRedemptionRows checks, on each backend, the redemption queue's
// rows: ids in insertion order, unique keys, lookups, filters and the
// state change that holds only from the state it names.
func TestVaultRedemptionRows(t *testing.T) {
	t.Parallel()

	storetest.ForEachBackend(t, func(t *testing.T, cfg store.Config) {
		t.Parallel()
		db := storetest.Open(t, cfg)
		ctx := context.Background()
		addProvider(t, db, "pa", nodeA)
		addProvider(t, db, "pb", nodeB)

		exec := func(fn func(tx yield.VaultTx) error) error {
			return db.ExecVault(ctx, false, fn)
		}
		req := func(key, provider string, shares ledger.Shares) yield.StoredRedemption {
			return yield.StoredRedemption{
				Key: key, ProviderID: provider, Shares: shares,
				Requested:   ledger.MilliSatoshi(shares),
				State:       yield.RedemptionPending,
				RequestedAt: payoutAt,
			}
		}
		insert := func(r yield.StoredRedemption) (int64, error) {
			var id int64
			err := exec(func(tx yield.VaultTx) error {
				var err error
				id, err = tx.InsertRedemption(ctx, r)
				return err
			})
			return id, err
		}

		var ids []int64
		for _, r := range []yield.StoredRedemption{
			req("pa:1", "pa", 1000), req("pb:1", "pb", 2000),
			req("pa:2", "pa", 3000),
		} {
			id, err := insert(r)
			if err != nil {
				t.Fatalf("InsertRedemption(%s): %v", r.Key, err)
			}
			if len(ids) > 0 && id <= ids[len(ids)-1] {
				t.Fatalf("id %d after %d: not increasing", id,
					ids[len(ids)-1])
			}
			ids = append(ids, id)
		}

		refusals := []struct {
			name string
			fn   func(tx yield.VaultTx) error
			want error
		}{{
			name: "key taken",
			fn: func(tx yield.VaultTx) error {
				_, err := tx.InsertRedemption(ctx,
					req("pa:1", "pa", 5))
				return err
			},
			want: yield.ErrKeyExists,
		}, {
			name: "unknown provider",
			fn: func(tx yield.VaultTx) error {
				_, err := tx.InsertRedemption(ctx,
					req("x:1", "nobody", 5))
				return err
			},
			want: yield.ErrProviderNotFound,
		}, {
			name: "unknown id",
			fn: func(tx yield.VaultTx) error {
				_, err := tx.Redemption(ctx, ids[2]+100)
				return err
			},
			want: yield.ErrRedemptionNotFound,
		}, {
			name: "unknown key",
			fn: func(tx yield.VaultTx) error {
				_, err := tx.RedemptionByKey(ctx, "pa:9")
				return err
			},
			want: yield.ErrRedemptionNotFound,
		}, {
			name: "update of an unknown id",
			fn: func(tx yield.VaultTx) error {
				r := req("pa:9", "pa", 5)
				r.ID, r.State = ids[2]+100, yield.RedemptionCancelled
				return tx.UpdateRedemption(ctx,
					yield.RedemptionPending, r)
			},
			want: yield.ErrRedemptionNotFound,
		}}
		for _, tc := range refusals {
			if err := exec(tc.fn); !errors.Is(err, tc.want) {
				t.Fatalf("%s: err = %v, want %v", tc.name, err,
					tc.want)
			}
		}

		// Finalize the first, cancel the third.
		fin := req("pa:1", "pa", 1000)
		fin.ID, fin.State = ids[0], yield.RedemptionFinalized
		fin.FinalizedAt, fin.Assets, fin.PaidMark =
			payoutAt.Add(time.Minute), 900, 12_345
		can := req("pa:2", "pa", 3000)
		can.ID, can.State = ids[2], yield.RedemptionCancelled
		can.CancelledAt = payoutAt.Add(2 * time.Minute)
		err := exec(func(tx yield.VaultTx) error {
			if err := tx.UpdateRedemption(ctx,
				yield.RedemptionPending, fin); err != nil {

				return err
			}
			return tx.UpdateRedemption(ctx, yield.RedemptionPending,
				can)
		})
		if err != nil {
			t.Fatalf("UpdateRedemption: %v", err)
		}
		err = exec(func(tx yield.VaultTx) error {
			return tx.UpdateRedemption(ctx, yield.RedemptionPending,
				can)
		})
		if !errors.Is(err, yield.ErrRedemptionState) {
			t.Fatalf("second cancel: err = %v, want %v", err,
				yield.ErrRedemptionState)
		}

		utc := func(r yield.StoredRedemption) yield.StoredRedemption {
			fix := func(at time.Time) time.Time {
				if at.IsZero() {
					return at
				}
				return at.UTC().Truncate(time.Microsecond)
			}
			r.RequestedAt = fix(r.RequestedAt)
			r.FinalizedAt = fix(r.FinalizedAt)
			r.CancelledAt = fix(r.CancelledAt)
			return r
		}
		pb := req("pb:1", "pb", 2000)
		pb.ID = ids[1]
		all := []yield.StoredRedemption{utc(fin), utc(pb), utc(can)}

		filters := []struct {
			name string
			f    yield.RedemptionFilter
			want []yield.StoredRedemption
		}{
			{"all", yield.RedemptionFilter{}, all},
			{"provider", yield.RedemptionFilter{ProviderID: "pa"},
				[]yield.StoredRedemption{all[0], all[2]}},
			{"state", yield.RedemptionFilter{States: []yield.RedemptionState{
				yield.RedemptionPending}}, all[1:2]},
			{"states", yield.RedemptionFilter{States: []yield.RedemptionState{
				yield.RedemptionCancelled, yield.RedemptionFinalized}},
				[]yield.StoredRedemption{all[0], all[2]}},
			{"provider and state", yield.RedemptionFilter{
				ProviderID: "pb", States: []yield.RedemptionState{
					yield.RedemptionFinalized}}, nil},
		}
		for _, tc := range filters {
			var got []yield.StoredRedemption
			err := db.ExecVault(ctx, true, func(tx yield.VaultTx) error {
				var err error
				got, err = tx.Redemptions(ctx, tc.f)
				return err
			})
			if err != nil {
				t.Fatalf("%s: %v", tc.name, err)
			}
			if !reflect.DeepEqual(got, tc.want) {
				t.Fatalf("%s: got %+v, want %+v", tc.name, got,
					tc.want)
			}
		}

		err = db.ExecVault(ctx, true, func(tx yield.VaultTx) error {
			byID, err := tx.Redemption(ctx, ids[0])
			if err != nil {
				return err
			}
			byKey, err := tx.RedemptionByKey(ctx, "pa:1")
			if err != nil {
				return err
			}
			if !reflect.DeepEqual(byID, all[0]) ||
				!reflect.DeepEqual(byKey, all[0]) {

				t.Errorf("lookups = %+v, %+v; want %+v", byID,
					byKey, all[0])
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
	})
}
