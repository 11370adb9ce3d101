package store

import (
	"context"
	"database/sql/driver"
	"fmt"

	"github.com/hashicorp/golang-lru/v2/simplelru"
)

// Bounds of a SQLite connection's prepared statements.
const (
	// stmtCacheSize is how many statements one connection keeps
	// prepared, the least recently used dropped first: every query sqlc
	// generates, and the few shapes of the multi-row statements
	// (valuesChunks), fit.
	stmtCacheSize = 512

	// stmtCacheMaxLen is the longest statement kept prepared; longer
	// ones (migration scripts) are parsed each time they run.
	stmtCacheMaxLen = 32 << 10
)

// stmtCache is one SQLite connection's prepared statements, by their SQL.
// Parsing was an eighth of sluiced's CPU at 10,000 jobs (BenchmarkScale):
// database/sql prepares nothing for a plain Exec or Query, so every
// statement was parsed again each time it ran. PostgreSQL's driver (pgx)
// keeps its own cache per connection.
//
// database/sql calls a connection from one goroutine at a time, so the
// cache needs no lock. A statement whose rows are still open is busy: a
// second query of the same SQL meanwhile (a nested read) runs unprepared,
// and one the cache drops meanwhile is closed when its rows are.
type stmtCache struct {
	lru *simplelru.LRU[string, *cachedStmt]
}

// cachedStmt is a prepared statement of a connection.
type cachedStmt struct {
	stmt driver.Stmt

	// busy is set while rows of the statement are open.
	busy bool

	// dropped is set when the cache let go of the statement while it
	// was busy: its rows close it.
	dropped bool
}

func newStmtCache() *stmtCache {
	lru, err := simplelru.NewLRU(stmtCacheSize,
		func(_ string, s *cachedStmt) {
			if s.busy {
				s.dropped = true
				return
			}
			_ = s.stmt.Close()
		})
	if err != nil {
		// Only a size below one fails.
		panic(err)
	}

	return &stmtCache{lru: lru}
}

// get returns query's statement, preparing it with prepare on first use;
// nil (and no error) when the query is not to be kept or its statement
// is busy.
func (c *stmtCache) get(ctx context.Context, query string,
	prepare func(context.Context, string) (driver.Stmt, error)) (
	*cachedStmt, error) {

	if len(query) > stmtCacheMaxLen {
		return nil, nil
	}
	if s, ok := c.lru.Get(query); ok {
		if s.busy {
			return nil, nil
		}
		return s, nil
	}
	st, err := prepare(ctx, query)
	if err != nil {
		return nil, err
	}
	s := &cachedStmt{stmt: st}
	c.lru.Add(query, s)

	return s, nil
}

// close closes every statement; its connection is closing. Busy ones are
// closed with their rows.
func (c *stmtCache) close() {
	c.lru.Purge()
}

// exec runs s with args.
func (s *cachedStmt) exec(ctx context.Context,
	args []driver.NamedValue) (driver.Result, error) {

	e, ok := s.stmt.(driver.StmtExecContext)
	if !ok {
		return nil, fmt.Errorf("statement %T cannot take a context",
			s.stmt)
	}

	return e.ExecContext(ctx, args)
}

// query runs s with args; s is busy until the rows are closed.
func (s *cachedStmt) query(ctx context.Context,
	args []driver.NamedValue) (driver.Rows, error) {

	q, ok := s.stmt.(driver.StmtQueryContext)
	if !ok {
		return nil, fmt.Errorf("statement %T cannot take a context",
			s.stmt)
	}
	s.busy = true
	rows, err := q.QueryContext(ctx, args)
	if err != nil {
		s.release()
		return nil, err
	}

	return &cachedRows{Rows: rows, stmt: s}, nil
}

// release marks s free again, closing it if the cache dropped it.
func (s *cachedStmt) release() {
	s.busy = false
	if s.dropped {
		_ = s.stmt.Close()
	}
}

// cachedRows are the rows of a cached statement: closing them frees it.
type cachedRows struct {
	driver.Rows
	stmt *cachedStmt
}

func (r *cachedRows) Close() error {
	if r.stmt == nil {
		return nil
	}
	err := r.Rows.Close()
	r.stmt.release()
	r.stmt = nil

	return err
}
