package hubnode

import (
	"context"
	"errors"
	"testing"

	"github.com/lightninglabs/lndclient"
	"github.com/lightningnetwork/lnd/lnrpc"
	"github.com/lightningnetwork/lnd/lnwire"
	"github.com/lightningnetwork/lnd/routing/route"
	"github.com/sluice-ln/sluice/lightning"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// graphClient fakes the three lndclient calls Graph makes; any other call
// panics on the nil embedded interface.
type graphClient struct {
	lndclient.LightningClient

	node     *lndclient.NodeInfo
	nodeErr  error
	chans    []lndclient.ChannelInfo
	chansErr error
	routes   *lndclient.QueryRoutesResponse
	routeErr error

	// gotRoute is the last QueryRoutes request.
	gotRoute lndclient.QueryRoutesRequest
}

func (g *graphClient) GetNodeInfo(_ context.Context, _ route.Vertex,
	_ bool) (*lndclient.NodeInfo, error) {

	return g.node, g.nodeErr
}

func (g *graphClient) ListChannels(_ context.Context, _, _ bool,
	opts ...lndclient.ListChannelsOption) ([]lndclient.ChannelInfo, error) {

	var req lnrpc.ListChannelsRequest
	for _, o := range opts {
		o(&req)
	}
	if len(req.Peer) != 33 {
		return nil, errors.New("no peer filter")
	}
	return g.chans, g.chansErr
}

func (g *graphClient) QueryRoutes(_ context.Context,
	req lndclient.QueryRoutesRequest) (*lndclient.QueryRoutesResponse,
	error) {

	g.gotRoute = req
	return g.routes, g.routeErr
}

// TestGraphNodeInfo maps lnd's NotFound to ErrNodeNotFound and keeps other
// errors as they are.
func TestGraphNodeInfo(t *testing.T) {
	t.Parallel()
	node := route.Vertex{2, 1}

	g := NewGraph(&graphClient{node: &lndclient.NodeInfo{
		Node:         &lndclient.Node{Alias: "alice"},
		ChannelCount: 2, TotalCapacity: 300,
	}})
	info, err := g.NodeInfo(context.Background(), node)
	if err != nil || info.Alias != "alice" || info.Channels != 2 ||
		info.Capacity != 300 {

		t.Errorf("lightning.NodeInfo = %+v, %v", info, err)
	}

	g = NewGraph(&graphClient{nodeErr: status.Error(codes.NotFound,
		"unable to find node")})
	if _, err := g.NodeInfo(context.Background(), node); !errors.Is(err,
		lightning.ErrNodeNotFound) {

		t.Errorf("unknown node: %v, want lightning.ErrNodeNotFound", err)
	}
	g = NewGraph(&graphClient{nodeErr: status.Error(codes.Unavailable,
		"down")})
	_, err = g.NodeInfo(context.Background(), node)
	if err == nil || errors.Is(err, lightning.ErrNodeNotFound) {
		t.Errorf("lnd down: %v, want a plain error", err)
	}
}

// TestGraphChannelsWith keeps only the peer's channels and converts them.
func TestGraphChannelsWith(t *testing.T) {
	t.Parallel()
	peer, other := route.Vertex{2, 1}, route.Vertex{3, 9}

	g := NewGraph(&graphClient{chans: []lndclient.ChannelInfo{
		{ChannelID: 1, PubKeyBytes: peer, Active: true,
			LocalBalance: 10, RemoteBalance: 5, Capacity: 20},
		{ChannelID: 2, PubKeyBytes: other, Active: true},
	}})
	chans, err := g.ChannelsWith(context.Background(), peer)
	if err != nil || len(chans) != 1 || chans[0].ChanID != 1 ||
		!chans[0].Active || chans[0].LocalBalance != 10 ||
		chans[0].Peer != peer {

		t.Errorf("ChannelsWith = %+v, %v", chans, err)
	}
}

// TestGraphQueryRoute converts a route and maps lnd's ways of saying
// "no route" to ErrNoRoute, and nothing else.
func TestGraphQueryRoute(t *testing.T) {
	t.Parallel()
	dest := route.Vertex{2, 7}

	fake := &graphClient{routes: &lndclient.QueryRoutesResponse{
		Hops:          []*lndclient.Hop{{ChannelID: 42}, {ChannelID: 43}},
		TotalFeesMsat: 1_001,
		TotalAmtMsat:  1_001_001,
	}}
	r, err := NewGraph(fake).QueryRoute(context.Background(), dest,
		1_000_000, 50_000)
	if err != nil || r.Hops != 2 || r.FirstChanID != 42 ||
		r.Fee != 1_001 || r.Amount != 1_000_000 {

		t.Errorf("QueryRoute = %+v, %v", r, err)
	}
	if fake.gotRoute.PubKey != dest || fake.gotRoute.AmtMsat != 1_000_000 ||
		fake.gotRoute.FeeLimitMsat != 50_000 {

		t.Errorf("request %+v", fake.gotRoute)
	}

	tests := []struct {
		name    string
		err     error
		noRoute bool
	}{
		{"lndclient's", lndclient.ErrNoRouteFound, true},
		{"path finding", status.Error(codes.Unknown,
			"unable to find a path to destination"), true},
		{"balance", status.Error(codes.Unknown,
			"insufficient local balance"), true},
		{"lnd down", status.Error(codes.Unavailable, "connection "+
			"refused"), false},
	}
	for _, tc := range tests {
		g := NewGraph(&graphClient{routeErr: tc.err})
		_, err := g.QueryRoute(context.Background(), dest,
			lnwire.MilliSatoshi(1), 1)
		if err == nil || errors.Is(err, lightning.ErrNoRoute) != tc.noRoute {
			t.Errorf("%s: %v, no route %v", tc.name, err,
				tc.noRoute)
		}
	}
}
