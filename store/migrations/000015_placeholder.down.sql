-- A placeholder for version 15, which branch wt-routing's migration
-- (the routing strategy's yield_channels) takes: migrations run from 1
-- without gaps, and the lease strategy's is 16. Drop this file and its
-- down file when wt-routing is merged.
SELECT 1;
