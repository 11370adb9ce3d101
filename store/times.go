package store

import (
	"database/sql"
	"time"
)

// Helpers every domain's queries share.

// dbTime is t as the store writes times: UTC, microsecond precision (what
// Postgres keeps), so that a time read back equals the one written.
func dbTime(t time.Time) time.Time {
	return t.UTC().Truncate(time.Microsecond)
}

// nullTime is t for a nullable column: NULL for the zero time.
func nullTime(t time.Time) sql.NullTime {
	if t.IsZero() {
		return sql.NullTime{}
	}
	return sql.NullTime{Time: dbTime(t), Valid: true}
}

// fromNull is a nullable time column as a UTC time; zero for NULL.
func fromNull(t sql.NullTime) time.Time {
	if !t.Valid {
		return time.Time{}
	}
	return t.Time.UTC()
}
