package metering

import (
	"context"
	"time"

	"github.com/shopspring/decimal"
	"github.com/sluice-ln/sluice/channels"
	"github.com/sluice-ln/sluice/ledger"
	"github.com/sluice-ln/sluice/settlement"
)

// MeterState is what metering remembers about a job between batches. It is
// stored with the job, changed only in the store transaction that stores
// the records it accounts for. The zero MeterState is a job never metered.
type MeterState struct {
	// LastSeq is the seq of the job's last accepted record: the number
	// of records accepted, since seqs start at 1 without gaps. Zero
	// before the first.
	LastSeq uint64

	// LastSecond is the second of the job's last accepted record, in
	// Unix seconds; meaningless while LastSeq is zero.
	LastSecond int64

	// Carry is the fraction of a millisatoshi the job's pricing has left
	// over (ledger.Rate.Price), in [0, 1).
	Carry decimal.Decimal

	// Charged is the whole price of the job's accepted records.
	Charged ledger.MilliSatoshi

	// Fees is the platform's part of Charged.
	Fees ledger.MilliSatoshi

	// FeeRate is the platform fee that applies to the job, fixed from the
	// operator's setting when its first record is accepted, so that a
	// running job's terms do not change under it.
	FeeRate ledger.BasisPoints
}

// JobView is what validation and rating need to know about a job: its
// owner and state as settlement and channels know them, and its MeterState.
type JobView struct {
	// ID names the job.
	ID string

	// ProviderID is the provider the job runs on.
	ProviderID string

	// AgentKey is the current agent key of the job's provider (BIP-340
	// x-only); a batch signed by any other key is refused.
	AgentKey [AgentKeyLen]byte

	// State is the job's state as settlement keeps it; metering asks
	// it State.TakesUsage.
	State settlement.State

	// StartedAt is when the job's agent started it (its first accepted
	// second); zero until then, and the first accepted record of a job
	// that takes usage starts it (UsageTx.Start).
	StartedAt time.Time

	// Started is the earliest time usage may be reported for: when the
	// job started running or, for a job not started yet, when it was
	// funded. Zero for a job that was never funded.
	Started time.Time

	// Ended is when the job ended; zero while it has not.
	Ended time.Time

	// Max is the job's resource spec: the most of each resource it may
	// use in one second.
	Max Usage

	// Rates is the job's rate card, copied into the job when it was
	// created.
	Rates channels.RateCard

	// Escrow is what the job's escrow account holds now.
	Escrow ledger.MilliSatoshi

	// Meter is the job's metering state.
	Meter MeterState
}

// UsageRow is an accepted record as stored.
type UsageRow struct {
	// JobID names the job.
	JobID string

	// Priced is the record and its price.
	Priced

	// Batch is the Digest of the batch that brought the record.
	Batch [32]byte
}

// UsageKeyPrefix is how the ledger key of each usage charge of the job
// begins, "usage:<job>:"; "<first>-<last>" completes it. The ":" ends the
// job id, so that no other job's keys share the prefix.
func UsageKeyPrefix(jobID string) string { return "usage:" + jobID + ":" }

// Charge is one posting of a job's usage to the ledger: Price moves out of
// the job's escrow, Fee of it to the platform's fees and the rest to the
// provider's payable.
type Charge struct {
	// Key is the ledger idempotency key: "usage:<job>:<first>-<last>",
	// unique because each seq is accepted once.
	Key string

	// JobID and ProviderID name the accounts.
	JobID      string
	ProviderID string

	// FirstSeq and LastSeq are the records the charge pays for.
	FirstSeq uint64
	LastSeq  uint64

	// Price is the whole amount taken from escrow; Fee is the platform's
	// part of it, and Price - Fee the provider's.
	Price ledger.MilliSatoshi
	Fee   ledger.MilliSatoshi
}

// UsageTx is one open store transaction as the Ingestor uses it. All its
// calls commit or roll back together.
type UsageTx interface {
	// Job returns the job as metering sees it, read inside the
	// transaction, or an error wrapping ErrUnknownJob.
	Job(ctx context.Context, id string) (JobView, error)

	// Jobs returns the jobs as Job would, for a whole commit at once
	// (the store reads what it can in one statement for all of them);
	// an unknown job is absent from the map, any other failure is the
	// error.
	Jobs(ctx context.Context, ids []string) (map[string]JobView, error)

	// Records returns the job's stored records with seq in [from, to],
	// in seq order.
	Records(ctx context.Context, jobID string, from,
		to uint64) ([]Record, error)

	// InsertUsage stores accepted records. A (job, seq) already stored is
	// an error: the Ingestor never inserts one twice.
	InsertUsage(ctx context.Context, rows []UsageRow) error

	// SaveMeters stores the metering states of a commit's jobs, each
	// job once.
	SaveMeters(ctx context.Context, meters []JobMeter) error

	// Start starts a job whose agent had not reported (funded, or low on
	// balance before its first second), as of at: the start of its first
	// accepted second.
	Start(ctx context.Context, jobID string, at time.Time) error

	// Charge posts a commit's usage to the ledger (escrow → provider
	// payable and platform fees), one balanced transaction per charge
	// under its key, and lets settlement re-evaluate each job's
	// solvency. The Ingestor has checked that each escrow covers its
	// Price, and gives each job once.
	Charge(ctx context.Context, charges []Charge) error
}

// JobMeter is a job's metering state, to be saved.
type JobMeter struct {
	JobID string
	State MeterState

	// LastSentAt is the latest time (Unix ms) an agent signed one of
	// the commit's batches for the job at, from batches of version 2
	// and later; 0 when none carried it. A store whose schema has no
	// place for it ignores it.
	LastSentAt int64
}

// Store runs the Ingestor's group commits.
type Store interface {
	// ExecUsage runs fn in one read-write store transaction and commits
	// it if fn returns nil. It may run fn more than once, after a
	// serialization conflict, so fn has no effects outside the
	// transaction.
	ExecUsage(ctx context.Context, fn func(UsageTx) error) error
}

// Observer is told what each group commit did, for metrics (package
// metrics implements it; daemon wires it). Committed is called on the
// committer goroutine, after the commit and before its callers are
// answered, and must not block.
type Observer interface {
	Committed(c Commit)
}

// Commit is what one group commit did.
type Commit struct {
	// Duration is how long its store transaction took, retries
	// included.
	Duration time.Duration

	// Failed is set when the store failed the commit: every batch in it
	// was answered with the error and nothing was written.
	Failed bool

	// Batches and Records count the commit's batches and their records
	// by what became of them.
	Batches CommitCounts
	Records CommitCounts

	// Credits are what the commit credited to providers' payable, one
	// per job that had records accepted, in job order.
	Credits []Credit
}

// CommitCounts counts batches, or records, by result. A batch is Accepted
// when it had a record accepted, Duplicate when all of its records had been
// accepted before, Refused when it was refused (a batch refused for want of
// escrow after some of its records were paid for is Refused, and those
// records Accepted), Failed when its commit failed.
type CommitCounts struct {
	Accepted  int
	Duplicate int
	Refused   int
	Failed    int
}

// Credit is what one commit credited to a provider's payable for one job.
type Credit struct {
	ProviderID string

	// Amount is the provider's part of the price: the price less the
	// platform's fee.
	Amount ledger.MilliSatoshi

	// FirstSecond is the first metered second the credit pays for.
	FirstSecond time.Time
}
