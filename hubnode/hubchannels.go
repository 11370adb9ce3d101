package hubnode

import (
	"bytes"
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"math"
	"slices"
	"strings"
	"sync"

	"github.com/btcsuite/btcd/btcutil"
	"github.com/btcsuite/btcd/chaincfg/chainhash"
	"github.com/btcsuite/btcd/wire"
	"github.com/lightninglabs/lndclient"
	"github.com/lightningnetwork/lnd/lnrpc"
	"github.com/lightningnetwork/lnd/lnwire"
	"github.com/lightningnetwork/lnd/routing/route"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

var (
	// ErrChannelRequest is returned for a request HubChannels refuses
	// before asking lnd; the error says which field and why.
	ErrChannelRequest = errors.New("invalid channel request")

	// ErrUnknownPeer is returned by Open when the hub is not connected
	// to the peer and its graph has no node with that key, so there is
	// no address to connect to.
	ErrUnknownPeer = errors.New("peer unknown to the hub")

	// ErrPeerUnreachable is returned when an action needs the peer
	// online and the hub could not connect to it at any address its
	// graph knows (Open), or lnd reports it offline (Open, Close).
	ErrPeerUnreachable = errors.New("peer not connected to the hub")

	// ErrInsufficientFunds is returned when the hub's wallet has too few
	// confirmed coins to fund the channel (or the transaction estimated).
	ErrInsufficientFunds = errors.New("insufficient funds in the hub's " +
		"wallet")

	// ErrChannelSize is returned when lnd refuses the channel amount:
	// below its minimum channel size, or above its maximum without wumbo.
	ErrChannelSize = errors.New("channel size out of lnd's bounds")

	// ErrOpenRefused is returned when the peer refused the channel
	// during funding (too many pending channels, a size it does not
	// accept, ...); the error carries the peer's reason.
	ErrOpenRefused = errors.New("channel refused by the peer")

	// ErrMemoInUse is returned by Open when a pending, open or closing
	// channel already carries the memo: the open it names was made
	// already. Open returns that channel's point with it.
	ErrMemoInUse = errors.New("a channel with the memo exists")

	// ErrAmbiguousMemo is returned by ByMemo when more than one channel
	// carries the memo, so it names no single open.
	ErrAmbiguousMemo = errors.New("more than one channel has the memo")

	// ErrChannelNotFound is returned when the hub has no channel at the
	// point, or its graph no edge for the channel.
	ErrChannelNotFound = errors.New("channel not found on the hub")

	// ErrChannelPending is returned for an action that needs the channel
	// open (a cooperative close, a policy update) while its funding
	// transaction is not confirmed deeply enough yet.
	ErrChannelPending = errors.New("channel not open yet")

	// ErrPolicyRefused is returned when lnd refuses a channel policy
	// update; the error carries lnd's reason.
	ErrPolicyRefused = errors.New("channel policy refused")

	// ErrTxNotFound is returned by TxFee when the hub's wallet has no
	// transaction with the txid.
	ErrTxNotFound = errors.New("transaction not in the hub's wallet")
)

// MaxChannelMemo is the longest memo, in bytes, lnd stores with a channel.
const MaxChannelMemo = 500

// DefaultOpenTargetConf is the confirmation target lnd funds an open for
// when the request sets neither a target nor a fee rate; EstimateOpenFee
// uses it for a zero target so its estimate is the open's.
const DefaultOpenTargetConf = 6

// ChannelStatus is where one of the hub's channels is in its life, as the
// hub's lnd sees it. A channel moves only forward: pending open, open,
// closing, closed (a channel whose funding never confirmed can go from
// pending open to closing or closed).
type ChannelStatus string

// The channel statuses.
const (
	// StatusPendingOpen: the funding transaction is published and not
	// yet confirmed deeply enough for lnd to use the channel.
	StatusPendingOpen ChannelStatus = "pending_open"

	// StatusOpen: lnd can use the channel (if the peer is online).
	StatusOpen ChannelStatus = "open"

	// StatusClosing: a closing transaction is published (cooperative or
	// force), or a force close confirmed and its outputs are still
	// maturing; the capital is not back in the wallet yet.
	StatusClosing ChannelStatus = "closing"

	// StatusClosed: lnd counts the channel as closed and resolved.
	StatusClosed ChannelStatus = "closed"

	// StatusUnknown: lnd has no channel with the point, in any state.
	StatusUnknown ChannelStatus = "unknown"
)

// Final says the status does not change any more: the channel is closed.
// StatusUnknown is not final: a channel can still appear at the point.
func (s ChannelStatus) Final() bool { return s == StatusClosed }

// ChannelState is one of the hub's channels as the hub's lnd reports it.
type ChannelState struct {
	// Point is the funding outpoint.
	Point wire.OutPoint

	// Peer is the node at the other end.
	Peer route.Vertex

	Status ChannelStatus

	// Capacity is the channel's size; LocalBalance the hub's side of it
	// (for a closed channel: what the close settled to the hub).
	Capacity     btcutil.Amount
	LocalBalance btcutil.Amount

	// ShortChanID is the confirmed short channel id; 0 while the channel
	// is pending open, and for a force-closing channel, whose edge lnd
	// has dropped from its graph.
	ShortChanID uint64

	// Memo is the memo the channel was opened with. lnd does not report
	// it for closed channels, so it is empty for them.
	Memo string

	// CloseTxid is the closing transaction, once one is published.
	CloseTxid *chainhash.Hash

	// Active says lnd can forward over the channel now (open and the
	// peer online).
	Active bool

	// OpenHeight is the height of the block that confirmed the funding
	// transaction; 0 until it confirmed.
	OpenHeight uint32

	// CloseHeight is the height of the block that confirmed the closing
	// transaction of a closed channel (or of a closing one, when lnd
	// reports it); 0 otherwise.
	CloseHeight uint32
}

// OpenRequest asks for a channel from the hub's wallet to a peer.
type OpenRequest struct {
	// Peer is the node to open to. The hub connects to it first if it
	// is not connected, at the addresses its graph knows.
	Peer route.Vertex

	// Amount is the channel's size, all of it funded by the hub.
	Amount btcutil.Amount

	// Memo is stored by lnd with the channel, so a caller that crashed
	// after asking finds its open again (ByMemo). At most
	// MaxChannelMemo bytes; should be unique to the open.
	Memo string

	// Private opens an unannounced channel.
	Private bool

	// TargetConf is the funding transaction's confirmation target; 0 is
	// lnd's default (DefaultOpenTargetConf).
	TargetConf int32

	// BaseFeeMsat and FeeRatePPM, when set, are the channel's initial
	// forwarding policy; unset ones take lnd's configured defaults.
	BaseFeeMsat *lnwire.MilliSatoshi
	FeeRatePPM  *uint64
}

// CloseRequest says how to close a channel.
type CloseRequest struct {
	// TargetConf is a cooperative close's confirmation target; 0 is
	// lnd's default (6). A force close pays the fee its commitment
	// transaction carries, so TargetConf must be 0 with Force.
	TargetConf int32

	// Force publishes the hub's commitment transaction instead of
	// negotiating with the peer: the hub's funds come back after the
	// channel's CSV delay.
	Force bool
}

// Policy is the hub's forwarding policy on one of its channels.
type Policy struct {
	// BaseFeeMsat is charged on every forward out of the channel.
	BaseFeeMsat lnwire.MilliSatoshi

	// FeeRatePPM is charged per million msat forwarded; lnd takes at
	// most math.MaxUint32.
	FeeRatePPM uint64

	// TimeLockDelta is the CLTV delta the hub asks of forwards. Zero in
	// SetPolicy keeps the channel's current delta.
	TimeLockDelta uint32
}

// TxInfo is one of the hub's wallet transactions.
type TxInfo struct {
	// Fee is the transaction's fee: its inputs less its outputs. lnd
	// reports a fee only for transactions whose inputs are all the
	// wallet's own coins (an open); for others (a channel close spends
	// the funding output) it is computed from the outputs the inputs
	// spend, when the wallet has the transactions that made them (the
	// funding transaction of a channel the hub opened). FeeKnown says
	// whether that worked; when it did not, Fee is lnd's figure (0).
	Fee      btcutil.Amount
	FeeKnown bool

	// Label is the label lnd gave the transaction (for example
	// "0:openchannel:shortchanid-N"), empty if none.
	Label string

	// Height is the height of the block that confirmed it; 0 while
	// unconfirmed.
	Height int32

	// Confirmations is how many blocks confirm it; 0 while unconfirmed.
	Confirmations int32
}

// HubChannels opens, looks up, re-prices and closes the hub's own
// channels, and reads their on-chain costs. It uses lnd's raw lnrpc client
// where lndclient's wrappers drop what it needs (memos, closing txids,
// failed policy updates, the open request's initial policy) and
// lndclient's wrappers where they are complete.
//
// Every lookup goes to lnd; nothing is cached but the hub's own identity.
type HubChannels struct {
	client lndclient.LightningClient

	mu   sync.Mutex
	self *route.Vertex
}

// NewHubChannels returns the channel adapter over the hub's lnd.
func NewHubChannels(client lndclient.LightningClient) *HubChannels {
	return &HubChannels{client: client}
}

// raw returns the raw lnrpc client with a context bounded by lndclient's
// RPC timeout; the caller calls cancel.
func (h *HubChannels) raw(ctx context.Context) (context.Context,
	context.CancelFunc, lnrpc.LightningClient) {

	rpcCtx, timeout, client := h.client.RawClientWithMacAuth(ctx)
	rpcCtx, cancel := context.WithTimeout(rpcCtx, timeout)
	return rpcCtx, cancel, client
}

// Open opens a channel and returns its funding outpoint once lnd has
// published the funding transaction (it does not wait for confirmations).
//
// A memo already on a pending, open or closing channel gives an error
// wrapping ErrMemoInUse with that channel's point. A peer the hub is not
// connected to is connected first; ErrUnknownPeer when the graph has no
// such node, ErrPeerUnreachable when it cannot be reached. lnd's refusals
// come back wrapping ErrInsufficientFunds, ErrChannelSize,
// ErrOpenRefused or ErrPeerUnreachable.
//
// An error does not prove that no channel was opened (a timeout after
// lnd published the funding transaction in particular): a caller looks
// the memo up before opening again.
func (h *HubChannels) Open(ctx context.Context, req OpenRequest) (
	wire.OutPoint, error) {

	rpcReq, err := openRequest(req)
	if err != nil {
		return wire.OutPoint{}, err
	}
	if req.Memo != "" {
		st, found, err := h.ByMemo(ctx, req.Memo)
		if err != nil {
			return wire.OutPoint{}, fmt.Errorf("open %q: %w",
				req.Memo, err)
		}
		if found {
			return st.Point, fmt.Errorf("open %q: %w: %v is %s",
				req.Memo, ErrMemoInUse, st.Point, st.Status)
		}
	}
	if err := h.connect(ctx, req.Peer); err != nil {
		return wire.OutPoint{}, err
	}

	rpcCtx, cancel, client := h.raw(ctx)
	defer cancel()
	cp, err := client.OpenChannelSync(rpcCtx, rpcReq)
	if err != nil {
		return wire.OutPoint{}, fmt.Errorf("open %v to %v: %w",
			req.Amount, req.Peer, classifyOpenErr(err))
	}
	txid, err := lnrpc.GetChanPointFundingTxid(cp)
	if err != nil {
		return wire.OutPoint{}, fmt.Errorf("open %v to %v: lnd's "+
			"channel point: %w", req.Amount, req.Peer, err)
	}
	return wire.OutPoint{Hash: *txid, Index: cp.OutputIndex}, nil
}

// openRequest checks req and makes lnd's request of it.
func openRequest(req OpenRequest) (*lnrpc.OpenChannelRequest, error) {
	switch {
	case req.Peer == route.Vertex{}:
		return nil, fmt.Errorf("%w: Peer: empty", ErrChannelRequest)

	case req.Amount <= 0:
		return nil, fmt.Errorf("%w: Amount: %v is not positive",
			ErrChannelRequest, req.Amount)

	case req.TargetConf < 0:
		return nil, fmt.Errorf("%w: TargetConf: %d is negative",
			ErrChannelRequest, req.TargetConf)

	case len(req.Memo) > MaxChannelMemo:
		return nil, fmt.Errorf("%w: Memo: %d bytes, lnd keeps at "+
			"most %d", ErrChannelRequest, len(req.Memo),
			MaxChannelMemo)
	}
	r := &lnrpc.OpenChannelRequest{
		NodePubkey:         req.Peer[:],
		LocalFundingAmount: int64(req.Amount),
		TargetConf:         req.TargetConf,
		Private:            req.Private,
		Memo:               req.Memo,
	}
	if req.BaseFeeMsat != nil {
		r.BaseFee = uint64(*req.BaseFeeMsat)
		r.UseBaseFee = true
	}
	if req.FeeRatePPM != nil {
		if *req.FeeRatePPM > math.MaxUint32 {
			return nil, fmt.Errorf("%w: FeeRatePPM: %d is above "+
				"lnd's %d", ErrChannelRequest, *req.FeeRatePPM,
				uint32(math.MaxUint32))
		}
		r.FeeRate = *req.FeeRatePPM
		r.UseFeeRate = true
	}
	return r, nil
}

// classifyOpenErr wraps lnd's answer to an open in the sentinel it means.
// lnd sends these as unclassified gRPC errors, so only their text tells.
func classifyOpenErr(err error) error {
	msg := status.Convert(err).Message()
	var kind error
	switch {
	case strings.Contains(msg, "not enough witness outputs"),
		strings.Contains(msg, "insufficient funds"):
		kind = ErrInsufficientFunds

	case strings.Contains(msg, "channel is too small"),
		strings.Contains(msg, "funding amount is too large"):
		kind = ErrChannelSize

	case strings.Contains(msg, "is not online"),
		strings.Contains(msg, "disconnected"):
		kind = ErrPeerUnreachable

	case strings.Contains(msg, "received funding error from"):
		kind = ErrOpenRefused

	default:
		return err
	}
	return fmt.Errorf("%w: %w", kind, err)
}

// Connected says whether the hub is connected to peer now: a node the
// graph does not know yet (no public channel, or its announcement not
// gossiped yet) can still be opened to while it is.
func (h *HubChannels) Connected(ctx context.Context, peer route.Vertex) (
	bool, error) {

	peers, err := h.client.ListPeers(ctx)
	if err != nil {
		return false, fmt.Errorf("list peers: %w", err)
	}
	for _, p := range peers {
		if p.Pubkey == peer {
			return true, nil
		}
	}
	return false, nil
}

// connect makes sure the hub is connected to peer, connecting at the
// addresses the hub's graph knows for it when it is not.
func (h *HubChannels) connect(ctx context.Context, peer route.Vertex) error {
	connected, err := h.Connected(ctx, peer)
	if err != nil || connected {
		return err
	}

	info, err := h.client.GetNodeInfo(ctx, peer, false)
	switch {
	case status.Code(err) == codes.NotFound:
		return fmt.Errorf("connect to %v: %w", peer, ErrUnknownPeer)

	case err != nil:
		return fmt.Errorf("node info %v: %w", peer, err)

	case info.Node == nil || len(info.Node.Addresses) == 0:
		return fmt.Errorf("connect to %v: %w: the graph knows no "+
			"address of it", peer, ErrPeerUnreachable)
	}
	var errs []error
	for _, addr := range info.Node.Addresses {
		err := h.client.Connect(ctx, peer, addr, false)
		if err == nil || strings.Contains(
			status.Convert(err).Message(), "already connected") {

			return nil
		}
		errs = append(errs, fmt.Errorf("%s: %w", addr, err))
	}
	return fmt.Errorf("connect to %v: %w: %w", peer, ErrPeerUnreachable,
		errors.Join(errs...))
}

// channelSource lists some of the hub's channels.
type channelSource func(context.Context) ([]ChannelState, error)

// ByMemo finds the channel opened with memo among the hub's pending, open
// and closing channels, and says whether there is one.
//
// lnd does not report memos of closed channels (ClosedChannels carries
// none), so a channel that closed before its opener looked for it is not
// found: a caller records the point ByMemo or Open returns and follows
// the channel by ByPoint from then on. More than one channel with the
// memo gives an error wrapping ErrAmbiguousMemo.
func (h *HubChannels) ByMemo(ctx context.Context, memo string) (
	ChannelState, bool, error) {

	if memo == "" {
		return ChannelState{}, false, fmt.Errorf("%w: memo: empty",
			ErrChannelRequest)
	}
	match := func(c ChannelState) bool { return c.Memo == memo }

	// The pending list is read twice, around the open channels: a
	// channel that moves from open to closing between two reads is in
	// the second pending list, so no move between reads hides it.
	found := map[wire.OutPoint]ChannelState{}
	for _, src := range []channelSource{
		h.pending, h.openChannels, h.pending,
	} {
		chans, err := src(ctx)
		if err != nil {
			return ChannelState{}, false, err
		}
		for _, c := range chans {
			if match(c) {
				found[c.Point] = c
			}
		}
	}
	if len(found) == 0 {
		return ChannelState{}, false, nil
	}
	var (
		only   ChannelState
		points []string
	)
	for p, c := range found {
		only = c
		points = append(points, p.String())
	}
	if len(found) > 1 {
		slices.Sort(points)
		return ChannelState{}, false, fmt.Errorf("memo %q: %w: %s",
			memo, ErrAmbiguousMemo, strings.Join(points, ", "))
	}
	only, err := h.withEdge(ctx, only)
	if err != nil {
		return ChannelState{}, false, err
	}
	return only, true, nil
}

// ByPoint returns the hub's channel with the funding outpoint, pending,
// open, closing or closed; its Status is StatusUnknown when lnd has no
// channel there.
func (h *HubChannels) ByPoint(ctx context.Context, point wire.OutPoint) (
	ChannelState, error) {

	// In the order a channel moves through lnd's lists, the pending
	// list twice (see ByMemo): a channel that moves between two reads
	// shows in a later one.
	for _, src := range []channelSource{
		h.pending, h.openChannels, h.pending, h.closed,
	} {
		chans, err := src(ctx)
		if err != nil {
			return ChannelState{}, err
		}
		for _, c := range chans {
			if c.Point == point {
				return h.withEdge(ctx, c)
			}
		}
	}
	return ChannelState{Point: point, Status: StatusUnknown}, nil
}

// withEdge fills in the short channel id of a closing channel, which lnd's
// pending lists do not carry, from the hub's graph while the edge is
// still there (until the closing transaction confirms).
func (h *HubChannels) withEdge(ctx context.Context, c ChannelState) (
	ChannelState, error) {

	if c.Status != StatusClosing || c.ShortChanID != 0 {
		return c, nil
	}
	rpcCtx, cancel, client := h.raw(ctx)
	defer cancel()
	edge, err := client.GetChanInfo(rpcCtx, &lnrpc.ChanInfoRequest{
		ChanPoint: c.Point.String(),
	})
	switch {
	case status.Code(err) == codes.NotFound:
		return c, nil

	case err != nil:
		return ChannelState{}, fmt.Errorf("channel edge %v: %w",
			c.Point, err)
	}
	c.ShortChanID = edge.ChannelId
	c.OpenHeight = lnwire.NewShortChanIDFromInt(edge.ChannelId).BlockHeight
	return c, nil
}

// pending lists the hub's pending open, closing and force-closing
// channels.
func (h *HubChannels) pending(ctx context.Context) ([]ChannelState, error) {
	rpcCtx, cancel, client := h.raw(ctx)
	defer cancel()
	resp, err := client.PendingChannels(rpcCtx,
		&lnrpc.PendingChannelsRequest{})
	if err != nil {
		return nil, fmt.Errorf("pending channels: %w", err)
	}

	var out []ChannelState
	for _, p := range resp.PendingOpenChannels {
		c, err := pendingState(p.Channel, StatusPendingOpen, "")
		if err != nil {
			return nil, err
		}
		c.OpenHeight = p.ConfirmationHeight
		out = append(out, c)
	}
	for _, p := range resp.WaitingCloseChannels {
		c, err := pendingState(p.Channel, StatusClosing, p.ClosingTxid)
		if err != nil {
			return nil, err
		}
		c.CloseHeight = p.CloseHeight
		out = append(out, c)
	}
	for _, p := range resp.PendingForceClosingChannels {
		c, err := pendingState(p.Channel, StatusClosing, p.ClosingTxid)
		if err != nil {
			return nil, err
		}
		out = append(out, c)
	}
	// pending_closing_channels is deprecated and empty: lnd lists a
	// cooperative close as closed once it confirms.
	return out, nil
}

// pendingState is one of lnd's pending channels in st, closed by the
// transaction closeTxid (empty for none).
func pendingState(p *lnrpc.PendingChannelsResponse_PendingChannel,
	st ChannelStatus, closeTxid string) (ChannelState, error) {

	if p == nil {
		return ChannelState{}, errors.New("pending channel without " +
			"its channel")
	}
	point, peer, err := parsePointPeer(p.ChannelPoint, p.RemoteNodePub)
	if err != nil {
		return ChannelState{}, err
	}
	txid, err := parseTxid(closeTxid)
	if err != nil {
		return ChannelState{}, fmt.Errorf("channel %v: closing txid: "+
			"%w", point, err)
	}
	return ChannelState{
		Point:        point,
		Peer:         peer,
		Status:       st,
		Capacity:     btcutil.Amount(p.Capacity),
		LocalBalance: btcutil.Amount(p.LocalBalance),
		Memo:         p.Memo,
		CloseTxid:    txid,
	}, nil
}

// openChannels lists the hub's open channels, active or not.
func (h *HubChannels) openChannels(ctx context.Context) ([]ChannelState,
	error) {

	rpcCtx, cancel, client := h.raw(ctx)
	defer cancel()
	resp, err := client.ListChannels(rpcCtx, &lnrpc.ListChannelsRequest{})
	if err != nil {
		return nil, fmt.Errorf("list channels: %w", err)
	}
	out := make([]ChannelState, 0, len(resp.Channels))
	for _, ch := range resp.Channels {
		point, peer, err := parsePointPeer(ch.ChannelPoint,
			ch.RemotePubkey)
		if err != nil {
			return nil, err
		}
		scid := confirmedSCID(ch.ChanId, ch.ZeroConf,
			ch.ZeroConfConfirmedScid)
		out = append(out, ChannelState{
			Point:        point,
			Peer:         peer,
			Status:       StatusOpen,
			Capacity:     btcutil.Amount(ch.Capacity),
			LocalBalance: btcutil.Amount(ch.LocalBalance),
			ShortChanID:  scid,
			Memo:         ch.Memo,
			Active:       ch.Active,
			OpenHeight:   scidHeight(scid),
		})
	}
	return out, nil
}

// closed lists the hub's closed channels.
func (h *HubChannels) closed(ctx context.Context) ([]ChannelState, error) {
	rpcCtx, cancel, client := h.raw(ctx)
	defer cancel()
	resp, err := client.ClosedChannels(rpcCtx,
		&lnrpc.ClosedChannelsRequest{})
	if err != nil {
		return nil, fmt.Errorf("closed channels: %w", err)
	}
	out := make([]ChannelState, 0, len(resp.Channels))
	for _, ch := range resp.Channels {
		point, peer, err := parsePointPeer(ch.ChannelPoint,
			ch.RemotePubkey)
		if err != nil {
			return nil, err
		}
		txid, err := parseTxid(ch.ClosingTxHash)
		if err != nil {
			return nil, fmt.Errorf("channel %v: closing txid: %w",
				point, err)
		}
		// A zero-conf channel's chan_id may be its alias; lnd names
		// the confirmed one apart.
		scid := ch.ChanId
		if ch.ZeroConfConfirmedScid != 0 {
			scid = ch.ZeroConfConfirmedScid
		}
		out = append(out, ChannelState{
			Point:        point,
			Peer:         peer,
			Status:       StatusClosed,
			Capacity:     btcutil.Amount(ch.Capacity),
			LocalBalance: btcutil.Amount(ch.SettledBalance),
			ShortChanID:  scid,
			CloseTxid:    txid,
			OpenHeight:   scidHeight(scid),
			CloseHeight:  ch.CloseHeight,
		})
	}
	return out, nil
}

// confirmedSCID is an open channel's confirmed short channel id: for a
// zero-conf channel the one lnd reports apart from its alias, 0 while its
// funding is unconfirmed.
func confirmedSCID(chanID uint64, zeroConf bool, confirmed uint64) uint64 {
	if zeroConf {
		return confirmed
	}
	return chanID
}

// scidHeight is the block height a short channel id names; 0 for none.
func scidHeight(scid uint64) uint32 {
	if scid == 0 {
		return 0
	}
	return lnwire.NewShortChanIDFromInt(scid).BlockHeight
}

// parsePointPeer parses lnd's "txid:index" channel point and hex peer key.
func parsePointPeer(point, peer string) (wire.OutPoint, route.Vertex,
	error) {

	op, err := wire.NewOutPointFromString(point)
	if err != nil {
		return wire.OutPoint{}, route.Vertex{}, fmt.Errorf("channel "+
			"point %q: %w", point, err)
	}
	v, err := route.NewVertexFromStr(peer)
	if err != nil {
		return wire.OutPoint{}, route.Vertex{}, fmt.Errorf("channel "+
			"%v: peer %q: %w", op, peer, err)
	}
	return *op, v, nil
}

// parseTxid parses a txid lnd reports as a string; nil for an empty or
// all-zero one (lnd's answer when there is no transaction).
func parseTxid(s string) (*chainhash.Hash, error) {
	if s == "" {
		return nil, nil
	}
	h, err := chainhash.NewHashFromStr(s)
	if err != nil {
		return nil, err
	}
	if *h == (chainhash.Hash{}) {
		return nil, nil
	}
	return h, nil
}

// rpcChanPoint is lnd's ChannelPoint of point.
func rpcChanPoint(point wire.OutPoint) *lnrpc.ChannelPoint {
	return &lnrpc.ChannelPoint{
		FundingTxid: &lnrpc.ChannelPoint_FundingTxidBytes{
			FundingTxidBytes: point.Hash[:],
		},
		OutputIndex: point.Index,
	}
}

// Close starts closing the channel at point and returns the closing
// transaction's txid once lnd has published it; it does not wait for
// confirmations.
//
// A channel already closing (or closed) is not closed again: its closing
// txid comes back. A channel lnd does not have gives an error wrapping
// ErrChannelNotFound; a cooperative close of a channel not open yet
// ErrChannelPending, of one whose peer is offline ErrPeerUnreachable (a
// force close needs no peer).
func (h *HubChannels) Close(ctx context.Context, point wire.OutPoint,
	req CloseRequest) (chainhash.Hash, error) {

	rpcReq, err := closeRequest(point, req)
	if err != nil {
		return chainhash.Hash{}, err
	}
	st, err := h.ByPoint(ctx, point)
	if err != nil {
		return chainhash.Hash{}, fmt.Errorf("close %v: %w", point, err)
	}
	switch st.Status {
	case StatusUnknown:
		return chainhash.Hash{}, fmt.Errorf("close %v: %w", point,
			ErrChannelNotFound)

	case StatusClosing, StatusClosed:
		if st.CloseTxid != nil {
			return *st.CloseTxid, nil
		}
		if st.Status == StatusClosed {
			return chainhash.Hash{}, fmt.Errorf("close %v: closed "+
				"without a closing transaction", point)
		}

	case StatusPendingOpen:
		if !req.Force {
			return chainhash.Hash{}, fmt.Errorf("close %v "+
				"cooperatively: %w", point, ErrChannelPending)
		}
	}

	txid, err := h.closeChannel(ctx, rpcReq)
	if err == nil {
		return txid, nil
	}
	// Closed meanwhile by another call, or by the peer?
	if st, lookupErr := h.ByPoint(ctx, point); lookupErr == nil &&
		st.CloseTxid != nil {

		return *st.CloseTxid, nil
	}
	if strings.Contains(status.Convert(err).Message(), "peer is offline") {
		err = fmt.Errorf("%w: %w", ErrPeerUnreachable, err)
	}
	return chainhash.Hash{}, fmt.Errorf("close %v: %w", point, err)
}

// closeRequest checks req and makes lnd's request of it.
func closeRequest(point wire.OutPoint, req CloseRequest) (
	*lnrpc.CloseChannelRequest, error) {

	switch {
	case req.TargetConf < 0:
		return nil, fmt.Errorf("%w: TargetConf: %d is negative",
			ErrChannelRequest, req.TargetConf)

	case req.Force && req.TargetConf != 0:
		return nil, fmt.Errorf("%w: TargetConf: a force close pays "+
			"the fee of its commitment transaction, set none",
			ErrChannelRequest)
	}
	return &lnrpc.CloseChannelRequest{
		ChannelPoint: rpcChanPoint(point),
		Force:        req.Force,
		TargetConf:   req.TargetConf,
	}, nil
}

// closeChannel asks lnd to close and waits for the closing transaction's
// txid (close_pending). Leaving the stream then does not stop the close:
// the transaction is published.
func (h *HubChannels) closeChannel(ctx context.Context,
	req *lnrpc.CloseChannelRequest) (chainhash.Hash, error) {

	rpcCtx, cancel, client := h.raw(ctx)
	defer cancel()
	stream, err := client.CloseChannel(rpcCtx, req)
	if err != nil {
		return chainhash.Hash{}, err
	}
	for {
		upd, err := stream.Recv()
		switch {
		case errors.Is(err, io.EOF):
			return chainhash.Hash{}, errors.New("close stream " +
				"ended before a closing transaction")

		case err != nil:
			return chainhash.Hash{}, err
		}
		var raw []byte
		switch u := upd.Update.(type) {
		case *lnrpc.CloseStatusUpdate_ClosePending:
			raw = u.ClosePending.GetTxid()

		case *lnrpc.CloseStatusUpdate_ChanClose:
			raw = u.ChanClose.GetClosingTxid()

		default:
			continue
		}
		txid, err := chainhash.NewHash(raw)
		if err != nil {
			return chainhash.Hash{}, fmt.Errorf("closing txid: %w",
				err)
		}
		return *txid, nil
	}
}

// TxFee returns the hub's wallet transaction txid with its fee, label and
// confirmation, or an error wrapping ErrTxNotFound. It reads lnd's raw
// GetTransactions (all of the wallet's transactions, unconfirmed ones
// too): lndclient's wrapper keeps the fields but decodes every one of
// them, where only the transaction and its inputs' are needed here.
func (h *HubChannels) TxFee(ctx context.Context, txid chainhash.Hash) (
	TxInfo, error) {

	rpcCtx, cancel, client := h.raw(ctx)
	defer cancel()
	resp, err := client.GetTransactions(rpcCtx,
		&lnrpc.GetTransactionsRequest{StartHeight: 0, EndHeight: -1})
	if err != nil {
		return TxInfo{}, fmt.Errorf("wallet transactions: %w", err)
	}
	byHash := make(map[string]*lnrpc.Transaction, len(resp.Transactions))
	for _, tx := range resp.Transactions {
		byHash[tx.TxHash] = tx
	}
	tx, ok := byHash[txid.String()]
	if !ok {
		return TxInfo{}, fmt.Errorf("transaction %v: %w", txid,
			ErrTxNotFound)
	}
	info := TxInfo{
		Fee:           btcutil.Amount(tx.TotalFees),
		Label:         tx.Label,
		Height:        tx.BlockHeight,
		Confirmations: tx.NumConfirmations,
	}
	fee, known, err := txFee(tx, byHash)
	if err != nil {
		return TxInfo{}, fmt.Errorf("transaction %v: %w", txid, err)
	}
	if known {
		info.Fee, info.FeeKnown = fee, true
	}
	return info, nil
}

// txFee is tx's inputs less its outputs, with the inputs' values read from
// the wallet's transactions byHash. It says false when one of the spent
// transactions is not among them.
func txFee(tx *lnrpc.Transaction, byHash map[string]*lnrpc.Transaction) (
	btcutil.Amount, bool, error) {

	msg, err := decodeTx(tx.RawTxHex)
	if err != nil {
		return 0, false, err
	}
	var in, out btcutil.Amount
	for _, o := range msg.TxOut {
		out += btcutil.Amount(o.Value)
	}
	decoded := map[string]*wire.MsgTx{}
	for _, txIn := range msg.TxIn {
		prevHash := txIn.PreviousOutPoint.Hash.String()
		prev, ok := decoded[prevHash]
		if !ok {
			rpcPrev, ok := byHash[prevHash]
			if !ok {
				return 0, false, nil
			}
			prev, err = decodeTx(rpcPrev.RawTxHex)
			if err != nil {
				return 0, false, fmt.Errorf("input %v: %w",
					txIn.PreviousOutPoint, err)
			}
			decoded[prevHash] = prev
		}
		idx := txIn.PreviousOutPoint.Index
		if idx >= uint32(len(prev.TxOut)) {
			return 0, false, fmt.Errorf("input %v: the wallet's "+
				"transaction has %d outputs",
				txIn.PreviousOutPoint, len(prev.TxOut))
		}
		in += btcutil.Amount(prev.TxOut[idx].Value)
	}
	if in < out {
		return 0, false, fmt.Errorf("inputs %v are less than "+
			"outputs %v", in, out)
	}
	return in - out, true, nil
}

// decodeTx decodes a transaction lnd reports in hex.
func decodeTx(rawHex string) (*wire.MsgTx, error) {
	raw, err := hex.DecodeString(rawHex)
	if err != nil {
		return nil, fmt.Errorf("raw transaction: %w", err)
	}
	var tx wire.MsgTx
	if err := tx.Deserialize(bytes.NewReader(raw)); err != nil {
		return nil, fmt.Errorf("raw transaction: %w", err)
	}
	return &tx, nil
}

// EstimateOpenFee is lnd's estimate of the on-chain fee of funding a
// channel of amount from the hub's wallet: a transaction paying amount to
// one P2WSH output (the funding output of lnd's default channel types),
// confirming within targetConf blocks (0: DefaultOpenTargetConf, as an
// open). lndclient's EstimateFeeToP2WSH builds the address for the
// network lndclient checked against the node's GetInfo when it
// connected. Too few coins give an error wrapping ErrInsufficientFunds.
func (h *HubChannels) EstimateOpenFee(ctx context.Context,
	amount btcutil.Amount, targetConf int32) (btcutil.Amount, error) {

	switch {
	case amount <= 0:
		return 0, fmt.Errorf("%w: amount: %v is not positive",
			ErrChannelRequest, amount)

	case targetConf < 0:
		return 0, fmt.Errorf("%w: targetConf: %d is negative",
			ErrChannelRequest, targetConf)

	case targetConf == 0:
		targetConf = DefaultOpenTargetConf
	}
	fee, err := h.client.EstimateFeeToP2WSH(ctx, amount, targetConf)
	if err != nil {
		return 0, fmt.Errorf("estimate fee of opening %v: %w", amount,
			classifyOpenErr(err))
	}
	return fee, nil
}

// SetPolicy sets the hub's forwarding policy on the channel at point (lnd's
// UpdateChannelPolicy; lndclient's wrapper drops the failed updates and
// takes the rate as a float). A zero TimeLockDelta keeps the channel's
// current one. lnd's refusals come back wrapping ErrPolicyRefused,
// ErrChannelPending or ErrChannelNotFound.
func (h *HubChannels) SetPolicy(ctx context.Context, point wire.OutPoint,
	p Policy) error {

	if p.TimeLockDelta == 0 {
		cur, err := h.policyOf(ctx, &lnrpc.ChanInfoRequest{
			ChanPoint: point.String(),
		})
		if err != nil {
			return fmt.Errorf("set policy of %v: %w", point, err)
		}
		p.TimeLockDelta = cur.TimeLockDelta
	}
	req, err := policyRequest(point, p)
	if err != nil {
		return err
	}

	rpcCtx, cancel, client := h.raw(ctx)
	defer cancel()
	resp, err := client.UpdateChannelPolicy(rpcCtx, req)
	if err != nil {
		return fmt.Errorf("set policy of %v: %w: %w", point,
			ErrPolicyRefused, err)
	}
	if err := policyFailures(resp.FailedUpdates); err != nil {
		return fmt.Errorf("set policy of %v: %w", point, err)
	}
	return nil
}

// policyRequest checks p and makes lnd's request of it.
func policyRequest(point wire.OutPoint, p Policy) (
	*lnrpc.PolicyUpdateRequest, error) {

	switch {
	case p.BaseFeeMsat > math.MaxInt64:
		return nil, fmt.Errorf("%w: BaseFeeMsat: %d is above lnd's %d",
			ErrChannelRequest, uint64(p.BaseFeeMsat),
			int64(math.MaxInt64))

	case p.FeeRatePPM > math.MaxUint32:
		return nil, fmt.Errorf("%w: FeeRatePPM: %d is above lnd's %d",
			ErrChannelRequest, p.FeeRatePPM, uint32(math.MaxUint32))
	}
	return &lnrpc.PolicyUpdateRequest{
		Scope: &lnrpc.PolicyUpdateRequest_ChanPoint{
			ChanPoint: rpcChanPoint(point),
		},
		BaseFeeMsat:   int64(p.BaseFeeMsat),
		FeeRatePpm:    uint32(p.FeeRatePPM),
		TimeLockDelta: p.TimeLockDelta,
	}, nil
}

// policyFailures turns the failed updates lnd returns into an error; nil
// when there are none.
func policyFailures(failed []*lnrpc.FailedUpdate) error {
	var errs []error
	for _, f := range failed {
		var kind error
		switch f.Reason {
		case lnrpc.UpdateFailure_UPDATE_FAILURE_PENDING:
			kind = ErrChannelPending
		case lnrpc.UpdateFailure_UPDATE_FAILURE_NOT_FOUND:
			kind = ErrChannelNotFound
		default:
			kind = ErrPolicyRefused
		}
		what := "channel"
		if f.Outpoint != nil {
			what = fmt.Sprintf("%s:%d", f.Outpoint.TxidStr,
				f.Outpoint.OutputIndex)
		}
		errs = append(errs, fmt.Errorf("%s: %w: %s (%s)", what, kind,
			f.UpdateError, f.Reason))
	}
	return errors.Join(errs...)
}

// Policy returns the hub's own forwarding policy on the channel, as the
// hub's graph has it (GetChanInfo), or an error wrapping
// ErrChannelNotFound when the graph has no such channel. After SetPolicy
// lnd writes the new policy to its graph shortly, not at once.
func (h *HubChannels) Policy(ctx context.Context, shortChanID uint64) (
	Policy, error) {

	p, err := h.policyOf(ctx, &lnrpc.ChanInfoRequest{ChanId: shortChanID})
	if err != nil {
		return Policy{}, fmt.Errorf("policy of %d: %w", shortChanID,
			err)
	}
	return p, nil
}

// policyOf reads the hub's side of the channel edge req names.
func (h *HubChannels) policyOf(ctx context.Context,
	req *lnrpc.ChanInfoRequest) (Policy, error) {

	self, err := h.identity(ctx)
	if err != nil {
		return Policy{}, err
	}
	rpcCtx, cancel, client := h.raw(ctx)
	defer cancel()
	edge, err := client.GetChanInfo(rpcCtx, req)
	switch {
	case status.Code(err) == codes.NotFound:
		return Policy{}, fmt.Errorf("channel edge: %w",
			ErrChannelNotFound)

	case err != nil:
		return Policy{}, fmt.Errorf("channel edge: %w", err)
	}
	var rp *lnrpc.RoutingPolicy
	switch self.String() {
	case edge.Node1Pub:
		rp = edge.Node1Policy
	case edge.Node2Pub:
		rp = edge.Node2Policy
	default:
		return Policy{}, fmt.Errorf("channel %d is between %s and "+
			"%s, not the hub's: %w", edge.ChannelId, edge.Node1Pub,
			edge.Node2Pub, ErrChannelNotFound)
	}
	if rp == nil {
		return Policy{}, fmt.Errorf("channel %d: the hub has no "+
			"policy on it yet", edge.ChannelId)
	}
	return Policy{
		BaseFeeMsat:   lnwire.MilliSatoshi(rp.FeeBaseMsat),
		FeeRatePPM:    uint64(rp.FeeRateMilliMsat),
		TimeLockDelta: rp.TimeLockDelta,
	}, nil
}

// identity is the hub's node key, asked of lnd once.
func (h *HubChannels) identity(ctx context.Context) (route.Vertex, error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.self != nil {
		return *h.self, nil
	}
	info, err := h.client.GetInfo(ctx)
	if err != nil {
		return route.Vertex{}, fmt.Errorf("hub info: %w", err)
	}
	self := route.Vertex(info.IdentityPubkey)
	h.self = &self
	return self, nil
}
