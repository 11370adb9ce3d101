package store_test

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/sluice-ln/sluice/leader"
	"github.com/sluice-ln/sluice/store"
	"github.com/sluice-ln/sluice/store/storetest"
	"github.com/stretchr/testify/require"
)

// openLeaderPG opens a fresh PostgreSQL store, or skips.
func openLeaderPG(t *testing.T) *store.DB {
	t.Helper()
	return storetest.Open(t, storetest.Config(t, store.Postgres))
}

// TestLeaderLeaseCampaign covers the lease's life: the first campaign
// wins token 1, a renewal keeps it, another holder cannot take a live lease
// and takes an expired one with the next token, and the old holder's
// renewal then reports the new holder.
func TestLeaderLeaseCampaign(t *testing.T) {
	db := openLeaderPG(t)
	ctx := context.Background()

	l, err := db.LeaderLease(ctx)
	require.NoError(t, err)
	require.Equal(t, "", l.Holder)
	require.Zero(t, l.Token)

	a, err := db.Campaign(ctx, "a", "127.0.0.1:1", 0, time.Hour)
	require.NoError(t, err)
	require.Equal(t, "a", a.Holder)
	require.Equal(t, "127.0.0.1:1", a.Address)
	require.EqualValues(t, 1, a.Token)

	// A renewal keeps the token and moves the expiry on.
	again, err := db.Campaign(ctx, "a", "127.0.0.1:1", 1, time.Hour)
	require.NoError(t, err)
	require.EqualValues(t, 1, again.Token)
	require.False(t, again.Expires.Before(a.Expires))

	// b cannot take a live lease; it is told who holds it.
	b, err := db.Campaign(ctx, "b", "127.0.0.1:2", 0, time.Hour)
	require.NoError(t, err)
	require.Equal(t, "a", b.Holder)
	require.EqualValues(t, 1, b.Token)

	// a's wrong token is not a renewal.
	wrong, err := db.Campaign(ctx, "a", "127.0.0.1:1", 7, time.Hour)
	require.NoError(t, err)
	require.EqualValues(t, 1, wrong.Token)

	// Let a's lease expire: renew it with a lease of 1 µs, which ends
	// before the next statement's now().
	_, err = db.Campaign(ctx, "a", "127.0.0.1:1", 1, time.Microsecond)
	require.NoError(t, err)
	time.Sleep(5 * time.Millisecond)

	b, err = db.Campaign(ctx, "b", "127.0.0.1:2", 0, time.Hour)
	require.NoError(t, err)
	require.Equal(t, "b", b.Holder)
	require.Equal(t, "127.0.0.1:2", b.Address)
	require.EqualValues(t, 2, b.Token)

	// a's renewal finds b.
	a, err = db.Campaign(ctx, "a", "127.0.0.1:1", 1, time.Hour)
	require.NoError(t, err)
	require.Equal(t, "b", a.Holder)
	require.EqualValues(t, 2, a.Token)
}

// TestLeaderLeaseSQLite: SQLite has one instance, which leads; there is
// no lease to campaign for and a fenced view is the store itself.
func TestLeaderLeaseSQLite(t *testing.T) {
	db := storetest.Open(t, storetest.Config(t, store.SQLite))
	_, err := db.Campaign(context.Background(), "a", "x", 0, time.Hour)
	require.ErrorIs(t, err, store.ErrInvalidConfig)
	require.Same(t, db, db.Fenced(func() int64 { return 0 }, nil))
}

// probe is a fenced write: it adds a row to leader_probe.
func probe(ctx context.Context, db *store.DB, who string) error {
	return db.ExecTx(ctx, store.TxOptions{}, func(tx *store.Tx) error {
		return tx.Exec(ctx,
			"INSERT INTO leader_probe (who) VALUES ($1)", who)
	})
}

// TestFencedView checks the fence: a view without a token, or with one
// the lease no longer holds, cannot write and names the leader; reads pass;
// the deposed callback hears only of a token that was once current.
func TestFencedView(t *testing.T) {
	db := openLeaderPG(t)
	ctx := context.Background()
	require.NoError(t, execDB(ctx, db,
		"CREATE TABLE leader_probe (id BIGINT GENERATED ALWAYS AS "+
			"IDENTITY PRIMARY KEY, who TEXT NOT NULL)"))

	var aToken atomic.Int64
	var deposed []*leader.Fenced
	a := db.Fenced(aToken.Load, func(f *leader.Fenced) {
		deposed = append(deposed, f)
	})

	// Not leading: refused, and not a deposal.
	err := probe(ctx, a, "a")
	require.ErrorIs(t, err, store.ErrFenced)
	require.ErrorIs(t, err, leader.ErrNotLeader)
	require.Empty(t, deposed)

	l, err := db.Campaign(ctx, "a", "127.0.0.1:1", 0, time.Microsecond)
	require.NoError(t, err)
	aToken.Store(l.Token)
	require.NoError(t, probe(ctx, a, "a"))

	// Reads pass whatever the token.
	require.NoError(t, a.ExecTx(ctx, store.TxOptions{ReadOnly: true},
		func(*store.Tx) error { return nil }))

	time.Sleep(5 * time.Millisecond)
	b, err := db.Campaign(ctx, "b", "127.0.0.1:2", 0, time.Hour)
	require.NoError(t, err)
	require.Equal(t, "b", b.Holder)

	err = probe(ctx, a, "a")
	var fenced *leader.Fenced
	require.ErrorAs(t, err, &fenced)
	require.Equal(t, l.Token, fenced.Token)
	require.Equal(t, "127.0.0.1:2", fenced.Current.Address)
	require.Contains(t, err.Error(), "not the leader; the leader is "+
		"127.0.0.1:2")
	require.Len(t, deposed, 1)

	bView := db.Fenced(func() int64 { return b.Token }, nil)
	require.NoError(t, probe(ctx, bView, "b"))
}

// TestFencedWriteRacesTakeover runs fenced writes of a leader while
// another instance takes its expired lease over and then writes a marker:
// every row of the old leader was committed before the marker's, i.e. no
// write of the old token commits once the takeover has.
func TestFencedWriteRacesTakeover(t *testing.T) {
	db := openLeaderPG(t)
	ctx := context.Background()
	require.NoError(t, execDB(ctx, db,
		"CREATE TABLE leader_probe (id BIGINT GENERATED ALWAYS AS "+
			"IDENTITY PRIMARY KEY, who TEXT NOT NULL)"))

	for round := 0; round < 5; round++ {
		require.NoError(t, execDB(ctx, db,
			"DELETE FROM leader_probe"))
		prev, err := db.LeaderLease(ctx)
		require.NoError(t, err)
		old, err := db.Campaign(ctx, "old", "o", 0, time.Microsecond)
		require.NoError(t, err)
		require.Equal(t, prev.Token+1, old.Token)
		oldView := db.Fenced(func() int64 { return old.Token }, nil)

		var (
			wg      sync.WaitGroup
			stop    atomic.Bool
			writes  atomic.Int64
			oldErrs = make(chan error, 1)
		)
		wg.Add(1)
		go func() {
			defer wg.Done()
			for !stop.Load() {
				err := probe(ctx, oldView, "old")
				if errors.Is(err, store.ErrFenced) {
					return
				}
				if err != nil {
					oldErrs <- err
					return
				}
				writes.Add(1)
			}
		}()

		// Let some writes through, then take over.
		for writes.Load() < 3 {
			time.Sleep(time.Millisecond)
		}
		nw, err := db.Campaign(ctx, "new", "n", 0, time.Hour)
		require.NoError(t, err)
		require.Equal(t, "new", nw.Holder)
		newView := db.Fenced(func() int64 { return nw.Token }, nil)
		require.NoError(t, probe(ctx, newView, "new"))

		// The old leader's next write fails; then stop it.
		wg.Wait()
		stop.Store(true)
		select {
		case err := <-oldErrs:
			t.Fatalf("old leader's write: %v", err)
		default:
		}

		var after int
		require.NoError(t, queryInt(ctx, db,
			"SELECT COUNT(*) FROM leader_probe WHERE who = 'old' "+
				"AND id > (SELECT id FROM leader_probe WHERE "+
				"who = 'new')", &after))
		require.Zero(t, after, "round %d: old leader committed "+
			"after the takeover", round)

		// Hand the lease back for the next round.
		_, err = db.Campaign(ctx, "new", "n", nw.Token,
			time.Microsecond)
		require.NoError(t, err)
		time.Sleep(5 * time.Millisecond)
	}
}

// execDB runs one statement in its own transaction.
func execDB(ctx context.Context, db *store.DB, query string) error {
	return db.ExecTx(ctx, store.TxOptions{}, func(tx *store.Tx) error {
		return tx.Exec(ctx, query)
	})
}

// queryInt reads one integer.
func queryInt(ctx context.Context, db *store.DB, query string,
	v *int) error {

	return db.ExecTx(ctx, store.TxOptions{ReadOnly: true},
		func(tx *store.Tx) error {
			return tx.QueryRow(ctx, query).Scan(v)
		})
}

// TestCreditedNotifications: providers named by NotifyCredited reach a
// ListenCredited on another connection, in order, however many there are
// (a long list goes in several notifications).
func TestCreditedNotifications(t *testing.T) {
	db := openLeaderPG(t)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()

	got := make(chan []string, 100)
	ready := make(chan struct{})
	done := make(chan error, 1)
	go func() {
		done <- db.ListenCredited(ctx, ready, func(p []string) {
			got <- p
		})
	}()
	select {
	case <-ready:
	case err := <-done:
		t.Fatalf("listen: %v", err)
	}

	require.NoError(t, db.NotifyCredited(ctx, []string{"p1", "p2"}))
	require.Equal(t, []string{"p1", "p2"}, <-got)

	var many []string
	for i := range 2000 {
		many = append(many, fmt.Sprintf("provider-%04d", i))
	}
	require.NoError(t, db.NotifyCredited(ctx, many))
	var heard []string
	for len(heard) < len(many) {
		select {
		case p := <-got:
			require.NotEmpty(t, p)
			heard = append(heard, p...)
		case err := <-done:
			t.Fatalf("listen: %v", err)
		}
	}
	require.Equal(t, many, heard)

	cancel()
	require.ErrorIs(t, <-done, context.Canceled)
}
