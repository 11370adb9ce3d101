package yield

import (
	"context"
	"time"

	"github.com/btcsuite/btcd/chaincfg/chainhash"
	"github.com/sluice-ln/sluice/ledger"
)

// Store runs the vault's queries in one transaction. store.DB implements
// it (store/yield_domain.go); no file of this package imports store.
type Store interface {
	// ExecVault runs fn in one store transaction, committing when fn
	// returns nil. It may run fn more than once when the backend reports
	// a serialization conflict, so fn must have no effect beyond tx.
	ExecVault(ctx context.Context, readOnly bool,
		fn func(tx VaultTx) error) error
}

// VaultTx is one open store transaction as the vault uses it. Its calls,
// and the ledger postings made through Ledger, commit or roll back
// together. Errors not named are the store's own.
type VaultTx interface {
	// Ledger is the same transaction as the ledger sees it, so that a
	// stake, a reward or a redemption posts its ledger transaction
	// atomically with the vault's own rows (ledger.Ledger.PostTx).
	Ledger() ledger.TxStore

	// AllocatedTotal is the sum of every strategy's principal account
	// (ledger.KindStrategyPrincipal): the vault's assets that are not
	// idle.
	AllocatedTotal(ctx context.Context) (ledger.MilliSatoshi, error)

	// ProviderExists reports whether a provider with the id is linked.
	ProviderExists(ctx context.Context, id string) (bool, error)

	VaultRowsTx
	EpochRowsTx
	PlanRowsTx
}

// Policy is the operator's vault policy as stored. The zero Policy (never
// set) has no floor, no caps and is not shut down.
type Policy struct {
	// FloorBPS is the liquid floor's part of NAV, in basis points
	// (0–10,000).
	FloorBPS uint32

	// Caps is the most each strategy may hold, by strategy name; a
	// strategy without one may hold nothing but what reserve holds.
	Caps map[string]ledger.MilliSatoshi

	// Shutdown stops staking (by hand, automatic and by reward) and
	// allocation; redemptions keep working.
	Shutdown bool

	// UpdatedAt is when the policy was last set; zero when never.
	UpdatedAt time.Time
}

// RedemptionState is where a redemption request is. Paid is not stored:
// it is read off the provider's paid-out account (Redemption.Paid).
type RedemptionState string

// The stored redemption states.
const (
	// RedemptionPending: the shares are locked and the request waits in
	// the queue.
	RedemptionPending RedemptionState = "pending"

	// RedemptionFinalized: the shares were burnt and the assets moved to
	// the provider's payable.
	RedemptionFinalized RedemptionState = "finalized"

	// RedemptionCancelled: the shares were unlocked before finalization.
	RedemptionCancelled RedemptionState = "cancelled"
)

// StoredRedemption is a redemption request as stored.
type StoredRedemption struct {
	// ID is the request's place in the queue: requests are finalized in
	// ID order. Given by the store on insert.
	ID int64

	// Key is the caller's idempotency key: a second request with the
	// same key returns the first.
	Key string

	ProviderID string

	// Shares are locked by the request.
	Shares ledger.Shares

	// Requested is previewRedeem(Shares) when the request was made: the
	// most it pays.
	Requested ledger.MilliSatoshi

	State       RedemptionState
	RequestedAt time.Time

	// FinalizedAt and Assets are set on finalization: what the request
	// paid into the provider's payable, min(Requested, toAssets(Shares)
	// then).
	FinalizedAt time.Time
	Assets      ledger.MilliSatoshi

	// PaidMark is set on finalization: the provider's paid-out total at
	// which its node has received the request's assets beyond what it
	// had been paid and had in flight then (paid out + in flight +
	// Assets). Payable left below the payout minimum does not hold it
	// back.
	PaidMark ledger.MilliSatoshi

	// CancelledAt is set on cancellation.
	CancelledAt time.Time
}

// RedemptionFilter selects redemptions: by provider (empty for all) and
// by state (none for all), in ID order.
type RedemptionFilter struct {
	ProviderID string
	States     []RedemptionState
}

// VaultRowsTx is the vault's own rows: its policy, the auto-stake setting
// of each provider and the redemption queue.
type VaultRowsTx interface {
	// Policy returns the stored policy, or the zero Policy when none was
	// ever set.
	Policy(ctx context.Context) (Policy, error)

	// PutPolicy replaces the stored policy.
	PutPolicy(ctx context.Context, p Policy) error

	// AutoStake returns the provider's auto-stake percent, 0 when never
	// set.
	AutoStake(ctx context.Context, providerID string) (uint32, error)

	// SetAutoStake stores the provider's auto-stake percent.
	SetAutoStake(ctx context.Context, providerID string, percent uint32,
		at time.Time) error

	// InsertRedemption stores a new pending request and returns its ID;
	// an error wrapping ErrKeyExists when its Key is stored already.
	InsertRedemption(ctx context.Context, r StoredRedemption) (int64,
		error)

	// Redemption returns the request with the id, or one wrapping
	// ErrRedemptionNotFound.
	Redemption(ctx context.Context, id int64) (StoredRedemption, error)

	// RedemptionByKey returns the request stored with the idempotency
	// key, or one wrapping ErrRedemptionNotFound.
	RedemptionByKey(ctx context.Context, key string) (StoredRedemption,
		error)

	// Redemptions returns the requests the filter selects, in ID order.
	Redemptions(ctx context.Context, f RedemptionFilter) (
		[]StoredRedemption, error)

	// UpdateRedemption stores r's state and the fields that state sets,
	// only if the stored state is still from: otherwise an error wrapping
	// ErrRedemptionState.
	UpdateRedemption(ctx context.Context, from RedemptionState,
		r StoredRedemption) error

	// ShareTotals reads the ledger's share supply and the units
	// finalized redemptions burned, in one statement.
	ShareTotals(ctx context.Context) (ShareTotals, error)
}

// StoredEpoch is a reward epoch as stored. One epoch is open at a time;
// closing it opens the next.
type StoredEpoch struct {
	// Number counts epochs from 1.
	Number uint64

	// Start and End bound its window [Start, End); End is zero while it
	// is open.
	Start time.Time
	End   time.Time

	// Closed is set when the epoch closed: the fields below are final.
	Closed bool

	// Seconds, Earned and Fees total its contributions.
	Seconds uint64
	Earned  ledger.MilliSatoshi
	Fees    ledger.MilliSatoshi

	// Reward is what moved from platform fees into the vault, and
	// Issued the shares it bought at the NAV before the deposit
	// (NAVAssets, NAVSupply).
	Reward    ledger.MilliSatoshi
	Issued    ledger.Shares
	NAVAssets ledger.MilliSatoshi
	NAVSupply ledger.Shares

	// Root is the Merkle root of its contributions (Root in merkle.go).
	Root chainhash.Hash

	// Totals is the ledger's share supply and burned units at the
	// close, after its reward; set when TotalsKnown (epochs closed
	// before the store recorded them have none). The share asset's
	// tranche of the epoch is minted from them (package shares).
	Totals      ShareTotals
	TotalsKnown bool
}

// ShareTotals is the ledger's share supply and the share units that
// redemptions burned, read at one moment. The units issued until then are
// their sum.
type ShareTotals struct {
	Supply ledger.Shares
	Burned ledger.Shares
}

// Contribution is one provider's work in one epoch: the leaf of the
// epoch's Merkle tree.
type Contribution struct {
	Epoch      uint64
	ProviderID string

	// Seconds metered, what they earned the provider (its part, after
	// the platform fee) and the platform fees they paid.
	Seconds uint64
	Earned  ledger.MilliSatoshi
	Fees    ledger.MilliSatoshi

	// Shares issued to the provider when the epoch closed.
	Shares ledger.Shares
}

// EpochRowsTx is the reward epochs and their contributions.
type EpochRowsTx interface {
	// OpenEpoch returns the open epoch, or an error wrapping
	// ErrNoOpenEpoch before the first was opened.
	OpenEpoch(ctx context.Context) (StoredEpoch, error)

	// InsertEpoch stores a new open epoch; only one may be open.
	InsertEpoch(ctx context.Context, e StoredEpoch) error

	// CloseEpoch stores e's final fields and marks it closed, only if it
	// is still open: otherwise an error wrapping ErrEpochClosed.
	CloseEpoch(ctx context.Context, e StoredEpoch) error

	// Epoch returns the epoch with the number, or an error wrapping
	// ErrEpochNotFound.
	Epoch(ctx context.Context, number uint64) (StoredEpoch, error)

	// Epochs returns up to limit epochs (0: all) numbered above after,
	// in number order.
	Epochs(ctx context.Context, after uint64, limit int) ([]StoredEpoch,
		error)

	// AddContribution adds seconds, earned and fees to the provider's
	// contribution to the epoch, creating it on first use.
	AddContribution(ctx context.Context, c Contribution) error

	// AddOpenContribution is AddContribution to the open epoch, whatever
	// c.Epoch says, and returns the open epoch's number: one call where
	// OpenEpoch and AddContribution would be two, for every metered
	// charge. An error wrapping ErrNoOpenEpoch, with nothing added,
	// before the first epoch was opened.
	AddOpenContribution(ctx context.Context, c Contribution) (uint64,
		error)

	// Contributions returns the epoch's contributions sorted by provider
	// id.
	Contributions(ctx context.Context, epoch uint64) ([]Contribution,
		error)

	// SetContributionShares stores the shares issued for a contribution.
	SetContributionShares(ctx context.Context, epoch uint64,
		providerID string, shares ledger.Shares) error
}
