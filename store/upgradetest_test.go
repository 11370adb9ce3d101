//go:build upgradetest

package store_test

import (
	"context"
	"testing"

	"github.com/sluice-ln/sluice/store"
	"github.com/sluice-ln/sluice/store/storetest"
)

// TestUpgradeTestBuild: the upgradetest build carries one additive
// migration more, and today's set runs on the schema it made.
func TestUpgradeTestBuild(t *testing.T) {
	t.Parallel()

	kinds, err := store.MigrationKinds(store.UpgradeMigrations(),
		"migrations")
	if err != nil {
		t.Fatal(err)
	}
	if len(kinds) != 20 || kinds[19] != store.Additive {
		t.Fatalf("kinds %v: want 20, the last additive", kinds)
	}

	storetest.ForEachBackend(t, func(t *testing.T, cfg store.Config) {
		t.Parallel()
		ctx := context.Background()

		db := storetest.Open(t, cfg)
		if v := schemaVersion(t, db); v != 20 {
			t.Fatalf("version %d, want 20", v)
		}
		db.Close()

		// Today's migrations (19) on the newer schema.
		old, err := store.OpenWithMigrations(ctx, cfg,
			store.EmbeddedMigrations, "migrations")
		if err != nil {
			t.Fatalf("today's set on version 20: %v", err)
		}
		old.Close()
	})
}
