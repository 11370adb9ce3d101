package ledger

import (
	"fmt"
	"math"
	"math/bits"
)

// PPMScale is the denominator of a fraction in parts per million:
// 1_000_000 ppm is all of an amount.
const PPMScale = 1_000_000

// PPM returns the share of m that ppm parts per million make, rounded down:
// ⌊m × ppm / 1e6⌋. It is the one fee-cap formula, so that payouts and
// refunds round the same way; the product is taken in 128 bits, so no
// amount overflows on the way.
//
// Errors: ErrInvalidAmount for a negative amount or ppm (a fee cap of a
// negative amount means nothing), ErrOverflow when the share does not fit
// (only possible for a ppm above PPMScale).
func (m MilliSatoshi) PPM(ppm int64) (MilliSatoshi, error) {
	switch {
	case m < 0:
		return 0, fmt.Errorf("%w: %v of %d ppm is negative",
			ErrInvalidAmount, m, ppm)

	case ppm < 0:
		return 0, fmt.Errorf("%w: %d ppm of %v is negative",
			ErrInvalidAmount, ppm, m)
	}

	hi, lo := bits.Mul64(uint64(m), uint64(ppm))
	// Div64 panics when the quotient needs more than 64 bits, which is
	// exactly when hi ≥ the divisor.
	if hi >= PPMScale {
		return 0, fmt.Errorf("%v × %d ppm: %w", m, ppm, ErrOverflow)
	}
	share, _ := bits.Div64(hi, lo, PPMScale)
	if share > math.MaxInt64 {
		return 0, fmt.Errorf("%v × %d ppm: %w", m, ppm, ErrOverflow)
	}

	return MilliSatoshi(share), nil
}
