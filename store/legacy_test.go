package store_test

import (
	"context"
	"crypto/sha256"
	"database/sql"
	"encoding/hex"
	"fmt"
	"io/fs"
	"os"
	"path"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/sluice-ln/sluice/store"
	"github.com/sluice-ln/sluice/store/storetest"
)

// legacyDigests holds, in sha256sum's format, the SHA-256 of each file of
// the per-dialect migrations 1 to 5 that binaries before golang-migrate
// carried (store/migrations/{sqlite,postgres} as of commit 7159fd4): the
// schema existing databases have. The files themselves are gone; today's
// migrations, derived per dialect, must hash to them, which stands for the
// byte for byte comparison with the old files.
const legacyDigests = "testdata/legacy-v5.sha256"

// legacyVersion is the last version the per-dialect migrations held.
const legacyVersion = 5

// legacyVersionTable is the per-dialect runner's version table, created as
// that runner did before each migration, one row per applied migration.
const legacyVersionTable = `CREATE TABLE IF NOT EXISTS schema_migrations (
    version INTEGER PRIMARY KEY,
    name TEXT NOT NULL,
    applied_at TIMESTAMP NOT NULL
)`

// readLegacyDigests returns the old files' hex SHA-256 digests by backend
// and file name, checking that each backend has all of its files.
func readLegacyDigests(t *testing.T) map[store.Backend]map[string]string {
	t.Helper()

	body, err := os.ReadFile(legacyDigests)
	if err != nil {
		t.Fatal(err)
	}
	digests := map[store.Backend]map[string]string{
		store.SQLite: {}, store.Postgres: {},
	}
	for _, line := range strings.Split(strings.TrimSpace(string(body)),
		"\n") {

		fields := strings.Fields(line)
		if len(fields) != 2 || len(fields[0]) != 2*sha256.Size {
			t.Fatalf("%s: malformed line %q", legacyDigests, line)
		}
		dir, name := path.Split(fields[1])
		files, ok := digests[store.Backend(strings.TrimSuffix(dir,
			"/"))]
		if !ok {
			t.Fatalf("%s: unknown backend in %q", legacyDigests,
				line)
		}
		files[name] = fields[0]
	}
	for backend, files := range digests {
		if len(files) != 2*legacyVersion {
			t.Fatalf("%s: %d files for %s, want %d", legacyDigests,
				len(files), backend, 2*legacyVersion)
		}
	}

	return digests
}

// legacyText derives, from today's migration file name, the text the
// per-dialect migration of that name held for backend: SQLite's with the
// replacements, PostgreSQL's with the markers removed.
func legacyText(backend store.Backend, name string) (string, error) {
	raw, err := fs.ReadFile(store.EmbeddedMigrations, "migrations/"+name)
	if err != nil {
		return "", err
	}
	// The kind marker on an up migration's first line came after them.
	body := string(raw)
	if strings.HasPrefix(body, "-- sluice: ") {
		_, body, _ = strings.Cut(body, "\n")
	}
	if backend == store.SQLite {
		return store.SQLiteSchema(body)
	}

	return strings.NewReplacer(" /* sqlite: rowid */", "",
		" /* sqlite: WITHOUT ROWID */", "").Replace(body), nil
}

// sha256Hex is the hex SHA-256 digest of s, as sha256sum writes it.
func sha256Hex(s string) string {
	sum := sha256.Sum256([]byte(s))
	return hex.EncodeToString(sum[:])
}

// legacyMigration is one up migration as the per-dialect runner applied it.
type legacyMigration struct {
	version int
	name    string
	up      string
}

// legacyUps returns the up migrations 1 to legacyVersion as the per-dialect
// runner ran them on backend, in version order: derived from today's files
// and each checked against the old file's digest, so a database built from
// them is one that runner built.
func legacyUps(t *testing.T, backend store.Backend) []legacyMigration {
	t.Helper()

	files := readLegacyDigests(t)[backend]
	var names []string
	for name := range files {
		if strings.HasSuffix(name, ".up.sql") {
			names = append(names, name)
		}
	}
	sort.Strings(names)

	ups := make([]legacyMigration, 0, len(names))
	for i, name := range names {
		if !strings.HasPrefix(name, fmt.Sprintf("%06d_", i+1)) {
			t.Fatalf("%s for %s: want version %d", name, backend,
				i+1)
		}
		text, err := legacyText(backend, name)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if sha256Hex(text) != files[name] {
			t.Fatalf("%s for %s differs from the legacy file",
				name, backend)
		}
		ups = append(ups, legacyMigration{
			version: i + 1,
			name:    strings.TrimSuffix(name[7:], ".up.sql"),
			up:      text,
		})
	}

	return ups
}

// legacyMigrate migrates the empty database raw to legacyVersion as the
// per-dialect runner did: each migration in its own transaction, after
// creating the version table if need be, and recorded with its name and a
// UTC time.
func legacyMigrate(t *testing.T, raw *sql.DB, backend store.Backend) {
	t.Helper()
	ctx := context.Background()

	appliedAt := time.Date(2026, 11, 1, 12, 0, 0, 0, time.UTC)
	for _, mig := range legacyUps(t, backend) {
		tx, err := raw.BeginTx(ctx, nil)
		if err != nil {
			t.Fatal(err)
		}
		for _, stmt := range []string{legacyVersionTable, mig.up} {
			if _, err := tx.ExecContext(ctx, stmt); err != nil {
				t.Fatalf("%d (%s): %.60s: %v", mig.version,
					mig.name, stmt, err)
			}
		}
		_, err = tx.ExecContext(ctx, "INSERT INTO schema_migrations "+
			"(version, name, applied_at) VALUES ($1, $2, $3)",
			mig.version, mig.name, appliedAt)
		if err != nil {
			t.Fatalf("%d (%s): record: %v", mig.version, mig.name,
				err)
		}
		if err := tx.Commit(); err != nil {
			t.Fatal(err)
		}
	}
}

// TestSQLiteSchemaMatchesLegacy checks that the one schema, with SQLite's
// replacements, is byte for byte the SQLite schema of the per-dialect
// migrations (SQLite keeps each CREATE statement's text, so any difference
// would be a different schema), and that without its markers it is the
// PostgreSQL one: each derived file hashes to the old file's digest.
func TestSQLiteSchemaMatchesLegacy(t *testing.T) {
	t.Parallel()

	for backend, files := range readLegacyDigests(t) {
		for name, want := range files {
			got, err := legacyText(backend, name)
			if err != nil {
				t.Fatalf("%s: %v", name, err)
			}
			if sum := sha256Hex(got); sum != want {
				t.Errorf("%s for %s differs from the legacy "+
					"file: SHA-256 %s, want %s:\n%s", name,
					backend, sum, want, got)
			}
		}
	}
}

// TestSQLiteSchema checks the replacements on their own, and that a
// marker they do not know is refused rather than left in.
func TestSQLiteSchema(t *testing.T) {
	t.Parallel()

	tests := []struct {
		name, pg, want, errMsg string
	}{{
		name: "identity",
		pg:   "id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,",
		want: "id INTEGER PRIMARY KEY AUTOINCREMENT,",
	}, {
		name: "rowid alias",
		pg: "id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY " +
			"/* sqlite: rowid */,",
		want: "id INTEGER PRIMARY KEY,",
	}, {
		name: "types",
		pg:   "a BIGINT, b TIMESTAMPTZ, c INTEGER, d TEXT",
		want: "a INTEGER, b TIMESTAMP, c INTEGER, d TEXT",
	}, {
		name: "without rowid",
		pg:   "CREATE TABLE t (a BIGINT) /* sqlite: WITHOUT ROWID */;",
		want: "CREATE TABLE t (a INTEGER) WITHOUT ROWID;",
	}, {
		name:   "unknown marker",
		pg:     "CREATE TABLE t (a BIGINT) /* sqlite: STRICT */;",
		errMsg: "unknown SQLite marker",
	}}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := store.SQLiteSchema(tc.pg)
			if tc.errMsg != "" {
				if err == nil || !strings.Contains(err.Error(),
					tc.errMsg) {

					t.Fatalf("got %q, %v; want an error "+
						"with %q", got, err, tc.errMsg)
				}
				return
			}
			if err != nil || got != tc.want {
				t.Fatalf("got %q, %v; want %q", got, err,
					tc.want)
			}
		})
	}
}

// TestMigrateLegacyDatabase makes a database as the per-dialect runner did
// (its version table, its migrations 1 to 5) with a ledger transaction in
// it, opens it with the store, and checks that the version was carried over
// to golang-migrate's table, later migrations applied, and the data kept:
// the old account counts msat.
func TestMigrateLegacyDatabase(t *testing.T) {
	t.Parallel()

	storetest.ForEachBackend(t, func(t *testing.T, cfg store.Config) {
		t.Parallel()
		ctx := context.Background()

		raw := rawOpen(t, cfg)
		exec := func(q string, args ...any) {
			t.Helper()
			if _, err := raw.ExecContext(ctx, q, args...); err != nil {
				t.Fatalf("%.60s: %v", q, err)
			}
		}
		legacyMigrate(t, raw, cfg.Backend)
		exec(`INSERT INTO accounts (kind, ref, balance, created_at)
			VALUES ('vault', 'v1', 42, CURRENT_TIMESTAMP)`)

		// SQLite's accounts table must come through as the later
		// migrations change it and no otherwise: carrying the version
		// over rebuilds nothing, so it ends as a fresh database's.
		var sqliteSQL string
		if cfg.Backend == store.SQLite {
			fresh := storetest.Config(t, store.SQLite)
			storetest.Open(t, fresh)
			err := rawOpen(t, fresh).QueryRowContext(ctx, `SELECT
				sql FROM sqlite_master WHERE name =
				'accounts'`).Scan(&sqliteSQL)
			if err != nil {
				t.Fatal(err)
			}
		}

		// Open it twice: the carry-over happens once and the second
		// open finds nothing to do.
		for i := 0; i < 2; i++ {
			db := storetest.Open(t, cfg)
			latest, err := store.LatestSchemaVersion(cfg.Backend)
			if err != nil {
				t.Fatal(err)
			}
			if v := schemaVersion(t, db); v != latest ||
				v < legacyVersion {

				t.Fatalf("open %d: version %d, want %d", i, v,
					latest)
			}

			var (
				bal  int64
				unit string
			)
			err = db.ExecTx(ctx, store.TxOptions{ReadOnly: true},
				func(tx *store.Tx) error {
					return tx.QueryRow(ctx, `SELECT balance,
						unit FROM accounts WHERE kind =
						'vault' AND ref = 'v1'`).Scan(&bal,
						&unit)
				})
			if err != nil || bal != 42 || unit != "msat" {
				t.Fatalf("open %d: balance %d in %q, %v; want "+
					"42 in msat", i, bal, unit, err)
			}
			db.Close()
		}

		// The old table is golang-migrate's now: one clean row.
		var version, rows int
		err := raw.QueryRowContext(ctx, `SELECT MAX(version), COUNT(*)
			FROM schema_migrations WHERE NOT dirty`).
			Scan(&version, &rows)
		if err != nil || rows != 1 || version < legacyVersion {
			t.Fatalf("version table: version %d in %d rows, %v",
				version, rows, err)
		}

		if cfg.Backend == store.SQLite {
			var after string
			err := raw.QueryRowContext(ctx, `SELECT sql FROM
				sqlite_master WHERE name = 'accounts'`).
				Scan(&after)
			if err != nil || after != sqliteSQL {
				t.Fatalf("accounts is\n%s\n%v; a fresh "+
					"database's is\n%s", after, err,
					sqliteSQL)
			}
		}
	})
}

// TestFreshSQLiteMatchesLegacy checks that a database created by the store
// today has the same SQLite schema, statement for statement, as one the
// per-dialect migrations created, apart from the tables of the migration
// runner itself (the version, the kinds and the instance registry).
func TestFreshSQLiteMatchesLegacy(t *testing.T) {
	t.Parallel()
	ctx := context.Background()

	schema := func(cfg store.Config) map[string]string {
		raw := rawOpen(t, cfg)
		rows, err := raw.QueryContext(ctx, `SELECT name, sql FROM
			sqlite_master WHERE sql IS NOT NULL
			AND name NOT IN ('schema_migrations',
				'schema_migration_kinds', 'sluice_instances')
			AND name NOT LIKE 'sqlite_autoindex_schema_migration_kinds%'
			AND name NOT LIKE 'sqlite_autoindex_sluice_instances%'`)
		if err != nil {
			t.Fatal(err)
		}
		defer rows.Close()
		got := make(map[string]string)
		for rows.Next() {
			var name, sql string
			if err := rows.Scan(&name, &sql); err != nil {
				t.Fatal(err)
			}
			got[name] = sql
		}
		if err := rows.Err(); err != nil {
			t.Fatal(err)
		}
		return got
	}

	legacy := storetest.Config(t, store.SQLite)
	raw := rawOpen(t, legacy)
	for _, mig := range legacyUps(t, store.SQLite) {
		if _, err := raw.ExecContext(ctx, mig.up); err != nil {
			t.Fatalf("%d (%s): %v", mig.version, mig.name, err)
		}
	}

	fresh := storetest.Config(t, store.SQLite)
	db := storetest.Open(t, fresh)
	if err := db.MigrateTo(ctx, legacyVersion); err != nil {
		t.Fatal(err)
	}

	want, got := schema(legacy), schema(fresh)
	if len(want) == 0 {
		t.Fatal("the legacy schema is empty")
	}
	for name, sql := range want {
		if got[name] != sql {
			t.Errorf("%s: got\n%s\nwant\n%s", name, got[name], sql)
		}
	}
	for name := range got {
		if _, ok := want[name]; !ok {
			t.Errorf("%s: not in the legacy schema", name)
		}
	}
}
