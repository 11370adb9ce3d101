-- sluice: additive
-- The market (package market, docs/market.md): each provider's last
-- capacity offer and what its heartbeats covered. One row per provider that
-- ever sent a heartbeat, written by each heartbeat. CPU is in core-ms per
-- second, memory in MiB; times UTC.

CREATE TABLE market_offers (
    provider_id TEXT PRIMARY KEY REFERENCES providers (id),
    cpu_core_ms BIGINT NOT NULL CHECK (cpu_core_ms > 0),
    mem_mib BIGINT NOT NULL CHECK (mem_mib > 0),
    slots BIGINT NOT NULL CHECK (slots > 0),
    agent_version TEXT NOT NULL CHECK (agent_version <> ''),
    first_seen TIMESTAMPTZ NOT NULL,
    last_seen TIMESTAMPTZ NOT NULL,
    -- The time between heartbeats that came within the timeout of each
    -- other, in milliseconds: the time the provider was seen online.
    covered_ms BIGINT NOT NULL CHECK (covered_ms >= 0),
    heartbeats BIGINT NOT NULL CHECK (heartbeats > 0)
);

-- The record counts failed payouts per provider.
CREATE INDEX payouts_provider_state_idx ON payouts (provider_id, state);
