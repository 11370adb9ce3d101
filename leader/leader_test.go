package leader

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/lightningnetwork/lnd/clock"
	"github.com/stretchr/testify/require"
)

// campaign is one call of the fake store, answered by the test.
type campaign struct {
	ctx    context.Context
	holder string
	token  int64
	reply  chan campaignReply
}

type campaignReply struct {
	lease Lease
	err   error
}

// fakeStore hands each Campaign to the test.
type fakeStore struct {
	calls chan campaign
}

func (f *fakeStore) Campaign(ctx context.Context, holder, _ string,
	token int64, _ time.Duration) (Lease, error) {

	c := campaign{ctx: ctx, holder: holder, token: token,
		reply: make(chan campaignReply, 1)}
	f.calls <- c
	select {
	case r := <-c.reply:
		return r.lease, r.err
	case <-ctx.Done():
		return Lease{}, ctx.Err()
	}
}

// harness runs an Elector on a test clock and a fake store.
type harness struct {
	t       *testing.T
	store   *fakeStore
	clk     *clock.TestClock
	ticks   chan time.Duration
	elected chan int64
	done    chan error
	e       *Elector
	cancel  context.CancelFunc
}

const ttl = 3 * time.Second

var start = time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)

func newHarness(t *testing.T) *harness {
	h := &harness{
		t:       t,
		store:   &fakeStore{calls: make(chan campaign)},
		ticks:   make(chan time.Duration, 1),
		elected: make(chan int64, 1),
		done:    make(chan error, 1),
	}
	h.clk = clock.NewTestClockWithTickSignal(start, h.ticks)
	e, err := New(Config{
		Store:   h.store,
		ID:      "me",
		Address: "127.0.0.1:10009",
		TTL:     ttl,
		Clock:   h.clk,
		Elected: func(token int64) { h.elected <- token },
	})
	require.NoError(t, err)
	h.e = e
	ctx, cancel := context.WithCancel(context.Background())
	h.cancel = cancel
	go func() { h.done <- e.Run(ctx) }()
	t.Cleanup(cancel)

	return h
}

// call waits for the elector's next campaign.
func (h *harness) call() campaign {
	h.t.Helper()
	select {
	case c := <-h.store.calls:
		return c
	case err := <-h.done:
		h.t.Fatalf("Run returned %v while a campaign was expected", err)
	case <-time.After(10 * time.Second):
		h.t.Fatal("no campaign")
	}
	return campaign{}
}

// wait waits for the elector to wait on the clock and returns how long.
func (h *harness) wait() time.Duration {
	h.t.Helper()
	select {
	case d := <-h.ticks:
		return d
	case err := <-h.done:
		h.t.Fatalf("Run returned %v while a wait was expected", err)
	case <-time.After(10 * time.Second):
		h.t.Fatal("no wait")
	}
	return 0
}

// advance moves the clock on by d.
func (h *harness) advance(d time.Duration) {
	h.clk.SetTime(h.clk.Now().Add(d))
}

func (h *harness) result() error {
	h.t.Helper()
	select {
	case err := <-h.done:
		return err
	case <-time.After(10 * time.Second):
		h.t.Fatal("Run did not return")
	}
	return nil
}

// TestElectorFollowsThenLeads: a follower campaigns every TTL/3 and names
// the leader; once the lease is free it leads with the store's token,
// Elected is called once, and renewals carry the token.
func TestElectorFollowsThenLeads(t *testing.T) {
	h := newHarness(t)

	c := h.call()
	require.EqualValues(t, 0, c.token)
	other := Lease{Holder: "other", Address: "127.0.0.1:1", Token: 4}
	c.reply <- campaignReply{lease: other}
	require.Equal(t, ttl/3, h.wait())
	st := h.e.Status()
	require.Equal(t, Follower, st.Role)
	require.Equal(t, "127.0.0.1:1", st.Leader.Address)
	require.Zero(t, h.e.Token())

	h.advance(ttl / 3)
	c = h.call()
	require.EqualValues(t, 0, c.token)
	mine := Lease{Holder: "me", Address: "127.0.0.1:10009", Token: 5}
	c.reply <- campaignReply{lease: mine}
	require.EqualValues(t, 5, <-h.elected)
	require.Equal(t, ttl/3, h.wait())
	require.Equal(t, Leading, h.e.Status().Role)
	require.EqualValues(t, 5, h.e.Token())

	for range 3 {
		h.advance(ttl / 3)
		c = h.call()
		require.EqualValues(t, 5, c.token)
		c.reply <- campaignReply{lease: mine}
		h.wait()
	}
	select {
	case tok := <-h.elected:
		t.Fatalf("elected again with %d", tok)
	default:
	}

	h.cancel()
	require.ErrorIs(t, h.result(), context.Canceled)
}

// TestElectorDeposedByTakeover: a renewal that finds another holder
// deposes the leader at once, naming the new one.
func TestElectorDeposedByTakeover(t *testing.T) {
	h := newHarness(t)

	c := h.call()
	c.reply <- campaignReply{lease: Lease{Holder: "me", Token: 1}}
	<-h.elected
	h.wait()

	h.advance(ttl / 3)
	c = h.call()
	c.reply <- campaignReply{lease: Lease{Holder: "other",
		Address: "127.0.0.1:2", Token: 2}}
	err := h.result()
	require.ErrorIs(t, err, ErrDeposed)
	require.Contains(t, err.Error(), "127.0.0.1:2")
	require.Equal(t, Deposed, h.e.Status().Role)
	require.Zero(t, h.e.Token())
}

// TestElectorDeposedAtDeadline: renewals that keep failing depose the
// leader once its deadline, TTL after the start of its last successful
// renewal, has passed, not before; the last wait is cut to the deadline.
func TestElectorDeposedAtDeadline(t *testing.T) {
	h := newHarness(t)

	c := h.call()
	c.reply <- campaignReply{lease: Lease{Holder: "me", Token: 1}}
	<-h.elected
	require.Equal(t, ttl/3, h.wait())

	failed := errors.New("connection refused")
	h.advance(ttl / 3)
	c = h.call()
	c.reply <- campaignReply{err: failed}
	require.Equal(t, ttl/3, h.wait())
	require.Equal(t, Leading, h.e.Status().Role)

	h.advance(ttl / 3)
	c = h.call()
	c.reply <- campaignReply{err: failed}
	require.Equal(t, ttl/3, h.wait())
	require.Equal(t, Leading, h.e.Status().Role)

	// The third failure lands at the deadline.
	h.advance(ttl / 3)
	c = h.call()
	c.reply <- campaignReply{err: failed}
	err := h.result()
	require.ErrorIs(t, err, ErrDeposed)
	require.Equal(t, Deposed, h.e.Status().Role)
}

// TestElectorRenewalBoundedByDeadline: a renewal that hangs is given up
// at the deadline (the store call's context ends), and the leader is
// deposed.
func TestElectorRenewalBoundedByDeadline(t *testing.T) {
	h := newHarness(t)

	c := h.call()
	c.reply <- campaignReply{lease: Lease{Holder: "me", Token: 1}}
	<-h.elected
	h.wait()

	// A paused process: the clock jumps past the deadline before the
	// renewal starts.
	h.advance(2 * ttl)
	c = h.call()
	dl, ok := c.ctx.Deadline()
	require.True(t, ok)
	require.False(t, dl.After(time.Now().Add(time.Second)))
	<-c.ctx.Done()
	require.ErrorIs(t, h.result(), ErrDeposed)
}

func TestNewRefusesBadConfig(t *testing.T) {
	clk := clock.NewTestClock(start)
	_, err := New(Config{ID: "x", TTL: ttl, Clock: clk})
	require.Error(t, err)
	_, err = New(Config{Store: &fakeStore{}, TTL: ttl, Clock: clk})
	require.Error(t, err)
	_, err = New(Config{Store: &fakeStore{}, ID: "x", Clock: clk})
	require.Error(t, err)
}

func TestFencedError(t *testing.T) {
	err := error(&Fenced{Token: 3, Current: Lease{Address: "a:1",
		Token: 4}})
	require.ErrorIs(t, err, ErrNotLeader)
	require.Equal(t, "not the leader; the leader is a:1 (token 3 "+
		"replaced by 4)", err.Error())
	err = &Fenced{}
	require.Equal(t, "not the leader; the leader is unknown",
		err.Error())
}

// TestElectorHolds: Holds refuses a follower, admits the leader within
// its deadline, and refuses it once its clock has passed the deadline even
// though its renewal loop has not run yet (a paused process waking up).
func TestElectorHolds(t *testing.T) {
	h := newHarness(t)
	require.ErrorIs(t, h.e.Holds(), ErrNotLeader)

	c := h.call()
	c.reply <- campaignReply{lease: Lease{Holder: "me", Token: 1}}
	<-h.elected
	h.wait()
	require.NoError(t, h.e.Holds())

	h.advance(ttl - time.Millisecond)
	require.NoError(t, h.e.Holds())

	// Woken past the deadline: refused before any renewal.
	h.advance(time.Millisecond)
	err := h.e.Holds()
	require.ErrorIs(t, err, ErrNotLeader)
	require.Contains(t, err.Error(), "token 1")
}
