package metering

import (
	"errors"
	"fmt"
	"math"

	"github.com/sluice-ln/sluice/channels"
	"github.com/sluice-ln/sluice/ledger"
)

// resources are the resources metering measures, in the order a second's
// price adds them up. The order does not change the result (the carry makes
// the sum exact) but keeps the arithmetic reproducible.
var resources = []channels.Resource{channels.ResourceCPU, channels.ResourceMem}

// Priced is an accepted record with what it costs.
type Priced struct {
	Record

	// Price is what the second costs the buyer, in whole millisatoshis.
	Price ledger.MilliSatoshi

	// Fee is the platform's part of Price; the provider earns
	// Price - Fee.
	Fee ledger.MilliSatoshi
}

// ProviderShare is what the provider earns for the second.
func (p Priced) ProviderShare() ledger.MilliSatoshi {
	return p.Price - p.Fee
}

// CheckRates checks that a rate card names only resources metering
// measures (ErrUnknownResource).
func CheckRates(rates channels.RateCard) error {
	for name := range rates {
		if _, ok := (Usage{}).Quantity(name); !ok {
			return fmt.Errorf("%w: rate card names %q, metering "+
				"measures %q and %q", ErrUnknownResource, name,
				channels.ResourceCPU, channels.ResourceMem)
		}
	}

	return nil
}

// PriceSecond prices one record after the job's state st and returns the
// state that accounts for it.
//
// The price is the sum over resources of quantity × rate, plus st.Carry,
// rounded down to a whole millisatoshi; what rounding leaves becomes the
// new carry. Chaining the carry through the resources makes the price of a
// second exactly floor(Σ rate·quantity + carry), so a job's seconds priced
// one by one cost exactly what its summed quantities would cost at once.
//
// The fee is taken the same way, from the job's running total: after the
// record, the job's fees are SplitFee(Charged, st.FeeRate), rounded down,
// and the record's fee is what that adds. A job's fees are thus always
// exactly the fee of its whole price, and Fee ≤ Price for every record.
//
// Errors: ErrUnknownResource for a rate card naming a resource metering
// does not measure, ErrOverflow for a quantity or total that does not fit
// int64, and ledger's errors for a corrupt carry or fee rate.
func PriceSecond(rates channels.RateCard, st MeterState, r Record) (Priced,
	MeterState, error) {

	if err := CheckRates(rates); err != nil {
		return Priced{}, st, err
	}

	var (
		price = ledger.MilliSatoshi(0)
		carry = st.Carry
	)
	for _, name := range resources {
		rate, ok := rates[name]
		if !ok {
			continue
		}
		q, _ := r.Quantity(name)
		if q > math.MaxInt64 {
			return Priced{}, st, fmt.Errorf("%w: seq %d: %s "+
				"quantity %d", ErrOverflow, r.Seq, name, q)
		}

		var (
			p   ledger.MilliSatoshi
			err error
		)
		p, carry, err = rate.Price(int64(q), carry)
		if err != nil {
			return Priced{}, st, fmt.Errorf("seq %d: pricing %s: "+
				"%w", r.Seq, name, wrapOverflow(err))
		}
		price, err = price.Add(p)
		if err != nil {
			return Priced{}, st, fmt.Errorf("seq %d: price: %w",
				r.Seq, wrapOverflow(err))
		}
	}

	charged, err := st.Charged.Add(price)
	if err != nil {
		return Priced{}, st, fmt.Errorf("seq %d: job total: %w", r.Seq,
			wrapOverflow(err))
	}
	fees, _, err := ledger.SplitFee(charged, st.FeeRate)
	if err != nil {
		return Priced{}, st, fmt.Errorf("seq %d: fee: %w", r.Seq, err)
	}

	next := st
	next.LastSeq = r.Seq
	next.LastSecond = r.Second
	next.Carry = carry
	next.Charged = charged
	next.Fees = fees

	return Priced{Record: r, Price: price, Fee: fees - st.Fees}, next, nil
}

// wrapOverflow adds ErrOverflow to a ledger overflow, so that callers of
// this package test one sentinel; other errors pass unchanged.
func wrapOverflow(err error) error {
	if !errors.Is(err, ledger.ErrOverflow) {
		return err
	}

	return fmt.Errorf("%w: %w", ErrOverflow, err)
}

// RateRecords prices records in order after the job's state st, as
// PriceSecond does, taking at most budget (the job's escrow) in all. It
// returns the priced records and the state after the last of them. When
// the budget cannot pay for a record, it stops there and returns the ones
// before it with ErrInsufficientEscrow: every second the escrow covers is
// billed, none that it does not. Other errors price nothing.
func RateRecords(rates channels.RateCard, st MeterState, budget ledger.MilliSatoshi,
	recs []Record) ([]Priced, MeterState, error) {

	priced := make([]Priced, 0, len(recs))
	cur := st
	left := budget
	for _, r := range recs {
		p, next, err := PriceSecond(rates, cur, r)
		if err != nil {
			return nil, st, err
		}
		if p.Price > left {
			return priced, cur, fmt.Errorf("%w: seq %d costs %v, "+
				"escrow has %v left", ErrInsufficientEscrow,
				r.Seq, p.Price, left)
		}
		left -= p.Price
		priced = append(priced, p)
		cur = next
	}

	return priced, cur, nil
}
