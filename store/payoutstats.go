package store

import (
	"context"
	"database/sql"
	"fmt"
	"time"
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

// payoutColumns are the columns scanPayout reads, in order.
const payoutColumns = `id, provider_id, dest_pubkey, amount_msat,
	fee_budget_msat, fee_payer, payment_hash, preimage, state, fee_msat,
	failure, created_at, resolved_at`

// scanPayout reads one payout row.
func scanPayout(row rowScanner) (Payout, error) {
	var (
		p        Payout
		created  time.Time
		resolved sql.NullTime
	)
	err := row.Scan(&p.ID, &p.ProviderID, &p.DestPubkey, &p.Amount,
		&p.FeeBudget, &p.FeePayer, &p.PaymentHash, &p.Preimage,
		&p.State, &p.Fee, &p.Failure, &created, &resolved)
	if err != nil {
		return Payout{}, err
	}
	p.CreatedAt, p.ResolvedAt = created.UTC(), fromNull(resolved)
	return p, nil
}

// queryPayouts runs a query over payoutColumns.
func (t *Tx) queryPayouts(ctx context.Context, what, query string,
	args ...any) ([]Payout, error) {

	rows, err := t.query(ctx, query, args...)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", what, err)
	}
	defer rows.Close()

	var out []Payout
	for rows.Next() {
		p, err := scanPayout(rows)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", what, mapError(err))
		}
		out = append(out, p)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("%s: %w", what, mapError(err))
	}
	return out, nil
}
