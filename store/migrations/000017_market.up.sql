-- Placeholder for the market's migration 17 (branch wt-market), so that
-- this branch's migrations run from 1 without a gap: merging wt-market
-- conflicts on this file, and its version replaces this one whole.
SELECT 1;
