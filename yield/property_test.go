package yield_test

import (
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/sluice-ln/sluice/ledger"
	"github.com/sluice-ln/sluice/yield"
	"pgregory.net/rapid"
)

// propProviders are the holders of the property test.
var propProviders = []string{"p0", "p1", "p2"}

// propModel is what the property test knows the vault must hold.
type propModel struct {
	// inflow is what came into the vault from outside its holders'
	// stakes: strategy gains and epoch rewards; loss what left it.
	gains  ledger.MilliSatoshi
	losses ledger.MilliSatoshi

	// fees is every platform fee the test charged.
	fees ledger.MilliSatoshi

	// usage numbers the charges.
	usage int

	// dust bounds what rounding in the vault's favour has moved to the
	// holders who stayed: each deposit, redemption or reward rounds
	// down by less than one unit's price (plus one msat) per request
	// it finalizes.
	dust ledger.MilliSatoshi
}

// addDust adds to m.dust what the next operation's rounding may leave to
// the others: one unit's price, rounded up, plus one msat, for it and for
// each request it may finalize.
func (m *propModel) addDust(e *env, rt *rapid.T, ops int) {
	st, err := e.vault.State(e.ctx)
	if err != nil {
		rt.Fatal(err)
	}
	unit, err := yield.MulDiv(1, uint64(st.Assets)+1,
		uint64(st.Supply)+yield.VirtualShares, yield.Ceil)
	if err != nil {
		rt.Fatal(err)
	}
	m.dust += ledger.MilliSatoshi(unit+1) *
		ledger.MilliSatoshi(ops+st.QueueLen)
}

// TestVaultProperties runs random sequences of stakes, auto-stakes and
// epoch rewards, redemptions, cancellations, finalizations, allocations
// and a strategy's yield and loss against a real store, and checks after
// each step that
//   - share units are conserved: the supply equals what the holders hold
//     and have locked, and each provider's locked units equal its pending
//     requests;
//   - msat are conserved: idle plus allocated equals what was staked,
//     gained and rewarded, less what was lost and paid out;
//   - no holder's value plus what its redemptions paid exceeds what it
//     staked plus all the yield and rewards and the rounding dust other
//     holders' operations left in the vault (propModel.dust), and all the
//     holders' together never exceed what they staked plus the yield and
//     rewards;
//   - a stake redeemed at once never asks for more than was staked.
func TestVaultProperties(t *testing.T) {
	t.Parallel()

	rapid.Check(t, func(rt *rapid.T) {
		e := newEnv(t, propProviders...)
		e.t = rt
		m := &propModel{}

		provider := rapid.SampledFrom(propProviders)
		amount := rapid.Int64Range(1, 50_000)
		steps := rapid.IntRange(1, 20).Draw(rt, "steps")
		for i := 0; i < steps; i++ {
			p := provider.Draw(rt, "provider")
			key := fmt.Sprintf("k%d", i)
			op := rapid.IntRange(0, 10).Draw(rt, "op")
			switch op {
			case 0, 1, 3, 4, 6, 9:
				m.addDust(e, rt, 1)

			case 2:
				m.addDust(e, rt, 2)
			}
			switch op {
			case 0, 1:
				propStake(e, p, key,
					ledger.MilliSatoshi(amount.Draw(rt, "amt")))

			case 2:
				propRoundTrip(e, p, key,
					ledger.MilliSatoshi(amount.Draw(rt, "amt")))

			case 3, 4:
				held := e.units(ledger.ProviderShares(p))
				if held == 0 {
					continue
				}
				s := rapid.Int64Range(1, int64(held)).Draw(rt,
					"shares")
				_, err := e.vault.Redeem(e.ctx, key, p,
					ledger.Shares(s))
				if err != nil {
					rt.Fatalf("redeem %d of %d: %v", s, held,
						err)
				}

			case 5:
				propCancel(e, rt, p)

			case 6:
				if _, err := e.vault.FinalizeRedemptions(
					e.ctx); err != nil {

					rt.Fatal(err)
				}

			case 7:
				propYield(e, rt, m)

			case 8:
				propAllocate(e, rt)

			case 9:
				propEarn(e, rt, m, p)

			case 10:
				down := rapid.Bool().Draw(rt, "shutdown")
				if _, err := e.vault.Shutdown(e.ctx,
					down); err != nil {

					rt.Fatal(err)
				}
				pct := rapid.Uint32Range(0, 100).Draw(rt, "pct")
				if err := e.vault.SetAutoStake(e.ctx, p,
					pct); err != nil {

					rt.Fatal(err)
				}
			}
			propCheck(e, rt, m)
		}
	})
}

// propStake earns amt for p and stakes it.
func propStake(e *env, p, key string, amt ledger.MilliSatoshi) {
	e.t.Helper()
	e.earn(p, amt)
	_, err := e.vault.Stake(e.ctx, key, p, amt, false)
	var le *yield.LimitError
	switch {
	case err == nil, errors.Is(err, yield.ErrShutdown):

	case errors.As(err, &le) && le.Limit == "one share unit":

	default:
		e.t.Fatalf("stake %v for %s: %v", amt, p, err)
	}
}

// propRoundTrip stakes amt and redeems the shares it bought at once: the
// request may never ask for, nor pay, more than amt.
func propRoundTrip(e *env, p, key string, amt ledger.MilliSatoshi) {
	e.t.Helper()
	e.earn(p, amt)
	res, err := e.vault.Stake(e.ctx, key, p, amt, false)
	if err != nil {
		return
	}
	r, err := e.vault.Redeem(e.ctx, key, p, res.Shares)
	if err != nil {
		e.t.Fatalf("redeem the %v just staked: %v", res.Shares, err)
	}
	if r.Requested > amt || r.Assets > amt {
		e.t.Fatalf("staked %v, redeeming at once asks %v and pays %v",
			amt, r.Requested, r.Assets)
	}
}

// propCancel cancels one of p's pending requests, if any.
func propCancel(e *env, rt *rapid.T, p string) {
	pending, err := e.vault.Redemptions(e.ctx, yield.RedemptionFilter{
		ProviderID: p,
		States:     []yield.RedemptionState{yield.RedemptionPending},
	})
	if err != nil {
		rt.Fatal(err)
	}
	if len(pending) == 0 {
		return
	}
	r := rapid.SampledFrom(pending).Draw(rt, "cancel")
	if _, err := e.vault.CancelRedeem(e.ctx, p, r.ID); err != nil {
		rt.Fatalf("cancel %d: %v", r.ID, err)
	}
}

// propYield lands a strategy's gain in the vault or takes a loss from its
// idle assets.
func propYield(e *env, rt *rapid.T, m *propModel) {
	idle := e.msat(ledger.Vault())
	if rapid.Bool().Draw(rt, "gain") || idle == 0 {
		amt := ledger.MilliSatoshi(rapid.Int64Range(1, 20_000).Draw(rt,
			"gain amt"))
		e.gain(amt)
		m.gains += amt
		return
	}
	amt := ledger.MilliSatoshi(rapid.Int64Range(1, int64(idle)).Draw(rt,
		"loss amt"))
	e.lose(amt)
	m.losses += amt
}

// propAllocate moves idle assets to the strategy or back.
func propAllocate(e *env, rt *rapid.T) {
	idle := e.msat(ledger.Vault())
	held := e.msat(ledger.StrategyPrincipal("routing"))
	if held > 0 && (idle == 0 || rapid.Bool().Draw(rt, "back")) {
		e.allocate(-ledger.MilliSatoshi(rapid.Int64Range(1,
			int64(held)).Draw(rt, "deallocate")))
		return
	}
	if idle > 0 {
		e.allocate(ledger.MilliSatoshi(rapid.Int64Range(1,
			int64(idle)).Draw(rt, "allocate")))
	}
}

// propEarn charges usage for p as metering does (its part to its payable,
// the fee to the platform, the vault told in the same transaction), and
// sometimes lets the epoch close, which rewards the vault's holders.
func propEarn(e *env, rt *rapid.T, m *propModel, p string) {
	earned := ledger.MilliSatoshi(rapid.Int64Range(0, 20_000).Draw(rt,
		"earned"))
	fee := ledger.MilliSatoshi(rapid.Int64Range(0, 20_000).Draw(rt,
		"fee"))
	m.usage++
	key := fmt.Sprintf("usage:job:%d", m.usage)
	err := e.db.ExecVault(e.ctx, false, func(tx yield.VaultTx) error {
		var postings []ledger.Posting
		if earned > 0 {
			postings = append(postings, ledger.Posting{
				Account: ledger.ProviderPayable(p), Amount: earned})
		}
		if fee > 0 {
			postings = append(postings, ledger.Posting{
				Account: ledger.PlatformFees(), Amount: fee})
		}
		if len(postings) > 0 {
			postings = append(postings, ledger.Posting{
				Account: ledger.HubHoldings(),
				Amount:  -(earned + fee)})
			_, err := e.ledger.PostTx(e.ctx, tx.Ledger(),
				ledger.Transaction{IdempotencyKey: key,
					Postings: postings})
			if err != nil {
				return err
			}
		}
		return e.vault.Earned(e.ctx, tx, yield.Earning{Key: key,
			JobID: "job", ProviderID: p, Seconds: 1,
			Earned: earned, Fee: fee})
	})
	if err != nil {
		rt.Fatalf("charge %s: %v", key, err)
	}
	m.fees += fee

	if rapid.Bool().Draw(rt, "close") {
		e.clock.SetTime(e.clock.Now().Add(time.Hour))
		if _, _, err := e.vault.CloseDueEpoch(e.ctx); err != nil {
			rt.Fatalf("close: %v", err)
		}
	}
}

// propCheck checks the invariants.
func propCheck(e *env, rt *rapid.T, m *propModel) {
	rewards := m.fees - e.msat(ledger.PlatformFees())
	inflow := m.gains + rewards

	rs, err := e.vault.Redemptions(e.ctx, yield.RedemptionFilter{})
	if err != nil {
		rt.Fatal(err)
	}
	paid := map[string]ledger.MilliSatoshi{}
	pendingUnits := map[string]ledger.Shares{}
	var paidTotal ledger.MilliSatoshi
	for _, r := range rs {
		switch r.State {
		case yield.RedemptionFinalized:
			paid[r.ProviderID] += r.Assets
			paidTotal += r.Assets
			if r.Assets > r.Requested {
				rt.Fatalf("redemption %d paid %v, asked %v",
					r.ID, r.Assets, r.Requested)
			}

		case yield.RedemptionPending:
			pendingUnits[r.ProviderID] += r.Shares
		}
	}

	var held ledger.Shares
	var staked, outs ledger.MilliSatoshi
	for _, p := range propProviders {
		locked := e.units(ledger.SharesLocked(p))
		if locked != pendingUnits[p] {
			rt.Fatalf("%s has %d units locked, %d in pending "+
				"requests", p, locked, pendingUnits[p])
		}
		held += e.units(ledger.ProviderShares(p)) + locked

		in := stakedBy(e, rt, p)
		staked += in
		h, err := e.vault.Holding(e.ctx, p)
		if err != nil {
			rt.Fatal(err)
		}
		out := h.Value + paid[p]
		outs += out
		if out > in+inflow+m.dust {
			rt.Fatalf("%s staked %v, holds %v and was paid %v, "+
				"with %v of yield and rewards and %v of dust",
				p, in, h.Value, paid[p], inflow, m.dust)
		}
	}
	if outs > staked+inflow {
		rt.Fatalf("holders staked %v and hold and were paid %v, with "+
			"%v of yield and rewards", staked, outs, inflow)
	}
	if supply := -e.units(ledger.ShareSupply()); supply != held {
		rt.Fatalf("supply %d units, holders hold %d", supply, held)
	}

	st, err := e.vault.State(e.ctx)
	if err != nil {
		rt.Fatal(err)
	}
	want := staked + inflow - m.losses - paidTotal
	if st.Assets != want || st.Idle+st.Allocated != st.Assets {
		rt.Fatalf("assets %v (idle %v, allocated %v), want %v = "+
			"staked %v + inflow %v - losses %v - paid %v",
			st.Assets, st.Idle, st.Allocated, want, staked, inflow,
			m.losses, paidTotal)
	}
}

// stakedBy is what p moved from its payable into the vault, by hand or by
// auto-stake, read off the ledger.
func stakedBy(e *env, rt *rapid.T, p string) ledger.MilliSatoshi {
	hist, err := e.ledger.History(e.ctx, ledger.ProviderPayable(p), 0, 0)
	if err != nil {
		rt.Fatal(err)
	}
	var in ledger.MilliSatoshi
	for _, h := range hist {
		if strings.HasPrefix(h.IdempotencyKey, "stake:") ||
			strings.HasPrefix(h.IdempotencyKey, "autostake:") {

			in -= h.Amount
		}
	}
	return in
}
