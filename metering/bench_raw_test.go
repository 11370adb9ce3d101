package metering_test

import (
	"context"
	"database/sql"
	"net/url"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5"
	"github.com/sluice-ln/sluice/store"

	// The raw baseline talks to SQLite through the plain driver.
	_ "modernc.org/sqlite"
)

// rawTxRows is how many rows one transaction of the raw baseline carries:
// the ingest's flush size.
const rawTxRows = 1000

// rawInsert inserts rows into the database of cfg the fastest way the
// backend allows, in transactions of rawTxRows rows, bypassing the store:
// the baseline BenchmarkIngest judges ingest by.
//
//   - SQLite: one prepared multi-row INSERT of rawTxRows rows (8,000
//     anonymous ? parameters, within SQLite's 32,766) per transaction, on
//     a connection set as the store's writer is (WAL, synchronous=FULL,
//     BEGIN IMMEDIATE, temp_store=MEMORY).
//   - PostgreSQL: COPY (pgx CopyFrom) of rawTxRows rows per transaction.
//     Measured once against a prepared 1,000-row multi-row INSERT of the
//     same rows in the same run: COPY 50,400 rows/s, the INSERT 34,700,
//     so COPY is the baseline.
func rawInsert(b *testing.B, cfg store.Config, rows []store.UsageRecord) {
	b.Helper()

	switch cfg.Backend {
	case store.SQLite:
		rawInsertSQLite(b, cfg.SQLitePath, rows)
	case store.Postgres:
		rawCopyPostgres(b, cfg.PostgresDSN, rows)
	default:
		b.Fatalf("unknown backend %q", cfg.Backend)
	}
}

// usageArgs appends a row's values in the order of rawColumns.
func usageArgs(args []any, r store.UsageRecord) []any {
	return append(args, r.JobID, r.Seq, r.Second, r.CPU, r.Mem,
		int64(r.Price), int64(r.Fee), r.BatchHash)
}

// rawColumns are usage_records' columns as usageArgs gives them.
var rawColumns = []string{"job_id", "seq", "unix_second", "cpu_core_ms",
	"mem_mib_s", "price_msat", "fee_msat", "batch_hash"}

// rawInsertSQL is a multi-row INSERT of n rows with placeholders made by
// ph from the parameter's 1-based number.
func rawInsertSQL(n int, ph func(i int) string) string {
	var q strings.Builder
	q.WriteString("INSERT INTO usage_records (" +
		strings.Join(rawColumns, ", ") + ") VALUES ")
	for i := 0; i < n; i++ {
		if i > 0 {
			q.WriteByte(',')
		}
		q.WriteByte('(')
		for c := range rawColumns {
			if c > 0 {
				q.WriteByte(',')
			}
			q.WriteString(ph(i*len(rawColumns) + c + 1))
		}
		q.WriteByte(')')
	}

	return q.String()
}

// rawInsertSQLite is the SQLite baseline.
func rawInsertSQLite(b *testing.B, path string, rows []store.UsageRecord) {
	ctx := context.Background()
	params := url.Values{}
	params.Add("_pragma", "busy_timeout(5000)")
	params.Add("_pragma", "foreign_keys(1)")
	params.Add("_pragma", "synchronous(FULL)")
	params.Add("_pragma", "journal_mode(WAL)")
	params.Add("_pragma", "temp_store(MEMORY)")
	params.Set("_txlock", "immediate")
	db, err := sql.Open("sqlite", path+"?"+params.Encode())
	if err != nil {
		b.Fatal(err)
	}
	defer db.Close()
	db.SetMaxOpenConns(1)

	full, err := db.PrepareContext(ctx, rawInsertSQL(rawTxRows,
		func(int) string { return "?" }))
	if err != nil {
		b.Fatal(err)
	}
	defer full.Close()

	args := make([]any, 0, rawTxRows*len(rawColumns))
	for len(rows) > 0 {
		n := min(len(rows), rawTxRows)
		args = args[:0]
		for _, r := range rows[:n] {
			args = usageArgs(args, r)
		}
		tx, err := db.BeginTx(ctx, nil)
		if err != nil {
			b.Fatal(err)
		}
		stmt := tx.StmtContext(ctx, full)
		if n < rawTxRows {
			stmt, err = tx.PrepareContext(ctx, rawInsertSQL(n,
				func(int) string { return "?" }))
			if err != nil {
				b.Fatal(err)
			}
		}
		if _, err := stmt.ExecContext(ctx, args...); err != nil {
			b.Fatal(err)
		}
		if err := tx.Commit(); err != nil {
			b.Fatal(err)
		}
		rows = rows[n:]
	}
}

// rawCopyPostgres is the PostgreSQL baseline: COPY.
func rawCopyPostgres(b *testing.B, dsn string, rows []store.UsageRecord) {
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, dsn)
	if err != nil {
		b.Fatal(err)
	}
	defer conn.Close(ctx)

	for len(rows) > 0 {
		n := min(len(rows), rawTxRows)
		chunk := rows[:n]
		err := pgx.BeginFunc(ctx, conn, func(tx pgx.Tx) error {
			_, err := tx.CopyFrom(ctx, pgx.Identifier{"usage_records"},
				rawColumns, pgx.CopyFromSlice(n,
					func(i int) ([]any, error) {
						return usageArgs(nil, chunk[i]), nil
					}))
			return err
		})
		if err != nil {
			b.Fatal(err)
		}
		rows = rows[n:]
	}
}
