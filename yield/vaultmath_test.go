package yield

import (
	"errors"
	"math"
	"math/big"
	"testing"

	"github.com/sluice-ln/sluice/ledger"
	"pgregory.net/rapid"
)

// TestMulDiv checks MulDiv on values worked out by hand, at the edges of
// uint64 and for each error.
func TestMulDiv(t *testing.T) {
	const max = math.MaxUint64

	tests := []struct {
		name    string
		x, y, d uint64
		r       Rounding
		want    uint64
		err     error
	}{
		{"exact", 6, 7, 3, Floor, 14, nil},
		{"exact ceil", 6, 7, 3, Ceil, 14, nil},
		{"floor", 10, 1, 3, Floor, 3, nil},
		{"ceil", 10, 1, 3, Ceil, 4, nil},
		{"zero numerator ceil", 0, 5, 7, Ceil, 0, nil},
		{"128-bit product", max, max, max, Floor, max, nil},
		{"128-bit product, quotient 2^63", 1 << 63, 1 << 40, 1 << 40,
			Ceil, 1 << 63, nil},
		// (2^64-1)·(2^64-2)/(2^64-1) = 2^64-2 exactly.
		{"near max", max, max - 1, max, Ceil, max - 1, nil},
		// 1190112520884487201·31 = 2^65-1; /2 = 2^64-1 rem 1.
		{"floor at max", 1190112520884487201, 31, 2, Floor, max, nil},
		{"ceil past max", 1190112520884487201, 31, 2, Ceil, 0,
			ErrOverflow},
		{"quotient 2^64", 1 << 32, 1 << 32, 1, Floor, 0, ErrOverflow},
		{"max·2/1", max, 2, 1, Floor, 0, ErrOverflow},
		{"divide by zero", 1, 1, 0, Floor, 0, ErrDivideByZero},
		{"zero rounding", 1, 1, 1, 0, 0, ErrInvalidRounding},
		{"unknown rounding", 1, 1, 1, 3, 0, ErrInvalidRounding},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := MulDiv(tc.x, tc.y, tc.d, tc.r)
			if !errors.Is(err, tc.err) {
				t.Fatalf("err %v, want %v", err, tc.err)
			}
			if got != tc.want {
				t.Fatalf("MulDiv(%d, %d, %d, %v) = %d, want %d",
					tc.x, tc.y, tc.d, tc.r, got, tc.want)
			}
		})
	}
}

// bigMulDiv is MulDiv's reference in math/big: the result, or the error
// MulDiv must return.
func bigMulDiv(x, y, d uint64, r Rounding) (uint64, error) {
	if d == 0 {
		return 0, ErrDivideByZero
	}
	p := new(big.Int).Mul(new(big.Int).SetUint64(x),
		new(big.Int).SetUint64(y))
	q, m := new(big.Int).QuoRem(p, new(big.Int).SetUint64(d), new(big.Int))
	if r == Ceil && m.Sign() != 0 {
		q.Add(q, big.NewInt(1))
	}
	if !q.IsUint64() {
		return 0, ErrOverflow
	}

	return q.Uint64(), nil
}

// checkMulDiv compares MulDiv with bigMulDiv.
func checkMulDiv(t interface{ Fatalf(string, ...any) }, x, y, d uint64,
	r Rounding) {

	want, wantErr := bigMulDiv(x, y, d, r)
	got, err := MulDiv(x, y, d, r)
	if !errors.Is(err, wantErr) || (err == nil) != (wantErr == nil) {
		t.Fatalf("MulDiv(%d, %d, %d, %v) err %v, want %v", x, y, d, r,
			err, wantErr)
	}
	if got != want {
		t.Fatalf("MulDiv(%d, %d, %d, %v) = %d, want %d", x, y, d, r,
			got, want)
	}
}

// FuzzMulDiv compares MulDiv with math/big on any operands.
func FuzzMulDiv(f *testing.F) {
	f.Add(uint64(6), uint64(7), uint64(3), false)
	f.Add(uint64(math.MaxUint64), uint64(math.MaxUint64),
		uint64(math.MaxUint64), true)
	f.Add(uint64(1190112520884487201), uint64(31), uint64(2), true)
	f.Add(uint64(1), uint64(1), uint64(0), false)
	f.Fuzz(func(t *testing.T, x, y, d uint64, ceil bool) {
		r := Floor
		if ceil {
			r = Ceil
		}
		checkMulDiv(t, x, y, d, r)
	})
}

// genU64 draws a uint64: small, near a power of two, or anywhere.
func genU64(label string) *rapid.Generator[uint64] {
	return rapid.Custom(func(t *rapid.T) uint64 {
		switch rapid.IntRange(0, 2).Draw(t, label+" kind") {
		case 0:
			return rapid.Uint64Range(0, 1000).Draw(t, label)
		case 1:
			e := rapid.IntRange(0, 63).Draw(t, label+" exp")
			off := rapid.Int64Range(-3, 3).Draw(t, label+" off")
			return uint64(1)<<e + uint64(off)
		}
		return rapid.Uint64().Draw(t, label)
	})
}

// TestMulDivProperty compares MulDiv with math/big on drawn operands, and
// checks that Ceil is Floor or one more.
func TestMulDivProperty(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		x, y, d := genU64("x").Draw(t, "x"), genU64("y").Draw(t, "y"),
			genU64("d").Draw(t, "d")
		checkMulDiv(t, x, y, d, Floor)
		checkMulDiv(t, x, y, d, Ceil)

		lo, errLo := MulDiv(x, y, d, Floor)
		hi, errHi := MulDiv(x, y, d, Ceil)
		if errLo == nil && errHi == nil && hi != lo && hi != lo+1 {
			t.Fatalf("floor %d, ceil %d", lo, hi)
		}
	})
}

// TestVaultWorkedExample is the worked example of docs/vault.md, each
// figure computed by hand from the formulas.
func TestVaultWorkedExample(t *testing.T) {
	var v NAV
	mustEq := func(what string, got, want int64, err error) {
		t.Helper()
		if err != nil {
			t.Fatalf("%s: %v", what, err)
		}
		if got != want {
			t.Fatalf("%s = %d, want %d", what, got, want)
		}
	}

	// Genesis: one share (1000 units) is worth one sat.
	pps, err := v.PricePerShare()
	mustEq("genesis price per share", int64(pps), 1000, err)

	// Alice stakes 5000 sat: 5_000_000·(0+1)/(0+1).
	v, alice, err := v.Deposit(5_000_000)
	mustEq("Alice's units", int64(alice), 5_000_000, err)
	pps, err = v.PricePerShare()
	mustEq("price after Alice", int64(pps), 1000, err)

	// The vault earns 1_234_567 msat of routing fees: no new shares.
	v.Assets += 1_234_567
	if v != (NAV{Assets: 6_234_567, Supply: 5_000_000}) {
		t.Fatalf("vault %+v", v)
	}

	// ⌊1000·6_234_568/5_000_001⌋ = ⌊1246.913…⌋.
	pps, err = v.PricePerShare()
	mustEq("price after yield", int64(pps), 1246, err)

	// Previews for Bob's 2000 sat: ⌊2_000_000·5_000_001/6_234_568⌋ =
	// ⌊1_603_960.69…⌋; minting that many costs ⌈1_603_960·6_234_568/
	// 5_000_001⌉ = ⌈1_999_999.13…⌉; withdrawing 1000 sat burns
	// ⌈1_000_000·5_000_001/6_234_568⌉ = ⌈801_980.35…⌉.
	s, err := v.PreviewDeposit(2_000_000)
	mustEq("PreviewDeposit(2_000_000)", int64(s), 1_603_960, err)
	a, err := v.PreviewMint(1_603_960)
	mustEq("PreviewMint(1_603_960)", int64(a), 2_000_000, err)
	s, err = v.PreviewWithdraw(1_000_000)
	mustEq("PreviewWithdraw(1_000_000)", int64(s), 801_981, err)
	a, err = v.PreviewRedeem(1000)
	mustEq("PreviewRedeem(1000)", int64(a), 1246, err)

	// Alice's stake is worth ⌊5_000_000·6_234_568/5_000_001⌋ before Bob
	// deposits.
	aliceBefore, err := v.PreviewRedeem(alice)
	mustEq("Alice's value before Bob", int64(aliceBefore), 6_234_566, err)

	v, bob, err := v.Deposit(2_000_000)
	mustEq("Bob's units", int64(bob), 1_603_960, err)
	if v != (NAV{Assets: 8_234_567, Supply: 6_603_960}) {
		t.Fatalf("vault %+v", v)
	}

	// Bob's rounding stays in the vault: Alice's value rises by one msat,
	// ⌊5_000_000·8_234_568/6_603_961⌋.
	aliceAfter, err := v.PreviewRedeem(alice)
	mustEq("Alice's value after Bob", int64(aliceAfter), 6_234_567, err)

	// Bob redeems at once: ⌊1_603_960·8_234_568/6_603_961⌋, one msat
	// less than he staked.
	v, paid, err := v.Redeem(bob)
	mustEq("Bob's redemption", int64(paid), 1_999_999, err)
	if v != (NAV{Assets: 6_234_568, Supply: 5_000_000}) {
		t.Fatalf("vault %+v", v)
	}

	// Epoch 42 closes with a reward of 300_000 msat: it is deposited at
	// the NAV before it, ⌊300_000·5_000_001/6_234_569⌋ = ⌊240_594.07…⌋
	// units, which TestApportion's "epoch example" splits.
	v, reward, err := v.Deposit(300_000)
	mustEq("epoch 42's reward units", int64(reward), 240_594, err)
	if v != (NAV{Assets: 6_534_568, Supply: 5_240_594}) {
		t.Fatalf("vault %+v", v)
	}
	pps, err = v.PricePerShare()
	mustEq("price after epoch 42", int64(pps), 1246, err)
}

// TestVaultErrors checks that bad input is refused and that the offset
// scales the genesis price.
func TestVaultErrors(t *testing.T) {
	tests := []struct {
		name string
		fn   func() error
		err  error
	}{
		{"negative deposit", func() error {
			_, err := NAV{}.PreviewDeposit(-1)
			return err
		}, ErrNegative},
		{"negative redeem", func() error {
			_, err := NAV{}.PreviewRedeem(-1)
			return err
		}, ErrNegative},
		{"negative assets", func() error {
			_, err := NAV{Assets: -1}.PreviewMint(1)
			return err
		}, ErrNegative},
		{"negative supply", func() error {
			_, err := NAV{Supply: -1}.PreviewWithdraw(1)
			return err
		}, ErrNegative},
		{"zero rounding", func() error {
			_, err := NAV{}.ToShares(1, 0)
			return err
		}, ErrInvalidRounding},
		{"shares overflow int64", func() error {
			// 2^62 msat into a vault whose unit costs 1/2 msat:
			// 2^63 units fit uint64 but not int64.
			v := NAV{Assets: 3, Supply: 7}
			_, err := v.PreviewDeposit(1 << 62)
			return err
		}, ErrOverflow},
		{"assets overflow int64", func() error {
			v := NAV{Assets: math.MaxInt64 - 1, Supply: 0}
			_, err := v.PreviewMint(2)
			return err
		}, ErrOverflow},
		{"deposit overflows assets", func() error {
			v := NAV{Assets: math.MaxInt64 - 1, Supply: 1}
			_, _, err := v.Deposit(2)
			return err
		}, ErrOverflow},
		{"deposit overflows supply", func() error {
			// About 200 units, onto a supply 10 below the top.
			v := NAV{Assets: math.MaxInt64 / 2,
				Supply: math.MaxInt64 - 10}
			_, _, err := v.Deposit(100)
			return err
		}, ErrOverflow},
		{"redeem above supply", func() error {
			_, _, err := NAV{Assets: 10, Supply: 10}.Redeem(11)
			return err
		}, ErrExceedsSupply},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if err := tc.fn(); !errors.Is(err, tc.err) {
				t.Fatalf("err %v, want %v", err, tc.err)
			}
		})
	}

	// With V = 1000 a first msat buys 1000 units, and one share is worth
	// one msat: why VirtualShares is 1.
	v := NAV{virtual: 1000}
	s, err := v.PreviewDeposit(1)
	if err != nil || s != 1000 {
		t.Fatalf("V=1000: PreviewDeposit(1) = %d, %v", s, err)
	}
	pps, err := v.PricePerShare()
	if err != nil || pps != 1 {
		t.Fatalf("V=1000: PricePerShare = %v, %v", pps, err)
	}
}

// offsets are the virtual shares the properties run with: the one Sluice
// uses and OpenZeppelin's δ = 3.
var offsets = []uint64{VirtualShares, 1000}

// genVault draws a vault with offset V: a supply up to 2^40 units and a
// price per unit between about 1/1024 and 1024 msat, sometimes with a few
// msat beside an empty supply (a vault whose holders all left, or one that
// was donated to before its first deposit). Amounts up to 2^40 then fit
// every conversion.
func genVault(virtual uint64) *rapid.Generator[NAV] {
	return rapid.Custom(func(t *rapid.T) NAV {
		supply := rapid.Int64Range(0, 1<<40).Draw(t, "supply")
		num := rapid.Int64Range(1, 1<<10).Draw(t, "price num")
		den := rapid.Int64Range(1, 1<<10).Draw(t, "price den")
		extra := rapid.Int64Range(0, 1<<20).Draw(t, "extra")

		return NAV{
			Assets:  ledger.MilliSatoshi(supply*num/den + extra),
			Supply:  ledger.Shares(supply),
			virtual: virtual,
		}
	})
}

// priceAtLeast reports whether after's price per unit, (A+1)/(S+V), is at
// least before's, compared exactly.
func priceAtLeast(after, before NAV) bool {
	l := new(big.Int).Mul(big.NewInt(int64(after.Assets)+1),
		new(big.Int).SetUint64(uint64(before.Supply)+before.offset()))
	r := new(big.Int).Mul(big.NewInt(int64(before.Assets)+1),
		new(big.Int).SetUint64(uint64(after.Supply)+after.offset()))

	return l.Cmp(r) >= 0
}

// TestVaultRoundTrips checks that no round trip through the vault gives
// back more than went in: deposit then redeem, and the previews composed.
func TestVaultRoundTrips(t *testing.T) {
	for _, off := range offsets {
		rapid.Check(t, func(t *rapid.T) {
			v := genVault(off).Draw(t, "vault")
			a := ledger.MilliSatoshi(rapid.Int64Range(0, 1<<40).
				Draw(t, "a"))
			s := ledger.Shares(rapid.Int64Range(0, 1<<40).Draw(t, "s"))

			next, got, err := v.Deposit(a)
			if err != nil {
				t.Fatalf("deposit %v into %+v: %v", a, v, err)
			}
			_, back, err := next.Redeem(got)
			if err != nil {
				t.Fatal(err)
			}
			if back > a {
				t.Fatalf("deposit %v, redeem %d units: %v back",
					a, got, back)
			}

			minted, err := v.PreviewMint(got)
			if err != nil {
				t.Fatal(err)
			}
			if minted > a {
				t.Fatalf("previewMint(previewDeposit(%v)) = %v",
					a, minted)
			}

			// The same for shares: burning what a withdrawal of
			// what s redeems for takes no more than s.
			out, err := v.PreviewRedeem(s)
			if err != nil {
				t.Fatal(err)
			}
			burn, err := v.PreviewWithdraw(out)
			if err != nil {
				t.Fatal(err)
			}
			if burn > s {
				t.Fatalf("previewWithdraw(previewRedeem(%d)) = %d",
					s, burn)
			}
		})
	}
}

// TestVaultOthersCannotLowerValue checks that a holder's value never falls
// from another holder's deposit or redemption: the price per unit never
// falls, so neither does what the holder's units redeem for.
func TestVaultOthersCannotLowerValue(t *testing.T) {
	for _, off := range offsets {
		rapid.Check(t, func(t *rapid.T) {
			v := genVault(off).Draw(t, "vault")
			held := ledger.Shares(rapid.Int64Range(0, int64(v.Supply)).
				Draw(t, "held"))
			before, err := v.PreviewRedeem(held)
			if err != nil {
				t.Fatal(err)
			}

			var next NAV
			if rapid.Bool().Draw(t, "deposit") {
				a := ledger.MilliSatoshi(rapid.Int64Range(0,
					1<<40).Draw(t, "a"))
				next, _, err = v.Deposit(a)
			} else {
				s := ledger.Shares(rapid.Int64Range(0,
					int64(v.Supply-held)).Draw(t, "s"))
				next, _, err = v.Redeem(s)
			}
			if err != nil {
				t.Fatal(err)
			}

			if !priceAtLeast(next, v) {
				t.Fatalf("price fell: %+v to %+v", v, next)
			}
			after, err := next.PreviewRedeem(held)
			if err != nil {
				t.Fatal(err)
			}
			if after < before {
				t.Fatalf("holder of %d units: %v, then %v",
					held, before, after)
			}
		})
	}
}

// attack plays the donation attack on an empty vault with offset V: the
// attacker deposits 1 msat and donates donation, then the victim deposits
// a. It returns what each loses if it redeems everything at that point.
func attack(t interface{ Fatal(...any) }, virtual uint64, donation,
	a ledger.MilliSatoshi) (victimLoss, attackerLoss int64, x *big.Rat) {

	v := NAV{virtual: virtual}
	v, attackerUnits, err := v.Deposit(1)
	if err != nil {
		t.Fatal(err)
	}
	v.Assets += donation
	v, victimUnits, err := v.Deposit(a)
	if err != nil {
		t.Fatal(err)
	}

	victimValue, err := v.PreviewRedeem(victimUnits)
	if err != nil {
		t.Fatal(err)
	}
	attackerValue, err := v.PreviewRedeem(attackerUnits)
	if err != nil {
		t.Fatal(err)
	}

	// x = r/(2V+s) with r = 2V·a − s·(D+2), as VirtualShares derives.
	twoV := int64(2 * virtual)
	r := twoV*int64(a) - int64(victimUnits)*(int64(donation)+2)
	x = big.NewRat(r, twoV+int64(victimUnits))

	return int64(a - victimValue), int64(1 + donation - attackerValue), x
}

// ceilRat returns ⌈q⌉.
func ceilRat(q *big.Rat) int64 {
	n, d := q.Num(), q.Denom()
	c := new(big.Int).Neg(new(big.Int).Div(new(big.Int).Neg(n), d))

	return c.Int64()
}

// TestInflationAttack checks VirtualShares' analysis of the donation
// attack over random donations and deposits: the losses are exactly the
// derived ones, the victim loses at most ⌈(D+2)/(2V)⌉, the attacker never
// gains, 2·La ≥ (2V−1)·(Lv−1) − 1, and with V = 1000 the attacker loses at
// least what the victim does.
func TestInflationAttack(t *testing.T) {
	for _, off := range offsets {
		rapid.Check(t, func(t *rapid.T) {
			d := ledger.MilliSatoshi(rapid.OneOf(
				rapid.Int64Range(0, 100),
				rapid.Int64Range(0, 1<<40),
			).Draw(t, "donation"))
			a := ledger.MilliSatoshi(rapid.OneOf(
				rapid.Int64Range(1, 100),
				rapid.Int64Range(1, 1<<40),
			).Draw(t, "deposit"))

			lv, la, x := attack(t, off, d, a)

			if want := ceilRat(x); lv != want {
				t.Fatalf("victim loss %d, derived %d", lv, want)
			}
			half := new(big.Rat).Sub(big.NewRat(int64(d), 1), x)
			half.Quo(half, big.NewRat(2, 1))
			if want := ceilRat(half); la != want {
				t.Fatalf("attacker loss %d, derived %d", la, want)
			}

			bound := ceilRat(big.NewRat(int64(d)+2, int64(2*off)))
			if lv > bound || lv > int64(a) {
				t.Fatalf("V=%d D=%v a=%v: victim loses %d, bound %d",
					off, d, a, lv, bound)
			}
			if la < 0 {
				t.Fatalf("V=%d D=%v a=%v: attacker gains %d",
					off, d, a, -la)
			}
			if 2*la < int64(2*off-1)*(lv-1)-1 {
				t.Fatalf("V=%d D=%v a=%v: attacker loses %d, "+
					"victim %d", off, d, a, la, lv)
			}
			if off >= 1000 && la < lv {
				t.Fatalf("V=%d D=%v a=%v: attacker loses %d < "+
					"victim's %d", off, d, a, la, lv)
			}
		})
	}
}

// TestInflationAttackExample is the case VirtualShares cites: with V = 1
// griefing costs the attacker half what it costs the victim, and with
// V = 1000 the same donation takes the victim's rounding only.
func TestInflationAttackExample(t *testing.T) {
	// 20/21 = 0 units: the victim loses all 10 msat, the attacker
	// ⌈(19 − 10/2)/2⌉ = 5.
	lv, la, _ := attack(t, 1, 19, 10)
	if lv != 10 || la != 5 {
		t.Fatalf("V=1: victim loses %d, attacker %d; want 10, 5", lv,
			la)
	}
	// 20000/21 = 952 units, r = 8: the victim loses 1, the attacker
	// ⌈(19 − 8/2952)/2⌉ = 10.
	lv, la, _ = attack(t, 1000, 19, 10)
	if lv != 1 || la != 10 {
		t.Fatalf("V=1000: victim loses %d, attacker %d; want 1, 10",
			lv, la)
	}
}
