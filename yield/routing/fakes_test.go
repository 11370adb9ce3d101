package routing_test

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"sync"
	"testing"

	"github.com/btcsuite/btcd/btcutil"
	"github.com/btcsuite/btcd/chaincfg/chainhash"
	"github.com/btcsuite/btcd/wire"
	"github.com/lightningnetwork/lnd/lnwire"
	"github.com/lightningnetwork/lnd/routing/route"
	"github.com/sluice-ln/sluice/hubnode"
	"github.com/sluice-ln/sluice/ledger"
	"github.com/sluice-ln/sluice/lightning"
	"github.com/sluice-ln/sluice/yield"
	"github.com/sluice-ln/sluice/yield/routing"
)

// fakeNode is the hub's lnd in memory: its channels by point, the
// graph's nodes, policies, wallet transactions and forwarding log.
type fakeNode struct {
	mu sync.Mutex

	chans  map[wire.OutPoint]*hubnode.ChannelState
	known  map[route.Vertex]bool
	policy map[uint64]hubnode.Policy
	txs    map[chainhash.Hash]hubnode.TxInfo

	// forwards is the log, oldest first; pageSize caps a page.
	forwards []hubnode.Forward
	pageSize int

	// fee is what EstimateOpenFee answers, per call amount ignored.
	fee btcutil.Amount

	// openErr, closeErr and policyErr are returned by the next call
	// of each, then cleared; byMemoErr by every ByMemo while set.
	openErr, closeErr, policyErr, byMemoErr error

	// policyReadErr is returned by every Policy while set.
	policyReadErr error

	// opens, closes and sets count the calls that did something;
	// lastOpen and lastPolicy are the last such calls' requests.
	opens, closes, sets int

	// openCalls counts every Open call, refused or not.
	openCalls  int
	lastOpen   hubnode.OpenRequest
	lastPolicy hubnode.Policy
	nextTx     byte
}

func newFakeNode() *fakeNode {
	return &fakeNode{
		chans:    make(map[wire.OutPoint]*hubnode.ChannelState),
		known:    make(map[route.Vertex]bool),
		policy:   make(map[uint64]hubnode.Policy),
		txs:      make(map[chainhash.Hash]hubnode.TxInfo),
		pageSize: hubnode.MaxForwardsPage,
		fee:      1500,
	}
}

var _ routing.Node = (*fakeNode)(nil)

func (n *fakeNode) txid() chainhash.Hash {
	n.nextTx++
	return chainhash.Hash{0xab, n.nextTx}
}

func (n *fakeNode) Open(_ context.Context, req hubnode.OpenRequest) (
	wire.OutPoint, error) {

	n.mu.Lock()
	defer n.mu.Unlock()
	n.openCalls++
	if err := n.openErr; err != nil {
		n.openErr = nil
		return wire.OutPoint{}, err
	}
	for _, c := range n.chans {
		if c.Memo == req.Memo {
			return c.Point, hubnode.ErrMemoInUse
		}
	}
	n.opens++
	n.lastOpen = req
	point := wire.OutPoint{Hash: n.txid(), Index: 1}
	n.chans[point] = &hubnode.ChannelState{Point: point,
		Peer: req.Peer, Status: hubnode.StatusPendingOpen,
		Capacity: req.Amount, Memo: req.Memo}
	n.txs[point.Hash] = hubnode.TxInfo{Fee: 900, FeeKnown: true}
	return point, nil
}

func (n *fakeNode) ByMemo(_ context.Context, memo string) (
	hubnode.ChannelState, bool, error) {

	n.mu.Lock()
	defer n.mu.Unlock()
	if n.byMemoErr != nil {
		return hubnode.ChannelState{}, false, n.byMemoErr
	}
	for _, c := range n.chans {
		if c.Memo == memo && c.Status != hubnode.StatusClosed {
			return *c, true, nil
		}
	}
	return hubnode.ChannelState{}, false, nil
}

func (n *fakeNode) ByPoint(_ context.Context, point wire.OutPoint) (
	hubnode.ChannelState, error) {

	n.mu.Lock()
	defer n.mu.Unlock()
	if c, ok := n.chans[point]; ok {
		return *c, nil
	}
	return hubnode.ChannelState{Point: point,
		Status: hubnode.StatusUnknown}, nil
}

func (n *fakeNode) Close(_ context.Context, point wire.OutPoint,
	_ hubnode.CloseRequest) (chainhash.Hash, error) {

	n.mu.Lock()
	defer n.mu.Unlock()
	if err := n.closeErr; err != nil {
		n.closeErr = nil
		return chainhash.Hash{}, err
	}
	c, ok := n.chans[point]
	if !ok {
		return chainhash.Hash{}, hubnode.ErrChannelNotFound
	}
	if c.CloseTxid != nil {
		return *c.CloseTxid, nil
	}
	n.closes++
	txid := n.txid()
	c.CloseTxid = &txid
	c.Status = hubnode.StatusClosing
	n.txs[txid] = hubnode.TxInfo{Fee: 400, FeeKnown: true}
	return txid, nil
}

func (n *fakeNode) TxFee(_ context.Context, txid chainhash.Hash) (
	hubnode.TxInfo, error) {

	n.mu.Lock()
	defer n.mu.Unlock()
	info, ok := n.txs[txid]
	if !ok {
		return hubnode.TxInfo{}, fmt.Errorf("tx %v: %w", txid,
			hubnode.ErrTxNotFound)
	}
	return info, nil
}

func (n *fakeNode) EstimateOpenFee(_ context.Context, _ btcutil.Amount,
	_ int32) (btcutil.Amount, error) {

	return n.fee, nil
}

func (n *fakeNode) SetPolicy(_ context.Context, point wire.OutPoint,
	p hubnode.Policy) error {

	n.mu.Lock()
	defer n.mu.Unlock()
	if err := n.policyErr; err != nil {
		n.policyErr = nil
		return err
	}
	c, ok := n.chans[point]
	if !ok {
		return hubnode.ErrChannelNotFound
	}
	n.sets++
	n.lastPolicy = p
	n.policy[c.ShortChanID] = p
	return nil
}

func (n *fakeNode) Policy(_ context.Context, scid uint64) (
	hubnode.Policy, error) {

	n.mu.Lock()
	defer n.mu.Unlock()
	if n.policyReadErr != nil {
		return hubnode.Policy{}, n.policyReadErr
	}
	p, ok := n.policy[scid]
	if !ok {
		return hubnode.Policy{}, hubnode.ErrChannelNotFound
	}
	return p, nil
}

// Page reads the log as lnd does: the series of forwards out of the
// filter's channels at or after Start, numbered from 1.
func (n *fakeNode) Page(_ context.Context, q hubnode.ForwardQuery) (
	hubnode.ForwardPage, error) {

	n.mu.Lock()
	defer n.mu.Unlock()
	var series []hubnode.Forward
	for _, f := range n.forwards {
		if f.Time.Unix() < q.Start.Unix() {
			continue
		}
		if len(q.OutgoingChanIDs) > 0 &&
			f.ChanOut != q.OutgoingChanIDs[0] {

			continue
		}
		f.Index = uint64(len(series)) + 1
		series = append(series, f)
	}
	page := hubnode.ForwardPage{NextOffset: q.Offset}
	for _, f := range series {
		if f.Index <= q.Offset {
			continue
		}
		if len(page.Forwards) == n.pageSize {
			break
		}
		page.Forwards = append(page.Forwards, f)
	}
	page.NextOffset = q.Offset + uint64(len(page.Forwards))
	page.Full = len(page.Forwards) == n.pageSize
	return page, nil
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

// confirm moves the channel at point to open with scid, and confirms its
// funding transaction.
func (n *fakeNode) confirm(point wire.OutPoint, scid uint64,
	p hubnode.Policy) {

	n.mu.Lock()
	defer n.mu.Unlock()
	c := n.chans[point]
	c.Status = hubnode.StatusOpen
	c.ShortChanID = scid
	c.OpenHeight = uint32(scid >> 40)
	n.policy[scid] = p
	info := n.txs[point.Hash]
	info.Confirmations, info.Height = 1, int32(scid>>40)
	n.txs[point.Hash] = info
}

// closed marks the channel closed, and its closing transaction confirmed
// when the wallet knows it.
func (n *fakeNode) closed(point wire.OutPoint) {
	n.mu.Lock()
	defer n.mu.Unlock()
	c := n.chans[point]
	c.Status = hubnode.StatusClosed
	c.Memo = ""
	if c.CloseTxid == nil {
		txid := n.txid()
		c.CloseTxid = &txid
	}
	if info, ok := n.txs[*c.CloseTxid]; ok {
		info.Confirmations = 1
		n.txs[*c.CloseTxid] = info
	}
}

// forward logs forwards out of scid with the fees given.
func (n *fakeNode) forward(scid uint64, fees ...hubnode.Forward) {
	n.mu.Lock()
	defer n.mu.Unlock()
	for _, f := range fees {
		f.ChanOut = scid
		n.forwards = append(n.forwards, f)
	}
}

// fakeStore keeps the strategy's rows in memory with the store's rules.
type fakeStore struct {
	mu   sync.Mutex
	rows []routing.Channel
}

var _ routing.Store = (*fakeStore)(nil)

func (s *fakeStore) InsertRoutingChannel(_ context.Context,
	ch routing.Channel) (routing.Channel, error) {

	s.mu.Lock()
	defer s.mu.Unlock()
	for _, r := range s.rows {
		if r.ActionID == ch.ActionID {
			return r, nil
		}
	}
	s.rows = append(s.rows, ch)
	return ch, nil
}

func (s *fakeStore) RoutingChannels(context.Context) ([]routing.Channel,
	error) {

	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]routing.Channel(nil), s.rows...), nil
}

func (s *fakeStore) UpdateRoutingChannel(_ context.Context,
	ch routing.Channel) error {

	s.mu.Lock()
	defer s.mu.Unlock()
	for i := range s.rows {
		r := &s.rows[i]
		if r.ActionID != ch.ActionID {
			continue
		}
		if r.ChanPoint == "" {
			r.ChanPoint = ch.ChanPoint
		}
		if r.OpenTxid == "" {
			r.OpenTxid = ch.OpenTxid
		}
		if r.CloseTxid == "" {
			r.CloseTxid = ch.CloseTxid
		}
		r.Status = ch.Status
		r.ShortChanID = ch.ShortChanID
		r.OpenHeight = ch.OpenHeight
		r.OpenCostPosted = r.OpenCostPosted || ch.OpenCostPosted
		r.CloseCostPosted = r.CloseCostPosted || ch.CloseCostPosted
		r.Returned = r.Returned || ch.Returned
		r.UpdatedAt = ch.UpdatedAt
		return nil
	}
	return routing.ErrChannelNotFound
}

// posting is one line the books took.
type posting struct {
	kind string
	key  string
	desc string
	amt  ledger.MilliSatoshi
}

// fakeBooks is the vault's books in memory: postings by key, each once,
// and the cursors, an income and its cursor set together or not at all.
type fakeBooks struct {
	mu       sync.Mutex
	postings []posting
	keys     map[string]bool
	cursors  map[string]string

	// failIncome makes the next Income fail before anything is kept,
	// as a crash before the commit would.
	failIncome bool
}

func newFakeBooks() *fakeBooks {
	return &fakeBooks{keys: make(map[string]bool),
		cursors: make(map[string]string)}
}

var _ yield.Books = (*fakeBooks)(nil)

func (b *fakeBooks) post(kind, key, desc string, amt ledger.MilliSatoshi) {
	if b.keys[key] || amt == 0 {
		return
	}
	b.keys[key] = true
	b.postings = append(b.postings, posting{kind, key, desc, amt})
}

func (b *fakeBooks) Income(_ context.Context, key, desc string,
	amt ledger.MilliSatoshi, c yield.Cursor) error {

	b.mu.Lock()
	defer b.mu.Unlock()
	if b.failIncome {
		b.failIncome = false
		return errors.New("crash before the commit")
	}
	b.post("income", key, desc, amt)
	if c.Name != "" {
		b.cursors[c.Name] = c.Value
	}
	return nil
}

func (b *fakeBooks) Cursor(_ context.Context, name string) (string, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.cursors[name], nil
}

func (b *fakeBooks) Cost(_ context.Context, key, desc string,
	amt ledger.MilliSatoshi) error {

	b.mu.Lock()
	defer b.mu.Unlock()
	b.post("cost", key, desc, amt)
	return nil
}

func (b *fakeBooks) Return(_ context.Context, key, desc string,
	amt ledger.MilliSatoshi) error {

	b.mu.Lock()
	defer b.mu.Unlock()
	b.post("return", key, desc, amt)
	return nil
}

// total sums the postings of kind.
func (b *fakeBooks) total(kind string) ledger.MilliSatoshi {
	b.mu.Lock()
	defer b.mu.Unlock()
	var sum ledger.MilliSatoshi
	for _, p := range b.postings {
		if p.kind == kind {
			sum += p.amt
		}
	}
	return sum
}

// keysOf lists the keys of kind's postings, sorted.
func (b *fakeBooks) keysOf(kind string) []string {
	b.mu.Lock()
	defer b.mu.Unlock()
	var out []string
	for _, p := range b.postings {
		if p.kind == kind {
			out = append(out, p.key)
		}
	}
	sort.Strings(out)
	return out
}

// mustNoErr fails the test on err.
func mustNoErr(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

// lnwireMsat is n msat as lnd counts them.
func lnwireMsat(n uint64) lnwire.MilliSatoshi { return lnwire.MilliSatoshi(n) }
