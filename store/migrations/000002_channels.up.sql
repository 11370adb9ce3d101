-- sluice: additive
-- Linked provider nodes: the challenges a node signs to prove it is its
-- operator's, the provider records those proofs create, each provider's
-- agent keys (the current one and those a re-link revoked) and its rate
-- card. Public keys are lower-case hex: 33-byte compressed node keys,
-- 32-byte x-only (BIP-340) agent keys. Rates are decimal strings in
-- millisatoshi per unit-second. Times are UTC, microsecond precision.

CREATE TABLE providers (
    -- id is derived from the node key, so a re-link keeps it.
    id TEXT PRIMARY KEY CHECK (id <> ''),
    node_pubkey TEXT NOT NULL UNIQUE CHECK (length(node_pubkey) = 66),
    agent_pubkey TEXT NOT NULL CHECK (length(agent_pubkey) = 64),
    alias TEXT NOT NULL DEFAULT '',
    status TEXT NOT NULL CHECK (status <> ''),
    linked_at TIMESTAMPTZ NOT NULL,
    created_at TIMESTAMPTZ NOT NULL,
    -- The hub's last reachability check: reach is 'unknown', 'reachable'
    -- or 'unreachable'; reach_reason says how it was reached or why not.
    reach TEXT NOT NULL DEFAULT 'unknown',
    reach_reason TEXT NOT NULL DEFAULT '',
    reach_checked_at TIMESTAMPTZ
);

-- Every agent key a provider has linked. revoked_at is set when a re-link
-- replaced the key; only the one row with revoked_at NULL is current.
CREATE TABLE provider_agent_keys (
    provider_id TEXT NOT NULL REFERENCES providers (id),
    agent_pubkey TEXT NOT NULL CHECK (length(agent_pubkey) = 64),
    added_at TIMESTAMPTZ NOT NULL,
    revoked_at TIMESTAMPTZ,
    PRIMARY KEY (provider_id, agent_pubkey)
);

CREATE UNIQUE INDEX provider_agent_keys_current_idx
    ON provider_agent_keys (provider_id) WHERE revoked_at IS NULL;

-- A key is looked up by itself, to refuse one another provider uses.
CREATE INDEX provider_agent_keys_key_idx
    ON provider_agent_keys (agent_pubkey);

-- A provider's rate card: one decimal rate per resource.
CREATE TABLE provider_rates (
    provider_id TEXT NOT NULL REFERENCES providers (id),
    resource TEXT NOT NULL CHECK (resource <> ''),
    rate TEXT NOT NULL CHECK (rate <> ''),
    updated_at TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (provider_id, resource)
);

-- Link challenges. A challenge is single-use: used_at is set in the same
-- transaction that records the provider, and only while it is still NULL.
CREATE TABLE link_challenges (
    id TEXT PRIMARY KEY CHECK (id <> ''),
    node_pubkey TEXT NOT NULL CHECK (length(node_pubkey) = 66),
    agent_pubkey TEXT NOT NULL CHECK (length(agent_pubkey) = 64),
    alias TEXT NOT NULL DEFAULT '',
    message TEXT NOT NULL CHECK (message <> ''),
    created_at TIMESTAMPTZ NOT NULL,
    expires_at TIMESTAMPTZ NOT NULL,
    used_at TIMESTAMPTZ,
    provider_id TEXT REFERENCES providers (id)
);

-- Expired challenges are swept by expiry.
CREATE INDEX link_challenges_expires_idx ON link_challenges (expires_at);
