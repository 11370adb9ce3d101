package yield

import (
	"errors"
	"fmt"
)

// Errors of the math (vaultmath.go, apportion.go, merkle.go).
var (
	// ErrOverflow is returned when a result, or a sum on the way to it,
	// does not fit the integer type it must be held in.
	ErrOverflow = errors.New("overflow")

	// ErrDivideByZero is returned by MulDiv for a zero divisor.
	ErrDivideByZero = errors.New("division by zero")

	// ErrInvalidRounding is returned for a Rounding that is neither Floor
	// nor Ceil.
	ErrInvalidRounding = errors.New("invalid rounding")

	// ErrNegative is returned for an amount, a share count, a vault
	// figure or a weight below zero.
	ErrNegative = errors.New("negative amount")

	// ErrExceedsSupply is returned when more shares are redeemed than
	// the vault has issued.
	ErrExceedsSupply = errors.New("more shares than the supply")

	// ErrZeroWeight is returned by Apportion when there are shares to
	// hand out but the weights sum to zero, so they would have no owner.
	ErrZeroWeight = errors.New("weights sum to zero")

	// ErrDuplicateID is returned when two weights or two Merkle leaves
	// name the same provider: ties and order are decided by id, so ids
	// must be unique.
	ErrDuplicateID = errors.New("duplicate provider id")

	// ErrInvalidLeaf is returned for a Merkle leaf that cannot be
	// encoded: an empty or too long provider id, a negative amount, or
	// an epoch other than its tree's.
	ErrInvalidLeaf = errors.New("invalid leaf")

	// ErrLeafNotFound is returned by Proof for a provider without a leaf.
	ErrLeafNotFound = errors.New("no leaf for provider")

	// ErrProofMismatch is returned by Verify when a leaf and its proof do
	// not lead to the root.
	ErrProofMismatch = errors.New("proof does not match root")
)

// Errors of the store contract (store.go).
var (
	// ErrKeyExists is returned when an idempotency key is stored already.
	ErrKeyExists = errors.New("idempotency key exists")

	// ErrRedemptionNotFound is returned for a redemption id or key the
	// vault never stored.
	ErrRedemptionNotFound = errors.New("redemption not found")

	// ErrRedemptionState is returned when a redemption is no longer in
	// the state a change needs: a cancel of a finalized request, a
	// second finalization.
	ErrRedemptionState = errors.New("redemption is not in that state")

	// ErrNoOpenEpoch is returned before the first epoch was opened.
	ErrNoOpenEpoch = errors.New("no open epoch")

	// ErrEpochClosed is returned when closing an epoch that is closed
	// already.
	ErrEpochClosed = errors.New("epoch is closed already")

	// ErrEpochNotFound is returned for an epoch number never opened.
	ErrEpochNotFound = errors.New("epoch not found")
)

// Bad input and refusals. Each gets its own API status code (rpc maps
// them) and changes nothing.
var (
	// ErrInvalidAmount is returned for a zero or negative amount of
	// msat or shares.
	ErrInvalidAmount = errors.New("invalid amount")

	// ErrInvalidPercent is returned for an auto-stake percent outside
	// 0–100.
	ErrInvalidPercent = errors.New("invalid percent")

	// ErrInvalidPolicy is returned for a policy with a floor above
	// 100 % or a cap on a strategy the vault does not know.
	ErrInvalidPolicy = errors.New("invalid vault policy")

	// ErrProviderNotFound is returned for a provider id that is not
	// linked.
	ErrProviderNotFound = errors.New("provider not found")

	// ErrNotOwner is returned when a provider acts on another
	// provider's redemption or shares.
	ErrNotOwner = errors.New("not the provider's own")

	// ErrShutdown is returned for a stake while the vault is shut down.
	ErrShutdown = errors.New("vault is shut down")

	// ErrEpochOpen is returned for a reward proof of an epoch that has
	// not closed.
	ErrEpochOpen = errors.New("epoch has not closed")

	// ErrNoContribution is returned for a reward proof of a provider
	// that did no metered work in the epoch.
	ErrNoContribution = errors.New("provider has no contribution in the epoch")

	// ErrLimit is wrapped by *LimitError.
	ErrLimit = errors.New("vault limit")
)

// LimitError is a refusal by a limit: which one, what it allows and what
// was asked, in the limit's unit (msat or share units), so the caller sees
// by how much. errors.Is(err, ErrLimit) holds.
type LimitError struct {
	// Limit names it: "payable", "shares held", "cap of routing",
	// "liquid floor", ...
	Limit string

	// Unit is "msat" or "share units".
	Unit string

	// Have is what the limit allows; Want what was asked.
	Have, Want int64
}

// Error says which limit and by how much.
func (e *LimitError) Error() string {
	return fmt.Sprintf("%v: %s allows %d %s, asked %d (%d over)",
		ErrLimit, e.Limit, e.Have, e.Unit, e.Want, e.Want-e.Have)
}

// Unwrap makes errors.Is(err, ErrLimit) hold.
func (e *LimitError) Unwrap() error { return ErrLimit }

// Errors of the strategies' plans (plan.go, apply.go). Each is its own
// API status code.
var (
	// ErrPlanNotFound is returned for a plan id never stored.
	ErrPlanNotFound = errors.New("plan not found")

	// ErrPlanExpired is returned when applying a plan after it expired.
	ErrPlanExpired = errors.New("plan expired")

	// ErrPlanApplied is returned when applying a plan a second time.
	ErrPlanApplied = errors.New("plan was applied already")

	// ErrPlanStale is returned when applying a plan whose state (the
	// strategies' positions, settings, policy) changed since it was
	// made: plan again.
	ErrPlanStale = errors.New("state changed since the plan was made")

	// ErrStrategyKilled is returned when a plan would give capital to
	// a strategy whose kill switch is on.
	ErrStrategyKilled = errors.New("strategy's kill switch is on")

	// ErrOverBudget is returned when a plan's expected costs would take
	// a strategy over its cost budget for the period.
	ErrOverBudget = errors.New("strategy over its cost budget")

	// ErrUnknownStrategy is returned for a strategy name the vault does
	// not know.
	ErrUnknownStrategy = errors.New("unknown strategy")

	// ErrActionNotFound is returned for an action id never stored.
	ErrActionNotFound = errors.New("action not found")

	// ErrActionResolved is returned when resolving an action that is
	// not pending.
	ErrActionResolved = errors.New("action was resolved already")

	// ErrInvalidWindow is returned for a report window that is not
	// positive.
	ErrInvalidWindow = errors.New("invalid report window")
)
