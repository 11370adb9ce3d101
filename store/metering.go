package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/sluice-ln/sluice/ledger"
	"github.com/sluice-ln/sluice/store/sqlc"
)

// Metering's rows: each accepted second of a job with its price, and each
// job's meter state. Package metering owns what they mean and checks it
// before writing; the store only reads and writes them.

// UsageRecord is one accepted second of a job.
type UsageRecord struct {
	JobID string

	// Seq is the record's number in its job, from 1.
	Seq int64

	// Second is the start of the second, in Unix seconds.
	Second int64

	// CPU is in core-milliseconds, Mem in MiB-seconds.
	CPU int64
	Mem int64

	// Price is what the second cost, Fee the platform's part of it.
	Price ledger.MilliSatoshi
	Fee   ledger.MilliSatoshi

	// BatchHash is the lower-case hex digest of the batch that brought
	// the record.
	BatchHash string
}

// UsageMeter is a job's meter state.
type UsageMeter struct {
	JobID      string
	LastSeq    int64
	LastSecond int64

	// Carry is the pricing remainder, a decimal string in [0, 1) msat.
	Carry string

	// Charged and Fees are the job's running totals of price and fee.
	Charged ledger.MilliSatoshi
	Fees    ledger.MilliSatoshi

	// FeeRate is the job's platform fee in basis points.
	FeeRate   int64
	UpdatedAt time.Time
}

// usageColumns is the column list of usage_records, in the order the
// insert binds them.
const usageColumns = "job_id, seq, unix_second, cpu_core_ms, mem_mib_s, " +
	"price_msat, fee_msat, batch_hash"

// InsertUsageRecords stores usage records with multi-row INSERTs
// (valuesChunks) on SQLite, one of arrays on PostgreSQL. A (job, seq)
// already stored fails with ErrUniqueViolation, a job that does not exist with
// ErrForeignKeyViolation; nothing of the call's rows is then kept once the
// caller rolls back.
func (t *Tx) InsertUsageRecords(ctx context.Context,
	recs []UsageRecord) error {

	if t.backend == Postgres && len(recs) > 0 {
		return t.insertUsageArrays(ctx, recs)
	}
	for _, n := range valuesChunks(len(recs)) {
		if err := t.insertUsageChunk(ctx, recs[:n]); err != nil {
			return err
		}
		recs = recs[n:]
	}

	return nil
}

// usageArraysSQL inserts usage records given as one array per column, on
// PostgreSQL: one statement of eight parameters whatever the number of
// rows, prepared once per connection.
var usageArraysSQL = unnestSQL("INSERT INTO usage_records ("+
	usageColumns+") SELECT * FROM ", []string{"text", "bigint", "bigint",
	"bigint", "bigint", "bigint", "bigint", "text"}, "")

// insertUsageArrays inserts records on PostgreSQL with usageArraysSQL:
// where a multi-row INSERT binds eight parameters a row, it binds eight
// arrays.
func (t *Tx) insertUsageArrays(ctx context.Context, recs []UsageRecord) error {
	n := len(recs)
	jobs, hashes := make([]string, n), make([]string, n)
	ints := make([][]int64, 6) // seq, second, cpu, mem, price, fee
	for c := range ints {
		ints[c] = make([]int64, n)
	}
	for i, r := range recs {
		jobs[i], hashes[i] = r.JobID, r.BatchHash
		for c, v := range []int64{r.Seq, r.Second, r.CPU, r.Mem,
			int64(r.Price), int64(r.Fee)} {

			ints[c][i] = v
		}
	}
	if _, err := t.exec(ctx, usageArraysSQL, jobs, ints[0], ints[1],
		ints[2], ints[3], ints[4], ints[5], hashes); err != nil {

		return fmt.Errorf("insert %d usage records of job %s from seq "+
			"%d: %w", len(recs), recs[0].JobID, recs[0].Seq, err)
	}

	return nil
}

// insertUsageChunk inserts records in one statement. It is built here
// rather than by sqlc: the number of rows is known only at run time, and
// sqlc has no multi-row VALUES form that runs on both engines (CopyFrom is
// pgx-only).
func (t *Tx) insertUsageChunk(ctx context.Context, recs []UsageRecord) error {
	args := make([]any, 0, len(recs)*8)
	for _, r := range recs {
		args = append(args, r.JobID, r.Seq, r.Second, r.CPU, r.Mem,
			int64(r.Price), int64(r.Fee), r.BatchHash)
	}
	q := valuesSQL(t.backend, "INSERT INTO usage_records ("+
		usageColumns+") VALUES ", 8, len(recs), "")
	if _, err := t.exec(ctx, q, args...); err != nil {
		return fmt.Errorf("insert %d usage records of job %s from seq "+
			"%d: %w", len(recs), recs[0].JobID, recs[0].Seq, err)
	}

	return nil
}

// UsageRecords returns a job's records with seq in [from, to], in seq
// order.
func (t *Tx) UsageRecords(ctx context.Context, jobID string, from,
	to int64) ([]UsageRecord, error) {

	rows, err := t.q.ListUsageRecords(ctx, sqlc.ListUsageRecordsParams{
		JobID:   jobID,
		FromSeq: from,
		ToSeq:   to,
	})
	if err != nil {
		return nil, fmt.Errorf("usage records of job %s: %w", jobID,
			mapError(err))
	}

	var recs []UsageRecord
	for _, r := range rows {
		recs = append(recs, UsageRecord{
			JobID:     r.JobID,
			Seq:       r.Seq,
			Second:    r.UnixSecond,
			CPU:       r.CpuCoreMs,
			Mem:       r.MemMibS,
			Price:     ledger.MilliSatoshi(r.PriceMsat),
			Fee:       ledger.MilliSatoshi(r.FeeMsat),
			BatchHash: r.BatchHash,
		})
	}

	return recs, nil
}

// UsageMeter returns a job's meter state, or ErrNotFound for a job never
// metered.
func (t *Tx) UsageMeter(ctx context.Context, jobID string) (UsageMeter,
	error) {

	if m, ok := t.memoMeter(jobID); ok {
		if !m.found {
			return UsageMeter{}, fmt.Errorf("meter of job %s: %w",
				jobID, ErrNotFound)
		}
		return m.meter, nil
	}
	row, err := t.q.GetUsageMeter(ctx, jobID)
	if errors.Is(err, sql.ErrNoRows) {
		t.keepMeter(jobID, UsageMeter{}, false)
		return UsageMeter{}, fmt.Errorf("meter of job %s: %w", jobID,
			ErrNotFound)
	}
	if err != nil {
		return UsageMeter{}, fmt.Errorf("meter of job %s: %w", jobID,
			mapError(err))
	}
	m := UsageMeter{
		JobID:      row.JobID,
		LastSeq:    row.LastSeq,
		LastSecond: row.LastSecond,
		Carry:      row.Carry,
		Charged:    ledger.MilliSatoshi(row.ChargedMsat),
		Fees:       ledger.MilliSatoshi(row.FeesMsat),
		FeeRate:    int64(row.FeeBp),
		UpdatedAt:  row.UpdatedAt.UTC(),
	}
	t.keepMeter(jobID, m, true)
	return m, nil
}

// loadUsageMeters reads the meters of the jobs whose meter the
// transaction has not read yet, in a statement per chunk of them
// (Tx.chunks), and remembers them
// (and which jobs have none) for UsageMeter to answer (memo.go). Without
// a memo it does nothing.
func (t *Tx) loadUsageMeters(ctx context.Context, jobIDs []string) error {
	if t.memo == nil {
		return nil
	}
	var missing []string
	for _, id := range jobIDs {
		if _, ok := t.memoMeter(id); !ok {
			missing = append(missing, id)
		}
	}
	for _, n := range t.chunks(len(missing)) {
		chunk := missing[:n]
		missing = missing[n:]

		q, args := t.idList("SELECT "+meterColumns+" FROM "+
			"usage_meters WHERE job_id", chunk, "")
		found, err := t.scanMeters(ctx, q, args)
		if err != nil {
			return fmt.Errorf("meters of %d jobs: %w", len(chunk),
				err)
		}
		for _, id := range chunk {
			m, ok := found[id]
			t.keepMeter(id, m, ok)
		}
	}

	return nil
}

// scanMeters runs a query of usage_meters' columns in meterColumns' order.
func (t *Tx) scanMeters(ctx context.Context, q string, args []any) (
	map[string]UsageMeter, error) {

	rows, err := t.query(ctx, q, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := make(map[string]UsageMeter)
	for rows.Next() {
		var (
			m     UsageMeter
			feeBp int64
			at    time.Time
		)
		err := rows.Scan(&m.JobID, &m.LastSeq, &m.LastSecond, &m.Carry,
			&m.Charged, &m.Fees, &feeBp, &at)
		if err != nil {
			return nil, mapError(err)
		}
		m.FeeRate = feeBp
		m.UpdatedAt = at.UTC()
		out[m.JobID] = m
	}

	return out, mapError(rows.Err())
}

// PutUsageMeter writes a job's meter state, creating it on the job's first
// metered batch.
func (t *Tx) PutUsageMeter(ctx context.Context, m UsageMeter) error {
	t.forgetMeter(m.JobID)
	err := t.q.UpsertUsageMeter(ctx, sqlc.UpsertUsageMeterParams{
		JobID:       m.JobID,
		LastSeq:     m.LastSeq,
		LastSecond:  m.LastSecond,
		Carry:       m.Carry,
		ChargedMsat: int64(m.Charged),
		FeesMsat:    int64(m.Fees),
		FeeBp:       int32(m.FeeRate),
		UpdatedAt:   dbTime(m.UpdatedAt),
	})
	if err != nil {
		return fmt.Errorf("meter of job %s: %w", m.JobID,
			mapError(err))
	}

	return nil
}

// meterColumns is the column list of usage_meters, in the order
// PutUsageMeters binds them.
const meterColumns = "job_id, last_seq, last_second, carry, charged_msat, " +
	"fees_msat, fee_bp, updated_at"

// metersUpsertSuffix ends both backends' upserts of meters.
const metersUpsertSuffix = " ON CONFLICT (job_id) DO UPDATE SET " +
	"last_seq = excluded.last_seq, " +
	"last_second = excluded.last_second, " +
	"carry = excluded.carry, " +
	"charged_msat = excluded.charged_msat, " +
	"fees_msat = excluded.fees_msat, " +
	"fee_bp = excluded.fee_bp, " +
	"updated_at = excluded.updated_at"

// metersArraysSQL upserts meters given as one array per column, on
// PostgreSQL.
var metersArraysSQL = unnestSQL("INSERT INTO usage_meters ("+meterColumns+
	") SELECT * FROM ", []string{"text", "bigint", "bigint", "text",
	"bigint", "bigint", "integer", "timestamptz"}, metersUpsertSuffix)

// PutUsageMeters writes many jobs' meter states, as PutUsageMeter does
// each, with one multi-row upsert per chunk of them (Tx.chunks):
// metering's group commit saves every job it touched at once. Each job
// appears once.
func (t *Tx) PutUsageMeters(ctx context.Context, meters []UsageMeter) error {
	if t.backend == Postgres && len(meters) > 0 {
		return t.putUsageMeterArrays(ctx, meters)
	}
	for _, n := range valuesChunks(len(meters)) {
		chunk := meters[:n]
		meters = meters[n:]

		args := make([]any, 0, 8*len(chunk))
		for _, m := range chunk {
			t.forgetMeter(m.JobID)
			args = append(args, m.JobID, m.LastSeq, m.LastSecond,
				m.Carry, int64(m.Charged), int64(m.Fees),
				int32(m.FeeRate), dbTime(m.UpdatedAt))
		}
		q := valuesSQL(t.backend, "INSERT INTO usage_meters ("+
			meterColumns+") VALUES ", 8, len(chunk),
			metersUpsertSuffix)
		if _, err := t.exec(ctx, q, args...); err != nil {
			return fmt.Errorf("meters of %d jobs from %s: %w",
				len(chunk), chunk[0].JobID, err)
		}
	}

	return nil
}

// putUsageMeterArrays is PutUsageMeters on PostgreSQL: one statement of
// eight arrays.
func (t *Tx) putUsageMeterArrays(ctx context.Context,
	meters []UsageMeter) error {

	n := len(meters)
	jobs, carries := make([]string, n), make([]string, n)
	seqs, seconds := make([]int64, n), make([]int64, n)
	charged, fees := make([]int64, n), make([]int64, n)
	rates, updated := make([]int32, n), make([]time.Time, n)
	for i, m := range meters {
		t.forgetMeter(m.JobID)
		jobs[i], seqs[i], seconds[i], carries[i] = m.JobID, m.LastSeq,
			m.LastSecond, m.Carry
		charged[i], fees[i] = int64(m.Charged), int64(m.Fees)
		rates[i], updated[i] = int32(m.FeeRate), dbTime(m.UpdatedAt)
	}
	if _, err := t.exec(ctx, metersArraysSQL, jobs, seqs, seconds,
		carries, charged, fees, rates, updated); err != nil {

		return fmt.Errorf("meters of %d jobs from %s: %w", n,
			meters[0].JobID, err)
	}

	return nil
}

// meteringJobsPrefix and meteringJobsSuffix enclose the condition on the
// job ids (Tx.idList) of what is called meteringJobsSQL here.
const (
	// Everything metering's group commit reads of a job, in one statement
	// where five would each take one (GetJob, ListJobResources,
	// ListJobEvents for the first funding, GetProvider for the agent key,
	// GetUsageMeter): one row per resource, ordered by job and resource
	// (one row with a NULL resource for a job without any). The provider,
	// the first funding and the meter are NULL when there are none.
	meteringJobsPrefix = `SELECT j.id, j.buyer_id, j.provider_id, j.state,
    j.budget_msat, j.buffer_seconds, j.price_per_second, j.refund_pubkey,
    j.created_at, j.updated_at, j.started_at, j.ended_at,
    r.resource, r.max_per_second, r.rate,
    p.agent_pubkey,
    f.created_at AS funded_at,
    m.last_seq, m.last_second, m.carry, m.charged_msat, m.fees_msat,
    m.fee_bp, m.updated_at AS meter_updated_at
FROM jobs j
LEFT JOIN job_resources r ON r.job_id = j.id
LEFT JOIN providers p ON p.id = j.provider_id
LEFT JOIN job_events f ON f.id = (
    SELECT MIN(e.id) FROM job_events e
    WHERE e.job_id = j.id AND e.to_state = 'funded')
LEFT JOIN usage_meters m ON m.job_id = j.id
WHERE j.id`
	meteringJobsSuffix = `
ORDER BY j.id, r.resource`
)

// meteringJobRow is one row of meteringJobsSQL: the job's row, then one of
// its resources and the rest.
type meteringJobRow struct {
	sqlc.Job
	Resource       sql.NullString
	MaxPerSecond   sql.NullInt64
	Rate           sql.NullString
	AgentPubkey    sql.NullString
	FundedAt       sql.NullTime
	LastSeq        sql.NullInt64
	LastSecond     sql.NullInt64
	Carry          sql.NullString
	ChargedMsat    sql.NullInt64
	FeesMsat       sql.NullInt64
	FeeBp          sql.NullInt32
	MeterUpdatedAt sql.NullTime
}

// meteringJobRecord is what metering's group commit reads of a job: the
// job with its resources, its provider's current agent key (linked false
// when the provider is not stored), when it was first funded (zero if
// never), and its usage meter (found false if never metered).
type meteringJobRecord struct {
	job        Job
	agentKey   string
	linked     bool
	fundedAt   time.Time
	meter      UsageMeter
	meterFound bool
}

// meteringJob returns what metering's group commit reads of a job, from
// the transaction's memo when loadMeteringJobs read it before, or with
// one statement. The job and its meter are then known to JobByID and
// UsageMeter for the rest of the transaction (memo.go). An unknown job is
// ErrNotFound.
func (t *Tx) meteringJob(ctx context.Context, id string) (job Job,
	agentKey string, ok bool, fundedAt time.Time, err error) {

	if rec, ok := t.memoMeteringJob(id); ok {
		return rec.job, rec.agentKey, rec.linked, rec.fundedAt, nil
	}
	recs, err := t.readMeteringJobs(ctx, []string{id})
	if err != nil {
		return Job{}, "", false, time.Time{}, err
	}
	rec, found := recs[id]
	if !found {
		return Job{}, "", false, time.Time{}, fmt.Errorf("job %s: %w",
			id, ErrNotFound)
	}

	return rec.job, rec.agentKey, rec.linked, rec.fundedAt, nil
}

// loadMeteringJobs reads what metering's group commit reads of the jobs
// the memo does not know yet, in a statement per chunk of them
// (Tx.chunks) rather than one per job, and keeps it in the memo, where
// meteringJob then finds it. Without a memo it does nothing.
func (t *Tx) loadMeteringJobs(ctx context.Context, ids []string) error {
	if t.memo == nil {
		return nil
	}
	var missing []string
	for _, id := range ids {
		if _, ok := t.memoMeteringJob(id); !ok {
			missing = append(missing, id)
		}
	}
	_, err := t.readMeteringJobs(ctx, missing)

	return err
}

// readMeteringJobs reads the jobs of ids with meteringJobsSQL, keeps them
// in the memo if there is one, and returns them by id; unknown jobs are
// left out.
func (t *Tx) readMeteringJobs(ctx context.Context, ids []string) (
	map[string]meteringJobRecord, error) {

	out := make(map[string]meteringJobRecord, len(ids))
	for _, n := range t.chunks(len(ids)) {
		chunk := ids[:n]
		ids = ids[n:]
		q, args := t.idList(meteringJobsPrefix, chunk,
			meteringJobsSuffix)
		rows, err := t.scanMeteringJobs(ctx, q, args)
		if err != nil {
			return nil, fmt.Errorf("jobs %s…: %w", chunk[0], err)
		}
		for len(rows) > 0 {
			end := 1
			for end < len(rows) && rows[end].ID == rows[0].ID {
				end++
			}
			rec := meteringJobFrom(rows[:end])
			rows = rows[end:]
			out[rec.job.ID] = rec
			t.keepJob(rec.job)
			t.keepMeter(rec.job.ID, rec.meter, rec.meterFound)
			t.keepLink(rec.job.ID, rec.agentKey, rec.linked,
				rec.fundedAt)
		}
	}

	return out, nil
}

// scanMeteringJobs runs a meteringJobsSQL query.
func (t *Tx) scanMeteringJobs(ctx context.Context, q string, args []any) (
	[]meteringJobRow, error) {

	rows, err := t.query(ctx, q, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []meteringJobRow
	for rows.Next() {
		var r meteringJobRow
		if err := rows.Scan(&r.ID, &r.BuyerID, &r.ProviderID, &r.State,
			&r.BudgetMsat, &r.BufferSeconds, &r.PricePerSecond,
			&r.RefundPubkey, &r.CreatedAt, &r.UpdatedAt,
			&r.StartedAt, &r.EndedAt, &r.Resource, &r.MaxPerSecond,
			&r.Rate, &r.AgentPubkey, &r.FundedAt, &r.LastSeq,
			&r.LastSecond, &r.Carry, &r.ChargedMsat, &r.FeesMsat,
			&r.FeeBp, &r.MeterUpdatedAt); err != nil {

			return nil, mapError(err)
		}
		out = append(out, r)
	}

	return out, mapError(rows.Err())
}

// meteringJobFrom makes one job's record of its rows (one per resource).
func meteringJobFrom(rows []meteringJobRow) meteringJobRecord {
	r := rows[0]
	rec := meteringJobRecord{
		job:        jobFromRow(r.Job),
		agentKey:   r.AgentPubkey.String,
		linked:     r.AgentPubkey.Valid,
		fundedAt:   fromNull(r.FundedAt),
		meterFound: r.LastSeq.Valid,
	}
	for _, row := range rows {
		if !row.Resource.Valid {
			continue
		}
		rec.job.Resources = append(rec.job.Resources, JobResource{
			Resource:     row.Resource.String,
			MaxPerSecond: row.MaxPerSecond.Int64,
			Rate:         row.Rate.String,
		})
	}
	if r.LastSeq.Valid {
		rec.meter = UsageMeter{
			JobID:      r.ID,
			LastSeq:    r.LastSeq.Int64,
			LastSecond: r.LastSecond.Int64,
			Carry:      r.Carry.String,
			Charged:    ledger.MilliSatoshi(r.ChargedMsat.Int64),
			Fees:       ledger.MilliSatoshi(r.FeesMsat.Int64),
			FeeRate:    int64(r.FeeBp.Int32),
			UpdatedAt:  fromNull(r.MeterUpdatedAt),
		}
	}

	return rec
}
