-- name: GetVaultPolicy :one
SELECT floor_bps, shutdown, updated_at
FROM vault_policy
WHERE id = 1;

-- name: UpsertVaultPolicy :exec
INSERT INTO vault_policy (id, floor_bps, shutdown, updated_at)
VALUES (1, @floor_bps, @shutdown, @updated_at)
ON CONFLICT (id) DO UPDATE
SET floor_bps = excluded.floor_bps, shutdown = excluded.shutdown,
    updated_at = excluded.updated_at;

-- name: ListVaultCaps :many
SELECT strategy, cap_msat
FROM vault_caps
ORDER BY strategy;

-- name: DeleteVaultCaps :exec
DELETE FROM vault_caps;

-- name: InsertVaultCap :exec
INSERT INTO vault_caps (strategy, cap_msat)
VALUES (@strategy, @cap_msat);

-- name: GetAutoStake :one
SELECT percent
FROM auto_stake
WHERE provider_id = @provider_id;

-- name: UpsertAutoStake :exec
INSERT INTO auto_stake (provider_id, percent, updated_at)
VALUES (@provider_id, @percent, @updated_at)
ON CONFLICT (provider_id) DO UPDATE
SET percent = excluded.percent, updated_at = excluded.updated_at;

-- name: InsertRedemption :one
INSERT INTO redemptions (key, provider_id, shares, requested_msat, state,
    requested_at)
VALUES (@key, @provider_id, @shares, @requested_msat, @state, @requested_at)
RETURNING id;

-- name: GetRedemption :one
SELECT id, key, provider_id, shares, requested_msat, state, requested_at,
    finalized_at, assets_msat, paid_mark_msat, cancelled_at
FROM redemptions
WHERE id = @id;

-- name: GetRedemptionByKey :one
SELECT id, key, provider_id, shares, requested_msat, state, requested_at,
    finalized_at, assets_msat, paid_mark_msat, cancelled_at
FROM redemptions
WHERE key = @key;

-- name: ListRedemptions :many
-- An empty provider_id or state selects every one. The CASTs give sqlc
-- the parameters' type, as in ListChannelRows.
SELECT id, key, provider_id, shares, requested_msat, state, requested_at,
    finalized_at, assets_msat, paid_mark_msat, cancelled_at
FROM redemptions
WHERE (CAST(@provider_id AS TEXT) = '' OR provider_id = @provider_id)
    AND (CAST(@state AS TEXT) = '' OR state = @state)
ORDER BY id;

-- name: UpdateRedemption :execrows
UPDATE redemptions
SET state = @state, finalized_at = @finalized_at, assets_msat = @assets_msat,
    paid_mark_msat = @paid_mark_msat, cancelled_at = @cancelled_at
WHERE id = @id AND state = @from_state;
