package outbound

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/lightningnetwork/lnd/clock"
)

// answer is one scripted answer of fakeCall.
type answer struct {
	status   Status
	err      error
	accepted bool
}

// fakeCall answers Send and Track from scripts and records the calls it
// got; a call past the end of its script fails the test.
type fakeCall struct {
	t      *testing.T
	sends  []answer
	tracks []answer
	calls  []string
}

func (f *fakeCall) next(kind string, script *[]answer) answer {
	f.calls = append(f.calls, kind)
	if len(*script) == 0 {
		f.t.Fatalf("unexpected %s after %v", kind, f.calls)
	}
	a := (*script)[0]
	*script = (*script)[1:]
	return a
}

func (f *fakeCall) Send(_ context.Context, accepted func()) (Outcome[int],
	error) {

	a := f.next("send", &f.sends)
	if a.accepted {
		accepted()
	}
	return Outcome[int]{Status: a.status, Detail: 7}, a.err
}

func (f *fakeCall) Track(context.Context) (Outcome[int], error) {
	a := f.next("track", &f.tracks)
	return Outcome[int]{Status: a.status, Detail: 7}, a.err
}

var (
	errBroken = errors.New("stream broken")
	fp        = Failpoints{AfterIntent: "a-intent", AfterSend: "a-send",
		AfterSuccess: "a-success"}
)

// fastDriver is a driver whose waits are a nanosecond, recording the
// failpoints hit.
func fastDriver(hits *[]string) Driver {
	return Driver{
		Hook:  func(name string) { *hits = append(*hits, name) },
		Retry: Retry{InitialWait: time.Nanosecond, MaxWait: time.Nanosecond},
	}
}

// TestDrive runs the lifecycle over scripted answers: the calls it makes,
// the outcome, and the failpoints it hits.
func TestDrive(t *testing.T) {
	ok := answer{status: StatusSucceeded}
	tests := []struct {
		name      string
		resume    bool
		sends     []answer
		tracks    []answer
		want      Status
		wantErr   error
		wantCalls string
		wantHits  string
	}{{
		name:  "fresh succeeds",
		sends: []answer{{status: StatusSucceeded, accepted: true}},
		want:  StatusSucceeded, wantCalls: "send",
		wantHits: "a-intent a-send a-success",
	}, {
		name:  "fresh fails",
		sends: []answer{{status: StatusFailed, accepted: true}},
		want:  StatusFailed, wantCalls: "send",
		wantHits: "a-intent a-send",
	}, {
		name:      "unknown outcome is tracked, never sent again",
		sends:     []answer{{err: errBroken, accepted: true}},
		tracks:    []answer{{err: errBroken}, {err: errBroken}, ok},
		want:      StatusSucceeded,
		wantCalls: "send track track track",
		wantHits:  "a-intent a-send a-success",
	}, {
		name:   "exists is tracked",
		sends:  []answer{{err: ErrExists}},
		tracks: []answer{ok},
		want:   StatusSucceeded, wantCalls: "send track",
		wantHits: "a-intent a-success",
	}, {
		name:   "resume tracks first",
		resume: true,
		tracks: []answer{{status: StatusFailed}},
		want:   StatusFailed, wantCalls: "track",
	}, {
		name:   "resume sends what was never seen",
		resume: true,
		tracks: []answer{{err: ErrNotSeen}},
		sends:  []answer{ok},
		want:   StatusSucceeded, wantCalls: "track send",
		wantHits: "a-success",
	}, {
		name:   "a contradicting side is waited out",
		resume: true,
		tracks: []answer{{err: ErrNotSeen}, {err: ErrNotSeen}, ok},
		sends:  []answer{{err: ErrExists}},
		want:   StatusSucceeded,
		// track, send (hop 1), track (hop 2): a third hop is not
		// taken; the call is tracked again after a wait.
		wantCalls: "track send track track",
		wantHits:  "a-success",
	}, {
		name:      "an outcome that is not final is an error",
		sends:     []answer{{status: StatusPending}},
		wantErr:   ErrBadOutcome,
		wantCalls: "send", wantHits: "a-intent",
	}}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			f := &fakeCall{t: t, sends: tc.sends, tracks: tc.tracks}
			var hits []string
			out, err := Drive[int](context.Background(),
				fastDriver(&hits), "call", f, fp, tc.resume)
			if tc.wantErr != nil {
				if !errors.Is(err, tc.wantErr) {
					t.Fatalf("error %v, want %v", err,
						tc.wantErr)
				}
			} else if err != nil || out.Status != tc.want ||
				out.Detail != 7 {

				t.Fatalf("outcome %+v, %v; want %v", out, err,
					tc.want)
			}
			if got := strings.Join(f.calls, " "); got !=
				tc.wantCalls {

				t.Errorf("calls %q, want %q", got, tc.wantCalls)
			}
			if got := strings.Join(hits, " "); got != tc.wantHits {
				t.Errorf("failpoints %q, want %q", got,
					tc.wantHits)
			}
		})
	}
}

// TestDriveWaitsOnItsClock: an unknown outcome is tracked again only once
// the driver's clock has passed the wait, each wait is longer, and a wait
// ends with ctx, leaving the intent pending.
func TestDriveWaitsOnItsClock(t *testing.T) {
	start := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	ticks := make(chan time.Duration)
	clk := clock.NewTestClockWithTickSignal(start, ticks)
	f := &fakeCall{t: t, sends: []answer{{err: errBroken}},
		tracks: []answer{{err: errBroken}}}
	d := Driver{Hook: func(string) {}, Clock: clk,
		Retry: Retry{InitialWait: time.Second, MaxWait: time.Minute}}

	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		_, err := Drive[int](ctx, d, "call", f, fp, false)
		done <- err
	}()

	waitTick := func() time.Duration {
		t.Helper()
		select {
		case w := <-ticks:
			return w
		case err := <-done:
			t.Fatalf("Drive returned %v instead of waiting", err)
		case <-time.After(10 * time.Second):
			t.Fatal("Drive never waited")
		}
		return 0
	}

	// The first wait is a second with jitter of a half.
	first := waitTick()
	if first < 500*time.Millisecond || first > 1500*time.Millisecond {
		t.Fatalf("first wait %v, want 1 s ± 50%%", first)
	}
	clk.SetTime(start.Add(first))

	// The track after it breaks too; the next wait is 2 s ± 50%.
	second := waitTick()
	if second < time.Second || second > 3*time.Second {
		t.Fatalf("second wait %v, want 2 s ± 50%%", second)
	}
	cancel()
	if err := <-done; !errors.Is(err, context.Canceled) {
		t.Fatalf("Drive after cancel: %v", err)
	}
	if got := strings.Join(f.calls, " "); got != "send track" {
		t.Fatalf("calls %q, want \"send track\"", got)
	}
}

// TestDriveGuard: a guard that refuses stops Drive before the send, with
// its error, and leaves the call unmade; a resumed intent is still
// tracked first, and sent only once the guard admits it.
func TestDriveGuard(t *testing.T) {
	refused := errors.New("lease lost")
	var hits []string
	d := fastDriver(&hits)
	d.Guard = func() error { return refused }

	f := &fakeCall{t: t}
	_, err := Drive[int](context.Background(), d, "guarded", f, fp, false)
	if !errors.Is(err, refused) {
		t.Fatalf("fresh intent: got %v, want the guard's error", err)
	}
	if len(f.calls) != 0 {
		t.Fatalf("fresh intent: calls %v, want none", f.calls)
	}

	f = &fakeCall{t: t, tracks: []answer{{err: ErrNotSeen}}}
	_, err = Drive[int](context.Background(), d, "guarded", f, fp, true)
	if !errors.Is(err, refused) {
		t.Fatalf("resumed intent: got %v, want the guard's error", err)
	}
	if strings.Join(f.calls, ",") != "track" {
		t.Fatalf("resumed intent: calls %v, want track only", f.calls)
	}

	d.Guard = func() error { return nil }
	f = &fakeCall{t: t, sends: []answer{{status: StatusSucceeded,
		accepted: true}}}
	out, err := Drive[int](context.Background(), d, "guarded", f, fp, false)
	if err != nil || out.Status != StatusSucceeded {
		t.Fatalf("admitted: got %v, %v", out.Status, err)
	}
}
