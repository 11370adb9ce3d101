package store

import (
	"context"
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

	var c PayoutCounts
	err := t.queryRow(ctx, `SELECT COUNT(*), CAST(COALESCE(SUM(CASE WHEN
		state = 'succeeded' THEN 1 ELSE 0 END), 0) AS BIGINT)
		FROM payouts WHERE provider_id = $1`, providerID).Scan(
		&c.Total, &c.Succeeded)
	if err != nil {
		return PayoutCounts{}, fmt.Errorf("payout counts of %s: %w",
			providerID, mapError(err))
	}
	last, err := t.queryPayouts(ctx, "last payout of "+providerID,
		`SELECT `+payoutColumns+` FROM payouts WHERE provider_id = $1
		AND state = 'succeeded' ORDER BY resolved_at DESC, id DESC
		LIMIT 1`, providerID)
	if err != nil {
		return PayoutCounts{}, err
	}
	if len(last) > 0 {
		c.Last = &last[0]
	}
	return c, nil
}
