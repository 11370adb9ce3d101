package outbound

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/cenkalti/backoff/v4"
	"github.com/lightningnetwork/lnd/clock"
	"github.com/sluice-ln/sluice/failpoint"
)

var (
	// ErrNotSeen is what a Call's Track wraps when the other side never
	// saw the call: it was never made, and making it now cannot make it
	// twice.
	ErrNotSeen = errors.New("the other side never saw the call")

	// ErrExists is what a Call's Send wraps when the other side has the
	// call already (in flight or finished): it is tracked instead.
	ErrExists = errors.New("the other side has the call already")

	// ErrBadOutcome is returned by Drive when a Call answers with an
	// Outcome whose Status is not final.
	ErrBadOutcome = errors.New("call answered without a final status")
)

// Outcome is how a call ended at the other side.
type Outcome[D any] struct {
	// Status is StatusSucceeded or StatusFailed.
	Status Status

	// Failure says why a failed call failed, as the store keeps it.
	Failure string

	// Detail is the kind's own account of the outcome (for a Lightning
	// payment, lightning.PaymentResult).
	Detail D
}

// Call is one outbound call whose intent is written: the two things the
// lifecycle asks of the other side. Both wait for the outcome, or until
// ctx ends.
type Call[D any] interface {
	// Send makes the call. accepted, when the other side says it
	// recorded the call before its outcome is known, is called once.
	// An error wrapping ErrExists says the other side has it already;
	// a refusal before the other side recorded anything is a failed
	// Outcome, not an error. Any other error leaves the outcome
	// unknown.
	Send(ctx context.Context, accepted func()) (Outcome[D], error)

	// Track follows a call the other side has. An error wrapping
	// ErrNotSeen says it never saw it; any other leaves the outcome
	// unknown.
	Track(ctx context.Context) (Outcome[D], error)
}

// Failpoints name a kind's failpoints; an empty name is not hit.
type Failpoints struct {
	// AfterIntent is hit before a fresh intent is sent.
	AfterIntent string

	// AfterSend is hit when the other side recorded the call.
	AfterSend string

	// AfterSuccess is hit when the call succeeded, before the caller
	// records it.
	AfterSuccess string
}

// Defaults of Retry.
const (
	DefaultInitialWait = 250 * time.Millisecond
	DefaultMaxWait     = 30 * time.Second
)

// Retry is the one rule for an unknown outcome: track again after a wait
// that starts at InitialWait and doubles (with jitter) up to MaxWait, until
// ctx ends. Zero fields take the defaults.
type Retry struct {
	InitialWait time.Duration
	MaxWait     time.Duration
}

// backOff is r as a backoff policy on clk that stops when ctx ends.
func (r Retry) backOff(ctx context.Context, clk clock.Clock) backoff.BackOff {
	b := backoff.NewExponentialBackOff()
	// backoff's default multiplier is 1.5; the rule is to double.
	b.Multiplier = 2
	b.InitialInterval = DefaultInitialWait
	if r.InitialWait > 0 {
		b.InitialInterval = r.InitialWait
	}
	b.MaxInterval = DefaultMaxWait
	if r.MaxWait > 0 {
		b.MaxInterval = r.MaxWait
	}
	b.MaxInterval = max(b.MaxInterval, b.InitialInterval)
	b.MaxElapsedTime = 0
	b.Clock = clk
	b.Reset()
	return backoff.WithContext(b, ctx)
}

// Driver drives calls through the lifecycle. The zero Driver hits
// failpoint.Hit, waits on the wall clock and uses the default Retry.
type Driver struct {
	// Hook fires failpoints; failpoint.Hit when nil. Tests put a crash
	// of their own here.
	Hook func(name string)

	// Clock times the waits; the wall clock when nil.
	Clock clock.Clock

	// Retry is the wait rule for an unknown outcome.
	Retry Retry

	// Guard, when set, is asked right before each send: an error stops
	// Drive with it before the call leaves, and the intent stays
	// pending. The daemon's guard is the leader's lease: a leader that
	// has lost it (one paused past its deadline, say) sends nothing.
	Guard func() error
}

// Hit fires the failpoint named, unless the name is empty.
func (d Driver) Hit(name string) {
	switch {
	case name == "":
	case d.Hook != nil:
		d.Hook(name)
	default:
		failpoint.Hit(name)
	}
}

// clock is the driver's clock.
func (d Driver) clock() clock.Clock {
	if d.Clock == nil {
		return clock.NewDefaultClock()
	}
	return d.Clock
}

// Drive gets call's outcome from the other side, making the call at most
// once: a fresh intent (resume false) is sent after fp.AfterIntent; an
// intent found pending (resume true) is tracked first and sent only when
// the other side never saw it. While the outcome is unknown it tracks
// again by d.Retry until ctx ends, when it returns ctx's error and the
// intent stays pending. A success hits fp.AfterSuccess before it is
// returned. what names the call in errors and logs.
func Drive[D any](ctx context.Context, d Driver, what string, call Call[D],
	fp Failpoints, resume bool) (Outcome[D], error) {

	if !resume {
		d.Hit(fp.AfterIntent)
	}

	clk := d.clock()
	b := d.Retry.backOff(ctx, clk)
	track := resume

	// hops counts moves between Send and Track without a wait; two in
	// a row (sent: exists; tracked: never seen) means the other side
	// contradicts itself, which is waited out like an unknown outcome.
	hops := 0

	for {
		var (
			out Outcome[D]
			err error
		)
		if track {
			out, err = call.Track(ctx)
		} else {
			if d.Guard != nil {
				if err := d.Guard(); err != nil {
					return Outcome[D]{}, fmt.Errorf("%s: not "+
						"sent: %w", what, err)
				}
			}
			out, err = call.Send(ctx, func() { d.Hit(fp.AfterSend) })
		}

		switch {
		case err == nil:
			return finish(d, what, out, fp)

		case ctx.Err() != nil:
			return Outcome[D]{}, fmt.Errorf("%s: %w", what, ctx.Err())

		case track && errors.Is(err, ErrNotSeen) && hops < 2:
			// Never made: making it now cannot make it twice.
			log.Debugf("%s: never seen at the other side, sending",
				what)
			track = false
			hops++
			continue

		case !track && errors.Is(err, ErrExists) && hops < 2:
			log.Debugf("%s: the other side has it, tracking", what)
			track = true
			hops++
			continue
		}

		wait := b.NextBackOff()
		if wait == backoff.Stop {
			return Outcome[D]{}, fmt.Errorf("%s: %w", what, ctx.Err())
		}
		log.Warnf("%s: outcome unknown (%v); tracking it in %v", what,
			err, wait)
		select {
		case <-clk.TickAfter(wait):
		case <-ctx.Done():
			return Outcome[D]{}, fmt.Errorf("%s: %w", what, ctx.Err())
		}
		track, hops = true, 0
	}
}

// finish checks an outcome and hits the after-success failpoint.
func finish[D any](d Driver, what string, out Outcome[D],
	fp Failpoints) (Outcome[D], error) {

	if !out.Status.Final() {
		return Outcome[D]{}, fmt.Errorf("%s: %w: %v", what,
			ErrBadOutcome, out.Status)
	}
	if out.Status == StatusSucceeded {
		d.Hit(fp.AfterSuccess)
	}
	return out, nil
}
