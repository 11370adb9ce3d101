package yield_test

import (
	"errors"
	"reflect"
	"strconv"
	"testing"

	"github.com/sluice-ln/sluice/ledger"
	"github.com/sluice-ln/sluice/yield"
)

// TestStake checks staking: an amount and all of the payable buy shares at
// the NAV, a key stakes once, and every bad input is its own error and
// changes nothing.
func TestStake(t *testing.T) {
	t.Parallel()
	e := newEnv(t, "pa", "pb")
	ctx := e.ctx
	e.earn("pa", 10_000)

	res, err := e.vault.Stake(ctx, "k1", "pa", 4000, false)
	if err != nil || res != (yield.StakeResult{Assets: 4000,
		Shares: 4000}) {

		t.Fatalf("stake: %+v, %v", res, err)
	}
	if p := e.msat(ledger.ProviderPayable("pa")); p != 6000 {
		t.Fatalf("payable %v, want 6000", p)
	}

	// The same key again moves nothing and answers as the first time.
	before := e.snap("pa", "pb")
	res, err = e.vault.Stake(ctx, "k1", "pa", 4000, false)
	if err != nil || res != (yield.StakeResult{Assets: 4000,
		Shares: 4000, Duplicate: true}) {

		t.Fatalf("replay: %+v, %v", res, err)
	}
	e.refused("replay", before, nil, nil, "", "pa", "pb")
	_, err = e.vault.Stake(ctx, "k1", "pa", 3000, false)
	e.refused("key of another amount", before, err,
		ledger.ErrIdempotencyConflict, "", "pa", "pb")

	// All of it: 6000 msat at 1 msat a unit.
	res, err = e.vault.Stake(ctx, "k2", "pa", 0, true)
	if err != nil || res != (yield.StakeResult{Assets: 6000,
		Shares: 6000}) {

		t.Fatalf("stake all: %+v, %v", res, err)
	}
	res, err = e.vault.Stake(ctx, "k2", "pa", 0, true)
	if err != nil || !res.Duplicate || res.Assets != 6000 {
		t.Fatalf("stake all replayed: %+v, %v", res, err)
	}

	e.earn("pa", 500)
	// A share unit is worth 10 msat after this gain: 5 msat buys none.
	e.gain(90_000)
	before = e.snap("pa", "pb")
	refusals := []struct {
		name     string
		provider string
		amount   ledger.MilliSatoshi
		all      bool
		want     error
		limit    string
	}{
		{"more than the payable", "pa", 501, false, yield.ErrLimit,
			"payable"},
		{"zero", "pa", 0, false, yield.ErrInvalidAmount, ""},
		{"negative", "pa", -1, false, yield.ErrInvalidAmount, ""},
		{"all of an empty payable", "pb", 0, true,
			yield.ErrInvalidAmount, ""},
		{"unknown provider", "nobody", 100, false,
			yield.ErrProviderNotFound, ""},
		{"buys no unit", "pa", 5, false, yield.ErrLimit,
			"one share unit"},
	}
	for i, tc := range refusals {
		_, err := e.vault.Stake(ctx, "r"+string(rune('a'+i)),
			tc.provider, tc.amount, tc.all)
		e.refused(tc.name, before, err, tc.want, tc.limit, "pa", "pb")
	}
	var le *yield.LimitError
	_, err = e.vault.Stake(ctx, "over", "pa", 501, false)
	if !errors.As(err, &le) || le.Have != 500 || le.Want != 501 ||
		le.Unit != "msat" {

		t.Fatalf("payable limit: %v", err)
	}

	// 500 msat at 100,001/10,001 msat a unit: 50 units.
	res, err = e.vault.Stake(ctx, "k3", "pa", 500, false)
	if err != nil || res.Shares != 50 {
		t.Fatalf("stake after the gain: %+v, %v", res, err)
	}
}

// TestSetAutoStake checks the percent's range and the provider.
func TestSetAutoStake(t *testing.T) {
	t.Parallel()
	e := newEnv(t, "pa")

	for _, pct := range []uint32{0, 1, 50, 100} {
		if err := e.vault.SetAutoStake(e.ctx, "pa", pct); err != nil {
			t.Fatalf("%d %%: %v", pct, err)
		}
		h, err := e.vault.Holding(e.ctx, "pa")
		if err != nil || h.AutoStake != pct {
			t.Fatalf("holding %+v, %v; want %d %%", h, err, pct)
		}
	}
	before := e.snap("pa")
	err := e.vault.SetAutoStake(e.ctx, "pa", 101)
	e.refused("101 %", before, err, yield.ErrInvalidPercent, "", "pa")
	err = e.vault.SetAutoStake(e.ctx, "nobody", 10)
	e.refused("unknown provider", before, err, yield.ErrProviderNotFound,
		"", "pa")
	_, err = e.vault.Holding(e.ctx, "nobody")
	if !errors.Is(err, yield.ErrProviderNotFound) {
		t.Fatalf("holding of nobody: %v", err)
	}
}

// earned runs metering's hook as a charge does: the usage posted to the
// provider's payable and the vault told, in one transaction.
func (e *env) earned(p, key string, earned ledger.MilliSatoshi) error {
	e.t.Helper()
	return e.db.ExecVault(e.ctx, false, func(tx yield.VaultTx) error {
		_, err := e.ledger.PostTx(e.ctx, tx.Ledger(), ledger.Transfer(
			key, "usage", ledger.HubHoldings(),
			ledger.ProviderPayable(p), earned))
		if err != nil {
			return err
		}
		return e.vault.Earned(e.ctx, tx, yield.Earning{Key: key,
			JobID: "job", ProviderID: p, Seconds: 10,
			Earned: earned, Fee: 1})
	})
}

// TestAutoStake checks the auto-stake part of an earning: staked in the
// charge's transaction with its own key, floor(earned·p/100), skipped
// when it buys no unit or the vault is shut down.
func TestAutoStake(t *testing.T) {
	t.Parallel()
	e := newEnv(t, "pa")

	steps := []struct {
		name    string
		pct     uint32
		earned  ledger.MilliSatoshi
		gain    ledger.MilliSatoshi
		down    bool
		staked  ledger.MilliSatoshi
		payable ledger.MilliSatoshi
	}{
		{name: "none", pct: 0, earned: 100, staked: 0, payable: 100},
		{name: "half, rounded down", pct: 50, earned: 101, staked: 50,
			payable: 151},
		{name: "all", pct: 100, earned: 7, staked: 7, payable: 151},
		// 57 units are worth 5,758 msat after the gain: 3 msat buys
		// none and stays payable.
		{name: "buys no unit", pct: 100, earned: 3, gain: 5_700,
			staked: 0, payable: 154},
		{name: "shut down", pct: 100, earned: 1000, down: true,
			staked: 0, payable: 1154},
	}
	for i, s := range steps {
		if err := e.vault.SetAutoStake(e.ctx, "pa", s.pct); err != nil {
			t.Fatal(err)
		}
		if s.gain > 0 {
			e.gain(s.gain)
		}
		if _, err := e.vault.Shutdown(e.ctx, s.down); err != nil {
			t.Fatal(err)
		}
		vault := e.msat(ledger.Vault())
		key := "usage:job:" + string(rune('a'+i))
		if err := e.earned("pa", key, s.earned); err != nil {
			t.Fatalf("%s: %v", s.name, err)
		}
		if got := e.msat(ledger.Vault()) - vault; got != s.staked {
			t.Fatalf("%s: staked %v, want %v", s.name, got, s.staked)
		}
		if got := e.msat(ledger.ProviderPayable("pa")); got != s.payable {
			t.Fatalf("%s: payable %v, want %v", s.name, got,
				s.payable)
		}
	}
	h, err := e.vault.Holding(e.ctx, "pa")
	if err != nil || h.Shares != 57 {
		t.Fatalf("holding %+v, %v; want 57 units", h, err)
	}
	_, cs, err := e.vault.Epoch(e.ctx, 1)
	if err != nil || len(cs) != 1 || cs[0].Seconds != 50 ||
		cs[0].Earned != 1211 {

		t.Fatalf("epoch contributions %+v, %v", cs, err)
	}
}

// TestRedeem checks a redemption that the idle vault pays at once, its
// key, the locked shares that cannot be redeemed twice, the refusals, and
// the paid status.
func TestRedeem(t *testing.T) {
	t.Parallel()
	e := newEnv(t, "pa", "pb")
	ctx := e.ctx
	e.earn("pa", 10_000)
	if _, err := e.vault.Stake(ctx, "s", "pa", 0, true); err != nil {
		t.Fatal(err)
	}

	before := e.snap("pa", "pb")
	refusals := []struct {
		name     string
		provider string
		shares   ledger.Shares
		want     error
		limit    string
	}{
		{"zero", "pa", 0, yield.ErrInvalidAmount, ""},
		{"negative", "pa", -5, yield.ErrInvalidAmount, ""},
		{"more than held", "pa", 10_001, yield.ErrLimit,
			"shares held"},
		{"another's shares", "pb", 1, yield.ErrLimit, "shares held"},
		{"unknown provider", "nobody", 1, yield.ErrProviderNotFound,
			""},
	}
	for _, tc := range refusals {
		_, err := e.vault.Redeem(ctx, "bad", tc.provider, tc.shares)
		e.refused(tc.name, before, err, tc.want, tc.limit, "pa", "pb")
	}

	r, err := e.vault.Redeem(ctx, "r1", "pa", 4000)
	if err != nil {
		t.Fatal(err)
	}
	if r.State != yield.RedemptionFinalized || r.Requested != 4000 ||
		r.Assets != 4000 || r.PaidMark != 4000 || r.Paid ||
		r.Key != "pa:r1" || r.Status() != "finalized" {

		t.Fatalf("redemption %+v", r)
	}
	if p, s := e.msat(ledger.ProviderPayable("pa")),
		e.units(ledger.ShareSupply()); p != 4000 || s != -6000 {

		t.Fatalf("payable %v, supply %d; want 4000, -6000", p, s)
	}

	before = e.snap("pa", "pb")
	again, err := e.vault.Redeem(ctx, "r1", "pa", 4000)
	if err != nil || again.ID != r.ID {
		t.Fatalf("replay: %+v, %v", again, err)
	}
	e.refused("replay", before, nil, nil, "", "pa", "pb")
	_, err = e.vault.Redeem(ctx, "r1", "pa", 10)
	e.refused("key of other shares", before, err,
		ledger.ErrIdempotencyConflict, "", "pa", "pb")

	// Paid once the payout has taken what was payable.
	e.pay("pa", 3999)
	if r = e.redemption(r.ID); r.Paid {
		t.Fatalf("paid before the whole payable left: %+v", r)
	}
	e.pay("pa", 1)
	if r = e.redemption(r.ID); !r.Paid || r.Status() != "paid" {
		t.Fatalf("not paid after the payout: %+v", r)
	}

	// Locked shares are not held: with 6,000 units left, 3,000 wait
	// for idle assets and only 3,000 may be asked for again.
	e.allocate(5_500)
	r2, err := e.vault.Redeem(ctx, "r2", "pa", 3000)
	if err != nil || r2.State != yield.RedemptionPending {
		t.Fatalf("r2: %+v, %v", r2, err)
	}
	before = e.snap("pa", "pb")
	_, err = e.vault.Redeem(ctx, "r3", "pa", 3001)
	e.refused("locked shares", before, err, yield.ErrLimit, "shares held",
		"pa", "pb")
	h, err := e.vault.Holding(ctx, "pa")
	if err != nil || h.Shares != 3000 || h.Locked != 3000 ||
		h.Value != 6000 {

		t.Fatalf("holding %+v, %v", h, err)
	}
}

// TestCancelRedeem checks that only a pending request is cancelled, by its
// provider or the operator, and that its shares come back.
func TestCancelRedeem(t *testing.T) {
	t.Parallel()
	e := newEnv(t, "pa", "pb")
	ctx := e.ctx
	e.earn("pa", 10_000)
	if _, err := e.vault.Stake(ctx, "s", "pa", 0, true); err != nil {
		t.Fatal(err)
	}
	done, err := e.vault.Redeem(ctx, "done", "pa", 1000)
	if err != nil || done.State != yield.RedemptionFinalized {
		t.Fatalf("done: %+v, %v", done, err)
	}
	e.allocate(8_000)
	r1, err := e.vault.Redeem(ctx, "r1", "pa", 2000)
	if err != nil || r1.State != yield.RedemptionPending {
		t.Fatalf("r1: %+v, %v", r1, err)
	}
	r2, err := e.vault.Redeem(ctx, "r2", "pa", 3000)
	if err != nil || r2.State != yield.RedemptionPending {
		t.Fatalf("r2: %+v, %v", r2, err)
	}

	before := e.snap("pa", "pb")
	refusals := []struct {
		name     string
		provider string
		id       int64
		want     error
	}{
		{"another provider's", "pb", r1.ID, yield.ErrNotOwner},
		{"finalized", "pa", done.ID, yield.ErrRedemptionState},
		{"unknown", "pa", r2.ID + 100, yield.ErrRedemptionNotFound},
	}
	for _, tc := range refusals {
		_, err := e.vault.CancelRedeem(ctx, tc.provider, tc.id)
		e.refused(tc.name, before, err, tc.want, "", "pa", "pb")
	}

	c, err := e.vault.CancelRedeem(ctx, "pa", r1.ID)
	if err != nil || c.State != yield.RedemptionCancelled ||
		c.CancelledAt.IsZero() {

		t.Fatalf("cancel: %+v, %v", c, err)
	}
	if s, l := e.units(ledger.ProviderShares("pa")),
		e.units(ledger.SharesLocked("pa")); s != 6000 || l != 3000 {

		t.Fatalf("shares %d, locked %d; want 6000, 3000", s, l)
	}
	before = e.snap("pa", "pb")
	_, err = e.vault.CancelRedeem(ctx, "pa", r1.ID)
	e.refused("cancelled twice", before, err, yield.ErrRedemptionState,
		"", "pa", "pb")

	// The operator cancels any provider's.
	c, err = e.vault.CancelRedeem(ctx, "", r2.ID)
	if err != nil || c.State != yield.RedemptionCancelled {
		t.Fatalf("operator's cancel: %+v, %v", c, err)
	}
	if s, l := e.units(ledger.ProviderShares("pa")),
		e.units(ledger.SharesLocked("pa")); s != 9000 || l != 0 {

		t.Fatalf("shares %d, locked %d; want 9000, 0", s, l)
	}
	pending, err := e.vault.Redemptions(ctx, yield.RedemptionFilter{
		States: []yield.RedemptionState{yield.RedemptionPending}})
	if err != nil || len(pending) != 0 {
		t.Fatalf("pending %+v, %v", pending, err)
	}
}

// TestRedemptionQueue checks first in, first out with head-of-line
// blocking: a small request behind one the vault cannot pay waits, and
// both are finalized in order once it can.
func TestRedemptionQueue(t *testing.T) {
	t.Parallel()
	e := newEnv(t, "pa", "pb")
	ctx := e.ctx
	for _, p := range []string{"pa", "pb"} {
		e.earn(p, 10_000)
		if _, err := e.vault.Stake(ctx, "s", p, 0, true); err != nil {
			t.Fatal(err)
		}
	}
	e.allocate(15_000)

	big, err := e.vault.Redeem(ctx, "big", "pa", 8000)
	if err != nil || big.State != yield.RedemptionPending {
		t.Fatalf("big: %+v, %v", big, err)
	}
	small, err := e.vault.Redeem(ctx, "small", "pb", 1000)
	if err != nil || small.State != yield.RedemptionPending {
		t.Fatalf("small behind big: %+v, %v", small, err)
	}
	if n, err := e.vault.FinalizeRedemptions(ctx); err != nil || n != 0 {
		t.Fatalf("finalized %d, %v; want 0", n, err)
	}
	st, err := e.vault.State(ctx)
	if err != nil || st.QueueLen != 2 || st.QueueShares != 9000 ||
		st.Queued != 9000 || st.Locked != 9000 || st.FloorMet {

		t.Fatalf("state %+v, %v", st, err)
	}

	e.allocate(-15_000)
	if n, err := e.vault.FinalizeRedemptions(ctx); err != nil || n != 2 {
		t.Fatalf("finalized %d, %v; want 2", n, err)
	}
	hist, err := e.ledger.History(ctx, ledger.Vault(), 0, 0)
	if err != nil {
		t.Fatal(err)
	}
	var order []string
	for _, h := range hist {
		if h.Amount < 0 && h.IdempotencyKey[:7] == "redeem:" {
			order = append(order, h.IdempotencyKey)
		}
	}
	want := []string{"redeem:" + itoa(big.ID), "redeem:" + itoa(small.ID)}
	if len(order) != 2 || order[0] != want[0] || order[1] != want[1] {
		t.Fatalf("finalized in order %v, want %v", order, want)
	}
	if p := e.msat(ledger.ProviderPayable("pb")); p != 1000 {
		t.Fatalf("pb's payable %v, want 1000", p)
	}
}

// TestRedemptionFloor checks the liquid floor: a request is finalized only
// when the idle assets after it stay at or above the floor of the NAV
// after it.
func TestRedemptionFloor(t *testing.T) {
	t.Parallel()
	e := newEnv(t, "pa")
	ctx := e.ctx
	e.earn("pa", 10_000)
	if _, err := e.vault.Stake(ctx, "s", "pa", 0, true); err != nil {
		t.Fatal(err)
	}
	e.allocate(2000)
	if _, err := e.vault.SetPolicy(ctx, 5000, nil); err != nil {
		t.Fatal(err)
	}

	steps := []struct {
		key    string
		shares ledger.Shares
		state  yield.RedemptionState
	}{
		// 8,000 idle − 4,000 ≥ ⌈50 % of 6,000⌉.
		{"a", 4000, yield.RedemptionFinalized},
		// 4,000 − 2,000 ≥ ⌈50 % of 4,000⌉: at the floor exactly.
		{"b", 2000, yield.RedemptionFinalized},
		// 2,000 − 1 < ⌈50 % of 3,999⌉.
		{"c", 1, yield.RedemptionPending},
	}
	for _, s := range steps {
		r, err := e.vault.Redeem(ctx, s.key, "pa", s.shares)
		if err != nil || r.State != s.state {
			t.Fatalf("%s: %+v, %v; want %s", s.key, r, err, s.state)
		}
	}
	st, err := e.vault.State(ctx)
	if err != nil || st.Floor != 2000 || !st.FloorMet || st.Idle != 2000 {
		t.Fatalf("state %+v, %v", st, err)
	}
}

// TestRedemptionPays checks that finalization pays min(requested,
// toAssets(shares) then): less after a loss, never more after a gain.
func TestRedemptionPays(t *testing.T) {
	t.Parallel()
	e := newEnv(t, "pa")
	ctx := e.ctx
	e.earn("pa", 10_000)
	if _, err := e.vault.Stake(ctx, "s", "pa", 0, true); err != nil {
		t.Fatal(err)
	}

	// After a loss: 5,000 of 10,000 units of 9,500 msat.
	e.allocate(9000)
	loss, err := e.vault.Redeem(ctx, "loss", "pa", 5000)
	if err != nil || loss.Requested != 5000 {
		t.Fatalf("loss: %+v, %v", loss, err)
	}
	e.lose(500)
	e.allocate(-9000)
	if n, err := e.vault.FinalizeRedemptions(ctx); err != nil || n != 1 {
		t.Fatalf("finalized %d, %v", n, err)
	}
	if r := e.redemption(loss.ID); r.Assets != 4750 {
		t.Fatalf("paid %v after the loss, want 4750", r.Assets)
	}

	// After a gain: 2,000 of 5,000 units asked 1,900 msat and get no
	// more, though they are worth 2,299 now.
	e.allocate(4700)
	gain, err := e.vault.Redeem(ctx, "gain", "pa", 2000)
	if err != nil || gain.Requested != 1900 ||
		gain.State != yield.RedemptionPending {

		t.Fatalf("gain: %+v, %v", gain, err)
	}
	e.gain(1000)
	e.allocate(-4700)
	if n, err := e.vault.FinalizeRedemptions(ctx); err != nil || n != 1 {
		t.Fatalf("finalized %d, %v", n, err)
	}
	if r := e.redemption(gain.ID); r.Assets != 1900 {
		t.Fatalf("paid %v after the gain, want 1900", r.Assets)
	}
	if p := e.msat(ledger.ProviderPayable("pa")); p != 4750+1900 {
		t.Fatalf("payable %v, want %v", p, 4750+1900)
	}
}

// TestShutdown checks that shutdown stops staking but not redemptions.
func TestShutdown(t *testing.T) {
	t.Parallel()
	e := newEnv(t, "pa")
	ctx := e.ctx
	e.earn("pa", 10_000)
	if _, err := e.vault.Stake(ctx, "s1", "pa", 5000, false); err != nil {
		t.Fatal(err)
	}
	p, err := e.vault.Shutdown(ctx, true)
	if err != nil || !p.Shutdown {
		t.Fatalf("shutdown: %+v, %v", p, err)
	}

	before := e.snap("pa")
	_, err = e.vault.Stake(ctx, "s2", "pa", 1000, false)
	e.refused("stake while shut down", before, err, yield.ErrShutdown, "",
		"pa")

	r, err := e.vault.Redeem(ctx, "r1", "pa", 1000)
	if err != nil || r.State != yield.RedemptionFinalized {
		t.Fatalf("redeem while shut down: %+v, %v", r, err)
	}
	e.allocate(3900)
	r, err = e.vault.Redeem(ctx, "r2", "pa", 1000)
	if err != nil || r.State != yield.RedemptionPending {
		t.Fatalf("pending redeem while shut down: %+v, %v", r, err)
	}
	if _, err := e.vault.CancelRedeem(ctx, "pa", r.ID); err != nil {
		t.Fatalf("cancel while shut down: %v", err)
	}

	// The floor policy keeps the switch.
	if p, err = e.vault.SetPolicy(ctx, 100, nil); err != nil ||
		!p.Shutdown {

		t.Fatalf("policy %+v, %v", p, err)
	}
	if _, err := e.vault.Shutdown(ctx, false); err != nil {
		t.Fatal(err)
	}
	if _, err := e.vault.Stake(ctx, "s2", "pa", 1000, false); err != nil {
		t.Fatalf("stake after the shutdown: %v", err)
	}
}

// TestSetPolicy checks the floor's range, the caps' strategies and that a
// cap cannot be set below what its strategy holds.
func TestSetPolicy(t *testing.T) {
	t.Parallel()
	e := newEnv(t, "pa")
	ctx := e.ctx
	e.earn("pa", 10_000)
	if _, err := e.vault.Stake(ctx, "s", "pa", 0, true); err != nil {
		t.Fatal(err)
	}
	e.allocate(3000)
	caps := func(name string, c ledger.MilliSatoshi) map[string]ledger.MilliSatoshi {
		return map[string]ledger.MilliSatoshi{name: c}
	}

	before := e.snap("pa")
	refusals := []struct {
		name  string
		floor uint32
		caps  map[string]ledger.MilliSatoshi
		want  error
		limit string
	}{
		{"floor above 100 %", 10_001, nil, yield.ErrInvalidPolicy, ""},
		{"unknown strategy", 0, caps("lending", 10),
			yield.ErrInvalidPolicy, ""},
		{"cap on reserve", 0, caps(yield.ReserveName, 10),
			yield.ErrInvalidPolicy, ""},
		{"negative cap", 0, caps("routing", -1),
			yield.ErrInvalidPolicy, ""},
		{"cap below allocated", 0, caps("routing", 2999),
			yield.ErrLimit, "cap of routing"},
	}
	for _, tc := range refusals {
		_, err := e.vault.SetPolicy(ctx, tc.floor, tc.caps)
		e.refused(tc.name, before, err, tc.want, tc.limit, "pa")
	}

	p, err := e.vault.SetPolicy(ctx, 10_000, caps("routing", 3000))
	if err != nil || p.FloorBPS != 10_000 || p.Caps["routing"] != 3000 ||
		p.UpdatedAt.IsZero() {

		t.Fatalf("policy %+v, %v", p, err)
	}
	if p, err = e.vault.SetPolicy(ctx, 0, nil); err != nil ||
		p.Caps != nil {

		t.Fatalf("caps not replaced: %+v, %v", p, err)
	}
}

// TestState checks the vault's figures with assets allocated, a gain, a
// pending redemption and a floor.
func TestState(t *testing.T) {
	t.Parallel()
	e := newEnv(t, "pa")
	ctx := e.ctx

	st, err := e.vault.State(ctx)
	if err != nil || st.Assets != 0 || st.Supply != 0 ||
		st.ShareValue != 1000 || st.ShareValueExact != "1000" ||
		!st.FloorMet || st.Epoch.Number != 0 {

		t.Fatalf("genesis state %+v, %v", st, err)
	}

	e.earn("pa", 10_000)
	if _, err := e.vault.Stake(ctx, "s", "pa", 0, true); err != nil {
		t.Fatal(err)
	}
	e.gain(5000)
	e.allocate(12_000)
	if err := e.vault.SetAutoStake(ctx, "pa", 25); err != nil {
		t.Fatal(err)
	}
	if _, err := e.vault.SetPolicy(ctx, 1000, nil); err != nil {
		t.Fatal(err)
	}
	r, err := e.vault.Redeem(ctx, "r", "pa", 4000)
	if err != nil || r.State != yield.RedemptionPending ||
		r.Requested != 5999 {

		t.Fatalf("redemption %+v, %v", r, err)
	}

	st, err = e.vault.State(ctx)
	if err != nil {
		t.Fatal(err)
	}
	want := yield.State{
		Assets: 15_000, Idle: 3000, Allocated: 12_000,
		Supply: 10_000, Locked: 4000,
		ShareValue:      1499,
		ShareValueExact: "1499.950004999500049995",
		Floor:           5999, FloorMet: false,
		QueueLen: 1, QueueShares: 4000, Queued: 5999,
		Policy: st.Policy,
		Strategies: map[string]ledger.MilliSatoshi{
			yield.ReserveName: 3000, "routing": 12_000,
		},
	}
	if st.Policy.FloorBPS != 1000 {
		t.Fatalf("policy %+v", st.Policy)
	}
	if !statesEqual(st, want) {
		t.Fatalf("state\n%+v\nwant\n%+v", st, want)
	}

	h, err := e.vault.Holding(ctx, "pa")
	if err != nil || h != (yield.Holding{ProviderID: "pa", Shares: 6000,
		Locked: 4000, Value: 14_999, AutoStake: 25}) {

		t.Fatalf("holding %+v, %v", h, err)
	}
}

// statesEqual compares two States.
func statesEqual(a, b yield.State) bool {
	return reflect.DeepEqual(a, b)
}

// itoa formats an id.
func itoa(id int64) string {
	return strconv.FormatInt(id, 10)
}
