-- name: InsertShareMint :exec
INSERT INTO share_mints (name, kind, amount, meta, state, created_at)
VALUES (@name, @kind, @amount, @meta, 'pending', @created_at);

-- name: GetShareMint :one
SELECT name, kind, amount, meta, state, failure, group_key, asset_id,
    anchor_outpoint, created_at, resolved_at
FROM share_mints
WHERE name = $1;

-- name: GetShareGenesis :one
-- The genesis pending or succeeded; the unique index keeps it one.
SELECT name, kind, amount, meta, state, failure, group_key, asset_id,
    anchor_outpoint, created_at, resolved_at
FROM share_mints
WHERE kind = 'genesis' AND state <> 'failed';

-- name: ResolveShareMint :execrows
-- Records a pending mint's outcome; no row when it is not pending.
UPDATE share_mints
SET state = @state, failure = @failure, group_key = @group_key,
    asset_id = @asset_id, anchor_outpoint = @anchor_outpoint,
    resolved_at = @resolved_at
WHERE name = @name AND state = 'pending';
