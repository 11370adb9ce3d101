package payout

import (
	"fmt"
	"time"

	"github.com/sluice-ln/sluice/ledger"
)

// FeePayer says who bears the Lightning routing fee of a payout.
type FeePayer string

const (
	// FeePayerProvider takes the routing fee from the provider's payable:
	// the provider receives its payable less the fee the route actually
	// cost. Before sending, the fee cap is reserved from the payable
	// beside the amount, and what the route did not use goes back to it.
	FeePayerProvider FeePayer = "provider"

	// FeePayerPlatform takes the routing fee from the platform's fees:
	// the provider receives all of its payable. The fee budget is
	// reserved from platform_fees, and never more than it holds, so a
	// platform without fees pays only over zero-fee routes (a direct
	// channel).
	FeePayerPlatform FeePayer = "platform"
)

// Validate checks that p is one of the payers.
func (p FeePayer) Validate() error {
	switch p {
	case FeePayerProvider, FeePayerPlatform:
		return nil
	}
	return fmt.Errorf("%w: fee payer %q is not %s or %s",
		ErrInvalidPolicy, p, FeePayerProvider, FeePayerPlatform)
}

// PPMScale is the denominator of a fee in parts per million.
const PPMScale = 1_000_000

// Policy is how one provider is paid.
type Policy struct {
	// Interval is the least time between the starts of two payouts to
	// the provider: payable is netted and paid at most this often.
	Interval time.Duration

	// Minimum is the smallest amount worth a payment; less stays
	// payable until more is earned.
	Minimum ledger.MilliSatoshi

	// FeeFloor and FeePPM make the routing fee cap of a payment of a:
	// max(FeeFloor, ⌊a × FeePPM / 1e6⌋). The floor keeps tiny payments
	// from being refused because a percentage rounds to zero; the share
	// keeps large ones from losing much to fees.
	FeeFloor ledger.MilliSatoshi
	FeePPM   int64

	// FeePayer bears the routing fee.
	FeePayer FeePayer
}

// Validate checks every field; the error names the first that is out of
// range.
func (p Policy) Validate() error {
	switch {
	case p.Interval <= 0:
		return fmt.Errorf("%w: interval %v is not positive",
			ErrInvalidPolicy, p.Interval)

	case p.Interval%time.Millisecond != 0:
		return fmt.Errorf("%w: interval %v is not whole milliseconds",
			ErrInvalidPolicy, p.Interval)

	case p.Minimum <= 0:
		return fmt.Errorf("%w: minimum %v is not positive",
			ErrInvalidPolicy, p.Minimum)

	case p.FeeFloor < 0:
		return fmt.Errorf("%w: fee floor %v is negative",
			ErrInvalidPolicy, p.FeeFloor)

	case p.FeePPM < 0 || p.FeePPM > PPMScale:
		return fmt.Errorf("%w: fee ppm %d is not in 0..%d",
			ErrInvalidPolicy, p.FeePPM, PPMScale)
	}
	return p.FeePayer.Validate()
}

// FeeCap returns the most the routing of a payment of amt may cost:
// max(FeeFloor, ⌊amt × FeePPM / 1e6⌋), rounded down, computed without
// overflow for any amount that is not negative.
func (p Policy) FeeCap(amt ledger.MilliSatoshi) ledger.MilliSatoshi {
	if amt <= 0 {
		return p.FeeFloor
	}
	// Validate keeps FeePPM in 0..1e6, so the share is at most amt and
	// PPM cannot fail; an unvalidated policy gets the floor.
	share, err := amt.PPM(p.FeePPM)
	if err != nil {
		return p.FeeFloor
	}
	return max(p.FeeFloor, share)
}

// Plan is one payout's amount and the fee budget reserved beside it.
type Plan struct {
	// Amount is what the provider's node receives.
	Amount ledger.MilliSatoshi

	// FeeBudget is the fee cap, reserved from the fee payer's account
	// until the payment's outcome is known; it is the fee limit lnd
	// gets.
	FeeBudget ledger.MilliSatoshi
}

// Plan decides what to pay a provider with payable of its own, when the
// platform holds platformFees and a route carries at most routeMax (zero:
// no known limit). It returns false when no payout should be made now:
// nothing payable, or an amount below the minimum. Nothing is dropped:
// what is not paid stays payable.
//
// With FeePayerProvider the amount is payable − FeeCap(payable) and the
// budget FeeCap(amount), so amount + budget never exceeds the payable (the
// cap grows with the amount); after the payment the unused budget returns
// to the payable. With FeePayerPlatform the amount is all of the payable
// and the budget is FeeCap(amount), but no more than platformFees.
func (p Policy) Plan(payable, platformFees,
	routeMax ledger.MilliSatoshi) (Plan, bool) {

	if payable <= 0 {
		return Plan{}, false
	}

	var amt ledger.MilliSatoshi
	switch p.FeePayer {
	case FeePayerPlatform:
		amt = payable
	default:
		amt = payable - p.FeeCap(payable)
	}
	if routeMax > 0 && amt > routeMax {
		amt = routeMax
	}
	if amt <= 0 || amt < p.Minimum {
		return Plan{}, false
	}

	budget := p.FeeCap(amt)
	if p.FeePayer == FeePayerPlatform {
		budget = min(budget, max(platformFees, 0))
	}
	return Plan{Amount: amt, FeeBudget: budget}, true
}

// zeroFee is p for a route that costs nothing: no fee cap, so no budget is
// reserved and lnd may use only zero-fee routes.
func (p Policy) zeroFee() Policy {
	p.FeeFloor, p.FeePPM = 0, 0
	return p
}

// Override is the operator's per-provider change to the defaults; a nil
// field keeps the default.
type Override struct {
	Interval *time.Duration
	Minimum  *ledger.MilliSatoshi
	FeeFloor *ledger.MilliSatoshi
	FeePPM   *int64
	FeePayer *FeePayer
}

// Apply returns the defaults p with o's fields in place of theirs.
func (p Policy) Apply(o Override) Policy {
	if o.Interval != nil {
		p.Interval = *o.Interval
	}
	if o.Minimum != nil {
		p.Minimum = *o.Minimum
	}
	if o.FeeFloor != nil {
		p.FeeFloor = *o.FeeFloor
	}
	if o.FeePPM != nil {
		p.FeePPM = *o.FeePPM
	}
	if o.FeePayer != nil {
		p.FeePayer = *o.FeePayer
	}
	return p
}
