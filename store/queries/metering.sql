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
