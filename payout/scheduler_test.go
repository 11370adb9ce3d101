package payout_test

import (
	"context"
	"errors"
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
// poll: it reads the store when metering credits a provider it could pay
// and when a payout ends, not when it credits one whose interval has not
// passed (then the interval's end wakes it), and on its own only at the
// safety poll. The clock signals each time the loop arms its timer, which
// it does once per turn, just before it waits: the test counts those
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
	if err := s.Start(); err != nil {
		t.Fatal(err)
	}
	defer s.Stop()
	parked("the first read", 1)
	if n := s.Reads(); n != 1 {
		t.Fatalf("%d reads at the start, want 1", n)
	}

	// Payable nobody announces waits for the safety poll: the loop
	// is waiting, and nothing wakes it.
	e.earn("pa", "j1", 100_000)
	if n := s.Reads(); n != 1 || len(e.payouts()) != 0 {
		t.Fatalf("%d reads, %d payouts without a wake-up", n,
			len(e.payouts()))
	}

	// Announced, it is paid at once (a read); the payout's end reads
	// again.
	s.Credited("pa")
	parked("the credit and the payout's end", 2)
	if n := len(e.succeededOf("pa")); n != 1 {
		t.Fatalf("%d payouts to pa after its credit, want 1", n)
	}
	if n := s.Reads(); n != 3 {
		t.Fatalf("%d reads after the payout's end, want 3", n)
	}

	// Credited again within its interval: no read until the interval
	// ends, then a payout.
	e.earn("pa", "j1", 100_000)
	s.Credited("pa")
	parked("pa's credit within its interval", 1)
	if n := s.Reads(); n != 3 {
		t.Fatalf("%d reads after crediting pa within its interval, "+
			"want 3", n)
	}
	s.Credited("pa", "pb")
	parked("pb's credit", 1)
	if n := s.Reads(); n != 4 {
		// pb is due and unknown: one read for it, none for pa.
		t.Fatalf("%d reads after crediting pa within its interval "+
			"and pb, want 4", n)
	}
	if n := len(e.succeededOf("pa")); n != 1 {
		t.Fatalf("%d payouts to pa within its interval", n)
	}
	tc.SetTime(tc.Now().Add(time.Second))
	parked("pa's interval's end and the payout's end", 2)
	if n := len(e.succeededOf("pa")); n != 2 {
		t.Fatalf("%d payouts to pa at its interval's end, want 2", n)
	}

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
}
