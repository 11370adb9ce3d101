//go:build upgradetest

package store

import (
	"context"
	"embed"
	"errors"
	"fmt"
	"io/fs"
	"path"
	"slices"
	"strings"

	"github.com/sluice-ln/sluice/metering"
)

// upgradeFiles is the upgradetest build's extra migration, numbered after
// the tree's newest (overlayFS): the "newer
// build" of the rolling-upgrade test (itest/upgrade_test.go) carries one
// additive migration more than today's, and usage batch version 2, whose
// sent-at time it stores there.
//
//go:embed upgradetest/*.sql
var upgradeFiles embed.FS

func init() {
	embeddedMigrations = migrationSource{fsys: overlayFS{
		base: migrationFiles, extra: upgradeFiles,
		dir: "migrations", extraDir: "upgradetest",
	}, dir: "migrations"}
	saveSentAt = saveUsageSentAt
}

// saveUsageSentAt stores each meter's LastSentAt, where one came.
func saveUsageSentAt(ctx context.Context, tx *Tx,
	meters []metering.JobMeter) error {

	for _, m := range meters {
		if m.LastSentAt <= 0 {
			continue
		}
		_, err := tx.exec(ctx, "UPDATE usage_meters SET "+
			"last_sent_at_ms = $1 WHERE job_id = $2", m.LastSentAt,
			m.JobID)
		if err != nil {
			return err
		}
	}

	return nil
}

// overlayFS shows extraDir's files in base's dir, numbered after base's
// last migration: extraDir holds name.up.sql and name.down.sql, which
// appear as NNNNNN_name.up.sql and NNNNNN_name.down.sql with NNNNNN one
// more than base's newest version, so that the test migration stays the
// newest whatever migrations the tree gains.
type overlayFS struct {
	base, extra   fs.FS
	dir, extraDir string
}

// next is the version the extra migrations take.
func (o overlayFS) next() (int, error) {
	entries, err := fs.ReadDir(o.base, o.dir)
	if err != nil {
		return 0, err
	}
	n := 0
	for _, e := range entries {
		if strings.HasSuffix(e.Name(), ".up.sql") {
			n++
		}
	}

	return n + 1, nil
}

// Open opens name from base, or the extra file it names.
func (o overlayFS) Open(name string) (fs.File, error) {
	f, err := o.base.Open(name)
	if err == nil || !errors.Is(err, fs.ErrNotExist) ||
		path.Dir(name) != o.dir {

		return f, err
	}
	next, nerr := o.next()
	if nerr != nil {
		return nil, nerr
	}
	prefix := fmt.Sprintf("%06d_", next)
	base := path.Base(name)
	if !strings.HasPrefix(base, prefix) {
		return nil, err
	}

	return o.extra.Open(path.Join(o.extraDir,
		strings.TrimPrefix(base, prefix)))
}

// renamed is a directory entry shown under another name.
type renamed struct {
	fs.DirEntry
	name string
}

// Name is the entry's shown name.
func (r renamed) Name() string { return r.name }

// ReadDir lists dir with the extra files in it, numbered, by name.
func (o overlayFS) ReadDir(name string) ([]fs.DirEntry, error) {
	entries, err := fs.ReadDir(o.base, name)
	if err != nil || name != o.dir {
		return entries, err
	}
	next, err := o.next()
	if err != nil {
		return nil, err
	}
	extra, err := fs.ReadDir(o.extra, o.extraDir)
	if err != nil {
		return nil, err
	}
	for _, e := range extra {
		entries = append(entries, renamed{DirEntry: e,
			name: fmt.Sprintf("%06d_%s", next, e.Name())})
	}
	slices.SortFunc(entries, func(a, b fs.DirEntry) int {
		return strings.Compare(a.Name(), b.Name())
	})

	return entries, nil
}
