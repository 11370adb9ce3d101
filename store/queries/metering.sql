-- name: ListUsageRecords :many
SELECT job_id, seq, unix_second, cpu_core_ms, mem_mib_s, price_msat,
    fee_msat, batch_hash
FROM usage_records
WHERE job_id = $1 AND seq BETWEEN @from_seq AND @to_seq
ORDER BY seq;

-- name: GetUsageMeter :one
SELECT job_id, last_seq, last_second, carry, charged_msat, fees_msat,
    fee_bp, updated_at
FROM usage_meters
WHERE job_id = $1;

-- name: UpsertUsageMeter :exec
INSERT INTO usage_meters (job_id, last_seq, last_second, carry,
    charged_msat, fees_msat, fee_bp, updated_at)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8)
ON CONFLICT (job_id) DO UPDATE SET
    last_seq = excluded.last_seq,
    last_second = excluded.last_second,
    carry = excluded.carry,
    charged_msat = excluded.charged_msat,
    fees_msat = excluded.fees_msat,
    fee_bp = excluded.fee_bp,
    updated_at = excluded.updated_at;

-- name: GetMeteringJob :many
-- Everything metering's group commit reads of a job, in one statement
-- where five would each take one (GetJob, ListJobResources,
-- ListJobEvents for the first funding, GetProvider for the agent key,
-- GetUsageMeter): one row per resource, ordered by resource (one row
-- with a NULL resource for a job without any). The provider, the first
-- funding and the meter are NULL when there are none.
SELECT j.id, j.buyer_id, j.provider_id, j.state, j.budget_msat,
    j.buffer_seconds, j.price_per_second, j.refund_pubkey, j.created_at,
    j.updated_at, j.started_at, j.ended_at,
    r.resource, r.max_per_second, r.rate,
    p.agent_pubkey,
    f.created_at AS funded_at,
    m.last_seq, m.last_second, m.carry, m.charged_msat, m.fees_msat,
    m.fee_bp, m.updated_at AS meter_updated_at
FROM jobs j
LEFT JOIN job_resources r ON r.job_id = j.id
LEFT JOIN providers p ON p.id = j.provider_id
LEFT JOIN job_events f ON f.id = (
    SELECT MIN(e.id) FROM job_events e
    WHERE e.job_id = j.id AND e.to_state = 'funded')
LEFT JOIN usage_meters m ON m.job_id = j.id
WHERE j.id = $1
ORDER BY r.resource;
