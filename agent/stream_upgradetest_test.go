//go:build upgradetest

package agent

import (
	"context"
	"slices"
	"testing"
)

// TestStreamNegotiatesVersion: with a build that knows batch version 2,
// the agent sends the newest version the answering server reads: it falls
// back to 1 when an older server refuses 2, and moves up to 2 when, after
// a dropped connection, the server announces it. Every second is stored
// and charged once either way.
func TestStreamNegotiatesVersion(t *testing.T) {
	t.Run("older server refuses version 2", func(t *testing.T) {
		c := newServer(t, nil)
		c.versions, c.reads = []uint8{1, 2}, []uint8{1}
		stats, err := Stream(context.Background(), streamCfg(c, nil),
			newFakeRun(seconds(10, 10)...))
		if err != nil {
			t.Fatal(err)
		}
		checkRows(t, c, 10, streamStart.Unix()+10)
		c.store.CheckCharges(t, "job-1", 10, 0)
		if c.sent[0] != 2 || slices.Contains(c.sent[1:], 2) ||
			stats.BatchVersion != 1 {

			t.Fatalf("sent versions %v, last %d; want 2, then 1",
				c.sent, stats.BatchVersion)
		}
	})

	t.Run("upgraded server after a dropped connection", func(t *testing.T) {
		c := newServer(t, nil)
		c.versions, c.reads = []uint8{1}, []uint8{1, 2}
		c.failBefore = 1
		upgrade := func() {
			c.mu.Lock()
			c.versions = []uint8{1, 2}
			c.mu.Unlock()
		}
		stats, err := Stream(context.Background(),
			streamCfg(c, upgrade), newFakeRun(seconds(10, 10)...))
		if err != nil {
			t.Fatal(err)
		}
		checkRows(t, c, 10, streamStart.Unix()+10)
		c.store.CheckCharges(t, "job-1", 10, 0)
		// The dropped submit never reached the server: every batch
		// that did is version 2.
		if len(c.sent) == 0 || slices.Contains(c.sent, 1) ||
			stats.BatchVersion != 2 {

			t.Fatalf("sent versions %v, last %d; want all 2",
				c.sent, stats.BatchVersion)
		}
	})
}
