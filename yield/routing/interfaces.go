package routing

import (
	"context"
	"errors"

	"github.com/btcsuite/btcd/wire"
	"github.com/sluice-ln/sluice/hubnode"
)

// Node is what the strategy needs of the hub's lnd, in package
// lightning's terms: *hubnode.HubChannels, *hubnode.HubForwards and
// *hubnode.Graph together (Hub) satisfy it.
type Node interface {
	hubnode.ChannelOps

	// SetPolicy sets the hub's forwarding policy of the channel.
	SetPolicy(ctx context.Context, point wire.OutPoint,
		policy hubnode.Policy) error

	// Policy reads the hub's side of the channel's policy back from
	// lnd's graph.
	Policy(ctx context.Context, shortChanID uint64) (hubnode.Policy,
		error)

	// Page reads one page of the hub's forwards (hubnode.HubForwards).
	Page(ctx context.Context, q hubnode.ForwardQuery) (
		hubnode.ForwardPage, error)
}

// Hub is the hub's lnd as the strategy uses it: its channel operations,
// its forwarding log and its graph.
type Hub struct {
	*hubnode.HubChannels
	*hubnode.HubForwards
	*hubnode.Graph
}

// Compile-time check that the adapters are what the strategy needs.
var _ Node = Hub{}

// Store keeps the strategy's channels (store/routing_domain.go
// implements it over migration 000015's yield_channels).
type Store interface {
	// InsertRoutingChannel records ch, an open about to be asked of lnd,
	// unless a row for its action exists; it returns the row stored,
	// the earlier one in that case.
	InsertRoutingChannel(ctx context.Context, ch Channel) (Channel, error)

	// RoutingChannels returns every row, in the order they were recorded.
	RoutingChannels(ctx context.Context) ([]Channel, error)

	// UpdateRoutingChannel writes what changes over a channel's life to the
	// row of ch.ActionID: status, short channel id, open height and
	// UpdatedAt as given; ChanPoint, OpenTxid and CloseTxid only when
	// the row has none yet (they are set once); the posted and returned
	// flags only from false to true. ErrChannelNotFound when the action
	// has no row.
	UpdateRoutingChannel(ctx context.Context, ch Channel) error
}

// ErrChannelNotFound is returned by Store.UpdateRoutingChannel for an action
// with no channel row.
var ErrChannelNotFound = errors.New("routing channel not found")
