DROP INDEX share_epoch_ops_one_pending_idx;
DROP INDEX share_epoch_ops_once_idx;
DROP TABLE share_epoch_ops;
ALTER TABLE share_mints DROP COLUMN burned_total;
ALTER TABLE epochs DROP COLUMN burned_shares;
ALTER TABLE epochs DROP COLUMN supply_shares;
