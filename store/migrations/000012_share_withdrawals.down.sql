DROP INDEX share_withdrawals_provider_idx;
DROP INDEX share_withdrawals_round_idx;
DROP INDEX share_withdrawals_state_idx;
DROP TABLE share_withdrawals;
DROP INDEX share_withdraw_rounds_state_idx;
DROP TABLE share_withdraw_rounds;
DROP TABLE share_withdraw_addresses;
