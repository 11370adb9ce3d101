-- sluice: additive
-- Jobs and the money that funds them: buyers (named by the operator, each
-- bound into a buyer macaroon), jobs with the provider's rate card copied
-- in, every state transition of a job with its time and cause, the hub
-- invoices that fund jobs, the cursor of lnd's invoice settle index, and
-- refunds as durable payment intents. Amounts are integer millisatoshi;
-- rates and prices are decimal strings in msat per unit-second; hashes,
-- preimages and public keys are lower-case hex. Times are UTC, microsecond
-- precision. docs/jobs.md explains the states.

CREATE TABLE buyers (
    id TEXT PRIMARY KEY CHECK (id <> ''),
    name TEXT NOT NULL UNIQUE CHECK (name <> ''),
    created_at TIMESTAMPTZ NOT NULL
);

CREATE TABLE jobs (
    id TEXT PRIMARY KEY CHECK (id <> ''),
    buyer_id TEXT NOT NULL REFERENCES buyers (id),
    -- The provider is checked against channels' records when the job is
    -- created; the job keeps its id even if the provider re-links.
    provider_id TEXT NOT NULL CHECK (provider_id <> ''),
    state TEXT NOT NULL CHECK (state <> ''),
    budget_msat BIGINT NOT NULL CHECK (budget_msat > 0),
    buffer_seconds BIGINT NOT NULL CHECK (buffer_seconds >= 0),
    -- Σ rate × max per second over job_resources, cached.
    price_per_second TEXT NOT NULL CHECK (price_per_second <> ''),
    -- The buyer's node for keysend refunds: 66 hex characters, or empty.
    refund_pubkey TEXT NOT NULL DEFAULT '',
    created_at TIMESTAMPTZ NOT NULL,
    updated_at TIMESTAMPTZ NOT NULL,
    started_at TIMESTAMPTZ,
    ended_at TIMESTAMPTZ
);

CREATE INDEX jobs_buyer_idx ON jobs (buyer_id, created_at);
CREATE INDEX jobs_provider_idx ON jobs (provider_id, created_at);
CREATE INDEX jobs_state_idx ON jobs (state);

-- A job's spec and the rate card as it stood when the job was created.
CREATE TABLE job_resources (
    job_id TEXT NOT NULL REFERENCES jobs (id),
    resource TEXT NOT NULL CHECK (resource <> ''),
    max_per_second BIGINT NOT NULL CHECK (max_per_second >= 0),
    rate TEXT NOT NULL CHECK (rate <> ''),
    PRIMARY KEY (job_id, resource)
);

-- Every state a job entered: from_state is '' for its creation.
CREATE TABLE job_events (
    id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    job_id TEXT NOT NULL REFERENCES jobs (id),
    from_state TEXT NOT NULL,
    to_state TEXT NOT NULL CHECK (to_state <> ''),
    cause TEXT NOT NULL CHECK (cause <> ''),
    detail TEXT NOT NULL DEFAULT '',
    created_at TIMESTAMPTZ NOT NULL
);

CREATE INDEX job_events_job_idx ON job_events (job_id, id);

-- Hub invoices that fund jobs: the first one, and top-ups.
CREATE TABLE job_invoices (
    payment_hash TEXT PRIMARY KEY CHECK (length(payment_hash) = 64),
    job_id TEXT NOT NULL REFERENCES jobs (id),
    purpose TEXT NOT NULL CHECK (purpose IN ('funding', 'top_up')),
    amount_msat BIGINT NOT NULL CHECK (amount_msat > 0),
    payment_request TEXT NOT NULL CHECK (payment_request <> ''),
    state TEXT NOT NULL
        CHECK (state IN ('open', 'settled', 'expired', 'canceled')),
    amount_paid_msat BIGINT NOT NULL DEFAULT 0,
    settle_index BIGINT NOT NULL DEFAULT 0,
    created_at TIMESTAMPTZ NOT NULL,
    expires_at TIMESTAMPTZ NOT NULL,
    settled_at TIMESTAMPTZ
);

CREATE INDEX job_invoices_job_idx ON job_invoices (job_id, created_at);
CREATE INDEX job_invoices_open_idx ON job_invoices (state, expires_at);

-- Named positions in lnd's streams; 'invoice_settle_index' is the last
-- settle index whose invoice was processed, written in the same
-- transaction that credits the escrow.
CREATE TABLE settlement_cursors (
    name TEXT PRIMARY KEY CHECK (name <> ''),
    value BIGINT NOT NULL CHECK (value >= 0)
);

-- Refunds: each row is written, with its payment hash, before the payment
-- is handed to lnd, and resolved when lnd reports the outcome.
CREATE TABLE refunds (
    payment_hash TEXT PRIMARY KEY CHECK (length(payment_hash) = 64),
    job_id TEXT NOT NULL REFERENCES jobs (id),
    method TEXT NOT NULL CHECK (method IN ('invoice', 'keysend')),
    payment_request TEXT NOT NULL DEFAULT '',
    dest_pubkey TEXT NOT NULL CHECK (length(dest_pubkey) = 66),
    -- The keysend preimage, made and stored before sending; empty for an
    -- invoice.
    preimage TEXT NOT NULL DEFAULT '',
    amount_msat BIGINT NOT NULL CHECK (amount_msat > 0),
    fee_limit_msat BIGINT NOT NULL CHECK (fee_limit_msat >= 0),
    state TEXT NOT NULL
        CHECK (state IN ('pending', 'succeeded', 'failed')),
    fee_msat BIGINT NOT NULL DEFAULT 0 CHECK (fee_msat >= 0),
    failure TEXT NOT NULL DEFAULT '',
    created_at TIMESTAMPTZ NOT NULL,
    resolved_at TIMESTAMPTZ
);

CREATE INDEX refunds_job_idx ON refunds (job_id, created_at);

-- At most one refund of a job is in flight at a time.
CREATE UNIQUE INDEX refunds_one_pending_idx ON refunds (job_id)
    WHERE state = 'pending';
