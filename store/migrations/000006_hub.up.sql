-- sluice: additive
-- The hub this store belongs to: the identity key of the lnd it was first
-- started with, and that lnd's network. sluiced records it on first start
-- and refuses to start against another node or network (it would resume
-- payouts on a node that never made them, and pay them again) unless the
-- operator says the change is meant (--hub.allowchange), which records the
-- new hub. One row at most. docs/operations.md explains it.

CREATE TABLE hub (
    id INTEGER PRIMARY KEY CHECK (id = 1),
    -- The compressed public key, lower-case hex.
    node_pubkey TEXT NOT NULL CHECK (length(node_pubkey) = 66),
    network TEXT NOT NULL CHECK (network <> ''),
    recorded_at TIMESTAMPTZ NOT NULL
);
