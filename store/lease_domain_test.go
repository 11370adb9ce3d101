package store_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/lightningnetwork/lnd/lntypes"
	"github.com/lightningnetwork/lnd/routing/route"
	"github.com/sluice-ln/sluice/store"
	"github.com/sluice-ln/sluice/store/storetest"
	"github.com/sluice-ln/sluice/yield/lease"
)

// TestLeaseRows checks, on each backend, the lease strategy's rows: a
// lease read back whole, a key returning the lease stored for it, the
// filters, and an update made only from the state it read.
func TestLeaseRows(t *testing.T) {
	t.Parallel()

	storetest.ForEachBackend(t, func(t *testing.T, cfg store.Config) {
		t.Parallel()
		db := storetest.Open(t, cfg)
		ctx := context.Background()
		at := time.Date(2026, 3, 4, 5, 6, 7, 0, time.UTC)
		var node route.Vertex
		node[0], node[1] = 2, 7
		pre := lntypes.Preimage{1, 2, 3}
		l := lease.Lease{
			ID: "aa01", Key: "k1", Node: node, Capacity: 50_000,
			Blocks: 10, RatePPB: 100_000, Premium: 50_000,
			Preimage: pre, Hash: pre.Hash(),
			InvoiceExpiresAt: at.Add(time.Hour),
			State:            lease.StateAwaitingPayment,
			CreatedAt:        at, UpdatedAt: at,
		}
		got, created, err := db.InsertLease(ctx, l)
		if err != nil || !created || got.ID != l.ID ||
			got.Preimage != pre || got.Hash != pre.Hash() ||
			got.Node != node || got.Key != "k1" ||
			!got.CreatedAt.Equal(at) ||
			!got.InvoiceExpiresAt.Equal(at.Add(time.Hour)) {

			t.Fatalf("insert: %+v, %v, %v", got, created, err)
		}

		// The same key: the stored lease, nothing inserted.
		other := l
		other.ID, other.Capacity = "bb02", 60_000
		other.Preimage = lntypes.Preimage{9}
		other.Hash = other.Preimage.Hash()
		got, created, err = db.InsertLease(ctx, other)
		if err != nil || created || got.ID != "aa01" {
			t.Fatalf("same key: %+v, %v, %v", got, created, err)
		}
		if got, err := db.LeaseByKey(ctx, "k1"); err != nil ||
			got.ID != "aa01" {

			t.Fatalf("by key: %+v, %v", got, err)
		}
		if _, err := db.LeaseByKey(ctx, "nope"); !errors.Is(err,
			lease.ErrLeaseNotFound) {

			t.Fatalf("unknown key: %v", err)
		}

		// Without a key: any number of them.
		for _, id := range []string{"cc03", "dd04"} {
			n := l
			n.ID, n.Key = id, ""
			n.Preimage = lntypes.Preimage{id[0]}
			n.Hash = n.Preimage.Hash()
			n.CreatedAt = at.Add(time.Minute)
			if _, created, err := db.InsertLease(ctx, n); err != nil ||
				!created {

				t.Fatalf("insert %s: %v, %v", id, created, err)
			}
		}

		// An update from the state it read.
		l.State = lease.StatePaid
		l.HTLCExpiry = 244
		l.PayReq = "lnbcrt1"
		l.UpdatedAt = at.Add(time.Second)
		if err := db.UpdateLease(ctx, l,
			lease.StateAwaitingPayment); err != nil {

			t.Fatalf("update: %v", err)
		}
		err = db.UpdateLease(ctx, l, lease.StateAwaitingPayment)
		if !errors.Is(err, lease.ErrStateChanged) {
			t.Fatalf("update from a stale state: %v", err)
		}
		missing := l
		missing.ID = "zz"
		err = db.UpdateLease(ctx, missing, lease.StatePaid)
		if !errors.Is(err, lease.ErrLeaseNotFound) {
			t.Fatalf("update of no lease: %v", err)
		}

		l.State = lease.StateActive
		l.ActionID, l.ChanPoint = 7, "ab:1"
		l.StartHeight, l.ExpiryHeight = 300, 310
		l.Settled, l.InvoiceDone, l.OpenCostPosted = true, true, true
		l.Recognised, l.RecognisedHeight = 5_000, 301
		l.CloseTxid, l.CloseCostPosted, l.Returned = "cd", true, true
		l.Reason = "why"
		if err := db.UpdateLease(ctx, l, lease.StatePaid); err != nil {
			t.Fatalf("update to active: %v", err)
		}
		got, err = db.Lease(ctx, "aa01")
		want := l
		want.UpdatedAt = got.UpdatedAt
		if err != nil || got != want {
			t.Fatalf("read back\n%+v\nwant\n%+v\n%v", got, want, err)
		}
		if _, err := db.Lease(ctx, "zz"); !errors.Is(err,
			lease.ErrLeaseNotFound) {

			t.Fatalf("unknown id: %v", err)
		}

		all, err := db.Leases(ctx, lease.Filter{})
		if err != nil || len(all) != 3 || all[0].ID != "aa01" ||
			all[2].ID != "dd04" {

			t.Fatalf("all: %v, %v", all, err)
		}
		active, err := db.Leases(ctx, lease.Filter{
			States: []lease.State{lease.StateActive}})
		if err != nil || len(active) != 1 {
			t.Fatalf("active: %v, %v", active, err)
		}
		var stranger route.Vertex
		stranger[0] = 3
		none, err := db.Leases(ctx, lease.Filter{Node: &stranger})
		if err != nil || len(none) != 0 {
			t.Fatalf("a stranger's: %v, %v", none, err)
		}
		mine, err := db.Leases(ctx, lease.Filter{Node: &node})
		if err != nil || len(mine) != 3 {
			t.Fatalf("the node's: %v, %v", mine, err)
		}
	})
}
