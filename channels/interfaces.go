package channels

import (
	"context"

	"github.com/lightningnetwork/lnd/lnwire"
	"github.com/lightningnetwork/lnd/routing/route"
	"github.com/sluice-ln/sluice/lightning"
)

// Hub is what linking needs from the hub's lnd: its channel graph, its own
// channels and its path finding. hubnode.Graph is the lnd adapter;
// channelstest.Hub the unit tests' fake.
type Hub interface {
	// NodeInfo returns what the hub's graph knows about node (its alias
	// above all), or an error wrapping lightning.ErrNodeNotFound when the
	// graph has no such node (it has no public channel).
	NodeInfo(ctx context.Context, node route.Vertex) (lightning.NodeInfo,
		error)

	// ChannelsWith returns the hub's open channels with peer, active or
	// not; none when there are none.
	ChannelsWith(ctx context.Context, peer route.Vertex) (
		[]lightning.Channel, error)

	// QueryRoute returns a route over which the hub could pay amt to
	// dest for at most feeLimit in fees, or an error wrapping
	// lightning.ErrNoRoute.
	QueryRoute(ctx context.Context, dest route.Vertex,
		amt, feeLimit lnwire.MilliSatoshi) (lightning.Route, error)
}

// Store runs the Manager's transactions (StoreTx, channels/store.go);
// store.DB implements it (store/channels_domain.go). Unit tests use a
// real SQLite store from storetest: the queries are part of what they
// test.
type Store interface {
	// ExecChannels runs fn in one transaction, read-only when readOnly
	// is set, and commits it when fn returns nil. It may run fn more
	// than once, after a serialization conflict, so fn has no effects
	// outside the transaction.
	ExecChannels(ctx context.Context, readOnly bool,
		fn func(StoreTx) error) error
}

// The modes of Store.ExecChannels.
const (
	readWrite = false
	readOnly  = true
)
