package store_test

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"testing"
	"testing/fstest"

	"github.com/sluice-ln/sluice/store"
	"github.com/sluice-ln/sluice/store/storetest"
)

// file is a migration file body for fstest.MapFS.
func file(body string) *fstest.MapFile {
	return &fstest.MapFile{Data: []byte(body)}
}

// twoStep is a small migration set: version 1 creates a table, version 2
// another one; both undo cleanly.
func twoStep() fstest.MapFS {
	return fstest.MapFS{
		"m/000001_one.up.sql": file(
			"CREATE TABLE one (id BIGINT PRIMARY KEY);"),
		"m/000001_one.down.sql": file("DROP TABLE one;"),
		"m/000002_two.up.sql": file(
			"CREATE TABLE two (id BIGINT PRIMARY KEY);\n" +
				"INSERT INTO two (id) VALUES (2);"),
		"m/000002_two.down.sql": file("DROP TABLE two;"),
	}
}

// onlyFirst is twoStep without version 2: what an older binary knows.
func onlyFirst() fstest.MapFS {
	fsys := twoStep()
	delete(fsys, "m/000002_two.up.sql")
	delete(fsys, "m/000002_two.down.sql")

	return fsys
}

// tableExists reports whether a query on the table succeeds.
func tableExists(t *testing.T, db *store.DB, table string) bool {
	t.Helper()

	err := db.ExecTx(context.Background(), store.TxOptions{ReadOnly: true},
		func(tx *store.Tx) error {
			var n int
			return tx.QueryRow(context.Background(),
				"SELECT COUNT(*) FROM "+table).Scan(&n)
		})

	return err == nil
}

// schemaVersion reads the version or fails the test.
func schemaVersion(t *testing.T, db *store.DB) int {
	t.Helper()

	v, err := db.SchemaVersion(context.Background())
	if err != nil {
		t.Fatalf("SchemaVersion: %v", err)
	}

	return v
}

// TestEmbeddedMigrations checks that both dialects carry the same versions
// and that every table of the ledger schema exists after Open.
func TestEmbeddedMigrations(t *testing.T) {
	t.Parallel()

	lite, err := store.LatestSchemaVersion(store.SQLite)
	if err != nil {
		t.Fatal(err)
	}
	pg, err := store.LatestSchemaVersion(store.Postgres)
	if err != nil {
		t.Fatal(err)
	}
	if lite != pg {
		t.Fatalf("SQLite has %d migrations, Postgres %d: every "+
			"migration needs both dialects", lite, pg)
	}
	if _, err := store.LatestSchemaVersion("mysql"); err == nil {
		t.Fatal("LatestSchemaVersion(mysql) succeeded")
	}

	storetest.ForEachBackend(t, func(t *testing.T, cfg store.Config) {
		t.Parallel()

		db := storetest.Open(t, cfg)
		tables := []string{"schema_migrations", "accounts",
			"ledger_transactions", "ledger_postings"}
		for _, table := range tables {
			if !tableExists(t, db, table) {
				t.Errorf("table %s is missing", table)
			}
		}
		if tableExists(t, db, "no_such_table") {
			t.Error("tableExists reports a table that is not there")
		}
	})
}

// TestMigrateUpFromEmpty applies a two-step set to an empty database, and
// an older binary's set leaves it alone.
func TestMigrateUpFromEmpty(t *testing.T) {
	t.Parallel()

	storetest.ForEachBackend(t, func(t *testing.T, cfg store.Config) {
		t.Parallel()
		ctx := context.Background()

		db, err := store.OpenWithMigrations(ctx, cfg, onlyFirst(), "m")
		if err != nil {
			t.Fatal(err)
		}
		if v := schemaVersion(t, db); v != 1 {
			t.Fatalf("version %d after the first set, want 1", v)
		}
		if !tableExists(t, db, "one") || tableExists(t, db, "two") {
			t.Fatal("after version 1: want table one and not two")
		}
		db.Close()

		db, err = store.OpenWithMigrations(ctx, cfg, twoStep(), "m")
		if err != nil {
			t.Fatal(err)
		}
		defer db.Close()
		if v := schemaVersion(t, db); v != 2 {
			t.Fatalf("version %d after the second set, want 2", v)
		}
		err = db.ExecTx(ctx, store.TxOptions{ReadOnly: true},
			func(tx *store.Tx) error {
				var id int
				err := tx.QueryRow(ctx, "SELECT id FROM two").
					Scan(&id)
				if err == nil && id != 2 {
					err = fmt.Errorf("two.id = %d, want 2",
						id)
				}
				return err
			})
		if err != nil {
			t.Fatalf("version 2's data: %v", err)
		}
	})
}

// TestReopenIsIdempotent checks that opening a migrated database again
// changes nothing and keeps its data.
func TestReopenIsIdempotent(t *testing.T) {
	t.Parallel()

	storetest.ForEachBackend(t, func(t *testing.T, cfg store.Config) {
		t.Parallel()
		ctx := context.Background()

		db, err := store.Open(ctx, cfg)
		if err != nil {
			t.Fatal(err)
		}
		first := schemaVersion(t, db)
		err = db.ExecTx(ctx, store.TxOptions{}, func(tx *store.Tx) error {
			return tx.Exec(ctx, `INSERT INTO accounts
				(kind, ref, balance, created_at)
				VALUES ('vault', '', 42, CURRENT_TIMESTAMP)`)
		})
		if err != nil {
			t.Fatal(err)
		}
		db.Close()

		for i := 0; i < 2; i++ {
			db = storetest.Open(t, cfg)
			if v := schemaVersion(t, db); v != first {
				t.Fatalf("reopen %d: version %d, want %d", i, v,
					first)
			}

			var bal int64
			err = db.ExecTx(ctx, store.TxOptions{ReadOnly: true},
				func(tx *store.Tx) error {
					return tx.QueryRow(ctx, "SELECT balance "+
						"FROM accounts WHERE kind = "+
						"'vault'").Scan(&bal)
				})
			if err != nil || bal != 42 {
				t.Fatalf("reopen %d: balance %d, %v; want 42",
					i, bal, err)
			}

			// golang-migrate keeps one clean version row.
			var n int
			err = db.ExecTx(ctx, store.TxOptions{ReadOnly: true},
				func(tx *store.Tx) error {
					return tx.QueryRow(ctx, "SELECT COUNT(*) "+
						"FROM schema_migrations WHERE "+
						"NOT dirty").Scan(&n)
				})
			if err != nil || n != 1 {
				t.Fatalf("reopen %d: %d clean version rows, "+
					"%v; want 1", i, n, err)
			}
		}
	})
}

// TestSchemaTooNew checks that a binary refuses a database that a newer one
// migrated, says both versions, and leaves the database as it was.
func TestSchemaTooNew(t *testing.T) {
	t.Parallel()

	storetest.ForEachBackend(t, func(t *testing.T, cfg store.Config) {
		t.Parallel()
		ctx := context.Background()

		// A newer binary (two migrations) migrates the database.
		db, err := store.OpenWithMigrations(ctx, cfg, twoStep(), "m")
		if err != nil {
			t.Fatal(err)
		}
		db.Close()

		// The older binary (one migration) must refuse it.
		_, err = store.OpenWithMigrations(ctx, cfg, onlyFirst(), "m")
		if !errors.Is(err, store.ErrSchemaTooNew) {
			t.Fatalf("open with older set: %v, want "+
				"ErrSchemaTooNew", err)
		}
		for _, n := range []string{"version 2", "up to 1"} {
			if !strings.Contains(err.Error(), n) {
				t.Errorf("error %q does not say %q", err, n)
			}
		}

		// And so must the real binary, for a version from the future.
		db, err = store.OpenWithMigrations(ctx, cfg, twoStep(), "m")
		if err != nil {
			t.Fatal(err)
		}
		err = db.ExecTx(ctx, store.TxOptions{}, func(tx *store.Tx) error {
			return tx.Exec(ctx,
				`UPDATE schema_migrations SET version = 999`)
		})
		if err != nil {
			t.Fatal(err)
		}
		db.Close()

		_, err = store.Open(ctx, cfg)
		if !errors.Is(err, store.ErrSchemaTooNew) {
			t.Fatalf("Open of a version 999 database: %v", err)
		}
		if !strings.Contains(err.Error(), "999") {
			t.Errorf("error %q does not name version 999", err)
		}

		// The refusals changed nothing: read the database behind the
		// store's back, since the store will not open it.
		raw := rawOpen(t, cfg)
		var version int
		err = raw.QueryRowContext(ctx, "SELECT MAX(version) FROM "+
			"schema_migrations").Scan(&version)
		if err != nil || version != 999 {
			t.Fatalf("version %d, %v after the refusals, want 999",
				version, err)
		}
		var two int
		err = raw.QueryRowContext(ctx, "SELECT id FROM two").Scan(&two)
		if err != nil || two != 2 {
			t.Fatalf("table two: %d, %v after the refusals", two, err)
		}
	})
}

// rawOpen opens the database of cfg with database/sql alone, bypassing the
// store's migrations.
func rawOpen(t *testing.T, cfg store.Config) *sql.DB {
	t.Helper()

	driver, dsn := "sqlite", cfg.SQLitePath
	if cfg.Backend == store.Postgres {
		driver, dsn = "pgx/v5", cfg.PostgresDSN
	}
	raw, err := sql.Open(driver, dsn)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { raw.Close() })

	return raw
}

// TestMigrateDown checks that MigrateTo undoes migrations in order and can
// come back up, and refuses versions it does not know.
func TestMigrateDown(t *testing.T) {
	t.Parallel()

	storetest.ForEachBackend(t, func(t *testing.T, cfg store.Config) {
		t.Parallel()
		ctx := context.Background()

		db, err := store.OpenWithMigrations(ctx, cfg, twoStep(), "m")
		if err != nil {
			t.Fatal(err)
		}
		defer db.Close()

		steps := []struct {
			to        int
			one, two  bool
			wantError bool
		}{
			{to: 1, one: true},
			{to: 0},
			{to: 2, one: true, two: true},
			{to: 0},
			{to: 3, wantError: true},
			{to: -1, wantError: true},
		}
		for _, s := range steps {
			err := db.MigrateTo(ctx, s.to)
			if s.wantError {
				if err == nil {
					t.Fatalf("MigrateTo(%d) succeeded", s.to)
				}
				continue
			}
			if err != nil {
				t.Fatalf("MigrateTo(%d): %v", s.to, err)
			}
			if v := schemaVersion(t, db); v != s.to {
				t.Fatalf("MigrateTo(%d): version %d", s.to, v)
			}
			if got := tableExists(t, db, "one"); got != s.one {
				t.Fatalf("MigrateTo(%d): table one exists = %v",
					s.to, got)
			}
			if got := tableExists(t, db, "two"); got != s.two {
				t.Fatalf("MigrateTo(%d): table two exists = %v",
					s.to, got)
			}
		}
	})
}

// TestEmbeddedMigrateDown checks that the real down migrations undo the
// real up migrations, leaving only the version table.
func TestEmbeddedMigrateDown(t *testing.T) {
	t.Parallel()

	storetest.ForEachBackend(t, func(t *testing.T, cfg store.Config) {
		t.Parallel()
		ctx := context.Background()

		db := storetest.Open(t, cfg)
		latest := schemaVersion(t, db)
		if err := db.MigrateTo(ctx, 0); err != nil {
			t.Fatal(err)
		}
		for _, table := range []string{"accounts",
			"ledger_transactions", "ledger_postings"} {

			if tableExists(t, db, table) {
				t.Errorf("table %s survived migrating down",
					table)
			}
		}
		if err := db.MigrateTo(ctx, latest); err != nil {
			t.Fatalf("back up: %v", err)
		}
		if !tableExists(t, db, "ledger_postings") {
			t.Fatal("ledger_postings missing after migrating up")
		}
	})
}

// TestFailedMigrationRollsBack checks that a migration that fails halfway
// leaves neither its changes nor its version behind.
func TestFailedMigrationRollsBack(t *testing.T) {
	t.Parallel()

	storetest.ForEachBackend(t, func(t *testing.T, cfg store.Config) {
		t.Parallel()
		ctx := context.Background()

		fsys := twoStep()
		fsys["m/000002_two.up.sql"] = file(
			"CREATE TABLE half (id INTEGER);\n" +
				"CREATE TABLE broken (;")

		_, err := store.OpenWithMigrations(ctx, cfg, fsys, "m")
		if err == nil || !strings.Contains(err.Error(),
			"migration 2 (two) up") {

			t.Fatalf("open with a broken migration: %v", err)
		}

		db, err := store.OpenWithMigrations(ctx, cfg, onlyFirst(), "m")
		if err != nil {
			t.Fatal(err)
		}
		defer db.Close()
		if v := schemaVersion(t, db); v != 1 {
			t.Fatalf("version %d after a failed migration 2, "+
				"want 1", v)
		}
		if tableExists(t, db, "half") {
			t.Fatal("the failed migration's first table survived")
		}
	})
}

// TestLoadMigrations checks that malformed migration sets are refused.
func TestLoadMigrations(t *testing.T) {
	t.Parallel()

	tests := []struct {
		name   string
		edit   func(fstest.MapFS)
		latest int
		errMsg string
	}{
		{
			name:   "valid",
			edit:   func(fstest.MapFS) {},
			latest: 2,
		},
		{
			name: "gap",
			edit: func(f fstest.MapFS) {
				f["m/000004_four.up.sql"] = file("")
				f["m/000004_four.down.sql"] = file("")
			},
			errMsg: "version 4 follows 2",
		},
		{
			name: "missing down",
			edit: func(f fstest.MapFS) {
				delete(f, "m/000002_two.down.sql")
			},
			errMsg: "no down file",
		},
		{
			name: "missing up",
			edit: func(f fstest.MapFS) {
				delete(f, "m/000001_one.up.sql")
			},
			errMsg: "no up file",
		},
		{
			name: "bad name",
			edit: func(f fstest.MapFS) {
				f["m/3_three.up.sql"] = file("")
			},
			errMsg: "unexpected entry",
		},
		{
			name: "names differ",
			edit: func(f fstest.MapFS) {
				f["m/000002_deux.down.sql"] = file("")
			},
			errMsg: "named both",
		},
		{
			name: "no directory",
			edit: func(f fstest.MapFS) {
				for name := range f {
					if strings.HasPrefix(name, "m/") {
						delete(f, name)
					}
				}
			},
			errMsg: "read migrations",
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			fsys := twoStep()
			tc.edit(fsys)

			latest, err := store.LoadMigrations(fsys, "m")
			if tc.errMsg == "" {
				if err != nil || latest != tc.latest {
					t.Fatalf("got %d, %v; want %d", latest,
						err, tc.latest)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(),
				tc.errMsg) {

				t.Fatalf("got %v, want an error with %q", err,
					tc.errMsg)
			}
		})
	}
}
