DROP INDEX yield_leases_state_idx;
DROP TABLE yield_leases;
