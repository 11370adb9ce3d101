-- sluice: additive
-- Accounts carry their unit: 'msat' for money, 'share' for the yield
-- vault's shares. A transaction balances per unit and no posting mixes
-- units (package ledger checks both), so a balance and a posting amount stay
-- one BIGINT column, in the unit of the posting's account. The store
-- records the unit when it creates an account and never changes it; the
-- ledger refuses an account whose unit is not its kind's. Every account
-- before this migration counts msat.

ALTER TABLE accounts ADD COLUMN unit TEXT NOT NULL DEFAULT 'msat'
    CHECK (unit IN ('msat', 'share'));
