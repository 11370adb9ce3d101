package hubnode

import (
	"bytes"
	"context"
	"encoding/hex"
	"errors"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/btcsuite/btcd/btcutil"
	"github.com/btcsuite/btcd/chaincfg/chainhash"
	"github.com/btcsuite/btcd/wire"
	"github.com/lightninglabs/lndclient"
	"github.com/lightningnetwork/lnd/lnrpc"
	"github.com/lightningnetwork/lnd/lnwire"
	"github.com/lightningnetwork/lnd/routing/route"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// Keys of the fake network: the hub, its peer, another node.
var (
	hubKey   = vertex(2)
	peerKey  = vertex(3)
	otherKey = vertex(4)
)

// vertex is a node key of 33 bytes of b.
func vertex(b byte) route.Vertex {
	var v route.Vertex
	for i := range v {
		v[i] = b
	}
	return v
}

// outPoint is a channel point with a txid of bytes b.
func outPoint(b byte, idx uint32) wire.OutPoint {
	var h chainhash.Hash
	for i := range h {
		h[i] = b
	}
	return wire.OutPoint{Hash: h, Index: idx}
}

// chansClient fakes the lndclient client HubChannels uses.
type chansClient struct {
	lndclient.LightningClient
	raw *rawChans

	peers    []lndclient.Peer
	node     *lndclient.NodeInfo
	nodeErr  error
	connects []string
	// connectErrs answer the connects in order; nil after the last.
	connectErrs []error

	estimates []int32
	estimate  btcutil.Amount
	estErr    error
}

func (c *chansClient) RawClientWithMacAuth(ctx context.Context) (
	context.Context, time.Duration, lnrpc.LightningClient) {

	return ctx, time.Minute, c.raw
}

func (c *chansClient) ListPeers(context.Context) ([]lndclient.Peer, error) {
	return c.peers, nil
}

func (c *chansClient) GetNodeInfo(context.Context, route.Vertex, bool) (
	*lndclient.NodeInfo, error) {

	if c.nodeErr != nil {
		return nil, c.nodeErr
	}
	if c.node == nil {
		return nil, status.Error(codes.NotFound, "unable to find node")
	}
	return c.node, nil
}

func (c *chansClient) Connect(_ context.Context, _ route.Vertex,
	host string, _ bool) error {

	c.connects = append(c.connects, host)
	if len(c.connectErrs) == 0 {
		return nil
	}
	err := c.connectErrs[0]
	c.connectErrs = c.connectErrs[1:]
	return err
}

func (c *chansClient) GetInfo(context.Context) (*lndclient.Info, error) {
	return &lndclient.Info{IdentityPubkey: hubKey}, nil
}

func (c *chansClient) EstimateFeeToP2WSH(_ context.Context,
	_ btcutil.Amount, conf int32) (btcutil.Amount, error) {

	c.estimates = append(c.estimates, conf)
	return c.estimate, c.estErr
}

// rawChans is the raw lnrpc client: its lists answer from the fields,
// the pending list from pendings in turn when set (a channel moving).
// Any other call panics on the nil embedded interface.
type rawChans struct {
	lnrpc.LightningClient

	pendingResp  *lnrpc.PendingChannelsResponse
	pendings     []*lnrpc.PendingChannelsResponse
	pendingCalls int
	open         []*lnrpc.Channel
	closedChans  []*lnrpc.ChannelCloseSummary
	edges        map[string]*lnrpc.ChannelEdge

	openReqs []*lnrpc.OpenChannelRequest
	openErr  error

	closeReqs    []*lnrpc.CloseChannelRequest
	closeUpdates []*lnrpc.CloseStatusUpdate
	closeErr     error

	txs []*lnrpc.Transaction

	policyReqs []*lnrpc.PolicyUpdateRequest
	policyResp *lnrpc.PolicyUpdateResponse
	policyErr  error
}

func (r *rawChans) PendingChannels(context.Context,
	*lnrpc.PendingChannelsRequest, ...grpc.CallOption) (
	*lnrpc.PendingChannelsResponse, error) {

	r.pendingCalls++
	if len(r.pendings) > 0 {
		resp := r.pendings[0]
		r.pendings = r.pendings[1:]
		return resp, nil
	}
	if r.pendingResp == nil {
		return &lnrpc.PendingChannelsResponse{}, nil
	}
	return r.pendingResp, nil
}

func (r *rawChans) ListChannels(context.Context, *lnrpc.ListChannelsRequest,
	...grpc.CallOption) (*lnrpc.ListChannelsResponse, error) {

	return &lnrpc.ListChannelsResponse{Channels: r.open}, nil
}

func (r *rawChans) ClosedChannels(context.Context,
	*lnrpc.ClosedChannelsRequest, ...grpc.CallOption) (
	*lnrpc.ClosedChannelsResponse, error) {

	return &lnrpc.ClosedChannelsResponse{Channels: r.closedChans}, nil
}

func (r *rawChans) GetChanInfo(_ context.Context, req *lnrpc.ChanInfoRequest,
	_ ...grpc.CallOption) (*lnrpc.ChannelEdge, error) {

	for point, e := range r.edges {
		if req.ChanPoint == point || (req.ChanId != 0 &&
			req.ChanId == e.ChannelId) {

			return e, nil
		}
	}
	return nil, status.Error(codes.NotFound, "edge not found")
}

func (r *rawChans) OpenChannelSync(_ context.Context,
	req *lnrpc.OpenChannelRequest, _ ...grpc.CallOption) (
	*lnrpc.ChannelPoint, error) {

	r.openReqs = append(r.openReqs, req)
	if r.openErr != nil {
		return nil, r.openErr
	}
	return rpcChanPoint(outPoint(9, 1)), nil
}

func (r *rawChans) CloseChannel(_ context.Context,
	req *lnrpc.CloseChannelRequest, _ ...grpc.CallOption) (
	lnrpc.Lightning_CloseChannelClient, error) {

	r.closeReqs = append(r.closeReqs, req)
	if r.closeErr != nil {
		return nil, r.closeErr
	}
	return &closeStream{updates: r.closeUpdates}, nil
}

func (r *rawChans) GetTransactions(context.Context,
	*lnrpc.GetTransactionsRequest, ...grpc.CallOption) (
	*lnrpc.TransactionDetails, error) {

	return &lnrpc.TransactionDetails{Transactions: r.txs}, nil
}

func (r *rawChans) UpdateChannelPolicy(_ context.Context,
	req *lnrpc.PolicyUpdateRequest, _ ...grpc.CallOption) (
	*lnrpc.PolicyUpdateResponse, error) {

	r.policyReqs = append(r.policyReqs, req)
	if r.policyErr != nil {
		return nil, r.policyErr
	}
	if r.policyResp == nil {
		return &lnrpc.PolicyUpdateResponse{}, nil
	}
	return r.policyResp, nil
}

// closeStream sends updates, then EOF.
type closeStream struct {
	grpc.ClientStream
	updates []*lnrpc.CloseStatusUpdate
}

func (s *closeStream) Recv() (*lnrpc.CloseStatusUpdate, error) {
	if len(s.updates) == 0 {
		return nil, io.EOF
	}
	u := s.updates[0]
	s.updates = s.updates[1:]
	return u, nil
}

// pendingChan is lnd's pending channel at point with the memo.
func pendingChan(point wire.OutPoint,
	memo string) *lnrpc.PendingChannelsResponse_PendingChannel {

	return &lnrpc.PendingChannelsResponse_PendingChannel{
		RemoteNodePub: peerKey.String(),
		ChannelPoint:  point.String(),
		Capacity:      1_000_000,
		LocalBalance:  990_000,
		Memo:          memo,
	}
}

// openChan is lnd's open channel at point with the memo and short id.
func openChan(point wire.OutPoint, memo string, scid uint64) *lnrpc.Channel {
	return &lnrpc.Channel{
		Active:       true,
		RemotePubkey: peerKey.String(),
		ChannelPoint: point.String(),
		ChanId:       scid,
		Capacity:     2_000_000,
		LocalBalance: 1_500_000,
		Memo:         memo,
	}
}

// scidAt is a short channel id at block height.
func scidAt(height uint32) uint64 {
	return lnwire.ShortChannelID{BlockHeight: height, TxIndex: 1}.ToUint64()
}

// TestOpenRequest checks the request Open makes and the fields it
// refuses.
func TestOpenRequest(t *testing.T) {
	t.Parallel()
	baseFee := lnwire.MilliSatoshi(0)
	ppm := uint64(250)
	tooHigh := uint64(1) << 32

	got, err := openRequest(OpenRequest{
		Peer: peerKey, Amount: 500_000, Memo: "m", Private: true,
		TargetConf: 3, BaseFeeMsat: &baseFee, FeeRatePPM: &ppm,
	})
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got.NodePubkey, peerKey[:]) ||
		got.LocalFundingAmount != 500_000 || got.Memo != "m" ||
		!got.Private || got.TargetConf != 3 || got.BaseFee != 0 ||
		!got.UseBaseFee || got.FeeRate != 250 || !got.UseFeeRate {

		t.Errorf("request = %+v", got)
	}

	got, err = openRequest(OpenRequest{Peer: peerKey, Amount: 1})
	if err != nil || got.UseBaseFee || got.UseFeeRate {
		t.Errorf("request without policy = %+v, %v", got, err)
	}

	for _, tc := range []struct {
		name  string
		req   OpenRequest
		field string
	}{
		{"no peer", OpenRequest{Amount: 1}, "Peer"},
		{"zero amount", OpenRequest{Peer: peerKey}, "Amount"},
		{"negative target", OpenRequest{Peer: peerKey, Amount: 1,
			TargetConf: -1}, "TargetConf"},
		{"long memo", OpenRequest{Peer: peerKey, Amount: 1,
			Memo: strings.Repeat("x", 501)}, "Memo"},
		{"rate too high", OpenRequest{Peer: peerKey, Amount: 1,
			FeeRatePPM: &tooHigh}, "FeeRatePPM"},
	} {
		_, err := openRequest(tc.req)
		if !errors.Is(err, ErrChannelRequest) ||
			!strings.Contains(err.Error(), tc.field) {

			t.Errorf("%s: %v", tc.name, err)
		}
	}
}

// TestClassifyOpenErr maps lnd's refusals of an open to sentinels.
func TestClassifyOpenErr(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		msg  string
		want error
	}{
		{"not enough witness outputs to create funding transaction, " +
			"need 1 BTC only have 0.5 BTC available",
			ErrInsufficientFunds},
		{"insufficient funds available to construct transaction",
			ErrInsufficientFunds},
		{"channel is too small, the minimum channel size is: 20000 SAT",
			ErrChannelSize},
		{"funding amount is too large, the max channel size is: " +
			"0.16777215 BTC", ErrChannelSize},
		{"peer 03ab is not online", ErrPeerUnreachable},
		{"received funding error from 03ab: chan_id=00, err=Number " +
			"of pending channels exceed maximum", ErrOpenRefused},
		{"wallet not synced", nil},
	} {
		lndErr := status.Error(codes.Unknown, tc.msg)
		got := classifyOpenErr(lndErr)
		if !errors.Is(got, lndErr) {
			t.Errorf("%q: lost lnd's error: %v", tc.msg, got)
		}
		if tc.want != nil && !errors.Is(got, tc.want) {
			t.Errorf("%q: %v, want %v", tc.msg, got, tc.want)
		}
	}
}

// TestOpen connects when needed, opens, and refuses an unknown peer or a
// memo in use.
func TestOpen(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	req := OpenRequest{Peer: peerKey, Amount: 1_000_000, Memo: "lease-1"}

	t.Run("connected", func(t *testing.T) {
		raw := &rawChans{}
		c := &chansClient{raw: raw,
			peers: []lndclient.Peer{{Pubkey: peerKey}}}
		point, err := NewHubChannels(c).Open(ctx, req)
		if err != nil || point != outPoint(9, 1) {
			t.Fatalf("open: %v, %v", point, err)
		}
		if len(c.connects) != 0 || len(raw.openReqs) != 1 ||
			raw.openReqs[0].Memo != "lease-1" {

			t.Errorf("connects %v, opens %v", c.connects,
				raw.openReqs)
		}
	})

	t.Run("connects at the second address", func(t *testing.T) {
		raw := &rawChans{}
		c := &chansClient{raw: raw,
			peers: []lndclient.Peer{{Pubkey: otherKey}},
			node: &lndclient.NodeInfo{Node: &lndclient.Node{
				Addresses: []string{"a:1", "b:2", "c:3"},
			}},
			connectErrs: []error{
				errors.New("dial a:1: refused"),
				status.Error(codes.Unknown,
					"already connected to peer"),
			},
		}
		if _, err := NewHubChannels(c).Open(ctx, req); err != nil {
			t.Fatal(err)
		}
		if strings.Join(c.connects, ",") != "a:1,b:2" {
			t.Errorf("connects = %v", c.connects)
		}
	})

	t.Run("unreachable", func(t *testing.T) {
		raw := &rawChans{}
		c := &chansClient{raw: raw,
			node: &lndclient.NodeInfo{Node: &lndclient.Node{
				Addresses: []string{"a:1"},
			}},
			connectErrs: []error{errors.New("refused")},
		}
		_, err := NewHubChannels(c).Open(ctx, req)
		if !errors.Is(err, ErrPeerUnreachable) ||
			len(raw.openReqs) != 0 {

			t.Fatalf("open: %v", err)
		}
		c.node = &lndclient.NodeInfo{Node: &lndclient.Node{}}
		_, err = NewHubChannels(c).Open(ctx, req)
		if !errors.Is(err, ErrPeerUnreachable) {
			t.Fatalf("open to a node without address: %v", err)
		}
	})

	t.Run("unknown peer", func(t *testing.T) {
		raw := &rawChans{}
		c := &chansClient{raw: raw}
		_, err := NewHubChannels(c).Open(ctx, req)
		if !errors.Is(err, ErrUnknownPeer) || len(raw.openReqs) != 0 {
			t.Fatalf("open: %v", err)
		}
	})

	t.Run("memo in use", func(t *testing.T) {
		raw := &rawChans{open: []*lnrpc.Channel{
			openChan(outPoint(7, 0), "lease-1", scidAt(100)),
		}}
		c := &chansClient{raw: raw,
			peers: []lndclient.Peer{{Pubkey: peerKey}}}
		point, err := NewHubChannels(c).Open(ctx, req)
		if !errors.Is(err, ErrMemoInUse) || point != outPoint(7, 0) ||
			len(raw.openReqs) != 0 {

			t.Fatalf("open: %v, %v", point, err)
		}
	})

	t.Run("insufficient funds", func(t *testing.T) {
		raw := &rawChans{openErr: status.Error(codes.Unknown,
			"not enough witness outputs to create funding "+
				"transaction, need 0.01 BTC only have 0 BTC "+
				"available")}
		c := &chansClient{raw: raw,
			peers: []lndclient.Peer{{Pubkey: peerKey}}}
		_, err := NewHubChannels(c).Open(ctx, req)
		if !errors.Is(err, ErrInsufficientFunds) {
			t.Fatalf("open: %v", err)
		}
	})
}

// testLists has one channel in each of lnd's lists.
func testLists() *rawChans {
	closeTxid := outPoint(0xcc, 0).Hash
	return &rawChans{
		pendingResp: &lnrpc.PendingChannelsResponse{
			PendingOpenChannels: []*lnrpc.PendingChannelsResponse_PendingOpenChannel{{
				Channel:            pendingChan(outPoint(1, 0), "pending"),
				ConfirmationHeight: 120,
			}},
			WaitingCloseChannels: []*lnrpc.PendingChannelsResponse_WaitingCloseChannel{{
				Channel:     pendingChan(outPoint(3, 0), "closing"),
				ClosingTxid: closeTxid.String(),
				CloseHeight: 150,
			}},
			PendingForceClosingChannels: []*lnrpc.PendingChannelsResponse_ForceClosedChannel{{
				Channel:     pendingChan(outPoint(4, 1), "forced"),
				ClosingTxid: closeTxid.String(),
			}},
		},
		open: []*lnrpc.Channel{
			openChan(outPoint(2, 0), "open", scidAt(110)),
		},
		closedChans: []*lnrpc.ChannelCloseSummary{{
			ChannelPoint:   outPoint(5, 0).String(),
			RemotePubkey:   peerKey.String(),
			ChanId:         scidAt(90),
			ClosingTxHash:  closeTxid.String(),
			Capacity:       3_000_000,
			SettledBalance: 2_999_000,
			CloseHeight:    140,
		}, {
			ChannelPoint: outPoint(6, 0).String(),
			RemotePubkey: peerKey.String(),
			Capacity:     1_000_000,
			// A funding lnd gave up on: no closing transaction.
			ClosingTxHash: chainhash.Hash{}.String(),
		}},
		edges: map[string]*lnrpc.ChannelEdge{
			outPoint(3, 0).String(): {ChannelId: scidAt(100)},
		},
	}
}

// TestByPoint maps every list of lnd's to a ChannelState.
func TestByPoint(t *testing.T) {
	t.Parallel()
	closeTxid := outPoint(0xcc, 0).Hash
	h := NewHubChannels(&chansClient{raw: testLists()})
	for _, want := range []ChannelState{{
		Point: outPoint(1, 0), Peer: peerKey,
		Status: StatusPendingOpen, Capacity: 1_000_000,
		LocalBalance: 990_000, Memo: "pending", OpenHeight: 120,
	}, {
		Point: outPoint(2, 0), Peer: peerKey, Status: StatusOpen,
		Capacity: 2_000_000, LocalBalance: 1_500_000,
		ShortChanID: scidAt(110), Memo: "open", Active: true,
		OpenHeight: 110,
	}, {
		Point: outPoint(3, 0), Peer: peerKey, Status: StatusClosing,
		Capacity: 1_000_000, LocalBalance: 990_000,
		ShortChanID: scidAt(100), Memo: "closing",
		CloseTxid: &closeTxid, OpenHeight: 100, CloseHeight: 150,
	}, {
		Point: outPoint(4, 1), Peer: peerKey, Status: StatusClosing,
		Capacity: 1_000_000, LocalBalance: 990_000, Memo: "forced",
		CloseTxid: &closeTxid,
	}, {
		Point: outPoint(5, 0), Peer: peerKey, Status: StatusClosed,
		Capacity: 3_000_000, LocalBalance: 2_999_000,
		ShortChanID: scidAt(90), CloseTxid: &closeTxid,
		OpenHeight: 90, CloseHeight: 140,
	}, {
		Point: outPoint(6, 0), Peer: peerKey, Status: StatusClosed,
		Capacity: 1_000_000,
	}, {
		Point: outPoint(8, 0), Status: StatusUnknown,
	}} {
		got, err := h.ByPoint(context.Background(), want.Point)
		if err != nil {
			t.Fatal(err)
		}
		if !sameState(got, want) {
			t.Errorf("ByPoint(%v) =\n %+v, want\n %+v", want.Point,
				got, want)
		}
	}
}

// sameState compares states, CloseTxid by value.
func sameState(a, b ChannelState) bool {
	if (a.CloseTxid == nil) != (b.CloseTxid == nil) ||
		(a.CloseTxid != nil && *a.CloseTxid != *b.CloseTxid) {

		return false
	}
	a.CloseTxid, b.CloseTxid = nil, nil
	return a == b
}

// TestByPointMoving finds a channel that moved from open to closing
// between lnd's lists were read: it is in neither of the first two reads.
func TestByPointMoving(t *testing.T) {
	t.Parallel()
	point := outPoint(2, 0)
	moving := func() []*lnrpc.PendingChannelsResponse {
		return []*lnrpc.PendingChannelsResponse{
			{}, // Read while it was open.
			{WaitingCloseChannels: []*lnrpc.PendingChannelsResponse_WaitingCloseChannel{{
				Channel:     pendingChan(point, "m"),
				ClosingTxid: outPoint(0xcc, 0).Hash.String(),
			}}},
		}
	}
	raw := &rawChans{pendings: moving()}
	h := NewHubChannels(&chansClient{raw: raw})
	got, err := h.ByPoint(context.Background(), point)
	if err != nil || got.Status != StatusClosing || raw.pendingCalls != 2 {
		t.Fatalf("ByPoint = %+v, %v after %d pending reads", got, err,
			raw.pendingCalls)
	}
	raw.pendings = moving()
	got, found, err := h.ByMemo(context.Background(), "m")
	if err != nil || !found || got.Point != point {
		t.Fatalf("ByMemo = %+v, %v, %v", got, found, err)
	}
}

// TestByMemo finds pending, open and closing channels by memo, not closed
// ones, and refuses an empty or ambiguous memo.
func TestByMemo(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	raw := testLists()
	h := NewHubChannels(&chansClient{raw: raw})
	for memo, want := range map[string]wire.OutPoint{
		"pending": outPoint(1, 0),
		"open":    outPoint(2, 0),
		"closing": outPoint(3, 0),
		"forced":  outPoint(4, 1),
	} {
		got, found, err := h.ByMemo(ctx, memo)
		if err != nil || !found || got.Point != want ||
			got.Memo != memo {

			t.Errorf("ByMemo(%q) = %+v, %v, %v", memo, got, found,
				err)
		}
	}
	if got, found, err := h.ByMemo(ctx, "none"); err != nil || found {
		t.Errorf("ByMemo(none) = %+v, %v, %v", got, found, err)
	}
	if _, _, err := h.ByMemo(ctx, ""); !errors.Is(err, ErrChannelRequest) {
		t.Errorf("ByMemo(\"\") = %v", err)
	}

	raw.open = append(raw.open, openChan(outPoint(7, 0), "open", 0))
	if _, _, err := h.ByMemo(ctx, "open"); !errors.Is(err,
		ErrAmbiguousMemo) {

		t.Errorf("ByMemo of two channels = %v", err)
	}
}

// TestClose closes, returns the txid of a close under way, and refuses
// what lnd would.
func TestClose(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	closeTxid := outPoint(0xcc, 0).Hash
	newTxid := outPoint(0xdd, 0).Hash

	t.Run("cooperative", func(t *testing.T) {
		raw := testLists()
		raw.closeUpdates = []*lnrpc.CloseStatusUpdate{{
			Update: &lnrpc.CloseStatusUpdate_CloseInstant{
				CloseInstant: &lnrpc.InstantUpdate{},
			},
		}, {
			Update: &lnrpc.CloseStatusUpdate_ClosePending{
				ClosePending: &lnrpc.PendingUpdate{
					Txid: newTxid[:],
				},
			},
		}}
		h := NewHubChannels(&chansClient{raw: raw})
		got, err := h.Close(ctx, outPoint(2, 0),
			CloseRequest{TargetConf: 12})
		if err != nil || got != newTxid {
			t.Fatalf("close = %v, %v", got, err)
		}
		r := raw.closeReqs[0]
		want := outPoint(2, 0)
		if r.Force || r.TargetConf != 12 ||
			r.ChannelPoint.OutputIndex != 0 || !bytes.Equal(
			r.ChannelPoint.GetFundingTxidBytes(),
			want.Hash[:]) {

			t.Errorf("request = %+v", r)
		}
	})

	t.Run("already closing or closed", func(t *testing.T) {
		raw := testLists()
		h := NewHubChannels(&chansClient{raw: raw})
		for _, p := range []wire.OutPoint{
			outPoint(3, 0), outPoint(4, 1), outPoint(5, 0),
		} {
			got, err := h.Close(ctx, p, CloseRequest{Force: true})
			if err != nil || got != closeTxid {
				t.Errorf("close %v = %v, %v", p, got, err)
			}
		}
		if len(raw.closeReqs) != 0 {
			t.Errorf("lnd asked to close %d times", len(raw.closeReqs))
		}
	})

	t.Run("refused", func(t *testing.T) {
		raw := testLists()
		raw.closeErr = status.Error(codes.Unknown, "unable to "+
			"gracefully close channel while peer is offline (try "+
			"force closing it instead): link not found")
		h := NewHubChannels(&chansClient{raw: raw})
		for _, tc := range []struct {
			point wire.OutPoint
			req   CloseRequest
			want  error
		}{
			{outPoint(2, 0), CloseRequest{}, ErrPeerUnreachable},
			{outPoint(8, 0), CloseRequest{}, ErrChannelNotFound},
			{outPoint(1, 0), CloseRequest{}, ErrChannelPending},
			{outPoint(2, 0), CloseRequest{Force: true,
				TargetConf: 2}, ErrChannelRequest},
			{outPoint(2, 0), CloseRequest{TargetConf: -1},
				ErrChannelRequest},
		} {
			_, err := h.Close(ctx, tc.point, tc.req)
			if !errors.Is(err, tc.want) {
				t.Errorf("close %v %+v = %v, want %v", tc.point,
					tc.req, err, tc.want)
			}
		}
		_, err := h.Close(ctx, outPoint(6, 0), CloseRequest{})
		if err == nil {
			t.Errorf("close of a channel closed without a " +
				"transaction succeeded")
		}
	})

	t.Run("stream ends early", func(t *testing.T) {
		raw := testLists()
		h := NewHubChannels(&chansClient{raw: raw})
		if _, err := h.Close(ctx, outPoint(2, 0),
			CloseRequest{}); err == nil {

			t.Fatal("close without a closing txid succeeded")
		}
	})
}

// rawTx is tx in lnd's hex.
func rawTx(t *testing.T, tx *wire.MsgTx) string {
	t.Helper()
	var buf bytes.Buffer
	if err := tx.Serialize(&buf); err != nil {
		t.Fatal(err)
	}
	return hex.EncodeToString(buf.Bytes())
}

// TestTxFee reads a wallet transaction's fee: lnd's when it has one,
// computed from the spent outputs otherwise.
func TestTxFee(t *testing.T) {
	t.Parallel()
	ctx := context.Background()

	// coin pays the wallet; fund spends it into a channel; closeTx
	// spends the channel; stray spends an output the wallet never saw.
	coin := wire.NewMsgTx(2)
	coin.AddTxIn(&wire.TxIn{})
	coin.AddTxOut(wire.NewTxOut(5_000_000, []byte{0x51}))
	coin.AddTxOut(wire.NewTxOut(7_000, []byte{0x51}))

	fund := wire.NewMsgTx(2)
	fund.AddTxIn(wire.NewTxIn(&wire.OutPoint{Hash: coin.TxHash()}, nil,
		nil))
	fund.AddTxIn(wire.NewTxIn(&wire.OutPoint{Hash: coin.TxHash(),
		Index: 1}, nil, nil))
	fund.AddTxOut(wire.NewTxOut(3_995_000, []byte{0x51}))
	fund.AddTxOut(wire.NewTxOut(1_000_000, []byte{0x00, 0x20}))

	closeTx := wire.NewMsgTx(2)
	closeTx.AddTxIn(wire.NewTxIn(&wire.OutPoint{Hash: fund.TxHash(),
		Index: 1}, nil, nil))
	closeTx.AddTxOut(wire.NewTxOut(998_500, []byte{0x51}))

	stray := wire.NewMsgTx(2)
	stray.AddTxIn(wire.NewTxIn(&wire.OutPoint{Hash: outPoint(7, 0).Hash},
		nil, nil))
	stray.AddTxOut(wire.NewTxOut(1_000, []byte{0x51}))

	raw := &rawChans{txs: []*lnrpc.Transaction{{
		TxHash: coin.TxHash().String(), RawTxHex: rawTx(t, coin),
		BlockHeight: 100, NumConfirmations: 50,
	}, {
		TxHash: fund.TxHash().String(), RawTxHex: rawTx(t, fund),
		TotalFees: 12_000, Label: "0:openchannel:shortchanid-1",
		BlockHeight: 140, NumConfirmations: 10,
	}, {
		TxHash: closeTx.TxHash().String(), RawTxHex: rawTx(t, closeTx),
		Label: "0:closechannel",
	}, {
		TxHash: stray.TxHash().String(), RawTxHex: rawTx(t, stray),
	}}}
	h := NewHubChannels(&chansClient{raw: raw})

	for _, tc := range []struct {
		txid chainhash.Hash
		want TxInfo
	}{
		{fund.TxHash(), TxInfo{Fee: 12_000, FeeKnown: true,
			Label: "0:openchannel:shortchanid-1", Height: 140,
			Confirmations: 10}},
		{closeTx.TxHash(), TxInfo{Fee: 1_500, FeeKnown: true,
			Label: "0:closechannel"}},
		{stray.TxHash(), TxInfo{}},
		{coin.TxHash(), TxInfo{Height: 100, Confirmations: 50}},
	} {
		got, err := h.TxFee(ctx, tc.txid)
		if err != nil || got != tc.want {
			t.Errorf("TxFee(%v) = %+v, %v, want %+v", tc.txid, got,
				err, tc.want)
		}
	}
	if _, err := h.TxFee(ctx, outPoint(8, 0).Hash); !errors.Is(err,
		ErrTxNotFound) {

		t.Errorf("TxFee of an unknown tx = %v", err)
	}
}

// TestEstimateOpenFee asks for an open's target by default and refuses
// bad arguments.
func TestEstimateOpenFee(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	c := &chansClient{raw: &rawChans{}, estimate: 1_234}
	h := NewHubChannels(c)
	for _, conf := range []int32{0, 2} {
		fee, err := h.EstimateOpenFee(ctx, 1_000_000, conf)
		if err != nil || fee != 1_234 {
			t.Errorf("estimate(%d) = %v, %v", conf, fee, err)
		}
	}
	if len(c.estimates) != 2 || c.estimates[0] != DefaultOpenTargetConf ||
		c.estimates[1] != 2 {

		t.Errorf("targets asked = %v", c.estimates)
	}
	for _, tc := range []struct {
		amt  btcutil.Amount
		conf int32
	}{{0, 1}, {-1, 1}, {1, -1}} {
		_, err := h.EstimateOpenFee(ctx, tc.amt, tc.conf)
		if !errors.Is(err, ErrChannelRequest) {
			t.Errorf("estimate(%v, %d) = %v", tc.amt, tc.conf, err)
		}
	}
	c.estErr = status.Error(codes.Unknown,
		"insufficient funds available to construct transaction")
	if _, err := h.EstimateOpenFee(ctx, 1, 1); !errors.Is(err,
		ErrInsufficientFunds) {

		t.Errorf("estimate without coins = %v", err)
	}
}

// policyEdge is a channel edge between a and b with a's policy p1 and b's
// p2.
func policyEdge(scid uint64, a, b route.Vertex, p1,
	p2 *lnrpc.RoutingPolicy) *lnrpc.ChannelEdge {

	return &lnrpc.ChannelEdge{
		ChannelId:   scid,
		Node1Pub:    a.String(),
		Node2Pub:    b.String(),
		Node1Policy: p1,
		Node2Policy: p2,
	}
}

// TestPolicy reads the hub's side of an edge, whichever node it is.
func TestPolicy(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	peerPol := &lnrpc.RoutingPolicy{FeeBaseMsat: 1, FeeRateMilliMsat: 1,
		TimeLockDelta: 40}
	hubPol := &lnrpc.RoutingPolicy{FeeBaseMsat: 1_000,
		FeeRateMilliMsat: 300, TimeLockDelta: 80}
	raw := &rawChans{edges: map[string]*lnrpc.ChannelEdge{
		"a": policyEdge(1, peerKey, hubKey, peerPol, hubPol),
		"b": policyEdge(2, hubKey, peerKey, hubPol, peerPol),
		"c": policyEdge(3, peerKey, otherKey, peerPol, hubPol),
		"d": policyEdge(4, hubKey, peerKey, nil, peerPol),
	}}
	h := NewHubChannels(&chansClient{raw: raw})
	want := Policy{BaseFeeMsat: 1_000, FeeRatePPM: 300, TimeLockDelta: 80}
	for _, scid := range []uint64{1, 2} {
		got, err := h.Policy(ctx, scid)
		if err != nil || got != want {
			t.Errorf("Policy(%d) = %+v, %v", scid, got, err)
		}
	}
	for _, scid := range []uint64{3, 5} {
		if _, err := h.Policy(ctx, scid); !errors.Is(err,
			ErrChannelNotFound) {

			t.Errorf("Policy(%d) = %v", scid, err)
		}
	}
	if _, err := h.Policy(ctx, 4); err == nil {
		t.Errorf("Policy of an edge without the hub's policy")
	}
}

// TestSetPolicy sends the policy, keeps the time lock delta when asked,
// and turns failed updates into errors.
func TestSetPolicy(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	point := outPoint(2, 0)
	hubPol := &lnrpc.RoutingPolicy{FeeBaseMsat: 1_000,
		FeeRateMilliMsat: 300, TimeLockDelta: 80}
	raw := &rawChans{edges: map[string]*lnrpc.ChannelEdge{
		point.String(): policyEdge(1, hubKey, peerKey, hubPol, nil),
	}}
	h := NewHubChannels(&chansClient{raw: raw})

	err := h.SetPolicy(ctx, point, Policy{BaseFeeMsat: 0, FeeRatePPM: 10})
	if err != nil {
		t.Fatal(err)
	}
	err = h.SetPolicy(ctx, point, Policy{BaseFeeMsat: 5, FeeRatePPM: 1,
		TimeLockDelta: 144})
	if err != nil {
		t.Fatal(err)
	}
	for i, want := range []struct {
		base  int64
		ppm   uint32
		delta uint32
	}{{0, 10, 80}, {5, 1, 144}} {
		r := raw.policyReqs[i]
		if r.BaseFeeMsat != want.base || r.FeeRatePpm != want.ppm ||
			r.TimeLockDelta != want.delta || r.FeeRate != 0 ||
			r.GetChanPoint().GetOutputIndex() != 0 || !bytes.Equal(
			r.GetChanPoint().GetFundingTxidBytes(), point.Hash[:]) {

			t.Errorf("request %d = %+v", i, r)
		}
	}

	for _, tc := range []struct {
		reason lnrpc.UpdateFailure
		want   error
	}{
		{lnrpc.UpdateFailure_UPDATE_FAILURE_PENDING, ErrChannelPending},
		{lnrpc.UpdateFailure_UPDATE_FAILURE_NOT_FOUND,
			ErrChannelNotFound},
		{lnrpc.UpdateFailure_UPDATE_FAILURE_INVALID_PARAMETER,
			ErrPolicyRefused},
	} {
		raw.policyResp = &lnrpc.PolicyUpdateResponse{
			FailedUpdates: []*lnrpc.FailedUpdate{{
				Outpoint: &lnrpc.OutPoint{
					TxidStr: point.Hash.String(),
				},
				Reason:      tc.reason,
				UpdateError: "no",
			}},
		}
		err := h.SetPolicy(ctx, point, Policy{TimeLockDelta: 40})
		if !errors.Is(err, tc.want) {
			t.Errorf("%v: %v, want %v", tc.reason, err, tc.want)
		}
	}
	raw.policyResp = nil

	raw.policyErr = status.Error(codes.Unknown, "time lock delta of 3 "+
		"is too small, minimum supported is 18")
	if err := h.SetPolicy(ctx, point, Policy{TimeLockDelta: 3}); !errors.Is(
		err, ErrPolicyRefused) {

		t.Errorf("refused delta: %v", err)
	}
	if err := h.SetPolicy(ctx, point, Policy{FeeRatePPM: 1 << 32,
		TimeLockDelta: 40}); !errors.Is(err, ErrChannelRequest) {

		t.Errorf("rate too high: %v", err)
	}
	if err := h.SetPolicy(ctx, outPoint(8, 0), Policy{}); !errors.Is(err,
		ErrChannelNotFound) {

		t.Errorf("unknown channel, current delta: %v", err)
	}
}
