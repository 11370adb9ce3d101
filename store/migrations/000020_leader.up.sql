-- sluice: additive
-- The leader election (package leader; store/leader.go; docs/operations.md,
-- "Several instances"): one row, the lease. holder is the id of the
-- sluiced holding it (unique per process start), address the API address
-- it advertises, token the fencing token (raised by one at each change of
-- holder; every leader-only transaction checks it), expires_at when the
-- lease ends unless renewed, in the database's time. A holder of '' is no
-- one: before the first election. Additive: an older binary ignores it.

CREATE TABLE leader_lease (
    id BIGINT PRIMARY KEY CHECK (id = 1),
    holder TEXT NOT NULL,
    address TEXT NOT NULL,
    token BIGINT NOT NULL CHECK (token >= 0),
    expires_at TIMESTAMPTZ NOT NULL
);

INSERT INTO leader_lease (id, holder, address, token, expires_at)
VALUES (1, '', '', 0, '1970-01-01 00:00:00');
