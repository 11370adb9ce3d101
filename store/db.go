package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"time"

	// The pgx driver registers itself with database/sql as "pgx/v5"
	// (and as "pgx" only when no other pgx took that name first).
	_ "github.com/jackc/pgx/v5/stdlib"

	// The modernc driver registers itself with database/sql as "sqlite".
	_ "modernc.org/sqlite"
)

// Backend names an SQL engine the store runs on.
type Backend string

const (
	// SQLite is the embedded default: one file, WAL mode, one writer.
	SQLite Backend = "sqlite"

	// Postgres is for operators who run several sluiced instances or
	// outgrow one machine.
	Postgres Backend = "postgres"
)

// Defaults for the Config knobs left at zero.
const (
	DefaultBusyTimeout   = 5 * time.Second
	DefaultMaxReadConns  = 4
	DefaultMaxConns      = 10
	DefaultMaxTxAttempts = 10
	DefaultRetryDelay    = 10 * time.Millisecond
	DefaultMaxRetryDelay = time.Second
)

// Config says which database to open and how. Zero knobs take the defaults
// above.
type Config struct {
	// Backend is SQLite or Postgres.
	Backend Backend

	// SQLitePath is the database file for the SQLite backend; its
	// directory is created if missing.
	SQLitePath string

	// PostgresDSN is the connection string for the Postgres backend, as a
	// URL (postgres://user@127.0.0.1:5432/db?sslmode=disable) or in
	// key=value form. Extra parameters such as search_path are sent to
	// the server as run-time settings.
	PostgresDSN string

	// BusyTimeout is how long an SQLite connection waits for a lock held
	// by another process before it fails with ErrBusy (which ExecTx then
	// retries). Writers within this process never wait on it: they queue
	// for the single writer connection.
	BusyTimeout time.Duration

	// MaxReadConns is the number of SQLite connections that serve
	// read-only transactions alongside the single writer.
	MaxReadConns int

	// MaxConns is the size of the Postgres connection pool.
	MaxConns int

	// MaxTxAttempts bounds how many times ExecTx runs a transaction that
	// keeps failing with a serialization or busy error.
	MaxTxAttempts int

	// RetryDelay is the backoff before the first retry; it doubles with
	// each further attempt, up to MaxRetryDelay, and is jittered.
	RetryDelay time.Duration

	// MaxRetryDelay caps the backoff between attempts.
	MaxRetryDelay time.Duration

	// InstanceID names this sluiced in the instance registry, which
	// keeps breaking migrations from being applied under a live
	// instance whose binary lacks them. Keep it stable across restarts
	// of one instance; empty is "sqlite" on SQLite and host-pid on
	// PostgreSQL.
	InstanceID string

	// InstanceTTL is how long a registration lives without a
	// heartbeat; the instance heartbeats every third of it.
	InstanceTTL time.Duration
}

// withDefaults returns cfg with zero knobs set to their defaults, or an
// error naming the first field that cannot be used.
func (cfg Config) withDefaults() (Config, error) {
	bad := func(field, why string) (Config, error) {
		return Config{}, fmt.Errorf("%w: %s %s", ErrInvalidConfig,
			field, why)
	}

	switch cfg.Backend {
	case SQLite:
		if cfg.SQLitePath == "" {
			return bad("SQLitePath", "is empty")
		}
		if strings.ContainsRune(cfg.SQLitePath, '?') {
			return bad("SQLitePath", "may not contain '?'")
		}
	case Postgres:
		if cfg.PostgresDSN == "" {
			return bad("PostgresDSN", "is empty")
		}
	default:
		return bad("Backend", fmt.Sprintf("is %q, want %q or %q",
			cfg.Backend, SQLite, Postgres))
	}

	durations := []struct {
		name string
		val  *time.Duration
		def  time.Duration
	}{
		{"BusyTimeout", &cfg.BusyTimeout, DefaultBusyTimeout},
		{"RetryDelay", &cfg.RetryDelay, DefaultRetryDelay},
		{"MaxRetryDelay", &cfg.MaxRetryDelay, DefaultMaxRetryDelay},
		{"InstanceTTL", &cfg.InstanceTTL, DefaultInstanceTTL},
	}
	for _, d := range durations {
		switch {
		case *d.val < 0:
			return bad(d.name, "is negative")
		case *d.val == 0:
			*d.val = d.def
		}
	}

	counts := []struct {
		name string
		val  *int
		def  int
	}{
		{"MaxReadConns", &cfg.MaxReadConns, DefaultMaxReadConns},
		{"MaxConns", &cfg.MaxConns, DefaultMaxConns},
		{"MaxTxAttempts", &cfg.MaxTxAttempts, DefaultMaxTxAttempts},
	}
	for _, c := range counts {
		switch {
		case *c.val < 0:
			return bad(c.name, "is negative")
		case *c.val == 0:
			*c.val = c.def
		}
	}

	if cfg.InstanceID == "" {
		cfg.InstanceID = defaultInstanceID(cfg.Backend)
	}

	if cfg.MaxRetryDelay < cfg.RetryDelay {
		return bad("MaxRetryDelay", fmt.Sprintf("(%v) is below "+
			"RetryDelay (%v)", cfg.MaxRetryDelay, cfg.RetryDelay))
	}

	return cfg, nil
}

// DB is an open store. Its methods are safe for concurrent use.
type DB struct {
	cfg Config

	// writer runs every read-write transaction. On SQLite it holds one
	// connection, so writers in this process queue for it instead of
	// failing with SQLITE_BUSY; on Postgres it is the whole pool.
	writer *sql.DB

	// reader runs read-only transactions. On SQLite it is a separate
	// pool of query_only connections that read WAL snapshots while the
	// writer writes; on Postgres it is the same pool as writer.
	reader *sql.DB

	// source is where the migrations come from, and migrations what
	// load found in it.
	source     migrationSource
	migrations *migrationSet

	// fence, in a view made by Fenced, is checked at the start of each
	// read-write transaction; nil for the store itself.
	fence *fence

	// heartbeatStop ends the instance heartbeat, which closes
	// heartbeatDone; nil before registration and after Close.
	heartbeatStop chan struct{}
	heartbeatDone chan struct{}
}

// Open opens the database cfg names, applies any pending migrations and
// returns the store. It refuses, with ErrSchemaTooNew, a database that a
// newer binary has migrated past what this one knows.
func Open(ctx context.Context, cfg Config) (*DB, error) {
	return open(ctx, cfg, embeddedMigrations)
}

// open is Open with the migration source as a parameter, for tests.
func open(ctx context.Context, cfg Config, source migrationSource) (*DB,
	error) {

	cfg, err := cfg.withDefaults()
	if err != nil {
		return nil, err
	}

	migrations, err := source.load()
	if err != nil {
		return nil, err
	}

	db := &DB{cfg: cfg, source: source, migrations: migrations}
	switch cfg.Backend {
	case SQLite:
		err = db.openSQLite(ctx)
	case Postgres:
		err = db.openPostgres(ctx)
	}
	if err != nil {
		return nil, errors.Join(err, db.Close())
	}

	if err := db.migrate(ctx, migrations.latest()); err != nil {
		// The instance may be registered already (a migration that
		// failed): deregister it too.
		db.heartbeatStop = make(chan struct{})
		db.heartbeatDone = make(chan struct{})
		close(db.heartbeatDone)
		return nil, errors.Join(err, db.Close())
	}
	db.heartbeatStop = make(chan struct{})
	db.heartbeatDone = make(chan struct{})
	go db.heartbeat(db.heartbeatStop, db.heartbeatDone)

	return db, nil
}

// openSQLite opens the writer and reader pools on the SQLite file.
//
// The file runs in WAL mode with synchronous=FULL. WAL lets readers work
// from a snapshot while the one writer commits. FULL makes each commit
// fsync the WAL before it returns: with NORMAL, a commit survives a crash
// of the process but the last ones can be lost when the machine loses
// power, and a ledger that forgets a settled payment is worse than one
// that spends a millisecond more per commit (the metering pipeline groups
// many records into one commit for exactly this reason).
func (db *DB) openSQLite(ctx context.Context) error {
	path := db.cfg.SQLitePath
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return fmt.Errorf("sqlite: create directory for %s: %w", path,
			err)
	}

	common := url.Values{}
	common.Add("_pragma", fmt.Sprintf("busy_timeout(%d)",
		db.cfg.BusyTimeout.Milliseconds()))
	common.Add("_pragma", "foreign_keys(1)")
	common.Add("_pragma", "synchronous(FULL)")
	common.Set("_time_format", "sqlite")

	// The writer sets WAL mode, which is persistent in the file, and
	// begins every transaction IMMEDIATE so that it holds the write lock
	// from its first statement instead of failing on upgrade.
	writeParams := cloneValues(common)
	writeParams.Add("_pragma", "journal_mode(WAL)")
	// A statement that may abort inside a transaction (a multi-row
	// INSERT, for one) journals the pages it changes so that it
	// can be undone alone; past 64 KiB SQLite spills that journal to a
	// temporary file, two write syscalls per page. Metering's group
	// commit changes hundreds of pages per statement, and the spilled
	// journal took a quarter of its CPU; in memory it takes a twentieth
	// (BenchmarkIngest's profile, docs/protocol.md "Ingest
	// performance").
	writeParams.Add("_pragma", "temp_store(MEMORY)")
	writeParams.Set("_txlock", "immediate")

	writer, err := sql.Open(sqliteDriver, path+"?"+writeParams.Encode())
	if err != nil {
		return fmt.Errorf("sqlite: open %s: %w", path, err)
	}
	writer.SetMaxOpenConns(1)
	writer.SetMaxIdleConns(1)
	writer.SetConnMaxIdleTime(0)
	writer.SetConnMaxLifetime(0)
	db.writer = writer

	// Open the writer first so that the file exists and is in WAL mode
	// before any reader connects.
	if err := writer.PingContext(ctx); err != nil {
		return fmt.Errorf("sqlite: open %s: %w", path, mapError(err))
	}

	readParams := cloneValues(common)
	readParams.Add("_pragma", "query_only(1)")

	reader, err := sql.Open(sqliteDriver, path+"?"+readParams.Encode())
	if err != nil {
		return fmt.Errorf("sqlite: open %s for reading: %w", path, err)
	}
	reader.SetMaxOpenConns(db.cfg.MaxReadConns)
	reader.SetMaxIdleConns(db.cfg.MaxReadConns)
	db.reader = reader

	if err := reader.PingContext(ctx); err != nil {
		return fmt.Errorf("sqlite: open %s for reading: %w", path,
			mapError(err))
	}

	var mode string
	err = writer.QueryRowContext(ctx, "PRAGMA journal_mode").Scan(&mode)
	if err != nil {
		return fmt.Errorf("sqlite: read journal mode: %w", err)
	}
	if !strings.EqualFold(mode, "wal") {
		return fmt.Errorf("sqlite: %s is in journal mode %q, not WAL",
			path, mode)
	}

	log.Infof("Opened SQLite database %s (WAL, synchronous=FULL)", path)

	return nil
}

// pgxDriver names pgx v5 explicitly: lnd's kvdb, linked into sluiced,
// brings pgx v4, whose driver may take the plain name "pgx" first, and
// whose errors are not the *pgconn.PgError that mapError classifies (a
// serialization failure would not be retried).
const pgxDriver = "pgx/v5"

// openPostgres opens the connection pool and checks that the server
// answers.
func (db *DB) openPostgres(ctx context.Context) error {
	pool, err := sql.Open(pgxDriver, db.cfg.PostgresDSN)
	if err != nil {
		return fmt.Errorf("postgres: parse DSN: %w", err)
	}
	pool.SetMaxOpenConns(db.cfg.MaxConns)
	pool.SetMaxIdleConns(db.cfg.MaxConns)
	pool.SetConnMaxIdleTime(5 * time.Minute)
	db.writer = pool
	db.reader = pool

	if err := pool.PingContext(ctx); err != nil {
		return fmt.Errorf("postgres: connect: %w", err)
	}

	log.Infof("Connected to PostgreSQL")

	return nil
}

// cloneValues copies url.Values so that two DSNs can share a base.
func cloneValues(v url.Values) url.Values {
	c := make(url.Values, len(v))
	for k, vals := range v {
		c[k] = append([]string(nil), vals...)
	}

	return c
}

// Backend returns the engine this store runs on.
func (db *DB) Backend() Backend {
	return db.cfg.Backend
}

// Close closes every connection. Transactions still running fail.
func (db *DB) Close() error {
	defer logStats()
	var errs []error
	if db.writer != nil {
		errs = append(errs, db.deregister())
	}
	if db.reader != nil && db.reader != db.writer {
		errs = append(errs, db.reader.Close())
	}
	if db.writer != nil {
		errs = append(errs, db.writer.Close())
	}

	return errors.Join(errs...)
}
