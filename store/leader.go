package store

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/sluice-ln/sluice/leader"
)

// ErrFenced is wrapped by the error of a read-write transaction on a
// fenced view (DB.Fenced) whose token is no longer the lease's, or which
// has no token because its instance does not lead. It is leader's
// ErrNotLeader, so that code above the store tests it without naming the
// store; the error is a *leader.Fenced naming the current holder.
var ErrFenced = leader.ErrNotLeader

// A compile-time check that the store holds the lease.
var _ leader.Store = (*DB)(nil)

// fence is what a fenced view checks at the start of each read-write
// transaction.
type fence struct {
	// token returns the instance's token; 0 when it does not lead.
	token func() int64

	// fenced, when set, is told of a write refused with a token that
	// was once current: the instance has been deposed.
	fenced func(*leader.Fenced)
}

// Fenced returns a view of the store sharing db's connections whose
// read-write transactions begin by locking the lease row (FOR SHARE) and
// fail with a *leader.Fenced error, wrapping ErrFenced, unless its token is
// token(): a leader's writes then commit only while it still holds the
// lease, since a takeover must update that row. Under SERIALIZABLE, a
// takeover committed after the transaction's snapshot is a serialization
// failure, which ExecTx retries, and the retry sees the new token. token()
// is read at each transaction, so one view serves an instance before and
// after its election (0, not leading, is always refused). Read-only
// transactions are not checked. deposed, when not nil, is called with the
// error of a refused write whose token was not 0.
//
// SQLite has one instance, which always leads: there the view is db. The
// view must not be closed; close db.
func (db *DB) Fenced(token func() int64, deposed func(*leader.Fenced)) *DB {
	if db.cfg.Backend != Postgres {
		return db
	}
	view := *db
	view.fence = &fence{token: token, fenced: deposed}

	return &view
}

// The lease's statements are written here rather than in queries/: they
// run on PostgreSQL only (FOR SHARE, interval arithmetic on the server's
// now()), which SQLite, where one instance leads without a lease, cannot
// run, while every query sqlc generates must run on both engines.

// leaseColumns are the lease's columns in leader.Lease's order.
const leaseColumns = `holder, address, token, expires_at`

// scanLease reads a row of leaseColumns.
func scanLease(row interface{ Scan(...any) error }) (leader.Lease, error) {
	var l leader.Lease
	err := row.Scan(&l.Holder, &l.Address, &l.Token, &l.Expires)
	if err != nil {
		return leader.Lease{}, mapError(err)
	}
	l.Expires = l.Expires.UTC()

	return l, nil
}

// checkFence runs a fenced view's check as the first statement of a
// read-write transaction.
func (db *DB) checkFence(ctx context.Context, tx *sql.Tx) error {
	token := db.fence.token()
	query := `SELECT ` + leaseColumns + ` FROM leader_lease WHERE id = 1`
	if token != 0 {
		query += ` FOR SHARE`
	}
	cur, err := scanLease(tx.QueryRowContext(ctx, query))
	if err != nil {
		return fmt.Errorf("check the leader lease: %w", err)
	}
	if token != 0 && cur.Token == token {
		return nil
	}

	fenced := &leader.Fenced{Token: token, Current: cur}
	if token != 0 && db.fence.fenced != nil {
		db.fence.fenced(fenced)
	}

	return fenced
}

// Campaign acquires or renews the leader lease for holder (leader.Store):
// one UPDATE that renews it when holder holds it with token, or takes it
// over, with the token raised by one, when it has expired; either way it
// then ends ttl after the database's now, so that no two hosts' clocks are
// compared. It returns the lease as it stands after the attempt. On SQLite
// there is one instance, which leads without a lease: Campaign fails.
func (db *DB) Campaign(ctx context.Context, holder, address string,
	token int64, ttl time.Duration) (leader.Lease, error) {

	if db.cfg.Backend != Postgres {
		return leader.Lease{}, fmt.Errorf("%w: the leader lease is "+
			"for PostgreSQL; on SQLite one instance leads", ErrInvalidConfig)
	}
	if holder == "" || ttl <= 0 {
		return leader.Lease{}, fmt.Errorf("%w: campaign needs a holder "+
			"and a positive ttl", ErrInvalidConfig)
	}

	var l leader.Lease
	err := db.ExecTx(ctx, TxOptions{}, func(tx *Tx) error {
		var err error
		l, err = scanLease(tx.queryRow(ctx, `
			UPDATE leader_lease SET
				token = CASE WHEN holder = $1 AND token = $2
					THEN token ELSE token + 1 END,
				holder = $1,
				address = $3,
				expires_at = now() + $4 * interval '1 microsecond'
			WHERE id = 1 AND ((holder = $1 AND token = $2)
				OR expires_at < now())
			RETURNING `+leaseColumns,
			holder, token, address, ttl.Microseconds()))
		if !errors.Is(err, sql.ErrNoRows) {
			return err
		}

		// Held by another: report it as it stands.
		l, err = scanLease(tx.queryRow(ctx, `SELECT `+leaseColumns+
			` FROM leader_lease WHERE id = 1`))
		return err
	})
	if err != nil {
		return leader.Lease{}, fmt.Errorf("campaign for the leader "+
			"lease: %w", err)
	}

	return l, nil
}

// LeaderLease returns the leader lease as it stands.
func (db *DB) LeaderLease(ctx context.Context) (leader.Lease, error) {
	var l leader.Lease
	err := db.ExecTx(ctx, TxOptions{ReadOnly: true}, func(tx *Tx) error {
		var err error
		l, err = scanLease(tx.queryRow(ctx, `SELECT `+leaseColumns+
			` FROM leader_lease WHERE id = 1`))
		return err
	})
	if err != nil {
		return leader.Lease{}, fmt.Errorf("read the leader lease: %w",
			err)
	}

	return l, nil
}

// creditedChannel is the PostgreSQL notification channel on which an
// instance that committed usage names the providers it credited, so that
// the leader's payout scheduler, in another process, hears of them.
const creditedChannel = "sluice_credited"

// maxNotifyPayload keeps a notification under PostgreSQL's 8,000-byte
// payload limit; more providers go in several.
const maxNotifyPayload = 7000

// NotifyCredited tells the instance listening on the credited channel
// (ListenCredited: the leader) that providers were credited. The
// notification is delivered only if it commits and only to sessions
// listening then; the leader's scheduler polls anyway, so one lost in a
// crash only delays a payout. SQLite has one instance: it does nothing.
func (db *DB) NotifyCredited(ctx context.Context, providers []string) error {
	if db.cfg.Backend != Postgres || len(providers) == 0 {
		return nil
	}
	for len(providers) > 0 {
		n, size := 0, 2
		for n < len(providers) && size+len(providers[n])+3 <
			maxNotifyPayload {

			size += len(providers[n]) + 3
			n++
		}
		n = max(n, 1)
		payload, err := json.Marshal(providers[:n])
		if err != nil {
			return err
		}
		_, err = db.writer.ExecContext(ctx,
			"SELECT pg_notify($1, $2)", creditedChannel,
			string(payload))
		if err != nil {
			return fmt.Errorf("notify credited providers: %w",
				mapError(err))
		}
		providers = providers[n:]
	}

	return nil
}

// ListenCredited listens on the credited channel on a connection of its
// own and calls fn with the providers of each notification, until ctx is
// done (it then returns ctx's error) or the connection fails. ready, when
// not nil, is closed once the LISTEN is in place.
func (db *DB) ListenCredited(ctx context.Context, ready chan<- struct{},
	fn func(providers []string)) error {

	if db.cfg.Backend != Postgres {
		return fmt.Errorf("%w: notifications are PostgreSQL's",
			ErrInvalidConfig)
	}
	conn, err := pgx.Connect(ctx, db.cfg.PostgresDSN)
	if err != nil {
		return fmt.Errorf("listen for credits: connect: %w", err)
	}
	defer func() {
		_ = conn.Close(context.Background())
	}()
	if _, err := conn.Exec(ctx, "LISTEN "+creditedChannel); err != nil {
		return fmt.Errorf("listen for credits: %w", mapError(err))
	}
	if ready != nil {
		close(ready)
	}
	for {
		n, err := conn.WaitForNotification(ctx)
		if err != nil {
			if ctx.Err() != nil {
				return ctx.Err()
			}
			return fmt.Errorf("listen for credits: %w", err)
		}
		var providers []string
		if err := json.Unmarshal([]byte(n.Payload), &providers); err != nil {
			log.Warnf("Credited notification %q: %v", n.Payload,
				err)
			continue
		}
		fn(providers)
	}
}

// Resign ends holder's lease with token now, so that another instance may
// take it over at once; a lease another holds is left alone. The caller
// must have stopped its leader-only work first.
func (db *DB) Resign(ctx context.Context, holder string, token int64) error {
	if db.cfg.Backend != Postgres {
		return nil
	}
	err := db.ExecTx(ctx, TxOptions{}, func(tx *Tx) error {
		_, err := tx.exec(ctx, `UPDATE leader_lease SET expires_at = now()
			WHERE id = 1 AND holder = $1 AND token = $2`,
			holder, token)
		return err
	})
	if err != nil {
		return fmt.Errorf("resign the leader lease: %w", err)
	}

	return nil
}
