package payout_test

import (
	"context"
	"fmt"
	"path/filepath"
	"testing"

	"github.com/lightningnetwork/lnd/lntypes"
	"github.com/lightningnetwork/lnd/lnwire"
	"github.com/lightningnetwork/lnd/routing/route"
	"github.com/sluice-ln/sluice/ledger"
	"github.com/sluice-ln/sluice/lightning"
	"github.com/sluice-ln/sluice/payout"
	"github.com/sluice-ln/sluice/payout/payouttest"
	"github.com/sluice-ln/sluice/store"
	"pgregory.net/rapid"
)

// crashPoints are where a property run may kill the executor: nowhere, or
// at one of its failpoints.
var crashPoints = []string{"", payout.FailpointAfterIntent, payout.FailpointAfterSend,
	payout.FailpointAfterSuccess}

// allSteps are every answer the fake lnd can give a send.
var allSteps = []payouttest.Step{payouttest.Succeed, payouttest.Fail,
	payouttest.Refuse, payouttest.Drop, payouttest.HangSucceed,
	payouttest.HangFail}

// TestPaidAtMostOnceProperty runs random interleavings of earnings,
// payouts, crashes at every failpoint, restarts that resume pending
// payouts, and lnd answers of every kind (success, failure, refusal, a
// stream broken before or after lnd took the payment, tracking that
// breaks), against a fake lnd that, like lnd, takes one payment per hash.
// After every step: no payout was sent under two hashes, a payout the
// ledger calls failed was not paid by lnd, what the ledger calls paid out
// was paid by lnd, and money is conserved. At the end, once lnd has
// resolved everything and a restart has resumed every pending payout, the
// ledger's paid out and routing fees equal what lnd paid, to the
// millisatoshi, and nothing is in flight.
func TestPaidAtMostOnceProperty(t *testing.T) {
	dir := t.TempDir()
	run := 0

	rapid.Check(t, func(rt *rapid.T) {
		run++
		db, err := store.Open(context.Background(), store.Config{
			Backend: store.SQLite,
			SQLitePath: filepath.Join(dir,
				fmt.Sprintf("run%d.db", run)),
		})
		if err != nil {
			rt.Fatal(err)
		}
		defer db.Close()

		e := envOver(t, db)
		if rapid.Bool().Draw(rt, "directToA") {
			e.lnd.SetDirect(nodeA)
		}
		p := &propRun{rt: rt, e: e, ex: e.newExecutor(),
			credited: map[string]ledger.MilliSatoshi{}}

		steps := rapid.IntRange(1, 30).Draw(rt, "steps")
		for i := 0; i < steps; i++ {
			switch rapid.SampledFrom([]string{"earn", "fees",
				"pay", "pay", "pay", "restart", "lnd-resolves",
			}).Draw(rt, "action") {

			case "earn":
				p.earn()
			case "fees":
				amt := ledger.MilliSatoshi(rapid.Int64Range(1,
					20_000).Draw(rt, "fees"))
				e.fees(amt)
				p.fees += amt
			case "pay":
				p.pay()
			case "restart":
				p.restart()
			case "lnd-resolves":
				e.lnd.ResolveAll()
			}
			p.check(false)
		}

		// lnd finishes what it has; a clean restart resumes the rest.
		e.lnd.ResolveAll()
		p.ex = e.newExecutor()
		for _, id := range e.pending() {
			if _, err := p.ex.Resume(context.Background(),
				id); err != nil {

				rt.Fatalf("final resume of %s: %v", id, err)
			}
		}
		p.check(true)
	})
}

// propRun is one run of the property.
type propRun struct {
	rt *rapid.T
	e  *env
	ex *payout.Executor

	// credited is what each provider earned; fees what the platform
	// got.
	credited map[string]ledger.MilliSatoshi
	fees     ledger.MilliSatoshi
	jobs     int
}

// provider draws a provider.
func (p *propRun) provider() string {
	return rapid.SampledFrom([]string{"pa", "pb"}).Draw(p.rt, "provider")
}

// earn credits a provider from a new job.
func (p *propRun) earn() {
	prov := p.provider()
	amt := ledger.MilliSatoshi(rapid.Int64Range(1, 500_000).Draw(p.rt,
		"earned"))
	p.jobs++
	p.e.earn(prov, fmt.Sprintf("job%d", p.jobs), amt)
	p.credited[prov] += amt
}

// crashMaybe arms a crash at a drawn point of ex; it returns the context
// to run ex with and whether the crash happened, to call afterwards.
func (p *propRun) crashMaybe(ex *payout.Executor) (context.Context, func() bool) {
	point := rapid.SampledFrom(crashPoints).Draw(p.rt, "crash")
	ctx, cancel := context.WithCancel(context.Background())
	ex.SetHook(func(string) {})
	if point != "" {
		crashAt(ex, point, cancel)
	}
	return ctx, func() bool {
		crashed := ctx.Err() != nil
		cancel()
		return crashed
	}
}

// pay makes one payout with a drawn lnd answer and perhaps a crash.
func (p *propRun) pay() {
	prov := p.provider()
	pol := payout.TestPolicy()
	pol.FeePayer = rapid.SampledFrom([]payout.FeePayer{payout.FeePayerProvider,
		payout.FeePayerPlatform}).Draw(p.rt, "payer")
	p.e.lnd.SetFee(lnwire.MilliSatoshi(rapid.Int64Range(0,
		2_000).Draw(p.rt, "fee")))
	p.e.lnd.Script(rapid.SliceOfN(rapid.SampledFrom(allSteps), 1,
		3).Draw(p.rt, "lnd")...)
	p.e.lnd.BreakTracks(rapid.IntRange(0, 2).Draw(p.rt, "trackBreaks"))

	ctx, crashed := p.crashMaybe(p.ex)
	_, _ = p.ex.Pay(ctx, p.e.candidate(prov), pol)
	if crashed() {
		p.ex = p.e.newExecutor()
	}
	p.e.lnd.Unscript()
	p.e.lnd.BreakTracks(0)
}

// restart starts a new executor, as sluiced does after a crash, and
// resumes every pending payout, each perhaps crashing again.
func (p *propRun) restart() {
	p.ex = p.e.newExecutor()
	p.e.lnd.Script(rapid.SliceOfN(rapid.SampledFrom(allSteps), 0,
		2).Draw(p.rt, "lnd")...)
	for _, id := range p.e.pending() {
		ctx, crashed := p.crashMaybe(p.ex)
		_, _ = p.ex.Resume(ctx, id)
		if crashed() {
			p.ex = p.e.newExecutor()
		}
	}
	p.e.lnd.Unscript()
}

// check tests the invariants; final adds the exact reconciliation that
// holds once nothing is pending.
func (p *propRun) check(final bool) {
	rt, e := p.rt, p.e

	stored := map[string]store.Payout{}
	for _, sp := range e.payouts() {
		stored[sp.ID] = sp
	}

	// Each lnd payment belongs to one stored payout, under its hash,
	// and no payout went out under two hashes.
	seen := map[string]lntypes.Hash{}
	paidTo := map[route.Vertex]ledger.MilliSatoshi{}
	var lndFees ledger.MilliSatoshi
	for _, pay := range e.lnd.Payments() {
		id := string(pay.Keysend.Records[lightning.PayoutIDRecord])
		hash := pay.Keysend.Preimage.Hash()
		if prev, ok := seen[id]; ok {
			rt.Fatalf("payout %s sent under %v and %v", id, prev,
				hash)
		}
		seen[id] = hash
		sp, ok := stored[id]
		if !ok || sp.PaymentHash != hash.String() {
			rt.Fatalf("lnd payment %v names payout %q, which "+
				"the store does not have with that hash", hash,
				id)
		}
		if pay.Status == payouttest.Succeeded {
			if sp.State == store.PayoutFailed {
				rt.Fatalf("payout %s is failed in the store "+
					"but lnd paid it", id)
			}
			paidTo[pay.Keysend.Dest] += ledger.MilliSatoshi(
				pay.Keysend.Amount)
			lndFees += ledger.MilliSatoshi(pay.Fee)
		}
	}

	// What the ledger and store call paid, lnd paid.
	var total, routing, inFlight ledger.MilliSatoshi
	for prov, node := range map[string]route.Vertex{"pa": nodeA,
		"pb": nodeB} {

		b := e.balances(prov)
		var succeeded ledger.MilliSatoshi
		for _, sp := range stored {
			if sp.ProviderID == prov &&
				sp.State == store.PayoutSucceeded {

				succeeded += sp.Amount
			}
		}
		if b.PaidOut != succeeded {
			rt.Fatalf("%s: paid out %v, succeeded payouts %v", prov,
				b.PaidOut, succeeded)
		}
		if b.PaidOut > paidTo[node] {
			rt.Fatalf("%s: ledger paid out %v, lnd paid %v", prov,
				b.PaidOut, paidTo[node])
		}
		if final && b.PaidOut != paidTo[node] {
			rt.Fatalf("%s: at the end the ledger paid out %v, lnd "+
				"paid %v", prov, b.PaidOut, paidTo[node])
		}
		total += b.Payable + b.InFlight + b.PaidOut
		inFlight += b.InFlight
		routing = b.Routing
	}

	// Money is conserved: what was earned and given in fees is in
	// payable, in flight, paid out, routing fees or platform fees.
	var credited ledger.MilliSatoshi
	for _, c := range p.credited {
		credited += c
	}
	platform := e.balance(ledger.PlatformFees())
	if total+routing+platform != credited+p.fees {
		rt.Fatalf("money not conserved: providers %v + routing %v + "+
			"platform %v != earned %v + fees %v", total, routing,
			platform, credited, p.fees)
	}

	if final {
		if pend := e.pending(); len(pend) != 0 {
			rt.Fatalf("pending after the final resume: %v", pend)
		}
		if inFlight != 0 {
			rt.Fatalf("%v still in flight at the end", inFlight)
		}
		if routing != lndFees {
			rt.Fatalf("routing fees %v, lnd's fees %v", routing,
				lndFees)
		}
	}
}
