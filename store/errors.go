package store

import (
	"errors"
	"fmt"

	"github.com/jackc/pgx/v5/pgconn"
	"modernc.org/sqlite"
	sqlite3 "modernc.org/sqlite/lib"
)

var (
	// ErrInvalidConfig is returned by Open for a Config it cannot use; the
	// message names the field and why.
	ErrInvalidConfig = errors.New("invalid store config")

	// ErrSchemaTooNew is returned by Open for a database whose schema
	// version is newer than the migrations this binary carries: a newer
	// sluiced has used it, and this one must not write to it.
	ErrSchemaTooNew = errors.New("database schema is newer than this binary")

	// ErrInstanceBehind is returned by Open and MigrateTo when a breaking
	// migration is due while another live instance on the database runs a
	// binary that does not know it; the message names the instance.
	ErrInstanceBehind = errors.New("an instance runs a binary that does " +
		"not know a breaking migration")

	// ErrSerialization means PostgreSQL aborted a transaction because it
	// conflicted with a concurrent one (SQLSTATE 40001) or deadlocked with
	// it (40P01). ExecTx retries these; running the transaction again is
	// always safe.
	ErrSerialization = errors.New("serialization failure")

	// ErrBusy means SQLite could not take a lock within its busy timeout
	// (SQLITE_BUSY, SQLITE_LOCKED). ExecTx retries these.
	ErrBusy = errors.New("database busy")

	// ErrRetriesExceeded is returned by ExecTx when a transaction still
	// failed with a retryable error after the configured number of
	// attempts; the last such error is wrapped with it.
	ErrRetriesExceeded = errors.New("transaction retries exceeded")

	// ErrUniqueViolation means a write would have duplicated a unique key.
	ErrUniqueViolation = errors.New("unique constraint violated")

	// ErrForeignKeyViolation means a write referred to a row that does not
	// exist, or removed one that is still referred to.
	ErrForeignKeyViolation = errors.New("foreign key constraint violated")

	// ErrCheckViolation means a write broke a CHECK constraint.
	ErrCheckViolation = errors.New("check constraint violated")

	// ErrNotNullViolation means a write left a NOT NULL column empty.
	ErrNotNullViolation = errors.New("not null constraint violated")

	// ErrReadOnly means a read-only transaction tried to write.
	ErrReadOnly = errors.New("write in a read-only transaction")

	// ErrNotFound is returned by a domain query for a row that does not
	// exist (a job, a buyer, an invoice by its hash).
	ErrNotFound = errors.New("not found in the store")

	// ErrStale is returned by a compare-and-set update when the row no
	// longer holds the value the caller read (a job's state changed in
	// between).
	ErrStale = errors.New("row changed since it was read")
)

// sentinels are the errors mapError classifies driver errors into.
var sentinels = []error{
	ErrSerialization, ErrBusy, ErrUniqueViolation, ErrForeignKeyViolation,
	ErrCheckViolation, ErrNotNullViolation, ErrReadOnly,
}

// PostgreSQL SQLSTATE codes that mapError classifies.
const (
	pgSerializationFailure = "40001"
	pgDeadlockDetected     = "40P01"
	pgUniqueViolation      = "23505"
	pgForeignKeyViolation  = "23503"
	pgCheckViolation       = "23514"
	pgNotNullViolation     = "23502"
	pgReadOnlyTransaction  = "25006"
)

// mapError classifies a driver error as one of the package's sentinels,
// keeping the driver error in the chain (errors.As still finds it). Errors
// that are already classified, are not driver errors, or are driver errors
// with no sentinel of their own are returned unchanged.
func mapError(err error) error {
	if err == nil {
		return nil
	}
	for _, s := range sentinels {
		if errors.Is(err, s) {
			return err
		}
	}

	sentinel := classify(err)
	if sentinel == nil {
		return err
	}

	return fmt.Errorf("%w: %w", sentinel, err)
}

// classify returns the sentinel for a PostgreSQL or SQLite driver error
// anywhere in err's chain, or nil.
func classify(err error) error {
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) {
		switch pgErr.Code {
		case pgSerializationFailure, pgDeadlockDetected:
			return ErrSerialization
		case pgUniqueViolation:
			return ErrUniqueViolation
		case pgForeignKeyViolation:
			return ErrForeignKeyViolation
		case pgCheckViolation:
			return ErrCheckViolation
		case pgNotNullViolation:
			return ErrNotNullViolation
		case pgReadOnlyTransaction:
			return ErrReadOnly
		}

		return nil
	}

	var liteErr *sqlite.Error
	if errors.As(err, &liteErr) {
		return classifySQLite(liteErr.Code())
	}

	return nil
}

// classifySQLite maps an SQLite extended result code to a sentinel, or nil.
func classifySQLite(code int) error {
	switch code {
	case sqlite3.SQLITE_CONSTRAINT_UNIQUE,
		sqlite3.SQLITE_CONSTRAINT_PRIMARYKEY:

		return ErrUniqueViolation

	case sqlite3.SQLITE_CONSTRAINT_FOREIGNKEY:
		return ErrForeignKeyViolation

	case sqlite3.SQLITE_CONSTRAINT_CHECK:
		return ErrCheckViolation

	case sqlite3.SQLITE_CONSTRAINT_NOTNULL:
		return ErrNotNullViolation
	}

	// The primary result code is the low byte of the extended one.
	switch code & 0xff {
	case sqlite3.SQLITE_BUSY, sqlite3.SQLITE_LOCKED:
		return ErrBusy

	case sqlite3.SQLITE_READONLY:
		return ErrReadOnly
	}

	return nil
}

// IsRetryable reports whether err is a conflict that running the whole
// transaction again may resolve: a serialization failure or a busy database.
func IsRetryable(err error) bool {
	return errors.Is(err, ErrSerialization) || errors.Is(err, ErrBusy)
}
