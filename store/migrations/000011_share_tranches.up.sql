-- sluice: breaking
-- The share asset follows the ledger epoch by epoch (package shares,
-- docs/shares.md): after an epoch closes, the shares the ledger issued up
-- to the close are minted into the hub's tapd as one reissuance of the
-- group (a tranche), and the shares redeemed up to the close are burned
-- from the hub's holdings, so that tapd's supply of the group equals the
-- ledger's share supply at the close.
--
-- An epoch's close records the ledger's share supply and the share units
-- burned by redemptions so far, read in the close's transaction; both stay
-- NULL for epochs closed before this migration, which get no tranche.
ALTER TABLE epochs ADD COLUMN supply_shares BIGINT
    CHECK (supply_shares IS NULL OR supply_shares >= 0);
ALTER TABLE epochs ADD COLUMN burned_shares BIGINT
    CHECK (burned_shares IS NULL OR burned_shares >= 0);

-- The genesis minted the supply of its intent; burned_total is the units
-- redemptions had burned by then, which later burns need not repeat. A
-- genesis made before this migration takes the redemptions finalized by
-- its intent's time.
ALTER TABLE share_mints ADD COLUMN burned_total BIGINT NOT NULL DEFAULT 0
    CHECK (burned_total >= 0);
UPDATE share_mints SET burned_total = (
    SELECT COALESCE(SUM(r.shares), 0) FROM redemptions r
    WHERE r.state = 'finalized' AND r.finalized_at <= share_mints.created_at
);

-- Each epoch's tranche and burn, in the one outbound lifecycle: the intent
-- written before tapd sees it, its outcome recorded once. supply_after is
-- tapd's supply of the group once it succeeded, burned_total the ledger's
-- burned units it brings tapd up to. The name is the tranche's asset name
-- (its batch is found by it after a crash) or the burn's note. Once
-- succeeded, a tranche holds its asset id (32 bytes, hex) and anchor
-- outpoint ("txid:index"), a burn its anchor transaction id.
CREATE TABLE share_epoch_ops (
    id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    name TEXT NOT NULL UNIQUE CHECK (length(name) BETWEEN 1 AND 64),
    epoch BIGINT NOT NULL REFERENCES epochs (number),
    kind TEXT NOT NULL CHECK (kind IN ('tranche', 'burn')),
    amount BIGINT NOT NULL CHECK (amount > 0),
    meta TEXT NOT NULL DEFAULT '',
    supply_after BIGINT NOT NULL CHECK (supply_after >= 0),
    burned_total BIGINT NOT NULL CHECK (burned_total >= 0),
    state TEXT NOT NULL CHECK (state IN ('pending', 'succeeded', 'failed')),
    failure TEXT NOT NULL DEFAULT '',
    asset_id TEXT NOT NULL DEFAULT '',
    anchor TEXT NOT NULL DEFAULT '',
    created_at TIMESTAMPTZ NOT NULL,
    resolved_at TIMESTAMPTZ,
    CHECK ((state = 'pending') = (resolved_at IS NULL)),
    CHECK (state <> 'succeeded' OR anchor <> '')
);

-- An epoch gets at most one tranche and one burn that did not fail.
CREATE UNIQUE INDEX share_epoch_ops_once_idx ON share_epoch_ops (epoch, kind)
    WHERE state <> 'failed';

-- The hub's tapd has one pending minting batch, and each operation starts
-- from where the one before left the supply: one is pending at a time.
CREATE UNIQUE INDEX share_epoch_ops_one_pending_idx ON share_epoch_ops (state)
    WHERE state = 'pending';
