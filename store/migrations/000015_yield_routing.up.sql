-- sluice: additive
-- The routing strategy's channels (package yield/routing): one row per
-- channel the strategy opened from vault capital, recorded before lnd is
-- asked to open it, so that a crashed open is found again by its memo and
-- its forwards are read from before it existed. Its capital, income and
-- costs are ledger transactions the vault posts; these rows say what was
-- posted for the channel already. Amounts are integer millisatoshi; times
-- UTC, microsecond precision.

CREATE TABLE yield_channels (
    id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    -- The plan's open action (the vault's intent): one channel each.
    action_id BIGINT NOT NULL UNIQUE CHECK (action_id > 0),
    -- The funding outpoint "txid:index", NULL until lnd answered the
    -- open, then set once.
    chan_point TEXT UNIQUE CHECK (chan_point <> ''),
    -- The peer's node key, hex.
    peer TEXT NOT NULL CHECK (length(peer) = 66),
    capacity_msat BIGINT NOT NULL CHECK (capacity_msat > 0),
    -- lnd's memo of the open, "sluice-yield-<action_id>".
    memo TEXT NOT NULL UNIQUE CHECK (memo <> ''),
    status TEXT NOT NULL CHECK (status IN ('opening', 'open', 'closing',
        'closed', 'failed')),
    -- lnd's short channel id, 0 until the funding confirmed.
    short_chan_id BIGINT NOT NULL CHECK (short_chan_id >= 0),
    open_height BIGINT NOT NULL CHECK (open_height >= 0),
    -- When the open was recorded: the start of the channel's forwards.
    opened_at TIMESTAMPTZ NOT NULL,
    open_txid TEXT NOT NULL,
    open_cost_posted BOOLEAN NOT NULL,
    close_txid TEXT NOT NULL,
    close_cost_posted BOOLEAN NOT NULL,
    -- The capacity went back to the idle vault.
    returned BOOLEAN NOT NULL,
    updated_at TIMESTAMPTZ NOT NULL
);
