-- name: SumKindBalances :many
-- One row per unit the kind's accounts are recorded in: one row, in the
-- kind's unit, unless an account was recorded in the wrong one.
SELECT unit, CAST(COALESCE(SUM(balance), 0) AS BIGINT) AS total
FROM accounts
WHERE kind = $1
GROUP BY unit
ORDER BY unit;

-- name: ListKindBalances :many
-- Every account of a kind, by ref, in the unit it is recorded in.
SELECT ref, unit, balance
FROM accounts
WHERE kind = $1
ORDER BY ref;

-- name: SumPendingRedemptionShares :many
-- The shares of each provider's pending redemptions, which its
-- shares_locked account must hold.
SELECT provider_id, CAST(SUM(shares) AS BIGINT) AS shares
FROM redemptions
WHERE state = 'pending'
GROUP BY provider_id
ORDER BY provider_id;

-- name: PendingWithdrawalSharesByProvider :many
-- The shares of each provider's withdrawals that are not complete
-- (queued or sending): what its shares_withdrawing account must hold.
SELECT provider_id, CAST(SUM(amount) AS BIGINT) AS shares
FROM share_withdrawals
WHERE state IN ('queued', 'sending')
GROUP BY provider_id
ORDER BY provider_id;
