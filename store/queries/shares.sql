-- name: InsertShareMint :exec
INSERT INTO share_mints (name, kind, amount, meta, state, burned_total,
    created_at)
VALUES (@name, @kind, @amount, @meta, 'pending', @burned_total, @created_at);

-- name: GetShareMint :one
SELECT name, kind, amount, meta, state, failure, group_key, asset_id,
    anchor_outpoint, created_at, resolved_at, burned_total
FROM share_mints
WHERE name = $1;

-- name: GetShareGenesis :one
-- The genesis pending or succeeded; the unique index keeps it one.
SELECT name, kind, amount, meta, state, failure, group_key, asset_id,
    anchor_outpoint, created_at, resolved_at, burned_total
FROM share_mints
WHERE kind = 'genesis' AND state <> 'failed';

-- name: ResolveShareMint :execrows
-- Records a pending mint's outcome; no row when it is not pending.
UPDATE share_mints
SET state = @state, failure = @failure, group_key = @group_key,
    asset_id = @asset_id, anchor_outpoint = @anchor_outpoint,
    resolved_at = @resolved_at
WHERE name = @name AND state = 'pending';

-- name: GetShareTotals :one
-- The ledger's share supply and the share units redemptions burned, in one
-- statement so that both are of one moment: the units issued so far are
-- their sum.
SELECT
    CAST(COALESCE((SELECT -a.balance FROM accounts a
        WHERE a.kind = 'share_supply' AND a.ref = ''), 0) AS BIGINT)
        AS supply,
    CAST((SELECT COALESCE(SUM(r.shares), 0) FROM redemptions r
        WHERE r.state = 'finalized') AS BIGINT) AS burned;

-- name: InsertShareEpochOp :exec
INSERT INTO share_epoch_ops (name, epoch, kind, amount, meta, supply_after,
    burned_total, state, created_at)
VALUES (@name, @epoch, @kind, @amount, @meta, @supply_after, @burned_total,
    'pending', @created_at);

-- name: GetShareEpochOp :one
SELECT id, name, epoch, kind, amount, meta, supply_after, burned_total,
    state, failure, asset_id, anchor, created_at, resolved_at
FROM share_epoch_ops
WHERE name = $1;

-- name: GetPendingShareEpochOp :one
-- The unique index keeps it one.
SELECT id, name, epoch, kind, amount, meta, supply_after, burned_total,
    state, failure, asset_id, anchor, created_at, resolved_at
FROM share_epoch_ops
WHERE state = 'pending';

-- name: GetLastShareEpochOp :one
-- The last operation that succeeded: operations run one at a time, so the
-- highest id is where tapd's supply stands.
SELECT id, name, epoch, kind, amount, meta, supply_after, burned_total,
    state, failure, asset_id, anchor, created_at, resolved_at
FROM share_epoch_ops
WHERE state = 'succeeded'
ORDER BY id DESC
LIMIT 1;

-- name: CountShareEpochOpAttempts :one
SELECT COUNT(*) FROM share_epoch_ops WHERE epoch = @epoch AND kind = @kind;

-- name: ListShareEpochOps :many
SELECT id, name, epoch, kind, amount, meta, supply_after, burned_total,
    state, failure, asset_id, anchor, created_at, resolved_at
FROM share_epoch_ops
WHERE epoch > @after
ORDER BY id;

-- name: ResolveShareEpochOp :execrows
-- Records a pending operation's outcome; no row when it is not pending.
UPDATE share_epoch_ops
SET state = @state, failure = @failure, asset_id = @asset_id,
    anchor = @anchor, resolved_at = @resolved_at
WHERE name = @name AND state = 'pending';

-- name: ListClosedEpochsForShares :many
-- Closed epochs from @from on whose close recorded the ledger's share
-- totals, with their leaf counts.
SELECT e.number, e.start_at, e.end_at, e.issued_shares, e.nav_assets_msat,
    e.nav_supply_shares, e.root,
    CAST(e.supply_shares AS BIGINT) AS supply_shares,
    CAST(e.burned_shares AS BIGINT) AS burned_shares,
    CAST((SELECT COUNT(*) FROM epoch_contributions c
        WHERE c.epoch = e.number) AS BIGINT) AS leaves
FROM epochs e
WHERE e.state = 'closed' AND e.number >= @from_epoch
    AND e.supply_shares IS NOT NULL AND e.burned_shares IS NOT NULL
ORDER BY e.number
LIMIT @max_rows;
