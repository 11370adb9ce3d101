package outbound

import (
	"testing"
	"time"
)

// TestDoubling checks that the waits are exact: first, doubled, capped at
// most, and that Reset starts over.
func TestDoubling(t *testing.T) {
	tests := []struct {
		name        string
		first, most time.Duration
		want        []time.Duration
	}{
		{"doubles to the cap", time.Second, 5 * time.Second,
			[]time.Duration{time.Second, 2 * time.Second,
				4 * time.Second, 5 * time.Second,
				5 * time.Second}},
		{"first at the cap", time.Minute, time.Minute,
			[]time.Duration{time.Minute, time.Minute}},
		{"first over the cap is capped", time.Second,
			100 * time.Millisecond,
			[]time.Duration{100 * time.Millisecond,
				100 * time.Millisecond}},
		{"long waits stay exact", 30 * time.Minute, 24 * time.Hour,
			[]time.Duration{30 * time.Minute, time.Hour,
				2 * time.Hour, 4 * time.Hour, 8 * time.Hour,
				16 * time.Hour, 24 * time.Hour}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			b := Doubling(tc.first, tc.most)
			for round := 0; round < 2; round++ {
				for i, want := range tc.want {
					if got := b.NextBackOff(); got != want {
						t.Fatalf("round %d wait %d = %v, "+
							"want %v", round, i, got,
							want)
					}
				}
				b.Reset()
			}
		})
	}
}

// TestNthWait checks the wait after n failures in a row, including the
// counts below one and far past the cap.
func TestNthWait(t *testing.T) {
	tests := []struct {
		n    int64
		want time.Duration
	}{
		{-1, time.Second},
		{0, time.Second},
		{1, time.Second},
		{2, 2 * time.Second},
		{3, 4 * time.Second},
		{9, 256 * time.Second},
		{10, 5 * time.Minute},
		{1 << 40, 5 * time.Minute},
	}
	for _, tc := range tests {
		got := NthWait(time.Second, 5*time.Minute, tc.n)
		if got != tc.want {
			t.Errorf("NthWait(1s, 5m, %d) = %v, want %v", tc.n, got,
				tc.want)
		}
	}
}
