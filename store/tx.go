package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/cenkalti/backoff/v4"
	"github.com/sluice-ln/sluice/store/sqlc"
)

// TxOptions says how ExecTx runs a transaction.
type TxOptions struct {
	// ReadOnly runs the transaction without writes: on SQLite on a
	// reader connection, beside the writer; on Postgres as a READ ONLY
	// transaction. A write in it fails with ErrReadOnly.
	ReadOnly bool
}

// Tx is one open store transaction. Every domain's queries are methods on
// it (the ledger's in ledger.go, later settlement's and metering's in their
// own files), so one transaction can span them all; *Tx satisfies
// ledger.TxStore. A Tx is valid only inside the ExecTx callback that
// received it and is not safe for concurrent use.
type Tx struct {
	tx      *sql.Tx
	backend Backend

	// q runs the sqlc-generated queries in tx.
	q *sqlc.Queries

	// memo, when set, answers rows read again (memo.go).
	memo *txMemo
}

// exec runs a statement, classifying driver errors.
func (t *Tx) exec(ctx context.Context, query string, args ...any) (
	sql.Result, error) {

	res, err := t.tx.ExecContext(ctx, query, args...)
	return res, mapError(err)
}

// query runs a query, classifying driver errors.
func (t *Tx) query(ctx context.Context, query string, args ...any) (
	*sql.Rows, error) {

	rows, err := t.tx.QueryContext(ctx, query, args...)
	return rows, mapError(err)
}

// queryRow runs a query that returns at most one row. Scan errors of the
// row are not classified; callers check sql.ErrNoRows and pass the rest to
// mapError.
func (t *Tx) queryRow(ctx context.Context, query string,
	args ...any) *sql.Row {

	return t.tx.QueryRowContext(ctx, query, args...)
}

// param returns the placeholder of a statement's n-th parameter (from 1)
// in a statement built at run time with its parameters in order: $n on
// Postgres, an anonymous ? on SQLite. SQLite takes $n too, but as a named
// parameter, which it looks up by name in a list each time it meets or
// binds one: a statement of thousands of them (a multi-row INSERT) then
// spends its time in the lookups instead of inserting.
func (t *Tx) param(n int) string {
	if t.backend == SQLite {
		return "?"
	}

	return "$" + strconv.Itoa(n)
}

// Backend returns the engine the transaction runs on, for the rare query
// that must differ by dialect.
func (t *Tx) Backend() Backend {
	return t.backend
}

// ExecTx runs fn in one transaction and commits it if fn returns nil; if fn
// returns an error, the transaction is rolled back and the error returned.
//
// On Postgres read-write transactions run at SERIALIZABLE: the ledger reads
// balances and writes new ones, and SERIALIZABLE makes the database abort
// one of two transactions that would interleave badly, with no explicit
// row locks for a caller to forget. On SQLite there is only ever one
// writer, which is serializable by construction.
//
// When the database reports a serialization failure or a busy lock,
// anywhere from BEGIN to COMMIT, ExecTx rolls back, waits a jittered,
// exponentially growing delay and runs fn again, up to MaxTxAttempts times
// in all; then it fails with ErrRetriesExceeded. fn must therefore have no
// effects outside the transaction. Driver errors come back classified as
// the package's sentinels (ErrUniqueViolation, ...), with the driver error
// still in the chain.
func (db *DB) ExecTx(ctx context.Context, opts TxOptions,
	fn func(*Tx) error) error {

	var (
		lastErr error
		waits   *backoff.ExponentialBackOff
	)
	for attempt := 0; attempt < db.cfg.MaxTxAttempts; attempt++ {
		if attempt > 0 {
			if waits == nil {
				waits = db.retryBackoff()
			}
			delay := waits.NextBackOff()
			log.Debugf("Retrying transaction (attempt %d of %d) "+
				"in %v: %v", attempt+1, db.cfg.MaxTxAttempts,
				delay, lastErr)

			if err := sleep(ctx, delay); err != nil {
				return fmt.Errorf("%w (after: %w)", err, lastErr)
			}
		}

		err := db.attemptTx(ctx, opts, fn)
		if err == nil || !IsRetryable(err) {
			return err
		}
		lastErr = err
	}

	log.Warnf("Transaction failed after %d attempts: %v",
		db.cfg.MaxTxAttempts, lastErr)

	return fmt.Errorf("%w (%d attempts): %w", ErrRetriesExceeded,
		db.cfg.MaxTxAttempts, lastErr)
}

// attemptTx runs fn once in a fresh transaction.
func (db *DB) attemptTx(ctx context.Context, opts TxOptions,
	fn func(*Tx) error) error {

	pool := db.writer
	sqlOpts := &sql.TxOptions{ReadOnly: opts.ReadOnly}
	switch db.cfg.Backend {
	case SQLite:
		// The reader connections are query_only, which is what makes
		// a read-only transaction read-only on SQLite; they begin
		// DEFERRED and read a WAL snapshot.
		if opts.ReadOnly {
			pool = db.reader
		}
	case Postgres:
		sqlOpts.Isolation = sql.LevelSerializable
	}

	sqlTx, err := pool.BeginTx(ctx, sqlOpts)
	if err != nil {
		return fmt.Errorf("begin transaction: %w", mapError(err))
	}

	if db.fence != nil && !opts.ReadOnly {
		if err := db.checkFence(ctx, sqlTx); err != nil {
			_ = sqlTx.Rollback()
			return err
		}
	}

	tx := &Tx{tx: sqlTx, backend: db.cfg.Backend, q: sqlc.New(sqlTx)}
	if err := fn(tx); err != nil {
		if rbErr := sqlTx.Rollback(); rbErr != nil &&
			!errors.Is(rbErr, sql.ErrTxDone) {

			log.Debugf("Rollback after error: %v", rbErr)
		}

		return mapError(err)
	}

	if err := sqlTx.Commit(); err != nil {
		return fmt.Errorf("commit transaction: %w", mapError(err))
	}

	return nil
}

// retryBackoff returns the waits between the attempts of one
// transaction: RetryDelay doubled per earlier retry, capped at
// MaxRetryDelay, each scaled by a random factor in [0.5, 1] so that
// transactions that collided once do not collide again in lockstep.
// backoff jitters symmetrically (interval × [1-f, 1+f]), so the interval
// it doubles is ¾ of the full delay and f is ⅓: ¾d × [⅔, 4/3] = d × [½, 1].
// It never stops on its own; MaxTxAttempts bounds the attempts.
func (db *DB) retryBackoff() *backoff.ExponentialBackOff {
	b := &backoff.ExponentialBackOff{
		InitialInterval:     db.cfg.RetryDelay * 3 / 4,
		RandomizationFactor: 1.0 / 3,
		Multiplier:          2,
		MaxInterval:         db.cfg.MaxRetryDelay * 3 / 4,
		Stop:                backoff.Stop,
		Clock:               backoff.SystemClock,
	}
	b.Reset()
	return b
}

// sleep waits for d or until ctx is done.
func sleep(ctx context.Context, d time.Duration) error {
	timer := time.NewTimer(d)
	defer timer.Stop()

	select {
	case <-timer.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}
