package ledger

import (
	"fmt"
	"math"
	"math/bits"

	"github.com/shopspring/decimal"
)

// MaxRateDecimals is the most decimal places a Rate may have. It bounds the
// pricing carry, which has the rate's precision, so that a carry is stored
// exactly in a short decimal column.
const MaxRateDecimals = 18

// maxRateText bounds the text ParseRate looks at.
const maxRateText = 64

var (
	// one is one millisatoshi, the bound of a pricing carry.
	one = decimal.NewFromInt(1)

	// maxMsat is the largest amount, as a decimal.
	maxMsat = decimal.NewFromInt(math.MaxInt64)
)

// Rate is a price in millisatoshis per unit-second (a CPU-second, a
// GiB-second), as an exact decimal that is never negative and has at most
// MaxRateDecimals decimal places. The zero Rate is free.
type Rate struct {
	d decimal.Decimal

	// coef and exp are d as coef·10^exp when small is set: d's
	// coefficient fits in a uint64 and its exponent is in
	// [-MaxRateDecimals, 0], as for every rate ParseRate reads. Price
	// works on them in integers (priceSmall); a Rate without them is
	// priced in decimals.
	coef  uint64
	exp   int32
	small bool
}

// NewRate returns d as a Rate, refusing a negative d or one with more than
// MaxRateDecimals decimal places (ErrInvalidRate).
func NewRate(d decimal.Decimal) (Rate, error) {
	if d.IsNegative() {
		return Rate{}, fmt.Errorf("%w: %v msat per unit-second is "+
			"negative", ErrInvalidRate, d)
	}

	// A trailing zero does not make a rate more precise: 1.50 is 1.5.
	if d.Exponent() < -MaxRateDecimals &&
		!d.Equal(d.Truncate(MaxRateDecimals)) {

		return Rate{}, fmt.Errorf("%w: %v has more than %d decimal "+
			"places", ErrInvalidRate, d, MaxRateDecimals)
	}

	return newRate(d.Truncate(MaxRateDecimals)), nil
}

// newRate is d, already checked, as a Rate with its integer form when it
// has one.
func newRate(d decimal.Decimal) Rate {
	r := Rate{d: d}
	c := d.Coefficient()
	if e := d.Exponent(); e <= 0 && e >= -MaxRateDecimals &&
		c.Sign() >= 0 && c.IsUint64() {

		r.coef, r.exp, r.small = c.Uint64(), e, true
	}
	return r
}

// RateFromMsat returns a whole number of millisatoshis per unit-second as a
// Rate.
func RateFromMsat(msat MilliSatoshi) (Rate, error) {
	return NewRate(decimal.NewFromInt(int64(msat)))
}

// ParseRate reads a rate in millisatoshis per unit-second written as a plain
// decimal, such as "12", "0.5" or "0.000125": digits with an optional point,
// no sign, exponent or unit. Errors wrap ErrInvalidRate.
func ParseRate(s string) (Rate, error) {
	if len(s) > maxRateText {
		return Rate{}, fmt.Errorf("%w: %d characters, at most %d",
			ErrInvalidRate, len(s), maxRateText)
	}

	// decimal.NewFromString also takes signs and exponents; a rate card
	// is plain digits, so anything else is refused before it.
	digits, point := 0, 0
	for _, r := range s {
		switch {
		case r >= '0' && r <= '9':
			digits++
		case r == '.':
			point++
		default:
			return Rate{}, fmt.Errorf("%w: %q has %q, want digits "+
				"and at most one point", ErrInvalidRate, s, r)
		}
	}
	if digits == 0 || point > 1 {
		return Rate{}, fmt.Errorf("%w: %q is not a decimal number",
			ErrInvalidRate, s)
	}

	d, err := decimal.NewFromString(s)
	if err != nil {
		return Rate{}, fmt.Errorf("%w: %q: %v", ErrInvalidRate, s, err)
	}

	return NewRate(d)
}

// Decimal returns the rate in millisatoshis per unit-second.
func (r Rate) Decimal() decimal.Decimal { return r.d }

// IsZero reports whether the rate is free.
func (r Rate) IsZero() bool { return r.d.IsZero() }

// String formats the rate as a plain decimal, as ParseRate reads it.
func (r Rate) String() string { return r.d.String() }

// ValidateCarry checks that a pricing carry is a fraction of a
// millisatoshi: in [0, 1), with at most MaxRateDecimals decimal places.
// Errors wrap ErrInvalidCarry.
func ValidateCarry(carry decimal.Decimal) error {
	if carry.IsNegative() || carry.GreaterThanOrEqual(one) {
		return fmt.Errorf("%w: %v is outside [0, 1) msat",
			ErrInvalidCarry, carry)
	}
	if !carry.Equal(carry.Truncate(MaxRateDecimals)) {
		return fmt.Errorf("%w: %v has more than %d decimal places",
			ErrInvalidCarry, carry, MaxRateDecimals)
	}

	return nil
}

// Price returns what quantity unit-seconds cost at r, in whole millisatoshis
// rounded down, given the carry: the fraction of a millisatoshi left over by
// the previous pricing of the same job (zero at its start). It also returns
// the new carry, to hand to the next call. Rounding down and carrying the
// rest means that pricing a job's seconds one call at a time charges exactly
// what pricing them all at once would, to the millisatoshi: nothing is lost
// or invented by rounding, and the buyer is never charged for a fraction
// before it adds up to a whole millisatoshi.
//
// quantity may not be negative; carry must pass ValidateCarry. A price that
// does not fit in int64 returns ErrOverflow.
func (r Rate) Price(quantity int64, carry decimal.Decimal) (MilliSatoshi,
	decimal.Decimal, error) {

	if quantity < 0 {
		return 0, decimal.Zero, fmt.Errorf("%w: quantity %d is "+
			"negative", ErrInvalidAmount, quantity)
	}
	if price, rest, ok := r.priceSmall(quantity, carry); ok {
		return price, rest, nil
	}
	return r.priceDecimal(quantity, carry)
}

// priceDecimal is Price in decimal arithmetic, for any rate and carry.
func (r Rate) priceDecimal(quantity int64, carry decimal.Decimal) (
	MilliSatoshi, decimal.Decimal, error) {

	if err := ValidateCarry(carry); err != nil {
		return 0, decimal.Zero, err
	}

	total := r.d.Mul(decimal.NewFromInt(quantity)).Add(carry)
	whole := total.Floor()
	if whole.GreaterThan(maxMsat) {
		return 0, decimal.Zero, fmt.Errorf("%d unit-seconds at %v "+
			"msat: %w", quantity, r.d, ErrOverflow)
	}

	return MilliSatoshi(whole.IntPart()), total.Sub(whole), nil
}

// pow10 holds 10^0 to 10^19, every power of ten a uint64 holds.
var pow10 = func() (p [20]uint64) {
	p[0] = 1
	for i := 1; i < len(p); i++ {
		p[i] = p[i-1] * 10
	}
	return p
}()

// priceSmall is Price in integers, for a small rate and a carry whose
// exponent is in [-MaxRateDecimals, 0] and which is in [0, 1): the carry
// of every earlier Price, and zero. It returns what Price returns, in the
// same form (the carry's exponent is the smaller of the rate's and the
// carry's, as decimal arithmetic leaves it), and false when its inputs are
// outside that range or a step would not fit in 64 bits: Price then works
// in decimals and returns its errors.
func (r Rate) priceSmall(quantity int64, carry decimal.Decimal) (
	MilliSatoshi, decimal.Decimal, bool) {

	ce := carry.Exponent()
	if ce > 0 && carry.IsZero() {
		// decimal.Zero is 0·10^1; adding it keeps the rate's
		// exponent, as 0·10^0 does.
		ce = 0
	}
	if !r.small || ce > 0 || ce < -MaxRateDecimals || carry.Sign() < 0 {
		return 0, decimal.Decimal{}, false
	}
	// Below 1: the coefficient is below 10^-ce.
	c := carry.Coefficient()
	if !c.IsUint64() || c.Uint64() >= pow10[-ce] {
		return 0, decimal.Decimal{}, false
	}
	cc := c.Uint64()

	// Both in units of 10^e, the finer of the two exponents.
	e := min(r.exp, ce)
	hi, rate := bits.Mul64(r.coef, pow10[r.exp-e])
	if hi != 0 {
		return 0, decimal.Decimal{}, false
	}
	hi, total := bits.Mul64(rate, uint64(quantity))
	if hi != 0 {
		return 0, decimal.Decimal{}, false
	}
	total, carried := bits.Add64(total, cc*pow10[ce-e], 0)
	if carried != 0 {
		return 0, decimal.Decimal{}, false
	}
	unit := pow10[-e]
	whole, rest := total/unit, total%unit
	if whole > math.MaxInt64 {
		return 0, decimal.Decimal{}, false
	}
	return MilliSatoshi(whole), decimal.New(int64(rest), e), true
}

// BasisPoints is a fraction in hundredths of a percent: 10000 is all of it.
type BasisPoints uint16

// MaxBasisPoints is all of an amount.
const MaxBasisPoints BasisPoints = 10000

// Validate checks that bp is at most MaxBasisPoints.
func (bp BasisPoints) Validate() error {
	if bp > MaxBasisPoints {
		return fmt.Errorf("%w: %d, at most %d", ErrInvalidBasisPoints,
			bp, MaxBasisPoints)
	}

	return nil
}

// SplitFee splits amount into a fee of feeRate basis points and the rest,
// with fee + rest == amount exactly. The fee is rounded down, so the
// rounding goes to the rest: on usage, the provider gets the fraction of a
// millisatoshi the platform's fee does not take. amount may not be negative.
func SplitFee(amount MilliSatoshi, feeRate BasisPoints) (fee,
	rest MilliSatoshi, err error) {

	if amount < 0 {
		return 0, 0, fmt.Errorf("%w: fee split of %v, which is "+
			"negative", ErrInvalidAmount, amount)
	}
	if err := feeRate.Validate(); err != nil {
		return 0, 0, err
	}

	// amount * feeRate / 10000 could overflow; splitting amount into
	// whole ten-thousands and the remainder keeps every step in range
	// and rounds down the same way.
	bp := int64(feeRate)
	q, r := int64(amount)/int64(MaxBasisPoints),
		int64(amount)%int64(MaxBasisPoints)
	fee = MilliSatoshi(q*bp + r*bp/int64(MaxBasisPoints))

	return fee, amount - fee, nil
}
