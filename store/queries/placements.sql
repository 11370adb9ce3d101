-- name: InsertJobPlacement :exec
INSERT INTO job_placements (job_id, seq, provider_id, max_rates, placed_at)
VALUES (@job_id, @seq, @provider_id, @max_rates, @placed_at);

-- name: ListJobPlacements :many
SELECT job_id, seq, provider_id, max_rates, placed_at, lapsed_at
FROM job_placements
WHERE job_id = @job_id
ORDER BY seq;

-- name: LapseJobPlacement :execrows
UPDATE job_placements
SET lapsed_at = @lapsed_at
WHERE job_id = @job_id AND seq = @seq AND lapsed_at IS NULL;

-- name: ListUnstartedPlacements :many
-- The current placement of every job in @state1 or @state2 (settlement's
-- startable states: funded, low_balance) that its agent has not started,
-- with when its funding invoice settled.
SELECT p.job_id, p.seq, p.provider_id, p.max_rates, p.placed_at,
    i.settled_at AS funded_at
FROM job_placements p
JOIN jobs j ON j.id = p.job_id
JOIN job_invoices i ON i.job_id = j.id AND i.purpose = 'funding'
    AND i.state = 'settled'
WHERE p.lapsed_at IS NULL AND j.state IN (@state1, @state2)
    AND j.started_at IS NULL
ORDER BY p.placed_at, p.job_id;

-- name: MoveJob :execrows
-- Moves a job that is still in @state1 or @state2 (settlement's startable
-- states), unstarted and on @from_provider to @to_provider at a new price.
UPDATE jobs
SET provider_id = @to_provider, price_per_second = @price_per_second,
    updated_at = @updated_at
WHERE id = @id AND provider_id = @from_provider
    AND state IN (@state1, @state2) AND started_at IS NULL;

-- name: SetJobResourceRate :execrows
UPDATE job_resources
SET rate = @rate
WHERE job_id = @job_id AND resource = @resource;

-- name: ListServedJobs :many
-- Jobs with a workload that their agent started, that have no result and
-- are in one of the given (active) states: what a serving agent is running.
SELECT j.id, j.provider_id
FROM jobs j
JOIN job_workloads w ON w.job_id = j.id
LEFT JOIN job_results r ON r.job_id = j.id
WHERE r.job_id IS NULL AND j.started_at IS NOT NULL
    AND j.state IN (@state1, @state2, @state3, @state4)
ORDER BY j.id;

-- name: MarketLapsedPlacements :many
SELECT provider_id, COUNT(*) AS lapsed
FROM job_placements
WHERE lapsed_at IS NOT NULL
    AND (CAST(@provider_id AS TEXT) = '' OR provider_id = @provider_id)
GROUP BY provider_id;
