ALTER TABLE usage_meters DROP COLUMN last_sent_at_ms;
