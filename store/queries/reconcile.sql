-- name: SumKindBalances :many
-- One row per unit the kind's accounts are recorded in: one row, in the
-- kind's unit, unless an account was recorded in the wrong one.
SELECT unit, CAST(COALESCE(SUM(balance), 0) AS BIGINT) AS total
FROM accounts
WHERE kind = $1
GROUP BY unit
ORDER BY unit;
