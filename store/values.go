package store

import (
	"math/bits"
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
