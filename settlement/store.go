package settlement

import (
	"context"
	"time"

	"github.com/sluice-ln/sluice/channels"
	"github.com/sluice-ln/sluice/ledger"
)

// StoredJob is a job as the store keeps it: its price and rates are the
// decimal strings written when it was created, its refund node hex, and
// jobFromRow parses them.
type StoredJob struct {
	ID             string
	BuyerID        string
	ProviderID     string
	State          State
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
	Resources []StoredResource
}

// StoredResource is one resource of a stored job: the most of it per
// second and its rate, a decimal string, as copied from the provider's
// card.
type StoredResource struct {
	Resource     channels.Resource
	MaxPerSecond int64
	Rate         string
}

// StateChange moves a job from one state to another; the store makes it
// only if the job is still in From.
type StateChange struct {
	ID   string
	From State
	To   State
	At   time.Time

	// StartedAt and EndedAt, when not zero, are written too; zero leaves
	// them as they are.
	StartedAt time.Time
	EndedAt   time.Time
}

// StoredEvent is one recorded state change of a job.
type StoredEvent struct {
	JobID  string
	From   State
	To     State
	Cause  Cause
	Detail string
	At     time.Time
}

// StoredInvoice is a hub invoice that funds a job, as the store keeps it.
type StoredInvoice struct {
	PaymentHash    string
	JobID          string
	Purpose        InvoicePurpose
	Amount         ledger.MilliSatoshi
	PaymentRequest string

	// State is InvoiceOpen, InvoiceSettled, InvoiceExpired or
	// InvoiceCanceled.
	State       string
	AmountPaid  ledger.MilliSatoshi
	SettleIndex uint64
	CreatedAt   time.Time
	ExpiresAt   time.Time
	SettledAt   time.Time
}

// InvoiceOutcome is how an invoice ended: settled (with what was paid
// and lnd's settle index), expired or canceled.
type InvoiceOutcome struct {
	PaymentHash string
	State       string
	AmountPaid  ledger.MilliSatoshi
	SettleIndex uint64
	SettledAt   time.Time
}

// StoredRefund is a refund as the store keeps it: its destination and
// preimage (a keysend's) in hex.
type StoredRefund struct {
	PaymentHash    string
	JobID          string
	Method         RefundMethod
	PaymentRequest string
	DestPubkey     string
	Preimage       string
	Amount         ledger.MilliSatoshi
	FeeLimit       ledger.MilliSatoshi
	State          RefundState
	Fee            ledger.MilliSatoshi
	Failure        string
	CreatedAt      time.Time
	ResolvedAt     time.Time
}

// RefundOutcome is how a pending refund ended.
type RefundOutcome struct {
	PaymentHash string
	State       RefundState
	Fee         ledger.MilliSatoshi
	Failure     string
	ResolvedAt  time.Time
}

// OwedJob is an ended job that still owes its buyer money.
type OwedJob struct {
	ID string

	// RefundPending is set while a refund of the job is pending.
	RefundPending bool
}

// Metered is what metering recorded of a job, for its status.
type Metered struct {
	// LastSeq is the job's last accepted usage seq; Charged the price
	// of its usage and Fees the platform's part of it.
	LastSeq int64
	Charged ledger.MilliSatoshi
	Fees    ledger.MilliSatoshi
}

// TxStore is one open store transaction as settlement uses it: the
// ledger's queries and settlement's own, so that escrow moves commit with
// the job's state. Metering hands its group commit's transaction, seen
// as a TxStore, to JobInTx, StartJob and UsageCharged, so that usage
// records, the ledger posting and the job's state commit together. Errors
// not named below are the store's own (a broken connection, a conflict
// that the DB retries).
type TxStore interface {
	ledger.TxStore

	// Balance returns an account's balance in this transaction; zero
	// for an account never posted to.
	Balance(ctx context.Context, account ledger.Account) (
		ledger.MilliSatoshi, error)

	// InsertBuyer records a new buyer; a name taken gives an error
	// wrapping ErrBuyerExists.
	InsertBuyer(ctx context.Context, b Buyer) error

	// BuyerByID returns the buyer, or an error wrapping
	// ErrBuyerNotFound.
	BuyerByID(ctx context.Context, id string) (Buyer, error)

	// Buyers returns every buyer, oldest first.
	Buyers(ctx context.Context) ([]Buyer, error)

	// InsertJob records a new job with its resources.
	InsertJob(ctx context.Context, j StoredJob) error

	// JobByID returns the job with its resources, or an error wrapping
	// ErrJobNotFound.
	JobByID(ctx context.Context, id string) (StoredJob, error)

	// ListJobs returns the jobs the filter selects, newest first, with
	// their resources.
	ListJobs(ctx context.Context, f ListFilter) ([]StoredJob, error)

	// UpdateJobState makes the state change. A job no longer in
	// c.From gives an error wrapping ErrStale, no job one wrapping
	// ErrJobNotFound.
	UpdateJobState(ctx context.Context, c StateChange) error

	// SetJobRefundPubkey sets the node key (hex) a job's keysend
	// refunds go to; no job gives an error wrapping ErrJobNotFound.
	SetJobRefundPubkey(ctx context.Context, id, pubkey string,
		at time.Time) error

	// InsertJobEvent records a state change of a job.
	InsertJobEvent(ctx context.Context, e StoredEvent) error

	// JobEvents returns a job's events in the order they happened.
	JobEvents(ctx context.Context, jobID string) ([]StoredEvent, error)

	// InsertJobInvoice records an invoice made for a job.
	InsertJobInvoice(ctx context.Context, inv StoredInvoice) error

	// JobInvoiceByHash returns the invoice with the payment hash (hex),
	// or an error wrapping ErrInvoiceNotFound when it is no job's.
	JobInvoiceByHash(ctx context.Context, hash string) (StoredInvoice,
		error)

	// JobInvoices returns a job's invoices, oldest first.
	JobInvoices(ctx context.Context, jobID string) ([]StoredInvoice,
		error)

	// OpenJobInvoices returns every open invoice, soonest to expire
	// first.
	OpenJobInvoices(ctx context.Context) ([]StoredInvoice, error)

	// UpdateJobInvoice records an invoice's outcome. A settled invoice
	// is final: updating it gives an error wrapping ErrStale; an
	// invoice that is no job's one wrapping ErrInvoiceNotFound.
	UpdateJobInvoice(ctx context.Context, o InvoiceOutcome) error

	// Cursor returns the named cursor's value; zero when it was never
	// set.
	Cursor(ctx context.Context, name string) (uint64, error)

	// AdvanceCursor sets the named cursor to value if that is above its
	// current value (a cursor never moves back), and reports whether it
	// moved.
	AdvanceCursor(ctx context.Context, name string, value uint64) (bool,
		error)

	// InsertRefund records a refund intent. A second pending refund of
	// the job, or a payment hash refunded before, gives an error
	// wrapping ErrRefundInFlight.
	InsertRefund(ctx context.Context, r StoredRefund) error

	// JobRefunds returns a job's refunds, oldest first.
	JobRefunds(ctx context.Context, jobID string) ([]StoredRefund, error)

	// PendingRefunds returns every pending refund, oldest first.
	PendingRefunds(ctx context.Context) ([]StoredRefund, error)

	// OwedEndedJobs returns the ended jobs that still owe their buyer
	// money: a refund node is known and the escrow holds a positive
	// balance.
	OwedEndedJobs(ctx context.Context) ([]OwedJob, error)

	// ResolveRefund records a pending refund's outcome. A refund that
	// is not pending any more gives an error wrapping
	// outbound.ErrInvalidTransition: its outcome is recorded once.
	ResolveRefund(ctx context.Context, o RefundOutcome) error

	// JobMetered returns what metering recorded of the job; zero before
	// its first record.
	JobMetered(ctx context.Context, jobID string) (Metered, error)

	// JobAutoStaked returns what the job's provider auto-staked of the
	// job's earnings: the msat that the auto-stakes of the job's usage
	// charges (made by the vault in metering's transaction, keyed
	// "autostake:usage:<job>:<first>-<last>") moved from its payable into
	// the vault; zero when none did.
	JobAutoStaked(ctx context.Context, jobID string) (ledger.MilliSatoshi,
		error)

	// InsertJobWorkload stores the workload of a job inserted in this
	// transaction, with its inputs. The workload is validated already.
	InsertJobWorkload(ctx context.Context, jobID string, w Workload) error

	// JobWorkload returns a job's workload with its inputs' bytes, or an
	// error wrapping ErrNoWorkload for a job without one.
	JobWorkload(ctx context.Context, jobID string) (Workload, error)

	// JobWorkloadInfo returns a job's workload with its inputs' names
	// and sizes but not their bytes, or an error wrapping ErrNoWorkload.
	JobWorkloadInfo(ctx context.Context, jobID string) (WorkloadInfo,
		error)

	// InsertJobResult stores a job's result unless the job has one, and
	// reports whether it did; the job has a workload.
	InsertJobResult(ctx context.Context, r StoredResult) (bool, error)

	// JobResult returns a job's result with its output, or an error
	// wrapping ErrNoResult.
	JobResult(ctx context.Context, jobID string) (StoredResult, error)

	// JobResultInfo returns a job's result without its output's bytes,
	// or an error wrapping ErrNoResult.
	JobResultInfo(ctx context.Context, jobID string) (ResultInfo, error)

	// InsertJobPlacement records where a job was placed.
	InsertJobPlacement(ctx context.Context, p StoredPlacement) error

	// JobPlacements returns a job's placements, first first; none for a
	// job its buyer named the provider of.
	JobPlacements(ctx context.Context, jobID string) ([]StoredPlacement,
		error)

	// LapsePlacement marks a job's current placement (seq) lapsed; one
	// lapsed already gives an error wrapping ErrStale.
	LapsePlacement(ctx context.Context, jobID string, seq int64,
		at time.Time) error

	// UnstartedPlacements returns the current placement of every job
	// in a startable state (State.Startable) that its agent has not
	// started, with FundedAt set.
	UnstartedPlacements(ctx context.Context) ([]StoredPlacement, error)

	// MoveJob gives an unstarted job in a startable state on m.From to
	// m.To at the new price and rates; a job not so gives an error
	// wrapping ErrStale.
	MoveJob(ctx context.Context, m JobMove) error

	// ServedJobs returns the jobs with a workload that their agent
	// started, that have no result and have not ended.
	ServedJobs(ctx context.Context) ([]ServedJob, error)
}

// JobMove moves a job that was not started to another provider.
type JobMove struct {
	ID   string
	From string
	To   string

	// PricePerSecond and Rates (per resource of the job, decimal
	// strings) are the new provider's.
	PricePerSecond string
	Rates          map[channels.Resource]string
	At             time.Time
}

// DB runs settlement's store transactions; store.DB implements it
// (store/settlement_domain.go). Unit tests use a real SQLite store from
// storetest: the queries are part of what they test.
type DB interface {
	// ExecSettlement runs fn in one transaction, read-only when
	// readOnly is set, and commits it when fn returns nil. It may run
	// fn more than once, after a serialization conflict, so fn has no
	// effects outside the transaction.
	ExecSettlement(ctx context.Context, readOnly bool,
		fn func(TxStore) error) error
}
