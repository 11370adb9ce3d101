package ledger

import (
	"fmt"
	"math"
	"strconv"
	"strings"
)

// MilliSatoshi is an amount of bitcoin in thousandths of a satoshi, the unit
// Lightning settles in. It is signed so that postings can lower a balance.
// Arithmetic that can overflow goes through Add, Sub and Mul, which return
// ErrOverflow instead of wrapping around.
type MilliSatoshi int64

// MsatPerSat is the number of millisatoshis in one satoshi.
const MsatPerSat = 1000

// MaxMilliSatoshi is the largest amount the type holds (about 92 million
// BTC, far above the 21 million that exist).
const MaxMilliSatoshi = MilliSatoshi(math.MaxInt64)

// Add returns m + o, or ErrOverflow when the sum does not fit in int64.
func (m MilliSatoshi) Add(o MilliSatoshi) (MilliSatoshi, error) {
	s := m + o
	// Overflow happened iff both operands have the same sign and the
	// sum's sign differs from it.
	if (m >= 0) == (o >= 0) && (s >= 0) != (m >= 0) {
		return 0, fmt.Errorf("%v + %v: %w", m, o, ErrOverflow)
	}

	return s, nil
}

// Sub returns m - o, or ErrOverflow when the difference does not fit in
// int64.
func (m MilliSatoshi) Sub(o MilliSatoshi) (MilliSatoshi, error) {
	d := m - o
	// Overflow happened iff the operands have different signs and the
	// difference's sign differs from m's.
	if (m >= 0) != (o >= 0) && (d >= 0) != (m >= 0) {
		return 0, fmt.Errorf("%v - %v: %w", m, o, ErrOverflow)
	}

	return d, nil
}

// Mul returns m * n, or ErrOverflow when the product does not fit in int64.
func (m MilliSatoshi) Mul(n int64) (MilliSatoshi, error) {
	if m == 0 || n == 0 {
		return 0, nil
	}

	p := int64(m) * n
	// MinInt64 * -1 wraps to MinInt64, and MinInt64 / -1 wraps back, so
	// the division check misses that one case.
	if p/n != int64(m) || (n == -1 && m == math.MinInt64) {
		return 0, fmt.Errorf("%v * %d: %w", m, n, ErrOverflow)
	}

	return MilliSatoshi(p), nil
}

// Neg returns -m, or ErrOverflow for the one amount whose negation does not
// fit (the smallest int64).
func (m MilliSatoshi) Neg() (MilliSatoshi, error) {
	if m == math.MinInt64 {
		return 0, fmt.Errorf("-(%v): %w", m, ErrOverflow)
	}

	return -m, nil
}

// ToSatoshisFloor returns m in whole satoshis, rounded down toward negative
// infinity: 1999 msat is 1 sat, -1 msat is -1 sat. Rounding down means an
// amount paid out in satoshis never exceeds what the ledger holds.
func (m MilliSatoshi) ToSatoshisFloor() int64 {
	s := int64(m) / MsatPerSat
	if m%MsatPerSat < 0 {
		s--
	}

	return s
}

// ToSatoshisCeil returns m in whole satoshis, rounded up toward positive
// infinity: 1001 msat is 2 sat, -1999 msat is -1 sat. Use it where an amount
// asked for in satoshis must cover m, such as an invoice.
func (m MilliSatoshi) ToSatoshisCeil() int64 {
	s := int64(m) / MsatPerSat
	if m%MsatPerSat > 0 {
		s++
	}

	return s
}

// FromSatoshis converts whole satoshis to millisatoshis exactly, or returns
// ErrOverflow when the result does not fit.
func FromSatoshis(sat int64) (MilliSatoshi, error) {
	m, err := MilliSatoshi(sat).Mul(MsatPerSat)
	if err != nil {
		return 0, fmt.Errorf("%d sat: %w", sat, ErrOverflow)
	}

	return m, nil
}

// String formats m as "1234 msat"; ParseMilliSatoshi reads that back for
// amounts that are not negative.
func (m MilliSatoshi) String() string {
	return strconv.FormatInt(int64(m), 10) + " msat"
}

// maxAmountText bounds the text ParseMilliSatoshi looks at, so that outside
// input cannot make it do unbounded work.
const maxAmountText = 64

// ParseMilliSatoshi reads an amount that is not negative, written as a
// decimal integer with an optional unit: "123" and "123msat" are 123 msat,
// "5sat" is 5000 msat, and a satoshi amount may have up to three decimals
// ("1.5sat" is 1500 msat). Spaces around the text and between the number and
// the unit are allowed; the unit's case is not significant. Signs, digit
// separators, exponents and amounts that do not fit in int64 are refused
// with an error wrapping ErrInvalidAmount (or ErrOverflow).
func ParseMilliSatoshi(s string) (MilliSatoshi, error) {
	text := strings.TrimSpace(s)
	if len(text) > maxAmountText {
		return 0, fmt.Errorf("%w: %d characters, at most %d",
			ErrInvalidAmount, len(text), maxAmountText)
	}

	if strings.HasPrefix(text, "-") || strings.HasPrefix(text, "+") {
		return 0, fmt.Errorf("%w: %q: signs are not accepted",
			ErrInvalidAmount, s)
	}

	// Split the number from its unit at the first letter.
	cut := strings.IndexFunc(text, func(r rune) bool {
		return (r < '0' || r > '9') && r != '.' && r != ' '
	})
	number, unit := text, ""
	if cut >= 0 {
		number, unit = text[:cut], strings.ToLower(text[cut:])
	}
	number = strings.TrimRight(number, " ")

	if number == "" {
		return 0, fmt.Errorf("%w: %q has no number", ErrInvalidAmount, s)
	}

	switch unit {
	case "", "msat":
		if strings.ContainsAny(number, ". ") {
			return 0, fmt.Errorf("%w: %q: millisatoshis are whole "+
				"numbers", ErrInvalidAmount, s)
		}

		return parseDigits(number, s)

	case "sat":
		whole, frac, hasFrac := strings.Cut(number, ".")
		if strings.Contains(number, " ") || strings.Contains(frac, ".") ||
			whole == "" || (hasFrac && frac == "") {

			return 0, fmt.Errorf("%w: %q is not a satoshi amount",
				ErrInvalidAmount, s)
		}
		if len(frac) > 3 {
			return 0, fmt.Errorf("%w: %q has more than three "+
				"decimals of a satoshi", ErrInvalidAmount, s)
		}

		sat, err := parseDigits(whole, s)
		if err != nil {
			return 0, err
		}
		m, err := FromSatoshis(int64(sat))
		if err != nil {
			return 0, fmt.Errorf("%q: %w", s, err)
		}

		// Scale the decimals to millisatoshis: ".5" is 500.
		fracMsat := MilliSatoshi(0)
		if frac != "" {
			fracMsat, err = parseDigits(
				frac+strings.Repeat("0", 3-len(frac)), s,
			)
			if err != nil {
				return 0, err
			}
		}

		return m.Add(fracMsat)

	default:
		return 0, fmt.Errorf("%w: %q has unit %q, want msat or sat",
			ErrInvalidAmount, s, unit)
	}
}

// parseDigits reads a non-empty run of ASCII digits; orig is the whole input,
// for the error message.
func parseDigits(digits, orig string) (MilliSatoshi, error) {
	if digits == "" {
		return 0, fmt.Errorf("%w: %q has no number", ErrInvalidAmount,
			orig)
	}
	for _, r := range digits {
		if r < '0' || r > '9' {
			return 0, fmt.Errorf("%w: %q: %q is not a digit",
				ErrInvalidAmount, orig, r)
		}
	}

	n, err := strconv.ParseInt(digits, 10, 64)
	if err != nil {
		return 0, fmt.Errorf("%w: %q does not fit in int64 msat",
			ErrOverflow, orig)
	}

	return MilliSatoshi(n), nil
}
