DROP INDEX link_challenges_expires_idx;
DROP TABLE link_challenges;
DROP TABLE provider_rates;
DROP INDEX provider_agent_keys_key_idx;
DROP INDEX provider_agent_keys_current_idx;
DROP TABLE provider_agent_keys;
DROP TABLE providers;
