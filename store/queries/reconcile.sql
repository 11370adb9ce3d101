-- name: SumKindBalances :one
SELECT CAST(COALESCE(SUM(balance), 0) AS BIGINT) AS total
FROM accounts
WHERE kind = $1;
