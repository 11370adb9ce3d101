package ledger

import (
	"errors"
	"math"
	"testing"
)

func TestSharesArithmetic(t *testing.T) {
	const (
		max = Shares(math.MaxInt64)
		min = Shares(math.MinInt64)
	)

	tests := []struct {
		name    string
		op      func() (Shares, error)
		want    Shares
		wantErr error
	}{
		{"add", func() (Shares, error) { return Shares(2).Add(3) }, 5, nil},
		{"add negative", func() (Shares, error) { return Shares(2).Add(-3) }, -1, nil},
		{"add to max", func() (Shares, error) { return (max - 1).Add(1) }, max, nil},
		{"add past max", func() (Shares, error) { return max.Add(1) }, 0, ErrOverflow},
		{"add past min", func() (Shares, error) { return min.Add(-1) }, 0, ErrOverflow},
		{"add max and min", func() (Shares, error) { return max.Add(min) }, -1, nil},
		{"sub", func() (Shares, error) { return Shares(2).Sub(3) }, -1, nil},
		{"sub to min", func() (Shares, error) { return (min + 1).Sub(1) }, min, nil},
		{"sub past min", func() (Shares, error) { return min.Sub(1) }, 0, ErrOverflow},
		{"sub min from zero", func() (Shares, error) { return Shares(0).Sub(min) }, 0, ErrOverflow},
		{"sub min from -1", func() (Shares, error) { return Shares(-1).Sub(min) }, max, nil},
		{"sub negative past max", func() (Shares, error) { return max.Sub(-1) }, 0, ErrOverflow},
		{"neg", func() (Shares, error) { return Shares(5).Neg() }, -5, nil},
		{"neg max", func() (Shares, error) { return max.Neg() }, min + 1, nil},
		{"neg min", func() (Shares, error) { return min.Neg() }, 0, ErrOverflow},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := tc.op()
			if !errors.Is(err, tc.wantErr) {
				t.Fatalf("err = %v, want %v", err, tc.wantErr)
			}
			if got != tc.want {
				t.Fatalf("got %d, want %d", got, tc.want)
			}
		})
	}
}

func TestSharesString(t *testing.T) {
	tests := []struct {
		s    Shares
		want string
	}{
		{0, "0.000 shares"},
		{1, "0.001 shares"},
		{1_000, "1.000 shares"},
		{12_345, "12.345 shares"},
		{-500, "-0.500 shares"},
		{-12_345, "-12.345 shares"},
		{math.MaxInt64, "9223372036854775.807 shares"},
		{math.MinInt64, "-9223372036854775.808 shares"},
	}
	for _, tc := range tests {
		if got := tc.s.String(); got != tc.want {
			t.Errorf("Shares(%d).String() = %q, want %q", int64(tc.s),
				got, tc.want)
		}
	}
}

func TestParseShares(t *testing.T) {
	tests := []struct {
		in      string
		want    Shares
		wantErr error
	}{
		{"12", 12_000, nil},
		{"0", 0, nil},
		{"12.3", 12_300, nil},
		{"12.345", 12_345, nil},
		{"0.001", 1, nil},
		{"12.345 shares", 12_345, nil},
		{"1share", 1_000, nil},
		{" 2 SHARES ", 2_000, nil},
		{"9223372036854775.807", math.MaxInt64, nil},

		{"", 0, ErrInvalidAmount},
		{"shares", 0, ErrInvalidAmount},
		{"-1", 0, ErrInvalidAmount},
		{"+1", 0, ErrInvalidAmount},
		{"1.2345", 0, ErrInvalidAmount},
		{".5", 0, ErrInvalidAmount},
		{"5.", 0, ErrInvalidAmount},
		{"1.2.3", 0, ErrInvalidAmount},
		{"1 000", 0, ErrInvalidAmount},
		{"1_000", 0, ErrInvalidAmount},
		{"1e3", 0, ErrInvalidAmount},
		{"12345u", 0, ErrInvalidAmount},
		{"5 msat", 0, ErrInvalidAmount},
		{"5sat", 0, ErrInvalidAmount},
		{"١٢", 0, ErrInvalidAmount},
		{"9223372036854775.808", 0, ErrOverflow},
		{"9223372036854776", 0, ErrOverflow},
		{"9223372036854775808", 0, ErrOverflow},
		{"99999999999999999999999999999999999999999999999999999999999999999", 0, ErrInvalidAmount},
	}
	for _, tc := range tests {
		got, err := ParseShares(tc.in)
		if !errors.Is(err, tc.wantErr) || got != tc.want {
			t.Errorf("ParseShares(%q) = %d, %v; want %d, %v", tc.in,
				got, err, tc.want, tc.wantErr)
		}
	}
}

// FuzzParseShares checks that the parser never panics and that what it
// accepts is not negative and formats back to the same amount.
func FuzzParseShares(f *testing.F) {
	for _, s := range []string{
		"12", "12.345", "12.345 shares", "1share", "-1", "1e9", "",
		"9223372036854775.807", "0.001 SHARES", ".5", "5.",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		n, err := ParseShares(s)
		if err != nil {
			if n != 0 {
				t.Fatalf("error %v with amount %d", err, n)
			}
			return
		}
		if n < 0 {
			t.Fatalf("%q parsed to negative %d", s, n)
		}
		back, err := ParseShares(n.String())
		if err != nil || back != n {
			t.Fatalf("%q: %d formats as %q, which parses to %d, %v",
				s, n, n.String(), back, err)
		}
	})
}
