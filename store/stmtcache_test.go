package store

import (
	"context"
	"database/sql"
	"fmt"
	"path/filepath"
	"testing"
)

// TestStmtCache runs statements through one SQLite connection's prepared
// statement cache: repeated, nested while the first's rows are open, and
// dropped from the cache while busy.
func TestStmtCache(t *testing.T) {
	ctx := context.Background()
	db, err := sql.Open(sqliteDriver,
		filepath.Join(t.TempDir(), "cache.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	db.SetMaxOpenConns(1)

	if _, err := db.ExecContext(ctx,
		"CREATE TABLE t (x INTEGER PRIMARY KEY)"); err != nil {
		t.Fatal(err)
	}
	for i := 1; i <= 3; i++ {
		if _, err := db.ExecContext(ctx,
			"INSERT INTO t (x) VALUES (?)", i); err != nil {
			t.Fatal(err)
		}
	}
	const all = "SELECT x FROM t ORDER BY x"
	sum := func(q *sql.Rows) int {
		t.Helper()
		total := 0
		for q.Next() {
			var x int
			if err := q.Scan(&x); err != nil {
				t.Fatal(err)
			}
			total += x
		}
		if err := q.Err(); err != nil {
			t.Fatal(err)
		}
		return total
	}

	tx, err := db.BeginTx(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer tx.Rollback()

	// The same query inside the first's rows runs unprepared.
	outer, err := tx.QueryContext(ctx, all)
	if err != nil {
		t.Fatal(err)
	}
	rows := 0
	for outer.Next() {
		inner, err := tx.QueryContext(ctx, all)
		if err != nil {
			t.Fatal(err)
		}
		if got := sum(inner); got != 6 {
			t.Fatalf("nested query: sum %d, want 6", got)
		}
		rows++
	}
	if err := outer.Err(); err != nil {
		t.Fatal(err)
	}
	outer.Close()
	if rows != 3 {
		t.Fatalf("outer query: %d rows, want 3", rows)
	}

	// A busy statement the cache drops stays usable until its rows
	// close, and is prepared again afterwards.
	busy, err := tx.QueryContext(ctx, all)
	if err != nil {
		t.Fatal(err)
	}
	if !busy.Next() {
		t.Fatal("no first row")
	}
	for i := 0; i < stmtCacheSize+10; i++ {
		var x int
		err := tx.QueryRowContext(ctx,
			fmt.Sprintf("SELECT x + %d FROM t WHERE x = ?", i), 1).
			Scan(&x)
		if err != nil || x != 1+i {
			t.Fatalf("statement %d: %d, %v", i, x, err)
		}
	}
	if got := 1 + sum(busy); got != 6 {
		t.Fatalf("dropped busy statement: sum %d, want 6", got)
	}
	again, err := tx.QueryContext(ctx, all)
	if err != nil {
		t.Fatal(err)
	}
	if got := sum(again); got != 6 {
		t.Fatalf("prepared again: sum %d, want 6", got)
	}

	// Errors come back as without the cache.
	if _, err := tx.ExecContext(ctx, "INSERT INTO t (x) VALUES (?)",
		1); err == nil {
		t.Fatal("duplicate key accepted")
	}
	if _, err := tx.ExecContext(ctx, "SELEKT 1"); err == nil {
		t.Fatal("syntax error accepted")
	}
}
