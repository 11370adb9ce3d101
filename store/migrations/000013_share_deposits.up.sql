-- sluice: additive
-- Shares brought back into the hub's custody (package shares,
-- docs/shares.md "Deposit back"). Each provider gets one deposit address:
-- a V2 group key address of the share asset with no amount, made on the
-- hub's tapd, used again for every deposit. Each asset output tapd
-- received at one of them is credited to its provider once: the outpoint
-- is the key, and the ledger's move (shares_deposited → provider_shares,
-- key "share-deposit:<outpoint>") is written in the same transaction.
-- Amounts are share units; times UTC.

CREATE TABLE share_deposit_addresses (
    provider_id TEXT PRIMARY KEY REFERENCES providers (id),
    addr TEXT NOT NULL UNIQUE CHECK (addr <> ''),
    created_at TIMESTAMPTZ NOT NULL
);

CREATE TABLE share_deposits (
    id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    -- The received output, "txid:index".
    outpoint TEXT NOT NULL UNIQUE CHECK (outpoint <> ''),
    provider_id TEXT NOT NULL REFERENCES providers (id),
    addr TEXT NOT NULL CHECK (addr <> ''),
    amount BIGINT NOT NULL CHECK (amount > 0),
    -- The block the output confirmed in.
    block_height BIGINT NOT NULL CHECK (block_height >= 0),
    credited_at TIMESTAMPTZ NOT NULL
);

CREATE INDEX share_deposits_provider_idx ON share_deposits (provider_id, id);
