package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/sluice-ln/sluice/ledger"
	"github.com/sluice-ln/sluice/store/sqlc"
)

// Settlement's rows: buyers, jobs with their resources and events, the
// invoices that fund them, cursors into lnd's streams, and refunds. The
// store only reads and writes them; package settlement owns what they mean
// (states, transitions, amounts) and checks it before writing.

// Buyer is a buyer the operator added.
type Buyer struct {
	ID        string
	Name      string
	CreatedAt time.Time
}

// Job is one job as stored.
type Job struct {
	ID             string
	BuyerID        string
	ProviderID     string
	State          string
	Budget         ledger.MilliSatoshi
	BufferSeconds  int64
	PricePerSecond string
	RefundPubkey   string
	CreatedAt      time.Time
	UpdatedAt      time.Time

	// StartedAt and EndedAt are zero until the job started or ended.
	StartedAt time.Time
	EndedAt   time.Time

	// Resources is the job's spec with the rates copied in, ordered by
	// resource.
	Resources []JobResource
}

// JobResource is one resource of a job: the most of it per second and its
// rate as copied from the provider's card.
type JobResource struct {
	Resource     string
	MaxPerSecond int64
	Rate         string
}

// JobEvent is one recorded state change of a job.
type JobEvent struct {
	ID     int64
	JobID  string
	From   string
	To     string
	Cause  string
	Detail string
	At     time.Time
}

// JobInvoice is a hub invoice that funds a job.
type JobInvoice struct {
	PaymentHash    string
	JobID          string
	Purpose        string
	Amount         ledger.MilliSatoshi
	PaymentRequest string
	State          string
	AmountPaid     ledger.MilliSatoshi
	SettleIndex    uint64
	CreatedAt      time.Time
	ExpiresAt      time.Time
	SettledAt      time.Time
}

// JobFilter selects jobs for ListJobs. Empty fields select everything.
type JobFilter struct {
	BuyerID    string
	ProviderID string
	States     []string

	// Limit caps how many jobs come back (0 for all); Offset skips the
	// first ones, newest first.
	Limit  int
	Offset int
}

// Refund is a refund payment to a job's buyer.
type Refund struct {
	PaymentHash    string
	JobID          string
	Method         string
	PaymentRequest string
	DestPubkey     string
	Preimage       string
	Amount         ledger.MilliSatoshi
	FeeLimit       ledger.MilliSatoshi
	State          string
	Fee            ledger.MilliSatoshi
	Failure        string
	CreatedAt      time.Time
	ResolvedAt     time.Time
}

// notFound maps sql.ErrNoRows to ErrNotFound, and classifies the rest.
func notFound(err error, what string) error {
	if errors.Is(err, sql.ErrNoRows) {
		return fmt.Errorf("%s: %w", what, ErrNotFound)
	}
	return fmt.Errorf("%s: %w", what, mapError(err))
}

// InsertBuyer records a new buyer. A name already taken fails with
// ErrUniqueViolation.
func (t *Tx) InsertBuyer(ctx context.Context, b Buyer) error {
	err := t.q.InsertBuyer(ctx, sqlc.InsertBuyerParams{
		ID:        b.ID,
		Name:      b.Name,
		CreatedAt: dbTime(b.CreatedAt),
	})
	if err != nil {
		return fmt.Errorf("insert buyer %q: %w", b.Name, mapError(err))
	}
	return nil
}

// buyerFromRow is a buyers row as a Buyer.
func buyerFromRow(row sqlc.Buyer) Buyer {
	return Buyer{ID: row.ID, Name: row.Name, CreatedAt: row.CreatedAt.UTC()}
}

// BuyerByID returns a buyer, or ErrNotFound.
func (t *Tx) BuyerByID(ctx context.Context, id string) (Buyer, error) {
	row, err := t.q.GetBuyer(ctx, id)
	if err != nil {
		return Buyer{}, notFound(err, "buyer "+id)
	}
	return buyerFromRow(row), nil
}

// Buyers returns every buyer, oldest first.
func (t *Tx) Buyers(ctx context.Context) ([]Buyer, error) {
	rows, err := t.q.ListBuyers(ctx)
	if err != nil {
		return nil, fmt.Errorf("buyers: %w", mapError(err))
	}

	var out []Buyer
	for _, row := range rows {
		out = append(out, buyerFromRow(row))
	}
	return out, nil
}

// InsertJob records a new job with its resources.
func (t *Tx) InsertJob(ctx context.Context, j Job) error {
	t.forgetJob(j.ID)
	err := t.q.InsertJob(ctx, sqlc.InsertJobParams{
		ID:             j.ID,
		BuyerID:        j.BuyerID,
		ProviderID:     j.ProviderID,
		State:          j.State,
		BudgetMsat:     int64(j.Budget),
		BufferSeconds:  j.BufferSeconds,
		PricePerSecond: j.PricePerSecond,
		RefundPubkey:   j.RefundPubkey,
		CreatedAt:      dbTime(j.CreatedAt),
		UpdatedAt:      dbTime(j.UpdatedAt),
		StartedAt:      nullTime(j.StartedAt),
		EndedAt:        nullTime(j.EndedAt),
	})
	if err != nil {
		return fmt.Errorf("insert job %s: %w", j.ID, mapError(err))
	}
	for _, r := range j.Resources {
		err := t.q.InsertJobResource(ctx, sqlc.InsertJobResourceParams{
			JobID:        j.ID,
			Resource:     r.Resource,
			MaxPerSecond: r.MaxPerSecond,
			Rate:         r.Rate,
		})
		if err != nil {
			return fmt.Errorf("insert job %s resource %s: %w", j.ID,
				r.Resource, mapError(err))
		}
	}
	return nil
}

// jobFromRow is a jobs row as a Job, without its resources.
func jobFromRow(row sqlc.Job) Job {
	return Job{
		ID:             row.ID,
		BuyerID:        row.BuyerID,
		ProviderID:     row.ProviderID,
		State:          row.State,
		Budget:         ledger.MilliSatoshi(row.BudgetMsat),
		BufferSeconds:  row.BufferSeconds,
		PricePerSecond: row.PricePerSecond,
		RefundPubkey:   row.RefundPubkey,
		CreatedAt:      row.CreatedAt.UTC(),
		UpdatedAt:      row.UpdatedAt.UTC(),
		StartedAt:      fromNull(row.StartedAt),
		EndedAt:        fromNull(row.EndedAt),
	}
}

// JobByID returns a job with its resources, or ErrNotFound.
func (t *Tx) JobByID(ctx context.Context, id string) (Job, error) {
	if j, ok := t.memoJob(id); ok {
		return j, nil
	}
	row, err := t.q.GetJob(ctx, id)
	if err != nil {
		return Job{}, notFound(err, "job "+id)
	}
	j := jobFromRow(row)
	j.Resources, err = t.jobResources(ctx, id)
	if err != nil {
		return Job{}, err
	}
	t.keepJob(j)
	return j, nil
}

// jobResources returns a job's resources ordered by resource.
func (t *Tx) jobResources(ctx context.Context, id string) ([]JobResource,
	error) {

	rows, err := t.q.ListJobResources(ctx, id)
	if err != nil {
		return nil, fmt.Errorf("job %s resources: %w", id,
			mapError(err))
	}

	var out []JobResource
	for _, row := range rows {
		out = append(out, JobResource{
			Resource:     row.Resource,
			MaxPerSecond: row.MaxPerSecond,
			Rate:         row.Rate,
		})
	}
	return out, nil
}

// jobColumns are the columns of jobs in the order of sqlc.Job, for the
// hand-built ListJobs.
const jobColumns = `id, buyer_id, provider_id, state, budget_msat,
	buffer_seconds, price_per_second, refund_pubkey, created_at, updated_at,
	started_at, ended_at`

// ListJobs returns the jobs the filter selects, newest first, with their
// resources.
//
// The query is built here rather than by sqlc: the filter's list of states
// has a length known only at run time, and sqlc.slice is not available for
// the postgresql engine (its = ANY($1::text[]) form does not run on
// SQLite). Its rows are the generated sqlc.Job, read by jobFromRow like
// JobByID's.
func (t *Tx) ListJobs(ctx context.Context, f JobFilter) ([]Job, error) {
	var (
		where []string
		args  []any
	)
	arg := func(v any) string {
		args = append(args, v)
		return fmt.Sprintf("$%d", len(args))
	}
	if f.BuyerID != "" {
		where = append(where, "buyer_id = "+arg(f.BuyerID))
	}
	if f.ProviderID != "" {
		where = append(where, "provider_id = "+arg(f.ProviderID))
	}
	if len(f.States) > 0 {
		ph := make([]string, len(f.States))
		for i, s := range f.States {
			ph[i] = arg(s)
		}
		where = append(where, "state IN ("+strings.Join(ph, ", ")+")")
	}
	query := "SELECT " + jobColumns + " FROM jobs"
	if len(where) > 0 {
		query += " WHERE " + strings.Join(where, " AND ")
	}
	query += " ORDER BY created_at DESC, id DESC"
	if f.Limit > 0 {
		query += " LIMIT " + arg(f.Limit)
	}
	if f.Offset > 0 {
		if f.Limit <= 0 {
			// Both dialects take LIMIT ALL-less OFFSET differently;
			// a huge limit works in both.
			query += " LIMIT " + arg(int64(1)<<62)
		}
		query += " OFFSET " + arg(f.Offset)
	}

	rows, err := t.query(ctx, query, args...)
	if err != nil {
		return nil, fmt.Errorf("list jobs: %w", err)
	}
	var jobs []Job
	for rows.Next() {
		var r sqlc.Job
		err := rows.Scan(&r.ID, &r.BuyerID, &r.ProviderID, &r.State,
			&r.BudgetMsat, &r.BufferSeconds, &r.PricePerSecond,
			&r.RefundPubkey, &r.CreatedAt, &r.UpdatedAt,
			&r.StartedAt, &r.EndedAt)
		if err != nil {
			rows.Close()
			return nil, fmt.Errorf("list jobs: %w", mapError(err))
		}
		jobs = append(jobs, jobFromRow(r))
	}
	err = rows.Err()
	rows.Close()
	if err != nil {
		return nil, fmt.Errorf("list jobs: %w", mapError(err))
	}

	for i := range jobs {
		jobs[i].Resources, err = t.jobResources(ctx, jobs[i].ID)
		if err != nil {
			return nil, err
		}
	}
	return jobs, nil
}

// JobUpdate is a change of a job's state, made only if the job is still in
// the state the caller read.
type JobUpdate struct {
	ID   string
	From string
	To   string
	At   time.Time

	// StartedAt and EndedAt, when not zero, are written too; zero leaves
	// the column as it is.
	StartedAt time.Time
	EndedAt   time.Time
}

// UpdateJobState moves a job from u.From to u.To. It fails with ErrStale
// when the job is no longer in u.From, and ErrNotFound when there is no
// such job.
func (t *Tx) UpdateJobState(ctx context.Context, u JobUpdate) error {
	t.forgetJob(u.ID)
	n, err := t.q.UpdateJobState(ctx, sqlc.UpdateJobStateParams{
		ToState:   u.To,
		UpdatedAt: dbTime(u.At),
		StartedAt: nullTime(u.StartedAt),
		EndedAt:   nullTime(u.EndedAt),
		ID:        u.ID,
		FromState: u.From,
	})
	if err != nil {
		return fmt.Errorf("update job %s: %w", u.ID, mapError(err))
	}
	if n == 1 {
		return nil
	}

	state, err := t.q.GetJobState(ctx, u.ID)
	if err != nil {
		return notFound(err, "job "+u.ID)
	}
	return fmt.Errorf("job %s is %s, not %s: %w", u.ID, state, u.From,
		ErrStale)
}

// SetJobRefundPubkey sets the node key a job's keysend refunds go to.
func (t *Tx) SetJobRefundPubkey(ctx context.Context, id, pubkey string,
	at time.Time) error {

	t.forgetJob(id)
	n, err := t.q.SetJobRefundPubkey(ctx, sqlc.SetJobRefundPubkeyParams{
		RefundPubkey: pubkey,
		UpdatedAt:    dbTime(at),
		ID:           id,
	})
	if err != nil {
		return fmt.Errorf("job %s refund key: %w", id, mapError(err))
	}
	if n != 1 {
		return fmt.Errorf("job %s refund key: %w", id, ErrNotFound)
	}
	return nil
}

// InsertJobEvent records a state change of a job and returns its id.
func (t *Tx) InsertJobEvent(ctx context.Context, e JobEvent) (int64, error) {
	id, err := t.q.InsertJobEvent(ctx, sqlc.InsertJobEventParams{
		JobID:     e.JobID,
		FromState: e.From,
		ToState:   e.To,
		Cause:     e.Cause,
		Detail:    e.Detail,
		CreatedAt: dbTime(e.At),
	})
	if err != nil {
		return 0, fmt.Errorf("insert event of job %s: %w", e.JobID,
			mapError(err))
	}
	return id, nil
}

// JobEvents returns a job's events in the order they happened.
func (t *Tx) JobEvents(ctx context.Context, jobID string) ([]JobEvent,
	error) {

	rows, err := t.q.ListJobEvents(ctx, jobID)
	if err != nil {
		return nil, fmt.Errorf("events of job %s: %w", jobID,
			mapError(err))
	}

	var out []JobEvent
	for _, row := range rows {
		out = append(out, JobEvent{
			ID:     row.ID,
			JobID:  row.JobID,
			From:   row.FromState,
			To:     row.ToState,
			Cause:  row.Cause,
			Detail: row.Detail,
			At:     row.CreatedAt.UTC(),
		})
	}
	return out, nil
}

// InsertJobInvoice records an invoice made for a job.
func (t *Tx) InsertJobInvoice(ctx context.Context, inv JobInvoice) error {
	err := t.q.InsertJobInvoice(ctx, sqlc.InsertJobInvoiceParams{
		PaymentHash:    inv.PaymentHash,
		JobID:          inv.JobID,
		Purpose:        inv.Purpose,
		AmountMsat:     int64(inv.Amount),
		PaymentRequest: inv.PaymentRequest,
		State:          inv.State,
		AmountPaidMsat: int64(inv.AmountPaid),
		SettleIndex:    int64(inv.SettleIndex),
		CreatedAt:      dbTime(inv.CreatedAt),
		ExpiresAt:      dbTime(inv.ExpiresAt),
		SettledAt:      nullTime(inv.SettledAt),
	})
	if err != nil {
		return fmt.Errorf("insert invoice %s of job %s: %w",
			inv.PaymentHash, inv.JobID, mapError(err))
	}
	return nil
}

// invoiceFromRow is a job_invoices row as a JobInvoice.
func invoiceFromRow(row sqlc.JobInvoice) JobInvoice {
	return JobInvoice{
		PaymentHash:    row.PaymentHash,
		JobID:          row.JobID,
		Purpose:        row.Purpose,
		Amount:         ledger.MilliSatoshi(row.AmountMsat),
		PaymentRequest: row.PaymentRequest,
		State:          row.State,
		AmountPaid:     ledger.MilliSatoshi(row.AmountPaidMsat),
		SettleIndex:    uint64(row.SettleIndex),
		CreatedAt:      row.CreatedAt.UTC(),
		ExpiresAt:      row.ExpiresAt.UTC(),
		SettledAt:      fromNull(row.SettledAt),
	}
}

// invoicesFromRows is invoiceFromRow over a query's rows, or the query's
// error with what it was for.
func invoicesFromRows(rows []sqlc.JobInvoice, err error,
	what string) ([]JobInvoice, error) {

	if err != nil {
		return nil, fmt.Errorf("%s: %w", what, mapError(err))
	}
	var out []JobInvoice
	for _, row := range rows {
		out = append(out, invoiceFromRow(row))
	}
	return out, nil
}

// JobInvoiceByHash returns the invoice with the payment hash, or
// ErrNotFound when it is not one of a job's.
func (t *Tx) JobInvoiceByHash(ctx context.Context, hash string) (JobInvoice,
	error) {

	row, err := t.q.GetJobInvoice(ctx, hash)
	if err != nil {
		return JobInvoice{}, notFound(err, "invoice "+hash)
	}
	return invoiceFromRow(row), nil
}

// JobInvoices returns a job's invoices, oldest first.
func (t *Tx) JobInvoices(ctx context.Context, jobID string) ([]JobInvoice,
	error) {

	rows, err := t.q.ListJobInvoices(ctx, jobID)
	return invoicesFromRows(rows, err, "invoices of job "+jobID)
}

// OpenJobInvoices returns every invoice still open, soonest to expire
// first.
func (t *Tx) OpenJobInvoices(ctx context.Context) ([]JobInvoice, error) {
	rows, err := t.q.ListOpenJobInvoices(ctx)
	return invoicesFromRows(rows, err, "open invoices")
}

// InvoiceUpdate is the outcome of an invoice.
type InvoiceUpdate struct {
	PaymentHash string
	State       string
	AmountPaid  ledger.MilliSatoshi
	SettleIndex uint64
	SettledAt   time.Time
}

// UpdateJobInvoice records an invoice's outcome: settled, expired or
// canceled. A settled invoice is final: updating it fails with ErrStale.
// An invoice that is not one of a job's gives ErrNotFound.
func (t *Tx) UpdateJobInvoice(ctx context.Context, u InvoiceUpdate) error {
	n, err := t.q.UpdateJobInvoice(ctx, sqlc.UpdateJobInvoiceParams{
		State:          u.State,
		AmountPaidMsat: int64(u.AmountPaid),
		SettleIndex:    int64(u.SettleIndex),
		SettledAt:      nullTime(u.SettledAt),
		PaymentHash:    u.PaymentHash,
	})
	if err != nil {
		return fmt.Errorf("update invoice %s: %w", u.PaymentHash,
			mapError(err))
	}
	if n == 1 {
		return nil
	}
	inv, err := t.JobInvoiceByHash(ctx, u.PaymentHash)
	if err != nil {
		return err
	}
	return fmt.Errorf("invoice %s is %s already: %w", u.PaymentHash,
		inv.State, ErrStale)
}

// Cursor returns the named cursor's value; zero when it was never set.
func (t *Tx) Cursor(ctx context.Context, name string) (uint64, error) {
	v, err := t.q.GetCursor(ctx, name)
	switch {
	case errors.Is(err, sql.ErrNoRows):
		return 0, nil
	case err != nil:
		return 0, fmt.Errorf("cursor %s: %w", name, mapError(err))
	}
	return uint64(v), nil
}

// AdvanceCursor sets the named cursor to value if that is above its
// current value (a cursor never moves back), and reports whether it moved.
func (t *Tx) AdvanceCursor(ctx context.Context, name string,
	value uint64) (bool, error) {

	cur, err := t.Cursor(ctx, name)
	if err != nil {
		return false, err
	}
	if value <= cur {
		return false, nil
	}
	err = t.q.UpsertCursor(ctx, sqlc.UpsertCursorParams{
		Name:  name,
		Value: int64(value),
	})
	if err != nil {
		return false, fmt.Errorf("cursor %s: %w", name, mapError(err))
	}
	return true, nil
}

// InsertRefund records a refund intent. A second pending refund of the same
// job fails with ErrUniqueViolation.
func (t *Tx) InsertRefund(ctx context.Context, r Refund) error {
	err := t.q.InsertRefund(ctx, sqlc.InsertRefundParams{
		PaymentHash:    r.PaymentHash,
		JobID:          r.JobID,
		Method:         r.Method,
		PaymentRequest: r.PaymentRequest,
		DestPubkey:     r.DestPubkey,
		Preimage:       r.Preimage,
		AmountMsat:     int64(r.Amount),
		FeeLimitMsat:   int64(r.FeeLimit),
		State:          r.State,
		FeeMsat:        int64(r.Fee),
		Failure:        r.Failure,
		CreatedAt:      dbTime(r.CreatedAt),
		ResolvedAt:     nullTime(r.ResolvedAt),
	})
	if err != nil {
		return fmt.Errorf("insert refund %s of job %s: %w",
			r.PaymentHash, r.JobID, mapError(err))
	}
	return nil
}

// refundFromRow is a refunds row as a Refund.
func refundFromRow(row sqlc.Refund) Refund {
	return Refund{
		PaymentHash:    row.PaymentHash,
		JobID:          row.JobID,
		Method:         row.Method,
		PaymentRequest: row.PaymentRequest,
		DestPubkey:     row.DestPubkey,
		Preimage:       row.Preimage,
		Amount:         ledger.MilliSatoshi(row.AmountMsat),
		FeeLimit:       ledger.MilliSatoshi(row.FeeLimitMsat),
		State:          row.State,
		Fee:            ledger.MilliSatoshi(row.FeeMsat),
		Failure:        row.Failure,
		CreatedAt:      row.CreatedAt.UTC(),
		ResolvedAt:     fromNull(row.ResolvedAt),
	}
}

// refundsFromRows is refundFromRow over a query's rows, or the query's
// error with what it was for.
func refundsFromRows(rows []sqlc.Refund, err error, what string) ([]Refund,
	error) {

	if err != nil {
		return nil, fmt.Errorf("%s: %w", what, mapError(err))
	}
	var out []Refund
	for _, row := range rows {
		out = append(out, refundFromRow(row))
	}
	return out, nil
}

// RefundByHash returns a refund, or ErrNotFound.
func (t *Tx) RefundByHash(ctx context.Context, hash string) (Refund, error) {
	row, err := t.q.GetRefund(ctx, hash)
	if err != nil {
		return Refund{}, notFound(err, "refund "+hash)
	}
	return refundFromRow(row), nil
}

// JobRefunds returns a job's refunds, oldest first.
func (t *Tx) JobRefunds(ctx context.Context, jobID string) ([]Refund, error) {
	rows, err := t.q.ListJobRefunds(ctx, jobID)
	return refundsFromRows(rows, err, "refunds of job "+jobID)
}

// PendingRefunds returns every refund still pending, oldest first.
func (t *Tx) PendingRefunds(ctx context.Context) ([]Refund, error) {
	rows, err := t.q.ListPendingRefunds(ctx)
	return refundsFromRows(rows, err, "pending refunds")
}

// OwedJob is an ended job that still owes its buyer money.
type OwedJob struct {
	ID string

	// RefundPending is true while a refund of the job is pending.
	RefundPending bool
}

// OwedEndedJobs returns the ended jobs that still owe their buyer money: a
// refund node is known and the escrow holds a positive balance. A refund
// that found no route or failed, or money that came in after the job
// ended, leaves a job here.
func (t *Tx) OwedEndedJobs(ctx context.Context) ([]OwedJob, error) {
	rows, err := t.q.ListOwedEndedJobs(ctx,
		string(ledger.KindBuyerEscrow))
	if err != nil {
		return nil, fmt.Errorf("owed ended jobs: %w", mapError(err))
	}
	var jobs []OwedJob
	for _, row := range rows {
		jobs = append(jobs, OwedJob{
			ID:            row.ID,
			RefundPending: row.RefundPending,
		})
	}
	return jobs, nil
}

// RefundUpdate is the outcome of a pending refund.
type RefundUpdate struct {
	PaymentHash string
	State       string
	Fee         ledger.MilliSatoshi
	Failure     string
	ResolvedAt  time.Time
}

// ResolveRefund records a pending refund's outcome. It fails with ErrStale
// when the refund is no longer pending, and ErrNotFound when there is none.
func (t *Tx) ResolveRefund(ctx context.Context, u RefundUpdate) error {
	n, err := t.q.ResolveRefund(ctx, sqlc.ResolveRefundParams{
		State:       u.State,
		FeeMsat:     int64(u.Fee),
		Failure:     u.Failure,
		ResolvedAt:  sql.NullTime{Time: dbTime(u.ResolvedAt), Valid: true},
		PaymentHash: u.PaymentHash,
	})
	if err != nil {
		return fmt.Errorf("resolve refund %s: %w", u.PaymentHash,
			mapError(err))
	}
	if n == 1 {
		return nil
	}
	r, err := t.RefundByHash(ctx, u.PaymentHash)
	if err != nil {
		return err
	}
	return fmt.Errorf("refund %s is %s, not pending: %w", u.PaymentHash,
		r.State, ErrStale)
}
