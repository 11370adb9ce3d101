-- sluice: additive
-- Placement (package market; settlement/placement.go; docs/market.md):
-- every provider a job created without one was placed on, in order. The
-- row without lapsed_at is where the job is now; a row with lapsed_at was
-- left because its provider did not start the job in time, and counts
-- against that provider's record. max_rates is the buyer's maximum rate
-- per resource as "cpu=0.01,mem=2" (decimal msat per unit, resources in
-- order; empty for none), copied into every row so that the current one
-- is whole. A job named its provider has no row here. Times UTC.

CREATE TABLE job_placements (
    job_id TEXT NOT NULL REFERENCES jobs (id),
    seq BIGINT NOT NULL CHECK (seq > 0),
    provider_id TEXT NOT NULL CHECK (provider_id <> ''),
    max_rates TEXT NOT NULL,
    placed_at TIMESTAMPTZ NOT NULL,
    lapsed_at TIMESTAMPTZ,
    PRIMARY KEY (job_id, seq)
);

-- The record counts each provider's lapsed placements.
CREATE INDEX job_placements_provider_idx ON job_placements (provider_id);
