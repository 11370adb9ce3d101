package daemon

import (
	"context"
	"testing"
	"time"

	"github.com/lightningnetwork/lnd/clock"
	"github.com/sluice-ln/sluice/store"
	"github.com/sluice-ln/sluice/store/storetest"
	"github.com/stretchr/testify/require"
)

// testElection is an election whose leader-only work records its token
// and the credits it hears.
type testElection struct {
	*election
	tokens  chan int64
	credits chan []string
	wakes   chan struct{}
}

func newTestElection(db *store.DB) *testElection {
	te := &testElection{
		tokens:  make(chan int64, 10),
		credits: make(chan []string, 100),
		wakes:   make(chan struct{}, 100),
	}
	te.election = newElection(db, func(token int64) leaderHooks {
		te.tokens <- token
		return leaderHooks{
			credited: func(p ...string) { te.credits <- p },
			wake:     func() { te.wakes <- struct{}{} },
		}
	})
	return te
}

// waitFor fails the test unless ch yields within a minute.
func waitFor[T any](t *testing.T, ch <-chan T, what string) T {
	t.Helper()
	select {
	case v := <-ch:
		return v
	case <-time.After(time.Minute):
		t.Fatalf("no %s", what)
	}
	var zero T
	return zero
}

// TestElectionSQLite: the one instance leads at once, with token 0, and
// credits go straight to its scheduler.
func TestElectionSQLite(t *testing.T) {
	db := storetest.Open(t, storetest.Config(t, store.SQLite))
	te := newTestElection(db)
	require.NoError(t, te.run(defaultLeaderConfig(), "127.0.0.1:1",
		clock.NewDefaultClock()))
	require.EqualValues(t, 0, waitFor(t, te.tokens, "start"))
	te.Credited("p1")
	require.Equal(t, []string{"p1"}, waitFor(t, te.credits, "credit"))
	role, token, _ := te.status()
	require.Equal(t, "leader", role)
	require.Zero(t, token)
	te.stop()
}

// TestElectionPostgres: of two instances on one database the first leads;
// credits on the follower reach the leader's scheduler through
// PostgreSQL; when the leader stops and resigns, the follower leads with
// the next token.
func TestElectionPostgres(t *testing.T) {
	cfg := storetest.Config(t, store.Postgres)
	a := newTestElection(storetest.Open(t, cfg))
	b := newTestElection(storetest.Open(t, cfg))
	lc := &LeaderConfig{TTL: 300 * time.Millisecond}
	clk := clock.NewDefaultClock()

	require.NoError(t, a.run(lc, "127.0.0.1:1", clk))
	require.EqualValues(t, 1, waitFor(t, a.tokens, "a elected"))
	// The listener's first connection asks for a full round.
	waitFor(t, a.wakes, "a's wake")

	require.NoError(t, b.run(lc, "127.0.0.1:2", clk))
	require.Eventually(t, func() bool {
		role, _, addr := b.status()
		return role == "follower" && addr == "127.0.0.1:1"
	}, time.Minute, 10*time.Millisecond)

	b.Credited("p1", "p2")
	got := waitFor(t, a.credits, "credit heard by the leader")
	require.ElementsMatch(t, []string{"p1", "p2"}, got)

	a.stop()
	a.resign(context.Background())
	require.EqualValues(t, 2, waitFor(t, b.tokens, "b elected"))
	role, token, addr := b.status()
	require.Equal(t, "leader", role)
	require.EqualValues(t, 2, token)
	require.Equal(t, "127.0.0.1:2", addr)
	b.stop()
}
