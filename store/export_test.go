package store

import (
	"context"
	"database/sql"
	"io/fs"
	"time"
)

// OpenWithMigrations is Open with the migrations read from fsys/dir instead
// of the embedded set.
func OpenWithMigrations(ctx context.Context, cfg Config, fsys fs.FS,
	dir string) (*DB, error) {

	return open(ctx, cfg, migrationSource{fsys: fsys, dir: dir})
}

// LoadMigrations reads and checks fsys/dir, returning the latest version.
func LoadMigrations(fsys fs.FS, dir string) (int, error) {
	set, err := migrationSource{fsys: fsys, dir: dir}.load()
	if err != nil {
		return 0, err
	}

	return set.latest(), nil
}

// SQLiteSchema exposes sqliteSchema.
var SQLiteSchema = sqliteSchema

// EmbeddedMigrations is the embedded migration directory.
var EmbeddedMigrations fs.FS = migrationFiles

// MapError exposes mapError.
var MapError = mapError

// ClassifySQLite exposes classifySQLite.
var ClassifySQLite = classifySQLite

// RetryDelay exposes the backoff before an attempt (1 for the first
// retry), drawn from a fresh retryBackoff.
func (db *DB) RetryDelay(attempt int) time.Duration {
	b := db.retryBackoff()
	var d time.Duration
	for i := 0; i < attempt; i++ {
		d = b.NextBackOff()
	}
	return d
}

// Exec runs a raw statement in the transaction.
func (t *Tx) Exec(ctx context.Context, query string, args ...any) error {
	t.forgetAll()
	_, err := t.exec(ctx, query, args...)
	return err
}

// QueryRow runs a raw query in the transaction.
func (t *Tx) QueryRow(ctx context.Context, query string,
	args ...any) *sql.Row {

	return t.queryRow(ctx, query, args...)
}

// Remember turns the transaction's memo on (memo.go).
func (t *Tx) Remember() {
	t.remember()
}

// MigrationKinds reads and checks fsys/dir, returning each version's kind.
func MigrationKinds(fsys fs.FS, dir string) ([]MigrationKind, error) {
	set, err := migrationSource{fsys: fsys, dir: dir}.load()
	if err != nil {
		return nil, err
	}

	return set.kinds, nil
}

// UpgradeMigrations is the migration set Open uses (with the upgradetest
// tag, today's plus the test's).
func UpgradeMigrations() fs.FS {
	return embeddedMigrations.fsys
}
