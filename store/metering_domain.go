package store

import (
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"math"
	"time"

	"github.com/shopspring/decimal"
	"github.com/sluice-ln/sluice/channels"
	"github.com/sluice-ln/sluice/ledger"
	"github.com/sluice-ln/sluice/metering"
	"github.com/sluice-ln/sluice/settlement"
	"github.com/sluice-ln/sluice/yield"
)

// Metering's store: usage rows and meter states in metering's tables
// (metering.go), the escrow from the ledger, and the rest of the job from
// a JobSource (settlement and channels, SettlementJobs), all in the group
// commit's one transaction. metering declares what it needs
// (metering.Store, metering.UsageTx) and imports no store package.

// JobSource is what MeteringStore needs from the packages that own jobs
// and providers (settlement and channels), inside the store transaction
// of a group commit. SettlementJobs is the one of production;
// storetest.MeteringJobs a fake over fixed jobs.
type JobSource interface {
	// JobInfo returns the job as metering sees it, read through tx:
	// everything in metering.JobView but Escrow and Meter, which the
	// store reads itself. An unknown job is an error wrapping
	// metering.ErrUnknownJob.
	JobInfo(ctx context.Context, tx *Tx, id string) (
		metering.JobView, error)

	// StartJob moves a funded job to running in tx, as of at.
	StartJob(ctx context.Context, tx *Tx, id string,
		at time.Time) error

	// UsageCharged tells the job's owner, in tx, that usage was posted
	// from its escrow under key, so that it re-evaluates the job's
	// solvency (low balance, suspension).
	UsageCharged(ctx context.Context, tx *Tx, id, key string) error
}

// MeteringStore is the Ingestor's Store on the SQL store: usage rows and
// meter states in metering's tables (metering.go), the escrow from the
// ledger, and the rest of the job from a JobSource.
type MeteringStore struct {
	db     *DB
	ledger *ledger.Ledger
	jobs   JobSource
	clock  func() time.Time

	// vault, when set, is told of each charge in its transaction: the
	// epoch's contributions and the provider's auto-stake.
	vault *yield.Vault
}

// Compile-time check that MeteringStore is what the Ingestor and the
// Service need.
var _ metering.ServiceStore = (*MeteringStore)(nil)

// NewMeteringStore returns metering's store on db; lg posts the usage,
// clock stamps the meter states (nil is time.Now).
func NewMeteringStore(db *DB, lg *ledger.Ledger, jobs JobSource,
	clock func() time.Time) *MeteringStore {

	if clock == nil {
		clock = time.Now
	}

	return &MeteringStore{db: db, ledger: lg, jobs: jobs, clock: clock}
}

// SetVault has each charge tell the vault what it earned the provider
// (yield.Vault.Earned), in the charge's transaction; nil, the default,
// tells no vault. Call it before the store is used.
func (s *MeteringStore) SetVault(v *yield.Vault) {
	s.vault = v
}

// ExecUsage runs fn in one read-write store transaction, retried on
// serialization and busy errors as ExecTx does.
func (s *MeteringStore) ExecUsage(ctx context.Context,
	fn func(metering.UsageTx) error) error {

	return s.db.ExecTx(ctx, TxOptions{}, func(tx *Tx) error {
		// A batch reads its job and escrow, and the accounts it
		// posts to, more than once in one commit (memo.go).
		tx.remember()
		return fn(&meteringTx{s: s, tx: tx})
	})
}

// LastSeq returns a job's last accepted seq (0 for a job never metered),
// for an agent that resumes.
func (s *MeteringStore) LastSeq(ctx context.Context, jobID string) (uint64,
	error) {

	var last uint64
	err := s.db.ExecTx(ctx, TxOptions{ReadOnly: true},
		func(tx *Tx) error {
			st, err := loadMeter(ctx, tx, jobID)
			last = st.LastSeq
			return err
		})

	return last, err
}

// JobStatus returns a job as metering sees it, read in one read-only
// transaction, or an error wrapping metering.ErrUnknownJob.
func (s *MeteringStore) JobStatus(ctx context.Context, jobID string) (
	metering.JobView, error) {

	var job metering.JobView
	err := s.db.ExecTx(ctx, TxOptions{ReadOnly: true},
		func(tx *Tx) error {
			var err error
			job, err = (&meteringTx{s: s, tx: tx}).Job(ctx, jobID)
			return err
		})

	return job, err
}

// meteringTx is one group commit's transaction.
type meteringTx struct {
	s  *MeteringStore
	tx *Tx
}

// loadMeter reads a job's meter state; zero for a job never metered.
func loadMeter(ctx context.Context, tx *Tx, id string) (
	metering.MeterState, error) {

	m, err := tx.UsageMeter(ctx, id)
	if errors.Is(err, ErrNotFound) {
		return metering.MeterState{}, nil
	}
	if err != nil {
		return metering.MeterState{}, err
	}

	carry, err := decimal.NewFromString(m.Carry)
	if err != nil {
		return metering.MeterState{}, fmt.Errorf("meter of job %s: carry %q: %w",
			id, m.Carry, err)
	}
	if m.LastSeq < 0 || m.FeeRate < 0 || m.FeeRate > math.MaxUint16 {
		return metering.MeterState{}, fmt.Errorf("meter of job %s: last seq %d, "+
			"fee rate %d out of range", id, m.LastSeq, m.FeeRate)
	}

	return metering.MeterState{
		LastSeq:    uint64(m.LastSeq),
		LastSecond: m.LastSecond,
		Carry:      carry,
		Charged:    m.Charged,
		Fees:       m.Fees,
		FeeRate:    ledger.BasisPoints(m.FeeRate),
	}, nil
}

func (t *meteringTx) Job(ctx context.Context, id string) (metering.JobView, error) {
	job, err := t.s.jobs.JobInfo(ctx, t.tx, id)
	if err != nil {
		return metering.JobView{}, err
	}
	// The charge posts to the escrow, the provider's payable and the
	// platform's fees: read together, they are read once (memo.go).
	escrow := ledger.BuyerEscrow(id)
	states, err := t.tx.Accounts(ctx, []ledger.Account{escrow,
		ledger.ProviderPayable(job.ProviderID), ledger.PlatformFees()})
	if err != nil {
		return metering.JobView{}, err
	}
	if st, ok := states[escrow]; ok {
		if err := st.CheckUnit(); err != nil {
			return metering.JobView{}, fmt.Errorf("escrow of job %s: "+
				"%w", id, err)
		}
		job.Escrow = st.Balance
	}
	job.Meter, err = loadMeter(ctx, t.tx, id)
	if err != nil {
		return metering.JobView{}, err
	}

	return job, nil
}

// Jobs reads a commit's jobs: each from the JobSource, then every meter
// the JobSource did not read (one statement) and every account their
// charges post to (one statement), all remembered for the rest of the
// commit (memo.go).
func (t *meteringTx) Jobs(ctx context.Context, ids []string) (
	map[string]metering.JobView, error) {

	views := make(map[string]metering.JobView, len(ids))
	accounts := []ledger.Account{ledger.PlatformFees()}
	// Every job in a statement per chunk, not one per job: JobInfo
	// then finds each in the memo.
	if err := t.tx.loadMeteringJobs(ctx, ids); err != nil {
		return nil, err
	}
	for _, id := range ids {
		job, err := t.s.jobs.JobInfo(ctx, t.tx, id)
		if errors.Is(err, metering.ErrUnknownJob) {
			continue
		}
		if err != nil {
			return nil, err
		}
		views[id] = job
		accounts = append(accounts, ledger.BuyerEscrow(id),
			ledger.ProviderPayable(job.ProviderID))
	}
	known := make([]string, 0, len(views))
	for _, id := range ids {
		if _, ok := views[id]; ok {
			known = append(known, id)
		}
	}
	if err := t.tx.loadUsageMeters(ctx, known); err != nil {
		return nil, err
	}
	states, err := t.tx.Accounts(ctx, accounts)
	if err != nil {
		return nil, err
	}

	for id, job := range views {
		escrow := ledger.BuyerEscrow(id)
		if st, ok := states[escrow]; ok {
			if err := st.CheckUnit(); err != nil {
				return nil, fmt.Errorf("escrow of job %s: %w",
					id, err)
			}
			job.Escrow = st.Balance
		}
		job.Meter, err = loadMeter(ctx, t.tx, id)
		if err != nil {
			return nil, err
		}
		views[id] = job
	}

	return views, nil
}

// toInt64 converts a seq for the store, whose integers are signed.
func toInt64(seq uint64) int64 {
	return int64(min(seq, math.MaxInt64))
}

func (t *meteringTx) Records(ctx context.Context, jobID string, from,
	to uint64) ([]metering.Record, error) {

	rows, err := t.tx.UsageRecords(ctx, jobID, toInt64(from), toInt64(to))
	if err != nil {
		return nil, err
	}
	recs := make([]metering.Record, len(rows))
	for i, r := range rows {
		recs[i] = metering.Record{
			Seq:    uint64(r.Seq),
			Second: r.Second,
			Usage:  metering.Usage{CPU: uint64(r.CPU), Mem: uint64(r.Mem)},
		}
	}

	return recs, nil
}

func (t *meteringTx) InsertUsage(ctx context.Context,
	rows []metering.UsageRow) error {
	recs := make([]UsageRecord, len(rows))
	for i, r := range rows {
		// Validation has kept seqs and quantities within int64.
		recs[i] = UsageRecord{
			JobID:     r.JobID,
			Seq:       toInt64(r.Seq),
			Second:    r.Second,
			CPU:       int64(r.CPU),
			Mem:       int64(r.Mem),
			Price:     r.Price,
			Fee:       r.Fee,
			BatchHash: hex.EncodeToString(r.Batch[:]),
		}
	}

	return t.tx.InsertUsageRecords(ctx, recs)
}

func (t *meteringTx) SaveMeters(ctx context.Context,
	meters []metering.JobMeter) error {

	rows := make([]UsageMeter, len(meters))
	now := t.s.clock()
	for i, m := range meters {
		st := m.State
		rows[i] = UsageMeter{
			JobID:      m.JobID,
			LastSeq:    toInt64(st.LastSeq),
			LastSecond: st.LastSecond,
			Carry:      st.Carry.String(),
			Charged:    st.Charged,
			Fees:       st.Fees,
			FeeRate:    int64(st.FeeRate),
			UpdatedAt:  now,
		}
	}

	if err := t.tx.PutUsageMeters(ctx, rows); err != nil {
		return err
	}
	if saveSentAt == nil {
		return nil
	}

	return saveSentAt(ctx, t.tx, meters)
}

// saveSentAt stores the meters' LastSentAt where the schema has a place
// for it; nil in builds whose schema has none (only the upgradetest
// build's additive test migration adds one, upgradetest.go).
var saveSentAt func(ctx context.Context, tx *Tx,
	meters []metering.JobMeter) error

func (t *meteringTx) Start(ctx context.Context, jobID string,
	at time.Time) error {

	return t.s.jobs.StartJob(ctx, t.tx, jobID, at)
}

// Charge posts, for each charge, escrow → provider payable (Price - Fee)
// and platform fees (Fee) as one balanced ledger transaction, all of them
// in one batch (ledger.PostBatchTx: one write per table for the commit),
// then, job by job, tells the vault, if set, what the charge earned (its
// epoch contribution and auto-stake) and has the job's owner re-evaluate
// its solvency, in the same transaction, so that payouts never see the
// staked part. The fee is metering's (taken from the job's running total,
// docs/protocol.md), so that the ledger's fees always equal the fee of the
// job's whole price.
func (t *meteringTx) Charge(ctx context.Context,
	charges []metering.Charge) error {

	var txs []ledger.Transaction
	for _, c := range charges {
		if c.Price <= 0 {
			continue
		}
		postings := []ledger.Posting{
			{Account: ledger.BuyerEscrow(c.JobID), Amount: -c.Price},
		}
		if share := c.Price - c.Fee; share > 0 {
			postings = append(postings, ledger.Posting{
				Account: ledger.ProviderPayable(c.ProviderID),
				Amount:  share,
			})
		}
		if c.Fee > 0 {
			postings = append(postings, ledger.Posting{
				Account: ledger.PlatformFees(), Amount: c.Fee,
			})
		}
		txs = append(txs, ledger.Transaction{
			IdempotencyKey: c.Key,
			Description: fmt.Sprintf("usage of job %s, seqs %d-%d",
				c.JobID, c.FirstSeq, c.LastSeq),
			Postings: postings,
		})
	}
	if len(txs) > 0 {
		if _, err := t.s.ledger.PostBatchTx(ctx, t.tx, txs); err != nil {
			return err
		}
	}

	for _, c := range charges {
		if t.s.vault != nil {
			err := t.s.vault.Earned(ctx, VaultTx(t.tx), yield.Earning{
				Key:        c.Key,
				JobID:      c.JobID,
				ProviderID: c.ProviderID,
				Seconds:    c.LastSeq - c.FirstSeq + 1,
				Earned:     c.Price - c.Fee,
				Fee:        c.Fee,
			})
			if err != nil {
				return fmt.Errorf("vault earning of %s: %w", c.Key,
					err)
			}
		}
		err := t.s.jobs.UsageCharged(ctx, t.tx, c.JobID, c.Key)
		if err != nil {
			return fmt.Errorf("job %s: %w", c.JobID, err)
		}
	}

	return nil
}

// SettlementJobs is the JobSource of production: jobs as settlement keeps
// them and the provider's agent key as channels stores it, all read in
// metering's transaction. Settlement owns jobs and their states; metering
// asks it (settlement.State.TakesUsage) instead of keeping states of its
// own.
type SettlementJobs struct {
	// Jobs is settlement's manager.
	Jobs *settlement.Manager
}

// Compile-time check that SettlementJobs is a JobSource.
var _ JobSource = (*SettlementJobs)(nil)

// JobInfo reads the job, as settlement's JobInTx would return it, and its
// provider's current agent key in tx, in one statement with the job's
// meter, which the transaction remembers for metering's store to read.
func (s *SettlementJobs) JobInfo(ctx context.Context, tx *Tx,
	id string) (metering.JobView, error) {

	// One statement reads the job, its first funding, its provider's
	// agent key and its meter, and leaves the job and the meter for
	// the rest of the commit to read again (memo.go).
	row, agentKey, linked, fundedAt, err := tx.meteringJob(ctx, id)
	if errors.Is(err, ErrNotFound) {
		return metering.JobView{}, fmt.Errorf("%w: %s", metering.ErrUnknownJob, id)
	}
	if err != nil {
		return metering.JobView{}, err
	}
	job, err := settlement.JobFromStored(storedJob(row), fundedAt)
	if err != nil {
		return metering.JobView{}, err
	}

	if !linked {
		return metering.JobView{}, fmt.Errorf("provider %s of job %s: "+
			"%w", job.ProviderID, id, fmt.Errorf("provider %q: %w",
			job.ProviderID, ErrProviderNotFound))
	}
	key, err := hex.DecodeString(agentKey)
	if err != nil || len(key) != metering.AgentKeyLen {
		return metering.JobView{}, fmt.Errorf("provider %s: agent key %q is "+
			"not 32 bytes of hex", job.ProviderID, agentKey)
	}

	view := metering.JobView{
		ID:         job.ID,
		ProviderID: job.ProviderID,
		State:      job.State,
		StartedAt:  job.StartedAt,
		Ended:      job.EndedAt,
		Rates:      job.Rates,
	}
	copy(view.AgentKey[:], key)

	// Usage may be for any second since the job could first run: when it
	// was funded. A job started by its first record starts at that
	// record's second, which is no earlier.
	view.Started = job.FundedAt
	if view.Started.IsZero() {
		view.Started = job.StartedAt
	}

	for r, n := range job.Spec {
		if n < 0 {
			continue
		}
		switch r {
		case channels.ResourceCPU:
			view.Max.CPU = uint64(n)
		case channels.ResourceMem:
			view.Max.Mem = uint64(n)
		}
	}

	return view, nil
}

// StartJob starts a funded job at its first metered second.
func (s *SettlementJobs) StartJob(ctx context.Context, tx *Tx,
	id string, at time.Time) error {

	_, err := s.Jobs.StartJob(ctx, settlementTx{Tx: tx}, id, at)
	return err
}

// UsageCharged has settlement re-evaluate the job's solvency.
func (s *SettlementJobs) UsageCharged(ctx context.Context, tx *Tx,
	id, key string) error {

	_, _, err := s.Jobs.UsageCharged(ctx, settlementTx{Tx: tx}, id, key)
	return err
}
