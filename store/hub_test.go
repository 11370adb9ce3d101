package store_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/sluice-ln/sluice/store"
	"github.com/sluice-ln/sluice/store/storetest"
)

// hubAt is a time in another zone and with nanoseconds, which the store
// must give back in UTC microseconds.
var hubAt = time.Date(2026, 7, 1, 9, 30, 0, 123456789,
	time.FixedZone("CEST", 2*3600))

// TestHubIdentity reads no hub from a new store, records one, replaces it,
// and refuses rows the schema forbids, on each backend.
func TestHubIdentity(t *testing.T) {
	t.Parallel()

	storetest.ForEachBackend(t, func(t *testing.T, cfg store.Config) {
		t.Parallel()
		db := storetest.Open(t, cfg)

		read := func() (store.HubIdentity, error) {
			var h store.HubIdentity
			err := inTx(t, db, func(ctx context.Context,
				tx *store.Tx) error {

				var err error
				h, err = tx.HubIdentity(ctx)
				return err
			})
			return h, err
		}

		if h, err := read(); !errors.Is(err, store.ErrNotFound) {
			t.Fatalf("new store: hub %+v, %v; want ErrNotFound", h,
				err)
		}

		first := store.HubIdentity{NodePubkey: nodeA,
			Network: "regtest", RecordedAt: hubAt}
		second := store.HubIdentity{NodePubkey: nodeB,
			Network: "signet", RecordedAt: hubAt.Add(time.Hour)}
		for _, want := range []store.HubIdentity{first, second} {
			mustTx(t, db, func(ctx context.Context,
				tx *store.Tx) error {

				return tx.SetHubIdentity(ctx, want)
			})
			got, err := read()
			if err != nil {
				t.Fatal(err)
			}
			want.RecordedAt = want.RecordedAt.UTC().Truncate(
				time.Microsecond)
			if got != want {
				t.Fatalf("hub %+v, want %+v", got, want)
			}
		}

		bad := []struct {
			name string
			hub  store.HubIdentity
		}{
			{"short key", store.HubIdentity{NodePubkey: "02ab",
				Network: "regtest", RecordedAt: hubAt}},
			{"no network", store.HubIdentity{NodePubkey: nodeA,
				RecordedAt: hubAt}},
		}
		for _, tc := range bad {
			err := inTx(t, db, func(ctx context.Context,
				tx *store.Tx) error {

				return tx.SetHubIdentity(ctx, tc.hub)
			})
			if !errors.Is(err, store.ErrCheckViolation) {
				t.Errorf("%s: %v, want ErrCheckViolation",
					tc.name, err)
			}
		}

		// The refused writes left the second hub in place.
		got, err := read()
		if err != nil || got.NodePubkey != nodeB {
			t.Fatalf("after refusals: hub %+v, %v; want %s", got,
				err, nodeB)
		}
	})
}
