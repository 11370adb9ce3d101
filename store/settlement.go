package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/sluice-ln/sluice/ledger"
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
	_, err := t.exec(ctx, `INSERT INTO buyers (id, name, created_at)
		VALUES ($1, $2, $3)`, b.ID, b.Name, dbTime(b.CreatedAt))
	if err != nil {
		return fmt.Errorf("insert buyer %q: %w", b.Name, err)
	}
	return nil
}

// BuyerByID returns a buyer, or ErrNotFound.
func (t *Tx) BuyerByID(ctx context.Context, id string) (Buyer, error) {
	b := Buyer{ID: id}
	err := t.queryRow(ctx, `SELECT name, created_at FROM buyers
		WHERE id = $1`, id).Scan(&b.Name, &b.CreatedAt)
	if err != nil {
		return Buyer{}, notFound(err, "buyer "+id)
	}
	b.CreatedAt = b.CreatedAt.UTC()
	return b, nil
}

// Buyers returns every buyer, oldest first.
func (t *Tx) Buyers(ctx context.Context) ([]Buyer, error) {
	rows, err := t.query(ctx, `SELECT id, name, created_at FROM buyers
		ORDER BY created_at, id`)
	if err != nil {
		return nil, fmt.Errorf("buyers: %w", err)
	}
	defer rows.Close()

	var out []Buyer
	for rows.Next() {
		var b Buyer
		if err := rows.Scan(&b.ID, &b.Name, &b.CreatedAt); err != nil {
			return nil, fmt.Errorf("buyers: %w", mapError(err))
		}
		b.CreatedAt = b.CreatedAt.UTC()
		out = append(out, b)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("buyers: %w", mapError(err))
	}
	return out, nil
}

// InsertJob records a new job with its resources.
func (t *Tx) InsertJob(ctx context.Context, j Job) error {
	_, err := t.exec(ctx, `INSERT INTO jobs (id, buyer_id, provider_id,
		state, budget_msat, buffer_seconds, price_per_second,
		refund_pubkey, created_at, updated_at, started_at, ended_at)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)`,
		j.ID, j.BuyerID, j.ProviderID, j.State, j.Budget,
		j.BufferSeconds, j.PricePerSecond, j.RefundPubkey,
		dbTime(j.CreatedAt), dbTime(j.UpdatedAt), nullTime(j.StartedAt),
		nullTime(j.EndedAt))
	if err != nil {
		return fmt.Errorf("insert job %s: %w", j.ID, err)
	}
	for _, r := range j.Resources {
		_, err := t.exec(ctx, `INSERT INTO job_resources (job_id,
			resource, max_per_second, rate) VALUES ($1, $2, $3, $4)`,
			j.ID, r.Resource, r.MaxPerSecond, r.Rate)
		if err != nil {
			return fmt.Errorf("insert job %s resource %s: %w", j.ID,
				r.Resource, err)
		}
	}
	return nil
}

// jobColumns are the columns scanJob reads, in order.
const jobColumns = `id, buyer_id, provider_id, state, budget_msat,
	buffer_seconds, price_per_second, refund_pubkey, created_at, updated_at,
	started_at, ended_at`

// scanJob reads one job row (without resources).
func scanJob(row rowScanner) (Job, error) {
	var (
		j                  Job
		started, ended     sql.NullTime
		created, updatedAt time.Time
	)
	err := row.Scan(&j.ID, &j.BuyerID, &j.ProviderID, &j.State, &j.Budget,
		&j.BufferSeconds, &j.PricePerSecond, &j.RefundPubkey, &created,
		&updatedAt, &started, &ended)
	if err != nil {
		return Job{}, err
	}
	j.CreatedAt, j.UpdatedAt = created.UTC(), updatedAt.UTC()
	j.StartedAt, j.EndedAt = fromNull(started), fromNull(ended)
	return j, nil
}

// JobByID returns a job with its resources, or ErrNotFound.
func (t *Tx) JobByID(ctx context.Context, id string) (Job, error) {
	j, err := scanJob(t.queryRow(ctx, `SELECT `+jobColumns+`
		FROM jobs WHERE id = $1`, id))
	if err != nil {
		return Job{}, notFound(err, "job "+id)
	}
	j.Resources, err = t.jobResources(ctx, id)
	if err != nil {
		return Job{}, err
	}
	return j, nil
}

// jobResources returns a job's resources ordered by resource.
func (t *Tx) jobResources(ctx context.Context, id string) ([]JobResource,
	error) {

	rows, err := t.query(ctx, `SELECT resource, max_per_second, rate
		FROM job_resources WHERE job_id = $1 ORDER BY resource`, id)
	if err != nil {
		return nil, fmt.Errorf("job %s resources: %w", id, err)
	}
	defer rows.Close()

	var out []JobResource
	for rows.Next() {
		var r JobResource
		err := rows.Scan(&r.Resource, &r.MaxPerSecond, &r.Rate)
		if err != nil {
			return nil, fmt.Errorf("job %s resources: %w", id,
				mapError(err))
		}
		out = append(out, r)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("job %s resources: %w", id,
			mapError(err))
	}
	return out, nil
}

// ListJobs returns the jobs the filter selects, newest first, with their
// resources.
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
		j, err := scanJob(rows)
		if err != nil {
			rows.Close()
			return nil, fmt.Errorf("list jobs: %w", mapError(err))
		}
		jobs = append(jobs, j)
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
	res, err := t.exec(ctx, `UPDATE jobs SET state = $1, updated_at = $2,
		started_at = COALESCE($3, started_at),
		ended_at = COALESCE($4, ended_at)
		WHERE id = $5 AND state = $6`, u.To, dbTime(u.At),
		nullTime(u.StartedAt), nullTime(u.EndedAt), u.ID, u.From)
	if err != nil {
		return fmt.Errorf("update job %s: %w", u.ID, err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return fmt.Errorf("update job %s: %w", u.ID, mapError(err))
	}
	if n == 1 {
		return nil
	}

	var state string
	err = t.queryRow(ctx, `SELECT state FROM jobs WHERE id = $1`, u.ID).
		Scan(&state)
	if err != nil {
		return notFound(err, "job "+u.ID)
	}
	return fmt.Errorf("job %s is %s, not %s: %w", u.ID, state, u.From,
		ErrStale)
}

// SetJobRefundPubkey sets the node key a job's keysend refunds go to.
func (t *Tx) SetJobRefundPubkey(ctx context.Context, id, pubkey string,
	at time.Time) error {

	res, err := t.exec(ctx, `UPDATE jobs SET refund_pubkey = $1,
		updated_at = $2 WHERE id = $3`, pubkey, dbTime(at), id)
	if err != nil {
		return fmt.Errorf("job %s refund key: %w", id, err)
	}
	if n, err := res.RowsAffected(); err != nil || n != 1 {
		return fmt.Errorf("job %s refund key: %w", id, ErrNotFound)
	}
	return nil
}

// InsertJobEvent records a state change of a job and returns its id.
func (t *Tx) InsertJobEvent(ctx context.Context, e JobEvent) (int64, error) {
	var id int64
	err := t.queryRow(ctx, `INSERT INTO job_events (job_id, from_state,
		to_state, cause, detail, created_at)
		VALUES ($1, $2, $3, $4, $5, $6) RETURNING id`, e.JobID, e.From,
		e.To, e.Cause, e.Detail, dbTime(e.At)).Scan(&id)
	if err != nil {
		return 0, fmt.Errorf("insert event of job %s: %w", e.JobID,
			mapError(err))
	}
	return id, nil
}

// JobEvents returns a job's events in the order they happened.
func (t *Tx) JobEvents(ctx context.Context, jobID string) ([]JobEvent,
	error) {

	rows, err := t.query(ctx, `SELECT id, from_state, to_state, cause,
		detail, created_at FROM job_events WHERE job_id = $1
		ORDER BY id`, jobID)
	if err != nil {
		return nil, fmt.Errorf("events of job %s: %w", jobID, err)
	}
	defer rows.Close()

	var out []JobEvent
	for rows.Next() {
		e := JobEvent{JobID: jobID}
		err := rows.Scan(&e.ID, &e.From, &e.To, &e.Cause, &e.Detail,
			&e.At)
		if err != nil {
			return nil, fmt.Errorf("events of job %s: %w", jobID,
				mapError(err))
		}
		e.At = e.At.UTC()
		out = append(out, e)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("events of job %s: %w", jobID,
			mapError(err))
	}
	return out, nil
}

// InsertJobInvoice records an invoice made for a job.
func (t *Tx) InsertJobInvoice(ctx context.Context, inv JobInvoice) error {
	_, err := t.exec(ctx, `INSERT INTO job_invoices (payment_hash, job_id,
		purpose, amount_msat, payment_request, state, amount_paid_msat,
		settle_index, created_at, expires_at, settled_at)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)`,
		inv.PaymentHash, inv.JobID, inv.Purpose, inv.Amount,
		inv.PaymentRequest, inv.State, inv.AmountPaid,
		int64(inv.SettleIndex), dbTime(inv.CreatedAt), dbTime(inv.ExpiresAt),
		nullTime(inv.SettledAt))
	if err != nil {
		return fmt.Errorf("insert invoice %s of job %s: %w",
			inv.PaymentHash, inv.JobID, err)
	}
	return nil
}

// invoiceColumns are the columns scanInvoice reads, in order.
const invoiceColumns = `payment_hash, job_id, purpose, amount_msat,
	payment_request, state, amount_paid_msat, settle_index, created_at,
	expires_at, settled_at`

// scanInvoice reads one invoice row.
func scanInvoice(row rowScanner) (JobInvoice, error) {
	var (
		inv              JobInvoice
		settleIndex      int64
		created, expires time.Time
		settled          sql.NullTime
	)
	err := row.Scan(&inv.PaymentHash, &inv.JobID, &inv.Purpose,
		&inv.Amount, &inv.PaymentRequest, &inv.State, &inv.AmountPaid,
		&settleIndex, &created, &expires, &settled)
	if err != nil {
		return JobInvoice{}, err
	}
	inv.SettleIndex = uint64(settleIndex)
	inv.CreatedAt, inv.ExpiresAt = created.UTC(), expires.UTC()
	inv.SettledAt = fromNull(settled)
	return inv, nil
}

// JobInvoiceByHash returns the invoice with the payment hash, or
// ErrNotFound when it is not one of a job's.
func (t *Tx) JobInvoiceByHash(ctx context.Context, hash string) (JobInvoice,
	error) {

	inv, err := scanInvoice(t.queryRow(ctx, `SELECT `+invoiceColumns+`
		FROM job_invoices WHERE payment_hash = $1`, hash))
	if err != nil {
		return JobInvoice{}, notFound(err, "invoice "+hash)
	}
	return inv, nil
}

// queryInvoices runs an invoice query.
func (t *Tx) queryInvoices(ctx context.Context, what, query string,
	args ...any) ([]JobInvoice, error) {

	rows, err := t.query(ctx, query, args...)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", what, err)
	}
	defer rows.Close()

	var out []JobInvoice
	for rows.Next() {
		inv, err := scanInvoice(rows)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", what, mapError(err))
		}
		out = append(out, inv)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("%s: %w", what, mapError(err))
	}
	return out, nil
}

// JobInvoices returns a job's invoices, oldest first.
func (t *Tx) JobInvoices(ctx context.Context, jobID string) ([]JobInvoice,
	error) {

	return t.queryInvoices(ctx, "invoices of job "+jobID, `SELECT `+
		invoiceColumns+` FROM job_invoices WHERE job_id = $1
		ORDER BY created_at, payment_hash`, jobID)
}

// OpenJobInvoices returns every invoice still open, soonest to expire
// first.
func (t *Tx) OpenJobInvoices(ctx context.Context) ([]JobInvoice, error) {
	return t.queryInvoices(ctx, "open invoices", `SELECT `+invoiceColumns+
		` FROM job_invoices WHERE state = 'open'
		ORDER BY expires_at, payment_hash`)
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
	res, err := t.exec(ctx, `UPDATE job_invoices SET state = $1,
		amount_paid_msat = $2, settle_index = $3, settled_at = $4
		WHERE payment_hash = $5 AND state <> 'settled'`, u.State,
		u.AmountPaid, int64(u.SettleIndex), nullTime(u.SettledAt),
		u.PaymentHash)
	if err != nil {
		return fmt.Errorf("update invoice %s: %w", u.PaymentHash, err)
	}
	n, err := res.RowsAffected()
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
	var v int64
	err := t.queryRow(ctx, `SELECT value FROM settlement_cursors
		WHERE name = $1`, name).Scan(&v)
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
	_, err = t.exec(ctx, `INSERT INTO settlement_cursors (name, value)
		VALUES ($1, $2) ON CONFLICT (name)
		DO UPDATE SET value = excluded.value`, name, int64(value))
	if err != nil {
		return false, fmt.Errorf("cursor %s: %w", name, err)
	}
	return true, nil
}

// InsertRefund records a refund intent. A second pending refund of the same
// job fails with ErrUniqueViolation.
func (t *Tx) InsertRefund(ctx context.Context, r Refund) error {
	_, err := t.exec(ctx, `INSERT INTO refunds (payment_hash, job_id,
		method, payment_request, dest_pubkey, preimage, amount_msat,
		fee_limit_msat, state, fee_msat, failure, created_at,
		resolved_at)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)`,
		r.PaymentHash, r.JobID, r.Method, r.PaymentRequest,
		r.DestPubkey, r.Preimage, r.Amount, r.FeeLimit, r.State, r.Fee,
		r.Failure, dbTime(r.CreatedAt), nullTime(r.ResolvedAt))
	if err != nil {
		return fmt.Errorf("insert refund %s of job %s: %w",
			r.PaymentHash, r.JobID, err)
	}
	return nil
}

// refundColumns are the columns scanRefund reads, in order.
const refundColumns = `payment_hash, job_id, method, payment_request,
	dest_pubkey, preimage, amount_msat, fee_limit_msat, state, fee_msat,
	failure, created_at, resolved_at`

// scanRefund reads one refund row.
func scanRefund(row rowScanner) (Refund, error) {
	var (
		r        Refund
		created  time.Time
		resolved sql.NullTime
	)
	err := row.Scan(&r.PaymentHash, &r.JobID, &r.Method,
		&r.PaymentRequest, &r.DestPubkey, &r.Preimage, &r.Amount,
		&r.FeeLimit, &r.State, &r.Fee, &r.Failure, &created, &resolved)
	if err != nil {
		return Refund{}, err
	}
	r.CreatedAt = created.UTC()
	r.ResolvedAt = fromNull(resolved)
	return r, nil
}

// RefundByHash returns a refund, or ErrNotFound.
func (t *Tx) RefundByHash(ctx context.Context, hash string) (Refund, error) {
	r, err := scanRefund(t.queryRow(ctx, `SELECT `+refundColumns+`
		FROM refunds WHERE payment_hash = $1`, hash))
	if err != nil {
		return Refund{}, notFound(err, "refund "+hash)
	}
	return r, nil
}

// queryRefunds runs a refund query.
func (t *Tx) queryRefunds(ctx context.Context, what, query string,
	args ...any) ([]Refund, error) {

	rows, err := t.query(ctx, query, args...)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", what, err)
	}
	defer rows.Close()

	var out []Refund
	for rows.Next() {
		r, err := scanRefund(rows)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", what, mapError(err))
		}
		out = append(out, r)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("%s: %w", what, mapError(err))
	}
	return out, nil
}

// JobRefunds returns a job's refunds, oldest first.
func (t *Tx) JobRefunds(ctx context.Context, jobID string) ([]Refund, error) {
	return t.queryRefunds(ctx, "refunds of job "+jobID, `SELECT `+
		refundColumns+` FROM refunds WHERE job_id = $1
		ORDER BY created_at, payment_hash`, jobID)
}

// PendingRefunds returns every refund still pending, oldest first.
func (t *Tx) PendingRefunds(ctx context.Context) ([]Refund, error) {
	return t.queryRefunds(ctx, "pending refunds", `SELECT `+refundColumns+
		` FROM refunds WHERE state = 'pending'
		ORDER BY created_at, payment_hash`)
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
	rows, err := t.query(ctx, `SELECT j.id, EXISTS (SELECT 1 FROM refunds r
			WHERE r.job_id = j.id AND r.state = 'pending')
		FROM jobs j JOIN accounts a ON a.kind = $1 AND a.ref = j.id
		WHERE j.state = 'ended' AND j.refund_pubkey <> ''
		AND a.balance > 0
		ORDER BY j.id`, string(ledger.KindBuyerEscrow))
	if err != nil {
		return nil, fmt.Errorf("owed ended jobs: %w", err)
	}
	defer rows.Close()
	var jobs []OwedJob
	for rows.Next() {
		var j OwedJob
		if err := rows.Scan(&j.ID, &j.RefundPending); err != nil {
			return nil, fmt.Errorf("owed ended jobs: %w", mapError(err))
		}
		jobs = append(jobs, j)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("owed ended jobs: %w", mapError(err))
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
	res, err := t.exec(ctx, `UPDATE refunds SET state = $1, fee_msat = $2,
		failure = $3, resolved_at = $4
		WHERE payment_hash = $5 AND state = 'pending'`, u.State, u.Fee,
		u.Failure, dbTime(u.ResolvedAt), u.PaymentHash)
	if err != nil {
		return fmt.Errorf("resolve refund %s: %w", u.PaymentHash, err)
	}
	n, err := res.RowsAffected()
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
