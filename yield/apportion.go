package yield

import (
	"cmp"
	"fmt"
	"math/bits"
	"slices"

	"github.com/sluice-ln/sluice/ledger"
)

// Weight is one provider's claim on an epoch's reward shares: what its
// metered seconds earned in the epoch.
type Weight struct {
	// ID is the provider's id; it orders ties.
	ID string

	// Earned is what the provider earned in the epoch, never negative.
	Earned ledger.MilliSatoshi
}

// Apportion splits total share units among weights in proportion to what
// each earned, by largest remainder (Hamilton's method), and returns each
// one's units in the order of weights. Every weight first gets the floor of
// its exact quota total·Earned/ΣEarned; the units left over, fewer than
// there are weights, go one each to the largest remainders, and a tie in
// remainder goes to the id that sorts first (byte order). So the units sum
// to total exactly, each is within one unit of its quota, a larger weight
// never gets fewer units than a smaller one, raising one weight never
// lowers its units, and the result depends on the weights only, not on
// their order in the slice.
//
// A zero total gives every weight zero units, whatever the weights. Units
// to hand out with weights that sum to zero (or none at all) are refused
// with ErrZeroWeight, since they would have no owner. A negative total or
// weight is refused with ErrNegative, two weights with one id with
// ErrDuplicateID, and weights whose sum passes 2^64 with ErrOverflow.
func Apportion(total ledger.Shares, weights []Weight) ([]ledger.Shares,
	error) {

	if total < 0 {
		return nil, fmt.Errorf("apportion %d units: %w", total,
			ErrNegative)
	}

	var sum uint64
	ids := make(map[string]struct{}, len(weights))
	for i, w := range weights {
		if w.Earned < 0 {
			return nil, fmt.Errorf("weight %d (%q): earned %v: %w",
				i, w.ID, w.Earned, ErrNegative)
		}
		if _, dup := ids[w.ID]; dup {
			return nil, fmt.Errorf("weight %d: %q: %w", i, w.ID,
				ErrDuplicateID)
		}
		ids[w.ID] = struct{}{}

		var carry uint64
		sum, carry = bits.Add64(sum, uint64(w.Earned), 0)
		if carry != 0 {
			return nil, fmt.Errorf("sum of weights: %w",
				ErrOverflow)
		}
	}

	out := make([]ledger.Shares, len(weights))
	if total == 0 {
		return out, nil
	}
	if sum == 0 {
		return nil, fmt.Errorf("apportion %d units over %d weights: %w",
			total, len(weights), ErrZeroWeight)
	}

	// All quotas share the denominator sum, so remainders compare as
	// they are.
	rems := make([]uint64, len(weights))
	left := uint64(total)
	for i, w := range weights {
		// Earned ≤ sum, so the quotient is at most total: no error.
		q, rem, err := mulDivRem(uint64(total), uint64(w.Earned), sum)
		if err != nil {
			return nil, fmt.Errorf("weight %d (%q): %w", i, w.ID,
				err)
		}
		out[i] = ledger.Shares(q)
		rems[i] = rem
		left -= q
	}

	order := make([]int, len(weights))
	for i := range order {
		order[i] = i
	}
	slices.SortFunc(order, func(a, b int) int {
		if c := cmp.Compare(rems[b], rems[a]); c != 0 {
			return c
		}
		return cmp.Compare(weights[a].ID, weights[b].ID)
	})

	// Σ rems = left·sum and each rem < sum, so left < the number of
	// non-zero remainders, and every unit left goes to one of them.
	for _, i := range order[:left] {
		out[i]++
	}

	return out, nil
}
