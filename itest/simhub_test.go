//go:build itest

package itest

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"math/big"
	"sync"
	"testing"
	"time"

	"github.com/btcsuite/btcd/btcec/v2"
	"github.com/btcsuite/btcd/btcec/v2/ecdsa"
	"github.com/btcsuite/btcd/chaincfg"
	"github.com/btcsuite/btcd/chaincfg/chainhash"
	"github.com/lightningnetwork/lnd/lnrpc"
	"github.com/lightningnetwork/lnd/lnrpc/invoicesrpc"
	"github.com/lightningnetwork/lnd/lnrpc/routerrpc"
	"github.com/lightningnetwork/lnd/lntypes"
	"github.com/lightningnetwork/lnd/lnwire"
	"github.com/lightningnetwork/lnd/record"
	"github.com/lightningnetwork/lnd/routing/route"
	"github.com/lightningnetwork/lnd/zpay32"
	"github.com/sluice-ln/sluice/daemon/lndtest"
	"github.com/sluice-ln/sluice/ledger"
	"github.com/sluice-ln/sluice/lightning"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"
)

// simChanSat is each simulated provider channel's capacity, all on the
// hub's side: more than any benchmark pays.
const simChanSat = 100_000_000

// simHub is a simulated hub lnd for BenchmarkScale: lndtest's fake (TLS,
// macaroon files, the State service, GetInfo and GetVersion, which is what
// lndclient checks while it connects) with the calls sluiced makes while
// it links providers, funds jobs and pays them out: invoices (add, look
// up, subscribe, cancel), the graph (node info, channels with a peer,
// routes) and keysend (SendPaymentV2, TrackPaymentV2). sluiced connects to
// it as to any lnd: no product code is replaced. Invoices are real BOLT 11
// requests signed with the hub's key; a job's invoice settles when the
// benchmark pays it (pay). A keysend succeeds after a delay drawn from
// latencies, samples of keysend measured on the real devnet, and is
// recorded per destination (settles).
type simHub struct {
	lnrpc.UnimplementedLightningServer
	routerrpc.UnimplementedRouterServer
	invoicesrpc.UnimplementedInvoicesServer

	srv *lndtest.Server
	key *btcec.PrivateKey

	// latencies are the keysend samples a payment waits one of.
	latencies []time.Duration

	// payMu keeps settles in settle index order to the subscribers.
	payMu sync.Mutex

	mu          sync.Mutex
	nodes       map[route.Vertex]simNode
	invoices    map[lntypes.Hash]*lnrpc.Invoice
	addIndex    uint64
	settleIndex uint64
	subs        map[chan *lnrpc.Invoice]<-chan struct{}
	payments    map[lntypes.Hash]*lnrpc.Payment
	settled     map[route.Vertex][]settled
	sent        int
}

// simNode is a provider node the simulated graph knows, with one channel
// from the hub.
type simNode struct {
	alias  string
	chanID uint64
}

// startSimHub runs a simulated hub whose keysends take latencies.
func startSimHub(b testing.TB, latencies []time.Duration) *simHub {
	b.Helper()
	if len(latencies) == 0 {
		b.Fatal("simulated hub: no keysend latencies")
	}
	key, err := btcec.NewPrivateKey()
	if err != nil {
		b.Fatal(err)
	}
	h := &simHub{
		key:       key,
		latencies: latencies,
		nodes:     map[route.Vertex]simNode{},
		invoices:  map[lntypes.Hash]*lnrpc.Invoice{},
		subs:      map[chan *lnrpc.Invoice]<-chan struct{}{},
		payments:  map[lntypes.Hash]*lnrpc.Payment{},
		settled:   map[route.Vertex][]settled{},
	}
	h.srv = lndtest.Start(b, lndtest.Options{
		NodeKey:   key,
		Lightning: h,
		Register: func(s *grpc.Server) {
			routerrpc.RegisterRouterServer(s, h)
			invoicesrpc.RegisterInvoicesServer(s, h)
		},
	})
	return h
}

// addNode puts a provider node and its channel from the hub in the graph.
func (h *simHub) addNode(node route.Vertex, alias string) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.nodes[node] = simNode{alias: alias,
		chanID: uint64(len(h.nodes)+1)<<40 | 1}
}

func (h *simHub) node(pubkey string) (route.Vertex, simNode, error) {
	v, err := route.NewVertexFromStr(pubkey)
	if err != nil {
		return v, simNode{}, status.Error(codes.InvalidArgument,
			err.Error())
	}
	h.mu.Lock()
	n, ok := h.nodes[v]
	h.mu.Unlock()
	if !ok {
		return v, n, status.Error(codes.NotFound,
			"unable to find node")
	}
	return v, n, nil
}

// GetNodeInfo knows the provider nodes the benchmark added.
func (h *simHub) GetNodeInfo(_ context.Context, req *lnrpc.NodeInfoRequest) (
	*lnrpc.NodeInfo, error) {

	_, n, err := h.node(req.PubKey)
	if err != nil {
		return nil, err
	}
	return &lnrpc.NodeInfo{
		Node: &lnrpc.LightningNode{PubKey: req.PubKey,
			Alias: n.alias},
		NumChannels:   1,
		TotalCapacity: simChanSat,
	}, nil
}

// ListChannels lists the hub's channel with the peer asked for.
func (h *simHub) ListChannels(_ context.Context,
	req *lnrpc.ListChannelsRequest) (*lnrpc.ListChannelsResponse, error) {

	peer := hex.EncodeToString(req.Peer)
	_, n, err := h.node(peer)
	if status.Code(err) == codes.NotFound {
		return &lnrpc.ListChannelsResponse{}, nil
	}
	if err != nil {
		return nil, err
	}
	return &lnrpc.ListChannelsResponse{Channels: []*lnrpc.Channel{{
		Active:       true,
		RemotePubkey: peer,
		ChannelPoint: fmt.Sprintf("%064x:0", n.chanID),
		ChanId:       n.chanID,
		Capacity:     simChanSat,
		LocalBalance: simChanSat,
		Initiator:    true,
	}}}, nil
}

// QueryRoutes answers the hub's direct channel, at no fee.
func (h *simHub) QueryRoutes(_ context.Context,
	req *lnrpc.QueryRoutesRequest) (*lnrpc.QueryRoutesResponse, error) {

	_, n, err := h.node(req.PubKey)
	if status.Code(err) == codes.NotFound {
		return nil, status.Error(codes.Unknown,
			"unable to find a path to destination")
	}
	if err != nil {
		return nil, err
	}
	if req.AmtMsat > simChanSat*1000 {
		return nil, status.Error(codes.Unknown,
			"insufficient local balance")
	}
	return &lnrpc.QueryRoutesResponse{Routes: []*lnrpc.Route{{
		TotalTimeLock: 600,
		TotalAmtMsat:  req.AmtMsat,
		Hops: []*lnrpc.Hop{{
			ChanId:           n.chanID,
			AmtToForwardMsat: req.AmtMsat,
			Expiry:           600,
			PubKey:           req.PubKey,
		}},
	}}}, nil
}

// AddInvoice makes a BOLT 11 invoice signed with the hub's key.
func (h *simHub) AddInvoice(_ context.Context, req *lnrpc.Invoice) (
	*lnrpc.AddInvoiceResponse, error) {

	var preimage lntypes.Preimage
	if _, err := rand.Read(preimage[:]); err != nil {
		return nil, err
	}
	hash := preimage.Hash()
	now := time.Now()
	expiry := time.Duration(req.Expiry) * time.Second
	if expiry == 0 {
		expiry = time.Hour
	}
	inv, err := zpay32.NewInvoice(&chaincfg.RegressionNetParams, hash, now,
		zpay32.Amount(lnwire.MilliSatoshi(req.ValueMsat)),
		zpay32.Description(req.Memo), zpay32.Expiry(expiry))
	if err != nil {
		return nil, status.Error(codes.InvalidArgument, err.Error())
	}
	payReq, err := inv.Encode(zpay32.MessageSigner{
		SignCompact: func(msg []byte) ([]byte, error) {
			return ecdsa.SignCompact(h.key, chainhash.HashB(msg),
				true), nil
		},
	})
	if err != nil {
		return nil, err
	}

	h.mu.Lock()
	defer h.mu.Unlock()
	h.addIndex++
	h.invoices[hash] = &lnrpc.Invoice{
		Memo:           req.Memo,
		RPreimage:      preimage[:],
		RHash:          hash[:],
		ValueMsat:      req.ValueMsat,
		Value:          req.ValueMsat / 1000,
		CreationDate:   now.Unix(),
		PaymentRequest: payReq,
		Expiry:         int64(expiry / time.Second),
		AddIndex:       h.addIndex,
		State:          lnrpc.Invoice_OPEN,
	}
	return &lnrpc.AddInvoiceResponse{RHash: hash[:],
		PaymentRequest: payReq, AddIndex: h.addIndex}, nil
}

// LookupInvoice returns the invoice with the hash.
func (h *simHub) LookupInvoice(_ context.Context,
	req *lnrpc.PaymentHash) (*lnrpc.Invoice, error) {

	hash, err := lntypes.MakeHash(req.RHash)
	if err != nil {
		return nil, status.Error(codes.InvalidArgument, err.Error())
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	inv, ok := h.invoices[hash]
	if !ok {
		return nil, status.Error(codes.NotFound,
			"unable to locate invoice")
	}
	return copyInvoice(inv), nil
}

// SubscribeInvoices replays the invoices settled after the settle index
// asked for, then streams each settle.
func (h *simHub) SubscribeInvoices(req *lnrpc.InvoiceSubscription,
	stream lnrpc.Lightning_SubscribeInvoicesServer) error {

	ch := make(chan *lnrpc.Invoice, 1024)
	h.mu.Lock()
	var replay []*lnrpc.Invoice
	if req.SettleIndex > 0 {
		for _, inv := range h.invoices {
			if inv.SettleIndex > req.SettleIndex {
				replay = append(replay, copyInvoice(inv))
			}
		}
	}
	h.subs[ch] = stream.Context().Done()
	h.mu.Unlock()
	defer func() {
		h.mu.Lock()
		delete(h.subs, ch)
		h.mu.Unlock()
	}()

	for _, inv := range replay {
		if err := stream.Send(inv); err != nil {
			return err
		}
	}
	for {
		select {
		case inv := <-ch:
			if err := stream.Send(inv); err != nil {
				return err
			}
		case <-stream.Context().Done():
			return nil
		}
	}
}

// CancelInvoice cancels an open invoice.
func (h *simHub) CancelInvoice(_ context.Context,
	req *invoicesrpc.CancelInvoiceMsg) (*invoicesrpc.CancelInvoiceResp,
	error) {

	hash, err := lntypes.MakeHash(req.PaymentHash)
	if err != nil {
		return nil, status.Error(codes.InvalidArgument, err.Error())
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	inv, ok := h.invoices[hash]
	switch {
	case !ok:
		return nil, status.Error(codes.NotFound,
			"unable to locate invoice")
	case inv.State == lnrpc.Invoice_SETTLED:
		return nil, status.Error(codes.Unknown,
			"invoice already settled")
	}
	inv.State = lnrpc.Invoice_CANCELED
	return &invoicesrpc.CancelInvoiceResp{}, nil
}

// pay settles the hub's invoice of the payment request, as a buyer's
// payment would, and tells the subscribers in settle order. It waits while
// a subscriber is behind, as a payer waits for lnd.
func (h *simHub) pay(ctx context.Context, payReq string) error {
	inv, err := zpay32.Decode(payReq, &chaincfg.RegressionNetParams)
	if err != nil {
		return err
	}
	h.payMu.Lock()
	defer h.payMu.Unlock()

	h.mu.Lock()
	stored, ok := h.invoices[*inv.PaymentHash]
	switch {
	case !ok:
		h.mu.Unlock()
		return fmt.Errorf("pay %x: no such invoice", inv.PaymentHash[:])
	case stored.State != lnrpc.Invoice_OPEN:
		h.mu.Unlock()
		return fmt.Errorf("pay %x: invoice is %v", inv.PaymentHash[:],
			stored.State)
	}
	h.settleIndex++
	stored.State = lnrpc.Invoice_SETTLED
	stored.SettleIndex = h.settleIndex
	stored.SettleDate = time.Now().Unix()
	stored.AmtPaidMsat = stored.ValueMsat
	stored.AmtPaidSat = stored.ValueMsat / 1000
	update := copyInvoice(stored)
	subs := make(map[chan *lnrpc.Invoice]<-chan struct{}, len(h.subs))
	for ch, gone := range h.subs {
		subs[ch] = gone
	}
	h.mu.Unlock()

	for ch, gone := range subs {
		select {
		case ch <- update:
		case <-gone:
		case <-ctx.Done():
			return fmt.Errorf("pay %x: %w", inv.PaymentHash[:],
				ctx.Err())
		}
	}
	return nil
}

func copyInvoice(inv *lnrpc.Invoice) *lnrpc.Invoice {
	return proto.Clone(inv).(*lnrpc.Invoice)
}

// SendPaymentV2 pays a keysend to a provider node: it records the payment
// in flight at once, waits a sampled keysend latency and succeeds.
func (h *simHub) SendPaymentV2(req *routerrpc.SendPaymentRequest,
	stream routerrpc.Router_SendPaymentV2Server) error {

	dest, err := route.NewVertexFromBytes(req.Dest)
	if err != nil {
		return status.Error(codes.InvalidArgument, err.Error())
	}
	preimage, err := lntypes.MakePreimage(
		req.DestCustomRecords[record.KeySendType])
	if err != nil {
		return status.Error(codes.InvalidArgument, "keysend without "+
			"a preimage")
	}
	hash := preimage.Hash()
	if !bytes.Equal(hash[:], req.PaymentHash) {
		return status.Error(codes.InvalidArgument, "payment hash is "+
			"not the preimage's")
	}

	h.mu.Lock()
	if _, ok := h.nodes[dest]; !ok {
		h.mu.Unlock()
		return status.Error(codes.Unknown, "unable to find a path")
	}
	if _, ok := h.payments[hash]; ok {
		h.mu.Unlock()
		return status.Error(codes.AlreadyExists,
			"payment is in transition")
	}
	pay := &lnrpc.Payment{
		PaymentHash:    hash.String(),
		ValueMsat:      req.AmtMsat,
		CreationTimeNs: time.Now().UnixNano(),
		Status:         lnrpc.Payment_IN_FLIGHT,
	}
	h.payments[hash] = pay
	h.sent++
	first := clonePayment(pay)
	h.mu.Unlock()

	// The payment goes on whatever the caller does, as in lnd:
	// TrackPaymentV2 follows it after a restart.
	done := make(chan struct{})
	payout := req.DestCustomRecords[lightning.PayoutIDRecord] != nil
	time.AfterFunc(h.latency(), func() {
		h.mu.Lock()
		pay.Status = lnrpc.Payment_SUCCEEDED
		pay.PaymentPreimage = preimage.String()
		if payout {
			h.settled[dest] = append(h.settled[dest], settled{
				amount: ledger.MilliSatoshi(req.AmtMsat),
				at:     time.Now(),
			})
		}
		h.mu.Unlock()
		close(done)
	})

	if err := stream.Send(first); err != nil {
		return err
	}
	select {
	case <-done:
	case <-stream.Context().Done():
		return stream.Context().Err()
	}
	h.mu.Lock()
	last := clonePayment(pay)
	h.mu.Unlock()
	return stream.Send(last)
}

func clonePayment(p *lnrpc.Payment) *lnrpc.Payment {
	return proto.Clone(p).(*lnrpc.Payment)
}

// TrackPaymentV2 reports a payment's current state, then its end.
func (h *simHub) TrackPaymentV2(req *routerrpc.TrackPaymentRequest,
	stream routerrpc.Router_TrackPaymentV2Server) error {

	hash, err := lntypes.MakeHash(req.PaymentHash)
	if err != nil {
		return status.Error(codes.InvalidArgument, err.Error())
	}
	for {
		h.mu.Lock()
		pay, ok := h.payments[hash]
		var cur *lnrpc.Payment
		if ok {
			cur = clonePayment(pay)
		}
		h.mu.Unlock()
		if !ok {
			return status.Error(codes.NotFound,
				"payment isn't initiated")
		}
		if cur.Status != lnrpc.Payment_IN_FLIGHT {
			return stream.Send(cur)
		}
		select {
		case <-time.After(10 * time.Millisecond):
		case <-stream.Context().Done():
			return nil
		}
	}
}

// latency draws one of the keysend samples.
func (h *simHub) latency() time.Duration {
	n, err := rand.Int(rand.Reader, big.NewInt(int64(len(h.latencies))))
	if err != nil {
		return h.latencies[0]
	}
	return h.latencies[n.Int64()]
}

// settlesOf returns the payouts the node received, in order.
func (h *simHub) settlesOf(node route.Vertex) []settled {
	h.mu.Lock()
	defer h.mu.Unlock()
	return append([]settled(nil), h.settled[node]...)
}

// keysends counts the payments the hub was asked to send.
func (h *simHub) keysends() int {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.sent
}

var (
	_ lnrpc.LightningServer      = (*simHub)(nil)
	_ routerrpc.RouterServer     = (*simHub)(nil)
	_ invoicesrpc.InvoicesServer = (*simHub)(nil)
)
