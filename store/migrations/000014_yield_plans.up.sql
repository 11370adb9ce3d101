-- sluice: additive
-- The yield strategies' plans and their applied actions (package yield,
-- docs/yield.md). A plan is what `sluice yield plan` proposed, with the
-- hash of the state it was planned on; applying it writes one action per
-- step before anything is called (the intent), and each action is resolved
-- once, succeeded or failed. Cursors keep where a strategy's incremental
-- reading of its sources stands (lnd's forwards after an offset), written
-- in the transaction that posts what was read. Settings are the
-- operator's kill switch and cost budget per strategy. Amounts are msat;
-- times UTC.

CREATE TABLE yield_strategy_settings (
    strategy TEXT PRIMARY KEY CHECK (strategy <> ''),
    -- The kill switch: the strategy opens nothing and winds down.
    killed BOOLEAN NOT NULL,
    -- The most its costs (chain fees, rebalances) may come to in any
    -- period of budget_period_seconds; no budget when the period is 0.
    budget_msat BIGINT NOT NULL CHECK (budget_msat >= 0),
    budget_period_seconds BIGINT NOT NULL CHECK (budget_period_seconds >= 0),
    updated_at TIMESTAMPTZ NOT NULL
);

CREATE TABLE yield_plans (
    id TEXT PRIMARY KEY CHECK (id <> ''),
    -- Hex SHA-256 of the state the plan was made on.
    state_hash TEXT NOT NULL CHECK (state_hash <> ''),
    -- The plan as proposed, JSON.
    body TEXT NOT NULL,
    created_at TIMESTAMPTZ NOT NULL,
    expires_at TIMESTAMPTZ NOT NULL,
    applied_at TIMESTAMPTZ
);

CREATE TABLE yield_actions (
    id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    plan_id TEXT NOT NULL REFERENCES yield_plans (id),
    -- The action's place in its plan.
    seq BIGINT NOT NULL CHECK (seq >= 0),
    strategy TEXT NOT NULL CHECK (strategy <> ''),
    kind TEXT NOT NULL CHECK (kind IN ('open', 'close', 'policy',
        'lease_accept')),
    target TEXT NOT NULL,
    -- Capital moved from the idle vault to the strategy when the plan
    -- was applied (an open), else 0.
    amount_msat BIGINT NOT NULL CHECK (amount_msat >= 0),
    -- "name=value" settings, JSON array.
    params TEXT NOT NULL,
    reason TEXT NOT NULL,
    expected_cost_msat BIGINT NOT NULL CHECK (expected_cost_msat >= 0),
    status TEXT NOT NULL CHECK (status IN ('pending', 'succeeded',
        'failed')),
    error TEXT NOT NULL,
    result TEXT NOT NULL,
    created_at TIMESTAMPTZ NOT NULL,
    resolved_at TIMESTAMPTZ,
    UNIQUE (plan_id, seq)
);

CREATE INDEX yield_actions_status_idx ON yield_actions (status, id);

CREATE TABLE yield_cursors (
    strategy TEXT NOT NULL CHECK (strategy <> ''),
    name TEXT NOT NULL CHECK (name <> ''),
    value TEXT NOT NULL,
    updated_at TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (strategy, name)
);
