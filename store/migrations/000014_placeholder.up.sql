-- A stand-in for migration 000014, which the lead writes on main (the
-- yield actions); it lets branch wt-routing's migration 000015 run. Drop
-- this file and its down file when merging.
SELECT 1;
