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
	s, ok := addChecked(m, o)
	if !ok {
		return 0, fmt.Errorf("%v + %v: %w", m, o, ErrOverflow)
	}

	return s, nil
}

// Sub returns m - o, or ErrOverflow when the difference does not fit in
// int64.
func (m MilliSatoshi) Sub(o MilliSatoshi) (MilliSatoshi, error) {
	d, ok := subChecked(m, o)
	if !ok {
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
	n, ok := negChecked(m)
	if !ok {
		return 0, fmt.Errorf("-(%v): %w", m, ErrOverflow)
	}

	return n, nil
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

// maxAmountText bounds the text ParseMilliSatoshi and ParseShares look at,
// so that outside input cannot make them do unbounded work.
const maxAmountText = 64

// ParseMilliSatoshi reads an amount that is not negative, written as a
// decimal integer with an optional unit: "123" and "123msat" are 123 msat,
// "5sat" is 5000 msat, and a satoshi amount may have up to three decimals
// ("1.5sat" is 1500 msat). Spaces around the text and between the number and
// the unit are allowed; the unit's case is not significant. Signs, digit
// separators, exponents and amounts that do not fit in int64 are refused
// with an error wrapping ErrInvalidAmount (or ErrOverflow).
func ParseMilliSatoshi(s string) (MilliSatoshi, error) {
	number, unit, err := splitAmount(s)
	if err != nil {
		return 0, err
	}

	switch unit {
	case "", "msat":
		if strings.ContainsAny(number, ". ") {
			return 0, fmt.Errorf("%w: %q: millisatoshis are whole "+
				"numbers", ErrInvalidAmount, s)
		}
		n, err := parseDigits(number, s)

		return MilliSatoshi(n), err

	case "sat":
		n, err := parseThousandths(number, "satoshi", s)

		return MilliSatoshi(n), err

	default:
		return 0, fmt.Errorf("%w: %q has unit %q, want msat or sat",
			ErrInvalidAmount, s, unit)
	}
}

// splitAmount reads the outside text s of an amount that is not negative
// into its number and its unit, lower-cased and empty when there is none:
// the unit starts at the first character that is no digit, '.' or space.
// Spaces around the text and between the two are dropped; text longer than
// maxAmountText, a sign or a missing number is refused.
func splitAmount(s string) (number, unit string, err error) {
	text := strings.TrimSpace(s)
	if len(text) > maxAmountText {
		return "", "", fmt.Errorf("%w: %d characters, at most %d",
			ErrInvalidAmount, len(text), maxAmountText)
	}

	if strings.HasPrefix(text, "-") || strings.HasPrefix(text, "+") {
		return "", "", fmt.Errorf("%w: %q: signs are not accepted",
			ErrInvalidAmount, s)
	}

	cut := strings.IndexFunc(text, func(r rune) bool {
		return (r < '0' || r > '9') && r != '.' && r != ' '
	})
	number = text
	if cut >= 0 {
		number, unit = text[:cut], strings.ToLower(text[cut:])
	}
	number = strings.TrimRight(number, " ")

	if number == "" {
		return "", "", fmt.Errorf("%w: %q has no number",
			ErrInvalidAmount, s)
	}

	return number, unit, nil
}

// parseThousandths reads a number of whole units with up to three
// decimals ("1", "1.5", "1.250") as thousandths of the unit: "1.5" is
// 1500. Both a satoshi (in millisatoshis) and a share (in its units) are
// written so. name names the unit for errors ("satoshi"); orig is the whole
// input.
func parseThousandths(number, name, orig string) (int64, error) {
	whole, frac, hasFrac := strings.Cut(number, ".")
	if strings.Contains(number, " ") || strings.Contains(frac, ".") ||
		whole == "" || (hasFrac && frac == "") {

		return 0, fmt.Errorf("%w: %q is not a %s amount",
			ErrInvalidAmount, orig, name)
	}
	if len(frac) > 3 {
		return 0, fmt.Errorf("%w: %q has more than three decimals of "+
			"a %s", ErrInvalidAmount, orig, name)
	}

	n, err := parseDigits(whole, orig)
	if err != nil {
		return 0, err
	}
	if n > math.MaxInt64/1000 {
		return 0, fmt.Errorf("%w: %q does not fit in int64 "+
			"thousandths of a %s", ErrOverflow, orig, name)
	}
	n *= 1000

	// Scale the decimals to thousandths: ".5" is 500.
	if frac != "" {
		f, err := parseDigits(frac+strings.Repeat("0", 3-len(frac)),
			orig)
		if err != nil {
			return 0, err
		}
		sum, ok := addChecked(n, f)
		if !ok {
			return 0, fmt.Errorf("%w: %q does not fit in int64 "+
				"thousandths of a %s", ErrOverflow, orig, name)
		}
		n = sum
	}

	return n, nil
}

// parseDigits reads a non-empty run of ASCII digits; orig is the whole input,
// for the error message.
func parseDigits(digits, orig string) (int64, error) {
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
		return 0, fmt.Errorf("%w: %q does not fit in int64", ErrOverflow,
			orig)
	}

	return n, nil
}
