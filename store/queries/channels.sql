-- name: InsertLinkChallenge :exec
INSERT INTO link_challenges (id, node_pubkey, agent_pubkey, alias, message,
    created_at, expires_at)
VALUES ($1, $2, $3, $4, $5, $6, $7);

-- name: GetLinkChallenge :one
SELECT id, node_pubkey, agent_pubkey, alias, message, created_at,
    expires_at, used_at, provider_id
FROM link_challenges
WHERE id = $1;

-- name: UseLinkChallenge :execrows
UPDATE link_challenges
SET used_at = @used_at, provider_id = @provider_id
WHERE id = @id AND used_at IS NULL;

-- name: CountUnusedChallenges :one
SELECT CAST(COUNT(*) AS BIGINT) AS stored,
    CAST(COALESCE(SUM(CASE
        WHEN node_pubkey = @node_pubkey AND expires_at >= @now THEN 1
        ELSE 0 END), 0) AS BIGINT) AS open_for_node
FROM link_challenges
WHERE used_at IS NULL;

-- name: DeleteExpiredChallenges :execrows
DELETE FROM link_challenges
WHERE used_at IS NULL AND expires_at < @before;

-- name: InsertProvider :exec
INSERT INTO providers (id, node_pubkey, agent_pubkey, alias, status,
    linked_at, created_at, reach, reach_reason, reach_checked_at)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10);

-- name: RelinkProvider :execrows
UPDATE providers
SET agent_pubkey = @agent_pubkey, alias = @alias, status = @status,
    linked_at = @linked_at, reach = 'unknown', reach_reason = '',
    reach_checked_at = NULL
WHERE id = @id;

-- name: SetProviderReach :execrows
UPDATE providers
SET reach = @reach, reach_reason = @reach_reason,
    reach_checked_at = @reach_checked_at
WHERE id = @id;

-- name: GetProvider :one
SELECT id, node_pubkey, agent_pubkey, alias, status, linked_at, created_at,
    reach, reach_reason, reach_checked_at
FROM providers
WHERE id = $1;

-- name: GetProviderByNode :one
SELECT id, node_pubkey, agent_pubkey, alias, status, linked_at, created_at,
    reach, reach_reason, reach_checked_at
FROM providers
WHERE node_pubkey = $1;

-- name: ListProviders :many
SELECT id, node_pubkey, agent_pubkey, alias, status, linked_at, created_at,
    reach, reach_reason, reach_checked_at
FROM providers
ORDER BY created_at, id;

-- name: InsertAgentKey :exec
INSERT INTO provider_agent_keys (provider_id, agent_pubkey, added_at)
VALUES ($1, $2, $3);

-- name: RevokeAgentKeys :execrows
UPDATE provider_agent_keys
SET revoked_at = @revoked_at
WHERE provider_id = @provider_id AND revoked_at IS NULL;

-- name: ListAgentKeys :many
-- An empty provider_id or agent_pubkey matches every row. The CASTs give
-- sqlc the parameters' type; both engines accept them.
SELECT provider_id, agent_pubkey, added_at, revoked_at
FROM provider_agent_keys
WHERE (CAST(@provider_id AS TEXT) = '' OR provider_id = @provider_id)
    AND (CAST(@agent_pubkey AS TEXT) = '' OR agent_pubkey = @agent_pubkey)
ORDER BY added_at, agent_pubkey;

-- name: DeleteProviderRates :exec
DELETE FROM provider_rates WHERE provider_id = $1;

-- name: InsertProviderRate :exec
INSERT INTO provider_rates (provider_id, resource, rate, updated_at)
VALUES ($1, $2, $3, $4);

-- name: ListProviderRates :many
SELECT resource, rate FROM provider_rates WHERE provider_id = $1;
