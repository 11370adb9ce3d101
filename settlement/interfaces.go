package settlement

import (
	"context"
	"time"

	"github.com/lightningnetwork/lnd/lntypes"
	"github.com/lightningnetwork/lnd/lnwire"
	"github.com/lightningnetwork/lnd/routing/route"
	"github.com/sluice-ln/sluice/channels"
	"github.com/sluice-ln/sluice/ledger"
	"github.com/sluice-ln/sluice/lightning"
	"github.com/sluice-ln/sluice/store"
)

// Invoices is what settlement needs of the hub's invoices.
// lightning.HubInvoices is the lnd adapter; settlementtest.Hub the unit
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
// lightning.HubPayments is the lnd adapter.
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

// Routes answers what paying a node would cost. lightning.Graph is the lnd
// adapter.
type Routes interface {
	// QueryRoute returns a route that delivers amt to dest for at most
	// feeLimit in fees, or an error wrapping lightning.ErrNoRoute.
	QueryRoute(ctx context.Context, dest route.Vertex,
		amt, feeLimit lnwire.MilliSatoshi) (lightning.Route, error)
}

// The lnd adapters are what settlement needs.
var (
	_ Invoices = (*lightning.HubInvoices)(nil)
	_ Payments = (*lightning.HubPayments)(nil)
	_ Routes   = (*lightning.Graph)(nil)
)

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

// DB runs settlement's queries (store.Tx's settlement methods) in one
// transaction; *store.DB is the one implementation. Unit tests use a real
// SQLite store from storetest: the queries are part of what they test.
type DB interface {
	ExecTx(ctx context.Context, opts store.TxOptions,
		fn func(*store.Tx) error) error
}

var _ DB = (*store.DB)(nil)

// TxStore is one open store transaction as settlement uses it: the
// ledger's queries and settlement's own. Metering hands its transaction
// (a *store.Tx) to StartJob and UsageCharged, so that usage records, the
// ledger posting and the job's state commit together.
type TxStore interface {
	ledger.TxStore

	// Balance returns an account's balance in this transaction.
	Balance(ctx context.Context, account ledger.Account) (
		ledger.MilliSatoshi, error)

	InsertBuyer(ctx context.Context, b store.Buyer) error
	BuyerByID(ctx context.Context, id string) (store.Buyer, error)
	Buyers(ctx context.Context) ([]store.Buyer, error)

	InsertJob(ctx context.Context, j store.Job) error
	JobByID(ctx context.Context, id string) (store.Job, error)
	ListJobs(ctx context.Context, f store.JobFilter) ([]store.Job, error)
	UpdateJobState(ctx context.Context, u store.JobUpdate) error
	SetJobRefundPubkey(ctx context.Context, id, pubkey string,
		at time.Time) error
	InsertJobEvent(ctx context.Context, e store.JobEvent) (int64, error)
	JobEvents(ctx context.Context, jobID string) ([]store.JobEvent, error)

	InsertJobInvoice(ctx context.Context, inv store.JobInvoice) error
	JobInvoiceByHash(ctx context.Context, hash string) (store.JobInvoice,
		error)
	JobInvoices(ctx context.Context, jobID string) ([]store.JobInvoice,
		error)
	OpenJobInvoices(ctx context.Context) ([]store.JobInvoice, error)
	UpdateJobInvoice(ctx context.Context, u store.InvoiceUpdate) error

	Cursor(ctx context.Context, name string) (uint64, error)
	AdvanceCursor(ctx context.Context, name string, value uint64) (bool,
		error)

	InsertRefund(ctx context.Context, r store.Refund) error
	RefundByHash(ctx context.Context, hash string) (store.Refund, error)
	JobRefunds(ctx context.Context, jobID string) ([]store.Refund, error)
	PendingRefunds(ctx context.Context) ([]store.Refund, error)
	OwedEndedJobs(ctx context.Context) ([]store.OwedJob, error)
	ResolveRefund(ctx context.Context, u store.RefundUpdate) error

	// UsageMeter is the job's metering state (store.ErrNotFound before
	// its first record); the job's status shows what it metered.
	UsageMeter(ctx context.Context, jobID string) (store.UsageMeter,
		error)
}

var _ TxStore = (*store.Tx)(nil)
