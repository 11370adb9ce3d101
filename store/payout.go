package store

import (
	"context"
	"database/sql"
	"fmt"
	"math"
	"time"

	"github.com/sluice-ln/sluice/ledger"
	"github.com/sluice-ln/sluice/store/sqlc"
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

// payoutFromRow is a payouts row as a Payout.
func payoutFromRow(row sqlc.Payout) Payout {
	return Payout{
		ID:          row.ID,
		ProviderID:  row.ProviderID,
		DestPubkey:  row.DestPubkey,
		Amount:      ledger.MilliSatoshi(row.AmountMsat),
		FeeBudget:   ledger.MilliSatoshi(row.FeeBudgetMsat),
		FeePayer:    row.FeePayer,
		PaymentHash: row.PaymentHash,
		Preimage:    row.Preimage,
		State:       row.State,
		Fee:         ledger.MilliSatoshi(row.FeeMsat),
		Failure:     row.Failure,
		CreatedAt:   row.CreatedAt.UTC(),
		ResolvedAt:  fromNull(row.ResolvedAt),
	}
}

// payoutsFromRows is payoutFromRow over a query's rows, or the query's
// error with what it was for.
func payoutsFromRows(rows []sqlc.Payout, err error, what string) ([]Payout,
	error) {

	if err != nil {
		return nil, fmt.Errorf("%s: %w", what, mapError(err))
	}
	var out []Payout
	for _, row := range rows {
		out = append(out, payoutFromRow(row))
	}
	return out, nil
}

// InsertPayout records a new payout intent. A second pending payout of the
// same provider, or a payment hash used before, fails with
// ErrUniqueViolation; an unknown provider with ErrForeignKeyViolation.
func (t *Tx) InsertPayout(ctx context.Context, p Payout) error {
	err := t.q.InsertPayout(ctx, sqlc.InsertPayoutParams{
		ID:            p.ID,
		ProviderID:    p.ProviderID,
		DestPubkey:    p.DestPubkey,
		AmountMsat:    int64(p.Amount),
		FeeBudgetMsat: int64(p.FeeBudget),
		FeePayer:      p.FeePayer,
		PaymentHash:   p.PaymentHash,
		Preimage:      p.Preimage,
		State:         p.State,
		FeeMsat:       int64(p.Fee),
		Failure:       p.Failure,
		CreatedAt:     dbTime(p.CreatedAt),
		ResolvedAt:    nullTime(p.ResolvedAt),
	})
	if err != nil {
		return fmt.Errorf("insert payout %s: %w", p.ID, mapError(err))
	}
	return nil
}

// PayoutByID returns a payout, or ErrNotFound.
func (t *Tx) PayoutByID(ctx context.Context, id string) (Payout, error) {
	row, err := t.q.GetPayout(ctx, id)
	if err != nil {
		return Payout{}, notFound(err, "payout "+id)
	}
	return payoutFromRow(row), nil
}

// PendingPayouts returns every pending payout, oldest first.
func (t *Tx) PendingPayouts(ctx context.Context) ([]Payout, error) {
	rows, err := t.q.ListPendingPayouts(ctx)
	return payoutsFromRows(rows, err, "pending payouts")
}

// ProviderPendingPayout returns the provider's pending payout, or
// ErrNotFound when it has none; it never has more than one.
func (t *Tx) ProviderPendingPayout(ctx context.Context, providerID string) (
	Payout, error) {

	row, err := t.q.GetProviderPendingPayout(ctx, providerID)
	if err != nil {
		return Payout{}, notFound(err,
			"pending payout of "+providerID)
	}
	return payoutFromRow(row), nil
}

// ProviderPayouts returns a provider's payouts, newest first, at most
// limit of them (0 for all).
func (t *Tx) ProviderPayouts(ctx context.Context, providerID string,
	limit int) ([]Payout, error) {

	var (
		rows []sqlc.Payout
		err  error
	)
	if limit > 0 {
		rows, err = t.q.ListProviderPayoutsLimit(ctx,
			sqlc.ListProviderPayoutsLimitParams{
				ProviderID: providerID,
				MaxRows:    int32(min(limit, math.MaxInt32)),
			})
	} else {
		rows, err = t.q.ListProviderPayouts(ctx, providerID)
	}
	return payoutsFromRows(rows, err, "payouts of provider "+providerID)
}

// Payouts returns every payout in the given state ("" for all), oldest
// first.
func (t *Tx) Payouts(ctx context.Context, state string) ([]Payout, error) {
	if state == "" {
		rows, err := t.q.ListPayouts(ctx)
		return payoutsFromRows(rows, err, "payouts")
	}
	rows, err := t.q.ListPayoutsByState(ctx, state)
	return payoutsFromRows(rows, err, "payouts "+state)
}

// ResolvePayout moves a pending payout to its final state. A payout that is
// not pending any more fails with ErrStale; an unknown one with
// ErrNotFound.
func (t *Tx) ResolvePayout(ctx context.Context, u PayoutUpdate) error {
	n, err := t.q.ResolvePayout(ctx, sqlc.ResolvePayoutParams{
		State:      u.State,
		FeeMsat:    int64(u.Fee),
		Failure:    u.Failure,
		ResolvedAt: sql.NullTime{Time: dbTime(u.ResolvedAt), Valid: true},
		ID:         u.ID,
	})
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

	rows, err := t.q.ListPayoutCandidates(ctx,
		string(ledger.KindProviderPayable))
	if err != nil {
		return nil, fmt.Errorf("payout candidates: %w", mapError(err))
	}

	var out []PayoutCandidate
	for _, row := range rows {
		out = append(out, PayoutCandidate{
			ProviderID: row.ID,
			NodePubkey: row.NodePubkey,
			Payable:    ledger.MilliSatoshi(row.Balance),
		})
	}
	return out, nil
}

// PayoutCandidateState is one payout candidate with what the payout
// scheduler weighs besides its payable: its overrides and its retry time.
type PayoutCandidateState struct {
	PayoutCandidate

	// Policy is the provider's overrides; nil when it has none.
	Policy *PayoutPolicy

	// RetryAt is its payout status's retry time; zero when there is
	// none.
	RetryAt time.Time
}

// PayoutCandidateState returns one provider as PayoutCandidates would
// list it, with its overrides and retry time, in one statement; or
// ErrNotFound when it would not be listed: no such provider, or no payable
// above zero.
func (t *Tx) PayoutCandidateState(ctx context.Context, providerID string) (
	PayoutCandidateState, error) {

	row, err := t.q.GetPayoutCandidateState(ctx,
		sqlc.GetPayoutCandidateStateParams{
			PayableKind: string(ledger.KindProviderPayable),
			ProviderID:  providerID,
		})
	if err != nil {
		return PayoutCandidateState{}, notFound(err,
			"payout candidate "+providerID)
	}
	out := PayoutCandidateState{
		PayoutCandidate: PayoutCandidate{
			ProviderID: row.ID,
			NodePubkey: row.NodePubkey,
			Payable:    ledger.MilliSatoshi(row.Balance),
		},
		RetryAt: fromNull(row.RetryAt),
	}
	if row.PolicyProviderID.Valid {
		p := payoutPolicyFromRow(sqlc.PayoutPolicy{
			ProviderID:   row.PolicyProviderID.String,
			IntervalMs:   row.IntervalMs,
			MinimumMsat:  row.MinimumMsat,
			FeeFloorMsat: row.FeeFloorMsat,
			FeePpm:       row.FeePpm,
			FeePayer:     row.FeePayer,
			UpdatedAt:    row.PolicyUpdatedAt.Time,
		})
		out.Policy = &p
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
	err := t.q.UpsertPayoutPolicy(ctx, sqlc.UpsertPayoutPolicyParams{
		ProviderID:   p.ProviderID,
		IntervalMs:   nullInt64(intervalMS),
		MinimumMsat:  nullInt64(p.Minimum),
		FeeFloorMsat: nullInt64(p.FeeFloor),
		FeePpm:       nullInt64(p.FeePPM),
		FeePayer:     feePayer,
		UpdatedAt:    dbTime(p.UpdatedAt),
	})
	if err != nil {
		return fmt.Errorf("set payout policy of %s: %w", p.ProviderID,
			mapError(err))
	}
	return nil
}

// payoutPolicyFromRow is a payout_policies row as a PayoutPolicy.
func payoutPolicyFromRow(row sqlc.PayoutPolicy) PayoutPolicy {
	p := PayoutPolicy{
		ProviderID: row.ProviderID,
		UpdatedAt:  row.UpdatedAt.UTC(),
	}
	if row.IntervalMs.Valid {
		d := time.Duration(row.IntervalMs.Int64) * time.Millisecond
		p.Interval = &d
	}
	if row.MinimumMsat.Valid {
		m := ledger.MilliSatoshi(row.MinimumMsat.Int64)
		p.Minimum = &m
	}
	if row.FeeFloorMsat.Valid {
		f := ledger.MilliSatoshi(row.FeeFloorMsat.Int64)
		p.FeeFloor = &f
	}
	if row.FeePpm.Valid {
		v := row.FeePpm.Int64
		p.FeePPM = &v
	}
	if row.FeePayer.Valid {
		s := row.FeePayer.String
		p.FeePayer = &s
	}
	return p
}

// PayoutPolicy returns a provider's overrides, or ErrNotFound when it has
// none.
func (t *Tx) PayoutPolicy(ctx context.Context, providerID string) (
	PayoutPolicy, error) {

	row, err := t.q.GetPayoutPolicy(ctx, providerID)
	if err != nil {
		return PayoutPolicy{}, notFound(err,
			"payout policy of "+providerID)
	}
	return payoutPolicyFromRow(row), nil
}

// PayoutPolicies returns every provider's overrides by provider id.
func (t *Tx) PayoutPolicies(ctx context.Context) (map[string]PayoutPolicy,
	error) {

	rows, err := t.q.ListPayoutPolicies(ctx)
	if err != nil {
		return nil, fmt.Errorf("payout policies: %w", mapError(err))
	}

	out := make(map[string]PayoutPolicy, len(rows))
	for _, row := range rows {
		out[row.ProviderID] = payoutPolicyFromRow(row)
	}
	return out, nil
}

// DeletePayoutPolicy removes a provider's overrides, so that the defaults
// apply; removing none is not an error.
func (t *Tx) DeletePayoutPolicy(ctx context.Context, providerID string) error {
	if err := t.q.DeletePayoutPolicy(ctx, providerID); err != nil {
		return fmt.Errorf("delete payout policy of %s: %w", providerID,
			mapError(err))
	}
	return nil
}

// SetPayoutStatus records a provider's payout status, replacing the one
// before.
func (t *Tx) SetPayoutStatus(ctx context.Context, s PayoutStatus) error {
	err := t.q.UpsertPayoutStatus(ctx, sqlc.UpsertPayoutStatusParams{
		ProviderID: s.ProviderID,
		State:      s.State,
		Reason:     s.Reason,
		Since:      dbTime(s.Since),
		RetryAt:    nullTime(s.RetryAt),
		Failures:   s.Failures,
		UpdatedAt:  dbTime(s.UpdatedAt),
	})
	if err != nil {
		return fmt.Errorf("set payout status of %s: %w", s.ProviderID,
			mapError(err))
	}
	return nil
}

// payoutStatusFromRow is a payout_status row as a PayoutStatus.
func payoutStatusFromRow(row sqlc.PayoutStatus) PayoutStatus {
	return PayoutStatus{
		ProviderID: row.ProviderID,
		State:      row.State,
		Reason:     row.Reason,
		Since:      row.Since.UTC(),
		RetryAt:    fromNull(row.RetryAt),
		Failures:   row.Failures,
		UpdatedAt:  row.UpdatedAt.UTC(),
	}
}

// PayoutStatus returns a provider's payout status, or ErrNotFound when
// none was recorded.
func (t *Tx) PayoutStatus(ctx context.Context, providerID string) (
	PayoutStatus, error) {

	row, err := t.q.GetPayoutStatus(ctx, providerID)
	if err != nil {
		return PayoutStatus{}, notFound(err,
			"payout status of "+providerID)
	}
	return payoutStatusFromRow(row), nil
}

// PayoutStatuses returns every recorded payout status by provider id.
func (t *Tx) PayoutStatuses(ctx context.Context) (map[string]PayoutStatus,
	error) {

	rows, err := t.q.ListPayoutStatuses(ctx)
	if err != nil {
		return nil, fmt.Errorf("payout statuses: %w", mapError(err))
	}

	out := make(map[string]PayoutStatus, len(rows))
	for _, row := range rows {
		out[row.ProviderID] = payoutStatusFromRow(row)
	}
	return out, nil
}
