package payout

import (
	"context"
	"time"

	"github.com/sluice-ln/sluice/ledger"
)

// StoredPayout is a payout as the store keeps it. Keys, hashes and
// preimages are lower-case hex, as the store holds them; fromStore parses
// them and checks that the hash is the preimage's.
type StoredPayout struct {
	ID         string
	ProviderID string
	DestPubkey string
	Amount     ledger.MilliSatoshi
	FeeBudget  ledger.MilliSatoshi
	FeePayer   FeePayer

	PaymentHash string
	Preimage    string

	// State is the stored status, checked by fromStore: a string that
	// names no status is an error there, not here.
	State   State
	Fee     ledger.MilliSatoshi
	Failure string

	CreatedAt time.Time

	// ResolvedAt is zero while the payout is pending.
	ResolvedAt time.Time
}

// StoredOutcome resolves a pending payout.
type StoredOutcome struct {
	ID         string
	State      State
	Fee        ledger.MilliSatoshi
	Failure    string
	ResolvedAt time.Time
}

// StoredCandidate is a linked provider with payable above zero, and its
// node key in hex.
type StoredCandidate struct {
	ProviderID string
	NodePubkey string
	Payable    ledger.MilliSatoshi
}

// StoredCandidateState is a candidate with what the scheduler weighs
// besides its payable.
type StoredCandidateState struct {
	StoredCandidate

	// Override is the operator's change to the defaults; nil for none.
	Override *Override

	// RetryAt is when payouts to it may be tried again; zero when they
	// are not held back.
	RetryAt time.Time
}

// StoredStatus is a provider's payout status as the store keeps it.
type StoredStatus struct {
	ProviderID string
	Status
	UpdatedAt time.Time
}

// StoredCounts are how many payouts a provider had.
type StoredCounts struct {
	// Total counts every payout tried, Succeeded those paid.
	Total     int64
	Succeeded int64

	// LastPaidAt is when the latest successful payout settled; zero
	// before the first.
	LastPaidAt time.Time
}

// StoredJob is one of a provider's jobs as a provider's status shows it:
// its state as settlement stores it and what metering recorded of it.
type StoredJob struct {
	ID    string
	State string

	// LastSeq is the job's last accepted usage seq; Charged the price of
	// its usage and Fees the platform's part of it. All zero before its
	// first record.
	LastSeq int64
	Charged ledger.MilliSatoshi
	Fees    ledger.MilliSatoshi
}

// TxStore is one open store transaction as payouts use it: the ledger's
// queries, so that a payout's row and its ledger move commit together, and
// payouts' own. Errors not named below are the store's own (a broken
// connection, a conflict that the DB retries).
type TxStore interface {
	ledger.TxStore

	// Balance returns an account's balance in this transaction; zero
	// for an account never posted to.
	Balance(ctx context.Context, account ledger.Account) (
		ledger.MilliSatoshi, error)

	// InsertPayout records a new payout intent. A second pending payout
	// of the provider, or a payment hash used before, gives an error
	// wrapping ErrProviderBusy; an unknown provider one wrapping
	// ErrProviderNotFound.
	InsertPayout(ctx context.Context, p StoredPayout) error

	// Payout returns the payout with the id, or an error wrapping
	// ErrPayoutNotFound.
	Payout(ctx context.Context, id string) (StoredPayout, error)

	// PendingPayouts returns every pending payout, oldest first.
	PendingPayouts(ctx context.Context) ([]StoredPayout, error)

	// ProviderPendingPayout returns the provider's pending payout, and
	// false when it has none (it never has more than one).
	ProviderPendingPayout(ctx context.Context, providerID string) (
		StoredPayout, bool, error)

	// ProviderPayouts returns a provider's payouts, newest first, at
	// most limit of them (0 for all).
	ProviderPayouts(ctx context.Context, providerID string, limit int) (
		[]StoredPayout, error)

	// ProviderPayoutCounts counts a provider's payouts.
	ProviderPayoutCounts(ctx context.Context, providerID string) (
		StoredCounts, error)

	// ResolvePayout records a pending payout's outcome. A payout that is
	// not pending any more gives an error wrapping
	// outbound.ErrInvalidTransition: its outcome is recorded once;
	// ErrPayoutNotFound when there is none.
	ResolvePayout(ctx context.Context, o StoredOutcome) error

	// PayoutCandidates returns the linked providers whose payable is
	// above zero, ordered by provider id.
	PayoutCandidates(ctx context.Context) ([]StoredCandidate, error)

	// PayoutCandidateState returns one provider as PayoutCandidates
	// would list it, with its override and retry time, and false when
	// it would not be listed (unknown, not linked, or nothing payable):
	// the scheduler's read of a provider that is due, which costs what
	// that provider is, not what all are.
	PayoutCandidateState(ctx context.Context, providerID string) (
		StoredCandidateState, bool, error)

	// ProviderExists reports whether a provider with the id was ever
	// linked.
	ProviderExists(ctx context.Context, providerID string) (bool, error)

	// SetPayoutPolicy records a provider's override, replacing an
	// earlier one; an unknown provider gives an error wrapping
	// ErrProviderNotFound.
	SetPayoutPolicy(ctx context.Context, providerID string, o Override,
		at time.Time) error

	// PayoutPolicy returns a provider's override, and false when it has
	// none.
	PayoutPolicy(ctx context.Context, providerID string) (Override, bool,
		error)

	// PayoutPolicies returns every provider's override by provider id.
	PayoutPolicies(ctx context.Context) (map[string]Override, error)

	// DeletePayoutPolicy removes a provider's override; removing none is
	// not an error.
	DeletePayoutPolicy(ctx context.Context, providerID string) error

	// SetPayoutStatus records a provider's payout status, replacing the
	// one before.
	SetPayoutStatus(ctx context.Context, s StoredStatus) error

	// PayoutStatus returns a provider's payout status, and false when
	// none was recorded.
	PayoutStatus(ctx context.Context, providerID string) (StoredStatus,
		bool, error)

	// PayoutStatuses returns every recorded payout status by provider
	// id.
	PayoutStatuses(ctx context.Context) (map[string]StoredStatus, error)

	// ProviderJobs returns the provider's jobs, newest first, with what
	// metering recorded of each.
	ProviderJobs(ctx context.Context, providerID string) ([]StoredJob,
		error)
}

// DB runs payouts' store transactions; store.DB implements it
// (store/payout_domain.go). Unit tests use a real SQLite store from
// storetest: the queries are part of what they test.
type DB interface {
	// ExecPayouts runs fn in one transaction, read-only when readOnly
	// is set, and commits it when fn returns nil. It may run fn more
	// than once, after a serialization conflict, so fn has no effects
	// outside the transaction.
	ExecPayouts(ctx context.Context, readOnly bool,
		fn func(TxStore) error) error
}
