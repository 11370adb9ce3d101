package payout_test

import (
	"context"
	"errors"
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"github.com/lightningnetwork/lnd/clock"
	"github.com/lightningnetwork/lnd/routing/route"
	"github.com/sluice-ln/sluice/ledger"
	"github.com/sluice-ln/sluice/lightning"
	"github.com/sluice-ln/sluice/payout"
	"github.com/sluice-ln/sluice/payout/payouttest"
	"github.com/sluice-ln/sluice/store"
)

// gate holds every send until the test releases it.
type gate struct {
	*payouttest.Lnd
	entered chan route.Vertex
	release chan struct{}
}

func newGate(l *payouttest.Lnd) *gate {
	return &gate{Lnd: l, entered: make(chan route.Vertex, 16),
		release: make(chan struct{}, 16)}
}

func (g *gate) SendKeysend(ctx context.Context, k lightning.Keysend,
	accepted func()) (lightning.PaymentResult, error) {

	g.entered <- k.Dest
	select {
	case <-g.release:
	case <-ctx.Done():
		return lightning.PaymentResult{}, ctx.Err()
	}
	return g.Lnd.SendKeysend(ctx, k, accepted)
}

// waitEntered waits for a send to reach the gate and returns its node.
func (g *gate) waitEntered(t *testing.T) route.Vertex {
	t.Helper()
	select {
	case v := <-g.entered:
		return v
	case <-time.After(10 * time.Second):
		t.Fatal("no send reached lnd")
		return route.Vertex{}
	}
}

// newScheduler returns a scheduler over the env with payments (the env's
// fake lnd when nil) and at most maxInFlight payouts in flight.
func (e *env) newScheduler(payments payout.Payments, maxInFlight int) *payout.Scheduler {
	e.t.Helper()
	if payments == nil {
		payments = e.lnd
	}
	ex, err := payout.NewExecutor(payout.ExecutorConfig{
		DB:       e.db,
		Ledger:   e.ledger,
		Payments: payments,
		Routes:   e.lnd,
		Clock:    e.clock,
	})
	if err != nil {
		e.t.Fatal(err)
	}
	ex.SetHook(func(string) {})
	s, err := payout.NewScheduler(payout.SchedulerConfig{
		Defaults:    payout.TestPolicy(),
		MaxInFlight: maxInFlight,
		DB:          e.db,
		Executor:    ex,
		Clock:       e.clock,
	})
	if err != nil {
		e.t.Fatal(err)
	}
	return s
}

// roundAndWait runs one scheduling round and waits for the payouts it
// started.
func roundAndWait(s *payout.Scheduler) {
	s.Round(context.Background())
	s.WaitPayouts()
}

// succeededOf returns the amounts of a provider's succeeded payouts.
func (e *env) succeededOf(provider string) []ledger.MilliSatoshi {
	e.t.Helper()
	var out []ledger.MilliSatoshi
	for _, p := range e.payouts() {
		if p.ProviderID == provider && p.State == store.PayoutSucceeded {
			out = append(out, p.Amount)
		}
	}
	return out
}

// TestSchedulerNets: a provider's payable from several jobs goes out as
// one payout; each provider gets its own.
func TestSchedulerNets(t *testing.T) {
	e := newEnv(t, "")
	e.earn("pa", "j1", 300_000)
	e.earn("pa", "j2", 200_000)
	e.earn("pb", "j3", 100_000)

	roundAndWait(e.newScheduler(nil, 0))

	// 500 000 less the 1 % cap, 5 000.
	if got := e.succeededOf("pa"); len(got) != 1 || got[0] != 495_000 {
		t.Fatalf("payouts to pa %v, want one of 495000 msat", got)
	}
	if got := e.succeededOf("pb"); len(got) != 1 || got[0] != 99_000 {
		t.Fatalf("payouts to pb %v, want one of 99000 msat", got)
	}
}

// TestSchedulerInterval: a provider is paid again only once its interval
// has passed, and a provider's override of the interval and payer holds.
func TestSchedulerInterval(t *testing.T) {
	e := newEnv(t, "")
	s := e.newScheduler(nil, 0)

	fast := 200 * time.Millisecond
	platform := string(payout.FeePayerPlatform)
	err := e.db.ExecTx(context.Background(), store.TxOptions{},
		func(tx *store.Tx) error {
			return tx.SetPayoutPolicy(context.Background(),
				store.PayoutPolicy{ProviderID: "pb",
					Interval: &fast, FeePayer: &platform,
					UpdatedAt: e.clock.Now()})
		})
	if err != nil {
		t.Fatal(err)
	}

	e.earn("pa", "j1", 100_000)
	e.earn("pb", "j2", 100_000)
	roundAndWait(s)
	e.earn("pa", "j1", 100_000)
	e.earn("pb", "j2", 100_000)

	roundAndWait(s)
	if n := len(e.succeededOf("pa")) + len(e.succeededOf("pb")); n != 2 {
		t.Fatalf("%d payouts before any interval passed, want 2", n)
	}

	e.clock.Advance(fast)
	roundAndWait(s)
	if got := e.succeededOf("pb"); len(got) != 2 || got[1] != 100_000 {
		t.Fatalf("payouts to pb %v, want a second of all 100000 "+
			"msat (the platform pays fees)", got)
	}
	if n := len(e.succeededOf("pa")); n != 1 {
		t.Fatalf("%d payouts to pa before its interval", n)
	}

	e.clock.Advance(time.Second - fast)
	roundAndWait(s)
	if n := len(e.succeededOf("pa")); n != 2 {
		t.Fatalf("%d payouts to pa after its interval, want 2", n)
	}
}

// TestSchedulerWaits: below the minimum nothing is paid and nothing is
// lost; a provider in backoff is paid only after its retry time.
func TestSchedulerWaits(t *testing.T) {
	e := newEnv(t, "")
	s := e.newScheduler(nil, 0)

	e.earn("pa", "j1", 1_500)
	roundAndWait(s)
	if len(e.payouts()) != 0 {
		t.Fatal("paid below the minimum")
	}
	// That round counted as the provider's turn.
	e.clock.Advance(time.Second)

	e.earn("pa", "j1", 100_000)
	e.lnd.Script(payouttest.Fail, payouttest.Fail)
	roundAndWait(s)
	e.clock.Advance(time.Second)
	roundAndWait(s)
	st := e.status("pa")
	if st.State != string(payout.StatusRetrying) || st.Failures != 2 {
		t.Fatalf("status %+v, want retrying after 2 failures", st)
	}

	// The interval passes, the backoff (two seconds) not yet.
	e.clock.Advance(time.Second)
	roundAndWait(s)
	if len(e.payouts()) != 2 {
		t.Fatalf("%d payouts during the backoff, want 2",
			len(e.payouts()))
	}
	e.clock.Advance(time.Second)
	roundAndWait(s)
	if got := e.succeededOf("pa"); len(got) != 1 {
		t.Fatalf("payouts after the backoff %v, want one", got)
	}
	if got := e.balance(ledger.ProviderPayable("pa")); got >= 101_500 {
		t.Fatalf("payable %v: nothing was paid", got)
	}
}

// TestSchedulerLimits: at most MaxInFlight payouts at once, and at most one
// per provider.
func TestSchedulerLimits(t *testing.T) {
	t.Run("global cap", func(t *testing.T) {
		e := newEnv(t, "")
		g := newGate(e.lnd)
		s := e.newScheduler(g, 1)
		e.earn("pa", "j1", 100_000)
		e.earn("pb", "j2", 100_000)

		s.Round(context.Background())
		first := g.waitEntered(t)
		s.Round(context.Background())
		busy := s.Busy()
		if busy != 1 {
			t.Fatalf("%d providers in flight with a cap of 1", busy)
		}

		g.release <- struct{}{}
		s.WaitPayouts()
		s.Round(context.Background())
		second := g.waitEntered(t)
		if second == first {
			t.Fatal("the same provider was paid twice")
		}
		g.release <- struct{}{}
		s.WaitPayouts()
		if len(e.succeededOf("pa")) != 1 ||
			len(e.succeededOf("pb")) != 1 {

			t.Fatalf("payouts %+v, want one each", e.payouts())
		}
	})

	t.Run("one per provider", func(t *testing.T) {
		e := newEnv(t, "")
		g := newGate(e.lnd)
		s := e.newScheduler(g, 4)
		e.earn("pa", "j1", 100_000)

		s.Round(context.Background())
		g.waitEntered(t)
		e.earn("pa", "j1", 100_000)
		e.clock.Advance(time.Hour)
		s.Round(context.Background())
		select {
		case <-g.entered:
			t.Fatal("a second payout to pa was sent")
		case <-time.After(200 * time.Millisecond):
		}
		g.release <- struct{}{}
		s.WaitPayouts()

		s.Round(context.Background())
		g.waitEntered(t)
		g.release <- struct{}{}
		s.WaitPayouts()
		if n := len(e.succeededOf("pa")); n != 2 {
			t.Fatalf("%d payouts to pa, want 2 one after the "+
				"other", n)
		}
	})
}

// TestSchedulerResumes: a round resumes a payout a crash left pending,
// before paying anything new to its provider.
func TestSchedulerResumes(t *testing.T) {
	e := newEnv(t, "")
	e.earn("pa", "j1", 100_000)
	ctx, cancel := context.WithCancel(context.Background())
	crashAt(e.exec, payout.FailpointAfterSend, cancel)
	crashed, err := e.exec.Pay(ctx, e.candidate("pa"), payout.TestPolicy())
	if err == nil {
		t.Fatal("crashed payout returned no error")
	}
	e.earn("pa", "j1", 50_000)

	s := e.newScheduler(nil, 0)
	roundAndWait(s)
	ps := e.payouts()
	if len(ps) != 1 || ps[0].ID != crashed.ID ||
		ps[0].State != store.PayoutSucceeded {

		t.Fatalf("payouts %+v, want the crashed one succeeded", ps)
	}
	if e.lnd.Sends() != 1 {
		t.Fatalf("%d sends, want the one before the crash",
			e.lnd.Sends())
	}

	// Then the rest is paid.
	e.clock.Advance(time.Second)
	roundAndWait(s)
	if got := e.succeededOf("pa"); len(got) != 2 {
		t.Fatalf("payouts %v, want two", got)
	}
}

// TestSchedulerStartStop runs the loop for real: it pays what is earned
// while it runs, and refuses a second start.
func TestSchedulerStartStop(t *testing.T) {
	e := newEnv(t, "")
	s := e.newSchedulerRealTime(t)
	if err := s.Start(); err != nil {
		t.Fatal(err)
	}
	if err := s.Start(); !errors.Is(err, payout.ErrAlreadyStarted) {
		t.Fatalf("second start: %v, want ErrAlreadyStarted", err)
	}

	e.earn("pa", "j1", 100_000)
	s.Wake()
	deadline := time.Now().Add(10 * time.Second)
	for len(e.succeededOf("pa")) == 0 {
		if time.Now().After(deadline) {
			t.Fatal("nothing paid within 10 s")
		}
		time.Sleep(20 * time.Millisecond)
	}
	s.Stop()
	s.Stop()
}

// newSchedulerRealTime is a scheduler on the wall clock with a short
// interval.
func (e *env) newSchedulerRealTime(t *testing.T) *payout.Scheduler {
	t.Helper()
	ex, err := payout.NewExecutor(payout.ExecutorConfig{DB: e.db, Ledger: e.ledger,
		Payments: e.lnd, Routes: e.lnd})
	if err != nil {
		t.Fatal(err)
	}
	pol := payout.TestPolicy()
	pol.Interval = 50 * time.Millisecond
	s, err := payout.NewScheduler(payout.SchedulerConfig{Defaults: pol, DB: e.db,
		Executor: ex})
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// TestNewSchedulerConfig refuses bad defaults and limits.
func TestNewSchedulerConfig(t *testing.T) {
	e := newEnv(t, "")
	good := payout.SchedulerConfig{Defaults: payout.TestPolicy(), DB: e.db,
		Executor: e.exec}
	tests := []struct {
		name   string
		change func(*payout.SchedulerConfig)
	}{
		{"bad defaults", func(c *payout.SchedulerConfig) {
			c.Defaults.Minimum = 0
		}},
		{"negative cap", func(c *payout.SchedulerConfig) {
			c.MaxInFlight = -1
		}},
		{"cap over the HTLC slots", func(c *payout.SchedulerConfig) {
			c.MaxInFlight = payout.MaxHTLCSlots + 1
		}},
		{"no db", func(c *payout.SchedulerConfig) { c.DB = nil }},
		{"no executor", func(c *payout.SchedulerConfig) { c.Executor = nil }},
	}
	if _, err := payout.NewScheduler(good); err != nil {
		t.Fatalf("good config refused: %v", err)
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			cfg := good
			tc.change(&cfg)
			if _, err := payout.NewScheduler(cfg); !errors.Is(err,
				payout.ErrInvalidConfig) {

				t.Fatalf("got %v, want ErrInvalidConfig", err)
			}
		})
	}
}

// waitFor polls cond for up to ten seconds.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("waited 10 s for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// TestSchedulerWakes runs the loop on a test clock with an hour's safety
// poll: it reads every provider at the start and at the safety poll, and
// in between only the providers metering credits that it could pay now
// and those whose interval ends; a payout's end costs no read until its
// provider's interval ends, nor does crediting a provider whose interval
// has not passed. The clock signals each time the loop arms its timer,
// which it does once per turn, just before it waits: the test counts those
// turns (parked), so it knows the loop has handled every wake-up and
// waits, instead of sleeping and hoping it has.
func TestSchedulerWakes(t *testing.T) {
	e := newEnv(t, "")
	ticks := make(chan time.Duration, 64)
	tc := clock.NewTestClockWithTickSignal(e.clock.Now(), ticks)
	ex := e.newExecutor()
	s, err := payout.NewScheduler(payout.SchedulerConfig{Defaults: payout.TestPolicy(),
		SafetyPoll: time.Hour, DB: e.db, Executor: ex, Clock: tc})
	if err != nil {
		t.Fatal(err)
	}
	// parked waits for the loop to end n turns and wait.
	parked := func(what string, n int) {
		t.Helper()
		for i := 0; i < n; i++ {
			select {
			case <-ticks:
			case <-time.After(10 * time.Second):
				t.Fatalf("%s: the loop waited %d times, want %d",
					what, i, n)
			}
		}
	}
	// reads checks the reads so far, and those of every provider.
	reads := func(what string, all, full int64) {
		t.Helper()
		if n, f := s.Reads(), s.FullReads(); n != all || f != full {
			t.Fatalf("%s: %d reads, %d of every provider; want "+
				"%d, %d", what, n, f, all, full)
		}
	}
	if err := s.Start(); err != nil {
		t.Fatal(err)
	}
	defer s.Stop()
	parked("the first read", 1)
	reads("at the start", 1, 1)

	// Payable nobody announces waits for the safety poll: the loop
	// is waiting, and nothing wakes it.
	e.earn("pa", "j1", 100_000)
	if n := len(e.payouts()); n != 0 {
		t.Fatalf("%d payouts without a wake-up", n)
	}
	reads("without a wake-up", 1, 1)

	// Announced, it is paid at once (a read of pa); the payout's end
	// reads nothing: pa is due again when its interval ends.
	s.Credited("pa")
	parked("the credit and the payout's end", 2)
	if n := len(e.succeededOf("pa")); n != 1 {
		t.Fatalf("%d payouts to pa after its credit, want 1", n)
	}
	reads("after the payout's end", 2, 1)

	// Credited again within its interval: no read until the interval
	// ends, then a payout.
	e.earn("pa", "j1", 100_000)
	s.Credited("pa")
	parked("pa's credit within its interval", 1)
	reads("after crediting pa within its interval", 2, 1)
	s.Credited("pa", "pb")
	parked("pb's credit", 1)
	// pb is due and unknown: one read for it, none for pa.
	reads("after crediting pa within its interval and pb", 3, 1)
	if n := len(e.succeededOf("pa")); n != 1 {
		t.Fatalf("%d payouts to pa within its interval", n)
	}
	tc.SetTime(tc.Now().Add(time.Second))
	parked("pa's interval's end and the payout's end", 2)
	if n := len(e.succeededOf("pa")); n != 2 {
		t.Fatalf("%d payouts to pa at its interval's end, want 2", n)
	}
	reads("after pa's interval's end", 4, 1)

	// Payable nobody announces is paid at the safety poll.
	e.earn("pb", "j2", 100_000)
	if n := len(e.succeededOf("pb")); n != 0 {
		t.Fatalf("%d payouts to pb before the safety poll", n)
	}
	// The safety poll's round also tries pa's 1010 msat left from the
	// fee budgets, which the executor finds too little once fees are
	// counted; how many turns the two payouts' ends take depends on
	// whether their wake-ups coalesce, so this waits for pb's payout
	// itself.
	tc.SetTime(tc.Now().Add(time.Hour))
	waitFor(t, "a payout to pb at the safety poll",
		func() bool { return len(e.succeededOf("pb")) == 1 })
	if n := s.FullReads(); n != 2 {
		t.Fatalf("%d reads of every provider after the safety poll, "+
			"want 2", n)
	}
}

// countingDB is a payout.DB whose transactions count the rows they read
// of the scheduler's queries: candidates, overrides, statuses and pending
// payouts.
type countingDB struct {
	payout.DB
	rows atomic.Int64
}

func (c *countingDB) ExecPayouts(ctx context.Context, readOnly bool,
	fn func(payout.TxStore) error) error {

	return c.DB.ExecPayouts(ctx, readOnly, func(tx payout.TxStore) error {
		return fn(countingTx{TxStore: tx, rows: &c.rows})
	})
}

// countingTx counts the rows countingDB counts.
type countingTx struct {
	payout.TxStore
	rows *atomic.Int64
}

// count adds n rows when err is nil, and returns err.
func (t countingTx) count(n int, err error) error {
	if err == nil {
		t.rows.Add(int64(n))
	}
	return err
}

// one is 1 for a row found, 0 for none.
func one(ok bool) int {
	if ok {
		return 1
	}
	return 0
}

func (t countingTx) PendingPayouts(ctx context.Context) (
	[]payout.StoredPayout, error) {

	ps, err := t.TxStore.PendingPayouts(ctx)
	return ps, t.count(len(ps), err)
}

func (t countingTx) ProviderPendingPayout(ctx context.Context,
	id string) (payout.StoredPayout, bool, error) {

	p, ok, err := t.TxStore.ProviderPendingPayout(ctx, id)
	return p, ok, t.count(one(ok), err)
}

func (t countingTx) PayoutCandidates(ctx context.Context) (
	[]payout.StoredCandidate, error) {

	cs, err := t.TxStore.PayoutCandidates(ctx)
	return cs, t.count(len(cs), err)
}

func (t countingTx) PayoutCandidateState(ctx context.Context, id string) (
	payout.StoredCandidateState, bool, error) {

	c, ok, err := t.TxStore.PayoutCandidateState(ctx, id)
	return c, ok, t.count(one(ok), err)
}

func (t countingTx) PayoutPolicies(ctx context.Context) (
	map[string]payout.Override, error) {

	os, err := t.TxStore.PayoutPolicies(ctx)
	return os, t.count(len(os), err)
}

func (t countingTx) PayoutPolicy(ctx context.Context, id string) (
	payout.Override, bool, error) {

	o, ok, err := t.TxStore.PayoutPolicy(ctx, id)
	return o, ok, t.count(one(ok), err)
}

func (t countingTx) PayoutStatuses(ctx context.Context) (
	map[string]payout.StoredStatus, error) {

	ss, err := t.TxStore.PayoutStatuses(ctx)
	return ss, t.count(len(ss), err)
}

func (t countingTx) PayoutStatus(ctx context.Context, id string) (
	payout.StoredStatus, bool, error) {

	st, ok, err := t.TxStore.PayoutStatus(ctx, id)
	return st, ok, t.count(one(ok), err)
}

// addProviders links n more providers, p000 and on, each with its own
// node, and returns their ids.
func (e *env) addProviders(n int) []string {
	e.t.Helper()
	ids := make([]string, n)
	nodes := make(map[string]string, n)
	for i := range ids {
		ids[i] = fmt.Sprintf("p%03d", i)
		nodes[ids[i]] = fmt.Sprintf("02%064x", i+1)
	}
	e.linkProviders(nodes)
	return ids
}

// TestSchedulerReadsFollowPayouts runs the loop over many providers, all
// earning all the time, through several of their intervals, with fewer
// slots than providers: each interval every provider is paid, and what
// the scheduler reads of the store grows with the payouts, a few rows
// each, not with the providers times the payouts, as it did when every
// payout's end read every provider.
func TestSchedulerReadsFollowPayouts(t *testing.T) {
	const (
		providers = 24
		intervals = 4
	)
	e := newEnv(t, "")
	ids := e.addProviders(providers)
	for _, p := range ids {
		e.earn(p, "j-"+p, 100_000)
	}
	tc := clock.NewTestClock(e.clock.Now())
	db := &countingDB{DB: e.db}
	s, err := payout.NewScheduler(payout.SchedulerConfig{
		Defaults:    payout.TestPolicy(),
		MaxInFlight: 6,
		SafetyPoll:  time.Hour,
		DB:          db,
		Executor:    e.newExecutor(),
		Clock:       tc,
	})
	if err != nil {
		t.Fatal(err)
	}
	// sent says whether n payouts were sent and have ended.
	sent := func(n int) func() bool {
		return func() bool {
			return e.lnd.Sends() == n && s.Busy() == 0
		}
	}
	if err := s.Start(); err != nil {
		t.Fatal(err)
	}
	defer s.Stop()
	waitFor(t, "a payout to every provider", sent(providers))

	// Each interval: every provider earns, metering announces it, and
	// the interval passes; every provider is paid again.
	for i := 1; i <= intervals; i++ {
		for _, p := range ids {
			e.earn(p, "j-"+p, 100_000)
		}
		s.Credited(ids...)
		tc.SetTime(tc.Now().Add(payout.TestPolicy().Interval))
		waitFor(t, fmt.Sprintf("interval %d's payouts", i),
			sent(providers*(i+1)))
	}

	payouts := int64(providers * (intervals + 1))
	for _, p := range ids {
		if n := len(e.succeededOf(p)); n != intervals+1 {
			t.Fatalf("%d payouts to %s, want %d", n, p,
				intervals+1)
		}
	}
	if n := s.FullReads(); n != 1 {
		t.Fatalf("%d reads of every provider, want the start's", n)
	}
	// The start reads every provider; after that a payout costs a
	// read of its provider when its interval ends, or when a slot
	// frees for it: a row or two.
	if rows, most := db.rows.Load(), providers+3*payouts; rows > most {
		t.Fatalf("%d rows read for %d payouts to %d providers, want "+
			"at most %d", rows, payouts, providers, most)
	}
	t.Logf("%d rows read in %d reads for %d payouts to %d providers",
		db.rows.Load(), s.Reads(), payouts, providers)
}

// TestSchedulerResumesWhatItLeftPending: a payout an error left pending
// (here the leader's guard refused the send once) is resumed when its
// provider's interval ends, by a read of that provider alone, before
// anything new is paid to it.
func TestSchedulerResumesWhatItLeftPending(t *testing.T) {
	e := newEnv(t, "")
	var refused atomic.Bool
	ex, err := payout.NewExecutor(payout.ExecutorConfig{
		DB:       e.db,
		Ledger:   e.ledger,
		Payments: e.lnd,
		Routes:   e.lnd,
		Clock:    e.clock,
		Guard: func() error {
			if refused.CompareAndSwap(false, true) {
				return errors.New("not the leader for a moment")
			}
			return nil
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	ex.SetHook(func(string) {})
	ticks := make(chan time.Duration, 64)
	tc := clock.NewTestClockWithTickSignal(e.clock.Now(), ticks)
	s, err := payout.NewScheduler(payout.SchedulerConfig{
		Defaults: payout.TestPolicy(), SafetyPoll: time.Hour,
		DB: e.db, Executor: ex, Clock: tc})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Start(); err != nil {
		t.Fatal(err)
	}
	defer s.Stop()
	<-ticks

	e.earn("pa", "j1", 100_000)
	s.Credited("pa")
	waitFor(t, "a payout left pending", func() bool {
		return len(e.pending()) == 1 && s.Busy() == 0
	})
	left := e.pending()[0]
	if n := e.lnd.Sends(); n != 0 {
		t.Fatalf("%d sends past the guard", n)
	}

	tc.SetTime(tc.Now().Add(time.Second))
	waitFor(t, "the pending payout resumed", func() bool {
		return len(e.succeededOf("pa")) == 1
	})
	ps := e.payouts()
	if len(ps) != 1 || ps[0].ID != left {
		t.Fatalf("payouts %+v, want the one left pending, alone", ps)
	}
	if n := s.FullReads(); n != 1 {
		t.Fatalf("%d reads of every provider, want the start's", n)
	}
}
