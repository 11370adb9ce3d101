DROP TABLE yield_cursors;
DROP INDEX yield_actions_status_idx;
DROP TABLE yield_actions;
DROP TABLE yield_plans;
DROP TABLE yield_strategy_settings;
