package hubnode

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/lightninglabs/lndclient"
	"github.com/lightningnetwork/lnd/lnwire"
	"github.com/lightningnetwork/lnd/routing/route"
	"github.com/sluice-ln/sluice/lightning"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

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
func (g *Graph) NodeInfo(ctx context.Context, node route.Vertex) (lightning.NodeInfo,
	error) {

	info, err := g.client.GetNodeInfo(ctx, node, false)
	switch {
	case status.Code(err) == codes.NotFound:
		return lightning.NodeInfo{}, fmt.Errorf("node %v: %w", node,
			lightning.ErrNodeNotFound)

	case err != nil:
		return lightning.NodeInfo{}, fmt.Errorf("node info %v: %w", node, err)
	}

	out := lightning.NodeInfo{
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
	[]lightning.Channel, error) {

	chans, err := g.client.ListChannels(
		ctx, false, false, lndclient.WithPeer(peer[:]),
	)
	if err != nil {
		return nil, fmt.Errorf("list channels with %v: %w", peer, err)
	}

	out := make([]lightning.Channel, 0, len(chans))
	for _, c := range chans {
		// Older lnds ignore the peer filter; filter again.
		if c.PubKeyBytes != peer {
			continue
		}
		out = append(out, lightning.Channel{
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
	amt, feeLimit lnwire.MilliSatoshi) (lightning.Route, error) {

	resp, err := g.client.QueryRoutes(ctx, lndclient.QueryRoutesRequest{
		PubKey:            dest,
		AmtMsat:           amt,
		FeeLimitMsat:      feeLimit,
		UseMissionControl: true,
	})
	switch {
	case errors.Is(err, lndclient.ErrNoRouteFound) || isNoPath(err):
		return lightning.Route{}, fmt.Errorf("route to %v for %v: %w: %w", dest,
			amt, lightning.ErrNoRoute, err)

	case err != nil:
		return lightning.Route{}, fmt.Errorf("query route to %v: %w", dest, err)
	}

	r := lightning.Route{
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
