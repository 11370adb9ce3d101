-- sluice: additive
-- The upgradetest build's own migration (store/upgradetest.go): where
-- usage batch version 2 puts the time the agent signed the job's latest
-- batch, Unix milliseconds. NULL until a version 2 batch arrives, and for
-- every job an older binary meters: older binaries never name it, so they
-- keep working on this schema.
ALTER TABLE usage_meters ADD COLUMN last_sent_at_ms BIGINT
    CHECK (last_sent_at_ms IS NULL OR last_sent_at_ms >= 0);
