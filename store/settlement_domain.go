package store

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/sluice-ln/sluice/channels"
	"github.com/sluice-ln/sluice/ledger"
	"github.com/sluice-ln/sluice/metering"
	"github.com/sluice-ln/sluice/outbound"
	"github.com/sluice-ln/sluice/settlement"
	"github.com/sluice-ln/sluice/yield"
)

// Compile-time check that the store is what settlement needs.
var _ settlement.DB = (*DB)(nil)

// ExecSettlement runs fn in one transaction over settlement's rows and the
// ledger (settlement.TxStore), retried as ExecTx retries.
func (d *DB) ExecSettlement(ctx context.Context, readOnly bool,
	fn func(settlement.TxStore) error) error {

	return d.ExecTx(ctx, TxOptions{ReadOnly: readOnly},
		func(tx *Tx) error {
			return fn(settlementTx{Tx: tx})
		})
}

// settlementTx is a store transaction as settlement uses it: settlement's
// rows, converted from and to the store's, and the store's errors turned
// into settlement's sentinels where the contract names one. The ledger's
// queries, Balance and the cursors are Tx's own, promoted. Metering's
// group commit hands its transaction to settlement as one of these
// (metering_domain.go), so that both domains' writes commit together.
type settlementTx struct {
	*Tx
}

// Compile-time check that settlementTx is settlement's transaction.
var _ settlement.TxStore = settlementTx{}

// InsertBuyer records a buyer; a name taken is settlement.ErrBuyerExists.
func (s settlementTx) InsertBuyer(ctx context.Context,
	b settlement.Buyer) error {

	err := s.Tx.InsertBuyer(ctx, Buyer(b))
	if errors.Is(err, ErrUniqueViolation) {
		return fmt.Errorf("%w: %w", settlement.ErrBuyerExists, err)
	}
	return err
}

// BuyerByID returns a buyer; none is settlement.ErrBuyerNotFound.
func (s settlementTx) BuyerByID(ctx context.Context, id string) (
	settlement.Buyer, error) {

	b, err := s.Tx.BuyerByID(ctx, id)
	if errors.Is(err, ErrNotFound) {
		return settlement.Buyer{}, fmt.Errorf("%w: %w",
			settlement.ErrBuyerNotFound, err)
	}
	return settlement.Buyer(b), err
}

func (s settlementTx) Buyers(ctx context.Context) ([]settlement.Buyer,
	error) {

	rows, err := s.Tx.Buyers(ctx)
	if err != nil {
		return nil, err
	}
	var out []settlement.Buyer
	for _, b := range rows {
		out = append(out, settlement.Buyer(b))
	}
	return out, nil
}

func (s settlementTx) InsertJob(ctx context.Context,
	j settlement.StoredJob) error {

	row := Job{
		ID:             j.ID,
		BuyerID:        j.BuyerID,
		ProviderID:     j.ProviderID,
		State:          string(j.State),
		Budget:         j.Budget,
		BufferSeconds:  j.BufferSeconds,
		PricePerSecond: j.PricePerSecond,
		RefundPubkey:   j.RefundPubkey,
		CreatedAt:      j.CreatedAt,
		UpdatedAt:      j.UpdatedAt,
		StartedAt:      j.StartedAt,
		EndedAt:        j.EndedAt,
	}
	for _, r := range j.Resources {
		row.Resources = append(row.Resources, JobResource{
			Resource:     string(r.Resource),
			MaxPerSecond: r.MaxPerSecond,
			Rate:         r.Rate,
		})
	}
	return s.Tx.InsertJob(ctx, row)
}

// storedJob is a jobs row as settlement keeps it.
func storedJob(j Job) settlement.StoredJob {
	out := settlement.StoredJob{
		ID:             j.ID,
		BuyerID:        j.BuyerID,
		ProviderID:     j.ProviderID,
		State:          settlement.State(j.State),
		Budget:         j.Budget,
		BufferSeconds:  j.BufferSeconds,
		PricePerSecond: j.PricePerSecond,
		RefundPubkey:   j.RefundPubkey,
		CreatedAt:      j.CreatedAt,
		UpdatedAt:      j.UpdatedAt,
		StartedAt:      j.StartedAt,
		EndedAt:        j.EndedAt,
	}
	for _, r := range j.Resources {
		out.Resources = append(out.Resources, settlement.StoredResource{
			Resource:     channels.Resource(r.Resource),
			MaxPerSecond: r.MaxPerSecond,
			Rate:         r.Rate,
		})
	}
	return out
}

// jobNotFound turns the store's ErrNotFound for a job into
// settlement.ErrJobNotFound.
func jobNotFound(err error) error {
	if errors.Is(err, ErrNotFound) {
		return fmt.Errorf("%w: %w", settlement.ErrJobNotFound, err)
	}
	return err
}

// JobByID returns a job; none is settlement.ErrJobNotFound.
func (s settlementTx) JobByID(ctx context.Context, id string) (
	settlement.StoredJob, error) {

	j, err := s.Tx.JobByID(ctx, id)
	if err != nil {
		return settlement.StoredJob{}, jobNotFound(err)
	}
	return storedJob(j), nil
}

func (s settlementTx) ListJobs(ctx context.Context,
	f settlement.ListFilter) ([]settlement.StoredJob, error) {

	jf := JobFilter{BuyerID: f.BuyerID, ProviderID: f.ProviderID,
		Limit: f.Limit, Offset: f.Offset}
	for _, st := range f.States {
		jf.States = append(jf.States, string(st))
	}
	rows, err := s.Tx.ListJobs(ctx, jf)
	if err != nil {
		return nil, err
	}
	var out []settlement.StoredJob
	for _, j := range rows {
		out = append(out, storedJob(j))
	}
	return out, nil
}

// UpdateJobState makes a state change; a job no longer in From is
// settlement.ErrStale, none settlement.ErrJobNotFound.
func (s settlementTx) UpdateJobState(ctx context.Context,
	c settlement.StateChange) error {

	err := s.Tx.UpdateJobState(ctx, JobUpdate{
		ID:        c.ID,
		From:      string(c.From),
		To:        string(c.To),
		At:        c.At,
		StartedAt: c.StartedAt,
		EndedAt:   c.EndedAt,
	})
	if errors.Is(err, ErrStale) {
		return fmt.Errorf("%w: %w", settlement.ErrStale, err)
	}
	return jobNotFound(err)
}

// SetJobRefundPubkey sets a job's refund node; none is
// settlement.ErrJobNotFound.
func (s settlementTx) SetJobRefundPubkey(ctx context.Context, id,
	pubkey string, at time.Time) error {

	return jobNotFound(s.Tx.SetJobRefundPubkey(ctx, id, pubkey, at))
}

func (s settlementTx) InsertJobEvent(ctx context.Context,
	e settlement.StoredEvent) error {

	_, err := s.Tx.InsertJobEvent(ctx, JobEvent{
		JobID:  e.JobID,
		From:   string(e.From),
		To:     string(e.To),
		Cause:  string(e.Cause),
		Detail: e.Detail,
		At:     e.At,
	})
	return err
}

func (s settlementTx) JobEvents(ctx context.Context, jobID string) (
	[]settlement.StoredEvent, error) {

	rows, err := s.Tx.JobEvents(ctx, jobID)
	if err != nil {
		return nil, err
	}
	var out []settlement.StoredEvent
	for _, e := range rows {
		out = append(out, settlement.StoredEvent{
			JobID:  e.JobID,
			From:   settlement.State(e.From),
			To:     settlement.State(e.To),
			Cause:  settlement.Cause(e.Cause),
			Detail: e.Detail,
			At:     e.At,
		})
	}
	return out, nil
}

func (s settlementTx) InsertJobInvoice(ctx context.Context,
	inv settlement.StoredInvoice) error {

	return s.Tx.InsertJobInvoice(ctx, JobInvoice{
		PaymentHash:    inv.PaymentHash,
		JobID:          inv.JobID,
		Purpose:        string(inv.Purpose),
		Amount:         inv.Amount,
		PaymentRequest: inv.PaymentRequest,
		State:          inv.State,
		AmountPaid:     inv.AmountPaid,
		SettleIndex:    inv.SettleIndex,
		CreatedAt:      inv.CreatedAt,
		ExpiresAt:      inv.ExpiresAt,
		SettledAt:      inv.SettledAt,
	})
}

// storedInvoice is a job_invoices row as settlement keeps it.
func storedInvoice(inv JobInvoice) settlement.StoredInvoice {
	return settlement.StoredInvoice{
		PaymentHash:    inv.PaymentHash,
		JobID:          inv.JobID,
		Purpose:        settlement.InvoicePurpose(inv.Purpose),
		Amount:         inv.Amount,
		PaymentRequest: inv.PaymentRequest,
		State:          inv.State,
		AmountPaid:     inv.AmountPaid,
		SettleIndex:    inv.SettleIndex,
		CreatedAt:      inv.CreatedAt,
		ExpiresAt:      inv.ExpiresAt,
		SettledAt:      inv.SettledAt,
	}
}

// storedInvoices is storedInvoice over rows, or the error that read them.
func storedInvoices(rows []JobInvoice, err error) (
	[]settlement.StoredInvoice, error) {

	if err != nil {
		return nil, err
	}
	var out []settlement.StoredInvoice
	for _, inv := range rows {
		out = append(out, storedInvoice(inv))
	}
	return out, nil
}

// invoiceNotFound turns the store's ErrNotFound for an invoice into
// settlement.ErrInvoiceNotFound.
func invoiceNotFound(err error) error {
	if errors.Is(err, ErrNotFound) {
		return fmt.Errorf("%w: %w", settlement.ErrInvoiceNotFound, err)
	}
	return err
}

// JobInvoiceByHash returns a job's invoice; none is
// settlement.ErrInvoiceNotFound.
func (s settlementTx) JobInvoiceByHash(ctx context.Context, hash string) (
	settlement.StoredInvoice, error) {

	inv, err := s.Tx.JobInvoiceByHash(ctx, hash)
	if err != nil {
		return settlement.StoredInvoice{}, invoiceNotFound(err)
	}
	return storedInvoice(inv), nil
}

func (s settlementTx) JobInvoices(ctx context.Context, jobID string) (
	[]settlement.StoredInvoice, error) {

	return storedInvoices(s.Tx.JobInvoices(ctx, jobID))
}

func (s settlementTx) OpenJobInvoices(ctx context.Context) (
	[]settlement.StoredInvoice, error) {

	return storedInvoices(s.Tx.OpenJobInvoices(ctx))
}

// UpdateJobInvoice records an invoice's outcome; one settled already is
// settlement.ErrStale, none settlement.ErrInvoiceNotFound.
func (s settlementTx) UpdateJobInvoice(ctx context.Context,
	o settlement.InvoiceOutcome) error {

	err := s.Tx.UpdateJobInvoice(ctx, InvoiceUpdate{
		PaymentHash: o.PaymentHash,
		State:       o.State,
		AmountPaid:  o.AmountPaid,
		SettleIndex: o.SettleIndex,
		SettledAt:   o.SettledAt,
	})
	if errors.Is(err, ErrStale) {
		return fmt.Errorf("%w: %w", settlement.ErrStale, err)
	}
	return invoiceNotFound(err)
}

// InsertRefund records a refund intent; a unique key taken (a pending
// refund of the job, a hash refunded before) is
// settlement.ErrRefundInFlight.
func (s settlementTx) InsertRefund(ctx context.Context,
	r settlement.StoredRefund) error {

	err := s.Tx.InsertRefund(ctx, Refund{
		PaymentHash:    r.PaymentHash,
		JobID:          r.JobID,
		Method:         string(r.Method),
		PaymentRequest: r.PaymentRequest,
		DestPubkey:     r.DestPubkey,
		Preimage:       r.Preimage,
		Amount:         r.Amount,
		FeeLimit:       r.FeeLimit,
		State:          string(r.State),
		Fee:            r.Fee,
		Failure:        r.Failure,
		CreatedAt:      r.CreatedAt,
		ResolvedAt:     r.ResolvedAt,
	})
	if errors.Is(err, ErrUniqueViolation) {
		return fmt.Errorf("%w: %w", settlement.ErrRefundInFlight, err)
	}
	return err
}

// storedRefunds is the refunds rows as settlement keeps them, or the error
// that read them.
func storedRefunds(rows []Refund, err error) ([]settlement.StoredRefund,
	error) {

	if err != nil {
		return nil, err
	}
	var out []settlement.StoredRefund
	for _, r := range rows {
		out = append(out, settlement.StoredRefund{
			PaymentHash:    r.PaymentHash,
			JobID:          r.JobID,
			Method:         settlement.RefundMethod(r.Method),
			PaymentRequest: r.PaymentRequest,
			DestPubkey:     r.DestPubkey,
			Preimage:       r.Preimage,
			Amount:         r.Amount,
			FeeLimit:       r.FeeLimit,
			State:          settlement.RefundState(r.State),
			Fee:            r.Fee,
			Failure:        r.Failure,
			CreatedAt:      r.CreatedAt,
			ResolvedAt:     r.ResolvedAt,
		})
	}
	return out, nil
}

func (s settlementTx) JobRefunds(ctx context.Context, jobID string) (
	[]settlement.StoredRefund, error) {

	return storedRefunds(s.Tx.JobRefunds(ctx, jobID))
}

func (s settlementTx) PendingRefunds(ctx context.Context) (
	[]settlement.StoredRefund, error) {

	return storedRefunds(s.Tx.PendingRefunds(ctx))
}

func (s settlementTx) OwedEndedJobs(ctx context.Context) (
	[]settlement.OwedJob, error) {

	rows, err := s.Tx.OwedEndedJobs(ctx)
	if err != nil {
		return nil, err
	}
	var out []settlement.OwedJob
	for _, j := range rows {
		out = append(out, settlement.OwedJob(j))
	}
	return out, nil
}

// ResolveRefund records a refund's outcome; a refund no longer pending
// (ErrStale) is outbound.ErrInvalidTransition, the lifecycle's refusal to
// record an outcome twice.
func (s settlementTx) ResolveRefund(ctx context.Context,
	o settlement.RefundOutcome) error {

	err := s.Tx.ResolveRefund(ctx, RefundUpdate{
		PaymentHash: o.PaymentHash,
		State:       string(o.State),
		Fee:         o.Fee,
		Failure:     o.Failure,
		ResolvedAt:  o.ResolvedAt,
	})
	if errors.Is(err, ErrStale) {
		return fmt.Errorf("%w: %w", outbound.ErrInvalidTransition, err)
	}
	return err
}

// JobAutoStaked sums the vault's postings of the job's auto-stakes, whose
// keys are yield's auto-stake prefix on metering's usage keys of the job.
func (s settlementTx) JobAutoStaked(ctx context.Context, jobID string) (
	ledger.MilliSatoshi, error) {

	return s.Tx.PostedByKeyPrefix(ctx, ledger.Vault(),
		yield.AutoStakeKeyPrefix+metering.UsageKeyPrefix(jobID))
}

// JobMetered reads the job's meter; zero for a job never metered.
func (s settlementTx) JobMetered(ctx context.Context, jobID string) (
	settlement.Metered, error) {

	m, err := s.Tx.UsageMeter(ctx, jobID)
	switch {
	case errors.Is(err, ErrNotFound):
		return settlement.Metered{}, nil
	case err != nil:
		return settlement.Metered{}, err
	}
	return settlement.Metered{LastSeq: m.LastSeq, Charged: m.Charged,
		Fees: m.Fees}, nil
}
