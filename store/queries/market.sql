-- name: UpsertMarketOffer :exec
INSERT INTO market_offers (provider_id, cpu_core_ms, mem_mib, slots,
    agent_version, first_seen, last_seen, covered_ms, heartbeats)
VALUES (@provider_id, @cpu_core_ms, @mem_mib, @slots, @agent_version,
    @first_seen, @last_seen, @covered_ms, @heartbeats)
ON CONFLICT (provider_id) DO UPDATE
SET cpu_core_ms = excluded.cpu_core_ms, mem_mib = excluded.mem_mib,
    slots = excluded.slots, agent_version = excluded.agent_version,
    first_seen = excluded.first_seen, last_seen = excluded.last_seen,
    covered_ms = excluded.covered_ms, heartbeats = excluded.heartbeats;

-- name: GetMarketOffer :one
SELECT * FROM market_offers WHERE provider_id = @provider_id;

-- name: ListMarketOffers :many
-- An empty provider id selects every provider's.
SELECT * FROM market_offers
WHERE (CAST(@provider_id AS TEXT) = '' OR provider_id = @provider_id);

-- name: MarketJobTally :many
-- Each provider's jobs counted by state, whether the agent started them,
-- whether they were ever funded, and the cause of their end (empty when
-- they have not ended). The states and causes are settlement's, passed in.
SELECT j.provider_id, j.state,
    CAST(j.started_at IS NOT NULL AS BOOLEAN) AS started,
    CAST(f.job_id IS NOT NULL AS BOOLEAN) AS funded,
    CAST(COALESCE(e.cause, '') AS TEXT) AS end_cause,
    COUNT(*) AS jobs
FROM jobs j
LEFT JOIN job_events f ON f.job_id = j.id
    AND f.from_state = @awaiting_state AND f.to_state = @funded_state
LEFT JOIN job_events e ON e.job_id = j.id AND e.to_state = @ended_state
WHERE (CAST(@provider_id AS TEXT) = '' OR j.provider_id = @provider_id)
GROUP BY j.provider_id, j.state, started, funded, end_cause;

-- name: MarketReserved :many
-- The most per second of each resource that each provider's jobs in the
-- given (active) states may use.
SELECT j.provider_id, r.resource,
    CAST(SUM(r.max_per_second) AS BIGINT) AS reserved
FROM jobs j JOIN job_resources r ON r.job_id = j.id
WHERE j.state IN (@state1, @state2, @state3, @state4)
    AND (CAST(@provider_id AS TEXT) = '' OR j.provider_id = @provider_id)
GROUP BY j.provider_id, r.resource;

-- name: MarketMeteredSeconds :many
SELECT j.provider_id, COUNT(*) AS seconds
FROM usage_records u JOIN jobs j ON j.id = u.job_id
WHERE (CAST(@provider_id AS TEXT) = '' OR j.provider_id = @provider_id)
GROUP BY j.provider_id;

-- name: MarketPayoutFailures :many
SELECT provider_id, COUNT(*) AS failures
FROM payouts
WHERE state = @failed_state
    AND (CAST(@provider_id AS TEXT) = '' OR provider_id = @provider_id)
GROUP BY provider_id;
