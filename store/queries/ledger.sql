-- name: GetTransactionByKey :one
SELECT id, description, created_at
FROM ledger_transactions
WHERE idempotency_key = $1;

-- name: ListTransactionPostings :many
SELECT a.kind, a.ref, a.unit, p.amount
FROM ledger_postings p
JOIN accounts a ON a.id = p.account_id
WHERE p.tx_id = $1
ORDER BY p.seq;

-- name: InsertLedgerTransaction :one
-- A key recorded already inserts nothing and returns no row, without the
-- error that would abort the whole transaction on Postgres: the ledger
-- then looks the key up (a replay) instead of looking it up before every
-- insert.
INSERT INTO ledger_transactions (idempotency_key, description, created_at)
VALUES ($1, $2, $3)
ON CONFLICT (idempotency_key) DO NOTHING
RETURNING id;

-- name: GetAccountState :one
SELECT unit, balance FROM accounts WHERE kind = $1 AND ref = $2;

-- name: ListAccountHistory :many
SELECT t.id, t.idempotency_key, t.description, t.created_at,
    a.unit, p.amount, p.balance_after
FROM accounts a
JOIN ledger_postings p ON p.account_id = a.id
JOIN ledger_transactions t ON t.id = p.tx_id
WHERE a.kind = @kind AND a.ref = @ref AND p.tx_id > @after_tx
ORDER BY p.tx_id, p.seq;

-- name: ListAccountHistoryLimit :many
-- ListAccountHistory with a limit: LIMIT takes no "all" value that both
-- engines accept (PostgreSQL refuses a negative one, SQLite a NULL).
SELECT t.id, t.idempotency_key, t.description, t.created_at,
    a.unit, p.amount, p.balance_after
FROM accounts a
JOIN ledger_postings p ON p.account_id = a.id
JOIN ledger_transactions t ON t.id = p.tx_id
WHERE a.kind = @kind AND a.ref = @ref AND p.tx_id > @after_tx
ORDER BY p.tx_id, p.seq
LIMIT @max_rows;


-- name: SumAccountPostingsByKeyPrefix :one
-- What the transactions whose idempotency key starts with @key_prefix
-- posted to one account (a job's auto-stakes to the vault). It reads the
-- account's postings through their index and compares the prefix byte for
-- byte: LIKE would ignore case on SQLite and take '_' as a wildcard, and a
-- key range on the unique index is not a prefix under every PostgreSQL
-- collation.
SELECT CAST(COALESCE(SUM(p.amount), 0) AS BIGINT) AS total
FROM accounts a
JOIN ledger_postings p ON p.account_id = a.id
JOIN ledger_transactions t ON t.id = p.tx_id
WHERE a.kind = @kind AND a.ref = @ref
    AND substr(t.idempotency_key, 1, length(CAST(@key_prefix AS TEXT)))
        = CAST(@key_prefix AS TEXT);
