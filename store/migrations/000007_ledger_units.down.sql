-- Refused while any share account exists: without its unit a share
-- account would look like an msat one, and a binary migrating up again
-- would take its share count for money. The check on this table fails the
-- migration, which then changes nothing.
CREATE TABLE ledger_units_down_guard (
    share_accounts BIGINT NOT NULL CHECK (share_accounts = 0)
);
INSERT INTO ledger_units_down_guard (share_accounts)
    SELECT COUNT(*) FROM accounts WHERE unit = 'share';
DROP TABLE ledger_units_down_guard;

ALTER TABLE accounts DROP COLUMN unit;
