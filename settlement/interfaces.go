package settlement

import (
	"context"
	"time"

	"github.com/lightningnetwork/lnd/lntypes"
	"github.com/lightningnetwork/lnd/lnwire"
	"github.com/lightningnetwork/lnd/routing/route"
	"github.com/sluice-ln/sluice/channels"
	"github.com/sluice-ln/sluice/lightning"
)

// Invoices is what settlement needs of the hub's invoices.
// hubnode.HubInvoices is the lnd adapter; settlementtest.Hub the unit
// tests' fake.
type Invoices interface {
	// AddInvoice makes an invoice for amt with the memo, expiring after
	// expiry, and returns it with its creation and expiry times.
	AddInvoice(ctx context.Context, amt lnwire.MilliSatoshi, memo string,
		expiry time.Duration) (lightning.Invoice, error)

	// LookupInvoice returns the invoice with the hash, or an error
	// wrapping lightning.ErrInvoiceNotFound.
	LookupInvoice(ctx context.Context, hash lntypes.Hash) (
		lightning.Invoice, error)

	// CancelInvoice cancels an open invoice; canceling a canceled one
	// succeeds, a settled one gives lightning.ErrInvoiceSettled.
	CancelInvoice(ctx context.Context, hash lntypes.Hash) error

	// SubscribeSettled streams invoices as they settle, starting with
	// those settled after settle index afterIndex (none replayed for 0).
	// The error channel gets one error when the stream breaks; both stop
	// when ctx ends.
	SubscribeSettled(ctx context.Context, afterIndex uint64) (
		<-chan lightning.Invoice, <-chan error, error)
}

// Payments is what refunds need of the hub's router.
// hubnode.HubPayments is the lnd adapter.
type Payments interface {
	// Pay sends the payment and waits for its outcome. A hash lnd
	// already has gives lightning.ErrPaymentExists.
	Pay(ctx context.Context, pay lightning.Payment) (
		lightning.PaymentResult, error)

	// Track waits for the outcome of a payment lnd has; a hash it never
	// saw gives lightning.ErrPaymentUnknown.
	Track(ctx context.Context, hash lntypes.Hash) (
		lightning.PaymentResult, error)
}

// Routes answers what paying a node would cost. hubnode.Graph is the lnd
// adapter.
type Routes interface {
	// QueryRoute returns a route that delivers amt to dest for at most
	// feeLimit in fees, or an error wrapping lightning.ErrNoRoute.
	QueryRoute(ctx context.Context, dest route.Vertex,
		amt, feeLimit lnwire.MilliSatoshi) (lightning.Route, error)
}

// Provider is what a job needs to know of its provider.
type Provider struct {
	ID string

	// Node is the provider's Lightning node.
	Node route.Vertex

	// Rates is the provider's current rate card, copied into each job
	// created for it.
	Rates channels.RateCard
}

// ProviderLookup finds linked providers; the daemon adapts channels'
// manager to it.
type ProviderLookup interface {
	// LookupProvider returns the provider with the id, or an error
	// wrapping ErrProviderNotFound.
	LookupProvider(ctx context.Context, id string) (Provider, error)
}

// ProviderLookupFunc makes a function a ProviderLookup.
type ProviderLookupFunc func(ctx context.Context, id string) (Provider, error)

// LookupProvider calls f.
func (f ProviderLookupFunc) LookupProvider(ctx context.Context,
	id string) (Provider, error) {

	return f(ctx, id)
}

// RefundObserver is told of each refund's outcome, for metrics (package
// metrics implements it; daemon wires it). RefundResolved is called once
// this manager has recorded the outcome (r.State succeeded or failed, and
// r.Fee what routing cost a succeeded one), outside the store transaction,
// and must not block.
type RefundObserver interface {
	RefundResolved(r Refund)
}
