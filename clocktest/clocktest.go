// Package clocktest is a clock.Clock for tests whose date the test sets
// while its timers run on the wall clock.
//
// Tests that drive timers use lnd's clock.TestClock. This package is for
// the tests that cannot: they move the date by hours or days (a refund
// retried after its wait, a payout's backoff ending) while the code under
// test keeps background loops running (the settlement sweeper's ticks, the
// payout executor's waits on an unknown outcome). On a clock.TestClock
// those loops stop until the test sets the time, and setting it moves the
// date the test asserts on; here the date moves only by Advance and the
// loops tick in real time, as they did before the code took a clock.
package clocktest

import (
	"sync"
	"time"

	"github.com/lightningnetwork/lnd/clock"
)

// Clock is a settable clock whose timers are the wall clock's, safe for
// concurrent use.
type Clock struct {
	mu  sync.Mutex
	now time.Time
}

var _ clock.Clock = (*Clock)(nil)

// New returns a clock that reads start until advanced.
func New(start time.Time) *Clock {
	return &Clock{now: start}
}

// Now returns the clock's time.
func (c *Clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

// Advance moves the clock d forward; it fires no timer.
func (c *Clock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

// TickAfter ticks after d of wall-clock time, whatever Now says.
func (c *Clock) TickAfter(d time.Duration) <-chan time.Time {
	return time.After(d)
}
