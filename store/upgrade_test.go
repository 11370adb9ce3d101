package store_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"testing/fstest"
	"time"

	"github.com/sluice-ln/sluice/store"
	"github.com/sluice-ln/sluice/store/storetest"
)

// withKind is twoStep with version 2 marked kind ("" leaves it unmarked).
func withKind(kind string) fstest.MapFS {
	fsys := twoStep()
	if kind != "" {
		body := "-- sluice: " + kind + "\n" +
			string(fsys["m/000002_two.up.sql"].Data)
		fsys["m/000002_two.up.sql"] = file(body)
	}

	return fsys
}

// instanceCfg is cfg for the instance named id.
func instanceCfg(cfg store.Config, id string) store.Config {
	cfg.InstanceID = id
	cfg.InstanceTTL = time.Minute

	return cfg
}

// wantErr fails the test unless err is target and says every part.
func wantErr(t *testing.T, err, target error, parts ...string) {
	t.Helper()

	if !errors.Is(err, target) {
		t.Fatalf("got %v, want %v", err, target)
	}
	for _, p := range parts {
		if !strings.Contains(err.Error(), p) {
			t.Errorf("error %q does not say %q", err, p)
		}
	}
}

// TestMigrationKinds checks the kind markers: additive, breaking, unmarked
// (breaking) and an unknown kind (refused); and that the embedded set is
// marked, with migration 11 the one breaking migration.
func TestMigrationKinds(t *testing.T) {
	t.Parallel()

	if _, err := store.LoadMigrations(withKind("sideways"), "m"); err == nil ||
		!strings.Contains(err.Error(), "unknown migration kind") {

		t.Fatalf("a migration of kind sideways: %v", err)
	}

	kinds, err := store.MigrationKinds(store.EmbeddedMigrations,
		"migrations")
	if err != nil {
		t.Fatal(err)
	}
	for i, k := range kinds {
		want := store.Additive
		if i+1 == 11 {
			want = store.Breaking
		}
		if k != want {
			t.Errorf("migration %d is %s, want %s", i+1, k, want)
		}
	}

	for marker, want := range map[string]store.MigrationKind{
		"additive": store.Additive, "breaking": store.Breaking,
		"": store.Breaking,
	} {
		kinds, err := store.MigrationKinds(withKind(marker), "m")
		if err != nil || kinds[1] != want {
			t.Errorf("marker %q: %v, %v; want %s", marker, kinds,
				err, want)
		}
	}
}

// TestUnknownAdditiveMigration: an older binary runs on a database a newer
// one migrated additively, side by side with it, and the kinds table says
// what each version was.
func TestUnknownAdditiveMigration(t *testing.T) {
	t.Parallel()

	storetest.ForEachBackend(t, func(t *testing.T, cfg store.Config) {
		t.Parallel()
		ctx := context.Background()

		old, err := store.OpenWithMigrations(ctx,
			instanceCfg(cfg, "one"), onlyFirst(), "m")
		if err != nil {
			t.Fatal(err)
		}
		defer old.Close()

		// The newer binary applies its additive migration while the
		// old instance is live.
		newer, err := store.OpenWithMigrations(ctx,
			instanceCfg(cfg, "two"), withKind("additive"), "m")
		if err != nil {
			t.Fatalf("additive migration under an old instance: %v",
				err)
		}
		defer newer.Close()
		if v := schemaVersion(t, newer); v != 2 {
			t.Fatalf("version %d, want 2", v)
		}

		// The old binary restarts on the newer schema and works.
		old.Close()
		old, err = store.OpenWithMigrations(ctx,
			instanceCfg(cfg, "one"), onlyFirst(), "m")
		if err != nil {
			t.Fatalf("old binary on an additive newer schema: %v",
				err)
		}
		if v := schemaVersion(t, old); v != 2 {
			t.Fatalf("version %d, want 2 left as it was", v)
		}
		err = old.ExecTx(ctx, store.TxOptions{}, func(tx *store.Tx) error {
			return tx.Exec(ctx, "INSERT INTO one (id) VALUES (1)")
		})
		if err != nil {
			t.Fatalf("old binary writes its table: %v", err)
		}
		// But it cannot migrate down through a version it lacks.
		wantErr(t, old.MigrateTo(ctx, 0), store.ErrSchemaTooNew,
			"version 2")

		ins, err := newer.Instances(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if len(ins) != 2 || ins[0].ID != "one" ||
			ins[0].KnownVersion != 1 || ins[1].ID != "two" ||
			ins[1].KnownVersion != 2 {

			t.Fatalf("instances %+v, want one@1 and two@2", ins)
		}

		raw := rawOpen(t, cfg)
		var kind, name string
		err = raw.QueryRowContext(ctx, "SELECT kind, name FROM "+
			"schema_migration_kinds WHERE version = 2").Scan(&kind,
			&name)
		if err != nil || kind != "additive" || name != "two" {
			t.Fatalf("kind of version 2: %q %q %v", kind, name, err)
		}

		// Closing deregisters.
		old.Close()
		ins, err = newer.Instances(ctx)
		if err != nil || len(ins) != 1 || ins[0].ID != "two" {
			t.Fatalf("instances after one closed: %+v, %v", ins,
				err)
		}
	})
}

// TestUnknownBreakingMigration: an older binary refuses a database with a
// breaking (or unmarked) migration it does not know and says which, and a
// newer binary refuses to apply a breaking migration while an instance
// whose binary lacks it is live, naming it.
func TestUnknownBreakingMigration(t *testing.T) {
	t.Parallel()

	for _, marker := range []string{"breaking", ""} {
		storetest.ForEachBackend(t, func(t *testing.T, cfg store.Config) {
			t.Parallel()
			ctx := context.Background()

			old, err := store.OpenWithMigrations(ctx,
				instanceCfg(cfg, "old-1"), onlyFirst(), "m")
			if err != nil {
				t.Fatal(err)
			}

			// The new binary refuses while old-1 is live, and
			// leaves the schema and the registry as they were.
			_, err = store.OpenWithMigrations(ctx,
				instanceCfg(cfg, "new-1"), withKind(marker), "m")
			wantErr(t, err, store.ErrInstanceBehind,
				"migration 2 (two) is breaking", `"old-1"`,
				"up to version 1")
			if v := schemaVersion(t, old); v != 1 {
				t.Fatalf("version %d after the refusal, want 1",
					v)
			}
			ins, err := old.Instances(ctx)
			if err != nil || len(ins) != 1 || ins[0].ID != "old-1" {
				t.Fatalf("instances %+v, %v; want old-1 alone",
					ins, err)
			}

			// Once old-1 stopped, it applies.
			old.Close()
			newer, err := store.OpenWithMigrations(ctx,
				instanceCfg(cfg, "new-1"), withKind(marker), "m")
			if err != nil {
				t.Fatal(err)
			}
			defer newer.Close()

			// And the old binary now refuses to start, saying why.
			_, err = store.OpenWithMigrations(ctx,
				instanceCfg(cfg, "old-1"), onlyFirst(), "m")
			wantErr(t, err, store.ErrSchemaTooNew, "version 2",
				"breaking", "up to 1")
		})
	}
}

// TestExpiredInstance: a registration whose heartbeat is older than the
// TTL does not hold back a breaking migration.
func TestExpiredInstance(t *testing.T) {
	t.Parallel()

	storetest.ForEachBackend(t, func(t *testing.T, cfg store.Config) {
		t.Parallel()
		ctx := context.Background()

		old, err := store.OpenWithMigrations(ctx,
			instanceCfg(cfg, "gone"), onlyFirst(), "m")
		if err != nil {
			t.Fatal(err)
		}
		defer old.Close()

		// gone's last heartbeat is two TTLs old: it died.
		raw := rawOpen(t, cfg)
		_, err = raw.ExecContext(ctx, "UPDATE sluice_instances SET "+
			"heartbeat_ms = $1", time.Now().Add(-2*time.Minute).
			UnixMilli())
		if err != nil {
			t.Fatal(err)
		}

		newer, err := store.OpenWithMigrations(ctx,
			instanceCfg(cfg, "new"), withKind("breaking"), "m")
		if err != nil {
			t.Fatalf("breaking migration past an expired "+
				"instance: %v", err)
		}
		defer newer.Close()
	})
}

// TestKindsBackfilled: a database migrated before the kinds table existed
// gets a row for each version it is at.
func TestKindsBackfilled(t *testing.T) {
	t.Parallel()

	storetest.ForEachBackend(t, func(t *testing.T, cfg store.Config) {
		t.Parallel()
		ctx := context.Background()

		db := storetest.Open(t, cfg)
		latest := db.LatestKnownVersion()
		db.Close()

		raw := rawOpen(t, cfg)
		if _, err := raw.ExecContext(ctx, "DROP TABLE "+
			"schema_migration_kinds"); err != nil {
			t.Fatal(err)
		}
		// Opening it again fills the kinds in.
		storetest.Open(t, cfg)
		var n, breaking int
		err := raw.QueryRowContext(ctx, "SELECT COUNT(*), "+
			"COALESCE(SUM(CASE WHEN kind = 'breaking' THEN 1 ELSE 0 "+
			"END), 0) FROM schema_migration_kinds").Scan(&n,
			&breaking)
		if err != nil || n != latest || breaking != 1 {
			t.Fatalf("%d kinds (%d breaking), %v; want %d (1)", n,
				breaking, err, latest)
		}
	})
}
