-- name: ListStrategySettings :many
SELECT strategy, killed, budget_msat, budget_period_seconds, updated_at
FROM yield_strategy_settings
ORDER BY strategy;

-- name: UpsertStrategySettings :exec
INSERT INTO yield_strategy_settings (strategy, killed, budget_msat,
    budget_period_seconds, updated_at)
VALUES (@strategy, @killed, @budget_msat, @budget_period_seconds,
    @updated_at)
ON CONFLICT (strategy) DO UPDATE
SET killed = excluded.killed, budget_msat = excluded.budget_msat,
    budget_period_seconds = excluded.budget_period_seconds,
    updated_at = excluded.updated_at;

-- name: InsertYieldPlan :exec
INSERT INTO yield_plans (id, state_hash, body, created_at, expires_at)
VALUES (@id, @state_hash, @body, @created_at, @expires_at);

-- name: GetYieldPlan :one
SELECT id, state_hash, body, created_at, expires_at, applied_at
FROM yield_plans
WHERE id = @id;

-- name: MarkYieldPlanApplied :execrows
UPDATE yield_plans
SET applied_at = @applied_at
WHERE id = @id AND applied_at IS NULL;

-- name: InsertYieldAction :one
INSERT INTO yield_actions (plan_id, seq, strategy, kind, target,
    amount_msat, params, reason, expected_cost_msat, status, error, result,
    created_at)
VALUES (@plan_id, @seq, @strategy, @kind, @target, @amount_msat, @params,
    @reason, @expected_cost_msat, 'pending', '', '', @created_at)
RETURNING id;

-- name: ResolveYieldAction :execrows
UPDATE yield_actions
SET status = @status, error = @error, result = @result,
    resolved_at = @resolved_at
WHERE id = @id AND status = 'pending';

-- name: GetYieldAction :one
SELECT id, plan_id, seq, strategy, kind, target, amount_msat, params,
    reason, expected_cost_msat, status, error, result, created_at,
    resolved_at
FROM yield_actions
WHERE id = @id;

-- name: ListYieldActions :many
-- An empty plan_id or status selects every one.
SELECT id, plan_id, seq, strategy, kind, target, amount_msat, params,
    reason, expected_cost_msat, status, error, result, created_at,
    resolved_at
FROM yield_actions
WHERE (CAST(@plan_id AS TEXT) = '' OR plan_id = @plan_id)
    AND (CAST(@status AS TEXT) = '' OR status = @status)
ORDER BY id;

-- name: GetYieldCursor :one
SELECT value
FROM yield_cursors
WHERE strategy = @strategy AND name = @name;

-- name: UpsertYieldCursor :exec
INSERT INTO yield_cursors (strategy, name, value, updated_at)
VALUES (@strategy, @name, @value, @updated_at)
ON CONFLICT (strategy, name) DO UPDATE
SET value = excluded.value, updated_at = excluded.updated_at;
