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
