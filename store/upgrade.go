package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"os"
	"strings"
	"time"
)

// MigrationKind says whether binaries that do not know a migration keep
// working on a schema that has it (docs/operations.md "Upgrading").
type MigrationKind string

const (
	// Additive migrations only add what older binaries can ignore: new
	// tables, nullable or defaulted columns, indexes. A binary that finds
	// the database at an additive version it does not know starts anyway.
	Additive MigrationKind = "additive"

	// Breaking migrations change what older binaries read or write. One is
	// applied only when no live instance runs a binary that does not know
	// it, and a binary that finds one it does not know refuses to start.
	Breaking MigrationKind = "breaking"
)

// kindMarker opens the first line of an up migration that declares its
// kind: "-- sluice: additive" or "-- sluice: breaking". An up migration
// without it is breaking, the safe default.
const kindMarker = "-- sluice: "

// kindOf returns the kind an up migration's first line declares.
func kindOf(body string) (MigrationKind, error) {
	first, _, _ := strings.Cut(body, "\n")
	first = strings.TrimSpace(first)
	if !strings.HasPrefix(first, kindMarker) {
		return Breaking, nil
	}
	switch kind := MigrationKind(strings.TrimPrefix(first, kindMarker)); kind {
	case Additive, Breaking:
		return kind, nil
	default:
		return "", fmt.Errorf("unknown migration kind %q, want %q or "+
			"%q", kind, Additive, Breaking)
	}
}

// DefaultInstanceTTL is how long an instance's registration lives without a
// heartbeat; it heartbeats every third of it.
const DefaultInstanceTTL = 30 * time.Second

// kindsTable records the kind and name of every applied migration, written
// in the migration's own transaction, so that a binary that lacks the
// migration's file can still tell whether it may run on the schema.
const kindsTable = "schema_migration_kinds"

// createKindsTable creates kindsTable.
const createKindsTable = `CREATE TABLE IF NOT EXISTS schema_migration_kinds (
    version BIGINT NOT NULL PRIMARY KEY,
    kind TEXT NOT NULL CHECK (kind IN ('additive', 'breaking')),
    name TEXT NOT NULL
)`

// createInstancesTable creates the instance registry: every running
// sluiced on this database, the newest schema version its binary knows,
// and its last heartbeat in Unix milliseconds. A row whose heartbeat is
// older than the TTL is an instance that is gone.
const createInstancesTable = `CREATE TABLE IF NOT EXISTS sluice_instances (
    instance_id TEXT NOT NULL PRIMARY KEY,
    known_version BIGINT NOT NULL,
    heartbeat_ms BIGINT NOT NULL
)`

// pgRegistryLock serialises the instance registry against breaking
// migrations: registering (and its schema check) and applying a breaking
// migration each hold it for their transaction, so an old binary either
// registers first and blocks the migration, or comes after it and refuses
// the schema. It is not pgMigrationLock, which golang-migrate holds on a
// session of its own while Run's transactions take this one.
const pgRegistryLock = `hashtext('sluice.instances.' || current_schema())`

// defaultInstanceID names this process when Config.InstanceID is empty: on
// SQLite there is one instance per file; on PostgreSQL the host and pid.
func defaultInstanceID(backend Backend) string {
	if backend == SQLite {
		return "sqlite"
	}
	host, err := os.Hostname()
	if err != nil {
		host = "unknown"
	}

	return fmt.Sprintf("%s-%d", host, os.Getpid())
}

// lockRegistry takes the registry lock for tx on PostgreSQL; SQLite's
// writer already runs one transaction at a time.
func (db *DB) lockRegistry(ctx context.Context, tx *sql.Tx) error {
	if db.cfg.Backend != Postgres {
		return nil
	}
	_, err := tx.ExecContext(ctx, "SELECT pg_advisory_xact_lock("+
		pgRegistryLock+")")
	if err != nil {
		return fmt.Errorf("lock the instance registry: %w",
			mapError(err))
	}

	return nil
}

// backfillKinds records the kind of every applied version this binary
// knows that has no row yet: databases migrated before the table existed.
func (db *DB) backfillKinds(ctx context.Context, tx *sql.Tx) error {
	current, err := readVersion(ctx, tx)
	if err != nil {
		return fmt.Errorf("migrate: %w", err)
	}
	upTo := min(current, db.migrations.latest())
	var have int
	err = tx.QueryRowContext(ctx, "SELECT COUNT(*) FROM "+kindsTable+
		" WHERE version <= $1", upTo).Scan(&have)
	if err != nil {
		return fmt.Errorf("migrate: count migration kinds: %w",
			mapError(err))
	}
	if have == upTo {
		return nil
	}
	for v := 1; v <= upTo; v++ {
		if err := db.recordKind(ctx, tx, v, false); err != nil {
			return err
		}
	}

	return nil
}

// recordKind writes version's kind and name as this binary knows them;
// replace says whether a row already there is overwritten (a migration
// being applied) or kept (a backfill).
func (db *DB) recordKind(ctx context.Context, tx *sql.Tx, version int,
	replace bool) error {

	conflict := "DO NOTHING"
	if replace {
		conflict = "DO UPDATE SET kind = excluded.kind, " +
			"name = excluded.name"
	}
	_, err := tx.ExecContext(ctx, "INSERT INTO "+kindsTable+
		" (version, kind, name) VALUES ($1, $2, $3) "+
		"ON CONFLICT (version) "+conflict, version,
		string(db.migrations.kind(version)),
		db.migrations.name(version))
	if err != nil {
		return fmt.Errorf("migrate: record the kind of version %d: "+
			"%w", version, mapError(err))
	}

	return nil
}

// checkUnknown refuses, with ErrSchemaTooNew, a schema at current that has
// a version newer than this binary knows which is breaking or whose kind
// was never recorded. A schema whose unknown versions are all additive is
// fine.
func (db *DB) checkUnknown(ctx context.Context, tx *sql.Tx,
	current int) error {

	latest := db.migrations.latest()
	if current <= latest {
		return nil
	}

	rows, err := tx.QueryContext(ctx, "SELECT version, kind, name FROM "+
		kindsTable+" WHERE version > $1", latest)
	if err != nil {
		return fmt.Errorf("migrate: read migration kinds: %w",
			mapError(err))
	}
	defer rows.Close()
	type recorded struct{ kind, name string }
	kinds := make(map[int]recorded)
	for rows.Next() {
		var (
			v int
			r recorded
		)
		if err := rows.Scan(&v, &r.kind, &r.name); err != nil {
			return fmt.Errorf("migrate: read migration kinds: %w",
				mapError(err))
		}
		kinds[v] = r
	}
	if err := rows.Err(); err != nil {
		return fmt.Errorf("migrate: read migration kinds: %w",
			mapError(err))
	}

	for v := latest + 1; v <= current; v++ {
		r, ok := kinds[v]
		switch {
		case !ok:
			return fmt.Errorf("%w: database is at version %d; "+
				"migration %d has no recorded kind and is taken "+
				"as breaking; this binary knows up to %d",
				ErrSchemaTooNew, current, v, latest)
		case MigrationKind(r.kind) != Additive:
			return fmt.Errorf("%w: database is at version %d; "+
				"migration %d (%s) is %s; this binary knows up "+
				"to %d: run a binary that knows version %d",
				ErrSchemaTooNew, current, v, r.name, r.kind,
				latest, v)
		}
	}

	return nil
}

// checkInstances refuses, with ErrInstanceBehind, to apply the breaking
// migration version while another live instance runs a binary that does
// not know it.
func (db *DB) checkInstances(ctx context.Context, tx *sql.Tx,
	version int) error {

	now := time.Now()
	var (
		id        string
		known     int
		heartbeat int64
	)
	err := tx.QueryRowContext(ctx, "SELECT instance_id, known_version, "+
		"heartbeat_ms FROM sluice_instances WHERE instance_id <> $1 "+
		"AND known_version < $2 AND heartbeat_ms > $3 "+
		"ORDER BY instance_id LIMIT 1", db.cfg.InstanceID, version,
		now.Add(-db.cfg.InstanceTTL).UnixMilli()).Scan(&id, &known,
		&heartbeat)
	switch {
	case errors.Is(err, sql.ErrNoRows):
		return nil
	case err != nil:
		return fmt.Errorf("migrate: read the instance registry: %w",
			mapError(err))
	}
	age := now.Sub(time.UnixMilli(heartbeat)).Round(time.Millisecond)

	return fmt.Errorf("%w: migration %d (%s) is breaking and instance "+
		"%q runs a binary that knows up to version %d (heartbeat %v "+
		"ago); upgrade or stop it first, its registration expires %v "+
		"after its last heartbeat", ErrInstanceBehind, version,
		db.migrations.name(version), id, known, age,
		db.cfg.InstanceTTL)
}

// register checks the schema against this binary and records this
// instance in the registry, in one transaction under the registry lock:
// it refuses a schema with an unknown breaking migration, and a breaking
// migration between the schema's version and target while another live
// instance's binary does not know it. It returns the schema's version.
func (db *DB) register(ctx context.Context, target int) (int, error) {
	tx, err := db.writer.BeginTx(ctx, nil)
	if err != nil {
		return 0, fmt.Errorf("migrate: begin: %w", mapError(err))
	}
	defer func() {
		_ = tx.Rollback()
	}()
	if err := db.lockRegistry(ctx, tx); err != nil {
		return 0, err
	}

	current, err := readVersion(ctx, tx)
	if err != nil {
		return 0, fmt.Errorf("migrate: %w", err)
	}
	latest := db.migrations.latest()
	if current > latest && target != latest {
		return 0, fmt.Errorf("%w: database is at version %d, this "+
			"binary knows up to %d and cannot migrate it to %d",
			ErrSchemaTooNew, current, latest, target)
	}
	if err := db.checkUnknown(ctx, tx, current); err != nil {
		return 0, err
	}
	for v := current + 1; v <= target; v++ {
		if db.migrations.kind(v) != Breaking {
			continue
		}
		if err := db.checkInstances(ctx, tx, v); err != nil {
			return 0, err
		}
	}

	now := time.Now()
	_, err = tx.ExecContext(ctx, "DELETE FROM sluice_instances WHERE "+
		"heartbeat_ms <= $1", now.Add(-db.cfg.InstanceTTL).UnixMilli())
	if err == nil {
		_, err = tx.ExecContext(ctx, "INSERT INTO sluice_instances "+
			"(instance_id, known_version, heartbeat_ms) "+
			"VALUES ($1, $2, $3) ON CONFLICT (instance_id) DO "+
			"UPDATE SET known_version = excluded.known_version, "+
			"heartbeat_ms = excluded.heartbeat_ms",
			db.cfg.InstanceID, latest, now.UnixMilli())
	}
	if err != nil {
		return 0, fmt.Errorf("register instance %q: %w",
			db.cfg.InstanceID, mapError(err))
	}
	if err := tx.Commit(); err != nil {
		return 0, fmt.Errorf("register instance %q: commit: %w",
			db.cfg.InstanceID, mapError(err))
	}

	return current, nil
}

// heartbeat keeps this instance's registration alive until stop closes.
func (db *DB) heartbeat(stop <-chan struct{}, done chan<- struct{}) {
	defer close(done)

	ticker := time.NewTicker(db.cfg.InstanceTTL / 3)
	defer ticker.Stop()
	for {
		select {
		case <-stop:
			return
		case <-ticker.C:
		}

		ctx, cancel := context.WithTimeout(context.Background(),
			db.cfg.InstanceTTL/3)
		_, err := db.writer.ExecContext(ctx, "UPDATE sluice_instances "+
			"SET heartbeat_ms = $1 WHERE instance_id = $2",
			time.Now().UnixMilli(), db.cfg.InstanceID)
		cancel()
		if err != nil {
			log.Warnf("Instance %q heartbeat: %v", db.cfg.InstanceID,
				mapError(err))
		}
	}
}

// deregister stops the heartbeat and removes this instance's registration,
// so that a breaking migration need not wait for it to expire.
func (db *DB) deregister() error {
	if db.heartbeatStop == nil {
		return nil
	}
	close(db.heartbeatStop)
	<-db.heartbeatDone
	db.heartbeatStop = nil

	ctx, cancel := context.WithTimeout(context.Background(),
		db.cfg.InstanceTTL/3)
	defer cancel()
	_, err := db.writer.ExecContext(ctx, "DELETE FROM sluice_instances "+
		"WHERE instance_id = $1", db.cfg.InstanceID)
	if err != nil {
		return fmt.Errorf("deregister instance %q: %w",
			db.cfg.InstanceID, mapError(err))
	}

	return nil
}

// Instance is one registered sluiced instance.
type Instance struct {
	// ID names the instance (Config.InstanceID).
	ID string

	// KnownVersion is the newest schema version its binary carries.
	KnownVersion int

	// Heartbeat is its last heartbeat.
	Heartbeat time.Time
}

// Instances returns the live registered instances, by ID.
func (db *DB) Instances(ctx context.Context) ([]Instance, error) {
	rows, err := db.writer.QueryContext(ctx, "SELECT instance_id, "+
		"known_version, heartbeat_ms FROM sluice_instances WHERE "+
		"heartbeat_ms > $1 ORDER BY instance_id",
		time.Now().Add(-db.cfg.InstanceTTL).UnixMilli())
	if err != nil {
		return nil, fmt.Errorf("read instances: %w", mapError(err))
	}
	defer rows.Close()

	var out []Instance
	for rows.Next() {
		var (
			in Instance
			ms int64
		)
		if err := rows.Scan(&in.ID, &in.KnownVersion, &ms); err != nil {
			return nil, fmt.Errorf("read instances: %w",
				mapError(err))
		}
		in.Heartbeat = time.UnixMilli(ms)
		out = append(out, in)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("read instances: %w", mapError(err))
	}

	return out, nil
}

// LatestKnownVersion is the newest schema version this binary carries.
func (db *DB) LatestKnownVersion() int {
	return db.migrations.latest()
}
