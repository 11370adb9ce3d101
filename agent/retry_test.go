package agent

import (
	"context"
	"slices"
	"sync"
	"testing"
	"time"
)

// TestRetryBackoff checks the waits between resends: doubling from
// RetryMin to RetryMax without jitter, and never giving up, for the
// defaults and for set bounds.
func TestRetryBackoff(t *testing.T) {
	ms := time.Millisecond
	tests := []struct {
		name     string
		min, max time.Duration
		want     []time.Duration
	}{
		{"defaults", 0, 0, []time.Duration{250 * ms, 500 * ms,
			time.Second, 2 * time.Second, 4 * time.Second,
			8 * time.Second, 15 * time.Second, 15 * time.Second}},
		{"set bounds", 10 * ms, 35 * ms, []time.Duration{10 * ms,
			20 * ms, 35 * ms, 35 * ms}},
		{"min equals max", time.Second, time.Second,
			[]time.Duration{time.Second, time.Second}},
	}
	for _, tc := range tests {
		s := &streamer{cfg: StreamConfig{RetryMin: tc.min,
			RetryMax: tc.max}.withDefaults()}
		b := s.retryBackoff()
		for i, w := range tc.want {
			if got := b.NextBackOff(); got != w {
				t.Fatalf("%s: wait %d is %v, want %v", tc.name,
					i+1, got, w)
			}
		}
		last := tc.want[len(tc.want)-1]
		for i := 0; i < 100; i++ {
			if got := b.NextBackOff(); got != last {
				t.Fatalf("%s: later wait %v, want %v", tc.name,
					got, last)
			}
		}
	}
}

// TestStreamRetryWaits has the first submits fail in transport and checks
// the waits the stream sleeps between them, and that every second still
// arrives once.
func TestStreamRetryWaits(t *testing.T) {
	c := newServer(t, nil)
	c.failBefore = 8
	var (
		mu    sync.Mutex
		waits []time.Duration
	)
	cfg := streamCfg(c, nil)
	cfg.Sleep = func(ctx context.Context, d time.Duration) error {
		mu.Lock()
		waits = append(waits, d)
		mu.Unlock()
		return ctx.Err()
	}
	if _, err := Stream(context.Background(), cfg,
		newFakeRun(seconds(10, 4)...)); err != nil {

		t.Fatal(err)
	}
	checkRows(t, c, 4, streamStart.Unix()+10)

	ms := time.Millisecond
	want := []time.Duration{250 * ms, 500 * ms, time.Second,
		2 * time.Second, 4 * time.Second, 8 * time.Second,
		15 * time.Second, 15 * time.Second}
	mu.Lock()
	defer mu.Unlock()
	if !slices.Equal(waits, want) {
		t.Fatalf("waits %v, want %v", waits, want)
	}
}
