DROP INDEX redemptions_provider_idx;
DROP INDEX redemptions_state_idx;
DROP TABLE redemptions;
DROP TABLE auto_stake;
DROP TABLE vault_caps;
DROP TABLE vault_policy;
