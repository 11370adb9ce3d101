package store_test

import (
	"context"
	"errors"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/sluice-ln/sluice/store"
	"github.com/sluice-ln/sluice/store/storetest"
)

// TestConfigValidation checks that Open refuses configs it cannot use and
// names the field.
func TestConfigValidation(t *testing.T) {
	t.Parallel()

	path := filepath.Join(t.TempDir(), "x.db")
	tests := []struct {
		name  string
		cfg   store.Config
		field string
	}{
		{"no backend", store.Config{}, "Backend"},
		{"unknown backend", store.Config{Backend: "mysql"}, "Backend"},
		{"sqlite without path", store.Config{Backend: store.SQLite},
			"SQLitePath"},
		{"sqlite path with query", store.Config{Backend: store.SQLite,
			SQLitePath: path + "?mode=memory"}, "SQLitePath"},
		{"postgres without dsn", store.Config{Backend: store.Postgres},
			"PostgresDSN"},
		{"negative busy timeout", store.Config{Backend: store.SQLite,
			SQLitePath: path, BusyTimeout: -time.Second},
			"BusyTimeout"},
		{"negative attempts", store.Config{Backend: store.SQLite,
			SQLitePath: path, MaxTxAttempts: -1}, "MaxTxAttempts"},
		{"negative read conns", store.Config{Backend: store.SQLite,
			SQLitePath: path, MaxReadConns: -1}, "MaxReadConns"},
		{"max delay below delay", store.Config{Backend: store.SQLite,
			SQLitePath: path, RetryDelay: time.Second,
			MaxRetryDelay: time.Millisecond}, "MaxRetryDelay"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			db, err := store.Open(context.Background(), tc.cfg)
			if err == nil {
				db.Close()
				t.Fatal("Open succeeded, want ErrInvalidConfig")
			}
			if !errors.Is(err, store.ErrInvalidConfig) {
				t.Fatalf("Open: %v, want ErrInvalidConfig", err)
			}
			if !strings.Contains(err.Error(), tc.field) {
				t.Fatalf("Open: %q does not name %s", err,
					tc.field)
			}
		})
	}
}

// TestOpen checks that a fresh database opens on each backend, reports its
// backend and is migrated to the latest version.
func TestOpen(t *testing.T) {
	t.Parallel()

	storetest.ForEachBackend(t, func(t *testing.T, cfg store.Config) {
		t.Parallel()

		db := storetest.Open(t, cfg)
		if got := db.Backend(); got != cfg.Backend {
			t.Fatalf("Backend() = %q, want %q", got, cfg.Backend)
		}

		latest, err := store.LatestSchemaVersion(cfg.Backend)
		if err != nil {
			t.Fatal(err)
		}
		if latest < 1 {
			t.Fatalf("LatestSchemaVersion = %d, want at least 1",
				latest)
		}
		version, err := db.SchemaVersion(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		if version != latest {
			t.Fatalf("SchemaVersion = %d, want %d", version, latest)
		}
	})
}

// TestOpenPostgresUnreachable checks that Open fails, rather than hangs,
// when no server answers.
func TestOpenPostgresUnreachable(t *testing.T) {
	t.Parallel()

	ctx, cancel := context.WithTimeout(context.Background(),
		10*time.Second)
	defer cancel()

	// Port 1 on loopback: nothing listens there.
	_, err := store.Open(ctx, store.Config{
		Backend: store.Postgres,
		PostgresDSN: "postgres://postgres@127.0.0.1:1/test?" +
			"sslmode=disable&connect_timeout=5",
	})
	if err == nil {
		t.Fatal("Open succeeded against a closed port")
	}
	if !strings.Contains(err.Error(), "postgres") {
		t.Fatalf("Open: %q does not say which backend failed", err)
	}
}

// TestSQLiteSettings checks the pragmas every SQLite connection runs with.
func TestSQLiteSettings(t *testing.T) {
	t.Parallel()

	db := storetest.Open(t, storetest.Config(t, store.SQLite))
	ctx := context.Background()

	for _, readOnly := range []bool{false, true} {
		err := db.ExecTx(ctx, store.TxOptions{ReadOnly: readOnly},
			func(tx *store.Tx) error {
				pragmas := []struct {
					name string
					want string
				}{
					{"journal_mode", "wal"},
					{"foreign_keys", "1"},
					// FULL is 2.
					{"synchronous", "2"},
					{"busy_timeout", "5000"},
				}
				for _, p := range pragmas {
					var got string
					err := tx.QueryRow(ctx, "PRAGMA "+
						p.name).Scan(&got)
					if err != nil {
						return err
					}
					if !strings.EqualFold(got, p.want) {
						t.Errorf("read-only %v: %s = %s, "+
							"want %s", readOnly, p.name,
							got, p.want)
					}
				}

				return nil
			})
		if err != nil {
			t.Fatal(err)
		}
	}
}
