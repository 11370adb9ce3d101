package store_test

import (
	"context"
	"errors"
	"reflect"
	"testing"
	"time"

	"github.com/lightningnetwork/lnd/routing/route"
	"github.com/sluice-ln/sluice/store"
	"github.com/sluice-ln/sluice/store/storetest"
	"github.com/sluice-ln/sluice/yield/routing"
)

// TestRoutingChannels checks, on each backend, the routing strategy's
// rows: one per action (a second insert returns the first), the channel
// point and txids set once, the flags only from false to true, and an
// update of an action with no row refused.
func TestRoutingChannels(t *testing.T) {
	t.Parallel()

	storetest.ForEachBackend(t, func(t *testing.T, cfg store.Config) {
		t.Parallel()
		db := storetest.Open(t, cfg)
		ctx := context.Background()

		var peer route.Vertex
		peer[0], peer[1] = 0x03, 0x77
		opened := time.Date(2026, 9, 1, 12, 0, 0, 123456789, time.UTC)
		first := routing.Channel{
			ActionID: 7, Peer: peer, Capacity: 500_000_000,
			Memo: routing.Memo(7), Status: routing.StatusOpening,
			OpenedAt: opened, UpdatedAt: opened,
		}
		got, err := db.InsertRoutingChannel(ctx, first)
		want := first
		want.OpenedAt = opened.Truncate(time.Microsecond)
		want.UpdatedAt = want.OpenedAt
		if err != nil || !reflect.DeepEqual(got, want) {
			t.Fatalf("insert:\n got %+v, %v\nwant %+v", got, err,
				want)
		}

		// The same action again: the first row stays.
		second := first
		second.Capacity = 1
		second.OpenedAt = opened.Add(time.Hour)
		got, err = db.InsertRoutingChannel(ctx, second)
		if err != nil || !reflect.DeepEqual(got, want) {
			t.Fatalf("second insert: %+v, %v", got, err)
		}

		// Another action with the same memo is refused.
		dup := first
		dup.ActionID = 8
		if _, err := db.InsertRoutingChannel(ctx, dup); !errors.Is(err,
			store.ErrUniqueViolation) {

			t.Fatalf("memo twice: %v", err)
		}

		// The point is set, then the channel confirms and closes.
		const point = "aa00000000000000000000000000000000000000000000" +
			"000000000000000000:1"
		upd := want
		upd.ChanPoint = point
		upd.OpenTxid = point[:64]
		upd.Status = routing.StatusOpen
		upd.ShortChanID = 700<<40 | 2<<16 | 1
		upd.OpenHeight = 700
		upd.OpenCostPosted = true
		upd.UpdatedAt = opened.Add(time.Minute)
		if err := db.UpdateRoutingChannel(ctx, upd); err != nil {
			t.Fatal(err)
		}

		// A later write cannot move the point or the txids, nor
		// clear a flag.
		later := upd
		later.ChanPoint = "bb" + point[2:]
		later.OpenTxid = "cc"
		later.OpenCostPosted = false
		later.Status = routing.StatusClosed
		later.CloseTxid = "dd" + point[2:64]
		later.Returned = true
		later.UpdatedAt = opened.Add(2 * time.Minute)
		if err := db.UpdateRoutingChannel(ctx, later); err != nil {
			t.Fatal(err)
		}
		later.CloseTxid, later.OpenTxid = "ee"+point[2:64], ""
		if err := db.UpdateRoutingChannel(ctx, later); err != nil {
			t.Fatal(err)
		}

		rows, err := db.RoutingChannels(ctx)
		want = upd
		want.Status = routing.StatusClosed
		want.CloseTxid = "dd" + point[2:64]
		want.Returned = true
		want.UpdatedAt = opened.Add(2 * time.Minute).Truncate(
			time.Microsecond)
		if err != nil || len(rows) != 1 ||
			!reflect.DeepEqual(rows[0], want) {

			t.Fatalf("rows:\n got %+v, %v\nwant %+v", rows, err,
				want)
		}

		// A second channel: listed after the first.
		other := first
		other.ActionID, other.Memo = 9, routing.Memo(9)
		if _, err := db.InsertRoutingChannel(ctx, other); err != nil {
			t.Fatal(err)
		}
		rows, err = db.RoutingChannels(ctx)
		if err != nil || len(rows) != 2 || rows[1].ActionID != 9 ||
			rows[1].ChanPoint != "" {

			t.Fatalf("rows %+v, %v", rows, err)
		}

		// Its point cannot be the first's.
		other.ChanPoint = point
		if err := db.UpdateRoutingChannel(ctx, other); !errors.Is(err,
			store.ErrUniqueViolation) {

			t.Fatalf("point twice: %v", err)
		}

		missing := first
		missing.ActionID = 99
		if err := db.UpdateRoutingChannel(ctx, missing); !errors.Is(err,
			routing.ErrChannelNotFound) {

			t.Fatalf("update of no row: %v", err)
		}
		bad := first
		bad.Status = "lost"
		if err := db.UpdateRoutingChannel(ctx, bad); !errors.Is(err,
			store.ErrCheckViolation) {

			t.Fatalf("bad status: %v", err)
		}
	})
}
