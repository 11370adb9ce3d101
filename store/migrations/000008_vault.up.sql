-- sluice: additive
-- The yield vault's own rows (package yield): the operator's policy (one
-- row, absent until first set), its cap per strategy, each provider's
-- auto-stake percent, and the redemption queue. The vault's sats and
-- shares are ledger accounts (vault, share_supply, provider_shares,
-- shares_locked); these rows hold what the ledger does not. Amounts are
-- integer millisatoshi, shares integer share units. Times are UTC,
-- microsecond precision. docs/vault.md explains them.

-- The policy is a singleton: id is always 1.
CREATE TABLE vault_policy (
    id BIGINT PRIMARY KEY CHECK (id = 1),
    -- The liquid floor's part of NAV, in basis points.
    floor_bps BIGINT NOT NULL CHECK (floor_bps BETWEEN 0 AND 10000),
    -- Shutdown stops staking and allocation; redemptions keep working.
    shutdown BOOLEAN NOT NULL,
    updated_at TIMESTAMPTZ NOT NULL
);

-- The most each strategy may hold, by strategy name; replaced whole with
-- the policy.
CREATE TABLE vault_caps (
    strategy TEXT PRIMARY KEY CHECK (strategy <> ''),
    cap_msat BIGINT NOT NULL CHECK (cap_msat >= 0)
);

-- The part of each metered second's earnings staked for the provider
-- before payouts see it; no row is 0 %.
CREATE TABLE auto_stake (
    provider_id TEXT PRIMARY KEY REFERENCES providers (id),
    percent BIGINT NOT NULL CHECK (percent BETWEEN 0 AND 100),
    updated_at TIMESTAMPTZ NOT NULL
);

-- The redemption queue: requests are finalized in id order. key is the
-- caller's idempotency key ("<provider>:<key>"). requested_msat is
-- previewRedeem(shares) when the request was made; assets_msat what
-- finalization paid, at most that; paid_mark_msat the provider's paid-out
-- total at which the request counts as paid. 'paid' is not a stored state:
-- it is read off the provider's paid_out account.
CREATE TABLE redemptions (
    id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    key TEXT NOT NULL UNIQUE CHECK (key <> ''),
    provider_id TEXT NOT NULL REFERENCES providers (id),
    shares BIGINT NOT NULL CHECK (shares > 0),
    requested_msat BIGINT NOT NULL CHECK (requested_msat >= 0),
    state TEXT NOT NULL
        CHECK (state IN ('pending', 'finalized', 'cancelled')),
    requested_at TIMESTAMPTZ NOT NULL,
    finalized_at TIMESTAMPTZ,
    assets_msat BIGINT NOT NULL DEFAULT 0
        CHECK (assets_msat >= 0 AND assets_msat <= requested_msat),
    paid_mark_msat BIGINT NOT NULL DEFAULT 0 CHECK (paid_mark_msat >= 0),
    cancelled_at TIMESTAMPTZ
);

CREATE INDEX redemptions_state_idx ON redemptions (state, id);
CREATE INDEX redemptions_provider_idx ON redemptions (provider_id, id);
