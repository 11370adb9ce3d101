package ledger

import (
	"fmt"
	"math"
)

// Shares is an amount of the yield vault's shares in integer units, the
// ledger's second unit beside MilliSatoshi. A share has three decimals:
// UnitsPerShare units make one share, so that at the vault's genesis, when a
// share is worth one satoshi, one unit is worth one millisatoshi. It is
// signed so that postings can lower a balance; Add, Sub and Neg return
// ErrOverflow instead of wrapping around. Converting between shares and
// millisatoshis is the vault's business (a price per share), never a cast.
type Shares int64

// UnitsPerShare is the number of units in one share.
const UnitsPerShare = 1000

// MaxShares is the largest amount the type holds, in units.
const MaxShares = Shares(math.MaxInt64)

// Add returns s + o, or ErrOverflow when the sum does not fit in int64.
func (s Shares) Add(o Shares) (Shares, error) {
	sum, ok := addChecked(s, o)
	if !ok {
		return 0, fmt.Errorf("%v + %v: %w", s, o, ErrOverflow)
	}

	return sum, nil
}

// Sub returns s - o, or ErrOverflow when the difference does not fit in
// int64.
func (s Shares) Sub(o Shares) (Shares, error) {
	d, ok := subChecked(s, o)
	if !ok {
		return 0, fmt.Errorf("%v - %v: %w", s, o, ErrOverflow)
	}

	return d, nil
}

// Neg returns -s, or ErrOverflow for the one amount whose negation does not
// fit (the smallest int64).
func (s Shares) Neg() (Shares, error) {
	n, ok := negChecked(s)
	if !ok {
		return 0, fmt.Errorf("-(%v): %w", s, ErrOverflow)
	}

	return n, nil
}

// String formats s in shares with all three decimals, as "12.345 shares"
// (12345 units) or "-0.500 shares"; ParseShares reads that back for
// amounts that are not negative.
func (s Shares) String() string {
	sign, mag := "", uint64(s)
	if s < 0 {
		// Through s+1 so that the smallest int64 has a magnitude too.
		sign, mag = "-", uint64(-(s+1))+1
	}

	return fmt.Sprintf("%s%d.%03d shares", sign, mag/UnitsPerShare,
		mag%UnitsPerShare)
}

// ParseShares reads an amount of shares that is not negative, written in
// shares with up to three decimals and an optional unit: "12", "12.3",
// "12.345", "12.345 shares" and "1share" are 12000, 12300, 12345, 12345 and
// 1000 units. Shares are always written as shares, never as bare units, so
// that "12" cannot mean a thousandth of what the reader meant. Spaces around
// the text and between the number and the unit are allowed; the unit's case
// is not significant. Signs, digit separators, exponents, a fourth decimal,
// ".5" and "5." are refused with an error wrapping ErrInvalidAmount, and
// amounts that do not fit in int64 units with ErrOverflow.
func ParseShares(s string) (Shares, error) {
	number, unit, err := splitAmount(s)
	if err != nil {
		return 0, err
	}

	switch unit {
	case "", "share", "shares":
	default:
		return 0, fmt.Errorf("%w: %q has unit %q, want shares",
			ErrInvalidAmount, s, unit)
	}

	n, err := parseThousandths(number, "share", s)
	if err != nil {
		return 0, err
	}

	return Shares(n), nil
}
