-- sluice: additive
-- Shares taken out of the hub's custody to a provider's own tapd (package
-- shares, docs/shares.md "Custody and withdrawal"). A provider registers
-- one withdrawal address (a V2 group key address of the share asset, made
-- on its own tapd, checked with the hub's); each withdrawal is a request
-- of some units, queued until a round sends every queued withdrawal in
-- one tapd SendAsset. The round is the send's outbound intent: written
-- before tapd sees it, found again by its label
-- ("sluice-withdraw-<id>-<nonce>") in tapd's transfers, resolved once.
-- The shares' moves are ledger postings (provider_shares →
-- shares_withdrawing → shares_withdrawn, or back); these rows hold what
-- the ledger does not. Amounts are share units; times UTC.

CREATE TABLE share_withdraw_addresses (
    provider_id TEXT PRIMARY KEY REFERENCES providers (id),
    addr TEXT NOT NULL CHECK (addr <> ''),
    -- The group key the address receives, lower-case hex (33 bytes).
    group_key TEXT NOT NULL CHECK (length(group_key) = 66),
    proof_courier TEXT NOT NULL,
    set_at TIMESTAMPTZ NOT NULL
);

CREATE TABLE share_withdraw_rounds (
    id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    nonce TEXT NOT NULL CHECK (nonce <> ''),
    state TEXT NOT NULL CHECK (state IN ('pending', 'succeeded', 'failed')),
    failure TEXT NOT NULL DEFAULT '',
    -- The anchor transaction and its block, once complete.
    anchor_txid TEXT NOT NULL DEFAULT '',
    block_height BIGINT NOT NULL DEFAULT 0 CHECK (block_height >= 0),
    created_at TIMESTAMPTZ NOT NULL,
    resolved_at TIMESTAMPTZ,
    CHECK ((state = 'pending') = (resolved_at IS NULL)),
    CHECK (state <> 'succeeded' OR (anchor_txid <> '' AND
        block_height > 0))
);

CREATE INDEX share_withdraw_rounds_state_idx
    ON share_withdraw_rounds (state, id);

-- key is the request's idempotency key, unique per provider. addr is the
-- provider's address when it asked. round_id is set once a round carries
-- it (state sending, then withdrawn or returned).
CREATE TABLE share_withdrawals (
    id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    provider_id TEXT NOT NULL REFERENCES providers (id),
    key TEXT NOT NULL CHECK (key <> ''),
    amount BIGINT NOT NULL CHECK (amount > 0),
    addr TEXT NOT NULL CHECK (addr <> ''),
    state TEXT NOT NULL
        CHECK (state IN ('queued', 'sending', 'withdrawn', 'returned')),
    round_id BIGINT REFERENCES share_withdraw_rounds (id),
    failure TEXT NOT NULL DEFAULT '',
    created_at TIMESTAMPTZ NOT NULL,
    resolved_at TIMESTAMPTZ,
    UNIQUE (provider_id, key),
    CHECK ((state = 'queued') = (round_id IS NULL)),
    CHECK ((state IN ('queued', 'sending')) = (resolved_at IS NULL))
);

CREATE INDEX share_withdrawals_state_idx ON share_withdrawals (state, id);
CREATE INDEX share_withdrawals_round_idx ON share_withdrawals (round_id);
CREATE INDEX share_withdrawals_provider_idx
    ON share_withdrawals (provider_id, id);
