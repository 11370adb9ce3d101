//go:build upgradetest

package store

import (
	"context"
	"embed"
	"errors"
	"io/fs"
	"path"
	"slices"

	"github.com/sluice-ln/sluice/metering"
)

// upgradeFiles is the upgradetest build's extra migration: the "newer
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

// overlayFS shows extraDir's files as if they were in base's dir.
type overlayFS struct {
	base, extra   fs.FS
	dir, extraDir string
}

// Open opens name from base, or from extraDir for a file of dir that base
// lacks.
func (o overlayFS) Open(name string) (fs.File, error) {
	f, err := o.base.Open(name)
	if err == nil || !errors.Is(err, fs.ErrNotExist) ||
		path.Dir(name) != o.dir {

		return f, err
	}

	return o.extra.Open(path.Join(o.extraDir, path.Base(name)))
}

// ReadDir lists dir with extraDir's files in it, by name.
func (o overlayFS) ReadDir(name string) ([]fs.DirEntry, error) {
	entries, err := fs.ReadDir(o.base, name)
	if err != nil || name != o.dir {
		return entries, err
	}
	extra, err := fs.ReadDir(o.extra, o.extraDir)
	if err != nil {
		return nil, err
	}
	entries = append(entries, extra...)
	slices.SortFunc(entries, func(a, b fs.DirEntry) int {
		switch {
		case a.Name() < b.Name():
			return -1
		case a.Name() > b.Name():
			return 1
		}
		return 0
	})

	return entries, nil
}
