package lease

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"testing"

	"github.com/btcsuite/btcd/btcutil"
	"github.com/btcsuite/btcd/chaincfg/chainhash"
	"github.com/btcsuite/btcd/wire"
	"github.com/lightningnetwork/lnd/lntypes"
	"github.com/lightningnetwork/lnd/lnwire"
	"github.com/lightningnetwork/lnd/routing/route"
	"github.com/sluice-ln/sluice/hubnode"
	"github.com/sluice-ln/sluice/ledger"
	"github.com/sluice-ln/sluice/lightning"
	"github.com/sluice-ln/sluice/yield"
)

// fakeNode is the hub's lnd: channels by point, a graph of known nodes, a
// height, and the errors a test wants its calls to give.
type fakeNode struct {
	mu     sync.Mutex
	height uint32
	known  map[route.Vertex]bool
	// connected are the nodes the hub is connected to now.
	connected map[route.Vertex]bool
	channels  map[wire.OutPoint]*hubnode.ChannelState
	fees      map[chainhash.Hash]hubnode.TxInfo
	opens     int
	closes    []hubnode.CloseRequest
	openErr   error
	closeErr  error
	nextTx    byte
}

func newFakeNode() *fakeNode {
	return &fakeNode{height: 100, known: map[route.Vertex]bool{},
		connected: map[route.Vertex]bool{},
		channels:  map[wire.OutPoint]*hubnode.ChannelState{},
		fees:      map[chainhash.Hash]hubnode.TxInfo{}}
}

func (n *fakeNode) tx() chainhash.Hash {
	n.nextTx++
	var h chainhash.Hash
	h[0] = n.nextTx
	return h
}

func (n *fakeNode) Open(_ context.Context, req hubnode.OpenRequest) (
	wire.OutPoint, error) {

	n.mu.Lock()
	defer n.mu.Unlock()
	if n.openErr != nil {
		return wire.OutPoint{}, n.openErr
	}
	for _, c := range n.channels {
		if c.Memo == req.Memo && c.Status != hubnode.StatusClosed {
			return c.Point, fmt.Errorf("%w", hubnode.ErrMemoInUse)
		}
	}
	n.opens++
	p := wire.OutPoint{Hash: n.tx(), Index: 1}
	n.channels[p] = &hubnode.ChannelState{Point: p, Peer: req.Peer,
		Status: hubnode.StatusPendingOpen, Capacity: req.Amount,
		Memo: req.Memo}
	n.fees[p.Hash] = hubnode.TxInfo{Fee: 300, FeeKnown: true}
	return p, nil
}

func (n *fakeNode) ByMemo(_ context.Context, memo string) (
	hubnode.ChannelState, bool, error) {

	n.mu.Lock()
	defer n.mu.Unlock()
	for _, c := range n.channels {
		if c.Memo == memo && c.Status != hubnode.StatusClosed {
			return *c, true, nil
		}
	}
	return hubnode.ChannelState{}, false, nil
}

func (n *fakeNode) ByPoint(_ context.Context, p wire.OutPoint) (
	hubnode.ChannelState, error) {

	n.mu.Lock()
	defer n.mu.Unlock()
	if c, ok := n.channels[p]; ok {
		return *c, nil
	}
	return hubnode.ChannelState{Point: p,
		Status: hubnode.StatusUnknown}, nil
}

func (n *fakeNode) Close(_ context.Context, p wire.OutPoint,
	req hubnode.CloseRequest) (chainhash.Hash, error) {

	n.mu.Lock()
	defer n.mu.Unlock()
	if n.closeErr != nil {
		return chainhash.Hash{}, n.closeErr
	}
	c, ok := n.channels[p]
	if !ok {
		return chainhash.Hash{}, hubnode.ErrChannelNotFound
	}
	n.closes = append(n.closes, req)
	if c.CloseTxid != nil {
		return *c.CloseTxid, nil
	}
	txid := n.tx()
	c.CloseTxid = &txid
	c.Status = hubnode.StatusClosing
	n.fees[txid] = hubnode.TxInfo{Fee: 200, FeeKnown: true}
	return txid, nil
}

func (n *fakeNode) TxFee(_ context.Context, txid chainhash.Hash) (
	hubnode.TxInfo, error) {

	n.mu.Lock()
	defer n.mu.Unlock()
	info, ok := n.fees[txid]
	if !ok {
		return hubnode.TxInfo{}, hubnode.ErrTxNotFound
	}
	return info, nil
}

func (n *fakeNode) EstimateOpenFee(_ context.Context, amt btcutil.Amount,
	_ int32) (btcutil.Amount, error) {

	return 250, nil
}

func (n *fakeNode) NodeInfo(_ context.Context, v route.Vertex) (
	lightning.NodeInfo, error) {

	n.mu.Lock()
	defer n.mu.Unlock()
	if !n.known[v] {
		return lightning.NodeInfo{}, lightning.ErrNodeNotFound
	}
	return lightning.NodeInfo{Channels: 1}, nil
}

func (n *fakeNode) Connected(_ context.Context, v route.Vertex) (bool,
	error) {

	n.mu.Lock()
	defer n.mu.Unlock()
	return n.connected[v], nil
}

func (n *fakeNode) BestHeight(context.Context) (uint32, error) {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.height, nil
}

// confirm confirms the channel at the node's current height.
func (n *fakeNode) confirm(p wire.OutPoint) {
	n.mu.Lock()
	defer n.mu.Unlock()
	c := n.channels[p]
	c.Status = hubnode.StatusOpen
	c.OpenHeight = n.height
}

// closed marks the channel closed (its close confirmed), closing it first
// with a txid when the peer closed it.
func (n *fakeNode) closed(p wire.OutPoint) {
	n.mu.Lock()
	defer n.mu.Unlock()
	c := n.channels[p]
	if c.CloseTxid == nil {
		txid := n.tx()
		c.CloseTxid = &txid
		n.fees[txid] = hubnode.TxInfo{Fee: 200, FeeKnown: true}
	}
	c.Status = hubnode.StatusClosed
	c.CloseHeight = n.height
}

func (n *fakeNode) mine(blocks uint32) {
	n.mu.Lock()
	defer n.mu.Unlock()
	n.height += blocks
}

// fakeInvoices is the hub's hold invoices.
type fakeInvoices struct {
	mu       sync.Mutex
	invoices map[lntypes.Hash]*fakeInvoice
	addErr   error
	adds     int
}

type fakeInvoice struct {
	req   hubnode.HoldRequest
	state hubnode.HoldState
}

func newFakeInvoices() *fakeInvoices {
	return &fakeInvoices{invoices: map[lntypes.Hash]*fakeInvoice{}}
}

func (f *fakeInvoices) AddHold(_ context.Context,
	req hubnode.HoldRequest) (string, error) {

	f.mu.Lock()
	defer f.mu.Unlock()
	if f.addErr != nil {
		return "", f.addErr
	}
	f.adds++
	if _, ok := f.invoices[req.Hash]; !ok {
		f.invoices[req.Hash] = &fakeInvoice{req: req,
			state: hubnode.HoldState{State: hubnode.HoldOpen}}
	}
	return "lnbcrt" + req.Hash.String()[:16], nil
}

func (f *fakeInvoices) State(_ context.Context, h lntypes.Hash) (
	hubnode.HoldState, error) {

	f.mu.Lock()
	defer f.mu.Unlock()
	inv, ok := f.invoices[h]
	if !ok {
		return hubnode.HoldState{}, lightning.ErrInvoiceNotFound
	}
	return inv.state, nil
}

func (f *fakeInvoices) Settle(_ context.Context, p lntypes.Preimage) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	inv, ok := f.invoices[p.Hash()]
	switch {
	case !ok:
		return lightning.ErrInvoiceNotFound
	case inv.state.State == hubnode.HoldCanceled:
		return hubnode.ErrInvoiceCanceled
	case inv.state.State == hubnode.HoldOpen:
		return hubnode.ErrHoldNotAccepted
	}
	inv.state.State = hubnode.HoldSettled
	inv.state.HTLCExpiry = 0
	return nil
}

func (f *fakeInvoices) Cancel(_ context.Context, h lntypes.Hash) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	inv, ok := f.invoices[h]
	switch {
	case !ok:
		return lightning.ErrInvoiceNotFound
	case inv.state.State == hubnode.HoldSettled:
		return lightning.ErrInvoiceSettled
	}
	inv.state = hubnode.HoldState{State: hubnode.HoldCanceled}
	return nil
}

// pay holds a payment of amt for the invoice, its HTLC expiring at
// expiry.
func (f *fakeInvoices) pay(t *testing.T, h lntypes.Hash,
	amt ledger.MilliSatoshi, expiry int32) {

	t.Helper()
	f.mu.Lock()
	defer f.mu.Unlock()
	inv, ok := f.invoices[h]
	if !ok {
		t.Fatalf("pay: no invoice %v", h)
	}
	inv.state = hubnode.HoldState{State: hubnode.HoldAccepted,
		AmountPaid: lnwire.MilliSatoshi(amt), HTLCExpiry: expiry}
}

func (f *fakeInvoices) state(h lntypes.Hash) lightning.InvoiceState {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.invoices[h].state.State
}

// memStore keeps leases in memory as the store does.
type memStore struct {
	mu     sync.Mutex
	leases []Lease
}

func (m *memStore) InsertLease(_ context.Context, l Lease) (Lease, bool,
	error) {

	m.mu.Lock()
	defer m.mu.Unlock()
	for _, x := range m.leases {
		if l.Key != "" && x.Key == l.Key {
			return x, false, nil
		}
		if x.ID == l.ID {
			return Lease{}, false, fmt.Errorf("id %s exists", l.ID)
		}
	}
	m.leases = append(m.leases, l)
	return l, true, nil
}

func (m *memStore) Lease(_ context.Context, id string) (Lease, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	for _, x := range m.leases {
		if x.ID == id {
			return x, nil
		}
	}
	return Lease{}, ErrLeaseNotFound
}

func (m *memStore) LeaseByKey(_ context.Context, key string) (Lease,
	error) {

	m.mu.Lock()
	defer m.mu.Unlock()
	for _, x := range m.leases {
		if x.Key == key {
			return x, nil
		}
	}
	return Lease{}, ErrLeaseNotFound
}

func (m *memStore) Leases(_ context.Context, f Filter) ([]Lease, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	var out []Lease
	for _, x := range m.leases {
		if len(f.States) > 0 && !slices.Contains(f.States, x.State) {
			continue
		}
		if f.Node != nil && *f.Node != x.Node {
			continue
		}
		out = append(out, x)
	}
	return out, nil
}

func (m *memStore) UpdateLease(_ context.Context, l Lease,
	from State) error {

	m.mu.Lock()
	defer m.mu.Unlock()
	for i, x := range m.leases {
		if x.ID != l.ID {
			continue
		}
		if x.State != from {
			return ErrStateChanged
		}
		// What does not change stays as stored.
		l.Key, l.Node, l.Capacity, l.Blocks = x.Key, x.Node,
			x.Capacity, x.Blocks
		l.RatePPB, l.Premium, l.Preimage, l.Hash = x.RatePPB,
			x.Premium, x.Preimage, x.Hash
		l.CreatedAt, l.InvoiceExpiresAt = x.CreatedAt,
			x.InvoiceExpiresAt
		m.leases[i] = l
		return nil
	}
	return ErrLeaseNotFound
}

// fakeVault is the vault's state and settings.
type fakeVault struct {
	state  yield.State
	killed bool
}

func (v *fakeVault) State(context.Context) (yield.State, error) {
	return v.state, nil
}

func (v *fakeVault) StrategySettingsAll(context.Context) (
	map[string]yield.StrategySettings, error) {

	return map[string]yield.StrategySettings{
		Name: {Strategy: Name, Killed: v.killed},
	}, nil
}

// fakeBooks records the postings, each key once, and the cursors.
type fakeBooks struct {
	income  map[string]ledger.MilliSatoshi
	costs   map[string]ledger.MilliSatoshi
	returns map[string]ledger.MilliSatoshi
	cursors map[string]string
	order   []string
}

func newFakeBooks() *fakeBooks {
	return &fakeBooks{income: map[string]ledger.MilliSatoshi{},
		costs:   map[string]ledger.MilliSatoshi{},
		returns: map[string]ledger.MilliSatoshi{},
		cursors: map[string]string{}}
}

func (b *fakeBooks) Income(_ context.Context, key, _ string,
	amt ledger.MilliSatoshi, c yield.Cursor) error {

	if _, ok := b.income[key]; !ok && amt > 0 {
		b.income[key] = amt
		b.order = append(b.order, key)
	}
	if c.Name != "" {
		b.cursors[c.Name] = c.Value
	}
	return nil
}

func (b *fakeBooks) Cursor(_ context.Context, name string) (string, error) {
	return b.cursors[name], nil
}

func (b *fakeBooks) Cost(_ context.Context, key, _ string,
	amt ledger.MilliSatoshi) error {

	if _, ok := b.costs[key]; !ok {
		b.costs[key] = amt
	}
	return nil
}

func (b *fakeBooks) Return(_ context.Context, key, _ string,
	amt ledger.MilliSatoshi) error {

	if _, ok := b.returns[key]; !ok {
		b.returns[key] = amt
	}
	return nil
}

func (b *fakeBooks) incomeTotal() ledger.MilliSatoshi {
	var sum ledger.MilliSatoshi
	for _, v := range b.income {
		sum += v
	}
	return sum
}
