package store_test

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgconn"
	"github.com/sluice-ln/sluice/store"
	"github.com/sluice-ln/sluice/store/storetest"
	"modernc.org/sqlite"
)

// errTest is a caller's own error, which ExecTx must hand back untouched.
var errTest = errors.New("test error")

// serializationFailure is a Postgres serialization failure as the driver
// reports it.
func serializationFailure() error {
	return &pgconn.PgError{Code: "40001",
		Message: "could not serialize access (synthetic)"}
}

// counterTx adds delta to the vault account's balance by reading it and
// writing the sum, the read-modify-write pattern that conflicts.
func counterTx(ctx context.Context, tx *store.Tx, delta int64) error {
	var bal int64
	err := tx.QueryRow(ctx, "SELECT balance FROM accounts "+
		"WHERE kind = 'vault' AND ref = ''").Scan(&bal)
	if err != nil {
		return fmt.Errorf("read counter: %w", err)
	}

	return tx.Exec(ctx, "UPDATE accounts SET balance = $1 "+
		"WHERE kind = 'vault' AND ref = ''", bal+delta)
}

// newCounter creates the vault account at balance 0.
func newCounter(t *testing.T, db *store.DB) {
	t.Helper()

	err := db.ExecTx(context.Background(), store.TxOptions{},
		func(tx *store.Tx) error {
			return tx.Exec(context.Background(), `INSERT INTO accounts
				(kind, ref, balance, created_at)
				VALUES ('vault', '', 0, CURRENT_TIMESTAMP)`)
		})
	if err != nil {
		t.Fatalf("create counter: %v", err)
	}
}

// counter reads the vault account's balance.
func counter(t *testing.T, db *store.DB) int64 {
	t.Helper()

	var bal int64
	err := db.ExecTx(context.Background(), store.TxOptions{ReadOnly: true},
		func(tx *store.Tx) error {
			return tx.QueryRow(context.Background(),
				"SELECT balance FROM accounts "+
					"WHERE kind = 'vault'").Scan(&bal)
		})
	if err != nil {
		t.Fatalf("read counter: %v", err)
	}

	return bal
}

// TestExecTxCommitRollback checks that a nil return commits, an error
// rolls back and comes back unchanged.
func TestExecTxCommitRollback(t *testing.T) {
	t.Parallel()

	storetest.ForEachBackend(t, func(t *testing.T, cfg store.Config) {
		t.Parallel()
		ctx := context.Background()
		db := storetest.Open(t, cfg)
		newCounter(t, db)

		err := db.ExecTx(ctx, store.TxOptions{}, func(tx *store.Tx) error {
			return counterTx(ctx, tx, 5)
		})
		if err != nil {
			t.Fatal(err)
		}
		if got := counter(t, db); got != 5 {
			t.Fatalf("after commit: %d, want 5", got)
		}

		calls := 0
		err = db.ExecTx(ctx, store.TxOptions{}, func(tx *store.Tx) error {
			calls++
			if err := counterTx(ctx, tx, 100); err != nil {
				return err
			}
			return fmt.Errorf("wrapped: %w", errTest)
		})
		if !errors.Is(err, errTest) {
			t.Fatalf("ExecTx: %v, want errTest", err)
		}
		if calls != 1 {
			t.Fatalf("fn ran %d times for a plain error, want 1",
				calls)
		}
		if got := counter(t, db); got != 5 {
			t.Fatalf("after rollback: %d, want 5", got)
		}
	})
}

// TestExecTxReadOnly checks that a read-only transaction cannot write and
// that it reads while a writer holds its transaction open.
func TestExecTxReadOnly(t *testing.T) {
	t.Parallel()

	storetest.ForEachBackend(t, func(t *testing.T, cfg store.Config) {
		t.Parallel()
		ctx := context.Background()
		db := storetest.Open(t, cfg)
		newCounter(t, db)

		err := db.ExecTx(ctx, store.TxOptions{ReadOnly: true},
			func(tx *store.Tx) error {
				return counterTx(ctx, tx, 1)
			})
		if !errors.Is(err, store.ErrReadOnly) {
			t.Fatalf("write in a read-only tx: %v, want "+
				"ErrReadOnly", err)
		}

		// A writer holds its transaction open with an uncommitted
		// change; a reader still reads, and sees the committed state.
		held := make(chan struct{})
		release := make(chan struct{})
		writer := make(chan error, 1)
		go func() {
			writer <- db.ExecTx(ctx, store.TxOptions{},
				func(tx *store.Tx) error {
					if err := counterTx(ctx, tx, 7); err != nil {
						return err
					}
					close(held)
					<-release
					return nil
				})
		}()
		<-held
		got := counter(t, db)
		close(release)
		if err := <-writer; err != nil {
			t.Fatal(err)
		}
		if got != 0 {
			t.Fatalf("reader saw %d during the write, want 0", got)
		}
		if got := counter(t, db); got != 7 {
			t.Fatalf("after the write: %d, want 7", got)
		}
	})
}

// TestErrorMapping checks that constraint violations from each backend come
// back as the package's sentinels with the driver error still in the chain.
func TestErrorMapping(t *testing.T) {
	t.Parallel()

	tests := []struct {
		name string
		stmt string
		want error
	}{
		{
			name: "unique",
			stmt: `INSERT INTO ledger_transactions
				(idempotency_key, description, created_at)
				VALUES ('k1', '', CURRENT_TIMESTAMP)`,
			want: store.ErrUniqueViolation,
		},
		{
			name: "foreign key",
			stmt: `INSERT INTO ledger_postings
				(tx_id, seq, account_id, amount, balance_after)
				VALUES (999, 0, 999, 1, 1)`,
			want: store.ErrForeignKeyViolation,
		},
		{
			name: "check",
			stmt: `INSERT INTO accounts (kind, ref, balance, created_at)
				VALUES ('', '', 0, CURRENT_TIMESTAMP)`,
			want: store.ErrCheckViolation,
		},
		{
			name: "not null",
			stmt: `INSERT INTO accounts (kind, ref, balance, created_at)
				VALUES ('vault', NULL, 0, CURRENT_TIMESTAMP)`,
			want: store.ErrNotNullViolation,
		},
	}

	storetest.ForEachBackend(t, func(t *testing.T, cfg store.Config) {
		t.Parallel()
		ctx := context.Background()
		db := storetest.Open(t, cfg)

		err := db.ExecTx(ctx, store.TxOptions{}, func(tx *store.Tx) error {
			return tx.Exec(ctx, `INSERT INTO ledger_transactions
				(idempotency_key, description, created_at)
				VALUES ('k1', '', CURRENT_TIMESTAMP)`)
		})
		if err != nil {
			t.Fatal(err)
		}

		for _, tc := range tests {
			calls := 0
			err := db.ExecTx(ctx, store.TxOptions{},
				func(tx *store.Tx) error {
					calls++
					return tx.Exec(ctx, tc.stmt)
				})
			if !errors.Is(err, tc.want) {
				t.Errorf("%s: %v, want %v", tc.name, err,
					tc.want)
				continue
			}
			if calls != 1 {
				t.Errorf("%s: ran %d times, want 1", tc.name,
					calls)
			}
			if store.IsRetryable(err) {
				t.Errorf("%s: %v is retryable", tc.name, err)
			}
			if !hasDriverError(err, cfg.Backend) {
				t.Errorf("%s: %v lost the driver error",
					tc.name, err)
			}
		}
	})
}

// TestMapErrorPostgresCodes checks the SQLSTATE classification.
func TestMapErrorPostgresCodes(t *testing.T) {
	t.Parallel()

	tests := []struct {
		code      string
		want      error
		retryable bool
	}{
		{"40001", store.ErrSerialization, true},
		{"40P01", store.ErrSerialization, true},
		{"23505", store.ErrUniqueViolation, false},
		{"23503", store.ErrForeignKeyViolation, false},
		{"23514", store.ErrCheckViolation, false},
		{"23502", store.ErrNotNullViolation, false},
		{"25006", store.ErrReadOnly, false},
		{"42P01", nil, false},
	}
	for _, tc := range tests {
		pgErr := &pgconn.PgError{Code: tc.code}
		err := store.MapError(fmt.Errorf("context: %w", pgErr))

		var back *pgconn.PgError
		if !errors.As(err, &back) || back != pgErr {
			t.Errorf("%s: driver error lost from %v", tc.code, err)
		}
		if got := store.IsRetryable(err); got != tc.retryable {
			t.Errorf("%s: IsRetryable = %v, want %v", tc.code, got,
				tc.retryable)
		}
		if tc.want == nil {
			if errors.Is(err, store.ErrSerialization) ||
				errors.Is(err, store.ErrUniqueViolation) {

				t.Errorf("%s: classified as %v", tc.code, err)
			}
			continue
		}
		if !errors.Is(err, tc.want) {
			t.Errorf("%s: %v, want %v", tc.code, err, tc.want)
		}
	}
}

// TestMapErrorSQLiteCodes checks the SQLite result code classification.
func TestMapErrorSQLiteCodes(t *testing.T) {
	t.Parallel()

	tests := []struct {
		code int
		want error
	}{
		{5, store.ErrBusy},               // SQLITE_BUSY
		{517, store.ErrBusy},             // SQLITE_BUSY_SNAPSHOT
		{6, store.ErrBusy},               // SQLITE_LOCKED
		{8, store.ErrReadOnly},           // SQLITE_READONLY
		{2067, store.ErrUniqueViolation}, // SQLITE_CONSTRAINT_UNIQUE
		{1555, store.ErrUniqueViolation}, // SQLITE_CONSTRAINT_PRIMARYKEY
		{787, store.ErrForeignKeyViolation},
		{275, store.ErrCheckViolation},
		{1299, store.ErrNotNullViolation},
		{1, nil},  // SQLITE_ERROR
		{19, nil}, // SQLITE_CONSTRAINT, no detail
	}
	for _, tc := range tests {
		if got := store.ClassifySQLite(tc.code); got != tc.want {
			t.Errorf("code %d: %v, want %v", tc.code, got, tc.want)
		}
	}
}

// TestMapErrorPassThrough checks that nil, non-driver and already
// classified errors come back as they went in.
func TestMapErrorPassThrough(t *testing.T) {
	t.Parallel()

	if err := store.MapError(nil); err != nil {
		t.Fatalf("MapError(nil) = %v", err)
	}
	if err := store.MapError(errTest); err != errTest {
		t.Fatalf("MapError(errTest) = %v", err)
	}
	once := store.MapError(serializationFailure())
	if twice := store.MapError(once); twice != once {
		t.Fatalf("MapError wrapped a classified error again: %v", twice)
	}
}

// TestSerializationRetryPostgres forces a real serialization failure: a
// transaction reads a row, a concurrent one changes it and commits, and the
// first one's write then conflicts. ExecTx must run it again, and the
// second run must see the other's write.
func TestSerializationRetryPostgres(t *testing.T) {
	t.Parallel()

	ctx := context.Background()
	db := storetest.Open(t, storetest.Config(t, store.Postgres))
	newCounter(t, db)

	attempts := 0
	err := db.ExecTx(ctx, store.TxOptions{}, func(tx *store.Tx) error {
		attempts++

		var bal int64
		err := tx.QueryRow(ctx, "SELECT balance FROM accounts "+
			"WHERE kind = 'vault'").Scan(&bal)
		if err != nil {
			return err
		}

		if attempts == 1 {
			err := db.ExecTx(ctx, store.TxOptions{},
				func(tx *store.Tx) error {
					return counterTx(ctx, tx, 100)
				})
			if err != nil {
				return fmt.Errorf("concurrent tx: %w", err)
			}
		}

		err = tx.Exec(ctx, "UPDATE accounts SET balance = $1 "+
			"WHERE kind = 'vault'", bal+1)
		if attempts == 1 && !errors.Is(err, store.ErrSerialization) {
			t.Errorf("conflicting write: %v, want ErrSerialization",
				err)
		}

		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	if attempts != 2 {
		t.Fatalf("fn ran %d times, want 2", attempts)
	}
	if got := counter(t, db); got != 101 {
		t.Fatalf("counter %d, want 101: the retry lost an update", got)
	}
}

// TestRetriesExceeded checks that retries are bounded and that the last
// error is kept.
func TestRetriesExceeded(t *testing.T) {
	t.Parallel()

	storetest.ForEachBackend(t, func(t *testing.T, cfg store.Config) {
		t.Parallel()
		ctx := context.Background()
		cfg.MaxTxAttempts = 3
		cfg.RetryDelay = time.Millisecond
		cfg.MaxRetryDelay = 2 * time.Millisecond
		db := storetest.Open(t, cfg)

		calls := 0
		err := db.ExecTx(ctx, store.TxOptions{}, func(*store.Tx) error {
			calls++
			return serializationFailure()
		})
		if !errors.Is(err, store.ErrRetriesExceeded) ||
			!errors.Is(err, store.ErrSerialization) {

			t.Fatalf("ExecTx: %v, want ErrRetriesExceeded and "+
				"ErrSerialization", err)
		}
		if calls != 3 {
			t.Fatalf("fn ran %d times, want MaxTxAttempts = 3", calls)
		}

		// A conflict that clears up is retried until it succeeds.
		calls = 0
		err = db.ExecTx(ctx, store.TxOptions{}, func(*store.Tx) error {
			calls++
			if calls < 3 {
				return serializationFailure()
			}
			return nil
		})
		if err != nil || calls != 3 {
			t.Fatalf("ExecTx: %v after %d calls, want success "+
				"after 3", err, calls)
		}
	})
}

// TestExecTxContextCanceled checks that a cancelled context ends the
// backoff instead of waiting it out.
func TestExecTxContextCanceled(t *testing.T) {
	t.Parallel()

	storetest.ForEachBackend(t, func(t *testing.T, cfg store.Config) {
		t.Parallel()
		cfg.RetryDelay = time.Hour
		cfg.MaxRetryDelay = time.Hour
		db := storetest.Open(t, cfg)

		ctx, cancel := context.WithCancel(context.Background())
		calls := 0
		err := db.ExecTx(ctx, store.TxOptions{}, func(*store.Tx) error {
			calls++
			cancel()
			return serializationFailure()
		})
		if !errors.Is(err, context.Canceled) {
			t.Fatalf("ExecTx: %v, want context.Canceled", err)
		}
		if calls != 1 {
			t.Fatalf("fn ran %d times, want 1", calls)
		}
	})
}

// TestConcurrentWriters runs many read-modify-write transactions at once:
// on SQLite they queue for the one writer, on Postgres they conflict and
// are retried. No update may be lost and none may fail.
func TestConcurrentWriters(t *testing.T) {
	t.Parallel()

	const (
		workers = 8
		each    = 5
	)

	storetest.ForEachBackend(t, func(t *testing.T, cfg store.Config) {
		t.Parallel()
		ctx := context.Background()
		cfg.MaxTxAttempts = 200
		cfg.RetryDelay = time.Millisecond
		cfg.MaxRetryDelay = 20 * time.Millisecond
		db := storetest.Open(t, cfg)
		newCounter(t, db)

		var (
			wg    sync.WaitGroup
			calls atomic.Int64
			errs  = make(chan error, workers*each)
		)
		for w := 0; w < workers; w++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for i := 0; i < each; i++ {
					errs <- db.ExecTx(ctx, store.TxOptions{},
						func(tx *store.Tx) error {
							calls.Add(1)
							return counterTx(ctx, tx, 1)
						})
				}
			}()
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			if err != nil {
				t.Fatalf("writer: %v", err)
			}
		}

		if got := counter(t, db); got != workers*each {
			t.Fatalf("counter %d, want %d", got, workers*each)
		}
		t.Logf("%d transactions took %d attempts", workers*each,
			calls.Load())
	})
}

// TestSQLiteBusyRetry opens the file twice, as two processes would, and has
// one hold the write lock: the other's writes fail with ErrBusy, are
// retried, and succeed once the lock is released.
func TestSQLiteBusyRetry(t *testing.T) {
	t.Parallel()
	ctx := context.Background()

	cfg := storetest.Config(t, store.SQLite)
	cfg.BusyTimeout = time.Millisecond
	cfg.RetryDelay = time.Millisecond
	cfg.MaxRetryDelay = 5 * time.Millisecond
	holder := storetest.Open(t, cfg)
	newCounter(t, holder)

	// hold takes the write lock through holder until release is closed.
	hold := func(release <-chan struct{}) <-chan error {
		held := make(chan struct{})
		done := make(chan error, 1)
		go func() {
			done <- holder.ExecTx(ctx, store.TxOptions{},
				func(tx *store.Tx) error {
					if err := counterTx(ctx, tx, 1); err != nil {
						return err
					}
					close(held)
					<-release
					return nil
				})
		}()
		<-held

		return done
	}

	t.Run("bounded", func(t *testing.T) {
		cfg := cfg
		cfg.MaxTxAttempts = 3
		other := storetest.Open(t, cfg)

		release := make(chan struct{})
		done := hold(release)

		calls := 0
		err := other.ExecTx(ctx, store.TxOptions{},
			func(tx *store.Tx) error {
				calls++
				return counterTx(ctx, tx, 10)
			})
		close(release)
		if err := <-done; err != nil {
			t.Fatal(err)
		}
		if !errors.Is(err, store.ErrRetriesExceeded) ||
			!errors.Is(err, store.ErrBusy) {

			t.Fatalf("write while locked: %v, want "+
				"ErrRetriesExceeded and ErrBusy", err)
		}
		if calls != 0 {
			t.Fatalf("fn ran %d times; BEGIN should have failed",
				calls)
		}
	})

	t.Run("succeeds after release", func(t *testing.T) {
		cfg := cfg
		cfg.MaxTxAttempts = 1000
		other := storetest.Open(t, cfg)

		release := make(chan struct{})
		done := hold(release)

		result := make(chan error, 1)
		go func() {
			result <- other.ExecTx(ctx, store.TxOptions{},
				func(tx *store.Tx) error {
					return counterTx(ctx, tx, 10)
				})
		}()

		// Let the other writer fail against the lock a few times.
		time.Sleep(50 * time.Millisecond)
		close(release)
		if err := <-done; err != nil {
			t.Fatal(err)
		}
		if err := <-result; err != nil {
			t.Fatalf("write after release: %v", err)
		}
	})

	if got := counter(t, holder); got != 1+1+10 {
		t.Fatalf("counter %d, want 12", got)
	}
}

// TestRetryDelay checks that the backoff doubles per attempt, is capped,
// and stays within its jitter band.
func TestRetryDelay(t *testing.T) {
	t.Parallel()

	cfg := storetest.Config(t, store.SQLite)
	cfg.RetryDelay = 10 * time.Millisecond
	cfg.MaxRetryDelay = 80 * time.Millisecond
	db := storetest.Open(t, cfg)

	tests := []struct {
		attempt int
		full    time.Duration
	}{
		{1, 10 * time.Millisecond},
		{2, 20 * time.Millisecond},
		{3, 40 * time.Millisecond},
		{4, 80 * time.Millisecond},
		{5, 80 * time.Millisecond},
		{100, 80 * time.Millisecond},
	}
	for _, tc := range tests {
		seen := make(map[time.Duration]bool)
		for i := 0; i < 200; i++ {
			d := db.RetryDelay(tc.attempt)
			if d < tc.full/2 || d > tc.full {
				t.Fatalf("attempt %d: delay %v outside [%v, %v]",
					tc.attempt, d, tc.full/2, tc.full)
			}
			seen[d] = true
		}
		if len(seen) < 2 {
			t.Fatalf("attempt %d: no jitter in 200 delays",
				tc.attempt)
		}
	}
}

// hasDriverError reports whether the backend's own error type is in err's
// chain.
func hasDriverError(err error, backend store.Backend) bool {
	switch backend {
	case store.Postgres:
		var pgErr *pgconn.PgError
		return errors.As(err, &pgErr)
	default:
		var liteErr *sqlite.Error
		return errors.As(err, &liteErr)
	}
}
