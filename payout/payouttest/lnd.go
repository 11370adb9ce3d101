// Package payouttest fakes the hub's lnd for payout's unit tests: a router
// that, like lnd, takes at most one payment per hash, and a route finder
// with a set capacity per node.
package payouttest

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"

	"github.com/lightningnetwork/lnd/lntypes"
	"github.com/lightningnetwork/lnd/lnwire"
	"github.com/lightningnetwork/lnd/record"
	"github.com/lightningnetwork/lnd/routing/route"
	"github.com/sluice-ln/sluice/lightning"
)

// ErrStreamBroke is what the fake returns when a script says the stream
// breaks: the outcome is unknown to the caller.
var ErrStreamBroke = errors.New("payouttest: stream broke")

// Step says what the fake lnd does with one SendKeysend call.
type Step int

const (
	// Succeed records the payment and reports it succeeded.
	Succeed Step = iota

	// Fail records the payment and reports it failed with no route.
	Fail

	// Refuse answers before recording anything, with
	// lightning.ErrPaymentRefused.
	Refuse

	// Drop breaks the stream before lnd records the payment: the caller
	// gets ErrStreamBroke and lnd has nothing.
	Drop

	// HangSucceed records the payment, then breaks the stream; the
	// payment succeeds when it is next tracked.
	HangSucceed

	// HangFail records the payment, then breaks the stream; the payment
	// fails when it is next tracked.
	HangFail
)

// String names the step.
func (s Step) String() string {
	switch s {
	case Succeed:
		return "succeed"
	case Fail:
		return "fail"
	case Refuse:
		return "refuse"
	case Drop:
		return "drop"
	case HangSucceed:
		return "hang-succeed"
	case HangFail:
		return "hang-fail"
	}
	return fmt.Sprintf("step(%d)", int(s))
}

// Status is a payment's state in the fake lnd.
type Status int

const (
	// InFlight is a payment lnd has and has not resolved.
	InFlight Status = iota

	// Succeeded is a payment lnd paid.
	Succeeded

	// Failed is a payment lnd gave up on.
	Failed
)

// Payment is one payment the fake lnd has.
type Payment struct {
	Keysend lightning.Keysend
	Status  Status
	Fee     lnwire.MilliSatoshi

	// eventual is what a hanging payment becomes when tracked.
	eventual Status
}

// Lnd is the fake router. Its zero value is not usable; make one with New.
type Lnd struct {
	t testing.TB

	mu       sync.Mutex
	payments map[lntypes.Hash]*Payment
	order    []lntypes.Hash
	script   []Step
	sends    int
	tracks   int

	// fee is what a succeeded payment reports as its routing fee,
	// capped at its fee limit.
	fee lnwire.MilliSatoshi

	// trackBreaks is how many Track calls to answer with
	// ErrStreamBroke before answering.
	trackBreaks int

	// routeMax caps what a route to a node carries; absent: no limit.
	// direct marks nodes with a direct zero-fee channel from the hub;
	// routes to others take two hops and a fee.
	routeMax map[route.Vertex]lnwire.MilliSatoshi
	direct   map[route.Vertex]bool
	channels map[route.Vertex][]lightning.Channel
	queries  int
}

// New returns a fake lnd for t. When t ends it fails the test for every
// scripted send that never came.
func New(t testing.TB) *Lnd {
	l := &Lnd{
		t:        t,
		payments: make(map[lntypes.Hash]*Payment),
		routeMax: make(map[route.Vertex]lnwire.MilliSatoshi),
		direct:   make(map[route.Vertex]bool),
		channels: make(map[route.Vertex][]lightning.Channel),
	}
	t.Cleanup(func() {
		l.mu.Lock()
		defer l.mu.Unlock()
		if len(l.script) > 0 {
			t.Errorf("payouttest: %d scripted sends never came: "+
				"%v", len(l.script), l.script)
		}
	})
	return l
}

// Script queues what the next sends do; a send with nothing queued
// succeeds.
func (l *Lnd) Script(steps ...Step) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.script = append(l.script, steps...)
}

// Unscript drops the scripted steps no send has taken and returns them.
func (l *Lnd) Unscript() []Step {
	l.mu.Lock()
	defer l.mu.Unlock()
	left := l.script
	l.script = nil
	return left
}

// SetFee sets the routing fee succeeded payments report (capped at each
// payment's fee limit).
func (l *Lnd) SetFee(fee lnwire.MilliSatoshi) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.fee = fee
}

// BreakTracks makes the next n Track calls fail with ErrStreamBroke.
func (l *Lnd) BreakTracks(n int) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.trackBreaks = n
}

// SetRouteMax makes routes to node carry at most max (zero: nothing).
func (l *Lnd) SetRouteMax(node route.Vertex, max lnwire.MilliSatoshi) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.routeMax[node] = max
}

// SetDirect makes routes to node the hub's direct channel, at no fee.
func (l *Lnd) SetDirect(node route.Vertex) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.direct[node] = true
}

// SetChannels sets the hub's channels with node.
func (l *Lnd) SetChannels(node route.Vertex, chans []lightning.Channel) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.channels[node] = chans
}

// SendKeysend records the payment unless lnd has its hash (then
// lightning.ErrPaymentExists) and does what the script says.
func (l *Lnd) SendKeysend(ctx context.Context, k lightning.Keysend,
	accepted func()) (lightning.PaymentResult, error) {

	if err := ctx.Err(); err != nil {
		return lightning.PaymentResult{}, err
	}
	if k.Records[record.KeySendType] != nil {
		l.t.Errorf("payouttest: caller set the keysend record itself")
	}

	l.mu.Lock()
	l.sends++
	hash := k.Preimage.Hash()
	if _, ok := l.payments[hash]; ok {
		l.mu.Unlock()
		return lightning.PaymentResult{}, fmt.Errorf("send %v: %w",
			hash, lightning.ErrPaymentExists)
	}
	step := Succeed
	if len(l.script) > 0 {
		step = l.script[0]
		l.script = l.script[1:]
	}
	switch step {
	case Refuse:
		l.mu.Unlock()
		return lightning.PaymentResult{}, fmt.Errorf("send %v: %w: "+
			"invalid destination", hash,
			lightning.ErrPaymentRefused)

	case Drop:
		l.mu.Unlock()
		return lightning.PaymentResult{}, ErrStreamBroke
	}

	p := &Payment{Keysend: k, Status: InFlight}
	switch step {
	case Succeed, HangSucceed:
		p.eventual = Succeeded
	default:
		p.eventual = Failed
	}
	l.payments[hash] = p
	l.order = append(l.order, hash)
	l.mu.Unlock()

	if accepted != nil {
		accepted()
	}
	// A caller that died after lnd took the payment leaves it in
	// flight; it resolves when tracked.
	if err := ctx.Err(); err != nil {
		return lightning.PaymentResult{}, err
	}
	if step == HangSucceed || step == HangFail {
		return lightning.PaymentResult{}, ErrStreamBroke
	}

	l.mu.Lock()
	defer l.mu.Unlock()
	return l.resolve(hash, p), nil
}

// resolve settles p into its eventual state and reports it. l.mu is held.
func (l *Lnd) resolve(hash lntypes.Hash, p *Payment) lightning.PaymentResult {
	if p.Status == InFlight {
		p.Status = p.eventual
		if p.Status == Succeeded {
			p.Fee = min(l.fee, p.Keysend.FeeLimit)
		}
	}
	res := lightning.PaymentResult{Hash: hash}
	switch p.Status {
	case Succeeded:
		res.Succeeded = true
		res.Amount = p.Keysend.Amount
		res.Fee = p.Fee
		res.Preimage = p.Keysend.Preimage
	default:
		res.Failure = lightning.FailureReasonNoRoute
	}
	return res
}

// Track resolves a payment lnd has, or answers lightning.ErrPaymentUnknown.
func (l *Lnd) Track(ctx context.Context, hash lntypes.Hash) (
	lightning.PaymentResult, error) {

	if err := ctx.Err(); err != nil {
		return lightning.PaymentResult{}, err
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	l.tracks++
	if l.trackBreaks > 0 {
		l.trackBreaks--
		return lightning.PaymentResult{}, ErrStreamBroke
	}
	p, ok := l.payments[hash]
	if !ok {
		return lightning.PaymentResult{}, fmt.Errorf("track %v: %w",
			hash, lightning.ErrPaymentUnknown)
	}
	return l.resolve(hash, p), nil
}

// QueryRoute finds a route when amt is within the node's route maximum.
func (l *Lnd) QueryRoute(ctx context.Context, dest route.Vertex,
	amt, feeLimit lnwire.MilliSatoshi) (lightning.Route, error) {

	if err := ctx.Err(); err != nil {
		return lightning.Route{}, err
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	l.queries++
	if max, ok := l.routeMax[dest]; ok && amt > max {
		return lightning.Route{}, fmt.Errorf("route to %v for %v: %w",
			dest, amt, lightning.ErrNoRoute)
	}
	if l.direct[dest] {
		return lightning.Route{Hops: 1, Amount: amt}, nil
	}
	return lightning.Route{Hops: 2, Amount: amt, Fee: 1}, nil
}

// ChannelsWith returns the channels SetChannels gave.
func (l *Lnd) ChannelsWith(ctx context.Context, peer route.Vertex) (
	[]lightning.Channel, error) {

	l.mu.Lock()
	defer l.mu.Unlock()
	return l.channels[peer], nil
}

// Payments returns every payment lnd has, in the order it took them.
func (l *Lnd) Payments() []Payment {
	l.mu.Lock()
	defer l.mu.Unlock()
	out := make([]Payment, 0, len(l.order))
	for _, h := range l.order {
		out = append(out, *l.payments[h])
	}
	return out
}

// Sends returns how many SendKeysend calls came; Tracks how many Track
// calls; Queries how many route queries.
func (l *Lnd) Sends() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.sends
}

// Tracks returns how many Track calls came.
func (l *Lnd) Tracks() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.tracks
}

// Queries returns how many route queries came.
func (l *Lnd) Queries() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.queries
}

// ResolveAll settles every payment still in flight into its eventual
// state, as lnd would in time.
func (l *Lnd) ResolveAll() {
	l.mu.Lock()
	defer l.mu.Unlock()
	for h, p := range l.payments {
		l.resolve(h, p)
	}
}

// Paid sums what succeeded payments delivered and what their routing cost.
func (l *Lnd) Paid() (amount, fees lnwire.MilliSatoshi) {
	l.mu.Lock()
	defer l.mu.Unlock()
	for _, p := range l.payments {
		if p.Status == Succeeded {
			amount += p.Keysend.Amount
			fees += p.Fee
		}
	}
	return amount, fees
}
