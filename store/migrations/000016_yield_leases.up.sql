-- sluice: additive
-- The liquidity leases the lease strategy sold (package yield/lease,
-- docs/leases.md). A lease is stored with its preimage before the hub's
-- hold invoice for its premium is made, so a crash never loses the
-- preimage of an invoice a buyer may pay. Its state only moves forward
-- (yield/lease/state.go); the strategy updates a row only from the state
-- it read. Amounts are msat unless named _sat; heights are block heights;
-- times UTC.

CREATE TABLE yield_leases (
    id TEXT PRIMARY KEY CHECK (id <> ''),
    -- The client's idempotency key; NULL when none was given.
    idem_key TEXT UNIQUE CHECK (idem_key <> ''),
    -- The buyer's node key, hex.
    node TEXT NOT NULL CHECK (length(node) = 66),
    capacity_sat BIGINT NOT NULL CHECK (capacity_sat > 0),
    blocks BIGINT NOT NULL CHECK (blocks > 0),
    rate_ppb BIGINT NOT NULL CHECK (rate_ppb >= 0),
    premium_msat BIGINT NOT NULL CHECK (premium_msat >= 0),
    -- The hold invoice's preimage and payment hash, hex.
    preimage TEXT NOT NULL CHECK (length(preimage) = 64),
    payment_hash TEXT NOT NULL UNIQUE CHECK (length(payment_hash) = 64),
    -- The hold invoice; empty until lnd made it.
    payment_request TEXT NOT NULL,
    invoice_expires_at TIMESTAMPTZ NOT NULL,
    state TEXT NOT NULL CHECK (state IN ('awaiting_payment', 'paid',
        'opening', 'active', 'expired', 'closing', 'closed', 'cancelled',
        'failed')),
    reason TEXT NOT NULL,
    -- The plan action that accepted it; 0 before.
    action_id BIGINT NOT NULL CHECK (action_id >= 0),
    -- "txid:index", empty until lnd answered the open.
    chan_point TEXT NOT NULL,
    htlc_expiry BIGINT NOT NULL CHECK (htlc_expiry >= 0),
    start_height BIGINT NOT NULL CHECK (start_height >= 0),
    expiry_height BIGINT NOT NULL CHECK (expiry_height >= 0),
    settled BOOLEAN NOT NULL,
    invoice_done BOOLEAN NOT NULL,
    recognised_msat BIGINT NOT NULL CHECK (recognised_msat >= 0),
    recognised_height BIGINT NOT NULL CHECK (recognised_height >= 0),
    open_cost_posted BOOLEAN NOT NULL,
    close_txid TEXT NOT NULL,
    close_cost_posted BOOLEAN NOT NULL,
    returned BOOLEAN NOT NULL,
    created_at TIMESTAMPTZ NOT NULL,
    updated_at TIMESTAMPTZ NOT NULL
);

CREATE INDEX yield_leases_state_idx ON yield_leases (state, created_at);
