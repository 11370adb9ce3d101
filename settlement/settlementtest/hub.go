// Package settlementtest fakes the hub's lnd for settlement's unit tests:
// invoices that a test settles, expires or cancels by hand, a settled
// stream that replays from a settle index and can be broken, payments
// whose outcome the test decides, and route quotes. It also fakes the
// provider lookup. The fakes fail the test when a call it expected never
// came.
package settlementtest

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/btcsuite/btcd/chaincfg"
	"github.com/lightningnetwork/lnd/lntypes"
	"github.com/lightningnetwork/lnd/lnwire"
	"github.com/lightningnetwork/lnd/routing/route"
	"github.com/sluice-ln/sluice/lightning"
	"github.com/sluice-ln/sluice/settlement"
)

// The fake is what settlement needs of lnd.
var (
	_ settlement.Invoices       = (*Hub)(nil)
	_ settlement.Payments       = (*Hub)(nil)
	_ settlement.Routes         = (*Hub)(nil)
	_ settlement.ProviderLookup = (*Providers)(nil)
)

// Hub is a fake hub lnd. Its zero value is not usable; call NewHub.
type Hub struct {
	t testing.TB

	mu          sync.Mutex
	clock       func() time.Time
	invoices    map[lntypes.Hash]*lightning.Invoice
	order       []lntypes.Hash
	settleIndex uint64
	subs        []*sub
	calls       map[string]int
	expect      map[string]int

	// payments by hash: what lnd knows of them.
	payments map[lntypes.Hash]*payment

	// PayOutcome decides how a payment ends; succeed with no fee when
	// nil. It runs outside the fake's lock.
	PayOutcome func(p lightning.Payment) lightning.PaymentResult

	// RouteFee is the fee QueryRoute quotes; NoRoute makes it find none.
	RouteFee lnwire.MilliSatoshi
	NoRoute  bool

	// RefusePayments, when set, makes Pay refuse every payment as lnd
	// does an expired invoice (lightning.ErrPaymentRefused), before it
	// knows of it.
	RefusePayments bool

	// HoldPayments, when set, keeps payments in flight until Release.
	HoldPayments bool
	release      chan struct{}

	// Sent are the payments handed to Pay, in order.
	Sent []lightning.Payment
}

// payment is one payment lnd knows.
type payment struct {
	pay    lightning.Payment
	result *lightning.PaymentResult
	done   chan struct{}
}

// sub is one SubscribeSettled stream.
type sub struct {
	ctx  context.Context
	ch   chan lightning.Invoice
	errs chan error
	from uint64
	// pending holds what the stream still has to deliver.
	pending []lightning.Invoice
	wake    chan struct{}
}

// NewHub returns a fake hub whose invoices are timed by clock (time.Now when
// nil). Expectations set with Expect are checked when t ends.
func NewHub(t testing.TB, clock func() time.Time) *Hub {
	if clock == nil {
		clock = time.Now
	}
	h := &Hub{
		t: t, clock: clock,
		invoices: make(map[lntypes.Hash]*lightning.Invoice),
		payments: make(map[lntypes.Hash]*payment),
		calls:    make(map[string]int),
		expect:   make(map[string]int),
		release:  make(chan struct{}),
	}
	t.Cleanup(h.check)
	return h
}

// Expect makes the test fail at its end unless method was called at least
// n times.
func (h *Hub) Expect(method string, n int) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.expect[method] = n
}

// Calls returns how many times method was called.
func (h *Hub) Calls(method string) int {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.calls[method]
}

// check fails the test for each expectation not met.
func (h *Hub) check() {
	h.mu.Lock()
	defer h.mu.Unlock()
	for m, n := range h.expect {
		if h.calls[m] < n {
			h.t.Errorf("settlementtest: %s called %d times, "+
				"expected at least %d", m, h.calls[m], n)
		}
	}
}

// called counts a call; the lock is held.
func (h *Hub) called(method string) { h.calls[method]++ }

// AddInvoice makes an open invoice; its payment request is a fake string
// that names the hash.
func (h *Hub) AddInvoice(_ context.Context, amt lnwire.MilliSatoshi,
	memo string, expiry time.Duration) (lightning.Invoice, error) {

	h.mu.Lock()
	defer h.mu.Unlock()
	h.called("AddInvoice")

	var preimage lntypes.Preimage
	if _, err := rand.Read(preimage[:]); err != nil {
		return lightning.Invoice{}, err
	}
	now := h.clock().UTC().Truncate(time.Second)
	inv := &lightning.Invoice{
		Hash:           preimage.Hash(),
		PaymentRequest: fmt.Sprintf("lnfake%s", preimage.Hash()),
		Amount:         amt,
		State:          lightning.InvoiceOpen,
		CreatedAt:      now,
		ExpiresAt:      now.Add(expiry),
	}
	h.invoices[inv.Hash] = inv
	h.order = append(h.order, inv.Hash)
	return *inv, nil
}

// LookupInvoice returns an invoice.
func (h *Hub) LookupInvoice(_ context.Context, hash lntypes.Hash) (
	lightning.Invoice, error) {

	h.mu.Lock()
	defer h.mu.Unlock()
	h.called("LookupInvoice")

	inv, ok := h.invoices[hash]
	if !ok {
		return lightning.Invoice{}, fmt.Errorf("invoice %v: %w", hash,
			lightning.ErrInvoiceNotFound)
	}
	return *inv, nil
}

// CancelInvoice cancels an open invoice.
func (h *Hub) CancelInvoice(_ context.Context, hash lntypes.Hash) error {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.called("CancelInvoice")

	inv, ok := h.invoices[hash]
	switch {
	case !ok:
		return fmt.Errorf("invoice %v: %w", hash,
			lightning.ErrInvoiceNotFound)
	case inv.State == lightning.InvoiceSettled:
		return fmt.Errorf("invoice %v: %w", hash,
			lightning.ErrInvoiceSettled)
	}
	inv.State = lightning.InvoiceCanceled
	return nil
}

// SubscribeSettled streams settled invoices after afterIndex, then new ones.
func (h *Hub) SubscribeSettled(ctx context.Context, afterIndex uint64) (
	<-chan lightning.Invoice, <-chan error, error) {

	h.mu.Lock()
	defer h.mu.Unlock()
	h.called("SubscribeSettled")

	s := &sub{ctx: ctx, ch: make(chan lightning.Invoice),
		errs: make(chan error, 1), from: afterIndex,
		wake: make(chan struct{}, 1)}
	if afterIndex > 0 {
		for _, hash := range h.order {
			inv := h.invoices[hash]
			if inv.State == lightning.InvoiceSettled &&
				inv.SettleIndex > afterIndex {

				s.pending = append(s.pending, *inv)
			}
		}
	}
	h.subs = append(h.subs, s)
	go h.deliver(s)
	return s.ch, s.errs, nil
}

// deliver feeds one stream until its context ends.
func (h *Hub) deliver(s *sub) {
	for {
		h.mu.Lock()
		var next *lightning.Invoice
		if len(s.pending) > 0 {
			inv := s.pending[0]
			s.pending = s.pending[1:]
			next = &inv
		}
		h.mu.Unlock()

		if next == nil {
			select {
			case <-s.wake:
				continue
			case <-s.ctx.Done():
				return
			}
		}
		select {
		case s.ch <- *next:
		case <-s.ctx.Done():
			return
		}
	}
}

// Settle settles an open invoice for paid msat (zero: its amount) and
// streams it; it returns the settle index.
func (h *Hub) Settle(hash lntypes.Hash, paid lnwire.MilliSatoshi) uint64 {
	h.mu.Lock()
	defer h.mu.Unlock()

	inv, ok := h.invoices[hash]
	if !ok || inv.State != lightning.InvoiceOpen {
		h.t.Fatalf("settlementtest: settle %v: not an open invoice",
			hash)
	}
	if paid == 0 {
		paid = inv.Amount
	}
	h.settleIndex++
	inv.State = lightning.InvoiceSettled
	inv.AmountPaid = paid
	inv.SettleIndex = h.settleIndex
	inv.SettledAt = h.clock().UTC()
	for _, s := range h.subs {
		if s.ctx.Err() != nil {
			continue
		}
		s.pending = append(s.pending, *inv)
		select {
		case s.wake <- struct{}{}:
		default:
		}
	}
	return h.settleIndex
}

// SettleQuietly settles an invoice without telling any stream, as lnd does
// while sluiced is down.
func (h *Hub) SettleQuietly(hash lntypes.Hash) uint64 {
	h.mu.Lock()
	subs := h.subs
	h.subs = nil
	h.mu.Unlock()

	idx := h.Settle(hash, 0)

	h.mu.Lock()
	h.subs = append(subs, h.subs...)
	h.mu.Unlock()
	return idx
}

// BreakStreams ends every stream with an error, as a lost connection does.
func (h *Hub) BreakStreams() {
	h.mu.Lock()
	defer h.mu.Unlock()
	for _, s := range h.subs {
		select {
		case s.errs <- errors.New("settlementtest: stream broken"):
		default:
		}
	}
	h.subs = nil
}

// Invoice returns an invoice as the fake has it.
func (h *Hub) Invoice(hash lntypes.Hash) lightning.Invoice {
	h.mu.Lock()
	defer h.mu.Unlock()
	inv, ok := h.invoices[hash]
	if !ok {
		h.t.Fatalf("settlementtest: no invoice %v", hash)
	}
	return *inv
}

// Pay records a payment and ends it as PayOutcome says (after Release when
// HoldPayments is set). A hash paid before gives ErrPaymentExists. An
// invoice must be a regtest BOLT11 invoice; its hash is decoded from it.
func (h *Hub) Pay(ctx context.Context, pay lightning.Payment) (
	lightning.PaymentResult, error) {

	hash := pay.Preimage.Hash()
	if pay.Invoice != "" {
		pr, err := lightning.DecodePaymentRequest(pay.Invoice,
			&chaincfg.RegressionNetParams)
		if err != nil {
			return lightning.PaymentResult{}, err
		}
		hash = pr.Hash
	}
	return h.pay(ctx, hash, pay)
}

// pay is Pay for a known hash.
func (h *Hub) pay(ctx context.Context, hash lntypes.Hash,
	pay lightning.Payment) (lightning.PaymentResult, error) {

	h.mu.Lock()
	h.called("Pay")
	if h.RefusePayments {
		h.mu.Unlock()
		return lightning.PaymentResult{}, fmt.Errorf("payment %v: %w",
			hash, lightning.ErrPaymentRefused)
	}
	if _, ok := h.payments[hash]; ok {
		h.mu.Unlock()
		return lightning.PaymentResult{}, fmt.Errorf("payment %v: %w",
			hash, lightning.ErrPaymentExists)
	}
	p := &payment{pay: pay, done: make(chan struct{})}
	h.payments[hash] = p
	h.Sent = append(h.Sent, pay)
	hold, release := h.HoldPayments, h.release
	outcome := h.PayOutcome
	h.mu.Unlock()

	// lnd goes on with a payment whether or not its sender waits.
	go func() {
		if hold {
			<-release
		}
		res := lightning.PaymentResult{Hash: hash, Succeeded: true,
			Amount: pay.Amount, Preimage: pay.Preimage}
		if outcome != nil {
			res = outcome(pay)
			res.Hash = hash
		}
		h.mu.Lock()
		p.result = &res
		close(p.done)
		h.mu.Unlock()
	}()

	select {
	case <-p.done:
	case <-ctx.Done():
		return lightning.PaymentResult{}, ctx.Err()
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	return *p.result, nil
}

// Release lets held payments end.
func (h *Hub) Release() {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.HoldPayments = false
	close(h.release)
	h.release = make(chan struct{})
}

// Track waits for a payment's outcome; one never paid gives
// ErrPaymentUnknown.
func (h *Hub) Track(ctx context.Context, hash lntypes.Hash) (
	lightning.PaymentResult, error) {

	h.mu.Lock()
	h.called("Track")
	p, ok := h.payments[hash]
	h.mu.Unlock()
	if !ok {
		return lightning.PaymentResult{}, fmt.Errorf("payment %v: %w",
			hash, lightning.ErrPaymentUnknown)
	}
	select {
	case <-p.done:
	case <-ctx.Done():
		return lightning.PaymentResult{}, ctx.Err()
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	return *p.result, nil
}

// Payments returns how many payments lnd knows.
func (h *Hub) Payments() int {
	h.mu.Lock()
	defer h.mu.Unlock()
	return len(h.payments)
}

// QueryRoute quotes RouteFee, or finds no route when NoRoute is set or the
// fee is above feeLimit.
func (h *Hub) QueryRoute(_ context.Context, dest route.Vertex,
	amt, feeLimit lnwire.MilliSatoshi) (lightning.Route, error) {

	h.mu.Lock()
	defer h.mu.Unlock()
	h.called("QueryRoute")

	if h.NoRoute || h.RouteFee > feeLimit {
		return lightning.Route{}, fmt.Errorf("route to %v: %w", dest,
			lightning.ErrNoRoute)
	}
	return lightning.Route{Hops: 1, Amount: amt, Fee: h.RouteFee}, nil
}

// Providers is a fake provider lookup.
type Providers struct {
	mu sync.Mutex
	m  map[string]settlement.Provider
}

// NewProviders returns a lookup that knows the providers given.
func NewProviders(ps ...settlement.Provider) *Providers {
	f := &Providers{m: make(map[string]settlement.Provider)}
	for _, p := range ps {
		f.m[p.ID] = p
	}
	return f
}

// Set adds or replaces a provider.
func (f *Providers) Set(p settlement.Provider) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.m[p.ID] = p
}

// LookupProvider returns a provider or ErrProviderNotFound.
func (f *Providers) LookupProvider(_ context.Context, id string) (
	settlement.Provider, error) {

	f.mu.Lock()
	defer f.mu.Unlock()
	p, ok := f.m[id]
	if !ok {
		return settlement.Provider{}, fmt.Errorf("%w: %q",
			settlement.ErrProviderNotFound, id)
	}
	return p, nil
}
