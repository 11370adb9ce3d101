package yield

import (
	"fmt"
	"math"
	"math/bits"

	"github.com/sluice-ln/sluice/ledger"
)

// Rounding says which way a quotient that is not whole goes. Its zero value
// is not a rounding: every conversion names the one it needs.
type Rounding uint8

const (
	// Floor rounds toward zero (all operands are non-negative).
	Floor Rounding = iota + 1

	// Ceil rounds away from zero.
	Ceil
)

// String returns "floor" or "ceil".
func (r Rounding) String() string {
	switch r {
	case Floor:
		return "floor"
	case Ceil:
		return "ceil"
	}

	return fmt.Sprintf("Rounding(%d)", uint8(r))
}

// MulDiv returns x·y/d rounded as r, computed exactly: the product is held
// in 128 bits, so it never wraps, and the only errors are a zero d
// (ErrDivideByZero), a result above math.MaxUint64 (ErrOverflow) and a
// rounding that is neither Floor nor Ceil (ErrInvalidRounding). It is
// OpenZeppelin's Math.mulDiv for 64-bit operands.
func MulDiv(x, y, d uint64, r Rounding) (uint64, error) {
	if r != Floor && r != Ceil {
		return 0, fmt.Errorf("mulDiv: %w: %v", ErrInvalidRounding, r)
	}

	q, rem, err := mulDivRem(x, y, d)
	if err != nil {
		return 0, err
	}
	if r == Ceil && rem != 0 {
		if q == math.MaxUint64 {
			return 0, fmt.Errorf("mulDiv %d·%d/%d rounded up: %w",
				x, y, d, ErrOverflow)
		}
		q++
	}

	return q, nil
}

// mulDivRem returns the quotient and remainder of x·y divided by d.
func mulDivRem(x, y, d uint64) (q, rem uint64, err error) {
	if d == 0 {
		return 0, 0, fmt.Errorf("mulDiv %d·%d/0: %w", x, y,
			ErrDivideByZero)
	}

	hi, lo := bits.Mul64(x, y)
	// bits.Div64 panics unless hi < d, which is exactly the condition
	// for the quotient to fit in 64 bits.
	if hi >= d {
		return 0, 0, fmt.Errorf("mulDiv %d·%d/%d: %w", x, y, d,
			ErrOverflow)
	}
	q, rem = bits.Div64(hi, lo, d)

	return q, rem, nil
}

// VirtualShares is V, the share units the vault counts beside its real
// supply, against a virtual 1 msat beside its real assets (OpenZeppelin
// v5's ERC-4626 with decimals offset δ, V = 10^δ). The genesis rule sets
// it: in an empty vault one share (ledger.UnitsPerShare units) is worth one
// satoshi, so 1 msat buys one unit, and toShares(1 msat) = 1·V/1 forces
// V = 1, δ = 0. The share's three decimals are not an offset of its own:
// they are the millisatoshi's three decimals of the satoshi. (A note that
// suggested δ = 3 would make one share worth 1 msat at genesis.)
//
// What the offset buys, against the donation (inflation) attack: an
// attacker deposits 1 msat into the empty vault and gets V units, then
// donates D msat without taking shares (assets 1+D, supply V), so that a
// victim's deposit of a msat gets s = ⌊2V·a/(D+2)⌋ units. Let
// r = 2V·a − s·(D+2), the rounding left over (0 ≤ r < D+2), and
// x = r/(2V+s). Exactly, the victim can then redeem a − ⌈x⌉ and the attacker
// ⌊(D+2+x)/2⌋, so
//
//   - the victim loses Lv = ⌈x⌉ ≤ ⌈(D+2)/(2V)⌉, the price of one unit when
//     it deposits, rounded up (and never more than a);
//   - the attacker loses La = ⌈(D−x)/2⌉ ≥ 0: the attack never pays, since
//     half the donation goes to the virtual shares and the attacker gets
//     back only half of what the victim loses;
//   - since D+2 > 2V·x, 2·La > (2V−1)·(Lv−1) − 2: each msat the victim
//     loses costs the attacker about V − ½. With V = 1000 that gives
//     La ≥ Lv; with V = 1 it does not, and griefing costs the attacker
//     about half what it costs the victim (a = 10, D = 19: the victim
//     loses 10 msat, the attacker 5, and 15 stay with the virtual share).
//
// In Sluice nobody outside the operator can donate to the vault (its
// assets move only by ledger transactions Sluice makes), so V = 1 leaves
// no one to mount the attack; vaultmath_test.go checks all three
// statements for V = 1 and V = 1000 over random a and D.
const VirtualShares = 1

// NAV is the vault's state as the share price sees it: its assets and
// its share supply. Its methods are ERC-4626's conversions and previews
// (OpenZeppelin v5) in integers, with rounding always in the vault's
// favour: what the vault hands out is rounded down, what it asks for is
// rounded up, so no operation moves value from the vault to the one who
// makes it, and a holder's value never falls from another holder's deposit
// or redemption.
//
// With A = Assets, S = Supply and V = VirtualShares:
//
//	toShares(a) = a·(S+V)/(A+1)
//	toAssets(s) = s·(A+1)/(S+V)
//
// Negative figures are refused with ErrNegative, results that do not fit
// their type with ErrOverflow.
type NAV struct {
	// Assets is what the vault holds, its net asset value.
	Assets ledger.MilliSatoshi

	// Supply is the share units issued and not burnt.
	Supply ledger.Shares

	// virtual is V for this value, VirtualShares when zero; tests set it
	// to check that the math holds for other offsets.
	virtual uint64
}

// offset returns V.
func (v NAV) offset() uint64 {
	if v.virtual == 0 {
		return VirtualShares
	}

	return v.virtual
}

// check refuses a vault with negative assets or supply.
func (v NAV) check() error {
	if v.Assets < 0 {
		return fmt.Errorf("vault assets %v: %w", v.Assets, ErrNegative)
	}
	if v.Supply < 0 {
		return fmt.Errorf("vault supply %d units: %w", v.Supply,
			ErrNegative)
	}

	return nil
}

// ToShares returns the share units worth assets, rounded as r:
// assets·(S+V)/(A+1).
func (v NAV) ToShares(assets ledger.MilliSatoshi, r Rounding) (
	ledger.Shares, error) {

	if err := v.check(); err != nil {
		return 0, err
	}
	if assets < 0 {
		return 0, fmt.Errorf("assets %v: %w", assets, ErrNegative)
	}

	// Neither sum can wrap: both operands fit in int64 and V is small.
	q, err := MulDiv(uint64(assets), uint64(v.Supply)+v.offset(),
		uint64(v.Assets)+1, r)
	if err != nil {
		return 0, fmt.Errorf("shares for %v: %w", assets, err)
	}
	if q > math.MaxInt64 {
		return 0, fmt.Errorf("shares for %v: %d units: %w", assets, q,
			ErrOverflow)
	}

	return ledger.Shares(q), nil
}

// ToAssets returns the assets that shares are worth, rounded as r:
// shares·(A+1)/(S+V).
func (v NAV) ToAssets(shares ledger.Shares, r Rounding) (
	ledger.MilliSatoshi, error) {

	if err := v.check(); err != nil {
		return 0, err
	}
	if shares < 0 {
		return 0, fmt.Errorf("shares %d units: %w", shares, ErrNegative)
	}

	q, err := MulDiv(uint64(shares), uint64(v.Assets)+1,
		uint64(v.Supply)+v.offset(), r)
	if err != nil {
		return 0, fmt.Errorf("assets for %d units: %w", shares, err)
	}
	if q > math.MaxInt64 {
		return 0, fmt.Errorf("assets for %d units: %d msat: %w", shares,
			q, ErrOverflow)
	}

	return ledger.MilliSatoshi(q), nil
}

// PreviewDeposit returns the share units a deposit (a stake, or a reward)
// of assets is issued, rounded down.
func (v NAV) PreviewDeposit(assets ledger.MilliSatoshi) (ledger.Shares,
	error) {

	return v.ToShares(assets, Floor)
}

// PreviewMint returns the assets that must be deposited to be issued
// exactly shares, rounded up.
func (v NAV) PreviewMint(shares ledger.Shares) (ledger.MilliSatoshi,
	error) {

	return v.ToAssets(shares, Ceil)
}

// PreviewWithdraw returns the share units that must be burnt to take out
// exactly assets, rounded up.
func (v NAV) PreviewWithdraw(assets ledger.MilliSatoshi) (ledger.Shares,
	error) {

	return v.ToShares(assets, Ceil)
}

// PreviewRedeem returns the assets that burning shares pays, rounded down.
// It charges no exit fee.
func (v NAV) PreviewRedeem(shares ledger.Shares) (ledger.MilliSatoshi,
	error) {

	return v.ToAssets(shares, Floor)
}

// PricePerShare returns what one whole share (ledger.UnitsPerShare units) is
// worth, in msat rounded down: 1000 msat at genesis. It is for display;
// every amount that moves is computed with the conversions above, which
// keep the price's full precision.
func (v NAV) PricePerShare() (ledger.MilliSatoshi, error) {
	return v.ToAssets(ledger.UnitsPerShare, Floor)
}

// Deposit returns the vault after a deposit of assets and the share units
// issued for it (PreviewDeposit). A deposit too small to buy one unit is
// issued none; the caller decides whether to refuse it.
func (v NAV) Deposit(assets ledger.MilliSatoshi) (NAV, ledger.Shares,
	error) {

	shares, err := v.PreviewDeposit(assets)
	if err != nil {
		return v, 0, err
	}
	if assets > math.MaxInt64-v.Assets {
		return v, 0, fmt.Errorf("deposit of %v: assets %v + %v: %w",
			assets, v.Assets, assets, ErrOverflow)
	}
	if shares > math.MaxInt64-v.Supply {
		return v, 0, fmt.Errorf("deposit of %v: supply %d + %d units: "+
			"%w", assets, v.Supply, shares, ErrOverflow)
	}
	next := v
	next.Assets += assets
	next.Supply += shares

	return next, shares, nil
}

// Redeem returns the vault after shares are burnt and the assets paid for
// them (PreviewRedeem). Redeeming more than the supply is refused with
// ErrExceedsSupply; what it pays never exceeds the assets.
func (v NAV) Redeem(shares ledger.Shares) (NAV, ledger.MilliSatoshi,
	error) {

	assets, err := v.PreviewRedeem(shares)
	if err != nil {
		return v, 0, err
	}
	if shares > v.Supply {
		return v, 0, fmt.Errorf("redeem %d units of %d: %w", shares,
			v.Supply, ErrExceedsSupply)
	}

	// assets = ⌊s·(A+1)/(S+V)⌋ ≤ ⌊S·(A+1)/(S+V)⌋ ≤ A, so neither
	// difference goes negative.
	next := v
	next.Assets -= assets
	next.Supply -= shares

	return next, assets, nil
}
