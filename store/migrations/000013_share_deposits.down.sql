DROP INDEX share_deposits_provider_idx;
DROP TABLE share_deposits;
DROP TABLE share_deposit_addresses;
