package store

import (
	"context"
	"database/sql"
	"fmt"
	"time"

	"github.com/sluice-ln/sluice/ledger"
)

// Payouts' rows: the durable keysend intents of package payout, the
// operator's per-provider policy overrides, and each provider's payout
// status. The store only reads and writes them; package payout owns what
// they mean and checks it before writing.

// Payout states as stored.
const (
	PayoutPending   = "pending"
	PayoutSucceeded = "succeeded"
	PayoutFailed    = "failed"
)

// Payout is one payout as stored.
type Payout struct {
	ID         string
	ProviderID string
	DestPubkey string
	Amount     ledger.MilliSatoshi
	FeeBudget  ledger.MilliSatoshi
	FeePayer   string

	// PaymentHash and Preimage are lower-case hex; the hash is the
	// preimage's SHA-256.
	PaymentHash string
	Preimage    string

	State   string
	Fee     ledger.MilliSatoshi
	Failure string

	CreatedAt time.Time

	// ResolvedAt is zero while the payout is pending.
	ResolvedAt time.Time
}

// PayoutUpdate resolves a pending payout.
type PayoutUpdate struct {
	ID         string
	State      string
	Fee        ledger.MilliSatoshi
	Failure    string
	ResolvedAt time.Time
}

// PayoutCandidate is a linked provider with something payable.
type PayoutCandidate struct {
	ProviderID string
	NodePubkey string
	Payable    ledger.MilliSatoshi
}

// PayoutPolicy is the operator's overrides of the payout defaults for one
// provider. A nil field keeps the default.
type PayoutPolicy struct {
	ProviderID string
	Interval   *time.Duration
	Minimum    *ledger.MilliSatoshi
	FeeFloor   *ledger.MilliSatoshi
	FeePPM     *int64
	FeePayer   *string
	UpdatedAt  time.Time
}

// PayoutStatus says whether a provider's payouts are held back, why and
// since when.
type PayoutStatus struct {
	ProviderID string
	State      string
	Reason     string
	Since      time.Time

	// RetryAt is when payouts are tried again; zero when they are not
	// held back.
	RetryAt time.Time

	// Failures counts payouts that failed in a row.
	Failures  int64
	UpdatedAt time.Time
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

// InsertPayout records a new payout intent. A second pending payout of the
// same provider, or a payment hash used before, fails with
// ErrUniqueViolation; an unknown provider with ErrForeignKeyViolation.
func (t *Tx) InsertPayout(ctx context.Context, p Payout) error {
	_, err := t.exec(ctx, `INSERT INTO payouts (id, provider_id,
		dest_pubkey, amount_msat, fee_budget_msat, fee_payer,
		payment_hash, preimage, state, fee_msat, failure, created_at,
		resolved_at)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12,
		$13)`,
		p.ID, p.ProviderID, p.DestPubkey, int64(p.Amount),
		int64(p.FeeBudget), p.FeePayer, p.PaymentHash, p.Preimage,
		p.State, int64(p.Fee), p.Failure, dbTime(p.CreatedAt),
		nullTime(p.ResolvedAt))
	if err != nil {
		return fmt.Errorf("insert payout %s: %w", p.ID, err)
	}
	return nil
}

// PayoutByID returns a payout, or ErrNotFound.
func (t *Tx) PayoutByID(ctx context.Context, id string) (Payout, error) {
	p, err := scanPayout(t.queryRow(ctx, `SELECT `+payoutColumns+`
		FROM payouts WHERE id = $1`, id))
	if err != nil {
		return Payout{}, notFound(err, "payout "+id)
	}
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

// PendingPayouts returns every pending payout, oldest first.
func (t *Tx) PendingPayouts(ctx context.Context) ([]Payout, error) {
	return t.queryPayouts(ctx, "pending payouts", `SELECT `+
		payoutColumns+` FROM payouts WHERE state = 'pending'
		ORDER BY created_at, id`)
}

// ProviderPayouts returns a provider's payouts, newest first, at most
// limit of them (0 for all).
func (t *Tx) ProviderPayouts(ctx context.Context, providerID string,
	limit int) ([]Payout, error) {

	query := `SELECT ` + payoutColumns + ` FROM payouts
		WHERE provider_id = $1 ORDER BY created_at DESC, id DESC`
	args := []any{providerID}
	if limit > 0 {
		query += ` LIMIT $2`
		args = append(args, limit)
	}
	return t.queryPayouts(ctx, "payouts of provider "+providerID, query,
		args...)
}

// Payouts returns every payout in the given state ("" for all), oldest
// first.
func (t *Tx) Payouts(ctx context.Context, state string) ([]Payout, error) {
	if state == "" {
		return t.queryPayouts(ctx, "payouts", `SELECT `+
			payoutColumns+` FROM payouts ORDER BY created_at, id`)
	}
	return t.queryPayouts(ctx, "payouts "+state, `SELECT `+payoutColumns+`
		FROM payouts WHERE state = $1 ORDER BY created_at, id`, state)
}

// ResolvePayout moves a pending payout to its final state. A payout that is
// not pending any more fails with ErrStale; an unknown one with
// ErrNotFound.
func (t *Tx) ResolvePayout(ctx context.Context, u PayoutUpdate) error {
	res, err := t.exec(ctx, `UPDATE payouts SET state = $1, fee_msat = $2,
		failure = $3, resolved_at = $4
		WHERE id = $5 AND state = 'pending'`, u.State, int64(u.Fee),
		u.Failure, dbTime(u.ResolvedAt), u.ID)
	if err != nil {
		return fmt.Errorf("resolve payout %s: %w", u.ID, err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return fmt.Errorf("resolve payout %s: %w", u.ID, mapError(err))
	}
	if n == 1 {
		return nil
	}
	p, err := t.PayoutByID(ctx, u.ID)
	if err != nil {
		return err
	}
	return fmt.Errorf("payout %s is %s, not pending: %w", u.ID, p.State,
		ErrStale)
}

// PayoutCandidates returns the linked providers whose payable balance is
// above zero, with their node, ordered by provider id. Payable of a ref
// that names no provider is left out: there is no node to pay.
func (t *Tx) PayoutCandidates(ctx context.Context) ([]PayoutCandidate,
	error) {

	rows, err := t.query(ctx, `SELECT p.id, p.node_pubkey, a.balance
		FROM accounts a JOIN providers p ON p.id = a.ref
		WHERE a.kind = $1 AND a.balance > 0
		ORDER BY p.id`, string(ledger.KindProviderPayable))
	if err != nil {
		return nil, fmt.Errorf("payout candidates: %w", err)
	}
	defer rows.Close()

	var out []PayoutCandidate
	for rows.Next() {
		var c PayoutCandidate
		err := rows.Scan(&c.ProviderID, &c.NodePubkey, &c.Payable)
		if err != nil {
			return nil, fmt.Errorf("payout candidates: %w",
				mapError(err))
		}
		out = append(out, c)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("payout candidates: %w", mapError(err))
	}
	return out, nil
}

// nullInt64 is a nullable integer column's value for a pointer.
func nullInt64[T ~int64](v *T) sql.NullInt64 {
	if v == nil {
		return sql.NullInt64{}
	}
	return sql.NullInt64{Int64: int64(*v), Valid: true}
}

// SetPayoutPolicy records a provider's overrides, replacing earlier ones.
// An unknown provider fails with ErrForeignKeyViolation; a value out of
// range with ErrCheckViolation.
func (t *Tx) SetPayoutPolicy(ctx context.Context, p PayoutPolicy) error {
	var intervalMS *int64
	if p.Interval != nil {
		ms := p.Interval.Milliseconds()
		intervalMS = &ms
	}
	feePayer := sql.NullString{}
	if p.FeePayer != nil {
		feePayer = sql.NullString{String: *p.FeePayer, Valid: true}
	}
	_, err := t.exec(ctx, `INSERT INTO payout_policies (provider_id,
		interval_ms, minimum_msat, fee_floor_msat, fee_ppm, fee_payer,
		updated_at) VALUES ($1, $2, $3, $4, $5, $6, $7)
		ON CONFLICT (provider_id) DO UPDATE SET
		interval_ms = excluded.interval_ms,
		minimum_msat = excluded.minimum_msat,
		fee_floor_msat = excluded.fee_floor_msat,
		fee_ppm = excluded.fee_ppm, fee_payer = excluded.fee_payer,
		updated_at = excluded.updated_at`,
		p.ProviderID, nullInt64(intervalMS), nullInt64(p.Minimum),
		nullInt64(p.FeeFloor), nullInt64(p.FeePPM), feePayer,
		dbTime(p.UpdatedAt))
	if err != nil {
		return fmt.Errorf("set payout policy of %s: %w", p.ProviderID,
			err)
	}
	return nil
}

// payoutPolicyColumns are the columns scanPayoutPolicy reads, in order.
const payoutPolicyColumns = `provider_id, interval_ms, minimum_msat,
	fee_floor_msat, fee_ppm, fee_payer, updated_at`

// scanPayoutPolicy reads one policy row.
func scanPayoutPolicy(row rowScanner) (PayoutPolicy, error) {
	var (
		p                             PayoutPolicy
		interval, minimum, floor, ppm sql.NullInt64
		payer                         sql.NullString
		updated                       time.Time
	)
	err := row.Scan(&p.ProviderID, &interval, &minimum, &floor, &ppm,
		&payer, &updated)
	if err != nil {
		return PayoutPolicy{}, err
	}
	if interval.Valid {
		d := time.Duration(interval.Int64) * time.Millisecond
		p.Interval = &d
	}
	if minimum.Valid {
		m := ledger.MilliSatoshi(minimum.Int64)
		p.Minimum = &m
	}
	if floor.Valid {
		f := ledger.MilliSatoshi(floor.Int64)
		p.FeeFloor = &f
	}
	if ppm.Valid {
		v := ppm.Int64
		p.FeePPM = &v
	}
	if payer.Valid {
		s := payer.String
		p.FeePayer = &s
	}
	p.UpdatedAt = updated.UTC()
	return p, nil
}

// PayoutPolicy returns a provider's overrides, or ErrNotFound when it has
// none.
func (t *Tx) PayoutPolicy(ctx context.Context, providerID string) (
	PayoutPolicy, error) {

	p, err := scanPayoutPolicy(t.queryRow(ctx, `SELECT `+
		payoutPolicyColumns+` FROM payout_policies
		WHERE provider_id = $1`, providerID))
	if err != nil {
		return PayoutPolicy{}, notFound(err,
			"payout policy of "+providerID)
	}
	return p, nil
}

// PayoutPolicies returns every provider's overrides by provider id.
func (t *Tx) PayoutPolicies(ctx context.Context) (map[string]PayoutPolicy,
	error) {

	rows, err := t.query(ctx, `SELECT `+payoutPolicyColumns+`
		FROM payout_policies`)
	if err != nil {
		return nil, fmt.Errorf("payout policies: %w", err)
	}
	defer rows.Close()

	out := make(map[string]PayoutPolicy)
	for rows.Next() {
		p, err := scanPayoutPolicy(rows)
		if err != nil {
			return nil, fmt.Errorf("payout policies: %w",
				mapError(err))
		}
		out[p.ProviderID] = p
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("payout policies: %w", mapError(err))
	}
	return out, nil
}

// DeletePayoutPolicy removes a provider's overrides, so that the defaults
// apply; removing none is not an error.
func (t *Tx) DeletePayoutPolicy(ctx context.Context, providerID string) error {
	_, err := t.exec(ctx, `DELETE FROM payout_policies
		WHERE provider_id = $1`, providerID)
	if err != nil {
		return fmt.Errorf("delete payout policy of %s: %w", providerID,
			err)
	}
	return nil
}

// SetPayoutStatus records a provider's payout status, replacing the one
// before.
func (t *Tx) SetPayoutStatus(ctx context.Context, s PayoutStatus) error {
	_, err := t.exec(ctx, `INSERT INTO payout_status (provider_id, state,
		reason, since, retry_at, failures, updated_at)
		VALUES ($1, $2, $3, $4, $5, $6, $7)
		ON CONFLICT (provider_id) DO UPDATE SET
		state = excluded.state, reason = excluded.reason,
		since = excluded.since, retry_at = excluded.retry_at,
		failures = excluded.failures,
		updated_at = excluded.updated_at`,
		s.ProviderID, s.State, s.Reason, dbTime(s.Since),
		nullTime(s.RetryAt), s.Failures, dbTime(s.UpdatedAt))
	if err != nil {
		return fmt.Errorf("set payout status of %s: %w", s.ProviderID,
			err)
	}
	return nil
}

// payoutStatusColumns are the columns scanPayoutStatus reads, in order.
const payoutStatusColumns = `provider_id, state, reason, since, retry_at,
	failures, updated_at`

// scanPayoutStatus reads one status row.
func scanPayoutStatus(row rowScanner) (PayoutStatus, error) {
	var (
		s              PayoutStatus
		since, updated time.Time
		retry          sql.NullTime
	)
	err := row.Scan(&s.ProviderID, &s.State, &s.Reason, &since, &retry,
		&s.Failures, &updated)
	if err != nil {
		return PayoutStatus{}, err
	}
	s.Since, s.UpdatedAt = since.UTC(), updated.UTC()
	s.RetryAt = fromNull(retry)
	return s, nil
}

// PayoutStatus returns a provider's payout status, or ErrNotFound when
// none was recorded.
func (t *Tx) PayoutStatus(ctx context.Context, providerID string) (
	PayoutStatus, error) {

	s, err := scanPayoutStatus(t.queryRow(ctx, `SELECT `+
		payoutStatusColumns+` FROM payout_status
		WHERE provider_id = $1`, providerID))
	if err != nil {
		return PayoutStatus{}, notFound(err,
			"payout status of "+providerID)
	}
	return s, nil
}

// PayoutStatuses returns every recorded payout status by provider id.
func (t *Tx) PayoutStatuses(ctx context.Context) (map[string]PayoutStatus,
	error) {

	rows, err := t.query(ctx, `SELECT `+payoutStatusColumns+`
		FROM payout_status`)
	if err != nil {
		return nil, fmt.Errorf("payout statuses: %w", err)
	}
	defer rows.Close()

	out := make(map[string]PayoutStatus)
	for rows.Next() {
		s, err := scanPayoutStatus(rows)
		if err != nil {
			return nil, fmt.Errorf("payout statuses: %w",
				mapError(err))
		}
		out[s.ProviderID] = s
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("payout statuses: %w", mapError(err))
	}
	return out, nil
}
