package ledger

import (
	"errors"
	"math"
	"math/big"
	"testing"

	"pgregory.net/rapid"
)

// TestPPM checks the fee share at the edges: rounding down, whole
// millions, the largest amounts, and the inputs it refuses.
func TestPPM(t *testing.T) {
	tests := []struct {
		name    string
		m       MilliSatoshi
		ppm     int64
		want    MilliSatoshi
		wantErr error
	}{
		{"zero amount", 0, 5000, 0, nil},
		{"zero ppm", 1_000_000, 0, 0, nil},
		{"exact", 1_000_000, 5000, 5000, nil},
		{"rounds down", 999_999, 1, 0, nil},
		{"rounds down above one", 1_999_999, 1, 1, nil},
		{"half a percent of 1 sat", 1000, 5000, 5, nil},
		{"all of it", 123_456_789, PPMScale, 123_456_789, nil},
		{"all of the largest", MaxMilliSatoshi, PPMScale,
			MaxMilliSatoshi, nil},
		// MaxInt64 × 5000 overflows int64; the 128-bit product does
		// not, and the share is floor(9223372036854775807 / 200).
		{"largest amount, no intermediate overflow", MaxMilliSatoshi,
			5000, 46116860184273879, nil},
		{"twice the amount", 10, 2 * PPMScale, 20, nil},
		{"share past int64", MaxMilliSatoshi, PPMScale + 1, 0,
			ErrOverflow},
		{"share past uint64", MaxMilliSatoshi, math.MaxInt64, 0,
			ErrOverflow},
		{"negative amount", -1, 5000, 0, ErrInvalidAmount},
		{"negative ppm", 1000, -1, 0, ErrInvalidAmount},
	}
	for _, tc := range tests {
		got, err := tc.m.PPM(tc.ppm)
		if !errors.Is(err, tc.wantErr) || (tc.wantErr == nil) != (err == nil) {
			t.Errorf("%s: %v.PPM(%d) error %v, want %v", tc.name,
				tc.m, tc.ppm, err, tc.wantErr)
			continue
		}
		if got != tc.want {
			t.Errorf("%s: %v.PPM(%d) = %v, want %v", tc.name, tc.m,
				tc.ppm, got, tc.want)
		}
	}
}

// TestPPMProperty checks PPM against exact big-integer arithmetic for any
// amount and ppm: the share is ⌊m × ppm / 1e6⌋ when that fits, ErrOverflow
// when it does not, never more than m for ppm up to PPMScale, and it never
// falls when the amount grows.
func TestPPMProperty(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		m := MilliSatoshi(rapid.OneOf(
			rapid.Int64Range(0, 10_000_000),
			rapid.Int64Range(0, math.MaxInt64),
		).Draw(t, "m"))
		ppm := rapid.OneOf(
			rapid.Int64Range(0, PPMScale),
			rapid.Int64Range(0, math.MaxInt64),
		).Draw(t, "ppm")

		want := new(big.Int).Mul(big.NewInt(int64(m)), big.NewInt(ppm))
		want.Quo(want, big.NewInt(PPMScale))

		got, err := m.PPM(ppm)
		if !want.IsInt64() {
			if !errors.Is(err, ErrOverflow) {
				t.Fatalf("%v.PPM(%d) = %v, %v; want ErrOverflow "+
					"(exact %v)", m, ppm, got, err, want)
			}
			return
		}
		if err != nil || int64(got) != want.Int64() {
			t.Fatalf("%v.PPM(%d) = %v, %v; want %v", m, ppm, got,
				err, want)
		}
		if ppm <= PPMScale && got > m {
			t.Fatalf("%v.PPM(%d) = %v, more than the amount", m,
				ppm, got)
		}
		if m < MaxMilliSatoshi {
			next, err := (m + 1).PPM(ppm)
			if err == nil && next < got {
				t.Fatalf("%v.PPM(%d) = %v < %v.PPM = %v", m+1,
					ppm, next, m, got)
			}
		}
	})
}
