package itest

import (
	"bytes"
	"context"
	"errors"
	"os"
	"runtime"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

func TestPercentile(t *testing.T) {
	ms := func(vals ...int) []time.Duration {
		ds := make([]time.Duration, len(vals))
		for i, v := range vals {
			ds[i] = time.Duration(v) * time.Millisecond
		}
		return ds
	}
	hundred := make([]int, 100)
	for i := range hundred {
		hundred[i] = 100 - i // 100..1, unsorted
	}
	tests := []struct {
		name string
		ds   []time.Duration
		p    float64
		want time.Duration
	}{
		{name: "none", ds: nil, p: 50, want: 0},
		{name: "one", ds: ms(7), p: 99, want: 7 * time.Millisecond},
		{name: "median of odd", ds: ms(3, 1, 2), p: 50,
			want: 2 * time.Millisecond},
		{name: "median of even takes lower", ds: ms(4, 1, 3, 2), p: 50,
			want: 2 * time.Millisecond},
		{name: "p99 of 100", ds: ms(hundred...), p: 99,
			want: 99 * time.Millisecond},
		{name: "p100 is max", ds: ms(hundred...), p: 100,
			want: 100 * time.Millisecond},
		{name: "p50 of 100", ds: ms(hundred...), p: 50,
			want: 50 * time.Millisecond},
		{name: "p0 is nothing", ds: ms(1, 2), p: 0, want: 0},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			in := append([]time.Duration(nil), tc.ds...)
			if got := Percentile(tc.ds, tc.p); got != tc.want {
				t.Fatalf("Percentile(p%v) = %v, want %v", tc.p,
					got, tc.want)
			}
			for i := range in {
				if in[i] != tc.ds[i] {
					t.Fatal("Percentile sorted its input")
				}
			}
		})
	}
}

// TestMeasure checks the limits, the concurrency and the counting of
// Measure with payers that take a fixed time.
func TestMeasure(t *testing.T) {
	errBoom := errors.New("boom")
	tests := []struct {
		name        string
		concurrency int
		lim         Limits
		delay       time.Duration
		fail        func(seq int) bool
		wantOK      int
		wantFailed  int
		wantMaxSeen int
		wantErr     error
	}{{
		name:        "payment limit",
		concurrency: 4,
		lim:         Limits{Payments: 20, Duration: time.Minute},
		delay:       time.Millisecond,
		wantOK:      20,
		wantMaxSeen: 4,
	}, {
		name:        "one sender",
		concurrency: 1,
		lim:         Limits{Payments: 5, Duration: time.Minute},
		delay:       time.Millisecond,
		wantOK:      5,
		wantMaxSeen: 1,
	}, {
		name:        "failures counted",
		concurrency: 2,
		lim:         Limits{Payments: 10, Duration: time.Minute},
		fail:        func(seq int) bool { return seq%5 == 0 },
		wantOK:      8,
		wantFailed:  2,
		wantMaxSeen: 2,
	}, {
		name:        "all fail",
		concurrency: 3,
		lim:         Limits{Payments: 6, Duration: time.Minute},
		fail:        func(int) bool { return true },
		wantFailed:  6,
		wantMaxSeen: 3,
		wantErr:     ErrNoPayments,
	}}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var inFlight, maxSeen atomic.Int64
			pay := func(ctx context.Context, seq int) error {
				n := inFlight.Add(1)
				defer inFlight.Add(-1)
				for {
					m := maxSeen.Load()
					if n <= m || maxSeen.CompareAndSwap(m, n) {
						break
					}
				}
				time.Sleep(tc.delay + time.Millisecond)
				if tc.fail != nil && tc.fail(seq) {
					return errBoom
				}
				return nil
			}
			l, err := Measure(t.Context(), tc.concurrency, tc.lim,
				pay)
			if !errors.Is(err, tc.wantErr) {
				t.Fatalf("error %v, want %v", err, tc.wantErr)
			}
			if l.Succeeded != tc.wantOK || l.Failed != tc.wantFailed {
				t.Fatalf("succeeded %d failed %d, want %d and %d",
					l.Succeeded, l.Failed, tc.wantOK,
					tc.wantFailed)
			}
			if tc.wantFailed > 0 && !errors.Is(l.FirstErr, errBoom) {
				t.Fatalf("FirstErr %v, want boom", l.FirstErr)
			}
			if got := int(maxSeen.Load()); got > tc.wantMaxSeen {
				t.Fatalf("%d payments in flight, want at most %d",
					got, tc.wantMaxSeen)
			}
			if tc.wantOK > 0 && (l.P50 <= 0 || l.P99 < l.P50 ||
				l.PerSecond() <= 0) {

				t.Fatalf("p50 %v p99 %v rate %v", l.P50, l.P99,
					l.PerSecond())
			}
		})
	}
}

// TestMeasureDurationLimit checks that a level stops starting payments
// once its duration has passed.
func TestMeasureDurationLimit(t *testing.T) {
	pay := func(ctx context.Context, seq int) error {
		time.Sleep(20 * time.Millisecond)
		return nil
	}
	lim := Limits{Payments: 1_000_000, Duration: 200 * time.Millisecond}
	l, err := Measure(t.Context(), 2, lim, pay)
	if err != nil {
		t.Fatal(err)
	}
	// 2 senders, 20 ms each, 200 ms: about 20 payments.
	if l.Succeeded < 5 || l.Succeeded > 40 {
		t.Fatalf("%d payments in 200 ms with 2 senders of 20 ms",
			l.Succeeded)
	}
	if l.Elapsed > 2*time.Second {
		t.Fatalf("level ran %v past a 200 ms limit", l.Elapsed)
	}
}

func TestMeasureRefusesBadInput(t *testing.T) {
	pay := func(context.Context, int) error { return nil }
	tests := []struct {
		name        string
		concurrency int
		lim         Limits
		field       string
	}{
		{"no senders", 0, DefaultLimits, "concurrency"},
		{"no payments", 1, Limits{Duration: time.Second}, "Payments"},
		{"no time", 1, Limits{Payments: 1}, "Duration"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Measure(t.Context(), tc.concurrency, tc.lim, pay)
			if err == nil || !strings.Contains(err.Error(), tc.field) {
				t.Fatalf("error %v, want one naming %s", err,
					tc.field)
			}
		})
	}
}

func TestMeasureCancelled(t *testing.T) {
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	_, err := Measure(ctx, 2, DefaultLimits,
		func(context.Context, int) error { return nil })
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("error %v, want context.Canceled", err)
	}
}

func TestWriteTable(t *testing.T) {
	var buf bytes.Buffer
	err := WriteTable(&buf, "keysend baseline", []Level{{
		Concurrency: 8, Succeeded: 200, Failed: 1,
		Elapsed: 5 * time.Second, P50: 180 * time.Millisecond,
		P99: 400 * time.Millisecond,
	}})
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSpace(buf.String()), "\n")
	if len(lines) != 3 || lines[0] != "keysend baseline" {
		t.Fatalf("table:\n%s", buf.String())
	}
	fields := strings.Fields(lines[2])
	want := []string{"8", "200", "1", "5.0", "40.0", "180", "400"}
	if strings.Join(fields, " ") != strings.Join(want, " ") {
		t.Fatalf("row %q, want %q", fields, want)
	}
}

// TestProcessCPU: this process's CPU grows while it spins, and a process
// that does not exist is an error.
func TestProcessCPU(t *testing.T) {
	before, err := ProcessCPU(os.Getpid())
	if err != nil {
		t.Fatal(err)
	}
	// Spin for 200 ms of CPU at least: five ticks of USER_HZ.
	deadline := time.Now().Add(30 * time.Second)
	for {
		now, err := ProcessCPU(os.Getpid())
		if err != nil {
			t.Fatal(err)
		}
		if now-before >= 200*time.Millisecond {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("CPU grew %v in 30 s of spinning", now-before)
		}
	}
	if _, err := ProcessCPU(-1); err == nil {
		t.Fatal("no error for pid -1")
	}
}

// TestProcessMemory: this process's resident memory, all of it and its
// anonymous part, grows by what it writes to fresh memory, its peak is at
// least its resident memory, and a process that does not exist is an
// error.
func TestProcessMemory(t *testing.T) {
	before, err := ProcessMemory(os.Getpid())
	if err != nil {
		t.Fatal(err)
	}
	if before.RSS <= 0 || before.Anon <= 0 || before.Anon > before.RSS {
		t.Fatalf("resident memory %+v", before)
	}
	// 64 MiB touched page by page is resident until released.
	const size = 64 << 20
	buf := make([]byte, size)
	for i := 0; i < size; i += 4096 {
		buf[i] = 1
	}
	after, err := ProcessMemory(os.Getpid())
	if err != nil {
		t.Fatal(err)
	}
	runtime.KeepAlive(buf)
	if after.RSS-before.RSS < size/2 || after.Anon-before.Anon < size/2 ||
		after.Peak < after.RSS {

		t.Fatalf("after writing %d bytes: %+v (from %+v)", size, after,
			before)
	}
	if _, err := ProcessMemory(-1); err == nil {
		t.Fatal("no error for pid -1")
	}
}
