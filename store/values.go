package store

import (
	"math/bits"
	"strconv"
	"strings"
	"sync"
)

// valuesMaxRows is the most rows one multi-row statement carries: with at
// most 8 columns, 4,096 parameters, well inside SQLite's 32,766 and
// PostgreSQL's 65,535. A power of two (valuesChunks).
const valuesMaxRows = 512

// valuesExact is the row count below which a multi-row statement carries
// exactly the rows left: a group commit's few accounts or postings take
// one statement, in one of at most valuesExact shapes.
const valuesExact = 32

// valuesChunks splits n rows into the row counts of the multi-row
// statements that write them: as many valuesMaxRows as fit, then the
// powers of two of the rest down to valuesExact, then what is left in one
// (700 → 512, 128, 32, 28). A table's statements so come in a few dozen
// shapes that connections keep prepared (stmtCache; pgx's own cache on
// PostgreSQL), where a statement of exactly n rows would be parsed anew
// for nearly every n of a large group commit.
func valuesChunks(n int) []int {
	var sizes []int
	for ; n >= valuesMaxRows; n -= valuesMaxRows {
		sizes = append(sizes, valuesMaxRows)
	}
	for n >= valuesExact {
		size := 1 << (bits.Len(uint(n)) - 1)
		sizes = append(sizes, size)
		n -= size
	}
	if n > 0 {
		sizes = append(sizes, n)
	}

	return sizes
}

// chunks returns the row counts of the statements that write or read n
// rows: valuesChunks on SQLite; on PostgreSQL, whose statements take each
// column as one array (unnestSQL) whatever the number of rows, one of all
// n.
func (t *Tx) chunks(n int) []int {
	if t.backend == Postgres {
		if n == 0 {
			return nil
		}
		return []int{n}
	}

	return valuesChunks(n)
}

// unnestSQL returns prefix, then PostgreSQL's "unnest($1::t1[], ...,
// $n::tn[])" of one array parameter per type, then suffix: a statement
// that takes any number of rows as one array per column, in one shape
// that stays prepared, where a multi-row VALUES binds a parameter per
// value and comes in many shapes. unnest gives the rows in the arrays'
// order.
func unnestSQL(prefix string, types []string, suffix string) string {
	var q strings.Builder
	q.WriteString(prefix)
	q.WriteString("unnest(")
	for i, typ := range types {
		if i > 0 {
			q.WriteString(", ")
		}
		q.WriteString("$" + strconv.Itoa(i+1) + "::" + typ + "[]")
	}
	q.WriteString(")")
	q.WriteString(suffix)

	return q.String()
}

// idList returns prefix, a condition that its last column is one of ids,
// and suffix, with the arguments: " IN (?,?,...)" on SQLite, in one of
// valuesChunks' shapes; " = ANY($1::text[])" on PostgreSQL, one shape for
// any number of ids.
func (t *Tx) idList(prefix string, ids []string, suffix string) (string,
	[]any) {

	if t.backend == Postgres {
		return prefix + " = ANY($1::text[])" + suffix, []any{ids}
	}
	args := make([]any, len(ids))
	for i, id := range ids {
		args[i] = id
	}

	return listSQL(t.backend, prefix+" IN (", "", "", "", ",", 1,
		len(ids), ")"+suffix), args
}

// valuesShape names one multi-row statement.
type valuesShape struct {
	backend                Backend
	prefix, suffix         string
	open, sep, close, join string
	cols, rows             int
}

// valuesStatements are the multi-row statements built so far, by shape:
// a few per table (valuesChunks).
var valuesStatements sync.Map

// valuesSQL returns prefix, then rows tuples of cols placeholders of the
// backend, numbered from 1 on PostgreSQL, then suffix: "INSERT INTO t (a,
// b) VALUES " + "(?,?),(?,?)" + " ON CONFLICT ...".
func valuesSQL(backend Backend, prefix string, cols, rows int,
	suffix string) string {

	return listSQL(backend, prefix, "(", ",", ")", ",", cols, rows, suffix)
}

// listSQL returns prefix, then rows groups of cols placeholders of the
// backend (numbered from 1 on PostgreSQL), each group between open and
// close with sep between its placeholders and the groups joined by join,
// then suffix; built once per shape.
func listSQL(backend Backend, prefix, open, sep, close, join string,
	cols, rows int, suffix string) string {

	shape := valuesShape{backend, prefix, suffix, open, sep, close, join,
		cols, rows}
	if q, ok := valuesStatements.Load(shape); ok {
		return q.(string)
	}

	t := Tx{backend: backend}
	var q strings.Builder
	q.Grow(len(prefix) + len(suffix) + rows*cols*6)
	q.WriteString(prefix)
	for i := 0; i < rows; i++ {
		if i > 0 {
			q.WriteString(join)
		}
		q.WriteString(open)
		for c := 0; c < cols; c++ {
			if c > 0 {
				q.WriteString(sep)
			}
			q.WriteString(t.param(i*cols + c + 1))
		}
		q.WriteString(close)
	}
	q.WriteString(suffix)
	valuesStatements.Store(shape, q.String())

	return q.String()
}
