-- name: InsertYieldLease :execrows
-- Nothing is inserted when a lease with the key exists.
INSERT INTO yield_leases (id, idem_key, node, capacity_sat, blocks,
    rate_ppb, premium_msat, preimage, payment_hash, payment_request,
    invoice_expires_at, state, reason, action_id, chan_point, htlc_expiry,
    start_height, expiry_height, settled, invoice_done, recognised_msat,
    recognised_height, open_cost_posted, close_txid, close_cost_posted,
    returned, created_at, updated_at)
VALUES (@id, @idem_key, @node, @capacity_sat, @blocks, @rate_ppb,
    @premium_msat, @preimage, @payment_hash, @payment_request,
    @invoice_expires_at, @state, @reason, @action_id, @chan_point,
    @htlc_expiry, @start_height, @expiry_height, @settled, @invoice_done,
    @recognised_msat, @recognised_height, @open_cost_posted, @close_txid,
    @close_cost_posted, @returned, @created_at, @updated_at)
ON CONFLICT (idem_key) DO NOTHING;

-- name: GetYieldLease :one
SELECT * FROM yield_leases WHERE id = @id;

-- name: GetYieldLeaseByKey :one
SELECT * FROM yield_leases WHERE idem_key = @idem_key;

-- name: ListYieldLeases :many
-- An empty node selects every node's.
SELECT * FROM yield_leases
WHERE (CAST(@node AS TEXT) = '' OR node = @node)
ORDER BY created_at, id;

-- name: UpdateYieldLease :execrows
UPDATE yield_leases
SET state = @state, reason = @reason, payment_request = @payment_request,
    action_id = @action_id, chan_point = @chan_point,
    htlc_expiry = @htlc_expiry, start_height = @start_height,
    expiry_height = @expiry_height, settled = @settled,
    invoice_done = @invoice_done, recognised_msat = @recognised_msat,
    recognised_height = @recognised_height,
    open_cost_posted = @open_cost_posted, close_txid = @close_txid,
    close_cost_posted = @close_cost_posted, returned = @returned,
    updated_at = @updated_at
WHERE id = @id AND state = @from_state;
