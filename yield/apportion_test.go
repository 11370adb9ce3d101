package yield

import (
	"errors"
	"fmt"
	"math"
	"math/big"
	"slices"
	"testing"

	"github.com/sluice-ln/sluice/ledger"
	"pgregory.net/rapid"
)

// TestApportion checks Apportion on splits worked out by hand.
func TestApportion(t *testing.T) {
	w := func(id string, earned ledger.MilliSatoshi) Weight {
		return Weight{ID: id, Earned: earned}
	}
	tests := []struct {
		name    string
		total   ledger.Shares
		weights []Weight
		want    []ledger.Shares
		err     error
	}{
		{"exact", 100, []Weight{w("a", 50), w("b", 30), w("c", 20)},
			[]ledger.Shares{50, 30, 20}, nil},
		// Quotas 3.5, 2.1, 1.4: floors 3, 2, 1; the unit left goes
		// to the largest remainder, x's.
		{"largest remainder", 7,
			[]Weight{w("x", 5), w("y", 3), w("z", 2)},
			[]ledger.Shares{4, 2, 1}, nil},
		// Quotas 10/3 each: the unit left goes to the first id.
		{"tie by id", 10, []Weight{w("a", 1), w("b", 1), w("c", 1)},
			[]ledger.Shares{4, 3, 3}, nil},
		{"tie by id, not by position", 10,
			[]Weight{w("c", 1), w("b", 1), w("a", 1)},
			[]ledger.Shares{3, 3, 4}, nil},
		// The epoch of docs/vault.md: 240_594 units for 1_200_000,
		// 455_000 and 345_000 msat; quotas 144_356.4, 54_735.135 and
		// 41_502.465, so the unit left goes to prov-c.
		{"epoch example", 240_594, []Weight{w("prov-a", 1_200_000),
			w("prov-b", 455_000), w("prov-c", 345_000)},
			[]ledger.Shares{144_356, 54_735, 41_503}, nil},
		{"zero weight gets nothing", 5, []Weight{w("p", 0), w("q", 1)},
			[]ledger.Shares{0, 5}, nil},
		// (2^63−1)²/2^63 = 2^63 − 2 rem 1; (2^63−1)/2^63 = 0 rem
		// 2^63−1, which takes the unit left.
		{"extremes", math.MaxInt64,
			[]Weight{w("big", math.MaxInt64), w("small", 1)},
			[]ledger.Shares{math.MaxInt64 - 1, 1}, nil},
		{"zero total", 0, []Weight{w("a", 3), w("b", 0)},
			[]ledger.Shares{0, 0}, nil},
		{"zero total, zero weights", 0, []Weight{w("a", 0)},
			[]ledger.Shares{0}, nil},
		{"nothing for nobody", 0, nil, []ledger.Shares{}, nil},
		{"units for nobody", 1, nil, nil, ErrZeroWeight},
		{"zero weights", 3, []Weight{w("a", 0), w("b", 0)}, nil,
			ErrZeroWeight},
		{"negative total", -1, []Weight{w("a", 1)}, nil, ErrNegative},
		{"negative weight", 1, []Weight{w("a", 2), w("b", -1)}, nil,
			ErrNegative},
		{"duplicate id", 1, []Weight{w("a", 1), w("a", 2)}, nil,
			ErrDuplicateID},
		{"sum overflows", 1, []Weight{w("a", math.MaxInt64),
			w("b", math.MaxInt64), w("c", 2)}, nil, ErrOverflow},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := Apportion(tc.total, tc.weights)
			if !errors.Is(err, tc.err) {
				t.Fatalf("err %v, want %v", err, tc.err)
			}
			if !slices.Equal(got, tc.want) {
				t.Fatalf("got %v, want %v", got, tc.want)
			}
		})
	}
}

// genWeights draws up to 12 weights with distinct ids, some zero, from a
// narrow or a wide range so that ties and huge quotas both come up.
func genWeights(t *rapid.T) []Weight {
	n := rapid.IntRange(1, 12).Draw(t, "n")
	max := rapid.SampledFrom([]int64{3, 1000, math.MaxInt64 / 16}).
		Draw(t, "max weight")
	ws := make([]Weight, n)
	for i := range ws {
		ws[i] = Weight{
			ID: fmt.Sprintf("p%02d", rapid.IntRange(0, 99).Draw(t,
				"id")),
			Earned: ledger.MilliSatoshi(rapid.Int64Range(0, max).
				Draw(t, "earned")),
		}
	}
	// Ids must be distinct: renumber repeats.
	seen := map[string]bool{}
	for i := range ws {
		for seen[ws[i].ID] {
			ws[i].ID += "'"
		}
		seen[ws[i].ID] = true
	}
	if ws[0].Earned == 0 {
		ws[0].Earned = 1
	}

	return ws
}

// TestApportionProperties checks over drawn weights that the units sum to
// the total, each within one unit of its exact quota, that a larger weight
// never gets fewer units, and that the order of the weights does not
// matter.
func TestApportionProperties(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		ws := genWeights(t)
		total := ledger.Shares(rapid.OneOf(
			rapid.Int64Range(0, 50),
			rapid.Int64Range(0, math.MaxInt64),
		).Draw(t, "total"))

		got, err := Apportion(total, ws)
		if err != nil {
			t.Fatal(err)
		}

		var sum ledger.Shares
		W := new(big.Int)
		for _, w := range ws {
			W.Add(W, big.NewInt(int64(w.Earned)))
		}
		for i, s := range got {
			sum += s
			// |s·W − total·w| < W.
			diff := new(big.Int).Mul(big.NewInt(int64(s)), W)
			diff.Sub(diff, new(big.Int).Mul(
				big.NewInt(int64(total)),
				big.NewInt(int64(ws[i].Earned))))
			if diff.Abs(diff).Cmp(W) >= 0 {
				t.Fatalf("%s: %d units, quota %d·%v/%v", ws[i].ID,
					s, total, ws[i].Earned, W)
			}
		}
		if sum != total {
			t.Fatalf("units sum to %d, want %d", sum, total)
		}

		for i := range ws {
			for j := range ws {
				if ws[i].Earned > ws[j].Earned && got[i] < got[j] {
					t.Fatalf("%v gets %d, %v gets %d", ws[i],
						got[i], ws[j], got[j])
				}
			}
		}

		perm := rapid.Permutation(indexes(len(ws))).Draw(t, "perm")
		shuffled := make([]Weight, len(ws))
		for k, i := range perm {
			shuffled[k] = ws[i]
		}
		again, err := Apportion(total, shuffled)
		if err != nil {
			t.Fatal(err)
		}
		for k, i := range perm {
			if again[k] != got[i] {
				t.Fatalf("%s: %d units, %d when shuffled",
					ws[i].ID, got[i], again[k])
			}
		}
	})
}

// TestApportionMonotone checks that raising one provider's weight, the
// others unchanged, never lowers its units (Hamilton's method can lower
// them when the total changes, the Alabama paradox, but the total here is
// the epoch's, fixed before it is split).
func TestApportionMonotone(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		ws := genWeights(t)
		total := ledger.Shares(rapid.Int64Range(1, 200).Draw(t,
			"total"))
		i := rapid.IntRange(0, len(ws)-1).Draw(t, "raised")

		before, err := Apportion(total, ws)
		if err != nil {
			t.Fatal(err)
		}
		raised := slices.Clone(ws)
		raised[i].Earned += ledger.MilliSatoshi(rapid.Int64Range(1,
			1000).Draw(t, "raise"))
		after, err := Apportion(total, raised)
		if err != nil {
			t.Fatal(err)
		}
		if after[i] < before[i] {
			t.Fatalf("%s raised to %v: %d units, was %d", ws[i].ID,
				raised[i].Earned, after[i], before[i])
		}
	})
}

// indexes returns 0, 1, …, n−1.
func indexes(n int) []int {
	out := make([]int, n)
	for i := range out {
		out[i] = i
	}

	return out
}
