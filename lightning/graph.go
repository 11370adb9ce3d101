package lightning

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/btcsuite/btcd/btcutil"
	"github.com/lightninglabs/lndclient"
	"github.com/lightningnetwork/lnd/lnwire"
	"github.com/lightningnetwork/lnd/routing/route"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
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

// Graph answers questions about the hub's view of the network: nodes in its
// channel graph, its own channels, and routes. Every call goes to lnd; none
// is cached.
type Graph struct {
	client lndclient.LightningClient
}

// NewGraph returns a Graph over the hub's lnd.
func NewGraph(client lndclient.LightningClient) *Graph {
	return &Graph{client: client}
}

// NodeInfo returns what the hub's graph knows about node, or an error
// wrapping ErrNodeNotFound when the graph has no such node.
func (g *Graph) NodeInfo(ctx context.Context, node route.Vertex) (NodeInfo,
	error) {

	info, err := g.client.GetNodeInfo(ctx, node, false)
	switch {
	case status.Code(err) == codes.NotFound:
		return NodeInfo{}, fmt.Errorf("node %v: %w", node,
			ErrNodeNotFound)

	case err != nil:
		return NodeInfo{}, fmt.Errorf("node info %v: %w", node, err)
	}

	out := NodeInfo{
		Channels: info.ChannelCount,
		Capacity: info.TotalCapacity,
	}
	if info.Node != nil {
		out.Alias = info.Node.Alias
	}
	return out, nil
}

// ChannelsWith returns the hub's open channels with peer, active or not;
// none when the hub has no channel with it.
func (g *Graph) ChannelsWith(ctx context.Context, peer route.Vertex) (
	[]Channel, error) {

	chans, err := g.client.ListChannels(
		ctx, false, false, lndclient.WithPeer(peer[:]),
	)
	if err != nil {
		return nil, fmt.Errorf("list channels with %v: %w", peer, err)
	}

	out := make([]Channel, 0, len(chans))
	for _, c := range chans {
		// Older lnds ignore the peer filter; filter again.
		if c.PubKeyBytes != peer {
			continue
		}
		out = append(out, Channel{
			ChanID:        c.ChannelID,
			ChannelPoint:  c.ChannelPoint,
			Peer:          c.PubKeyBytes,
			Active:        c.Active,
			Private:       c.Private,
			Capacity:      c.Capacity,
			LocalBalance:  c.LocalBalance,
			RemoteBalance: c.RemoteBalance,
		})
	}
	return out, nil
}

// QueryRoute asks the hub's path finding for a route that delivers amt to
// dest for at most feeLimit in fees. It returns an error wrapping ErrNoRoute
// when there is none; other errors are lnd's.
func (g *Graph) QueryRoute(ctx context.Context, dest route.Vertex,
	amt, feeLimit lnwire.MilliSatoshi) (Route, error) {

	resp, err := g.client.QueryRoutes(ctx, lndclient.QueryRoutesRequest{
		PubKey:            dest,
		AmtMsat:           amt,
		FeeLimitMsat:      feeLimit,
		UseMissionControl: true,
	})
	switch {
	case errors.Is(err, lndclient.ErrNoRouteFound) || isNoPath(err):
		return Route{}, fmt.Errorf("route to %v for %v: %w: %w", dest,
			amt, ErrNoRoute, err)

	case err != nil:
		return Route{}, fmt.Errorf("query route to %v: %w", dest, err)
	}

	r := Route{
		Hops:   len(resp.Hops),
		Amount: resp.TotalAmtMsat - resp.TotalFeesMsat,
		Fee:    resp.TotalFeesMsat,
	}
	if len(resp.Hops) > 0 {
		r.FirstChanID = resp.Hops[0].ChannelID
	}
	return r, nil
}

// isNoPath reports whether err is lnd's answer when path finding fails:
// lnd sends it as an unclassified gRPC error, so only its text tells.
func isNoPath(err error) bool {
	if err == nil {
		return false
	}
	msg := status.Convert(err).Message()
	return strings.Contains(msg, "unable to find a path") ||
		strings.Contains(msg, "no route") ||
		strings.Contains(msg, "insufficient local balance")
}
