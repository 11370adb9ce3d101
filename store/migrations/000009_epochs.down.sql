DROP TABLE epoch_contributions;
DROP INDEX epochs_one_open_idx;
DROP TABLE epochs;
