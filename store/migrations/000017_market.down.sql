-- Placeholder for the market's migration 17 (branch wt-market); its
-- version replaces this one whole when the branches merge.
SELECT 1;
