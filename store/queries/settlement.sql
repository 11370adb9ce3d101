-- name: InsertBuyer :exec
INSERT INTO buyers (id, name, created_at) VALUES ($1, $2, $3);

-- name: GetBuyer :one
SELECT id, name, created_at FROM buyers WHERE id = $1;

-- name: ListBuyers :many
SELECT id, name, created_at FROM buyers ORDER BY created_at, id;

-- name: InsertJob :exec
INSERT INTO jobs (id, buyer_id, provider_id, state, budget_msat,
    buffer_seconds, price_per_second, refund_pubkey, created_at, updated_at,
    started_at, ended_at)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12);

-- name: InsertJobResource :exec
INSERT INTO job_resources (job_id, resource, max_per_second, rate)
VALUES ($1, $2, $3, $4);

-- name: GetJob :one
SELECT id, buyer_id, provider_id, state, budget_msat, buffer_seconds,
    price_per_second, refund_pubkey, created_at, updated_at, started_at,
    ended_at
FROM jobs
WHERE id = $1;

-- name: ListJobResources :many
SELECT resource, max_per_second, rate
FROM job_resources
WHERE job_id = $1
ORDER BY resource;

-- name: UpdateJobState :execrows
-- A NULL started_at or ended_at leaves the column as it is.
UPDATE jobs
SET state = @to_state, updated_at = @updated_at,
    started_at = COALESCE(sqlc.narg(started_at), started_at),
    ended_at = COALESCE(sqlc.narg(ended_at), ended_at)
WHERE id = @id AND state = @from_state;

-- name: GetJobState :one
SELECT state FROM jobs WHERE id = $1;

-- name: SetJobRefundPubkey :execrows
UPDATE jobs SET refund_pubkey = @refund_pubkey, updated_at = @updated_at
WHERE id = @id;

-- name: InsertJobEvent :one
INSERT INTO job_events (job_id, from_state, to_state, cause, detail,
    created_at)
VALUES ($1, $2, $3, $4, $5, $6)
RETURNING id;

-- name: ListJobEvents :many
SELECT id, job_id, from_state, to_state, cause, detail, created_at
FROM job_events
WHERE job_id = $1
ORDER BY id;

-- name: InsertJobInvoice :exec
INSERT INTO job_invoices (payment_hash, job_id, purpose, amount_msat,
    payment_request, state, amount_paid_msat, settle_index, created_at,
    expires_at, settled_at)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11);

-- name: GetJobInvoice :one
SELECT payment_hash, job_id, purpose, amount_msat, payment_request, state,
    amount_paid_msat, settle_index, created_at, expires_at, settled_at
FROM job_invoices
WHERE payment_hash = $1;

-- name: ListJobInvoices :many
SELECT payment_hash, job_id, purpose, amount_msat, payment_request, state,
    amount_paid_msat, settle_index, created_at, expires_at, settled_at
FROM job_invoices
WHERE job_id = $1
ORDER BY created_at, payment_hash;

-- name: ListOpenJobInvoices :many
SELECT payment_hash, job_id, purpose, amount_msat, payment_request, state,
    amount_paid_msat, settle_index, created_at, expires_at, settled_at
FROM job_invoices
WHERE state = 'open'
ORDER BY expires_at, payment_hash;

-- name: UpdateJobInvoice :execrows
-- A settled invoice is final.
UPDATE job_invoices
SET state = @state, amount_paid_msat = @amount_paid_msat,
    settle_index = @settle_index, settled_at = @settled_at
WHERE payment_hash = @payment_hash AND state <> 'settled';

-- name: GetCursor :one
SELECT value FROM settlement_cursors WHERE name = $1;

-- name: UpsertCursor :exec
INSERT INTO settlement_cursors (name, value) VALUES ($1, $2)
ON CONFLICT (name) DO UPDATE SET value = excluded.value;

-- name: InsertRefund :exec
INSERT INTO refunds (payment_hash, job_id, method, payment_request,
    dest_pubkey, preimage, amount_msat, fee_limit_msat, state, fee_msat,
    failure, created_at, resolved_at)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13);

-- name: GetRefund :one
SELECT payment_hash, job_id, method, payment_request, dest_pubkey, preimage,
    amount_msat, fee_limit_msat, state, fee_msat, failure, created_at,
    resolved_at
FROM refunds
WHERE payment_hash = $1;

-- name: ListJobRefunds :many
SELECT payment_hash, job_id, method, payment_request, dest_pubkey, preimage,
    amount_msat, fee_limit_msat, state, fee_msat, failure, created_at,
    resolved_at
FROM refunds
WHERE job_id = $1
ORDER BY created_at, payment_hash;

-- name: ListPendingRefunds :many
SELECT payment_hash, job_id, method, payment_request, dest_pubkey, preimage,
    amount_msat, fee_limit_msat, state, fee_msat, failure, created_at,
    resolved_at
FROM refunds
WHERE state = 'pending'
ORDER BY created_at, payment_hash;

-- name: ListOwedEndedJobs :many
-- Ended jobs with a refund node whose escrow (accounts of kind
-- @escrow_kind, ref the job id) holds a positive balance.
SELECT j.id, EXISTS (
        SELECT 1 FROM refunds r
        WHERE r.job_id = j.id AND r.state = 'pending'
    ) AS refund_pending
FROM jobs j
JOIN accounts a ON a.kind = @escrow_kind AND a.ref = j.id
WHERE j.state = 'ended' AND j.refund_pubkey <> '' AND a.balance > 0
ORDER BY j.id;

-- name: ResolveRefund :execrows
UPDATE refunds
SET state = @state, fee_msat = @fee_msat, failure = @failure,
    resolved_at = @resolved_at
WHERE payment_hash = @payment_hash AND state = 'pending';
