DROP INDEX payouts_provider_state_idx;
DROP TABLE market_offers;
