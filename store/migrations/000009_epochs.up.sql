-- sluice: additive
-- The yield vault's reward epochs (package yield, docs/vault.md): each
-- epoch's window, and once it closed the totals of its contributions, the
-- reward it moved from platform fees into the vault, the share units that
-- bought at the NAV before the reward, and the Merkle root of its
-- contributions; and each provider's contribution to an epoch, the leaf of
-- that root. Amounts are integer millisatoshi, shares integer units, times
-- UTC with microsecond precision, the root lower-case hex in SHA-256's byte
-- order.

CREATE TABLE epochs (
    number BIGINT PRIMARY KEY CHECK (number > 0),
    -- 'open' while contributions accrue; 'closed' once its fields below
    -- are final. The window is [start_at, end_at); end_at is set when the
    -- epoch closes.
    state TEXT NOT NULL CHECK (state IN ('open', 'closed')),
    start_at TIMESTAMPTZ NOT NULL,
    end_at TIMESTAMPTZ,
    seconds BIGINT NOT NULL DEFAULT 0 CHECK (seconds >= 0),
    earned_msat BIGINT NOT NULL DEFAULT 0 CHECK (earned_msat >= 0),
    fees_msat BIGINT NOT NULL DEFAULT 0 CHECK (fees_msat >= 0),
    reward_msat BIGINT NOT NULL DEFAULT 0 CHECK (reward_msat >= 0),
    issued_shares BIGINT NOT NULL DEFAULT 0 CHECK (issued_shares >= 0),
    nav_assets_msat BIGINT NOT NULL DEFAULT 0 CHECK (nav_assets_msat >= 0),
    nav_supply_shares BIGINT NOT NULL DEFAULT 0
        CHECK (nav_supply_shares >= 0),
    root TEXT NOT NULL DEFAULT '' CHECK (root = '' OR length(root) = 64),
    CHECK ((state = 'open' AND end_at IS NULL AND root = '') OR
        (state = 'closed' AND end_at IS NOT NULL AND length(root) = 64))
);

-- At most one epoch is open: closing one and opening the next is one
-- transaction, and two closers of the same epoch cannot both open a next.
CREATE UNIQUE INDEX epochs_one_open_idx ON epochs (state)
    WHERE state = 'open';

CREATE TABLE epoch_contributions (
    epoch BIGINT NOT NULL REFERENCES epochs (number),
    provider_id TEXT NOT NULL REFERENCES providers (id),
    seconds BIGINT NOT NULL CHECK (seconds >= 0),
    earned_msat BIGINT NOT NULL CHECK (earned_msat >= 0),
    fees_msat BIGINT NOT NULL CHECK (fees_msat >= 0),
    -- The share units issued to the provider when the epoch closed.
    shares BIGINT NOT NULL DEFAULT 0 CHECK (shares >= 0),
    PRIMARY KEY (epoch, provider_id)
) /* sqlite: WITHOUT ROWID */;
