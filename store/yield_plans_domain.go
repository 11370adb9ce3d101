package store

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/sluice-ln/sluice/ledger"
	"github.com/sluice-ln/sluice/store/sqlc"
	"github.com/sluice-ln/sluice/yield"
)

// The yield strategies' rows (migration 000014), converted from and to
// package yield's types: the operator's settings per strategy, the plans,
// their applied actions and the allocators' cursors.

func (v vaultTx) StrategySettings(ctx context.Context) (
	map[string]yield.StrategySettings, error) {

	rows, err := v.tx.q.ListStrategySettings(ctx)
	if err != nil {
		return nil, mapError(err)
	}
	out := make(map[string]yield.StrategySettings, len(rows))
	for _, r := range rows {
		out[r.Strategy] = yield.StrategySettings{
			Strategy:     r.Strategy,
			Killed:       r.Killed,
			Budget:       ledger.MilliSatoshi(r.BudgetMsat),
			BudgetPeriod: time.Duration(r.BudgetPeriodSeconds) * time.Second,
			UpdatedAt:    r.UpdatedAt.UTC(),
		}
	}

	return out, nil
}

func (v vaultTx) PutStrategySettings(ctx context.Context,
	s yield.StrategySettings) error {

	return mapError(v.tx.q.UpsertStrategySettings(ctx,
		sqlc.UpsertStrategySettingsParams{
			Strategy:            s.Strategy,
			Killed:              s.Killed,
			BudgetMsat:          int64(s.Budget),
			BudgetPeriodSeconds: int64(s.BudgetPeriod / time.Second),
			UpdatedAt:           dbTime(s.UpdatedAt),
		}))
}

func (v vaultTx) InsertPlan(ctx context.Context, p yield.StoredPlan) error {
	return mapError(v.tx.q.InsertYieldPlan(ctx, sqlc.InsertYieldPlanParams{
		ID:        p.ID,
		StateHash: p.StateHash,
		Body:      string(p.Body),
		CreatedAt: dbTime(p.CreatedAt),
		ExpiresAt: dbTime(p.ExpiresAt),
	}))
}

func (v vaultTx) Plan(ctx context.Context, id string) (yield.StoredPlan,
	error) {

	r, err := v.tx.q.GetYieldPlan(ctx, id)
	if errors.Is(err, sql.ErrNoRows) {
		return yield.StoredPlan{}, fmt.Errorf("%w: %s",
			yield.ErrPlanNotFound, id)
	}
	if err != nil {
		return yield.StoredPlan{}, mapError(err)
	}

	return yield.StoredPlan{
		ID:        r.ID,
		StateHash: r.StateHash,
		Body:      []byte(r.Body),
		CreatedAt: r.CreatedAt.UTC(),
		ExpiresAt: r.ExpiresAt.UTC(),
		AppliedAt: fromNull(r.AppliedAt),
	}, nil
}

func (v vaultTx) MarkPlanApplied(ctx context.Context, id string,
	at time.Time) error {

	n, err := v.tx.q.MarkYieldPlanApplied(ctx,
		sqlc.MarkYieldPlanAppliedParams{
			ID:        id,
			AppliedAt: nullTime(at),
		})
	if err != nil {
		return mapError(err)
	}
	if n == 0 {
		return fmt.Errorf("%w: %s", yield.ErrPlanApplied, id)
	}

	return nil
}

func (v vaultTx) InsertAction(ctx context.Context, planID string, seq int,
	a yield.Action, at time.Time) (int64, error) {

	params, err := json.Marshal(nonNil(a.Params))
	if err != nil {
		return 0, err
	}
	id, err := v.tx.q.InsertYieldAction(ctx, sqlc.InsertYieldActionParams{
		PlanID:           planID,
		Seq:              int64(seq),
		Strategy:         a.Strategy,
		Kind:             string(a.Kind),
		Target:           a.Target,
		AmountMsat:       int64(a.Amount),
		Params:           string(params),
		Reason:           a.Reason,
		ExpectedCostMsat: int64(a.ExpectedCost),
		CreatedAt:        dbTime(at),
	})

	return id, mapError(err)
}

// nonNil is s, or an empty slice for nil, so that JSON writes [].
func nonNil(s []string) []string {
	if s == nil {
		return []string{}
	}

	return s
}

// yieldAction converts a yield_actions row.
func yieldAction(r sqlc.YieldAction) (yield.StoredAction, error) {
	var params []string
	if err := json.Unmarshal([]byte(r.Params), &params); err != nil {
		return yield.StoredAction{}, fmt.Errorf("action %d: params: %w",
			r.ID, err)
	}
	if len(params) == 0 {
		params = nil
	}
	status := yield.ActionStatus(r.Status)

	return yield.StoredAction{
		Action: yield.Action{
			ID:           r.ID,
			Strategy:     r.Strategy,
			Kind:         yield.ActionKind(r.Kind),
			Target:       r.Target,
			Amount:       ledger.MilliSatoshi(r.AmountMsat),
			Params:       params,
			Reason:       r.Reason,
			ExpectedCost: ledger.MilliSatoshi(r.ExpectedCostMsat),
		},
		PlanID: r.PlanID,
		Status: status,
		Outcome: yield.ActionOutcome{
			Failed: status == yield.ActionFailed,
			Error:  r.Error,
			Result: r.Result,
		},
		CreatedAt:  r.CreatedAt.UTC(),
		ResolvedAt: fromNull(r.ResolvedAt),
	}, nil
}

func (v vaultTx) Action(ctx context.Context, id int64) (yield.StoredAction,
	error) {

	r, err := v.tx.q.GetYieldAction(ctx, id)
	if errors.Is(err, sql.ErrNoRows) {
		return yield.StoredAction{}, fmt.Errorf("%w: %d",
			yield.ErrActionNotFound, id)
	}
	if err != nil {
		return yield.StoredAction{}, mapError(err)
	}

	return yieldAction(r)
}

func (v vaultTx) Actions(ctx context.Context, f yield.ActionFilter) (
	[]yield.StoredAction, error) {

	rows, err := v.tx.q.ListYieldActions(ctx, sqlc.ListYieldActionsParams{
		PlanID: f.PlanID,
		Status: string(f.Status),
	})
	if err != nil {
		return nil, mapError(err)
	}
	out := make([]yield.StoredAction, 0, len(rows))
	for _, r := range rows {
		a, err := yieldAction(r)
		if err != nil {
			return nil, err
		}
		out = append(out, a)
	}

	return out, nil
}

func (v vaultTx) ResolveAction(ctx context.Context, id int64,
	status yield.ActionStatus, o yield.ActionOutcome, at time.Time) error {

	n, err := v.tx.q.ResolveYieldAction(ctx, sqlc.ResolveYieldActionParams{
		ID:         id,
		Status:     string(status),
		Error:      o.Error,
		Result:     o.Result,
		ResolvedAt: nullTime(at),
	})
	if err != nil {
		return mapError(err)
	}
	if n == 0 {
		return fmt.Errorf("%w: %d", yield.ErrActionResolved, id)
	}

	return nil
}

func (v vaultTx) Cursor(ctx context.Context, strategy, name string) (string,
	error) {

	val, err := v.tx.q.GetYieldCursor(ctx, sqlc.GetYieldCursorParams{
		Strategy: strategy,
		Name:     name,
	})
	if errors.Is(err, sql.ErrNoRows) {
		return "", nil
	}

	return val, mapError(err)
}

func (v vaultTx) PutCursor(ctx context.Context, strategy string,
	c yield.Cursor, at time.Time) error {

	return mapError(v.tx.q.UpsertYieldCursor(ctx, sqlc.UpsertYieldCursorParams{
		Strategy:  strategy,
		Name:      c.Name,
		Value:     c.Value,
		UpdatedAt: dbTime(at),
	}))
}
