package settlement

import (
	"fmt"
	"math"
	"slices"
	"sort"
	"time"

	"github.com/shopspring/decimal"
	"github.com/sluice-ln/sluice/channels"
	"github.com/sluice-ln/sluice/ledger"
)

// Resources returns the resources a job may name, in a fixed order.
func Resources() []channels.Resource {
	return slices.Clone(channels.Resources)
}

// Spec is the most of each resource a job may use per second. Resources
// absent from a spec are not used.
type Spec map[channels.Resource]int64

// MaxSpecUnits bounds each resource of a spec, so that a price computed
// from it stays far from overflowing: a million cores, or a TiB of memory
// a million times over.
const MaxSpecUnits = 1 << 40

// Validate checks that every resource of the spec is known, not negative
// and at most MaxSpecUnits, and that at least one is above zero.
func (s Spec) Validate() error {
	uses := false
	for _, r := range s.sorted() {
		n := s[r]
		switch {
		case !slices.Contains(channels.Resources, r):
			return fmt.Errorf("%w: spec names resource %q, want "+
				"%v", ErrInvalidJob, r, Resources())
		case n < 0:
			return fmt.Errorf("%w: spec %s is %d, negative",
				ErrInvalidJob, r, n)
		case n > MaxSpecUnits:
			return fmt.Errorf("%w: spec %s is %d, at most %d",
				ErrInvalidJob, r, n, int64(MaxSpecUnits))
		}
		if n > 0 {
			uses = true
		}
	}
	if !uses {
		return fmt.Errorf("%w: spec uses no resource; give at least "+
			"one of %v above zero", ErrInvalidJob, Resources())
	}

	return nil
}

// sorted returns the spec's resources in a fixed order.
func (s Spec) sorted() []channels.Resource {
	out := make([]channels.Resource, 0, len(s))
	for r := range s {
		out = append(out, r)
	}
	sort.Slice(out, func(i, j int) bool { return out[i] < out[j] })

	return out
}

// PricePerSecond is what one second of the job at its full spec costs, in
// msat, exactly: Σ rate[r] × spec[r] over the spec's resources. A resource
// the spec uses (above zero) that the rate card lacks is an error.
func PricePerSecond(spec Spec, rates channels.RateCard) (decimal.Decimal, error) {
	total := decimal.Zero
	for _, r := range spec.sorted() {
		n := spec[r]
		if n == 0 {
			continue
		}
		rate, ok := rates[r]
		if !ok {
			return decimal.Zero, fmt.Errorf("%w: the provider's "+
				"rate card has no rate for %s", ErrInvalidJob, r)
		}
		total = total.Add(rate.Decimal().Mul(decimal.NewFromInt(n)))
	}

	return total, nil
}

// Health is what a job's escrow says about it, against its price and
// buffer.
type Health int

const (
	// Healthy: the runway is at least the buffer.
	Healthy Health = iota

	// Low: the runway is below the buffer, but the escrow covers at
	// least one second.
	Low

	// Exhausted: the escrow is below one second's price.
	Exhausted
)

// String names the health.
func (h Health) String() string {
	switch h {
	case Healthy:
		return "healthy"
	case Low:
		return "low"
	case Exhausted:
		return "exhausted"
	}

	return fmt.Sprintf("Health(%d)", int(h))
}

// Solvency is a job's money against its price, at one moment.
type Solvency struct {
	// Escrow is what the job's escrow holds.
	Escrow ledger.MilliSatoshi

	// PricePerSecond is one second at the full spec, in msat.
	PricePerSecond decimal.Decimal

	// Runway is escrow ÷ price per second, in seconds, exact. Zero when
	// the price is zero (such a job cannot be created).
	Runway decimal.Decimal

	// RunwaySeconds is the runway rounded down to whole seconds and
	// capped at MaxInt64.
	RunwaySeconds int64

	// Health compares the runway with the buffer.
	Health Health
}

// Evaluate computes a job's solvency:
//
//	runway    = escrow ÷ price per second      (seconds, exact decimal)
//	exhausted ⇔ escrow < price per second      (less than one second left)
//	low       ⇔ escrow < price × buffer        (and not exhausted)
//
// A zero price never runs out: the job is healthy.
func Evaluate(escrow ledger.MilliSatoshi, price decimal.Decimal,
	bufferSeconds int64) Solvency {

	s := Solvency{Escrow: escrow, PricePerSecond: price,
		Runway: decimal.Zero, Health: Healthy}
	if !price.IsPositive() {
		return s
	}

	e := decimal.NewFromInt(int64(escrow))
	// Sixteen decimals of a second are far beyond any use, and keep the
	// division exact enough that floor(runway) is right: the floor is
	// taken of the quotient truncated below it, never above.
	s.Runway = e.DivRound(price, 16)
	whole := e.Div(price).Floor()
	if q := e.Sub(price.Mul(whole)); q.IsNegative() {
		whole = whole.Sub(decimal.NewFromInt(1))
	}
	s.RunwaySeconds = math.MaxInt64
	if whole.LessThan(decimal.NewFromInt(math.MaxInt64)) {
		s.RunwaySeconds = whole.IntPart()
	}

	switch {
	case e.LessThan(price):
		s.Health = Exhausted
	case e.LessThan(price.Mul(decimal.NewFromInt(bufferSeconds))):
		s.Health = Low
	}

	return s
}

// DepletionTime is when the escrow runs out if the job uses its full spec
// from at on: at + escrow ÷ price per second, to the millisecond (rounded
// down). It is the zero time for a zero price.
func (s Solvency) DepletionTime(at time.Time) time.Time {
	if !s.PricePerSecond.IsPositive() {
		return time.Time{}
	}
	ms := decimal.NewFromInt(int64(s.Escrow)).
		Mul(decimal.NewFromInt(1000)).Div(s.PricePerSecond).Floor()
	maxMs := decimal.NewFromInt(math.MaxInt64 / int64(time.Millisecond))
	if ms.GreaterThan(maxMs) {
		ms = maxMs
	}

	return at.Add(time.Duration(ms.IntPart()) * time.Millisecond)
}

// TargetState is the state solvency puts a funded job in: suspended when
// exhausted, low on balance when low, and otherwise running once the
// agent started or funded before.
func TargetState(h Health, started bool) State {
	switch {
	case h == Exhausted:
		return StateSuspended
	case h == Low:
		return StateLowBalance
	case started:
		return StateRunning
	default:
		return StateFunded
	}
}

// solvencyCause is the cause of a move into the target state from a
// funded state.
func solvencyCause(from, to State) Cause {
	switch to {
	case StateSuspended:
		return CauseEscrowExhausted
	case StateLowBalance:
		if from == StateSuspended {
			return CauseTopUpSettled
		}
		return CauseRunwayBelowBuffer
	default:
		return CauseTopUpSettled
	}
}
