package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
)

// PayoutCounts are how many payouts a provider had, for its status view.
type PayoutCounts struct {
	// Total counts every payout tried, Succeeded those paid.
	Total     int64
	Succeeded int64

	// Last is the most recently settled successful payout; nil before
	// the first.
	Last *Payout
}

// ProviderPayoutCounts counts a provider's payouts and returns its latest
// successful one, without reading them all.
func (t *Tx) ProviderPayoutCounts(ctx context.Context, providerID string) (
	PayoutCounts, error) {

	counts, err := t.q.CountProviderPayouts(ctx, providerID)
	if err != nil {
		return PayoutCounts{}, fmt.Errorf("payout counts of %s: %w",
			providerID, mapError(err))
	}
	c := PayoutCounts{Total: counts.Total, Succeeded: counts.Succeeded}

	row, err := t.q.GetLastSucceededPayout(ctx, providerID)
	switch {
	case errors.Is(err, sql.ErrNoRows):
		return c, nil
	case err != nil:
		return PayoutCounts{}, fmt.Errorf("last payout of %s: %w",
			providerID, mapError(err))
	}
	last := payoutFromRow(row)
	c.Last = &last
	return c, nil
}
