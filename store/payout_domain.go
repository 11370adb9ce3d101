package store

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/sluice-ln/sluice/outbound"
	"github.com/sluice-ln/sluice/payout"
)

// Compile-time check that the store is what payouts need.
var _ payout.DB = (*DB)(nil)

// ExecPayouts runs fn in one transaction over payouts' rows and the ledger
// (payout.TxStore), retried as ExecTx retries.
func (d *DB) ExecPayouts(ctx context.Context, readOnly bool,
	fn func(payout.TxStore) error) error {

	return d.ExecTx(ctx, TxOptions{ReadOnly: readOnly},
		func(tx *Tx) error {
			if !readOnly {
				// A payout's intent reads the accounts its
				// move posts to (memo.go).
				tx.remember()
			}
			return fn(payoutTx{Tx: tx})
		})
}

// payoutTx is a store transaction as payouts use it: payouts' rows,
// converted from and to the store's, and the store's errors turned into
// payout's sentinels where the contract names one. The ledger's queries
// and Balance are Tx's own, promoted.
type payoutTx struct {
	*Tx
}

// Compile-time check that payoutTx is payouts' transaction.
var _ payout.TxStore = payoutTx{}

// storedPayout is a payouts row as payouts keeps it.
func storedPayout(p Payout) payout.StoredPayout {
	return payout.StoredPayout{
		ID:          p.ID,
		ProviderID:  p.ProviderID,
		DestPubkey:  p.DestPubkey,
		Amount:      p.Amount,
		FeeBudget:   p.FeeBudget,
		FeePayer:    payout.FeePayer(p.FeePayer),
		PaymentHash: p.PaymentHash,
		Preimage:    p.Preimage,
		State:       payout.State(p.State),
		Fee:         p.Fee,
		Failure:     p.Failure,
		CreatedAt:   p.CreatedAt,
		ResolvedAt:  p.ResolvedAt,
	}
}

// storedPayouts is storedPayout over rows, or the error that read them.
func storedPayouts(rows []Payout, err error) ([]payout.StoredPayout, error) {
	if err != nil {
		return nil, err
	}
	out := make([]payout.StoredPayout, len(rows))
	for i, p := range rows {
		out[i] = storedPayout(p)
	}
	return out, nil
}

// InsertPayout records a payout intent; a unique key taken (a pending
// payout of the provider, a hash used before) is payout.ErrProviderBusy,
// an unknown provider payout.ErrProviderNotFound.
func (p payoutTx) InsertPayout(ctx context.Context,
	sp payout.StoredPayout) error {

	err := p.Tx.InsertPayout(ctx, Payout{
		ID:          sp.ID,
		ProviderID:  sp.ProviderID,
		DestPubkey:  sp.DestPubkey,
		Amount:      sp.Amount,
		FeeBudget:   sp.FeeBudget,
		FeePayer:    string(sp.FeePayer),
		PaymentHash: sp.PaymentHash,
		Preimage:    sp.Preimage,
		State:       string(sp.State),
		Fee:         sp.Fee,
		Failure:     sp.Failure,
		CreatedAt:   sp.CreatedAt,
		ResolvedAt:  sp.ResolvedAt,
	})
	switch {
	case errors.Is(err, ErrUniqueViolation):
		return fmt.Errorf("%w: %w", payout.ErrProviderBusy, err)
	case errors.Is(err, ErrForeignKeyViolation):
		return fmt.Errorf("%w: %w", payout.ErrProviderNotFound, err)
	}
	return err
}

// Payout returns a payout; payout.ErrPayoutNotFound for none.
func (p payoutTx) Payout(ctx context.Context, id string) (
	payout.StoredPayout, error) {

	row, err := p.Tx.PayoutByID(ctx, id)
	if errors.Is(err, ErrNotFound) {
		return payout.StoredPayout{}, fmt.Errorf("%w: %w",
			payout.ErrPayoutNotFound, err)
	}
	if err != nil {
		return payout.StoredPayout{}, err
	}
	return storedPayout(row), nil
}

func (p payoutTx) PendingPayouts(ctx context.Context) ([]payout.StoredPayout,
	error) {

	return storedPayouts(p.Tx.PendingPayouts(ctx))
}

func (p payoutTx) ProviderPendingPayout(ctx context.Context,
	providerID string) (payout.StoredPayout, bool, error) {

	row, err := p.Tx.ProviderPendingPayout(ctx, providerID)
	switch {
	case errors.Is(err, ErrNotFound):
		return payout.StoredPayout{}, false, nil
	case err != nil:
		return payout.StoredPayout{}, false, err
	}
	return storedPayout(row), true, nil
}

func (p payoutTx) ProviderPayouts(ctx context.Context, providerID string,
	limit int) ([]payout.StoredPayout, error) {

	return storedPayouts(p.Tx.ProviderPayouts(ctx, providerID, limit))
}

func (p payoutTx) ProviderPayoutCounts(ctx context.Context,
	providerID string) (payout.StoredCounts, error) {

	c, err := p.Tx.ProviderPayoutCounts(ctx, providerID)
	if err != nil {
		return payout.StoredCounts{}, err
	}
	out := payout.StoredCounts{Total: c.Total, Succeeded: c.Succeeded}
	if c.Last != nil {
		out.LastPaidAt = c.Last.ResolvedAt
	}
	return out, nil
}

// ResolvePayout records an outcome; a payout no longer pending (ErrStale)
// is outbound.ErrInvalidTransition, the lifecycle's refusal to record an
// outcome twice, and none payout.ErrPayoutNotFound.
func (p payoutTx) ResolvePayout(ctx context.Context,
	o payout.StoredOutcome) error {

	err := p.Tx.ResolvePayout(ctx, PayoutUpdate{
		ID:         o.ID,
		State:      string(o.State),
		Fee:        o.Fee,
		Failure:    o.Failure,
		ResolvedAt: o.ResolvedAt,
	})
	switch {
	case errors.Is(err, ErrStale):
		return fmt.Errorf("%w: %w", outbound.ErrInvalidTransition, err)
	case errors.Is(err, ErrNotFound):
		return fmt.Errorf("%w: %w", payout.ErrPayoutNotFound, err)
	}
	return err
}

func (p payoutTx) PayoutCandidates(ctx context.Context) (
	[]payout.StoredCandidate, error) {

	rows, err := p.Tx.PayoutCandidates(ctx)
	if err != nil {
		return nil, err
	}
	out := make([]payout.StoredCandidate, len(rows))
	for i, c := range rows {
		out[i] = payout.StoredCandidate{
			ProviderID: c.ProviderID,
			NodePubkey: c.NodePubkey,
			Payable:    c.Payable,
		}
	}
	return out, nil
}

func (p payoutTx) PayoutCandidateState(ctx context.Context,
	providerID string) (payout.StoredCandidateState, bool, error) {

	c, err := p.Tx.PayoutCandidateState(ctx, providerID)
	switch {
	case errors.Is(err, ErrNotFound):
		return payout.StoredCandidateState{}, false, nil
	case err != nil:
		return payout.StoredCandidateState{}, false, err
	}
	out := payout.StoredCandidateState{
		StoredCandidate: payout.StoredCandidate{
			ProviderID: c.ProviderID,
			NodePubkey: c.NodePubkey,
			Payable:    c.Payable,
		},
		RetryAt: c.RetryAt,
	}
	if c.Policy != nil {
		o := override(*c.Policy)
		out.Override = &o
	}
	return out, true, nil
}

func (p payoutTx) ProviderExists(ctx context.Context, providerID string) (
	bool, error) {

	_, err := p.Tx.Provider(ctx, providerID)
	switch {
	case errors.Is(err, ErrProviderNotFound):
		return false, nil
	case err != nil:
		return false, err
	}
	return true, nil
}

// SetPayoutPolicy records an override; an unknown provider is
// payout.ErrProviderNotFound.
func (p payoutTx) SetPayoutPolicy(ctx context.Context, providerID string,
	o payout.Override, at time.Time) error {

	sp := PayoutPolicy{
		ProviderID: providerID,
		Interval:   o.Interval,
		Minimum:    o.Minimum,
		FeeFloor:   o.FeeFloor,
		FeePPM:     o.FeePPM,
		UpdatedAt:  at,
	}
	if o.FeePayer != nil {
		payer := string(*o.FeePayer)
		sp.FeePayer = &payer
	}
	err := p.Tx.SetPayoutPolicy(ctx, sp)
	if errors.Is(err, ErrForeignKeyViolation) {
		return fmt.Errorf("%w: %w", payout.ErrProviderNotFound, err)
	}
	return err
}

// override is a stored policy as payouts' Override.
func override(sp PayoutPolicy) payout.Override {
	o := payout.Override{
		Interval: sp.Interval,
		Minimum:  sp.Minimum,
		FeeFloor: sp.FeeFloor,
		FeePPM:   sp.FeePPM,
	}
	if sp.FeePayer != nil {
		payer := payout.FeePayer(*sp.FeePayer)
		o.FeePayer = &payer
	}
	return o
}

func (p payoutTx) PayoutPolicy(ctx context.Context, providerID string) (
	payout.Override, bool, error) {

	sp, err := p.Tx.PayoutPolicy(ctx, providerID)
	switch {
	case errors.Is(err, ErrNotFound):
		return payout.Override{}, false, nil
	case err != nil:
		return payout.Override{}, false, err
	}
	return override(sp), true, nil
}

func (p payoutTx) PayoutPolicies(ctx context.Context) (
	map[string]payout.Override, error) {

	rows, err := p.Tx.PayoutPolicies(ctx)
	if err != nil {
		return nil, err
	}
	out := make(map[string]payout.Override, len(rows))
	for id, sp := range rows {
		out[id] = override(sp)
	}
	return out, nil
}

func (p payoutTx) SetPayoutStatus(ctx context.Context,
	s payout.StoredStatus) error {

	return p.Tx.SetPayoutStatus(ctx, PayoutStatus{
		ProviderID: s.ProviderID,
		State:      string(s.State),
		Reason:     s.Reason,
		Since:      s.Since,
		RetryAt:    s.RetryAt,
		Failures:   s.Failures,
		UpdatedAt:  s.UpdatedAt,
	})
}

// storedStatus is a payout_status row as payouts keeps it.
func storedStatus(s PayoutStatus) payout.StoredStatus {
	return payout.StoredStatus{
		ProviderID: s.ProviderID,
		Status: payout.Status{
			State:    payout.StatusState(s.State),
			Reason:   s.Reason,
			Since:    s.Since,
			RetryAt:  s.RetryAt,
			Failures: s.Failures,
		},
		UpdatedAt: s.UpdatedAt,
	}
}

func (p payoutTx) PayoutStatus(ctx context.Context, providerID string) (
	payout.StoredStatus, bool, error) {

	s, err := p.Tx.PayoutStatus(ctx, providerID)
	switch {
	case errors.Is(err, ErrNotFound):
		return payout.StoredStatus{}, false, nil
	case err != nil:
		return payout.StoredStatus{}, false, err
	}
	return storedStatus(s), true, nil
}

func (p payoutTx) PayoutStatuses(ctx context.Context) (
	map[string]payout.StoredStatus, error) {

	rows, err := p.Tx.PayoutStatuses(ctx)
	if err != nil {
		return nil, err
	}
	out := make(map[string]payout.StoredStatus, len(rows))
	for id, s := range rows {
		out[id] = storedStatus(s)
	}
	return out, nil
}

// ProviderJobs reads the provider's jobs and each one's meter; a job never
// metered has zeros.
func (p payoutTx) ProviderJobs(ctx context.Context, providerID string) (
	[]payout.StoredJob, error) {

	jobs, err := p.Tx.ListJobs(ctx, JobFilter{ProviderID: providerID})
	if err != nil {
		return nil, err
	}
	out := make([]payout.StoredJob, len(jobs))
	for i, j := range jobs {
		out[i] = payout.StoredJob{ID: j.ID, State: j.State}
		m, err := p.Tx.UsageMeter(ctx, j.ID)
		switch {
		case errors.Is(err, ErrNotFound):
			continue
		case err != nil:
			return nil, err
		}
		out[i].LastSeq, out[i].Charged, out[i].Fees =
			m.LastSeq, m.Charged, m.Fees
	}
	return out, nil
}
