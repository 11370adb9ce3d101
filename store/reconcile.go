package store

import (
	"context"
	"errors"
	"fmt"

	"github.com/lightningnetwork/lnd/lntypes"
	"github.com/sluice-ln/sluice/ledger"
	"github.com/sluice-ln/sluice/outbound"
	"github.com/sluice-ln/sluice/reconcile"
)

// Compile-time check that the store is what reconciliation reads.
var _ reconcile.DB = (*DB)(nil)

// ReadBooks runs fn in one read-only transaction over reconciliation's
// view of the books (reconcile.BooksTx).
func (d *DB) ReadBooks(ctx context.Context,
	fn func(reconcile.BooksTx) error) error {

	return d.ExecTx(ctx, TxOptions{ReadOnly: true}, func(tx *Tx) error {
		return fn(booksTx{tx: tx})
	})
}

// booksTx is a store transaction as reconciliation reads it.
type booksTx struct {
	tx *Tx
}

// Compile-time check that booksTx is reconciliation's transaction.
var _ reconcile.BooksTx = booksTx{}

// JobInvoice returns the job invoice with the hash; reconcile.ErrNotFound
// for a hash that is no job's.
func (b booksTx) JobInvoice(ctx context.Context, hash lntypes.Hash) (
	reconcile.Invoice, error) {

	inv, err := b.tx.JobInvoiceByHash(ctx, hash.String())
	if errors.Is(err, ErrNotFound) {
		return reconcile.Invoice{}, fmt.Errorf("job invoice %v: %w",
			hash, reconcile.ErrNotFound)
	}
	if err != nil {
		return reconcile.Invoice{}, err
	}
	return reconcile.Invoice{
		JobID:      inv.JobID,
		State:      inv.State,
		AmountPaid: inv.AmountPaid,
	}, nil
}

// TransactionByKey returns the ledger transaction with the key.
func (b booksTx) TransactionByKey(ctx context.Context, key string) (
	ledger.StoredTx, error) {

	return b.tx.TransactionByKey(ctx, key)
}

// Payouts returns every payout.
func (b booksTx) Payouts(ctx context.Context) ([]reconcile.Payment, error) {
	rows, err := b.tx.Payouts(ctx, "")
	if err != nil {
		return nil, err
	}
	out := make([]reconcile.Payment, len(rows))
	for i, p := range rows {
		out[i] = reconcile.Payment{
			ID:          p.ID,
			PaymentHash: p.PaymentHash,
			State:       outbound.Status(p.State),
			Amount:      p.Amount,
			Fee:         p.Fee,
		}
	}
	return out, nil
}

// Refunds returns every job's refunds.
func (b booksTx) Refunds(ctx context.Context) ([]reconcile.Payment, error) {
	jobs, err := b.tx.ListJobs(ctx, JobFilter{})
	if err != nil {
		return nil, err
	}
	var out []reconcile.Payment
	for _, j := range jobs {
		rows, err := b.tx.JobRefunds(ctx, j.ID)
		if err != nil {
			return nil, err
		}
		for _, f := range rows {
			out = append(out, reconcile.Payment{
				JobID:       f.JobID,
				PaymentHash: f.PaymentHash,
				State:       outbound.Status(f.State),
				Amount:      f.Amount,
				Fee:         f.Fee,
			})
		}
	}
	return out, nil
}

// KindTotal returns the sum of the balances of every account of an msat
// kind.
func (b booksTx) KindTotal(ctx context.Context, kind ledger.AccountKind) (
	ledger.MilliSatoshi, error) {

	return b.tx.KindTotal(ctx, kind)
}

// ShareKindTotal returns the sum of the balances of every account of a
// share kind.
func (b booksTx) ShareKindTotal(ctx context.Context,
	kind ledger.AccountKind) (ledger.Shares, error) {

	return b.tx.ShareKindTotal(ctx, kind)
}

// ShareBalances returns the balance of every account of a share kind, by
// ref.
func (b booksTx) ShareBalances(ctx context.Context,
	kind ledger.AccountKind) (map[string]ledger.Shares, error) {

	if u := kind.Unit(); u != ledger.UnitShares {
		return nil, fmt.Errorf("balances of %s: %w: it counts %q, not "+
			"%s", kind, ledger.ErrWrongUnit, u, ledger.UnitShares)
	}
	rows, err := b.tx.q.ListKindBalances(ctx, string(kind))
	if err != nil {
		return nil, fmt.Errorf("balances of %s: %w", kind,
			mapError(err))
	}
	out := make(map[string]ledger.Shares, len(rows))
	for _, r := range rows {
		if ledger.Unit(r.Unit) != ledger.UnitShares {
			return nil, fmt.Errorf("balance of %s:%s: %w: recorded "+
				"in %q", kind, r.Ref, ledger.ErrWrongUnit, r.Unit)
		}
		out[r.Ref] = ledger.Shares(r.Balance)
	}

	return out, nil
}

// PendingRedemptionShares returns the shares of each provider's pending
// redemptions.
func (b booksTx) PendingRedemptionShares(ctx context.Context) (
	map[string]ledger.Shares, error) {

	rows, err := b.tx.q.SumPendingRedemptionShares(ctx)
	if err != nil {
		return nil, fmt.Errorf("pending redemptions: %w", mapError(err))
	}
	out := make(map[string]ledger.Shares, len(rows))
	for _, r := range rows {
		out[r.ProviderID] = ledger.Shares(r.Shares)
	}

	return out, nil
}

// KindTotal returns the sum of the balances of every account of an msat
// kind (all providers' paid_out, say); zero when there is none.
// Reconciliation compares such totals with lnd's. A share kind, or an
// account of the kind recorded in shares, is refused with
// ledger.ErrWrongUnit: the sum would add shares to money.
func (t *Tx) KindTotal(ctx context.Context, kind ledger.AccountKind) (
	ledger.MilliSatoshi, error) {

	total, err := t.kindTotal(ctx, kind, ledger.UnitMsat)
	return ledger.MilliSatoshi(total), err
}

// ShareKindTotal returns the sum of the balances of every account of a
// share kind (all providers' provider_shares, say); zero when there is
// none. An msat kind, or an account of the kind recorded in msat, is
// refused with ledger.ErrWrongUnit.
func (t *Tx) ShareKindTotal(ctx context.Context, kind ledger.AccountKind) (
	ledger.Shares, error) {

	total, err := t.kindTotal(ctx, kind, ledger.UnitShares)
	return ledger.Shares(total), err
}

// kindTotal sums the balances of a kind that counts want, refusing an
// account of it recorded in another unit.
func (t *Tx) kindTotal(ctx context.Context, kind ledger.AccountKind,
	want ledger.Unit) (int64, error) {

	if u := kind.Unit(); u != want {
		return 0, fmt.Errorf("total of %s: %w: it counts %q, not %s",
			kind, ledger.ErrWrongUnit, u, want)
	}
	rows, err := t.q.SumKindBalances(ctx, string(kind))
	if err != nil {
		return 0, fmt.Errorf("total of %s: %w", kind, mapError(err))
	}

	var total int64
	for _, r := range rows {
		if ledger.Unit(r.Unit) != want {
			return 0, fmt.Errorf("total of %s: %w: accounts of "+
				"it recorded in %q", kind, ledger.ErrWrongUnit,
				r.Unit)
		}
		total = r.Total
	}

	return total, nil
}

// PendingWithdrawalShares returns the shares of each provider's
// withdrawals that are not complete (queued or sending).
func (b booksTx) PendingWithdrawalShares(ctx context.Context) (
	map[string]ledger.Shares, error) {

	rows, err := b.tx.q.PendingWithdrawalSharesByProvider(ctx)
	if err != nil {
		return nil, fmt.Errorf("pending withdrawals: %w", mapError(err))
	}
	out := make(map[string]ledger.Shares, len(rows))
	for _, r := range rows {
		out[r.ProviderID] = ledger.Shares(r.Shares)
	}

	return out, nil
}
