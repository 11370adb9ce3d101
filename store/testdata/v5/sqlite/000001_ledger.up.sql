-- The double-entry ledger: accounts with their current balance, balanced
-- transactions named by an idempotency key, and the postings that make them
-- up. Amounts are integer millisatoshi. Times are UTC, microsecond precision.

CREATE TABLE accounts (
    id INTEGER PRIMARY KEY,
    kind TEXT NOT NULL CHECK (kind <> ''),
    ref TEXT NOT NULL DEFAULT '',
    balance INTEGER NOT NULL DEFAULT 0,
    created_at TIMESTAMP NOT NULL,
    UNIQUE (kind, ref)
);

CREATE TABLE ledger_transactions (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    idempotency_key TEXT NOT NULL UNIQUE CHECK (idempotency_key <> ''),
    description TEXT NOT NULL DEFAULT '',
    created_at TIMESTAMP NOT NULL
);

CREATE TABLE ledger_postings (
    tx_id INTEGER NOT NULL REFERENCES ledger_transactions (id),
    seq INTEGER NOT NULL CHECK (seq >= 0),
    account_id INTEGER NOT NULL REFERENCES accounts (id),
    amount INTEGER NOT NULL,
    balance_after INTEGER NOT NULL,
    PRIMARY KEY (tx_id, seq)
);

-- An account's history is read by account, in transaction order.
CREATE INDEX ledger_postings_account_idx
    ON ledger_postings (account_id, tx_id, seq);
