package channels

import (
	"context"

	"github.com/lightningnetwork/lnd/lnwire"
	"github.com/lightningnetwork/lnd/routing/route"
	"github.com/sluice-ln/sluice/lightning"
	"github.com/sluice-ln/sluice/store"
)

// Hub is what linking needs from the hub's lnd: its channel graph, its own
// channels and its path finding. lightning.Graph is the lnd adapter;
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

// The lnd adapter is what linking needs.
var _ Hub = (*lightning.Graph)(nil)

// Store runs the package's queries (store.Tx's channels methods) in one
// transaction; *store.DB is the one implementation. Unit tests use a real
// SQLite store from storetest: the queries are part of what they test.
type Store interface {
	// ExecTx runs fn in a transaction, retrying it on serialization
	// failures, and commits it when fn returns nil.
	ExecTx(ctx context.Context, opts store.TxOptions,
		fn func(*store.Tx) error) error
}

var _ Store = (*store.DB)(nil)
