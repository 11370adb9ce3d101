package ledger

import "math"

// The checked int64 arithmetic that MilliSatoshi and Shares share: each
// returns the result and whether it fit, and the typed methods turn a
// misfit into ErrOverflow with their own formatting.

// addChecked returns a + b and whether the sum fits in int64. Overflow
// happens iff both operands have the same sign and the sum's sign differs
// from it.
func addChecked[T ~int64](a, b T) (T, bool) {
	s := a + b
	if (a >= 0) == (b >= 0) && (s >= 0) != (a >= 0) {
		return 0, false
	}

	return s, true
}

// subChecked returns a - b and whether the difference fits in int64.
// Overflow happens iff the operands have different signs and the
// difference's sign differs from a's.
func subChecked[T ~int64](a, b T) (T, bool) {
	d := a - b
	if (a >= 0) != (b >= 0) && (d >= 0) != (a >= 0) {
		return 0, false
	}

	return d, true
}

// negChecked returns -a and whether it fits: only the smallest int64 has no
// negation.
func negChecked[T ~int64](a T) (T, bool) {
	if a == math.MinInt64 {
		return 0, false
	}

	return -a, true
}
