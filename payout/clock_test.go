package payout_test

import (
	"context"
	"testing"
	"time"

	"github.com/lightningnetwork/lnd/clock"
	"github.com/sluice-ln/sluice/outbound"
	"github.com/sluice-ln/sluice/payout"
	"github.com/sluice-ln/sluice/payout/payouttest"
)

// TestExecutorWaitsOnItsClock drives the executor's wait on an unknown
// outcome with lnd's test clock: the payout is not tracked again until the
// clock has moved past the wait, and then it is, and resolves; the
// provider's status is stamped with the clock's time.
func TestExecutorWaitsOnItsClock(t *testing.T) {
	e := newEnv(t, "")
	e.earn("pa", "j1", 100_000)
	e.lnd.Script(payouttest.HangSucceed)

	start := e.clock.Now()
	ticks := make(chan time.Duration, 1)
	tc := clock.NewTestClockWithTickSignal(start, ticks)
	ex, err := payout.NewExecutor(payout.ExecutorConfig{DB: e.db, Ledger: e.ledger,
		Payments: e.lnd, Routes: e.lnd, Clock: tc})
	if err != nil {
		t.Fatal(err)
	}
	ex.SetHook(func(string) {})
	ex.SetRetry(outbound.Retry{InitialWait: time.Hour, MaxWait: time.Hour})

	type result struct {
		p   payout.Payout
		err error
	}
	done := make(chan result, 1)
	go func() {
		p, err := ex.Pay(context.Background(), e.candidate("pa"),
			payout.TestPolicy())
		done <- result{p, err}
	}()

	var wait time.Duration
	select {
	case wait = <-ticks:
	case <-time.After(10 * time.Second):
		t.Fatal("the executor never waited on its clock")
	}
	if wait < 30*time.Minute || wait > 90*time.Minute {
		t.Fatalf("wait %v, want an hour ± half", wait)
	}

	// Short of the wait, nothing is tracked.
	tc.SetTime(start.Add(wait - time.Second))
	select {
	case r := <-done:
		t.Fatalf("payout returned before its wait: %+v, %v", r.p, r.err)
	case <-time.After(100 * time.Millisecond):
	}
	if n := e.lnd.Tracks(); n != 0 {
		t.Fatalf("%d tracks before the wait ended", n)
	}

	tc.SetTime(start.Add(wait))
	var r result
	select {
	case r = <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("the payout did not resolve once the wait ended")
	}
	if r.err != nil || r.p.State != payout.StateSucceeded {
		t.Fatalf("payout %+v, %v; want succeeded", r.p, r.err)
	}
	at := start.Add(wait).Truncate(time.Microsecond)
	if !r.p.ResolvedAt.Equal(at) {
		t.Fatalf("resolved at %v, want the clock's %v", r.p.ResolvedAt,
			at)
	}
	if n := e.lnd.Tracks(); n != 1 {
		t.Fatalf("%d tracks, want 1", n)
	}
}
