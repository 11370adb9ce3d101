package store

import (
	"context"
	"fmt"

	"github.com/sluice-ln/sluice/ledger"
)

// KindTotal returns the sum of the balances of every account of a kind
// (all providers' paid_out, say); zero when there is none. Reconciliation
// compares such totals with lnd's.
func (t *Tx) KindTotal(ctx context.Context, kind ledger.AccountKind) (
	ledger.MilliSatoshi, error) {

	total, err := t.q.SumKindBalances(ctx, string(kind))
	if err != nil {
		return 0, fmt.Errorf("total of %s: %w", kind, mapError(err))
	}
	return ledger.MilliSatoshi(total), nil
}
