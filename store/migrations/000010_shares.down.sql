DROP INDEX share_mints_one_genesis_idx;
DROP TABLE share_mints;
