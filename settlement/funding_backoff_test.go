package settlement

import (
	"testing"
	"time"
)

// TestResubscribeBackoff checks the waits between invoice subscriptions:
// they double from 500 ms, stop growing at 30 s without ever giving up,
// and start over after a subscription came up.
func TestResubscribeBackoff(t *testing.T) {
	b := newResubscribeBackoff()
	want := []time.Duration{
		500 * time.Millisecond, time.Second, 2 * time.Second,
		4 * time.Second, 8 * time.Second, 16 * time.Second,
		30 * time.Second, 30 * time.Second,
	}
	for i, w := range want {
		if got := b.NextBackOff(); got != w {
			t.Fatalf("wait %d: %v, want %v", i+1, got, w)
		}
	}
	for i := 0; i < 1000; i++ {
		if got := b.NextBackOff(); got != maxResubscribeDelay {
			t.Fatalf("wait %d: %v, want %v", len(want)+i+1, got,
				maxResubscribeDelay)
		}
	}
	b.Reset()
	if got := b.NextBackOff(); got != resubscribeDelay {
		t.Fatalf("after Reset: %v, want %v", got, resubscribeDelay)
	}
}
