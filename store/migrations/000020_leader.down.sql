DROP TABLE leader_lease;
