-- sluice: additive
-- Metering: every accepted second of every job, with its price, and each
-- job's meter state (the last accepted seq and second, the sub-millisatoshi
-- pricing carry, and the running totals of price and fee). Quantities are
-- core-milliseconds and MiB-seconds; amounts are integer millisatoshi; the
-- carry is a decimal string in [0, 1) msat; batch hashes are lower-case hex
-- of the signed batch's digest. docs/protocol.md explains them.

CREATE TABLE usage_records (
    job_id TEXT NOT NULL REFERENCES jobs (id),
    seq BIGINT NOT NULL CHECK (seq > 0),
    unix_second BIGINT NOT NULL CHECK (unix_second >= 0),
    cpu_core_ms BIGINT NOT NULL CHECK (cpu_core_ms >= 0),
    mem_mib_s BIGINT NOT NULL CHECK (mem_mib_s >= 0),
    price_msat BIGINT NOT NULL CHECK (price_msat >= 0),
    fee_msat BIGINT NOT NULL CHECK (fee_msat >= 0 AND fee_msat <= price_msat),
    batch_hash TEXT NOT NULL CHECK (length(batch_hash) = 64),
    PRIMARY KEY (job_id, seq)
) /* sqlite: WITHOUT ROWID */;

CREATE TABLE usage_meters (
    job_id TEXT PRIMARY KEY REFERENCES jobs (id),
    last_seq BIGINT NOT NULL CHECK (last_seq >= 0),
    last_second BIGINT NOT NULL,
    carry TEXT NOT NULL CHECK (carry <> ''),
    charged_msat BIGINT NOT NULL CHECK (charged_msat >= 0),
    fees_msat BIGINT NOT NULL
        CHECK (fees_msat >= 0 AND fees_msat <= charged_msat),
    fee_bp INTEGER NOT NULL CHECK (fee_bp BETWEEN 0 AND 10000),
    updated_at TIMESTAMPTZ NOT NULL
);
