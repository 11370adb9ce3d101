// Package storetest gives tests a fresh, isolated store on each backend:
// SQLite in a temporary directory, and PostgreSQL in a schema of its own on
// the server named by SLUICE_TEST_POSTGRES, dropped when the test ends. The
// Postgres half is skipped, with a message, when that variable is unset.
// It also holds a fake of what the store asks of other packages: a
// JobSource over fixed jobs for metering's store (MeteringJobs), and the
// rows and escrow those jobs need (SeedJobs).
package storetest

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/sluice-ln/sluice/store"
)

// EnvPostgres names the environment variable that holds the DSN of a
// PostgreSQL server tests may create schemas on, for example
// postgres://postgres@127.0.0.1:5432/test?sslmode=disable.
const EnvPostgres = "SLUICE_TEST_POSTGRES"

// Backends are the backends ForEachBackend runs on, in order.
var Backends = []store.Backend{store.SQLite, store.Postgres}

// ForEachBackend runs fn as a subtest named after each backend, with a
// Config for a fresh, empty database of that backend. Subtests skip
// themselves when their backend is not available.
func ForEachBackend(t *testing.T, fn func(t *testing.T, cfg store.Config)) {
	t.Helper()

	for _, backend := range Backends {
		t.Run(string(backend), func(t *testing.T) {
			fn(t, Config(t, backend))
		})
	}
}

// Config returns a Config for a fresh, empty database of the backend that
// lives as long as the test. For Postgres it skips the test when
// SLUICE_TEST_POSTGRES is unset.
func Config(t testing.TB, backend store.Backend) store.Config {
	t.Helper()

	switch backend {
	case store.SQLite:
		return store.Config{
			Backend:    store.SQLite,
			SQLitePath: filepath.Join(t.TempDir(), "sluice.db"),
		}

	case store.Postgres:
		return store.Config{
			Backend:     store.Postgres,
			PostgresDSN: postgresSchema(t),
		}
	}

	t.Fatalf("storetest: unknown backend %q", backend)
	return store.Config{}
}

// Open opens cfg and closes the store when the test ends.
func Open(t testing.TB, cfg store.Config) *store.DB {
	t.Helper()

	db, err := store.Open(context.Background(), cfg)
	if err != nil {
		t.Fatalf("storetest: open %s store: %v", cfg.Backend, err)
	}
	t.Cleanup(func() {
		if err := db.Close(); err != nil {
			t.Errorf("storetest: close %s store: %v", cfg.Backend,
				err)
		}
	})

	return db
}

// postgresSchema creates a schema of its own for the test on the server in
// SLUICE_TEST_POSTGRES, drops it when the test ends, and returns a DSN
// whose search_path is that schema alone.
func postgresSchema(t testing.TB) string {
	t.Helper()

	base := os.Getenv(EnvPostgres)
	if base == "" {
		t.Skipf("storetest: %s is not set, skipping the PostgreSQL "+
			"half (make test sets it)", EnvPostgres)
	}

	var b [8]byte
	if _, err := rand.Read(b[:]); err != nil {
		t.Fatalf("storetest: %v", err)
	}
	schema := "sluice_test_" + hex.EncodeToString(b[:])

	dsn, err := withSearchPath(base, schema)
	if err != nil {
		t.Fatalf("storetest: %s: %v", EnvPostgres, err)
	}

	admin, err := sql.Open("pgx", base)
	if err != nil {
		t.Fatalf("storetest: %s: %v", EnvPostgres, err)
	}
	ctx, cancel := context.WithTimeout(context.Background(),
		30*time.Second)
	defer cancel()
	if _, err := admin.ExecContext(ctx, "CREATE SCHEMA "+schema); err != nil {
		_ = admin.Close()
		t.Fatalf("storetest: create schema on %s: %v", redact(base),
			err)
	}

	t.Cleanup(func() {
		defer admin.Close()

		ctx, cancel := context.WithTimeout(context.Background(),
			30*time.Second)
		defer cancel()
		_, err := admin.ExecContext(ctx,
			"DROP SCHEMA "+schema+" CASCADE")
		if err != nil {
			t.Errorf("storetest: drop schema %s: %v", schema, err)
		}
	})

	return dsn
}

// withSearchPath returns dsn, as a URL or in key=value form, with its
// search_path set to schema.
func withSearchPath(dsn, schema string) (string, error) {
	if strings.HasPrefix(dsn, "postgres://") ||
		strings.HasPrefix(dsn, "postgresql://") {

		u, err := url.Parse(dsn)
		if err != nil {
			return "", err
		}
		q := u.Query()
		q.Set("search_path", schema)
		u.RawQuery = q.Encode()

		return u.String(), nil
	}

	return fmt.Sprintf("%s search_path=%s", dsn, schema), nil
}

// redact hides a password in a URL DSN for messages.
func redact(dsn string) string {
	u, err := url.Parse(dsn)
	if err != nil || u.User == nil {
		return dsn
	}

	return u.Redacted()
}
