package yield

import (
	"context"
	"time"

	"github.com/sluice-ln/sluice/ledger"
)

// StrategySettings is the operator's switches on one strategy beyond its
// cap (which is in the Policy).
type StrategySettings struct {
	Strategy string

	// Killed is the kill switch: the strategy opens nothing, plans
	// close its positions, and a plan that would open is refused.
	Killed bool

	// Budget is the most its costs (chain fees, rebalance payments) may
	// come to in any period of BudgetPeriod, counted from the costs the
	// ledger holds; no budget when BudgetPeriod is zero.
	Budget       ledger.MilliSatoshi
	BudgetPeriod time.Duration

	UpdatedAt time.Time
}

// Limited says whether the settings set a budget.
func (s StrategySettings) Limited() bool { return s.BudgetPeriod > 0 }

// StoredPlan is a plan as stored: what `sluice yield plan` proposed.
type StoredPlan struct {
	ID        string
	StateHash string

	// Body is the plan as JSON (Plan).
	Body []byte

	CreatedAt time.Time
	ExpiresAt time.Time

	// AppliedAt is when it was applied; zero while it was not.
	AppliedAt time.Time
}

// ActionFilter selects applied actions: of one plan (empty: every plan)
// and in one status (empty: any), in id order.
type ActionFilter struct {
	PlanID string
	Status ActionStatus
}

// PlanRowsTx is the strategies' rows: the operator's settings, the plans,
// their applied actions and the allocators' cursors.
type PlanRowsTx interface {
	// StrategySettings returns every strategy's stored settings, by
	// name; a strategy without a row has none (not killed, no budget).
	StrategySettings(ctx context.Context) (map[string]StrategySettings,
		error)

	// PutStrategySettings replaces the strategy's settings.
	PutStrategySettings(ctx context.Context, s StrategySettings) error

	// InsertPlan stores a new plan.
	InsertPlan(ctx context.Context, p StoredPlan) error

	// Plan returns the plan with the id, or an error wrapping
	// ErrPlanNotFound.
	Plan(ctx context.Context, id string) (StoredPlan, error)

	// MarkPlanApplied sets the plan's AppliedAt, only if it was not
	// applied: otherwise an error wrapping ErrPlanApplied.
	MarkPlanApplied(ctx context.Context, id string, at time.Time) error

	// InsertAction stores an applied action, pending, and returns its
	// id.
	InsertAction(ctx context.Context, planID string, seq int,
		a Action, at time.Time) (int64, error)

	// Action returns the action with the id, or an error wrapping
	// ErrActionNotFound.
	Action(ctx context.Context, id int64) (StoredAction, error)

	// Actions returns the actions the filter selects, in id order.
	Actions(ctx context.Context, f ActionFilter) ([]StoredAction, error)

	// ResolveAction records the action's outcome, only if it is still
	// pending: otherwise an error wrapping ErrActionResolved.
	ResolveAction(ctx context.Context, id int64, status ActionStatus,
		o ActionOutcome, at time.Time) error

	// Cursor returns the strategy's cursor value with the name, "" when
	// never set.
	Cursor(ctx context.Context, strategy, name string) (string, error)

	// PutCursor sets the strategy's cursor with the name.
	PutCursor(ctx context.Context, strategy string, c Cursor,
		at time.Time) error
}
