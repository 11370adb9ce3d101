package ledger

import (
	"errors"
	"math"
	"math/big"
	"testing"

	"github.com/shopspring/decimal"
	"pgregory.net/rapid"
)

func TestParseRate(t *testing.T) {
	tests := []struct {
		in      string
		want    string
		wantErr error
	}{
		{"12", "12", nil},
		{"0", "0", nil},
		{"0.5", "0.5", nil},
		{"1.50", "1.5", nil},
		{".5", "0.5", nil},
		{"5.", "5", nil},
		{"0.000000000000000001", "0.000000000000000001", nil},
		{"0.0000000000000000010", "0.000000000000000001", nil},
		{"123456789012345678901234567890", "123456789012345678901234567890", nil},

		{"", "", ErrInvalidRate},
		{".", "", ErrInvalidRate},
		{"-1", "", ErrInvalidRate},
		{"+1", "", ErrInvalidRate},
		{"1e3", "", ErrInvalidRate},
		{"1.2.3", "", ErrInvalidRate},
		{" 1", "", ErrInvalidRate},
		{"1msat", "", ErrInvalidRate},
		{"NaN", "", ErrInvalidRate},
		{"0.0000000000000000001", "", ErrInvalidRate},
		{"1" + string(make([]byte, 64)), "", ErrInvalidRate},
	}
	for _, tc := range tests {
		got, err := ParseRate(tc.in)
		if !errors.Is(err, tc.wantErr) {
			t.Errorf("ParseRate(%q) err = %v, want %v", tc.in, err,
				tc.wantErr)
			continue
		}
		if err == nil && got.String() != tc.want {
			t.Errorf("ParseRate(%q) = %v, want %v", tc.in, got,
				tc.want)
		}
	}
}

func TestNewRate(t *testing.T) {
	if _, err := NewRate(decimal.NewFromInt(-1)); !errors.Is(err,
		ErrInvalidRate) {

		t.Fatalf("negative rate: err = %v", err)
	}
	if _, err := NewRate(decimal.New(1, -19)); !errors.Is(err,
		ErrInvalidRate) {

		t.Fatalf("19 decimals: err = %v", err)
	}
	r, err := NewRate(decimal.New(100, -20))
	if err != nil || r.String() != "0.000000000000000001" {
		t.Fatalf("trailing zeros: %v, %v", r, err)
	}
	r, err = RateFromMsat(7)
	if err != nil || !r.Decimal().Equal(decimal.NewFromInt(7)) {
		t.Fatalf("RateFromMsat(7) = %v, %v", r, err)
	}
	if _, err := RateFromMsat(-7); !errors.Is(err, ErrInvalidRate) {
		t.Fatalf("RateFromMsat(-7): err = %v", err)
	}
	if !(Rate{}).IsZero() || r.IsZero() {
		t.Fatal("IsZero wrong")
	}
}

func mustRate(t testing.TB, s string) Rate {
	t.Helper()
	r, err := ParseRate(s)
	if err != nil {
		t.Fatalf("ParseRate(%q): %v", s, err)
	}

	return r
}

func TestPrice(t *testing.T) {
	d := decimal.RequireFromString
	tests := []struct {
		name      string
		rate      string
		quantity  int64
		carry     string
		want      MilliSatoshi
		wantCarry string
		wantErr   error
	}{
		{"whole", "3", 4, "0", 12, "0", nil},
		{"fraction carried", "0.4", 1, "0", 0, "0.4", nil},
		{"carry adds up", "0.4", 1, "0.8", 1, "0.2", nil},
		{"many at once", "0.4", 10, "0", 4, "0", nil},
		{"zero quantity keeps carry", "0.4", 0, "0.7", 0, "0.7", nil},
		{"free", "0", 1000, "0.5", 0, "0.5", nil},
		{"fine rate", "0.000000000000000001", 3, "0.999999999999999998", 1, "0.000000000000000001", nil},
		{"max", "1", math.MaxInt64, "0.5", math.MaxInt64, "0.5", nil},

		{"overflow", "2", math.MaxInt64, "0", 0, "0", ErrOverflow},
		{"negative quantity", "1", -1, "0", 0, "0", ErrInvalidAmount},
		{"negative carry", "1", 1, "-0.1", 0, "0", ErrInvalidCarry},
		{"carry of one", "1", 1, "1", 0, "0", ErrInvalidCarry},
		{"carry too precise", "1", 1, "0.0000000000000000001", 0, "0", ErrInvalidCarry},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := mustRate(t, tc.rate)
			got, carry, err := r.Price(tc.quantity, d(tc.carry))
			if !errors.Is(err, tc.wantErr) {
				t.Fatalf("err = %v, want %v", err, tc.wantErr)
			}
			if got != tc.want || !carry.Equal(d(tc.wantCarry)) {
				t.Fatalf("got %v carry %v, want %v carry %v", got,
					carry, tc.want, tc.wantCarry)
			}
		})
	}
}

// TestPriceCarryProperty checks that pricing a job's seconds in any number
// of calls, carrying the remainder, charges exactly what one call for all of
// them does, and leaves the same carry.
func TestPriceCarryProperty(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		// Rates from 0 to 1000 msat with up to 18 decimals.
		units := rapid.Int64Range(0, 1_000_000_000_000_000_000).
			Draw(t, "rateUnits")
		exp := rapid.Int32Range(-18, -15).Draw(t, "rateExp")
		rate, err := NewRate(decimal.New(units, exp).
			Truncate(MaxRateDecimals))
		if err != nil {
			t.Fatalf("NewRate: %v", err)
		}
		start := decimal.New(rapid.Int64Range(0, 999).Draw(t, "carry"),
			-3)
		batches := rapid.SliceOfN(rapid.Int64Range(0, 100_000), 1, 50).
			Draw(t, "batches")

		var (
			total    MilliSatoshi
			quantity int64
			carry    = start
		)
		for _, q := range batches {
			m, next, err := rate.Price(q, carry)
			if err != nil {
				t.Fatalf("Price(%d, %v): %v", q, carry, err)
			}
			if err := ValidateCarry(next); err != nil {
				t.Fatalf("carry out of range: %v", err)
			}
			if m < 0 {
				t.Fatalf("negative price %v", m)
			}
			total += m
			quantity += q
			carry = next
		}

		whole, wholeCarry, err := rate.Price(quantity, start)
		if err != nil {
			t.Fatalf("Price(%d): %v", quantity, err)
		}
		if whole != total || !wholeCarry.Equal(carry) {
			t.Fatalf("in batches %v carry %v, at once %v carry %v",
				total, carry, whole, wholeCarry)
		}
	})
}

func TestSplitFee(t *testing.T) {
	tests := []struct {
		amount    MilliSatoshi
		bp        BasisPoints
		fee, rest MilliSatoshi
		wantErr   error
	}{
		{10000, 250, 250, 9750, nil},
		{1, 250, 0, 1, nil},
		{39, 250, 0, 39, nil},
		{40, 250, 1, 39, nil},
		{999, 0, 0, 999, nil},
		{999, 10000, 999, 0, nil},
		{0, 500, 0, 0, nil},
		{math.MaxInt64, 10000, math.MaxInt64, 0, nil},
		{math.MaxInt64, 9999, math.MaxInt64/10000*9999 + 5807*9999/10000, math.MaxInt64 - (math.MaxInt64/10000*9999 + 5807*9999/10000), nil},
		{-1, 250, 0, 0, ErrInvalidAmount},
		{100, 10001, 0, 0, ErrInvalidBasisPoints},
	}
	for _, tc := range tests {
		fee, rest, err := SplitFee(tc.amount, tc.bp)
		if !errors.Is(err, tc.wantErr) || fee != tc.fee ||
			rest != tc.rest {

			t.Errorf("SplitFee(%d, %d) = %d, %d, %v; want %d, %d, %v",
				tc.amount, tc.bp, fee, rest, err, tc.fee, tc.rest,
				tc.wantErr)
		}
	}
}

// TestSplitFeeProperty checks the fee split against exact decimal
// arithmetic: the fee is the exact fee rounded down, and nothing is lost.
func TestSplitFeeProperty(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		amount := MilliSatoshi(rapid.Int64Min(0).Draw(t, "amount"))
		bp := BasisPoints(rapid.Uint16Max(10000).Draw(t, "bp"))

		fee, rest, err := SplitFee(amount, bp)
		if err != nil {
			t.Fatalf("SplitFee: %v", err)
		}
		exact := decimal.NewFromInt(int64(amount)).
			Mul(decimal.NewFromInt(int64(bp))).
			Div(decimal.NewFromInt(10000)).Floor()
		if !exact.Equal(decimal.NewFromInt(int64(fee))) {
			t.Fatalf("fee %d, exact floor %v", fee, exact)
		}
		if fee+rest != amount || fee < 0 || rest < 0 {
			t.Fatalf("fee %d + rest %d != %d", fee, rest, amount)
		}
	})
}

// FuzzParseRate checks that the rate parser never panics and that what it
// accepts is not negative and formats back to the same rate.
func FuzzParseRate(f *testing.F) {
	for _, s := range []string{"12", "0.5", ".5", "-1", "1e3", "NaN", ""} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		r, err := ParseRate(s)
		if err != nil {
			return
		}
		if r.Decimal().IsNegative() {
			t.Fatalf("%q parsed to negative %v", s, r)
		}
		back, err := ParseRate(r.String())
		if err != nil || !back.Decimal().Equal(r.Decimal()) {
			t.Fatalf("%q: %v formats as %q, which parses to %v, %v",
				s, r, r.String(), back, err)
		}
	})
}

// TestPriceSmallAgrees checks Price's integer path against its decimal
// one: the same price, the same carry in the same form (value and
// exponent), the same errors, for rates and carries of every precision,
// quantities up to the largest, and carries Price must refuse.
func TestPriceSmallAgrees(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		exp := int32(rapid.IntRange(-MaxRateDecimals, 0).Draw(t, "exp"))
		coef := rapid.OneOf(
			rapid.Uint64Range(0, 1_000),
			rapid.Uint64Range(0, 1_000_000_000),
			rapid.Uint64(),
		).Draw(t, "coef")
		r, err := NewRate(decimal.NewFromBigInt(
			new(big.Int).SetUint64(coef), exp))
		if err != nil {
			t.Fatal(err)
		}
		if !r.small {
			t.Fatalf("%v has no integer form", r)
		}

		ce := int32(rapid.IntRange(-MaxRateDecimals-2, 1).Draw(t, "ce"))
		var cc *big.Int
		switch {
		case rapid.Bool().Draw(t, "validCarry") && ce <= 0:
			// Below 1; below -MaxRateDecimals, with trailing
			// zeros only.
			places := min(-ce, MaxRateDecimals)
			cc = new(big.Int).SetUint64(rapid.Uint64Range(0,
				pow10[places]-1).Draw(t, "cc"))
			cc.Mul(cc, new(big.Int).Exp(big.NewInt(10),
				big.NewInt(int64(-ce-places)), nil))
		default:
			cc = big.NewInt(rapid.Int64().Draw(t, "anyCC"))
		}
		carry := decimal.NewFromBigInt(cc, ce)
		q := rapid.OneOf(
			rapid.Int64Range(0, 100_000),
			rapid.Int64Range(0, math.MaxInt64),
			rapid.Int64Range(-5, -1),
		).Draw(t, "quantity")

		gotP, gotC, gotErr := r.Price(q, carry)
		var (
			wantP   MilliSatoshi
			wantC   decimal.Decimal
			wantErr error
		)
		if q < 0 {
			wantErr = ErrInvalidAmount
		} else {
			wantP, wantC, wantErr = r.priceDecimal(q, carry)
		}
		if (gotErr == nil) != (wantErr == nil) ||
			(wantErr != nil && !errors.Is(gotErr, errors.Unwrap(
				wantErr)) && !errors.Is(gotErr, wantErr)) {

			t.Fatalf("%v × %d + %v: error %v, decimal path %v", r, q,
				carry, gotErr, wantErr)
		}
		if wantErr != nil {
			return
		}
		if gotP != wantP || !gotC.Equal(wantC) ||
			gotC.Exponent() != wantC.Exponent() {

			t.Fatalf("%v × %d + %v: %v + %v (exp %d), decimal path "+
				"%v + %v (exp %d)", r, q, carry, gotP, gotC,
				gotC.Exponent(), wantP, wantC, wantC.Exponent())
		}
	})
}

// TestPriceSmallTaken checks that the rates a rate card holds are priced
// in integers: the decimal path is the exception.
func TestPriceSmallTaken(t *testing.T) {
	for _, s := range []string{"0", "12", "0.5", "0.000125",
		"0.000000000000000001", "123456.123456789"} {

		r, err := ParseRate(s)
		if err != nil {
			t.Fatal(err)
		}
		_, carry, ok := r.priceSmall(1500, decimal.Zero)
		if !ok {
			t.Fatalf("%s × 1500 not priced in integers", s)
		}
		if _, _, ok := r.priceSmall(7, carry); !ok {
			t.Fatalf("%s × 7 + %v not priced in integers", s, carry)
		}
	}
}
