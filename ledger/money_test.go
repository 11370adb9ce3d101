package ledger

import (
	"errors"
	"math"
	"testing"
)

func TestMilliSatoshiArithmetic(t *testing.T) {
	const (
		max = MilliSatoshi(math.MaxInt64)
		min = MilliSatoshi(math.MinInt64)
	)

	tests := []struct {
		name    string
		op      func() (MilliSatoshi, error)
		want    MilliSatoshi
		wantErr error
	}{
		{"add", func() (MilliSatoshi, error) { return MilliSatoshi(2).Add(3) }, 5, nil},
		{"add negative", func() (MilliSatoshi, error) { return MilliSatoshi(2).Add(-3) }, -1, nil},
		{"add to max", func() (MilliSatoshi, error) { return (max - 1).Add(1) }, max, nil},
		{"add past max", func() (MilliSatoshi, error) { return max.Add(1) }, 0, ErrOverflow},
		{"add past min", func() (MilliSatoshi, error) { return min.Add(-1) }, 0, ErrOverflow},
		{"add max and min", func() (MilliSatoshi, error) { return max.Add(min) }, -1, nil},
		{"sub", func() (MilliSatoshi, error) { return MilliSatoshi(2).Sub(3) }, -1, nil},
		{"sub to min", func() (MilliSatoshi, error) { return (min + 1).Sub(1) }, min, nil},
		{"sub past min", func() (MilliSatoshi, error) { return min.Sub(1) }, 0, ErrOverflow},
		{"sub min from zero", func() (MilliSatoshi, error) { return MilliSatoshi(0).Sub(min) }, 0, ErrOverflow},
		{"sub min from -1", func() (MilliSatoshi, error) { return MilliSatoshi(-1).Sub(min) }, max, nil},
		{"sub negative past max", func() (MilliSatoshi, error) { return max.Sub(-1) }, 0, ErrOverflow},
		{"mul", func() (MilliSatoshi, error) { return MilliSatoshi(7).Mul(6) }, 42, nil},
		{"mul negative", func() (MilliSatoshi, error) { return MilliSatoshi(7).Mul(-6) }, -42, nil},
		{"mul zero", func() (MilliSatoshi, error) { return max.Mul(0) }, 0, nil},
		{"mul past max", func() (MilliSatoshi, error) { return (max/2 + 1).Mul(2) }, 0, ErrOverflow},
		{"mul to max", func() (MilliSatoshi, error) { return max.Mul(1) }, max, nil},
		{"mul min by -1", func() (MilliSatoshi, error) { return min.Mul(-1) }, 0, ErrOverflow},
		{"mul -1 by min", func() (MilliSatoshi, error) { return MilliSatoshi(-1).Mul(math.MinInt64) }, 0, ErrOverflow},
		{"mul min by 1", func() (MilliSatoshi, error) { return min.Mul(1) }, min, nil},
		{"neg", func() (MilliSatoshi, error) { return MilliSatoshi(5).Neg() }, -5, nil},
		{"neg max", func() (MilliSatoshi, error) { return max.Neg() }, min + 1, nil},
		{"neg min", func() (MilliSatoshi, error) { return min.Neg() }, 0, ErrOverflow},
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

func TestToSatoshis(t *testing.T) {
	tests := []struct {
		msat        MilliSatoshi
		floor, ceil int64
	}{
		{0, 0, 0},
		{1, 0, 1},
		{999, 0, 1},
		{1000, 1, 1},
		{1999, 1, 2},
		{-1, -1, 0},
		{-1000, -1, -1},
		{-1001, -2, -1},
		{math.MaxInt64, math.MaxInt64 / 1000, math.MaxInt64/1000 + 1},
		{math.MinInt64, math.MinInt64/1000 - 1, math.MinInt64 / 1000},
	}
	for _, tc := range tests {
		if got := tc.msat.ToSatoshisFloor(); got != tc.floor {
			t.Errorf("%d.ToSatoshisFloor() = %d, want %d", tc.msat,
				got, tc.floor)
		}
		if got := tc.msat.ToSatoshisCeil(); got != tc.ceil {
			t.Errorf("%d.ToSatoshisCeil() = %d, want %d", tc.msat,
				got, tc.ceil)
		}
	}
}

func TestFromSatoshis(t *testing.T) {
	tests := []struct {
		sat     int64
		want    MilliSatoshi
		wantErr error
	}{
		{0, 0, nil},
		{5, 5000, nil},
		{-5, -5000, nil},
		{math.MaxInt64 / 1000, math.MaxInt64 / 1000 * 1000, nil},
		{math.MaxInt64/1000 + 1, 0, ErrOverflow},
		{math.MinInt64/1000 - 1, 0, ErrOverflow},
	}
	for _, tc := range tests {
		got, err := FromSatoshis(tc.sat)
		if !errors.Is(err, tc.wantErr) || got != tc.want {
			t.Errorf("FromSatoshis(%d) = %d, %v; want %d, %v",
				tc.sat, got, err, tc.want, tc.wantErr)
		}
	}
}

func TestMilliSatoshiString(t *testing.T) {
	if got := MilliSatoshi(1234).String(); got != "1234 msat" {
		t.Fatalf("String() = %q", got)
	}
	if got := MilliSatoshi(-5).String(); got != "-5 msat" {
		t.Fatalf("String() = %q", got)
	}
}

func TestParseMilliSatoshi(t *testing.T) {
	tests := []struct {
		in      string
		want    MilliSatoshi
		wantErr error
	}{
		{"123", 123, nil},
		{"0", 0, nil},
		{"123msat", 123, nil},
		{"123 msat", 123, nil},
		{" 123 MSAT ", 123, nil},
		{"5sat", 5000, nil},
		{"5 sat", 5000, nil},
		{"1.5sat", 1500, nil},
		{"0.001sat", 1, nil},
		{"1.25sat", 1250, nil},
		{"9223372036854775807", math.MaxInt64, nil},
		{"9223372036854775.807sat", math.MaxInt64, nil},

		{"", 0, ErrInvalidAmount},
		{"msat", 0, ErrInvalidAmount},
		{"-5", 0, ErrInvalidAmount},
		{"+5", 0, ErrInvalidAmount},
		{"1.5", 0, ErrInvalidAmount},
		{"1.5msat", 0, ErrInvalidAmount},
		{"1 000", 0, ErrInvalidAmount},
		{"1_000", 0, ErrInvalidAmount},
		{"1e3", 0, ErrInvalidAmount},
		{"5btc", 0, ErrInvalidAmount},
		{"5 s at", 0, ErrInvalidAmount},
		{"1.0001sat", 0, ErrInvalidAmount},
		{"1.sat", 0, ErrInvalidAmount},
		{".5sat", 0, ErrInvalidAmount},
		{"1.2.3sat", 0, ErrInvalidAmount},
		{"١٢٣", 0, ErrInvalidAmount},
		{"9223372036854775808", 0, ErrOverflow},
		{"9223372036854776sat", 0, ErrOverflow},
		{"9223372036854775.808sat", 0, ErrOverflow},
		{"99999999999999999999999999999999999999999999999999999999999999999", 0, ErrInvalidAmount},
	}
	for _, tc := range tests {
		got, err := ParseMilliSatoshi(tc.in)
		if !errors.Is(err, tc.wantErr) || got != tc.want {
			t.Errorf("ParseMilliSatoshi(%q) = %d, %v; want %d, %v",
				tc.in, got, err, tc.want, tc.wantErr)
		}
	}
}

// FuzzParseMilliSatoshi checks that the parser never panics and that what it
// accepts is not negative and formats back to the same amount.
func FuzzParseMilliSatoshi(f *testing.F) {
	for _, s := range []string{
		"123", "123msat", "5sat", "1.5 sat", "-1", "1e9", "",
		"9223372036854775807 msat", "0.001SAT",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		m, err := ParseMilliSatoshi(s)
		if err != nil {
			if m != 0 {
				t.Fatalf("error %v with amount %d", err, m)
			}
			return
		}
		if m < 0 {
			t.Fatalf("%q parsed to negative %d", s, m)
		}
		back, err := ParseMilliSatoshi(m.String())
		if err != nil || back != m {
			t.Fatalf("%q: %d formats as %q, which parses to %d, %v",
				s, m, m.String(), back, err)
		}
	})
}
