-- sluice: additive
-- The double-entry ledger: accounts with their current balance, balanced
-- transactions named by an idempotency key, and the postings that make them
-- up. Amounts are integer millisatoshi. Times are UTC, microsecond precision.

CREATE TABLE accounts (
    id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY /* sqlite: rowid */,
    kind TEXT NOT NULL CHECK (kind <> ''),
    ref TEXT NOT NULL DEFAULT '',
    balance BIGINT NOT NULL DEFAULT 0,
    created_at TIMESTAMPTZ NOT NULL,
    UNIQUE (kind, ref)
);

CREATE TABLE ledger_transactions (
    id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    idempotency_key TEXT NOT NULL UNIQUE CHECK (idempotency_key <> ''),
    description TEXT NOT NULL DEFAULT '',
    created_at TIMESTAMPTZ NOT NULL
);

CREATE TABLE ledger_postings (
    tx_id BIGINT NOT NULL REFERENCES ledger_transactions (id),
    seq INTEGER NOT NULL CHECK (seq >= 0),
    account_id BIGINT NOT NULL REFERENCES accounts (id),
    amount BIGINT NOT NULL,
    balance_after BIGINT NOT NULL,
    PRIMARY KEY (tx_id, seq)
);

-- An account's history is read by account, in transaction order.
CREATE INDEX ledger_postings_account_idx
    ON ledger_postings (account_id, tx_id, seq);
