package store_test

import (
	"context"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"github.com/sluice-ln/sluice/store"
	"github.com/sluice-ln/sluice/store/storetest"
)

// legacyDir holds the per-dialect migrations 1 to 5 as binaries before
// golang-migrate carried them: a fixture of the schema existing databases
// have.
const legacyDir = "testdata/v5"

// legacyVersion is the last version the fixture holds.
const legacyVersion = 5

// readLegacy returns the fixture's files of backend, by file name.
func readLegacy(t *testing.T, backend store.Backend) map[string]string {
	t.Helper()

	dir := filepath.Join(legacyDir, string(backend))
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	files := make(map[string]string)
	for _, e := range entries {
		body, err := os.ReadFile(filepath.Join(dir, e.Name()))
		if err != nil {
			t.Fatal(err)
		}
		files[e.Name()] = string(body)
	}
	if len(files) != 2*legacyVersion {
		t.Fatalf("%s holds %d files, want %d", dir, len(files),
			2*legacyVersion)
	}

	return files
}

// TestSQLiteSchemaMatchesLegacy checks that the one schema, with SQLite's
// replacements, is byte for byte the SQLite schema of the per-dialect
// migrations (SQLite keeps each CREATE statement's text, so any difference
// would be a different schema), and that without its markers it is the
// PostgreSQL one.
func TestSQLiteSchemaMatchesLegacy(t *testing.T) {
	t.Parallel()

	lite := readLegacy(t, store.SQLite)
	pg := readLegacy(t, store.Postgres)
	for name, want := range lite {
		body, err := fs.ReadFile(store.EmbeddedMigrations,
			"migrations/"+name)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		got, err := store.SQLiteSchema(string(body))
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if got != want {
			t.Errorf("%s for SQLite differs from the legacy "+
				"file:\n%s\nwant:\n%s", name, got, want)
		}

		unmarked := strings.NewReplacer(" /* sqlite: rowid */", "",
			" /* sqlite: WITHOUT ROWID */", "").Replace(string(body))
		if unmarked != pg[name] {
			t.Errorf("%s differs from the legacy PostgreSQL file",
				name)
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
// to golang-migrate's table, later migrations applied, and the data kept.
func TestMigrateLegacyDatabase(t *testing.T) {
	t.Parallel()

	storetest.ForEachBackend(t, func(t *testing.T, cfg store.Config) {
		t.Parallel()
		ctx := context.Background()

		files := readLegacy(t, cfg.Backend)
		var ups []string
		for name := range files {
			if strings.HasSuffix(name, ".up.sql") {
				ups = append(ups, name)
			}
		}
		sort.Strings(ups)

		raw := rawOpen(t, cfg)
		exec := func(q string, args ...any) {
			t.Helper()
			if _, err := raw.ExecContext(ctx, q, args...); err != nil {
				t.Fatalf("%.60s: %v", q, err)
			}
		}
		exec(`CREATE TABLE schema_migrations (
			version INTEGER PRIMARY KEY,
			name TEXT NOT NULL,
			applied_at TIMESTAMP NOT NULL)`)
		for i, name := range ups {
			exec(files[name])
			exec(`INSERT INTO schema_migrations (version, name,
				applied_at) VALUES ($1, $2, CURRENT_TIMESTAMP)`,
				i+1, strings.TrimSuffix(name[7:], ".up.sql"))
		}
		exec(`INSERT INTO accounts (kind, ref, balance, created_at)
			VALUES ('vault', 'v1', 42, CURRENT_TIMESTAMP)`)

		// SQLite's accounts table must come through untouched.
		var sqliteSQL string
		if cfg.Backend == store.SQLite {
			err := raw.QueryRowContext(ctx, `SELECT sql FROM
				sqlite_master WHERE name = 'accounts'`).
				Scan(&sqliteSQL)
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

			var bal int64
			err = db.ExecTx(ctx, store.TxOptions{ReadOnly: true},
				func(tx *store.Tx) error {
					return tx.QueryRow(ctx, `SELECT balance
						FROM accounts WHERE kind =
						'vault' AND ref = 'v1'`).Scan(&bal)
				})
			if err != nil || bal != 42 {
				t.Fatalf("open %d: balance %d, %v; want 42", i,
					bal, err)
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
				t.Fatalf("accounts changed: %q, %v", after, err)
			}
		}
	})
}

// TestFreshSQLiteMatchesLegacy checks that a database created by the store
// today has the same SQLite schema, statement for statement, as one the
// per-dialect migrations created.
func TestFreshSQLiteMatchesLegacy(t *testing.T) {
	t.Parallel()
	ctx := context.Background()

	schema := func(cfg store.Config) map[string]string {
		raw := rawOpen(t, cfg)
		rows, err := raw.QueryContext(ctx, `SELECT name, sql FROM
			sqlite_master WHERE sql IS NOT NULL
			AND name <> 'schema_migrations'`)
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
	files := readLegacy(t, store.SQLite)
	var ups []string
	for name := range files {
		if strings.HasSuffix(name, ".up.sql") {
			ups = append(ups, name)
		}
	}
	sort.Strings(ups)
	for _, name := range ups {
		if _, err := raw.ExecContext(ctx, files[name]); err != nil {
			t.Fatalf("%s: %v", name, err)
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
