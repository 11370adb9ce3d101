package settlement

import (
	"context"
	"testing"

	"github.com/sluice-ln/sluice/lightning"
)

// SweepNow runs a sweeper round and waits until it has ended: what the
// round decided (refunds recorded, invoices expired) is in the store when
// it returns. Tests use it instead of sleeping for the sweeper's interval.
// It fails the test if the manager is not running or ctx ends first.
func (m *Manager) SweepNow(ctx context.Context, t testing.TB) {
	t.Helper()
	m.mu.Lock()
	running := m.ctx
	m.mu.Unlock()
	if running == nil {
		t.Fatal("SweepNow: the manager is not running")
	}
	done := make(chan struct{})
	select {
	case m.sweepNow <- done:
	case <-running.Done():
		t.Fatal("SweepNow: the manager stopped")
	case <-ctx.Done():
		t.Fatalf("SweepNow: %v", ctx.Err())
	}
	select {
	case <-done:
	case <-running.Done():
		t.Fatal("SweepNow: the manager stopped during the round")
	case <-ctx.Done():
		t.Fatalf("SweepNow: %v", ctx.Err())
	}
}

// Settled credits a settled hub invoice as the invoice watcher does;
// fromStream moves the settle cursor too. The property test settles
// invoices itself, synchronously.
func (m *Manager) Settled(ctx context.Context, inv lightning.Invoice,
	fromStream bool) error {

	return m.settled(ctx, inv, fromStream)
}

// SetHit puts hit where the manager fires its failpoints, for a test to
// crash there; failpoint.Hit otherwise. Call it before Start.
func (m *Manager) SetHit(hit func(name string)) {
	m.hit = hit
}
