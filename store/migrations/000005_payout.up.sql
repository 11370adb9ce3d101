-- sluice: additive
-- Streaming payouts: each payout is a durable keysend intent written, with
-- its preimage, before lnd sees it (package payout); the operator's
-- per-provider overrides of the payout policy; and each provider's payout
-- status (why payouts are held back, since when). Amounts are integer
-- millisatoshi; hashes, preimages and public keys are lower-case hex.
-- Times are UTC, microsecond precision. docs/payouts.md explains them.

CREATE TABLE payouts (
    -- 32 hex characters, random; carried to the provider's node in the
    -- payment's custom record 5482373485.
    id TEXT PRIMARY KEY CHECK (length(id) = 32),
    provider_id TEXT NOT NULL REFERENCES providers (id),
    dest_pubkey TEXT NOT NULL CHECK (length(dest_pubkey) = 66),
    amount_msat BIGINT NOT NULL CHECK (amount_msat > 0),
    -- What was reserved for routing fees, and who pays them.
    fee_budget_msat BIGINT NOT NULL CHECK (fee_budget_msat >= 0),
    fee_payer TEXT NOT NULL CHECK (fee_payer IN ('provider', 'platform')),
    payment_hash TEXT NOT NULL UNIQUE CHECK (length(payment_hash) = 64),
    preimage TEXT NOT NULL CHECK (length(preimage) = 64),
    state TEXT NOT NULL
        CHECK (state IN ('pending', 'succeeded', 'failed')),
    fee_msat BIGINT NOT NULL DEFAULT 0 CHECK (fee_msat >= 0),
    failure TEXT NOT NULL DEFAULT '',
    created_at TIMESTAMPTZ NOT NULL,
    resolved_at TIMESTAMPTZ
);

CREATE INDEX payouts_provider_idx ON payouts (provider_id, created_at);

-- At most one payout of a provider is unresolved at a time; resumption
-- reads them all at start.
CREATE UNIQUE INDEX payouts_one_pending_idx ON payouts (provider_id)
    WHERE state = 'pending';

-- The operator's overrides of the payout defaults for one provider; NULL
-- keeps the default.
CREATE TABLE payout_policies (
    provider_id TEXT PRIMARY KEY REFERENCES providers (id),
    interval_ms BIGINT CHECK (interval_ms > 0),
    minimum_msat BIGINT CHECK (minimum_msat > 0),
    fee_floor_msat BIGINT CHECK (fee_floor_msat >= 0),
    fee_ppm BIGINT CHECK (fee_ppm >= 0 AND fee_ppm <= 1000000),
    fee_payer TEXT CHECK (fee_payer IN ('provider', 'platform')),
    updated_at TIMESTAMPTZ NOT NULL
);

-- Why a provider's payouts are held back: 'ok', 'limited' (the route
-- carries less than is payable; payouts are capped), 'retrying' (the last
-- payout failed; the next waits for a backoff) or 'blocked' (the hub's
-- route cannot carry what is payable; retried at a slow interval).
CREATE TABLE payout_status (
    provider_id TEXT PRIMARY KEY REFERENCES providers (id),
    state TEXT NOT NULL CHECK (state IN ('ok', 'limited', 'retrying', 'blocked')),
    reason TEXT NOT NULL DEFAULT '',
    since TIMESTAMPTZ NOT NULL,
    retry_at TIMESTAMPTZ,
    failures BIGINT NOT NULL DEFAULT 0 CHECK (failures >= 0),
    updated_at TIMESTAMPTZ NOT NULL
);
