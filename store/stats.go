package store

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"sync/atomic"
)

// sqliteDriver is the database/sql name of the SQLite driver the store
// opens: modernc's, wrapped to count the statements it runs. The count
// is what the payout benchmark reports per payout (make bench); a wrapper
// at the driver counts every statement whoever wrote the query.
const sqliteDriver = "sqlite-counted"

// statements counts the statements run on SQLite connections in this
// process.
var statements atomic.Int64

func init() {
	db, err := sql.Open("sqlite", "")
	if err != nil {
		panic(err)
	}
	sql.Register(sqliteDriver, countingDriver{db.Driver()})
}

// Statements returns how many statements (queries and execs) this process
// ran on SQLite stores since it started.
func Statements() int64 {
	return statements.Load()
}

// logStats logs the statement count, if any; Close calls it.
func logStats() {
	if statements.Load() == 0 {
		return
	}
	log.Infof("Store closed after %d statements", statements.Load())
}

// countingDriver opens connections that count their statements.
type countingDriver struct {
	driver.Driver
}

func (d countingDriver) Open(name string) (driver.Conn, error) {
	c, err := d.Driver.Open(name)
	if err != nil {
		return nil, err
	}
	return &countingConn{Conn: c, stmts: newStmtCache()}, nil
}

// countingConn passes everything to the driver's connection, counting
// each statement, and runs statements prepared once per connection
// (stmtCache). It offers database/sql the context interfaces, so
// statements take the same path as without it.
type countingConn struct {
	driver.Conn
	stmts *stmtCache
}

var (
	_ driver.ExecerContext      = (*countingConn)(nil)
	_ driver.QueryerContext     = (*countingConn)(nil)
	_ driver.ConnPrepareContext = (*countingConn)(nil)
	_ driver.ConnBeginTx        = (*countingConn)(nil)
	_ driver.Pinger             = (*countingConn)(nil)
	_ driver.SessionResetter    = (*countingConn)(nil)
	_ driver.NamedValueChecker  = (*countingConn)(nil)
	_ driver.Validator          = (*countingConn)(nil)
)

func (c *countingConn) ExecContext(ctx context.Context, query string,
	args []driver.NamedValue) (driver.Result, error) {

	e, ok := c.Conn.(driver.ExecerContext)
	if !ok {
		return nil, driver.ErrSkip
	}
	s, err := c.stmts.get(ctx, query, c.PrepareContext)
	if err != nil {
		return nil, err
	}
	statements.Add(1)
	if s != nil {
		return s.exec(ctx, args)
	}
	return e.ExecContext(ctx, query, args)
}

func (c *countingConn) QueryContext(ctx context.Context, query string,
	args []driver.NamedValue) (driver.Rows, error) {

	q, ok := c.Conn.(driver.QueryerContext)
	if !ok {
		return nil, driver.ErrSkip
	}
	s, err := c.stmts.get(ctx, query, c.PrepareContext)
	if err != nil {
		return nil, err
	}
	statements.Add(1)
	if s != nil {
		return s.query(ctx, args)
	}
	return q.QueryContext(ctx, query, args)
}

func (c *countingConn) PrepareContext(ctx context.Context,
	query string) (driver.Stmt, error) {

	if p, ok := c.Conn.(driver.ConnPrepareContext); ok {
		return p.PrepareContext(ctx, query)
	}
	return c.Prepare(query)
}

// Close closes the connection's prepared statements, then the
// connection.
func (c *countingConn) Close() error {
	c.stmts.close()
	return c.Conn.Close()
}

func (c *countingConn) BeginTx(ctx context.Context,
	opts driver.TxOptions) (driver.Tx, error) {

	if b, ok := c.Conn.(driver.ConnBeginTx); ok {
		return b.BeginTx(ctx, opts)
	}
	//nolint:staticcheck // The fallback database/sql itself uses.
	return c.Begin()
}

func (c *countingConn) Ping(ctx context.Context) error {
	if p, ok := c.Conn.(driver.Pinger); ok {
		return p.Ping(ctx)
	}
	return nil
}

func (c *countingConn) CheckNamedValue(nv *driver.NamedValue) error {
	if v, ok := c.Conn.(driver.NamedValueChecker); ok {
		return v.CheckNamedValue(nv)
	}
	return driver.ErrSkip
}

func (c *countingConn) IsValid() bool {
	if v, ok := c.Conn.(driver.Validator); ok {
		return v.IsValid()
	}
	return true
}

func (c *countingConn) ResetSession(ctx context.Context) error {
	if r, ok := c.Conn.(driver.SessionResetter); ok {
		return r.ResetSession(ctx)
	}
	return nil
}
