package lightning

import (
	"errors"

	"github.com/btcsuite/btcd/btcutil"
	"github.com/lightningnetwork/lnd/lnwire"
	"github.com/lightningnetwork/lnd/routing/route"
)

var (
	// ErrNodeNotFound is returned when the hub's channel graph has no
	// node with the key asked about: the node has no public channel the
	// hub has heard of.
	ErrNodeNotFound = errors.New("node not in the hub's graph")

	// ErrNoRoute is returned by QueryRoute when the hub's path finding
	// found no route for the amount.
	ErrNoRoute = errors.New("no route")
)

// NodeInfo is what the hub's graph knows about a node.
type NodeInfo struct {
	// Alias is the alias the node announced; may be empty.
	Alias string

	// Channels is the number of public channels the graph knows of.
	Channels int

	// Capacity is the total capacity of those channels.
	Capacity btcutil.Amount
}

// Channel is one of the hub's own channels.
type Channel struct {
	// ChanID is the short channel id.
	ChanID uint64

	// ChannelPoint is the funding outpoint, txid:index.
	ChannelPoint string

	// Peer is the node at the other end.
	Peer route.Vertex

	// Active says whether lnd can use the channel now (the peer is
	// online and the channel is not closing).
	Active bool

	// Private is true for an unannounced channel.
	Private bool

	// Capacity is the channel's total capacity.
	Capacity btcutil.Amount

	// LocalBalance is what the hub can send over the channel, before the
	// channel reserve and fees.
	LocalBalance btcutil.Amount

	// RemoteBalance is what the peer can send to the hub.
	RemoteBalance btcutil.Amount
}

// Route summarises the route the hub's path finding chose.
type Route struct {
	// Hops is the number of hops, 1 for a direct channel.
	Hops int

	// FirstChanID is the short channel id of the first hop.
	FirstChanID uint64

	// Amount is the amount delivered to the destination.
	Amount lnwire.MilliSatoshi

	// Fee is the total routing fee.
	Fee lnwire.MilliSatoshi
}
