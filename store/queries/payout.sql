-- name: InsertPayout :exec
INSERT INTO payouts (id, provider_id, dest_pubkey, amount_msat,
    fee_budget_msat, fee_payer, payment_hash, preimage, state, fee_msat,
    failure, created_at, resolved_at)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13);

-- name: GetPayout :one
SELECT id, provider_id, dest_pubkey, amount_msat, fee_budget_msat,
    fee_payer, payment_hash, preimage, state, fee_msat, failure, created_at,
    resolved_at
FROM payouts
WHERE id = $1;

-- name: ListPendingPayouts :many
SELECT id, provider_id, dest_pubkey, amount_msat, fee_budget_msat,
    fee_payer, payment_hash, preimage, state, fee_msat, failure, created_at,
    resolved_at
FROM payouts
WHERE state = 'pending'
ORDER BY created_at, id;

-- name: ListProviderPayouts :many
SELECT id, provider_id, dest_pubkey, amount_msat, fee_budget_msat,
    fee_payer, payment_hash, preimage, state, fee_msat, failure, created_at,
    resolved_at
FROM payouts
WHERE provider_id = $1
ORDER BY created_at DESC, id DESC;

-- name: ListProviderPayoutsLimit :many
-- ListProviderPayouts with a limit: LIMIT takes no "all" value that both
-- engines accept (PostgreSQL refuses a negative one, SQLite a NULL).
SELECT id, provider_id, dest_pubkey, amount_msat, fee_budget_msat,
    fee_payer, payment_hash, preimage, state, fee_msat, failure, created_at,
    resolved_at
FROM payouts
WHERE provider_id = @provider_id
ORDER BY created_at DESC, id DESC
LIMIT @max_rows;

-- name: ListPayouts :many
SELECT id, provider_id, dest_pubkey, amount_msat, fee_budget_msat,
    fee_payer, payment_hash, preimage, state, fee_msat, failure, created_at,
    resolved_at
FROM payouts
ORDER BY created_at, id;

-- name: ListPayoutsByState :many
SELECT id, provider_id, dest_pubkey, amount_msat, fee_budget_msat,
    fee_payer, payment_hash, preimage, state, fee_msat, failure, created_at,
    resolved_at
FROM payouts
WHERE state = $1
ORDER BY created_at, id;

-- name: ResolvePayout :execrows
UPDATE payouts
SET state = @state, fee_msat = @fee_msat, failure = @failure,
    resolved_at = @resolved_at
WHERE id = @id AND state = 'pending';

-- name: ListPayoutCandidates :many
-- Providers whose payable account (kind @payable_kind, ref the provider
-- id) holds a positive balance.
SELECT p.id, p.node_pubkey, a.balance
FROM accounts a
JOIN providers p ON p.id = a.ref
WHERE a.kind = @payable_kind AND a.balance > 0
ORDER BY p.id;

-- name: UpsertPayoutPolicy :exec
INSERT INTO payout_policies (provider_id, interval_ms, minimum_msat,
    fee_floor_msat, fee_ppm, fee_payer, updated_at)
VALUES ($1, $2, $3, $4, $5, $6, $7)
ON CONFLICT (provider_id) DO UPDATE SET
    interval_ms = excluded.interval_ms,
    minimum_msat = excluded.minimum_msat,
    fee_floor_msat = excluded.fee_floor_msat,
    fee_ppm = excluded.fee_ppm,
    fee_payer = excluded.fee_payer,
    updated_at = excluded.updated_at;

-- name: GetPayoutPolicy :one
SELECT provider_id, interval_ms, minimum_msat, fee_floor_msat, fee_ppm,
    fee_payer, updated_at
FROM payout_policies
WHERE provider_id = $1;

-- name: ListPayoutPolicies :many
SELECT provider_id, interval_ms, minimum_msat, fee_floor_msat, fee_ppm,
    fee_payer, updated_at
FROM payout_policies;

-- name: DeletePayoutPolicy :exec
DELETE FROM payout_policies WHERE provider_id = $1;

-- name: UpsertPayoutStatus :exec
INSERT INTO payout_status (provider_id, state, reason, since, retry_at,
    failures, updated_at)
VALUES ($1, $2, $3, $4, $5, $6, $7)
ON CONFLICT (provider_id) DO UPDATE SET
    state = excluded.state,
    reason = excluded.reason,
    since = excluded.since,
    retry_at = excluded.retry_at,
    failures = excluded.failures,
    updated_at = excluded.updated_at;

-- name: GetPayoutStatus :one
SELECT provider_id, state, reason, since, retry_at, failures, updated_at
FROM payout_status
WHERE provider_id = $1;

-- name: ListPayoutStatuses :many
SELECT provider_id, state, reason, since, retry_at, failures, updated_at
FROM payout_status;

-- name: CountProviderPayouts :one
SELECT CAST(COUNT(*) AS BIGINT) AS total,
    CAST(COALESCE(SUM(CASE WHEN state = 'succeeded' THEN 1 ELSE 0 END), 0)
        AS BIGINT) AS succeeded
FROM payouts
WHERE provider_id = $1;

-- name: GetLastSucceededPayout :one
SELECT id, provider_id, dest_pubkey, amount_msat, fee_budget_msat,
    fee_payer, payment_hash, preimage, state, fee_msat, failure, created_at,
    resolved_at
FROM payouts
WHERE provider_id = $1 AND state = 'succeeded'
ORDER BY resolved_at DESC, id DESC
LIMIT 1;

-- name: GetPayoutCandidateState :one
-- One provider as ListPayoutCandidates gives it, when its payable account
-- (kind @payable_kind, ref the provider id) holds a positive balance, with
-- its override (policy_provider_id NULL for none) and its status's retry
-- time; no row otherwise. Every lookup is by unique key.
SELECT p.id, p.node_pubkey, a.balance,
    pol.provider_id AS policy_provider_id, pol.interval_ms,
    pol.minimum_msat, pol.fee_floor_msat, pol.fee_ppm, pol.fee_payer,
    pol.updated_at AS policy_updated_at, st.retry_at
FROM providers p
JOIN accounts a ON a.kind = @payable_kind AND a.ref = p.id
LEFT JOIN payout_policies pol ON pol.provider_id = p.id
LEFT JOIN payout_status st ON st.provider_id = p.id
WHERE p.id = @provider_id AND a.balance > 0;

-- name: GetProviderPendingPayout :one
-- A provider's pending payout: there is at most one
-- (payouts_one_pending_idx).
SELECT id, provider_id, dest_pubkey, amount_msat, fee_budget_msat,
    fee_payer, payment_hash, preimage, state, fee_msat, failure, created_at,
    resolved_at
FROM payouts
WHERE provider_id = $1 AND state = 'pending';
