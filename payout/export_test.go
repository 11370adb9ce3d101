package payout

import (
	"context"
	"time"

	"github.com/sluice-ln/sluice/outbound"
)

// The tests that run on a real store are in package payout_test (store
// imports payout); these give them what they reach inside.

// TestPolicy is a policy with a 1 sat floor and 1 % share, paid by the
// provider.
var TestPolicy = testPolicy

// SetHook puts hit where failpoint.Hit fires the executor's failpoints:
// a test crashes there, or fires nothing.
func (e *Executor) SetHook(hit func(name string)) {
	e.hit = hit
}

// SetRetry replaces the rule for the waits on an unknown outcome.
func (e *Executor) SetRetry(r outbound.Retry) {
	e.retry = r
}

// Round runs one scheduling round over every provider and returns the
// plan's next deadline.
func (s *Scheduler) Round(ctx context.Context) time.Time {
	return s.round(ctx, nil)
}

// WaitPayouts waits for the payouts the rounds started.
func (s *Scheduler) WaitPayouts() {
	s.wg.Wait()
}

// Busy counts the providers with a payout in progress.
func (s *Scheduler) Busy() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.busy)
}

// Reads counts the scheduler's store reads.
func (s *Scheduler) Reads() int64 {
	return s.reads.Load()
}

// FullReads counts the scheduler's store reads of every provider.
func (s *Scheduler) FullReads() int64 {
	return s.fullReads.Load()
}
