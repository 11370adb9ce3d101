-- name: GetHub :one
SELECT node_pubkey, network, recorded_at
FROM hub
WHERE id = 1;

-- name: SetHub :exec
INSERT INTO hub (id, node_pubkey, network, recorded_at)
VALUES (1, $1, $2, $3)
ON CONFLICT (id) DO UPDATE SET node_pubkey = excluded.node_pubkey,
    network = excluded.network, recorded_at = excluded.recorded_at;
