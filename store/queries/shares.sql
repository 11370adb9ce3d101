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
-- name: UpsertShareWithdrawAddress :exec
INSERT INTO share_withdraw_addresses (provider_id, addr, group_key,
    proof_courier, set_at)
VALUES (@provider_id, @addr, @group_key, @proof_courier, @set_at)
ON CONFLICT (provider_id) DO UPDATE
SET addr = excluded.addr, group_key = excluded.group_key,
    proof_courier = excluded.proof_courier, set_at = excluded.set_at;

-- name: GetShareWithdrawAddress :one
SELECT provider_id, addr, group_key, proof_courier, set_at
FROM share_withdraw_addresses
WHERE provider_id = $1;

-- name: InsertShareWithdrawal :one
INSERT INTO share_withdrawals (provider_id, key, amount, addr, state,
    created_at)
VALUES (@provider_id, @key, @amount, @addr, 'queued', @created_at)
RETURNING id;

-- name: GetShareWithdrawalByKey :one
SELECT id, provider_id, key, amount, addr, state, round_id, failure,
    created_at, resolved_at
FROM share_withdrawals
WHERE provider_id = @provider_id AND key = @key;

-- name: ListShareWithdrawals :many
-- Every withdrawal, or one provider's when provider_id is not empty.
SELECT id, provider_id, key, amount, addr, state, round_id, failure,
    created_at, resolved_at
FROM share_withdrawals
WHERE CAST(@provider_id AS TEXT) = '' OR provider_id = @provider_id
ORDER BY id;

-- name: ListQueuedShareWithdrawals :many
SELECT id, provider_id, key, amount, addr, state, round_id, failure,
    created_at, resolved_at
FROM share_withdrawals
WHERE state = 'queued'
ORDER BY id;

-- name: ListRoundShareWithdrawals :many
SELECT id, provider_id, key, amount, addr, state, round_id, failure,
    created_at, resolved_at
FROM share_withdrawals
WHERE round_id = $1
ORDER BY id;

-- name: AddShareWithdrawalToRound :execrows
-- Moves a queued withdrawal into a round; no row when it is not queued.
UPDATE share_withdrawals
SET state = 'sending', round_id = @round_id
WHERE id = @id AND state = 'queued';

-- name: ResolveShareWithdrawal :execrows
-- Records a sending withdrawal's end; no row when it is not sending.
UPDATE share_withdrawals
SET state = @state, failure = @failure, resolved_at = @resolved_at
WHERE id = @id AND state = 'sending';

-- name: GetShareWithdrawalState :one
SELECT state FROM share_withdrawals WHERE id = $1;

-- name: InsertShareWithdrawRound :one
INSERT INTO share_withdraw_rounds (nonce, state, created_at)
VALUES (@nonce, 'pending', @created_at)
RETURNING id;

-- name: ListPendingShareWithdrawRounds :many
SELECT id, nonce, state, failure, anchor_txid, block_height, created_at,
    resolved_at
FROM share_withdraw_rounds
WHERE state = 'pending'
ORDER BY id;

-- name: ResolveShareWithdrawRound :execrows
-- Records a pending round's outcome; no row when it is not pending.
UPDATE share_withdraw_rounds
SET state = @state, failure = @failure, anchor_txid = @anchor_txid,
    block_height = @block_height, resolved_at = @resolved_at
WHERE id = @id AND state = 'pending';

-- name: GetShareWithdrawRoundState :one
SELECT state FROM share_withdraw_rounds WHERE id = $1;

-- name: InsertShareDepositAddress :exec
-- A provider's deposit address; the first one made stays.
INSERT INTO share_deposit_addresses (provider_id, addr, created_at)
VALUES (@provider_id, @addr, @created_at)
ON CONFLICT (provider_id) DO NOTHING;

-- name: GetShareDepositAddress :one
SELECT provider_id, addr, created_at
FROM share_deposit_addresses
WHERE provider_id = $1;

-- name: ListShareDepositAddresses :many
SELECT provider_id, addr, created_at
FROM share_deposit_addresses
ORDER BY provider_id;

-- name: InsertShareDeposit :one
-- A received output credited; nothing when it was credited before.
INSERT INTO share_deposits (outpoint, provider_id, addr, amount,
    block_height, credited_at)
VALUES (@outpoint, @provider_id, @addr, @amount, @block_height,
    @credited_at)
ON CONFLICT (outpoint) DO NOTHING
RETURNING id;

-- name: ListShareDepositOutpoints :many
SELECT outpoint FROM share_deposits;

-- name: ListShareDeposits :many
-- Every deposit, or one provider's when provider_id is not empty.
SELECT id, outpoint, provider_id, addr, amount, block_height, credited_at
FROM share_deposits
WHERE CAST(@provider_id AS TEXT) = '' OR provider_id = @provider_id
ORDER BY id;
