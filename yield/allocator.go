package yield

import (
	"context"
	"time"

	"github.com/sluice-ln/sluice/ledger"
)

// Allocator is a strategy that puts the vault's sats to work in
// positions it opens and closes itself (routing channels, leases). The
// vault plans across allocators (Vault.Plan), applies a plan's actions
// (Vault.Apply) and lets each harvest what its positions earned and cost
// (Vault.Harvest); the allocator reads its own sources (lnd, its rows) and
// acts through the Books the vault hands it, never on the ledger directly.
type Allocator interface {
	Strategy

	// Observe reads the strategy's positions and candidates as its
	// records and lnd show them now. Only what a plan depends on belongs
	// in it: a plan carries a hash of every allocator's observation and
	// is refused when it changed (balances that move with every payment
	// do not belong).
	Observe(ctx context.Context) (Observation, error)

	// Propose plans the strategy's actions on obs within room: the most
	// new capital it may take (its cap less its principal, and what the
	// floor and the other strategies leave), and whether the operator's
	// kill switch is on (then it only winds down). It returns the actions
	// and the candidates it left out, each with why.
	Propose(ctx context.Context, obs Observation, room Room) (Proposal,
		error)

	// Execute carries out one action of an applied plan, recorded as an
	// intent before it is called: it first looks the action up at the
	// other side (a crash may have left it done), makes the call only
	// when the other side never saw it, and returns the outcome. An
	// error means the outcome is not known yet: the vault calls Execute
	// again later, never marking the action failed on it.
	Execute(ctx context.Context, a Action, books Books) (ActionOutcome,
		error)

	// Harvest reads what the strategy's positions earned and cost since
	// the last harvest and posts it through books, each line once
	// (idempotency keys that name the lnd records they come from), and
	// returns capital of positions that ended.
	Harvest(ctx context.Context, books Books) error
}

// Books is what an allocator may do to the ledger: every movement of its
// capital, income and costs goes through the vault, which keeps the
// strategy's principal and yield accounts, the floor and the caps.
type Books interface {
	// Income posts amt earned: strategy_yield:<name> → vault, under the
	// key, and sets the cursor in the same transaction, so that what
	// was read incrementally (lnd's forwards after an offset) is posted
	// once: a crash leaves both or neither. A key posted before is a
	// no-op (the cursor is still set). A zero amt posts nothing and only
	// sets the cursor; a Cursor with no Name sets none.
	Income(ctx context.Context, key, description string,
		amt ledger.MilliSatoshi, cursor Cursor) error

	// Cursor returns the value last set for the strategy's cursor with
	// the name, "" when never set.
	Cursor(ctx context.Context, name string) (string, error)

	// Cost posts amt spent (chain fees, rebalance payments): vault →
	// strategy_yield:<name>, under the key.
	Cost(ctx context.Context, key, description string,
		amt ledger.MilliSatoshi) error

	// Return moves amt of principal back to the idle vault (a position
	// ended): strategy_principal:<name> → vault, under the key.
	Return(ctx context.Context, key, description string,
		amt ledger.MilliSatoshi) error
}

// Cursor is where an allocator's incremental reading of a source
// stands: Value is its own (an offset, a height), kept per strategy and
// Name.
type Cursor struct {
	Name  string
	Value string
}

// Observation is an allocator's view of its positions, for planning and
// for the plan's state hash.
type Observation struct {
	// Positions are the strategy's positions, in a stable order.
	Positions []Position

	// Facts are further inputs of the plan as "name=value" strings in a
	// stable order (the peers listed, the fee policy configured): they
	// are hashed with the positions.
	Facts []string
}

// Position is one placement of a strategy's capital.
type Position struct {
	// ID names it within the strategy (a channel point, a lease id).
	ID string

	// Peer is the node on the other side, hex.
	Peer string

	// Principal is the capital it holds.
	Principal ledger.MilliSatoshi

	// Status is the strategy's word for where it is (opening, open,
	// closing, closed, ...).
	Status string
}

// Room is what a strategy may do in one plan.
type Room struct {
	// New is the most new capital it may take.
	New ledger.MilliSatoshi

	// Killed is the operator's kill switch: open nothing, wind down.
	Killed bool

	// Budget is what is left of its cost budget in the current period;
	// Unlimited when the operator set none.
	Budget    ledger.MilliSatoshi
	Unlimited bool
}

// ActionKind is what an action does.
type ActionKind string

// The action kinds.
const (
	ActionOpen        ActionKind = "open"
	ActionClose       ActionKind = "close"
	ActionPolicy      ActionKind = "policy"
	ActionLeaseAccept ActionKind = "lease_accept"
)

// Action is one step of a plan.
type Action struct {
	// ID is given when the plan is applied: the intent's id, part of
	// every key and memo the action leaves at the other side.
	ID int64

	Strategy string
	Kind     ActionKind

	// Target is what the action acts on: a peer's key for an open, a
	// channel point for a close or a policy change, a lease id.
	Target string

	// Amount is the capital the action takes from the idle vault (an
	// open) — moved to the strategy's principal when the plan is
	// applied, before the call — or zero.
	Amount ledger.MilliSatoshi

	// Params are the action's further settings as "name=value" (the
	// fee policy of a policy change).
	Params []string

	// Reason says why the plan takes it.
	Reason string

	// ExpectedCost is what it is expected to cost (an on-chain fee
	// lnd estimated), counted against the strategy's budget.
	ExpectedCost ledger.MilliSatoshi
}

// LeftOut is a candidate a plan did not act on, and why (as Loop's
// disqualified channels).
type LeftOut struct {
	Strategy string
	Target   string
	Reason   string
}

// Proposal is one strategy's part of a plan.
type Proposal struct {
	Actions []Action
	LeftOut []LeftOut
}

// ActionStatus is where an applied action is.
type ActionStatus string

// The action statuses.
const (
	ActionPending   ActionStatus = "pending"
	ActionSucceeded ActionStatus = "succeeded"
	ActionFailed    ActionStatus = "failed"
)

// ActionOutcome is how an action ended.
type ActionOutcome struct {
	// Failed is true when the other side refused it for good; Error
	// says why. A failed open's capital returns to the idle vault.
	Failed bool
	Error  string

	// Result is what it left, for the operator (a channel point).
	Result string
}

// StoredAction is an applied action as stored.
type StoredAction struct {
	Action
	PlanID     string
	Status     ActionStatus
	Outcome    ActionOutcome
	CreatedAt  time.Time
	ResolvedAt time.Time
}
