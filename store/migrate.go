package store

import (
	"context"
	"database/sql"
	"embed"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"regexp"
	"sort"
	"strconv"
	"strings"

	"github.com/golang-migrate/migrate/v4"
	"github.com/golang-migrate/migrate/v4/database"
	"github.com/golang-migrate/migrate/v4/source"
	"github.com/golang-migrate/migrate/v4/source/iofs"
)

// migrationFiles holds the one set of numbered migrations, written for
// PostgreSQL: NNNNNN_name.up.sql applies version NNNNNN, NNNNNN_name.down.sql
// undoes it. SQLite runs the same files after sqliteReplacements.
//
//go:embed migrations/*.sql
var migrationFiles embed.FS

// embeddedMigrations is the migration set this binary carries.
var embeddedMigrations = migrationSource{fsys: migrationFiles,
	dir: "migrations"}

// sqliteReplacements turns the PostgreSQL schema into SQLite's, as Loop's
// loopdb does. The result is, byte for byte, the SQLite schema that binaries
// with per-dialect migrations created (TestSQLiteSchemaMatchesLegacy checks
// it), so databases they made carry on unchanged.
//
// Earlier pairs win where two match at one place (strings.Replacer compares
// in argument order). Two markers, comments to PostgreSQL, carry what a
// plain type mapping cannot:
//   - "/* sqlite: rowid */" after an identity key makes it a plain rowid
//     alias (INTEGER PRIMARY KEY, ids may be reused after a delete) instead
//     of AUTOINCREMENT, which the other identity keys get so that, as on
//     PostgreSQL, an id is never handed out twice;
//   - "/* sqlite: WITHOUT ROWID */" after a table's closing parenthesis
//     makes it a clustered WITHOUT ROWID table.
var sqliteReplacements = strings.NewReplacer(
	"BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY /* sqlite: rowid */",
	"INTEGER PRIMARY KEY",
	"BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY",
	"INTEGER PRIMARY KEY AUTOINCREMENT",
	") /* sqlite: WITHOUT ROWID */", ") WITHOUT ROWID",
	"TIMESTAMPTZ", "TIMESTAMP",
	"BIGINT", "INTEGER",
	"BYTEA", "BLOB",
)

// sqliteMarker starts every marker; one left after the replacements is a
// marker in a place the replacements do not know.
const sqliteMarker = "/* sqlite:"

// sqliteSchema is the PostgreSQL migration text pg as SQLite runs it.
func sqliteSchema(pg string) (string, error) {
	lite := sqliteReplacements.Replace(pg)
	if i := strings.Index(lite, sqliteMarker); i >= 0 {
		end := min(len(lite), i+60)
		return "", fmt.Errorf("unknown SQLite marker at %q", lite[i:end])
	}

	return lite, nil
}

// migrationSource is a directory of numbered migrations.
type migrationSource struct {
	fsys fs.FS
	dir  string
}

// migrationSet is what load found: each version's name and kind, versions
// running from 1 without gaps.
type migrationSet struct {
	names []string
	kinds []MigrationKind
}

// kind returns the kind of version v; a version the set lacks is breaking.
func (s *migrationSet) kind(v int) MigrationKind {
	if v < 1 || v > len(s.kinds) {
		return Breaking
	}
	return s.kinds[v-1]
}

// latest returns the highest version the set can migrate to.
func (s *migrationSet) latest() int {
	return len(s.names)
}

// name returns the name of version v, or "" for one the set lacks.
func (s *migrationSet) name(v int) string {
	if v < 1 || v > len(s.names) {
		return ""
	}
	return s.names[v-1]
}

// migrationName matches NNNNNN_name.up.sql and NNNNNN_name.down.sql.
var migrationName = regexp.MustCompile(`^(\d{6})_([a-z0-9_]+)\.(up|down)\.sql$`)

// load checks the directory's migrations: versions run from 1 without gaps,
// and each has both an up and a down file. golang-migrate would run a set
// with a gap or a missing down file; this refuses it before it runs.
func (src migrationSource) load() (*migrationSet, error) {
	entries, err := fs.ReadDir(src.fsys, src.dir)
	if err != nil {
		return nil, fmt.Errorf("read migrations %s: %w", src.dir, err)
	}

	type files struct {
		name     string
		kind     MigrationKind
		up, down bool
	}
	byVersion := make(map[int]*files)
	for _, e := range entries {
		m := migrationName.FindStringSubmatch(e.Name())
		if e.IsDir() || m == nil {
			return nil, fmt.Errorf("migrations %s: unexpected "+
				"entry %q", src.dir, e.Name())
		}
		version, _ := strconv.Atoi(m[1])

		f, ok := byVersion[version]
		if !ok {
			f = &files{name: m[2]}
			byVersion[version] = f
		}
		if f.name != m[2] {
			return nil, fmt.Errorf("migrations %s: version %d "+
				"named both %q and %q", src.dir, version, f.name,
				m[2])
		}
		if m[3] == "up" {
			f.up = true
			body, err := fs.ReadFile(src.fsys,
				src.dir+"/"+e.Name())
			if err != nil {
				return nil, fmt.Errorf("migrations %s: %w",
					src.dir, err)
			}
			f.kind, err = kindOf(string(body))
			if err != nil {
				return nil, fmt.Errorf("migrations %s: %s: %w",
					src.dir, e.Name(), err)
			}
		} else {
			f.down = true
		}
	}

	versions := make([]int, 0, len(byVersion))
	for v := range byVersion {
		versions = append(versions, v)
	}
	sort.Ints(versions)

	set := &migrationSet{}
	for i, v := range versions {
		f := byVersion[v]
		switch {
		case v != i+1:
			return nil, fmt.Errorf("migrations %s: version %d "+
				"follows %d, want %d", src.dir, v, i, i+1)
		case !f.up:
			return nil, fmt.Errorf("migrations %s: version %d "+
				"has no up file", src.dir, v)
		case !f.down:
			return nil, fmt.Errorf("migrations %s: version %d "+
				"has no down file", src.dir, v)
		}
		set.names = append(set.names, f.name)
		set.kinds = append(set.kinds, f.kind)
	}

	return set, nil
}

// driver returns the golang-migrate source of the migrations as backend
// runs them.
func (src migrationSource) driver(backend Backend) (source.Driver, error) {
	drv, err := iofs.New(src.fsys, src.dir)
	if err != nil {
		return nil, fmt.Errorf("migrations %s: %w", src.dir, err)
	}
	if backend == SQLite {
		return &sqliteSource{Driver: drv}, nil
	}

	return drv, nil
}

// sqliteSource is a migration source whose files are rewritten for SQLite
// as they are read.
type sqliteSource struct {
	source.Driver
}

// ReadUp returns version's up migration in SQLite's dialect.
func (s *sqliteSource) ReadUp(version uint) (io.ReadCloser, string, error) {
	return s.rewrite(s.Driver.ReadUp(version))
}

// ReadDown returns version's down migration in SQLite's dialect.
func (s *sqliteSource) ReadDown(version uint) (io.ReadCloser, string,
	error) {

	return s.rewrite(s.Driver.ReadDown(version))
}

// rewrite reads a migration body and returns it with the SQLite
// replacements applied.
func (s *sqliteSource) rewrite(r io.ReadCloser, id string, err error) (
	io.ReadCloser, string, error) {

	if err != nil {
		return nil, "", err
	}
	defer r.Close()

	body, err := io.ReadAll(r)
	if err != nil {
		return nil, "", fmt.Errorf("read migration %s: %w", id, err)
	}
	lite, err := sqliteSchema(string(body))
	if err != nil {
		return nil, "", fmt.Errorf("migration %s: %w", id, err)
	}

	return io.NopCloser(strings.NewReader(lite)), id, nil
}

// LatestSchemaVersion is the schema version this binary migrates a
// database to.
func LatestSchemaVersion(backend Backend) (int, error) {
	if backend != SQLite && backend != Postgres {
		return 0, fmt.Errorf("%w: backend %q", ErrInvalidConfig,
			backend)
	}
	set, err := embeddedMigrations.load()
	if err != nil {
		return 0, err
	}

	return set.latest(), nil
}

// versionTable is golang-migrate's version table: one row, the version the
// schema is at, absent for an empty database. The per-dialect runner before
// golang-migrate kept a table of the same name with a row per applied
// migration (version, name, applied_at); the first migration under
// golang-migrate replaces it (migrateDriver.versionTable).
const versionTable = "schema_migrations"

// createVersionTable creates golang-migrate's version table.
const createVersionTable = `CREATE TABLE IF NOT EXISTS schema_migrations (
    version BIGINT NOT NULL PRIMARY KEY,
    dirty BOOLEAN NOT NULL
)`

// pgMigrationLock serialises migrations of one Postgres schema across
// processes: several sluiced instances may start at once. The lock is
// per schema so that separate schemas on one server (tests) do not wait on
// each other.
const pgMigrationLock = `hashtext('sluice.migrate.' || current_schema())`

// SchemaVersion returns the database's schema version: the highest
// migration applied, 0 for an empty database.
func (db *DB) SchemaVersion(ctx context.Context) (int, error) {
	var version int
	err := db.ExecTx(ctx, TxOptions{ReadOnly: true}, func(tx *Tx) error {
		var err error
		version, err = readVersion(ctx, tx.tx)
		return err
	})
	if err != nil {
		return 0, fmt.Errorf("read schema version: %w", err)
	}

	return version, nil
}

// queryer is a *sql.Tx or *sql.DB.
type queryer interface {
	QueryRowContext(ctx context.Context, query string,
		args ...any) *sql.Row
}

// readVersion reads the schema version; no row is version 0.
func readVersion(ctx context.Context, q queryer) (int, error) {
	var version sql.NullInt64
	err := q.QueryRowContext(ctx,
		"SELECT MAX(version) FROM "+versionTable).Scan(&version)
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

// migrate runs golang-migrate until the schema is at target. It first
// carries a version table of the per-dialect runner over to golang-migrate's,
// refuses, as tapd does, a database with a breaking migration newer than
// this binary (register), and registers this instance. A database whose
// versions past this binary's are all additive is left as it is.
func (db *DB) migrate(ctx context.Context, target int) error {
	drv := &migrateDriver{ctx: ctx, db: db}
	if err := drv.versionTable(); err != nil {
		return err
	}

	current, err := db.register(ctx, target)
	if err != nil {
		return err
	}
	latest := db.migrations.latest()
	if current > latest {
		// register found every version past latest additive.
		log.Warnf("Database is at schema version %d, this binary "+
			"knows up to %d; the versions it lacks are additive, "+
			"so it runs on them", current, latest)
		return nil
	}

	src, err := db.source.driver(db.cfg.Backend)
	if err != nil {
		return err
	}
	m, err := migrate.NewWithInstance("iofs", src, string(db.cfg.Backend),
		drv)
	if err != nil {
		return fmt.Errorf("migrate: %w", err)
	}
	defer m.Close()

	if target == 0 {
		err = m.Down()
	} else {
		err = m.Migrate(uint(target))
	}
	if err != nil && !errors.Is(err, migrate.ErrNoChange) {
		return fmt.Errorf("migrate to version %d: %w", target, err)
	}

	return nil
}

// migrateDriver is golang-migrate's database.Driver over the store's own
// connections, as tapd's is over its own. Unlike golang-migrate's drivers it
// applies a migration and records its version in one transaction, so a
// migration that fails leaves the previous version, clean, rather than a
// dirty one that needs an operator.
type migrateDriver struct {
	ctx context.Context
	db  *DB

	// lockConn holds Postgres's session advisory lock between Lock and
	// Unlock.
	lockConn *sql.Conn

	// target is the version the migration being run leads to, set by
	// SetVersion(target, true) just before Run.
	target int

	// current is the version as last read or written by this driver; Run
	// refuses to apply a migration over a version another process
	// changed meanwhile.
	current int
}

// A compile-time check that migrateDriver is a golang-migrate driver.
var _ database.Driver = (*migrateDriver)(nil)

// beginTx begins a migration transaction on the writer. On Postgres it runs
// at READ COMMITTED, since DDL and the version must see what an earlier
// lock holder committed; SQLite's writer runs one transaction at a time.
func (d *migrateDriver) beginTx() (*sql.Tx, error) {
	opts := &sql.TxOptions{}
	if d.db.cfg.Backend == Postgres {
		opts.Isolation = sql.LevelReadCommitted
	}
	tx, err := d.db.writer.BeginTx(d.ctx, opts)
	if err != nil {
		return nil, fmt.Errorf("migrate: begin: %w", mapError(err))
	}

	return tx, nil
}

// versionTable creates golang-migrate's version table, first carrying over
// the version of a database the per-dialect runner migrated: its table,
// recognised by its applied_at column, is replaced by golang-migrate's
// holding its highest version, in one transaction.
func (d *migrateDriver) versionTable() error {
	tx, err := d.beginTx()
	if err != nil {
		return err
	}
	defer func() {
		_ = tx.Rollback()
	}()

	ctx := d.ctx
	if d.db.cfg.Backend == Postgres {
		_, err := tx.ExecContext(ctx,
			"SELECT pg_advisory_xact_lock("+pgMigrationLock+")")
		if err != nil {
			return fmt.Errorf("migrate: lock: %w", mapError(err))
		}
	}

	legacyQuery := `SELECT COUNT(*) FROM pragma_table_info('` +
		versionTable + `') WHERE name = 'applied_at'`
	if d.db.cfg.Backend == Postgres {
		legacyQuery = `SELECT COUNT(*) FROM information_schema.columns
			WHERE table_schema = current_schema()
			AND table_name = '` + versionTable + `'
			AND column_name = 'applied_at'`
	}
	var legacy int
	if err := tx.QueryRowContext(ctx, legacyQuery).Scan(&legacy); err != nil {
		return fmt.Errorf("migrate: look for the old version table: "+
			"%w", mapError(err))
	}

	if legacy > 0 {
		// A query text of its own: pgx caches a statement's result
		// type per text, and the old table's version is an INTEGER
		// where golang-migrate's is a BIGINT.
		var version int
		err := tx.QueryRowContext(ctx, "SELECT COALESCE(MAX(version), "+
			"0) AS legacy_version FROM "+versionTable).Scan(&version)
		if err != nil {
			return fmt.Errorf("migrate: read the old version "+
				"table: %w", mapError(err))
		}
		stmts := []string{"DROP TABLE " + versionTable,
			createVersionTable}
		for _, stmt := range stmts {
			if _, err := tx.ExecContext(ctx, stmt); err != nil {
				return fmt.Errorf("migrate: replace the old "+
					"version table: %w", mapError(err))
			}
		}
		if version > 0 {
			if err := writeVersion(ctx, tx, version); err != nil {
				return err
			}
		}
		log.Infof("Carried schema version %d over to golang-migrate",
			version)
	} else if _, err := tx.ExecContext(ctx, createVersionTable); err != nil {
		return fmt.Errorf("migrate: create version table: %w",
			mapError(err))
	}
	for _, stmt := range []string{createKindsTable, createInstancesTable} {
		if _, err := tx.ExecContext(ctx, stmt); err != nil {
			return fmt.Errorf("migrate: create the upgrade tables: "+
				"%w", mapError(err))
		}
	}
	if err := d.db.backfillKinds(ctx, tx); err != nil {
		return err
	}

	if err := tx.Commit(); err != nil {
		return fmt.Errorf("migrate: commit: %w", mapError(err))
	}

	return nil
}

// writeVersion records version, clean, as the schema's only version row;
// version 0 or below leaves no row.
func writeVersion(ctx context.Context, tx *sql.Tx, version int) error {
	_, err := tx.ExecContext(ctx, "DELETE FROM "+versionTable)
	if err == nil && version > 0 {
		_, err = tx.ExecContext(ctx, "INSERT INTO "+versionTable+
			" (version, dirty) VALUES ($1, $2)", version, false)
	}
	if err != nil {
		return fmt.Errorf("migrate: record version %d: %w", version,
			mapError(err))
	}

	return nil
}

// Open is not used: the store hands golang-migrate an open driver.
func (d *migrateDriver) Open(string) (database.Driver, error) {
	return nil, errors.New("migrate: the store's driver is not opened " +
		"by URL")
}

// Close leaves the store's connections open; DB.Close closes them.
func (d *migrateDriver) Close() error {
	return nil
}

// Lock takes Postgres's advisory lock for the schema, held on a connection
// of its own until Unlock. SQLite needs none: its writer begins every
// transaction IMMEDIATE, and Run checks the version under that lock.
func (d *migrateDriver) Lock() error {
	if d.db.cfg.Backend != Postgres {
		return nil
	}
	conn, err := d.db.writer.Conn(d.ctx)
	if err != nil {
		return fmt.Errorf("migrate: lock: %w", mapError(err))
	}
	_, err = conn.ExecContext(d.ctx,
		"SELECT pg_advisory_lock("+pgMigrationLock+")")
	if err != nil {
		return errors.Join(fmt.Errorf("migrate: lock: %w",
			mapError(err)), conn.Close())
	}
	d.lockConn = conn

	return nil
}

// Unlock releases Lock's advisory lock.
func (d *migrateDriver) Unlock() error {
	if d.lockConn == nil {
		return nil
	}
	conn := d.lockConn
	d.lockConn = nil

	// A background context: the lock must be released even when the
	// migration's context is done.
	_, err := conn.ExecContext(context.Background(),
		"SELECT pg_advisory_unlock("+pgMigrationLock+")")

	return errors.Join(mapError(err), conn.Close())
}

// Run applies one migration and records the version it leads to, in one
// transaction.
func (d *migrateDriver) Run(migration io.Reader) error {
	body, err := io.ReadAll(migration)
	if err != nil {
		return fmt.Errorf("migrate: read migration: %w", err)
	}

	// golang-migrate names the target of a down migration, one below
	// the migration it undoes.
	version, direction := d.target, "up"
	if d.target < d.current {
		version, direction = d.current, "down"
	}
	name := d.db.migrations.name(version)

	tx, err := d.beginTx()
	if err != nil {
		return err
	}
	defer func() {
		_ = tx.Rollback()
	}()

	current, err := readVersion(d.ctx, tx)
	if err != nil {
		return fmt.Errorf("migrate: %w", err)
	}
	if current != d.current {
		return fmt.Errorf("migrate: schema moved from version %d to "+
			"%d while migrating", d.current, current)
	}

	if direction == "up" && d.db.migrations.kind(version) == Breaking {
		// Under the registry lock, so that no instance whose binary
		// lacks it registers between this check and the commit.
		if err := d.db.lockRegistry(d.ctx, tx); err != nil {
			return err
		}
		err := d.db.checkInstances(d.ctx, tx, version)
		if err != nil {
			return err
		}
	}
	if _, err := tx.ExecContext(d.ctx, string(body)); err != nil {
		return fmt.Errorf("migration %d (%s) %s: %w", version, name,
			direction, mapError(err))
	}
	if direction == "up" {
		err = d.db.recordKind(d.ctx, tx, version, true)
	} else {
		_, err = tx.ExecContext(d.ctx, "DELETE FROM "+kindsTable+
			" WHERE version = $1", version)
		err = mapError(err)
	}
	if err != nil {
		return fmt.Errorf("migration %d (%s) %s: %w", version, name,
			direction, err)
	}
	if err := writeVersion(d.ctx, tx, d.target); err != nil {
		return err
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("migrate: commit: %w", mapError(err))
	}
	d.current = d.target

	return nil
}

// SetVersion is called with dirty set before each Run, and clean after it.
// Run records the version in the migration's own transaction, so the dirty
// call only says which version Run leads to, and the clean one writes only
// a version Run did not (golang-migrate's Force).
func (d *migrateDriver) SetVersion(version int, dirty bool) error {
	if version < 0 {
		version = 0
	}
	if dirty {
		d.target = version
		if version > d.current {
			log.Infof("Applying migration %d (%s)", version,
				d.db.migrations.name(version))
		} else {
			log.Warnf("Reverting migration %d (%s)", d.current,
				d.db.migrations.name(d.current))
		}
		return nil
	}
	if version == d.current {
		return nil
	}

	tx, err := d.beginTx()
	if err != nil {
		return err
	}
	defer func() {
		_ = tx.Rollback()
	}()
	if err := writeVersion(d.ctx, tx, version); err != nil {
		return err
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("migrate: commit: %w", mapError(err))
	}
	d.current = version

	return nil
}

// Version returns the schema version, database.NilVersion for an empty
// database. It is never dirty: Run records a version only with its
// migration.
func (d *migrateDriver) Version() (int, bool, error) {
	version, err := readVersion(d.ctx, d.db.writer)
	if err != nil {
		return 0, false, fmt.Errorf("migrate: %w", err)
	}
	d.current = version
	if version == 0 {
		return database.NilVersion, false, nil
	}

	return version, false, nil
}

// Drop is refused: the store never drops a whole database.
func (d *migrateDriver) Drop() error {
	return errors.New("migrate: drop is not supported")
}
