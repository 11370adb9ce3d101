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

	today, err := store.LoadMigrations(store.EmbeddedMigrations,
		"migrations")
	if err != nil {
		t.Fatal(err)
	}
	kinds, err := store.MigrationKinds(store.UpgradeMigrations(),
		"migrations")
	if err != nil {
		t.Fatal(err)
	}
	if len(kinds) != today+1 || kinds[today] != store.Additive {
		t.Fatalf("kinds %v: want %d, the last additive", kinds,
			today+1)
	}

	storetest.ForEachBackend(t, func(t *testing.T, cfg store.Config) {
		t.Parallel()
		ctx := context.Background()

		db := storetest.Open(t, cfg)
		if v := schemaVersion(t, db); v != today+1 {
			t.Fatalf("version %d, want %d", v, today+1)
		}
		db.Close()

		// Today's migrations on the newer schema.
		old, err := store.OpenWithMigrations(ctx, cfg,
			store.EmbeddedMigrations, "migrations")
		if err != nil {
			t.Fatalf("today's set on the newer schema: %v", err)
		}
		old.Close()
	})
}
