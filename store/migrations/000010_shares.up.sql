-- sluice: additive
-- The vault's shares as a Taproot Asset on the hub's tapd (package shares,
-- docs/shares.md): each mint of the asset, its intent written before tapd
-- sees it and its outcome recorded once (package outbound's lifecycle).
-- The name is the asset's name in tapd, by which its batch is found again
-- after a crash. The genesis row, once succeeded, holds the asset group's
-- tweaked group key (33 bytes), the genesis asset id (32 bytes) and the
-- anchor outpoint, lower-case hex and "txid:index".

CREATE TABLE share_mints (
    name TEXT PRIMARY KEY CHECK (length(name) BETWEEN 1 AND 64),
    kind TEXT NOT NULL CHECK (kind IN ('genesis')),
    amount BIGINT NOT NULL CHECK (amount > 0),
    -- The asset's JSON metadata as sent to tapd.
    meta TEXT NOT NULL,
    state TEXT NOT NULL CHECK (state IN ('pending', 'succeeded', 'failed')),
    failure TEXT NOT NULL DEFAULT '',
    group_key TEXT NOT NULL DEFAULT '',
    asset_id TEXT NOT NULL DEFAULT '',
    anchor_outpoint TEXT NOT NULL DEFAULT '',
    created_at TIMESTAMPTZ NOT NULL,
    resolved_at TIMESTAMPTZ,
    CHECK ((state = 'pending') = (resolved_at IS NULL)),
    CHECK (state <> 'succeeded' OR (length(group_key) = 66 AND
        length(asset_id) = 64 AND anchor_outpoint <> ''))
);

-- The asset's group is minted once: at most one genesis that has not
-- failed, pending or succeeded.
CREATE UNIQUE INDEX share_mints_one_genesis_idx ON share_mints (kind)
    WHERE kind = 'genesis' AND state <> 'failed';
