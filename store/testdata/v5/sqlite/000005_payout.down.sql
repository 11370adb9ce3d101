DROP TABLE payout_status;
DROP TABLE payout_policies;
DROP INDEX payouts_one_pending_idx;
DROP INDEX payouts_provider_idx;
DROP TABLE payouts;
