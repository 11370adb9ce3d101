package settlement_test

import (
	"errors"
	"strings"
	"testing"

	"github.com/sluice-ln/sluice/channels"
	"github.com/sluice-ln/sluice/ledger"
	"github.com/sluice-ln/sluice/lightning"
	"github.com/sluice-ln/sluice/settlement"
)

// resultEnv is an env whose route costs 5 msat and whose refunds pay 3 of
// it, with a buyer node for keysend refunds.
func resultEnv(t *testing.T) (*env, key) {
	t.Helper()
	e := newEnv(t)
	e.hub.RouteFee = 5
	e.hub.PayOutcome = func(p lightning.Payment) lightning.PaymentResult {
		return lightning.PaymentResult{Succeeded: true, Amount: p.Amount,
			Fee: 3}
	}
	return e, newKey(t)
}

// startedWorkload makes a 10 msat/s job with a workload and refund node
// buyer, funds its budget, starts it and charges used.
func (e *env) startedWorkload(buyer key, budget,
	used ledger.MilliSatoshi) settlement.Status {

	e.t.Helper()
	st, err := e.m.CreateJob(e.ctx, settlement.CreateJobRequest{
		BuyerID: e.buyer, ProviderID: e.prov.ID,
		Spec:   settlement.Spec{channels.ResourceCPU: 1000},
		Budget: budget, BufferSeconds: 1,
		Workload:   &settlement.Workload{Argv: []string{"true"}},
		RefundNode: buyer.node, HasRefundNode: true,
	})
	if err != nil {
		e.t.Fatal(err)
	}
	e.fund(st, 0)
	if _, err := e.startJob(st.ID); err != nil {
		e.t.Fatal(err)
	}
	if used > 0 {
		if _, err := e.charge(st.ID, used, "usage:"+st.ID); err != nil {
			e.t.Fatal(err)
		}
	}
	return e.get(st.ID)
}

// ends counts a job's transitions to ended.
func ends(st settlement.Status) int {
	n := 0
	for _, ev := range st.Events {
		if ev.To == settlement.StateEnded {
			n++
		}
	}
	return n
}

// wantRefunded checks that the job's one refund paid the escrow it had
// when it ended (before) less the 5 msat quoted, that the ledger moved it
// under the refund's key, and that what the fee limit reserved beyond the
// 3 msat paid stays in escrow.
func (e *env) wantRefunded(id string, before ledger.MilliSatoshi,
	buyer key) {

	e.t.Helper()
	r := e.waitRefund(id)
	if r.State != settlement.RefundSucceeded || r.Amount != before-5 ||
		r.FeeLimit != 5 || r.Fee != 3 || r.Dest != buyer.node {

		e.t.Fatalf("refund %+v; escrow was %d msat", r, before)
	}
	st := e.get(id)
	if len(st.Refunds) != 1 || st.Refunded != before-5 ||
		st.Solvency.Escrow != 2 {

		e.t.Fatalf("after the refund: %d refunds, refunded %d, escrow "+
			"%d", len(st.Refunds), st.Refunded, st.Solvency.Escrow)
	}
	h := e.history(ledger.Refunded(id))
	if len(h) != 1 || h[0].IdempotencyKey != "refund:"+r.PaymentHash ||
		h[0].Amount != before-5 {

		e.t.Fatalf("refunded history %+v", h)
	}
}

// TestResultEndsJob submits the result of a running job that has an open
// top-up invoice: the job ends as ended_by_provider in the result's
// transaction, the invoice is canceled and the rest of the escrow is
// refunded to the buyer's node. The result sent again (an agent whose
// answer was lost) ends nothing and refunds nothing; the job takes no
// more usage.
func TestResultEndsJob(t *testing.T) {
	e, buyer := resultEnv(t)
	e.start(e.m)
	st := e.startedWorkload(buyer, 10_000, 2_345)
	top, err := e.m.TopUpJob(e.ctx, st.ID, 500)
	if err != nil {
		t.Fatal(err)
	}
	before := e.get(st.ID)
	if before.State != settlement.StateRunning ||
		before.Solvency.Escrow != 7_655 {

		t.Fatalf("before the result: %s, escrow %d", before.State,
			before.Solvency.Escrow)
	}

	r := result(0, "done\n")
	info, err := e.m.SubmitResult(e.ctx, st.ID, e.prov.ID, r)
	if err != nil {
		t.Fatal(err)
	}
	got := e.get(st.ID)
	ev := got.Events[len(got.Events)-1]
	if got.State != settlement.StateEnded || got.EndedAt.IsZero() ||
		ev.From != settlement.StateRunning ||
		ev.Cause != settlement.CauseEndedByProvider ||
		!strings.HasPrefix(ev.Detail, "result: exit 0") ||
		got.Result == nil || *got.Result != info {

		t.Fatalf("after the result: %s, last event %+v, result %+v",
			got.State, ev, got.Result)
	}
	if inv := e.hub.Invoice(hashOf(t, top)); inv.State !=
		lightning.InvoiceCanceled {

		t.Fatalf("top-up invoice is %v, want canceled", inv.State)
	}
	e.wantRefunded(st.ID, before.Solvency.Escrow, buyer)

	// Sent again: the same answer, one end, one refund, one payment.
	again, err := e.m.SubmitResult(e.ctx, st.ID, e.prov.ID, r)
	if err != nil || again != info {
		t.Fatalf("again = %+v, %v; want %+v", again, err, info)
	}
	got = e.get(st.ID)
	if ends(got) != 1 || len(got.Refunds) != 1 ||
		e.hub.Calls("Pay") != 1 {

		t.Fatalf("after the result again: %d ends, %d refunds, %d "+
			"payments", ends(got), len(got.Refunds),
			e.hub.Calls("Pay"))
	}

	// Usage after the end: the job takes none.
	_, err = e.startJob(st.ID)
	wantErr(t, "start after the result", err, settlement.ErrJobEnded)
	if got.State.TakesUsage() {
		t.Fatalf("ended job takes usage")
	}
}

// TestResultOfEndedJob ends a running job as its buyer before its result
// comes: the result is kept, and neither ends the job again nor sends a
// second refund.
func TestResultOfEndedJob(t *testing.T) {
	e, buyer := resultEnv(t)
	e.start(e.m)
	st := e.startedWorkload(buyer, 4_000, 1_000)
	_, err := e.m.EndJob(e.ctx, settlement.EndJobRequest{JobID: st.ID,
		By: settlement.CauseEndedByBuyer})
	if err != nil {
		t.Fatal(err)
	}
	e.wantRefunded(st.ID, 3_000, buyer)

	killed := settlement.Result{ExitCode: -1, Signal: "SIGKILL",
		Reason: "the job ended", Output: []byte("part"),
		OutputSHA256: result(0, "part").OutputSHA256}
	if _, err := e.m.SubmitResult(e.ctx, st.ID, e.prov.ID,
		killed); err != nil {

		t.Fatal(err)
	}
	got := e.get(st.ID)
	last := got.Events[len(got.Events)-1]
	if got.Result == nil || got.Result.Signal != "SIGKILL" ||
		ends(got) != 1 || last.Cause != settlement.CauseEndedByBuyer ||
		len(got.Refunds) != 1 || e.hub.Calls("Pay") != 1 {

		t.Fatalf("result after the end: %+v, %d ends (last %+v), %d "+
			"refunds", got.Result, ends(got), last,
			len(got.Refunds))
	}
}

// errCrash is the panic a test's failpoint hook throws for a crash.
var errCrash = errors.New("crash")

// TestResultCrashBeforeRefund crashes sluiced after the result and the
// end it brought are committed, before the refund is recorded: after the
// restart the job is ended and owes its buyer, a result sent again by the
// agent (which got no answer) is taken without acting, and the sweeper
// refunds the job RefundRetry after it ended, once.
func TestResultCrashBeforeRefund(t *testing.T) {
	e, buyer := resultEnv(t)
	crashing := e.newManager()
	crashing.SetHit(func(name string) {
		if name == settlement.FailpointResultAfterEnd {
			panic(errCrash)
		}
	})
	e.m = crashing
	e.start(crashing)
	st := e.startedWorkload(buyer, 6_000, 500)
	r := result(3, "failed\n")
	func() {
		defer func() {
			if p := recover(); p != errCrash {
				t.Fatalf("SubmitResult did not crash: %v", p)
			}
		}()
		_, _ = crashing.SubmitResult(e.ctx, st.ID, e.prov.ID, r)
	}()
	crashing.Stop()
	if got := e.get(st.ID); got.State != settlement.StateEnded ||
		len(got.Refunds) != 0 || got.Solvency.Escrow != 5_500 {

		t.Fatalf("after the crash: %s, refunds %+v, escrow %d",
			got.State, got.Refunds, got.Solvency.Escrow)
	}

	e.m = e.newManager()
	e.start(e.m)
	if _, err := e.m.SubmitResult(e.ctx, st.ID, e.prov.ID, r); err != nil {
		t.Fatalf("the result again after the restart: %v", err)
	}
	e.m.SweepNow(e.ctx, t)
	if got := e.get(st.ID); len(got.Refunds) != 0 || ends(got) != 1 {
		t.Fatalf("before RefundRetry: %d refunds, %d ends",
			len(got.Refunds), ends(got))
	}
	e.clock.Advance(settlement.DefaultRefundRetry)
	e.m.SweepNow(e.ctx, t)
	e.wantRefunded(st.ID, 5_500, buyer)
	if n := e.hub.Calls("Pay"); n != 1 {
		t.Fatalf("Pay called %d times, want 1", n)
	}
}
