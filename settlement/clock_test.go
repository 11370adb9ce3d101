package settlement_test

import (
	"testing"
	"time"

	"github.com/lightningnetwork/lnd/clock"
	"github.com/sluice-ln/sluice/settlement"
)

// TestSweeperTicksOnItsClock drives the sweeper with lnd's test clock: it
// waits SweepInterval on the clock after each run, so a funding invoice
// past its expiry stays open while no tick is due, however much wall time
// passes, and expires its job on the tick the clock's move fires.
func TestSweeperTicksOnItsClock(t *testing.T) {
	e := newEnv(t)
	start := e.clock.Now()
	ticks := make(chan time.Duration, 1000)
	tc := clock.NewTestClockWithTickSignal(start, ticks)
	e.cfg.Clock = tc
	e.cfg.InvoiceExpiry = 10 * time.Minute
	e.cfg.SweepInterval = time.Hour
	e.m = e.newManager()

	st := e.create(1000, 0)
	e.start(e.m)
	waitTick := func() {
		t.Helper()
		select {
		case d := <-ticks:
			if d != time.Hour {
				t.Fatalf("waited %v on the clock, want the "+
					"sweep interval", d)
			}
		case <-time.After(5 * time.Second):
			t.Fatal("the sweeper never waited on its clock")
		}
	}
	waitTick()

	// Past the invoice's expiry, before the next sweep.
	tc.SetTime(start.Add(11 * time.Minute))
	time.Sleep(100 * time.Millisecond)
	if got := e.get(st.ID); got.State != settlement.StateAwaitingFunding {
		t.Fatalf("job %s before a sweep was due, want %s", got.State,
			settlement.StateAwaitingFunding)
	}

	tc.SetTime(start.Add(time.Hour))
	waitTick()
	e.waitState(st.ID, settlement.StateExpired)
}
