package reconcile

import (
	"context"
	"errors"

	"github.com/lightningnetwork/lnd/lntypes"
	"github.com/sluice-ln/sluice/hubnode"
	"github.com/sluice-ln/sluice/ledger"
	"github.com/sluice-ln/sluice/outbound"
)

// Lnd is what reconciliation reads of the hub's lnd.
// hubnode.HubHistory is the lnd adapter.
type Lnd interface {
	// SettledInvoices returns every invoice the hub was paid.
	SettledInvoices(ctx context.Context) ([]hubnode.SettledInvoice,
		error)

	// Payments returns every payment the hub made or tried, complete or
	// not.
	Payments(ctx context.Context) ([]hubnode.PaymentRecord, error)
}

var _ Lnd = (*hubnode.HubHistory)(nil)

// ErrNotFound is returned by BooksTx.JobInvoice for a hash that is no
// job's invoice.
var ErrNotFound = errors.New("not found")

// Invoice is a job's funding or top-up invoice as Sluice keeps it.
type Invoice struct {
	// JobID names the job the invoice funds.
	JobID string

	// State is the invoice's state as settlement stores it (open,
	// settled, canceled); reconciliation only prints it.
	State string

	// AmountPaid is what the invoice settled for; zero while it has not.
	AmountPaid ledger.MilliSatoshi
}

// Payment is a payout or a refund as Sluice keeps it.
type Payment struct {
	// ID is the payout's id; empty for a refund.
	ID string

	// JobID is the refunded job; empty for a payout.
	JobID string

	// PaymentHash is the payment's hash in lower-case hex, as stored;
	// one that does not parse is a difference.
	PaymentHash string

	// State is the payment's outbound status as stored; one that names
	// no status is a difference.
	State outbound.Status

	// Amount is what the payment delivers; Fee the routing fee Sluice
	// recorded for a succeeded one.
	Amount ledger.MilliSatoshi
	Fee    ledger.MilliSatoshi
}

// BooksTx is one read-only store transaction over Sluice's books. Its reads
// see one snapshot.
type BooksTx interface {
	// JobInvoice returns the job invoice with the hash, or an error
	// wrapping ErrNotFound when the hash is no job's invoice.
	JobInvoice(ctx context.Context, hash lntypes.Hash) (Invoice, error)

	// TransactionByKey returns the ledger transaction with the
	// idempotency key, or an error wrapping ledger.ErrNotFound.
	TransactionByKey(ctx context.Context, key string) (ledger.StoredTx,
		error)

	// Payouts returns every payout, in any state.
	Payouts(ctx context.Context) ([]Payment, error)

	// Refunds returns every refund of every job, in any state.
	Refunds(ctx context.Context) ([]Payment, error)

	// KindTotal returns the sum of the balances of every account of an
	// msat kind; zero when there is none. A share kind is refused with
	// ledger.ErrWrongUnit.
	KindTotal(ctx context.Context, kind ledger.AccountKind) (
		ledger.MilliSatoshi, error)

	// ShareKindTotal returns the sum of the balances of every account of
	// a share kind; zero when there is none. An msat kind is refused
	// with ledger.ErrWrongUnit.
	ShareKindTotal(ctx context.Context, kind ledger.AccountKind) (
		ledger.Shares, error)

	// ShareBalances returns the balance of every account of a share
	// kind ever posted to, by the account's ref (the provider's id for
	// shares_locked). An msat kind, or an account of the kind recorded
	// in msat, is refused with ledger.ErrWrongUnit.
	ShareBalances(ctx context.Context, kind ledger.AccountKind) (
		map[string]ledger.Shares, error)

	// PendingRedemptionShares returns, by provider id, the shares of the
	// provider's pending redemption requests (neither finalized nor
	// cancelled); a provider with none is absent.
	PendingRedemptionShares(ctx context.Context) (
		map[string]ledger.Shares, error)

	// PendingWithdrawalShares returns, by provider id, the shares of
	// the provider's withdrawals that are not complete (queued, or in a
	// send not yet complete); a provider with none is absent.
	PendingWithdrawalShares(ctx context.Context) (
		map[string]ledger.Shares, error)
}

// DB runs the reads in one transaction; store.DB implements it
// (store/reconcile.go).
type DB interface {
	// ReadBooks runs fn in one read-only transaction. It may run fn more
	// than once, so fn has no effects outside the transaction.
	ReadBooks(ctx context.Context, fn func(BooksTx) error) error
}
