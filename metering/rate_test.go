package metering

import (
	"errors"
	"math"
	"testing"

	"github.com/shopspring/decimal"
	"github.com/sluice-ln/sluice/channels"
	"github.com/sluice-ln/sluice/ledger"
	"pgregory.net/rapid"
)

// mustRate parses a rate or fails the test.
func mustRate(t testing.TB, s string) ledger.Rate {
	t.Helper()

	r, err := ledger.ParseRate(s)
	if err != nil {
		t.Fatal(err)
	}

	return r
}

func TestPriceSecond(t *testing.T) {
	card := channels.RateCard{
		channels.ResourceCPU: mustRate(t, "0.001"),
		channels.ResourceMem: mustRate(t, "0.0001"),
	}
	dec := decimal.RequireFromString
	tests := []struct {
		name      string
		rates     channels.RateCard
		st        MeterState
		usage     Usage
		wantPrice ledger.MilliSatoshi
		wantFee   ledger.MilliSatoshi
		wantCarry string
		wantErr   error
	}{
		{"whole", card, MeterState{}, Usage{CPU: 2000, Mem: 10000},
			3, 0, "0", nil},
		{"fraction carried", card, MeterState{}, Usage{CPU: 1500,
			Mem: 5000}, 2, 0, "0", nil},
		{"carry in", card, MeterState{Carry: dec("0.9")},
			Usage{CPU: 100, Mem: 0}, 1, 0, "0", nil},
		{"carry through resources", card, MeterState{
			Carry: dec("0.5")}, Usage{CPU: 300, Mem: 2000}, 1, 0,
			"0", nil},
		{"fee", card, MeterState{FeeRate: 1000}, Usage{CPU: 20000},
			20, 2, "0", nil},
		{"fee from the running total", card, MeterState{
			FeeRate: 1000, Charged: 9, Fees: 0}, Usage{CPU: 1000},
			1, 1, "0", nil},
		{"idle", card, MeterState{Carry: dec("0.25")}, Usage{}, 0, 0,
			"0.25", nil},
		{"free resource", channels.RateCard{channels.ResourceCPU: mustRate(t, "2")},
			MeterState{}, Usage{CPU: 3, Mem: 1 << 40}, 6, 0, "0",
			nil},
		{"empty card", channels.RateCard{}, MeterState{}, Usage{CPU: 5}, 0, 0,
			"0", nil},

		{"unknown resource", channels.RateCard{"gpu": mustRate(t, "1")},
			MeterState{}, Usage{}, 0, 0, "", ErrUnknownResource},
		{"quantity overflows", card, MeterState{},
			Usage{CPU: math.MaxUint64}, 0, 0, "", ErrOverflow},
		{"price overflows", channels.RateCard{channels.ResourceCPU: mustRate(t, "4")},
			MeterState{}, Usage{CPU: math.MaxInt64 / 2}, 0, 0, "",
			ErrOverflow},
		{"total overflows", card, MeterState{
			Charged: ledger.MaxMilliSatoshi}, Usage{CPU: 1000}, 0,
			0, "", ErrOverflow},
		{"bad carry", card, MeterState{Carry: dec("1")}, Usage{CPU: 1},
			0, 0, "", ledger.ErrInvalidCarry},
		{"bad fee rate", card, MeterState{FeeRate: 10001},
			Usage{CPU: 1}, 0, 0, "", ledger.ErrInvalidBasisPoints},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			rec := Record{Seq: tc.st.LastSeq + 1, Second: 77,
				Usage: tc.usage}
			p, next, err := PriceSecond(tc.rates, tc.st, rec)
			if !errors.Is(err, tc.wantErr) {
				t.Fatalf("err = %v, want %v", err, tc.wantErr)
			}
			if err != nil {
				if next != tc.st {
					t.Fatal("state changed on error")
				}
				return
			}
			if p.Price != tc.wantPrice || p.Fee != tc.wantFee {
				t.Fatalf("price %v fee %v, want %v %v", p.Price,
					p.Fee, tc.wantPrice, tc.wantFee)
			}
			if !next.Carry.Equal(dec(tc.wantCarry)) {
				t.Fatalf("carry %v, want %v", next.Carry,
					tc.wantCarry)
			}
			if next.LastSeq != rec.Seq || next.LastSecond != 77 ||
				next.Charged != tc.st.Charged+p.Price ||
				next.Fees != tc.st.Fees+p.Fee {

				t.Fatalf("state %+v after %+v", next, tc.st)
			}
			if p.ProviderShare()+p.Fee != p.Price {
				t.Fatal("share + fee != price")
			}
		})
	}
}

func TestRateRecordsEscrow(t *testing.T) {
	card := channels.RateCard{channels.ResourceCPU: mustRate(t, "1")}
	recs := []Record{
		{Seq: 1, Second: 1, Usage: Usage{CPU: 10}},
		{Seq: 2, Second: 2, Usage: Usage{CPU: 10}},
		{Seq: 3, Second: 3, Usage: Usage{CPU: 0}},
		{Seq: 4, Second: 4, Usage: Usage{CPU: 10}},
	}
	tests := []struct {
		name     string
		budget   ledger.MilliSatoshi
		wantN    int
		wantLast uint64
		wantErr  error
	}{
		{"covers all", 30, 4, 4, nil},
		{"covers three", 29, 3, 3, ErrInsufficientEscrow},
		{"covers one", 19, 1, 1, ErrInsufficientEscrow},
		{"covers none", 9, 0, 0, ErrInsufficientEscrow},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, st, err := RateRecords(card, MeterState{},
				tc.budget, recs)
			if !errors.Is(err, tc.wantErr) {
				t.Fatalf("err = %v, want %v", err, tc.wantErr)
			}
			if len(got) != tc.wantN || st.LastSeq != tc.wantLast {
				t.Fatalf("%d priced, last seq %d", len(got),
					st.LastSeq)
			}
			if st.Charged > tc.budget {
				t.Fatalf("charged %v over budget %v", st.Charged,
					tc.budget)
			}
		})
	}

	// Any other error prices nothing.
	got, st, err := RateRecords(channels.RateCard{"gpu": mustRate(t, "1")},
		MeterState{}, 100, recs)
	if !errors.Is(err, ErrUnknownResource) || got != nil ||
		st != (MeterState{}) {

		t.Fatalf("unknown resource: %v, %d, %+v", err, len(got), st)
	}
}

// genRate draws a rate with up to ledger.MaxRateDecimals decimals.
func genRate(t *rapid.T, label string) ledger.Rate {
	mant := rapid.Int64Range(0, 1_000_000_000).Draw(t, label+" mantissa")
	exp := rapid.IntRange(-ledger.MaxRateDecimals, 2).Draw(t,
		label+" exponent")
	r, err := ledger.NewRate(decimal.New(mant, int32(exp)))
	if err != nil {
		t.Fatal(err)
	}

	return r
}

// TestPricingProperties checks, over random rate cards, fee rates and
// usage: pricing a job's seconds one by one with the carry costs exactly
// what its summed quantities cost at once; its fees are exactly the fee of
// that whole price; and every second's fee and provider share add up to
// its price.
func TestPricingProperties(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		card := channels.RateCard{}
		if rapid.Bool().Draw(t, "cpu priced") {
			card[channels.ResourceCPU] = genRate(t, "cpu")
		}
		if rapid.Bool().Draw(t, "mem priced") {
			card[channels.ResourceMem] = genRate(t, "mem")
		}
		feeRate := ledger.BasisPoints(rapid.IntRange(0,
			int(ledger.MaxBasisPoints)).Draw(t, "fee bp"))
		n := rapid.IntRange(1, 200).Draw(t, "seconds")

		st := MeterState{FeeRate: feeRate}
		var total Usage
		var sumFee, sumShare ledger.MilliSatoshi
		for i := 0; i < n; i++ {
			u := Usage{
				CPU: rapid.Uint64Range(0, 64_000).Draw(t, "cpu"),
				Mem: rapid.Uint64Range(0, 1<<20).Draw(t, "mem"),
			}
			total.CPU += u.CPU
			total.Mem += u.Mem

			p, next, err := PriceSecond(card, st, Record{
				Seq: uint64(i + 1), Second: int64(i), Usage: u})
			if err != nil {
				t.Fatal(err)
			}
			if p.Fee < 0 || p.Fee > p.Price {
				t.Fatalf("second %d: fee %v of price %v", i,
					p.Fee, p.Price)
			}
			if p.Fee+p.ProviderShare() != p.Price {
				t.Fatalf("second %d: fee + share != price", i)
			}
			sumFee += p.Fee
			sumShare += p.ProviderShare()
			st = next
		}

		whole := decimal.Zero
		for _, name := range resources {
			if rate, ok := card[name]; ok {
				q, _ := total.Quantity(name)
				whole = whole.Add(rate.Decimal().Mul(
					decimal.NewFromUint64(q)))
			}
		}
		want := ledger.MilliSatoshi(whole.Floor().IntPart())
		if st.Charged != want {
			t.Fatalf("one by one %v, at once %v", st.Charged, want)
		}
		if !st.Carry.Equal(whole.Sub(whole.Floor())) {
			t.Fatalf("carry %v, want %v", st.Carry,
				whole.Sub(whole.Floor()))
		}
		wantFee, wantShare, _ := ledger.SplitFee(want, feeRate)
		if sumFee != wantFee || st.Fees != wantFee ||
			sumShare != wantShare {

			t.Fatalf("fees %v (state %v), share %v; want %v, %v",
				sumFee, st.Fees, sumShare, wantFee, wantShare)
		}
	})
}
