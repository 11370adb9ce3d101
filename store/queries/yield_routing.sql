-- The routing strategy's channels (migration 000015).

-- name: InsertYieldChannel :exec
-- An open about to be asked of lnd; nothing when its action has a row.
INSERT INTO yield_channels (action_id, chan_point, peer, capacity_msat,
    memo, status, short_chan_id, open_height, opened_at, open_txid,
    open_cost_posted, close_txid, close_cost_posted, returned, updated_at)
VALUES (@action_id, sqlc.narg(chan_point), @peer, @capacity_msat, @memo,
    @status, @short_chan_id, @open_height, @opened_at, @open_txid,
    @open_cost_posted, @close_txid, @close_cost_posted, @returned,
    @updated_at)
ON CONFLICT (action_id) DO NOTHING;

-- name: GetYieldChannel :one
SELECT id, action_id, chan_point, peer, capacity_msat, memo, status,
    short_chan_id, open_height, opened_at, open_txid, open_cost_posted,
    close_txid, close_cost_posted, returned, updated_at
FROM yield_channels
WHERE action_id = $1;

-- name: ListYieldChannels :many
SELECT id, action_id, chan_point, peer, capacity_msat, memo, status,
    short_chan_id, open_height, opened_at, open_txid, open_cost_posted,
    close_txid, close_cost_posted, returned, updated_at
FROM yield_channels
ORDER BY id;

-- name: UpdateYieldChannel :execrows
-- What changes over a channel's life. The channel point and the txids
-- are set once; the flags only go from false to true.
UPDATE yield_channels
SET chan_point = COALESCE(chan_point, sqlc.narg(chan_point)),
    open_txid = CASE WHEN open_txid = '' THEN @open_txid
        ELSE open_txid END,
    close_txid = CASE WHEN close_txid = '' THEN @close_txid
        ELSE close_txid END,
    status = @status,
    short_chan_id = @short_chan_id,
    open_height = @open_height,
    open_cost_posted = (open_cost_posted OR @open_cost_posted),
    close_cost_posted = (close_cost_posted OR @close_cost_posted),
    returned = (returned OR @returned),
    updated_at = @updated_at
WHERE action_id = @action_id;
