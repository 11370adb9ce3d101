-- name: GetOpenEpoch :one
SELECT number, state, start_at, end_at, seconds, earned_msat, fees_msat,
    reward_msat, issued_shares, nav_assets_msat, nav_supply_shares, root,
    supply_shares, burned_shares
FROM epochs
WHERE state = 'open';

-- name: InsertEpoch :exec
INSERT INTO epochs (number, state, start_at)
VALUES (@number, 'open', @start_at);

-- name: CloseEpoch :execrows
-- Sets an open epoch's final fields; no row when it is closed already.
UPDATE epochs
SET state = 'closed', end_at = @end_at, seconds = @seconds,
    earned_msat = @earned_msat, fees_msat = @fees_msat,
    reward_msat = @reward_msat, issued_shares = @issued_shares,
    nav_assets_msat = @nav_assets_msat,
    nav_supply_shares = @nav_supply_shares, root = @root,
    supply_shares = @supply_shares, burned_shares = @burned_shares
WHERE number = @number AND state = 'open';

-- name: GetEpoch :one
SELECT number, state, start_at, end_at, seconds, earned_msat, fees_msat,
    reward_msat, issued_shares, nav_assets_msat, nav_supply_shares, root,
    supply_shares, burned_shares
FROM epochs
WHERE number = $1;

-- name: ListEpochs :many
SELECT number, state, start_at, end_at, seconds, earned_msat, fees_msat,
    reward_msat, issued_shares, nav_assets_msat, nav_supply_shares, root,
    supply_shares, burned_shares
FROM epochs
WHERE number > @after
ORDER BY number;

-- name: ListEpochsLimit :many
-- ListEpochs with a limit: LIMIT takes no "all" value that both engines
-- accept (PostgreSQL refuses a negative one, SQLite a NULL).
SELECT number, state, start_at, end_at, seconds, earned_msat, fees_msat,
    reward_msat, issued_shares, nav_assets_msat, nav_supply_shares, root,
    supply_shares, burned_shares
FROM epochs
WHERE number > @after
ORDER BY number
LIMIT @max_rows;

-- name: AddContribution :exec
INSERT INTO epoch_contributions (epoch, provider_id, seconds, earned_msat,
    fees_msat)
VALUES (@epoch, @provider_id, @seconds, @earned_msat, @fees_msat)
ON CONFLICT (epoch, provider_id) DO UPDATE SET
    seconds = epoch_contributions.seconds + excluded.seconds,
    earned_msat = epoch_contributions.earned_msat + excluded.earned_msat,
    fees_msat = epoch_contributions.fees_msat + excluded.fees_msat;

-- name: ListContributions :many
-- Sorted by the store's collation; the caller sorts by bytes.
SELECT epoch, provider_id, seconds, earned_msat, fees_msat, shares
FROM epoch_contributions
WHERE epoch = $1
ORDER BY provider_id;

-- name: SetContributionShares :execrows
UPDATE epoch_contributions
SET shares = @shares
WHERE epoch = @epoch AND provider_id = @provider_id;

-- name: AddOpenContribution :one
-- AddContribution to the open epoch, whose number comes back; no row when
-- no epoch is open. One statement where reading the open epoch first
-- would take two, for every metered charge. (The SELECT's WHERE is what
-- lets SQLite read ON CONFLICT as the upsert's.)
INSERT INTO epoch_contributions (epoch, provider_id, seconds, earned_msat,
    fees_msat)
SELECT number, CAST(@provider_id AS TEXT), CAST(@seconds AS BIGINT),
    CAST(@earned_msat AS BIGINT), CAST(@fees_msat AS BIGINT)
FROM epochs
WHERE state = 'open'
ON CONFLICT (epoch, provider_id) DO UPDATE SET
    seconds = epoch_contributions.seconds + excluded.seconds,
    earned_msat = epoch_contributions.earned_msat + excluded.earned_msat,
    fees_msat = epoch_contributions.fees_msat + excluded.fees_msat
RETURNING epoch;
