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

	var total int64
	err := t.queryRow(ctx, `SELECT CAST(COALESCE(SUM(balance), 0) AS
		BIGINT) FROM accounts WHERE kind = $1`, string(kind)).Scan(&total)
	if err != nil {
		return 0, fmt.Errorf("total of %s: %w", kind, mapError(err))
	}
	return ledger.MilliSatoshi(total), nil
}
