package settlement_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/btcsuite/btcd/chaincfg"
	"github.com/lightningnetwork/lnd/lnwire"
	"github.com/sluice-ln/sluice/ledger"
	"github.com/sluice-ln/sluice/lightning"
	"github.com/sluice-ln/sluice/settlement"
	"github.com/sluice-ln/sluice/settlement/settlementtest"
)

// TestCheckRefundInvoice checks each way a refund invoice is refused, each
// with its own error, and the ones accepted.
func TestCheckRefundInvoice(t *testing.T) {
	e := newEnv(t)
	buyer := newKey(t)
	now := e.clock.Now()
	regtest := &chaincfg.RegressionNetParams

	good, _ := buyer.invoice(t, regtest, 0, now, time.Hour)
	withAmt, _ := buyer.invoice(t, regtest, 5000, now, time.Hour)
	expired, _ := buyer.invoice(t, regtest, 0, now.Add(-2*time.Hour),
		time.Hour)
	soon, _ := buyer.invoice(t, regtest, 0, now, 10*time.Second)
	mainnet, _ := buyer.invoice(t, &chaincfg.MainNetParams, 0, now,
		time.Hour)
	testnet, _ := buyer.invoice(t, &chaincfg.TestNet3Params, 0, now,
		time.Hour)
	hubs, _ := e.hubKey.invoice(t, regtest, 0, now, time.Hour)
	// The last character changed, always to another one.
	badSum := good[:len(good)-1] + "q"
	if strings.HasSuffix(good, "q") {
		badSum = good[:len(good)-1] + "p"
	}

	tests := []struct {
		name    string
		payReq  string
		want    error
		says    string
		amount  lnwire.MilliSatoshi
		hasDest bool
	}{
		{"zero amount", good, nil, "", 0, true},
		{"with amount", withAmt, nil, "", 5000, true},
		{"expired", expired, settlement.ErrRefundInvoiceExpired,
			"expires at", 0, false},
		{"expires too soon", soon, settlement.ErrRefundInvoiceExpired,
			"less than 30s", 0, false},
		{"mainnet", mainnet, settlement.ErrRefundWrongNetwork,
			"for mainnet, the hub is on regtest", 0, false},
		{"testnet", testnet, settlement.ErrRefundWrongNetwork,
			"for testnet", 0, false},
		{"garbage", "lnbcrt1garbage",
			settlement.ErrRefundInvoiceMalformed, "decode", 0, false},
		{"empty", "", settlement.ErrRefundInvoiceMalformed, "", 0,
			false},
		{"bad checksum", badSum,
			settlement.ErrRefundInvoiceMalformed, "", 0, false},
		{"the hub's own", hubs, settlement.ErrRefundToHub, "hub", 0,
			false},
	}
	for _, tc := range tests {
		pr, err := e.m.CheckRefundInvoice(tc.payReq)
		if tc.want == nil {
			if err != nil || pr.Amount != tc.amount ||
				pr.Destination != buyer.node {

				t.Errorf("%s: %+v, %v", tc.name, pr, err)
			}
			continue
		}
		if !errors.Is(err, tc.want) ||
			!errors.Is(err, settlement.ErrInvalidRefund) ||
			!strings.Contains(err.Error(), tc.says) {

			t.Errorf("%s: err = %v, want %v saying %q", tc.name,
				err, tc.want, tc.says)
		}
	}

	// The amount: zero takes any refund, else exactly the refund.
	pr, err := e.m.CheckRefundInvoice(withAmt)
	if err != nil {
		t.Fatal(err)
	}
	amounts := []struct {
		refund, escrow, fee ledger.MilliSatoshi
		ok                  bool
	}{
		{5000, 5000, 0, true},
		{5000, 5003, 3, true},
		{4999, 5000, 1, false},
		{5001, 5001, 0, false},
	}
	for _, a := range amounts {
		err := settlement.CheckRefundAmount(pr, a.refund, a.escrow,
			a.fee)
		if (err == nil) != a.ok {
			t.Errorf("refund %d: err = %v", a.refund, err)
		}
		if err != nil && (!errors.Is(err,
			settlement.ErrRefundAmountMismatch) ||
			!strings.Contains(err.Error(), fmt.Sprintf(
				"the refund is %d msat", a.refund))) {

			t.Errorf("refund %d: err = %v", a.refund, err)
		}
	}
	zero, err := e.m.CheckRefundInvoice(good)
	if err != nil {
		t.Fatal(err)
	}
	if err := settlement.CheckRefundAmount(zero, 1, 1, 0); err != nil {
		t.Errorf("zero-amount invoice: %v", err)
	}
}

// runningJob makes, funds and starts a job and charges it, leaving escrow
// in it.
func (e *env) runningJob(budget, used ledger.MilliSatoshi) settlement.Status {
	e.t.Helper()
	st := e.create(budget, 0)
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

// waitRefund waits until the job's last refund is no longer pending.
func (e *env) waitRefund(id string) settlement.Refund {
	e.t.Helper()
	var r settlement.Refund
	e.eventually("the refund to end", func() error {
		st := e.get(id)
		if len(st.Refunds) == 0 {
			return errors.New("no refund")
		}
		r = st.Refunds[len(st.Refunds)-1]
		if r.State == settlement.RefundPending {
			return errors.New("pending")
		}
		return nil
	})
	return r
}

// TestRefundByKeysend ends a running job with the buyer's node: the rest of
// the escrow goes back by keysend, and the ledger moves it escrow →
// refunded under its own key.
func TestRefundByKeysend(t *testing.T) {
	e := newEnv(t)
	e.start(e.m)
	buyer := newKey(t)
	st := e.runningJob(10_000, 2_345)

	end, err := e.m.EndJob(e.ctx, settlement.EndJobRequest{
		JobID: st.ID, By: settlement.CauseEndedByBuyer,
		RefundTo: settlement.RefundTo{Node: buyer.node, HasNode: true},
	})
	if err != nil {
		t.Fatal(err)
	}
	if end.State != settlement.StateEnded || end.EndedAt.IsZero() ||
		len(end.Refunds) != 1 {

		t.Fatalf("ended: %s, refunds %+v", end.State, end.Refunds)
	}
	r := e.waitRefund(st.ID)
	if r.State != settlement.RefundSucceeded || r.Amount != 7_655 ||
		r.Method != settlement.RefundByKeysend || r.Dest != buyer.node {

		t.Fatalf("refund: %+v", r)
	}
	if len(e.hub.Sent) != 1 || e.hub.Sent[0].Amount != 7_655 ||
		e.hub.Sent[0].Dest != buyer.node ||
		e.hub.Sent[0].Preimage.Hash().String() != r.PaymentHash {

		t.Fatalf("sent: %+v", e.hub.Sent)
	}
	got := e.get(st.ID)
	if got.Solvency.Escrow != 0 || got.Refunded != 7_655 {
		t.Fatalf("after the refund: escrow %d, refunded %d",
			got.Solvency.Escrow, got.Refunded)
	}
	h := e.history(ledger.Refunded(st.ID))
	if len(h) != 1 || h[0].IdempotencyKey != "refund:"+r.PaymentHash {
		t.Fatalf("refunded history: %+v", h)
	}

	// Ending it again: nothing left, nothing to do.
	_, err = e.m.EndJob(e.ctx, settlement.EndJobRequest{JobID: st.ID,
		By: settlement.CauseEndedByBuyer,
		RefundTo: settlement.RefundTo{Node: buyer.node,
			HasNode: true}})
	wantErr(t, "second end", err, settlement.ErrJobEnded)
	_, err = e.startJob(st.ID)
	wantErr(t, "start after the end", err, settlement.ErrJobEnded)
}

// TestRefundFee makes the route cost 5 msat: the refund is the escrow less
// 5, with a fee limit of 5; the payment costs 3, and 2 stay in escrow.
func TestRefundFee(t *testing.T) {
	e := newEnv(t)
	e.start(e.m)
	e.hub.RouteFee = 5
	e.hub.PayOutcome = func(p lightning.Payment) lightning.PaymentResult {
		return lightning.PaymentResult{Succeeded: true, Amount: p.Amount,
			Fee: 3}
	}
	buyer := newKey(t)
	st := e.runningJob(1000, 0)
	_, err := e.m.EndJob(e.ctx, settlement.EndJobRequest{JobID: st.ID,
		By: settlement.CauseEndedByProvider,
		RefundTo: settlement.RefundTo{Node: buyer.node,
			HasNode: true}})
	if err != nil {
		t.Fatal(err)
	}
	r := e.waitRefund(st.ID)
	if r.Amount != 995 || r.FeeLimit != 5 || r.Fee != 3 ||
		e.hub.Sent[0].FeeLimit != 5 {

		t.Fatalf("refund %+v, sent %+v", r, e.hub.Sent[0])
	}
	got := e.get(st.ID)
	if got.Solvency.Escrow != 2 || got.Refunded != 995 ||
		e.balance(ledger.RoutingFees()) != 3 {

		t.Fatalf("escrow %d, refunded %d", got.Solvency.Escrow,
			got.Refunded)
	}
	ev := got.Events[len(got.Events)-1]
	if ev.Cause != settlement.CauseEndedByProvider {
		t.Fatalf("end event %+v", ev)
	}
}

// TestRefundByInvoice refunds to a zero-amount invoice, and refuses one
// for the wrong amount after the job ended (the error says it ended); a
// second EndJob with the right amount refunds.
func TestRefundByInvoice(t *testing.T) {
	e := newEnv(t)
	e.start(e.m)
	buyer := newKey(t)
	regtest := &chaincfg.RegressionNetParams

	st := e.runningJob(5000, 1000)
	wrong, _ := buyer.invoice(t, regtest, 3000, e.clock.Now(), time.Hour)
	_, err := e.m.EndJob(e.ctx, settlement.EndJobRequest{JobID: st.ID,
		By:       settlement.CauseEndedByBuyer,
		RefundTo: settlement.RefundTo{Invoice: wrong}})
	wantErr(t, "wrong amount", err, settlement.ErrRefundAmountMismatch)
	if !strings.Contains(err.Error(), "ended") {
		t.Errorf("error does not say the job ended: %v", err)
	}
	if got := e.get(st.ID); got.State != settlement.StateEnded ||
		got.Solvency.Escrow != 4000 || len(got.Refunds) != 0 {

		t.Fatalf("after the refused refund: %s, %d, %+v", got.State,
			got.Solvency.Escrow, got.Refunds)
	}

	right, hash := buyer.invoice(t, regtest, 4000, e.clock.Now(), time.Hour)
	_, err = e.m.EndJob(e.ctx, settlement.EndJobRequest{JobID: st.ID,
		By:       settlement.CauseEndedByBuyer,
		RefundTo: settlement.RefundTo{Invoice: right}})
	if err != nil {
		t.Fatal(err)
	}
	r := e.waitRefund(st.ID)
	if r.State != settlement.RefundSucceeded || r.PaymentHash !=
		hash.String() || r.Method != settlement.RefundByInvoice ||
		r.PaymentRequest != right || e.hub.Sent[0].Amount != 0 {

		t.Fatalf("refund %+v, sent %+v", r, e.hub.Sent)
	}

	// A zero-amount invoice gets the amount filled in.
	st2 := e.runningJob(5000, 0)
	zero, _ := buyer.invoice(t, regtest, 0, e.clock.Now(), time.Hour)
	_, err = e.m.EndJob(e.ctx, settlement.EndJobRequest{JobID: st2.ID,
		By:       settlement.CauseEndedByOperator,
		RefundTo: settlement.RefundTo{Invoice: zero}})
	if err != nil {
		t.Fatal(err)
	}
	if r := e.waitRefund(st2.ID); r.Amount != 5000 ||
		e.hub.Sent[1].Amount != 5000 {

		t.Fatalf("zero-amount refund %+v", r)
	}

	// An invoice refused before anything happens leaves the job as it
	// was.
	st3 := e.runningJob(5000, 0)
	expired, _ := buyer.invoice(t, regtest, 0,
		e.clock.Now().Add(-2*time.Hour), time.Hour)
	_, err = e.m.EndJob(e.ctx, settlement.EndJobRequest{JobID: st3.ID,
		By:       settlement.CauseEndedByBuyer,
		RefundTo: settlement.RefundTo{Invoice: expired}})
	wantErr(t, "expired invoice", err, settlement.ErrRefundInvoiceExpired)
	if got := e.get(st3.ID); got.State != settlement.StateRunning {
		t.Fatalf("job after a refused end: %s", got.State)
	}
}

// TestEndJobWithoutRefund ends a job awaiting funding (its invoice is
// canceled), and a funded one with no refund destination: the escrow
// waits until EndJob gives one. A failed refund can be retried.
func TestEndJobWithoutRefund(t *testing.T) {
	e := newEnv(t)
	e.start(e.m)
	buyer := newKey(t)

	unpaid := e.create(1000, 0)
	got, err := e.m.EndJob(e.ctx, settlement.EndJobRequest{
		JobID: unpaid.ID, By: settlement.CauseEndedByBuyer})
	if err != nil || got.State != settlement.StateEnded ||
		got.Invoices[0].State != settlement.InvoiceCanceled {

		t.Fatalf("end of an unpaid job: %+v, %v", got.Invoices, err)
	}
	if s := e.hub.Invoice(hashOf(t, unpaid.Invoices[0])).State; s !=
		lightning.InvoiceCanceled {

		t.Fatalf("hub invoice %s", s)
	}

	st := e.runningJob(1000, 0)
	_, err = e.m.EndJob(e.ctx, settlement.EndJobRequest{JobID: st.ID,
		By: settlement.CauseEndedByProvider})
	if err != nil {
		t.Fatal(err)
	}
	if got := e.get(st.ID); got.Solvency.Escrow != 1000 ||
		len(got.Refunds) != 0 {

		t.Fatalf("ended without a destination: %+v", got.Refunds)
	}
	_, err = e.m.EndJob(e.ctx, settlement.EndJobRequest{JobID: st.ID,
		By: settlement.CauseEndedByBuyer})
	wantErr(t, "end again without a destination", err,
		settlement.ErrJobEnded)

	// The first refund fails; a second one succeeds.
	e.hub.PayOutcome = func(lightning.Payment) lightning.PaymentResult {
		return lightning.PaymentResult{Failure: lightning.FailureReasonNoRoute}
	}
	dest := settlement.RefundTo{Node: buyer.node, HasNode: true}
	_, err = e.m.EndJob(e.ctx, settlement.EndJobRequest{JobID: st.ID,
		By: settlement.CauseEndedByBuyer, RefundTo: dest})
	if err != nil {
		t.Fatal(err)
	}
	if r := e.waitRefund(st.ID); r.State != settlement.RefundFailed ||
		r.Failure != "FAILURE_REASON_NO_ROUTE" {

		t.Fatalf("failed refund %+v", r)
	}
	e.hub.PayOutcome = nil
	e.clock.Advance(time.Second)
	_, err = e.m.EndJob(e.ctx, settlement.EndJobRequest{JobID: st.ID,
		By: settlement.CauseEndedByBuyer, RefundTo: dest})
	if err != nil {
		t.Fatal(err)
	}
	if r := e.waitRefund(st.ID); r.State != settlement.RefundSucceeded {
		t.Fatalf("second refund %+v", r)
	}
	if got := e.get(st.ID); got.Solvency.Escrow != 0 ||
		got.Refunded != 1000 || len(got.Refunds) != 2 {

		t.Fatalf("after the retry: %d, %d", got.Solvency.Escrow,
			got.Refunded)
	}

	// lnd refuses the payment outright: the refund fails at once
	// instead of being retried forever.
	e.hub.RefusePayments = true
	refused := e.runningJob(1000, 0)
	_, err = e.m.EndJob(e.ctx, settlement.EndJobRequest{
		JobID: refused.ID, By: settlement.CauseEndedByBuyer,
		RefundTo: dest})
	if err != nil {
		t.Fatal(err)
	}
	if r := e.waitRefund(refused.ID); r.State != settlement.RefundFailed ||
		!strings.Contains(r.Failure, "refused") {

		t.Fatalf("refused refund %+v", r)
	}
	e.hub.RefusePayments = false

	// No route at all: the job ends and the error says why nothing
	// was sent.
	e.hub.NoRoute = true
	st2 := e.runningJob(1000, 0)
	_, err = e.m.EndJob(e.ctx, settlement.EndJobRequest{JobID: st2.ID,
		By: settlement.CauseEndedByBuyer, RefundTo: dest})
	wantErr(t, "no route", err, settlement.ErrNoRoute)
	if got := e.get(st2.ID); got.State != settlement.StateEnded {
		t.Fatalf("job after no route: %s", got.State)
	}

	_, err = e.m.EndJob(e.ctx, settlement.EndJobRequest{JobID: "job-x",
		By: settlement.CauseEndedByBuyer})
	wantErr(t, "unknown job", err, settlement.ErrJobNotFound)
	_, err = e.m.EndJob(e.ctx, settlement.EndJobRequest{JobID: st2.ID,
		By: settlement.CauseAgentStarted})
	wantErr(t, "bad cause", err, settlement.ErrInvalidJob)
	_, err = e.m.EndJob(e.ctx, settlement.EndJobRequest{JobID: st2.ID,
		By: settlement.CauseEndedByBuyer, RefundTo: settlement.RefundTo{
			Node: e.hubKey.node, HasNode: true}})
	wantErr(t, "refund to the hub", err, settlement.ErrRefundToHub)
}

// TestRefundSurvivesRestart stops the manager while a refund is in flight
// in lnd, and records one while no manager runs: the next start tracks
// each by its hash, finishes the first without sending it again, and sends
// the second, which lnd never saw. Each is paid once.
func TestRefundSurvivesRestart(t *testing.T) {
	e := newEnv(t)
	e.start(e.m)
	buyer := newKey(t)
	dest := settlement.RefundTo{Node: buyer.node, HasNode: true}

	inFlight := e.runningJob(1000, 0)
	never := e.runningJob(2000, 0)
	e.hub.HoldPayments = true
	_, err := e.m.EndJob(e.ctx, settlement.EndJobRequest{
		JobID: inFlight.ID, By: settlement.CauseEndedByBuyer,
		RefundTo: dest})
	if err != nil {
		t.Fatal(err)
	}
	e.eventually("the refund to reach lnd", func() error {
		if e.hub.Payments() != 1 {
			return errors.New("not yet")
		}
		return nil
	})
	e.m.Stop()

	// With no manager running, a refund is recorded but not sent.
	_, err = e.m.EndJob(e.ctx, settlement.EndJobRequest{JobID: never.ID,
		By: settlement.CauseEndedByBuyer, RefundTo: dest})
	if err != nil {
		t.Fatal(err)
	}
	if got := e.get(never.ID); len(got.Refunds) != 1 ||
		got.Refunds[0].State != settlement.RefundPending ||
		e.hub.Payments() != 1 {

		t.Fatalf("refund recorded while stopped: %+v", got.Refunds)
	}

	m2 := e.newManager()
	e.start(m2)
	e.hub.Release()
	for _, id := range []string{inFlight.ID, never.ID} {
		r := e.waitRefund(id)
		if r.State != settlement.RefundSucceeded {
			t.Fatalf("refund of %s: %+v", id, r)
		}
		if got := e.get(id); got.Solvency.Escrow != 0 ||
			len(e.history(ledger.Refunded(id))) != 1 {

			t.Fatalf("job %s after the restart: escrow %d", id,
				got.Solvency.Escrow)
		}
	}
	if n := e.hub.Payments(); n != 2 {
		t.Fatalf("lnd saw %d payments, want 2", n)
	}
	if n := e.hub.Calls("Pay"); n != 2 {
		t.Fatalf("Pay called %d times, want 2 (one each)", n)
	}
	if n := e.hub.Calls("Track"); n < 2 {
		t.Fatalf("Track called %d times; both refunds must be "+
			"tracked first", n)
	}
}

// TestLateTopUpAfterEnd settles a top-up invoice of a job that ended
// meanwhile: the money is credited and refunded to the job's node.
func TestLateTopUpAfterEnd(t *testing.T) {
	e := newEnv(t)
	e.start(e.m)
	buyer := newKey(t)
	st := e.create(1000, 0)
	e.fund(st, 0)
	top, err := e.m.TopUpJob(e.ctx, st.ID, 500)
	if err != nil {
		t.Fatal(err)
	}
	// The buyer's payment is settled in lnd just before the end
	// cancels the invoice.
	e.hub.SettleQuietly(hashOf(t, top))
	_, err = e.m.EndJob(e.ctx, settlement.EndJobRequest{JobID: st.ID,
		By:       settlement.CauseEndedByBuyer,
		RefundTo: settlement.RefundTo{Node: buyer.node, HasNode: true}})
	if err != nil {
		t.Fatal(err)
	}
	e.eventually("everything refunded", func() error {
		got := e.get(st.ID)
		if got.Refunded != 1500 || got.Solvency.Escrow != 0 {
			return fmt.Errorf("refunded %d, escrow %d",
				got.Refunded, got.Solvency.Escrow)
		}
		return nil
	})
}

// TestSweeperRetriesOwedRefunds ends jobs whose refund finds no route or
// fails: RefundRetry after they began to owe, the sweeper refunds them by
// keysend on its own, waiting twice as long after each try that fails,
// until the escrow is empty. Each step runs a sweeper round to its end
// (SweepNow) on the test clock, so that what a round did or did not send
// is known, not guessed after a sleep; the background rounds the ticker
// runs meanwhile see the same clock and change nothing.
func TestSweeperRetriesOwedRefunds(t *testing.T) {
	e := newEnv(t)
	e.start(e.m)
	buyer := newKey(t)
	dest := settlement.RefundTo{Node: buyer.node, HasNode: true}
	retry := settlement.DefaultRefundRetry

	// No route when the job ends: nothing is sent, the job owes.
	e.hub.NoRoute = true
	noRoute := e.runningJob(1000, 0)
	_, err := e.m.EndJob(e.ctx, settlement.EndJobRequest{
		JobID: noRoute.ID, By: settlement.CauseEndedByBuyer,
		RefundTo: dest})
	wantErr(t, "no route", err, settlement.ErrNoRoute)
	e.hub.NoRoute = false

	// The refund is sent and fails. failing is read by the payments'
	// goroutines.
	var failing atomic.Bool
	failing.Store(true)
	e.hub.PayOutcome = func(lightning.Payment) lightning.PaymentResult {
		if failing.Load() {
			return lightning.PaymentResult{
				Failure: lightning.FailureReasonNoRoute}
		}
		return lightning.PaymentResult{Succeeded: true}
	}
	failed := e.runningJob(2000, 0)
	_, err = e.m.EndJob(e.ctx, settlement.EndJobRequest{
		JobID: failed.ID, By: settlement.CauseEndedByBuyer,
		RefundTo: dest})
	if err != nil {
		t.Fatal(err)
	}
	if r := e.waitRefund(failed.ID); r.State != settlement.RefundFailed {
		t.Fatalf("first refund %+v", r)
	}

	refunds := func(id string) int {
		t.Helper()
		return len(e.get(id).Refunds)
	}
	// sweepAt moves the clock by d and runs a sweeper round after it.
	sweepAt := func(d time.Duration) {
		t.Helper()
		e.clock.Advance(d)
		e.m.SweepNow(e.ctx, t)
	}

	// Before RefundRetry has passed since they ended, nothing is sent.
	sweepAt(0)
	sweepAt(retry - time.Second)
	if n, m := refunds(noRoute.ID), refunds(failed.ID); n != 0 || m != 1 {
		t.Fatalf("before the retry: %d and %d refunds, want 0 and 1",
			n, m)
	}

	// After it, both are tried in one round; the one that pays fails
	// again.
	sweepAt(2 * time.Second)
	if n, m := refunds(noRoute.ID), refunds(failed.ID); n != 1 || m != 2 {
		t.Fatalf("after the retry: %d and %d refunds, want 1 and 2",
			n, m)
	}
	if r := e.waitRefund(failed.ID); r.State != settlement.RefundFailed {
		t.Fatalf("second refund %+v", r)
	}
	if r := e.waitRefund(noRoute.ID); r.State != settlement.RefundFailed {
		t.Fatalf("refund of the job that had no route %+v", r)
	}

	// The wait doubled: one more RefundRetry is not enough.
	failing.Store(false)
	sweepAt(retry + time.Second)
	if n, m := refunds(noRoute.ID), refunds(failed.ID); n != 1 || m != 2 {
		t.Fatalf("before the doubled wait: %d and %d refunds", n, m)
	}
	sweepAt(retry)
	if n, m := refunds(noRoute.ID), refunds(failed.ID); n != 2 || m != 3 {
		t.Fatalf("after the doubled wait: %d and %d refunds, want 2 "+
			"and 3", n, m)
	}
	for _, id := range []string{noRoute.ID, failed.ID} {
		if r := e.waitRefund(id); r.State != settlement.RefundSucceeded {
			t.Fatalf("job %s: last refund %+v", id, r)
		}
		if st := e.get(id); st.Solvency.Escrow != 0 {
			t.Fatalf("job %s: escrow %d msat, refunds %+v", id,
				st.Solvency.Escrow, st.Refunds)
		}
	}
	if got := e.get(failed.ID); got.Refunded != 2000 {
		t.Fatalf("refunded %d msat, want 2000", got.Refunded)
	}

	// Nothing more is sent once nothing is owed.
	sweepAt(settlement.DefaultMaxRefundRetry)
	if n, m := refunds(noRoute.ID), refunds(failed.ID); n != 2 || m != 3 {
		t.Fatalf("after paying: %d and %d refunds, want 2 and 3", n, m)
	}
}

// brokenPay hands each payment to the hub and then answers as a broken
// stream does: lnd has the payment, the sender does not know its outcome.
type brokenPay struct {
	*settlementtest.Hub
}

func (b brokenPay) Pay(ctx context.Context, pay lightning.Payment) (
	lightning.PaymentResult, error) {

	before := b.Payments()
	go func() { _, _ = b.Hub.Pay(context.Background(), pay) }()
	for b.Payments() == before {
		select {
		case <-ctx.Done():
			return lightning.PaymentResult{}, ctx.Err()
		case <-time.After(time.Millisecond):
		}
	}
	return lightning.PaymentResult{}, errors.New("stream broken")
}

// TestRefundUnknownOutcomeTrackedInPlace: a refund whose outcome is
// unknown once lnd has it is tracked again where it is, with backoff, as a
// payout is, not left for the sweeper (which here runs once an hour), and
// it is never sent twice.
func TestRefundUnknownOutcomeTrackedInPlace(t *testing.T) {
	e := newEnv(t)
	e.cfg.Payments = brokenPay{e.hub}
	e.cfg.SweepInterval = time.Hour
	e.m = e.newManager()
	e.start(e.m)
	buyer := newKey(t)
	st := e.runningJob(10_000, 2_345)

	_, err := e.m.EndJob(e.ctx, settlement.EndJobRequest{
		JobID: st.ID, By: settlement.CauseEndedByBuyer,
		RefundTo: settlement.RefundTo{Node: buyer.node, HasNode: true},
	})
	if err != nil {
		t.Fatal(err)
	}
	r := e.waitRefund(st.ID)
	if r.State != settlement.RefundSucceeded || r.Amount != 7_655 {
		t.Fatalf("refund: %+v", r)
	}
	if n := e.hub.Calls("Pay"); n != 1 {
		t.Fatalf("Pay called %d times, want 1", n)
	}
	if n := e.hub.Calls("Track"); n < 1 {
		t.Fatal("the refund's outcome was never tracked")
	}
	if got := e.get(st.ID); got.Solvency.Escrow != 0 ||
		got.Refunded != 7_655 {

		t.Fatalf("after the refund: escrow %d, refunded %d",
			got.Solvency.Escrow, got.Refunded)
	}
}

// refundsSeen is a RefundObserver that hands each refund on.
type refundsSeen chan settlement.Refund

func (r refundsSeen) RefundResolved(ref settlement.Refund) { r <- ref }

// TestRefundObserved checks that the RefundObserver is told of a refund's
// outcome once it is recorded, with its amount and the fee routing cost.
func TestRefundObserved(t *testing.T) {
	e := newEnv(t)
	seen := make(refundsSeen, 4)
	e.cfg.Refunds = seen
	e.m = e.newManager()
	e.start(e.m)
	e.hub.RouteFee = 5
	e.hub.PayOutcome = func(p lightning.Payment) lightning.PaymentResult {
		return lightning.PaymentResult{Succeeded: true, Amount: p.Amount,
			Fee: 3}
	}
	buyer := newKey(t)
	st := e.runningJob(1000, 0)
	_, err := e.m.EndJob(e.ctx, settlement.EndJobRequest{JobID: st.ID,
		By: settlement.CauseEndedByBuyer,
		RefundTo: settlement.RefundTo{Node: buyer.node,
			HasNode: true}})
	if err != nil {
		t.Fatal(err)
	}
	stored := e.waitRefund(st.ID)

	select {
	case r := <-seen:
		if r.State != settlement.RefundSucceeded || r.Amount != 995 ||
			r.Fee != 3 || r.PaymentHash != stored.PaymentHash ||
			r.ResolvedAt.IsZero() {

			t.Fatalf("observed %+v, stored %+v", r, stored)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("no refund observed")
	}
	if len(seen) != 0 {
		t.Fatalf("refund observed %d more times", len(seen))
	}
}
