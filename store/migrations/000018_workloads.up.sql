-- sluice: additive
-- Workloads and their results (package settlement, workload.go;
-- docs/jobs.md): what a buyer's job asks the provider's serving agent to
-- run, stored with the job when it is created, and how the run ended, as
-- the job's provider submitted it, once. A job without a workload has no
-- row here. Bytes are kept raw; hashes lower-case hex; times
-- UTC. The caps (64 KiB of workload, 1 MiB of output) are settlement's,
-- checked before writing; the CHECKs below keep each row whole.

CREATE TABLE job_workloads (
    job_id TEXT PRIMARY KEY REFERENCES jobs (id),
    -- The command and its arguments: a JSON array of at least one
    -- non-empty string.
    argv TEXT NOT NULL CHECK (argv LIKE '["%"]')
);

-- The workload's inputs: files the agent writes into the run's directory.
CREATE TABLE job_workload_inputs (
    job_id TEXT NOT NULL REFERENCES job_workloads (job_id),
    -- One path element: no slash, not "." or "..".
    name TEXT NOT NULL CHECK (name <> '' AND name <> '.' AND name <> '..'
        AND name NOT LIKE '%/%'),
    content BYTEA NOT NULL,
    -- length(content), kept so that a job's view lists the sizes
    -- without reading the bytes.
    size_bytes BIGINT NOT NULL CHECK (size_bytes = length(content)),
    PRIMARY KEY (job_id, name)
);

-- The result of a job's workload: one per job, never updated.
CREATE TABLE job_results (
    job_id TEXT PRIMARY KEY REFERENCES job_workloads (job_id),
    -- 0 to 255, or -1 when a signal ended the process.
    exit_code BIGINT NOT NULL CHECK (exit_code >= -1 AND exit_code <= 255),
    -- The signal's name, empty when the process exited.
    exit_signal TEXT NOT NULL,
    -- Why the agent stopped the run, empty when it ended by itself.
    reason TEXT NOT NULL,
    -- The SHA-256 of the whole output as the agent saw it; of output
    -- itself unless truncated.
    output_sha256 TEXT NOT NULL CHECK (length(output_sha256) = 64),
    output BYTEA NOT NULL,
    output_size BIGINT NOT NULL
        CHECK (output_size = length(output) AND output_size <= 1048576),
    truncated BOOLEAN NOT NULL,
    submitted_at TIMESTAMPTZ NOT NULL
);
