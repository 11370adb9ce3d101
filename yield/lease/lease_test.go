package lease

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/btcsuite/btcd/btcec/v2"
	"github.com/btcsuite/btcd/btcutil"
	"github.com/lightningnetwork/lnd/clock"
	"github.com/lightningnetwork/lnd/routing/route"
	"github.com/sluice-ln/sluice/hubnode"
	"github.com/sluice-ln/sluice/ledger"
	"github.com/sluice-ln/sluice/yield"
)

// TestQuote checks the premium: integer, rounded up, with the floor, and
// overflow refused.
func TestQuote(t *testing.T) {
	t.Parallel()

	cases := []struct {
		name     string
		capacity btcutil.Amount
		blocks   uint32
		rate     uint64
		floor    ledger.MilliSatoshi
		want     ledger.MilliSatoshi
		err      error
	}{
		// 50,000 sat × 1000 × 100,000 ppb × 10 / 10⁹ = 50,000.
		{"exact", 50_000, 10, 100_000, 0, 50_000, nil},
		// 20,000,000 msat × 1 × 1 / 10⁹ = 0.02 → 1.
		{"rounded up", 20_000, 1, 1, 0, 1, nil},
		{"floor binds", 20_000, 1, 1, 1_000, 1_000, nil},
		{"floor below", 50_000, 10, 100_000, 5, 50_000, nil},
		{"zero rate is the floor", 50_000, 10, 0, 7, 7, nil},
		{"overflow", btcutil.MaxSatoshi, 1_000_000, 1 << 40, 0, 0,
			yield.ErrOverflow},
	}
	for _, c := range cases {
		got, err := Quote(c.capacity, c.blocks, c.rate, c.floor)
		switch {
		case c.err != nil && !errors.Is(err, c.err):
			t.Errorf("%s: err %v, want %v", c.name, err, c.err)
		case c.err == nil && (err != nil || got != c.want):
			t.Errorf("%s: %v, %v; want %v", c.name, got, err,
				c.want)
		}
	}
}

// TestRecognised checks the linear recognition: nothing before the
// start, rounded down between, all of it from the expiry on, and the
// increments summing to the premium.
func TestRecognised(t *testing.T) {
	t.Parallel()

	const premium = ledger.MilliSatoshi(1_000)
	cases := []struct {
		h    uint32
		want ledger.MilliSatoshi
	}{
		{99, 0}, {100, 0}, {101, 333}, {102, 666}, {103, 1_000},
		{200, 1_000},
	}
	for _, c := range cases {
		if got := Recognised(premium, 100, 3, c.h); got != c.want {
			t.Errorf("height %d: %v, want %v", c.h, got, c.want)
		}
	}
	var sum ledger.MilliSatoshi
	for h := uint32(101); h <= 107; h++ {
		sum += Recognised(7, 100, 7, h) - Recognised(7, 100, 7, h-1)
	}
	if sum != 7 {
		t.Errorf("increments sum to %v, want 7", sum)
	}
}

// TestStateMoves checks the allowed transitions.
func TestStateMoves(t *testing.T) {
	t.Parallel()

	ok := [][2]State{
		{StateAwaitingPayment, StatePaid},
		{StateAwaitingPayment, StateCancelled},
		{StatePaid, StateOpening}, {StatePaid, StateCancelled},
		{StateOpening, StateActive}, {StateOpening, StateFailed},
		{StateActive, StateExpired}, {StateActive, StateClosing},
		{StateExpired, StateClosing}, {StateClosing, StateClosed},
		{StateActive, StateActive},
	}
	for _, m := range ok {
		if !m[0].CanMoveTo(m[1]) {
			t.Errorf("%s → %s refused", m[0], m[1])
		}
	}
	bad := [][2]State{
		{StatePaid, StateActive}, {StateActive, StatePaid},
		{StateClosed, StateActive}, {StateFailed, StateOpening},
		{StateCancelled, StatePaid}, {StateActive, StateFailed},
		{State("nope"), State("nope")},
	}
	for _, m := range bad {
		if m[0].CanMoveTo(m[1]) {
			t.Errorf("%s → %s allowed", m[0], m[1])
		}
	}
}

// TestConfigValidate fills defaults and refuses what lnd or the lease
// cannot do.
func TestConfigValidate(t *testing.T) {
	t.Parallel()

	c := DefaultConfig()
	if err := c.Validate(); err != nil {
		t.Fatalf("defaults: %v", err)
	}
	bad := []func(*Config){
		func(c *Config) { c.MinCapacity = 19_999 },
		func(c *Config) { c.MaxCapacity = c.MinCapacity - 1 },
		func(c *Config) { c.MinBlocks = 0 },
		func(c *Config) { c.MaxBlocks = c.MinBlocks - 1 },
		func(c *Config) { c.RatePPB = 1_000_000_001 },
		func(c *Config) { c.Floor = -1 },
		func(c *Config) { c.InvoiceExpiry = 1500 * time.Millisecond },
		func(c *Config) { c.CltvExpiry = 26 },
	}
	for i, f := range bad {
		c := DefaultConfig()
		f(&c)
		if err := c.Validate(); !errors.Is(err, ErrInvalidConfig) {
			t.Errorf("case %d: %v, want ErrInvalidConfig", i, err)
		}
	}
}

// env is a strategy over fakes, with a vault of 1 BTC idle, a floor of
// 100,000 sat and a lease cap of 200,000 sat.
type env struct {
	t     *testing.T
	node  *fakeNode
	inv   *fakeInvoices
	store *memStore
	vault *fakeVault
	books *fakeBooks
	clock *clock.TestClock
	s     *Strategy
	buyer route.Vertex
	hooks []string
}

func newEnv(t *testing.T) *env {
	t.Helper()
	e := &env{t: t, node: newFakeNode(), inv: newFakeInvoices(),
		store: &memStore{}, books: newFakeBooks(),
		clock: clock.NewTestClock(time.Date(2026, 1, 2, 3, 4, 5, 0,
			time.UTC)),
		vault: &fakeVault{state: yield.State{
			Idle:  100_000_000_000,
			Floor: 100_000_000,
			Policy: yield.Policy{Caps: map[string]ledger.
				MilliSatoshi{Name: 200_000_000}},
			Strategies: map[string]ledger.MilliSatoshi{},
		}}}
	key, err := btcec.NewPrivateKey()
	if err != nil {
		t.Fatal(err)
	}
	e.buyer = route.NewVertex(key.PubKey())
	e.node.known[e.buyer] = true
	cfg := DefaultConfig()
	cfg.RatePPB = 100_000
	cfg.MinBlocks = 10
	cfg.Hook = func(name string) {
		e.hooks = append(e.hooks, name)
	}
	e.s, err = New(cfg, e.node, e.inv, e.store, e.vault, e.clock)
	if err != nil {
		t.Fatal(err)
	}
	return e
}

func (e *env) request(capacity btcutil.Amount, blocks uint32) Lease {
	e.t.Helper()
	l, err := e.s.Request(context.Background(), Request{
		Node: e.buyer.String(), Capacity: capacity, Blocks: blocks})
	if err != nil {
		e.t.Fatalf("request: %v", err)
	}
	return l
}

func (e *env) harvest() {
	e.t.Helper()
	if err := e.s.Harvest(context.Background(), e.books); err != nil {
		e.t.Fatalf("harvest: %v", err)
	}
}

func (e *env) lease(id string) Lease {
	e.t.Helper()
	l, err := e.s.Lease(context.Background(), id)
	if err != nil {
		e.t.Fatal(err)
	}
	return l
}

// propose plans with room of the cap and an unlimited budget.
func (e *env) propose() yield.Proposal {
	e.t.Helper()
	ctx := context.Background()
	obs, err := e.s.Observe(ctx)
	if err != nil {
		e.t.Fatal(err)
	}
	p, err := e.s.Propose(ctx, obs, yield.Room{New: 200_000_000,
		Unlimited: true})
	if err != nil {
		e.t.Fatal(err)
	}
	return p
}

func (e *env) execute(a yield.Action, id int64) yield.ActionOutcome {
	e.t.Helper()
	a.ID = id
	out, err := e.s.Execute(context.Background(), a, e.books)
	if err != nil {
		e.t.Fatalf("execute: %v", err)
	}
	return out
}

// TestRequestConnectedNode: a node the hub's graph does not know yet (no
// announcement gossiped) may order while it is connected to the hub: an
// LSPS1 client connects to its LSP before it orders.
func TestRequestConnectedNode(t *testing.T) {
	t.Parallel()

	e := newEnv(t)
	stranger := route.Vertex{2, 1}
	req := Request{Node: stranger.String(), Capacity: 50_000, Blocks: 10}
	if _, err := e.s.Request(context.Background(), req); !errors.Is(err,
		ErrUnknownPeer) {

		t.Fatalf("unknown, not connected: %v", err)
	}
	e.node.mu.Lock()
	e.node.connected[stranger] = true
	e.node.mu.Unlock()
	if _, err := e.s.Request(context.Background(), req); err != nil {
		t.Fatalf("connected: %v", err)
	}
}

// TestRequestRefusals checks each refusal is its own error and stores
// nothing.
func TestRequestRefusals(t *testing.T) {
	t.Parallel()

	e := newEnv(t)
	ctx := context.Background()
	stranger := route.Vertex{2, 1}
	cases := []struct {
		name string
		req  Request
		err  error
	}{
		{"small", Request{Node: e.buyer.String(), Capacity: 19_999,
			Blocks: 10}, ErrCapacityTooSmall},
		{"large", Request{Node: e.buyer.String(),
			Capacity: MaxChannelSize + 1, Blocks: 10},
			ErrCapacityTooLarge},
		{"few blocks", Request{Node: e.buyer.String(),
			Capacity: 50_000, Blocks: 9}, ErrBlocksOutOfRange},
		{"many blocks", Request{Node: e.buyer.String(),
			Capacity: 50_000, Blocks: DefaultMaxBlocks + 1},
			ErrBlocksOutOfRange},
		{"malformed node", Request{Node: "02zz", Capacity: 50_000,
			Blocks: 10}, ErrUnknownPeer},
		{"unknown node", Request{Node: stranger.String(),
			Capacity: 50_000, Blocks: 10}, ErrUnknownPeer},
		{"above cap", Request{Node: e.buyer.String(),
			Capacity: 200_001, Blocks: 10}, ErrNoRoom},
	}
	for _, c := range cases {
		_, err := e.s.Request(ctx, c.req)
		if !errors.Is(err, c.err) {
			t.Errorf("%s: %v, want %v", c.name, err, c.err)
		}
	}
	_, err := e.s.Request(ctx, Request{Node: e.buyer.String(),
		Capacity: 200_001, Blocks: 10})
	var limit *yield.LimitError
	if !errors.As(err, &limit) || limit.Have != 200_000_000 ||
		limit.Want != 200_001_000 {

		t.Errorf("above cap: %v, want a LimitError of 200000000 msat",
			err)
	}

	// The floor binds when the idle vault is short of it.
	e.vault.state.Idle = 150_000_000
	_, err = e.s.Request(ctx, Request{Node: e.buyer.String(),
		Capacity: 50_001, Blocks: 10})
	if !errors.As(err, &limit) || limit.Limit != "liquid floor less "+
		"leases sold" {

		t.Errorf("below floor: %v", err)
	}
	e.vault.state.Idle = 100_000_000_000

	// Leases sold count against the room.
	e.request(150_000, 10)
	if _, err := e.s.Request(ctx, Request{Node: e.buyer.String(),
		Capacity: 50_001, Blocks: 10}); !errors.Is(err, ErrNoRoom) {

		t.Errorf("room less sold: %v", err)
	}

	e.vault.killed = true
	if _, err := e.s.Request(ctx, Request{Node: e.buyer.String(),
		Capacity: 20_000, Blocks: 10}); !errors.Is(err, ErrKilled) {

		t.Errorf("killed: %v", err)
	}
	all, _ := e.s.Leases(ctx, Filter{})
	if len(all) != 1 {
		t.Errorf("%d leases stored, want the one sold", len(all))
	}
}

// TestRequestKeyAndPreimage checks the preimage is stored before the
// invoice is asked for, a failed invoice leaves the lease to be retried by
// its key, and the key returns the same lease or refuses another request.
func TestRequestKeyAndPreimage(t *testing.T) {
	t.Parallel()

	e := newEnv(t)
	ctx := context.Background()
	req := Request{Node: e.buyer.String(), Capacity: 50_000, Blocks: 10,
		Key: "k1"}
	e.inv.addErr = errors.New("lnd down")
	if _, err := e.s.Request(ctx, req); err == nil {
		t.Fatal("request with lnd down succeeded")
	}
	all, _ := e.s.Leases(ctx, Filter{})
	if len(all) != 1 || all[0].PayReq != "" ||
		all[0].Preimage.Hash() != all[0].Hash {

		t.Fatalf("after a failed invoice: %+v", all)
	}
	e.inv.addErr = nil
	l, err := e.s.Request(ctx, req)
	if err != nil || l.ID != all[0].ID || l.PayReq == "" {
		t.Fatalf("retried: %+v, %v", l, err)
	}
	if l.Premium != 50_000 || l.State != StateAwaitingPayment {
		t.Errorf("quoted %v in %s", l.Premium, l.State)
	}
	inv := e.inv.invoices[l.Hash].req
	if inv.Memo != "sluice lease "+l.ID || inv.CltvExpiry != 144 ||
		inv.Expiry != time.Hour || int64(inv.Amount) != 50_000 {

		t.Errorf("hold request %+v", inv)
	}
	again, err := e.s.Request(ctx, req)
	if err != nil || again.ID != l.ID || e.inv.adds != 1 {
		t.Errorf("same key: %+v, %v, %d invoices asked", again, err,
			e.inv.adds)
	}
	req.Capacity = 60_000
	if _, err := e.s.Request(ctx, req); !errors.Is(err, ErrKeyReused) {
		t.Errorf("key for another request: %v", err)
	}
}

// TestLeaseLifecycle follows a lease from its request to its capital's
// return: paid, accepted by a plan, opened once, settled when the funding
// confirms, its premium recognised block by block, closed at expiry, the
// fees posted and the capacity returned.
func TestLeaseLifecycle(t *testing.T) {
	t.Parallel()

	e := newEnv(t)
	ctx := context.Background()
	l := e.request(50_000, 10)

	// Nothing to plan before the payment.
	if p := e.propose(); len(p.Actions) != 0 {
		t.Fatalf("unpaid lease proposed: %+v", p)
	}
	e.inv.pay(t, l.Hash, l.Premium, int32(e.node.height+144))
	e.harvest()
	if got := e.lease(l.ID); got.State != StatePaid ||
		got.HTLCExpiry != e.node.height+144 {

		t.Fatalf("after payment: %s, expiry %d", got.State,
			got.HTLCExpiry)
	}
	obs, _ := e.s.Observe(ctx)
	if len(obs.Facts) != 1 || obs.Facts[0] != "paid:"+l.ID ||
		len(obs.Positions) != 0 {

		t.Errorf("observed %+v", obs)
	}

	p := e.propose()
	if len(p.Actions) != 1 {
		t.Fatalf("plan: %+v", p)
	}
	a := p.Actions[0]
	if a.Kind != yield.ActionLeaseAccept || a.Target != l.ID ||
		a.Amount != 50_000_000 || a.ExpectedCost != 250_000 ||
		a.Reason != "paid lease "+l.ID+": 50000 sat for 10 blocks, "+
			"premium 50000 msat" {

		t.Errorf("action %+v", a)
	}

	out := e.execute(a, 7)
	if out.Failed || out.Result == "" {
		t.Fatalf("execute: %+v", out)
	}
	// Again (the vault resuming): no second open.
	if again := e.execute(a, 7); again.Result != out.Result ||
		e.node.opens != 1 {

		t.Errorf("second execute: %+v, %d opens", again, e.node.opens)
	}
	// Another action on the same lease fails, and opens nothing.
	if other := e.execute(a, 8); !other.Failed || e.node.opens != 1 {
		t.Errorf("other action: %+v", other)
	}
	got := e.lease(l.ID)
	if got.State != StateOpening || got.ChanPoint != out.Result ||
		got.ActionID != 7 {

		t.Fatalf("after execute: %+v", got)
	}
	obs, _ = e.s.Observe(ctx)
	if len(obs.Positions) != 1 || obs.Positions[0].Principal !=
		50_000_000 || len(obs.Facts) != 0 {

		t.Errorf("observed while opening: %+v", obs)
	}

	// Unconfirmed: nothing moves, the payment stays held.
	e.harvest()
	if e.inv.state(l.Hash) != hubnode.HoldAccepted {
		t.Fatal("settled before the channel opened")
	}

	point := e.node.channels
	for p := range point {
		e.node.confirm(p)
	}
	start := e.node.height
	e.harvest()
	got = e.lease(l.ID)
	if got.State != StateActive || !got.Settled ||
		got.StartHeight != start || got.ExpiryHeight != start+10 ||
		e.inv.state(l.Hash) != hubnode.HoldSettled {

		t.Fatalf("after confirming: %+v", got)
	}
	openTxid := got.ChanPoint[:64]
	if e.books.costs[OpenCostKey(openTxid)] != 300_000 {
		t.Errorf("open cost %v", e.books.costs)
	}

	// Block by block: 5,000 msat a block.
	for i := uint32(1); i <= 4; i++ {
		e.node.mine(1)
		e.harvest()
		key := IncomeKey(l.ID, start+i)
		if e.books.income[key] != 5_000 {
			t.Fatalf("block %d: %v", i, e.books.income)
		}
	}
	e.harvest()
	if len(e.books.income) != 4 {
		t.Errorf("harvest at the same height posted again: %v",
			e.books.income)
	}
	// Several blocks at once, then past the expiry.
	e.node.mine(3)
	e.harvest()
	if e.books.income[IncomeKey(l.ID, start+7)] != 15_000 {
		t.Errorf("three blocks: %v", e.books.income)
	}
	e.node.mine(5)
	e.harvest()
	if e.books.incomeTotal() != l.Premium {
		t.Errorf("recognised %v, premium %v", e.books.incomeTotal(),
			l.Premium)
	}
	if _, ok := e.books.income[IncomeKey(l.ID, start+10)]; !ok {
		t.Errorf("the last step is not at the expiry height: %v",
			e.books.order)
	}
	got = e.lease(l.ID)
	if got.State != StateClosing || got.CloseTxid == "" ||
		len(e.node.closes) != 1 || e.node.closes[0].Force {

		t.Fatalf("after expiry: %+v, closes %+v", got, e.node.closes)
	}
	if len(e.books.returns) != 0 {
		t.Fatal("capital returned before the close confirmed")
	}

	for p := range point {
		e.node.closed(p)
	}
	e.harvest()
	got = e.lease(l.ID)
	if got.State != StateClosed || !got.Returned ||
		e.books.returns[ReturnKey(got.ChanPoint)] != 50_000_000 ||
		e.books.costs[CloseCostKey(got.CloseTxid)] != 200_000 {

		t.Fatalf("closed: %+v, returns %v, costs %v", got,
			e.books.returns, e.books.costs)
	}
	obs, _ = e.s.Observe(ctx)
	if len(obs.Positions) != 0 {
		t.Errorf("positions after close: %+v", obs.Positions)
	}
}

// TestOpenRefused cancels the hold invoice and fails the lease and the
// action when lnd refuses the open.
func TestOpenRefused(t *testing.T) {
	t.Parallel()

	e := newEnv(t)
	l := e.request(50_000, 10)
	e.inv.pay(t, l.Hash, l.Premium, int32(e.node.height+144))
	e.harvest()
	p := e.propose()
	e.node.openErr = hubnode.ErrOpenRefused
	out := e.execute(p.Actions[0], 3)
	if !out.Failed {
		t.Fatalf("outcome %+v", out)
	}
	got := e.lease(l.ID)
	if got.State != StateFailed || !got.InvoiceDone ||
		e.inv.state(l.Hash) != hubnode.HoldCanceled {

		t.Fatalf("after refusal: %+v, invoice %s", got,
			e.inv.state(l.Hash))
	}
	// Again: still failed, no open.
	e.node.openErr = nil
	if again := e.execute(p.Actions[0], 3); !again.Failed ||
		e.node.opens != 0 {

		t.Errorf("again: %+v, %d opens", again, e.node.opens)
	}
	e.harvest()
	if len(e.books.income)+len(e.books.costs)+len(e.books.returns) != 0 {
		t.Error("a failed lease posted something")
	}
}

// TestOpenUnknownOutcome leaves the action pending on an unclassified
// error and, after a crash past lnd's open, finds the channel by its memo.
func TestOpenUnknownOutcome(t *testing.T) {
	t.Parallel()

	e := newEnv(t)
	ctx := context.Background()
	l := e.request(50_000, 10)
	e.inv.pay(t, l.Hash, l.Premium, int32(e.node.height+144))
	e.harvest()
	a := e.propose().Actions[0]
	a.ID = 5

	e.node.openErr = errors.New("rpc error: connection reset")
	if _, err := e.s.Execute(ctx, a, e.books); err == nil {
		t.Fatal("unknown outcome gave no error")
	}
	if got := e.lease(l.ID); got.State != StateOpening ||
		e.inv.state(l.Hash) != hubnode.HoldAccepted {

		t.Fatalf("after unknown outcome: %s", got.State)
	}
	e.node.openErr = nil

	// A crash right after lnd opened: the point is not recorded.
	e.s.cfg.Hook = func(name string) {
		if name == FailpointOpenAfterCall {
			panic("crash")
		}
	}
	func() {
		defer func() { _ = recover() }()
		_, _ = e.s.Execute(ctx, a, e.books)
	}()
	e.s.cfg.Hook = nil
	if got := e.lease(l.ID); got.ChanPoint != "" || e.node.opens != 1 {
		t.Fatalf("after the crash: %+v, %d opens", got, e.node.opens)
	}
	// The harvest finds it by memo too; Execute again opens nothing.
	e.harvest()
	out := e.execute(a, 5)
	if out.Failed || out.Result == "" || e.node.opens != 1 ||
		e.lease(l.ID).ChanPoint != out.Result {

		t.Errorf("resumed: %+v, %d opens", out, e.node.opens)
	}
}

// TestPaidCancelledNearExpiry gives a paid lease's payment back when no
// plan accepted it within the safety margin, and Execute refuses one too
// close to it.
func TestPaidCancelledNearExpiry(t *testing.T) {
	t.Parallel()

	e := newEnv(t)
	l := e.request(50_000, 10)
	e.inv.pay(t, l.Hash, l.Premium, int32(e.node.height+40))
	e.harvest()
	a := e.propose().Actions[0]

	e.node.mine(15)
	// 115 + 20 + 6 ≥ 140: too late to open.
	if out := e.execute(a, 4); !out.Failed || e.node.opens != 0 {
		t.Fatalf("late execute: %+v", out)
	}
	if got := e.lease(l.ID); got.State != StatePaid {
		t.Fatalf("after a late execute: %s", got.State)
	}
	e.harvest()
	if got := e.lease(l.ID); got.State != StatePaid {
		t.Fatalf("cancelled too early: %s", got.State)
	}
	e.node.mine(5)
	e.harvest()
	got := e.lease(l.ID)
	if got.State != StateCancelled ||
		e.inv.state(l.Hash) != hubnode.HoldCanceled {

		t.Fatalf("at the margin: %+v", got)
	}
}

// TestInvoiceExpiredUnpaid cancels a lease whose invoice expired.
func TestInvoiceExpiredUnpaid(t *testing.T) {
	t.Parallel()

	e := newEnv(t)
	l := e.request(50_000, 10)
	e.harvest()
	if got := e.lease(l.ID); got.State != StateAwaitingPayment {
		t.Fatalf("before expiry: %s", got.State)
	}
	e.clock.SetTime(e.clock.Now().Add(time.Hour))
	e.harvest()
	got := e.lease(l.ID)
	if got.State != StateCancelled || !got.InvoiceDone ||
		e.inv.state(l.Hash) != hubnode.HoldCanceled {

		t.Fatalf("after expiry: %+v", got)
	}
}

// TestEarlyClose recognises all of the premium when the peer closes the
// channel before the expiry, and returns the capital.
func TestEarlyClose(t *testing.T) {
	t.Parallel()

	e := newEnv(t)
	l := e.request(50_000, 10)
	e.inv.pay(t, l.Hash, l.Premium, int32(e.node.height+144))
	e.harvest()
	e.execute(e.propose().Actions[0], 1)
	for p := range e.node.channels {
		e.node.confirm(p)
	}
	e.harvest()
	e.node.mine(2)
	e.harvest()
	for p := range e.node.channels {
		e.node.closed(p)
	}
	e.harvest()
	got := e.lease(l.ID)
	if got.State != StateClosed || e.books.incomeTotal() != l.Premium ||
		len(e.books.returns) != 1 || len(e.node.closes) != 0 {

		t.Fatalf("early close: %+v, income %v, returns %v", got,
			e.books.income, e.books.returns)
	}
}

// TestCloseForcedWhenPeerOffline closes cooperatively while it can and
// forces the close ForceCloseAfter blocks past the expiry.
func TestCloseForcedWhenPeerOffline(t *testing.T) {
	t.Parallel()

	e := newEnv(t)
	l := e.request(50_000, 10)
	e.inv.pay(t, l.Hash, l.Premium, int32(e.node.height+144))
	e.harvest()
	e.execute(e.propose().Actions[0], 1)
	for p := range e.node.channels {
		e.node.confirm(p)
	}
	e.harvest()
	e.node.mine(10)
	e.node.closeErr = hubnode.ErrPeerUnreachable
	e.harvest()
	if got := e.lease(l.ID); got.State != StateExpired {
		t.Fatalf("buyer offline: %s", got.State)
	}
	e.node.closeErr = nil
	e.node.mine(144)
	e.harvest()
	if got := e.lease(l.ID); got.State != StateClosing ||
		len(e.node.closes) != 1 || !e.node.closes[0].Force {

		t.Fatalf("forced: %+v, %+v", got, e.node.closes)
	}
}

// TestProposeLeavesOut leaves paid leases out for room, budget and the
// kill switch.
func TestProposeLeavesOut(t *testing.T) {
	t.Parallel()

	e := newEnv(t)
	ctx := context.Background()
	l1 := e.request(50_000, 10)
	l2 := e.request(60_000, 10)
	for _, l := range []Lease{l1, l2} {
		e.inv.pay(t, l.Hash, l.Premium, int32(e.node.height+144))
	}
	e.harvest()
	obs, _ := e.s.Observe(ctx)

	p, err := e.s.Propose(ctx, obs, yield.Room{New: 55_000_000,
		Unlimited: true})
	if err != nil || len(p.Actions) != 1 || p.Actions[0].Target != l1.ID ||
		len(p.LeftOut) != 1 || p.LeftOut[0].Target != l2.ID {

		t.Errorf("room: %+v, %v", p, err)
	}
	p, _ = e.s.Propose(ctx, obs, yield.Room{New: 200_000_000,
		Budget: 300_000})
	if len(p.Actions) != 1 || len(p.LeftOut) != 1 {
		t.Errorf("budget: %+v", p)
	}
	p, _ = e.s.Propose(ctx, obs, yield.Room{Killed: true})
	if len(p.Actions) != 0 || len(p.LeftOut) != 2 {
		t.Errorf("killed: %+v", p)
	}
}
