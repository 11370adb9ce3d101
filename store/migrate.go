package store

import (
	"context"
	"database/sql"
	"embed"
	"fmt"
	"io/fs"
	"regexp"
	"sort"
	"strconv"
	"time"
)

// migrationFiles holds one directory of numbered migrations per dialect:
// NNNNNN_name.up.sql applies version NNNNNN, NNNNNN_name.down.sql undoes it.
//
//go:embed migrations/sqlite/*.sql migrations/postgres/*.sql
var migrationFiles embed.FS

// embeddedMigrations is the migration set this binary carries.
var embeddedMigrations = migrationSource{fsys: migrationFiles,
	dir: "migrations"}

// migrationSource is a tree of per-dialect migration directories.
type migrationSource struct {
	fsys fs.FS
	dir  string
}

// migration is one numbered schema change and its inverse.
type migration struct {
	version int
	name    string
	up      string
	down    string
}

// migrationSet is a dialect's migrations, version 1 at index 0.
type migrationSet struct {
	migrations []migration
}

// latest returns the highest version the set can migrate to.
func (s *migrationSet) latest() int {
	return len(s.migrations)
}

// migrationName matches NNNNNN_name.up.sql and NNNNNN_name.down.sql.
var migrationName = regexp.MustCompile(`^(\d{6})_([a-z0-9_]+)\.(up|down)\.sql$`)

// load reads and checks the backend's migrations: versions run from 1
// without gaps, and each has both an up and a down file.
func (src migrationSource) load(backend Backend) (*migrationSet, error) {
	dir := src.dir + "/" + string(backend)
	entries, err := fs.ReadDir(src.fsys, dir)
	if err != nil {
		return nil, fmt.Errorf("read migrations %s: %w", dir, err)
	}

	byVersion := make(map[int]*migration)
	for _, e := range entries {
		m := migrationName.FindStringSubmatch(e.Name())
		if e.IsDir() || m == nil {
			return nil, fmt.Errorf("migrations %s: unexpected "+
				"entry %q", dir, e.Name())
		}
		version, _ := strconv.Atoi(m[1])
		body, err := fs.ReadFile(src.fsys, dir+"/"+e.Name())
		if err != nil {
			return nil, fmt.Errorf("read migration %s: %w",
				e.Name(), err)
		}

		mig, ok := byVersion[version]
		if !ok {
			mig = &migration{version: version, name: m[2]}
			byVersion[version] = mig
		}
		if mig.name != m[2] {
			return nil, fmt.Errorf("migrations %s: version %d "+
				"named both %q and %q", dir, version, mig.name,
				m[2])
		}
		if m[3] == "up" {
			mig.up = string(body)
		} else {
			mig.down = string(body)
		}
	}

	set := &migrationSet{}
	versions := make([]int, 0, len(byVersion))
	for v := range byVersion {
		versions = append(versions, v)
	}
	sort.Ints(versions)
	for i, v := range versions {
		mig := byVersion[v]
		switch {
		case v != i+1:
			return nil, fmt.Errorf("migrations %s: version %d "+
				"follows %d, want %d", dir, v, i, i+1)
		case mig.up == "":
			return nil, fmt.Errorf("migrations %s: version %d "+
				"has no up file", dir, v)
		case mig.down == "":
			return nil, fmt.Errorf("migrations %s: version %d "+
				"has no down file", dir, v)
		}
		set.migrations = append(set.migrations, *mig)
	}

	return set, nil
}

// LatestSchemaVersion is the schema version this binary migrates a
// database to.
func LatestSchemaVersion(backend Backend) (int, error) {
	set, err := embeddedMigrations.load(backend)
	if err != nil {
		return 0, err
	}

	return set.latest(), nil
}

// createVersionTable records which migrations have been applied, one row
// per version; the schema version is the highest one.
const createVersionTable = `CREATE TABLE IF NOT EXISTS schema_migrations (
    version INTEGER PRIMARY KEY,
    name TEXT NOT NULL,
    applied_at TIMESTAMP NOT NULL
)`

// pgMigrationLock serialises migrations of one Postgres schema across
// processes: several sluiced instances may start at once. The lock is
// per schema so that separate schemas on one server (tests) do not wait on
// each other.
const pgMigrationLock = `SELECT pg_advisory_xact_lock(
    hashtext('sluice.migrate.' || current_schema()))`

// SchemaVersion returns the database's schema version: the highest
// migration applied, 0 for an empty database.
func (db *DB) SchemaVersion(ctx context.Context) (int, error) {
	var version int
	err := db.ExecTx(ctx, TxOptions{ReadOnly: true}, func(tx *Tx) error {
		var err error
		version, err = schemaVersion(ctx, tx.tx)
		return err
	})
	if err != nil {
		return 0, fmt.Errorf("read schema version: %w", err)
	}

	return version, nil
}

// schemaVersion reads the version inside tx; a missing table is version 0.
func schemaVersion(ctx context.Context, tx *sql.Tx) (int, error) {
	var version sql.NullInt64
	err := tx.QueryRowContext(ctx,
		"SELECT MAX(version) FROM schema_migrations").Scan(&version)
	if err != nil {
		return 0, mapError(err)
	}

	return int(version.Int64), nil
}

// MigrateTo moves the schema up or down to version, one migration per
// transaction. Going down drops whatever the undone migrations created,
// data included: it is for an operator returning to an older binary, with
// a backup at hand. A version newer than this binary knows is refused with
// ErrSchemaTooNew.
func (db *DB) MigrateTo(ctx context.Context, version int) error {
	if version < 0 || version > db.migrations.latest() {
		return fmt.Errorf("migrate to version %d: version must be "+
			"between 0 and %d", version, db.migrations.latest())
	}

	return db.migrate(ctx, version)
}

// migrate applies migrations one at a time until the schema is at target.
func (db *DB) migrate(ctx context.Context, target int) error {
	for {
		done, err := db.migrateStep(ctx, target)
		if err != nil {
			return err
		}
		if done {
			return nil
		}
	}
}

// migrateStep applies the one migration that moves the schema towards
// target, in its own transaction, and says whether the schema was already
// at target.
func (db *DB) migrateStep(ctx context.Context, target int) (bool, error) {
	// Migrations run at READ COMMITTED on Postgres: the advisory lock is
	// taken first, and each later statement must see what the previous
	// lock holder committed. SQLite's writer runs one transaction at a
	// time anyway.
	opts := &sql.TxOptions{}
	if db.cfg.Backend == Postgres {
		opts.Isolation = sql.LevelReadCommitted
	}

	tx, err := db.writer.BeginTx(ctx, opts)
	if err != nil {
		return false, fmt.Errorf("migrate: begin: %w", mapError(err))
	}
	defer func() {
		_ = tx.Rollback()
	}()

	if db.cfg.Backend == Postgres {
		if _, err := tx.ExecContext(ctx, pgMigrationLock); err != nil {
			return false, fmt.Errorf("migrate: lock: %w",
				mapError(err))
		}
	}
	if _, err := tx.ExecContext(ctx, createVersionTable); err != nil {
		return false, fmt.Errorf("migrate: create version table: %w",
			mapError(err))
	}

	current, err := schemaVersion(ctx, tx)
	if err != nil {
		return false, fmt.Errorf("migrate: %w", err)
	}
	latest := db.migrations.latest()
	if current > latest {
		return false, fmt.Errorf("%w: database is at version %d, this "+
			"binary knows up to %d", ErrSchemaTooNew, current,
			latest)
	}
	if current == target {
		return true, tx.Commit()
	}

	if current < target {
		mig := db.migrations.migrations[current]
		log.Infof("Applying migration %d (%s)", mig.version, mig.name)

		if _, err := tx.ExecContext(ctx, mig.up); err != nil {
			return false, fmt.Errorf("migration %d (%s) up: %w",
				mig.version, mig.name, mapError(err))
		}
		_, err = tx.ExecContext(ctx, "INSERT INTO schema_migrations "+
			"(version, name, applied_at) VALUES ($1, $2, $3)",
			mig.version, mig.name, time.Now().UTC())
		if err != nil {
			return false, fmt.Errorf("migration %d: record: %w",
				mig.version, mapError(err))
		}
	} else {
		mig := db.migrations.migrations[current-1]
		log.Warnf("Reverting migration %d (%s)", mig.version, mig.name)

		if _, err := tx.ExecContext(ctx, mig.down); err != nil {
			return false, fmt.Errorf("migration %d (%s) down: %w",
				mig.version, mig.name, mapError(err))
		}
		_, err = tx.ExecContext(ctx, "DELETE FROM schema_migrations "+
			"WHERE version = $1", mig.version)
		if err != nil {
			return false, fmt.Errorf("migration %d: unrecord: %w",
				mig.version, mapError(err))
		}
	}

	if err := tx.Commit(); err != nil {
		return false, fmt.Errorf("migrate: commit: %w", mapError(err))
	}

	return false, nil
}
