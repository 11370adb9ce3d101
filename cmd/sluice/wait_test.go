package main

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/lightningnetwork/lnd/lntypes"
	"github.com/sluice-ln/sluice/outputtest"
	"github.com/sluice-ln/sluice/rpc/sluicerpc"
	"github.com/urfave/cli"
	"google.golang.org/protobuf/types/known/timestamppb"
)

// fakeWork is work that goes through states, one per look; a nil state
// is a look that fails with err.
type fakeWork struct {
	states []*waitState
	err    error
	looks  int
}

func (f *fakeWork) probe(context.Context) (waitState, error) {
	i := min(f.looks, len(f.states)-1)
	f.looks++
	if f.states[i] == nil {
		return waitState{}, f.err
	}
	return *f.states[i], nil
}

func testWaiter(out *bytes.Buffer, timeout time.Duration) *waiter {
	return &waiter{out: out, interval: time.Millisecond,
		timeout: timeout, shownBy: "sluice job show j1"}
}

// TestWaiterLines checks that the waiter prints one line per change of
// what it waits for, tries again when sluiced is out of reach, and
// returns when the work is done.
func TestWaiterLines(t *testing.T) {
	a := &waitState{line: "waiting for a"}
	b := &waitState{line: "waiting for b"}
	work := &fakeWork{
		states: []*waitState{a, a, nil, b, b, b,
			{line: "done", done: true}},
		err: transientError{errors.New("sluiced is out of reach")},
	}
	var out bytes.Buffer
	if err := testWaiter(&out, 0).wait(context.Background(),
		work.probe); err != nil {

		t.Fatal(err)
	}
	want := "waiting for a\nsluiced is out of reach (retrying)\n" +
		"waiting for b\ndone\n"
	if out.String() != want {
		t.Fatalf("lines:\n%s\nwant:\n%s", out.String(), want)
	}
	if work.looks != 7 {
		t.Fatalf("%d looks, want 7", work.looks)
	}
}

// TestWaiterInPlace checks that on a terminal each line replaces the
// one before and the last one ends with a newline.
func TestWaiterInPlace(t *testing.T) {
	work := &fakeWork{states: []*waitState{{line: "a"},
		{line: "b", done: true}}}
	var out bytes.Buffer
	w := testWaiter(&out, 0)
	w.inPlace = true
	if err := w.wait(context.Background(), work.probe); err != nil {
		t.Fatal(err)
	}
	if want := "\r\033[Ka\r\033[Kb\n"; out.String() != want {
		t.Fatalf("got %q, want %q", out.String(), want)
	}
}

// TestWaiterEnds checks the ways a wait ends without the work done: the
// work failed, a call failed for good, the timeout passed, the person
// stopped it.
func TestWaiterEnds(t *testing.T) {
	var out bytes.Buffer

	failed := &fakeWork{states: []*waitState{{line: "waiting"},
		{line: "the refund failed: no route", done: true,
			failed: true}}}
	err := testWaiter(&out, 0).wait(context.Background(), failed.probe)
	if err == nil || err.Error() != "the refund failed: no route" ||
		errors.Is(err, errStillGoing) {

		t.Fatalf("failed work: %v", err)
	}

	denied := errors.New("permission denied")
	broken := &fakeWork{states: []*waitState{nil}, err: denied}
	err = testWaiter(&out, 0).wait(context.Background(), broken.probe)
	if !errors.Is(err, denied) {
		t.Fatalf("a call that fails: %v", err)
	}

	forever := &fakeWork{states: []*waitState{{line: "waiting for x"}}}
	err = testWaiter(&out, 20*time.Millisecond).wait(
		context.Background(), forever.probe)
	if !errors.Is(err, errStillGoing) ||
		!strings.Contains(err.Error(), "gave up waiting after 20ms "+
			"(waiting for x)") ||
		!strings.Contains(err.Error(), "'sluice job show j1' shows") {

		t.Fatalf("timeout: %v", err)
	}

	ctx, cancel := context.WithCancel(context.Background())
	stopping := &fakeWork{states: []*waitState{{line: "waiting"}}}
	err = testWaiter(&out, 0).wait(ctx, func(ctx context.Context) (
		waitState, error) {

		cancel()
		return stopping.probe(ctx)
	})
	if !errors.Is(err, errStillGoing) ||
		!strings.HasPrefix(err.Error(), "stopped waiting") {

		t.Fatalf("stopped: %v", err)
	}
}

// TestSatText checks the amounts shown while waiting: grouped, exact.
func TestSatText(t *testing.T) {
	for msat, want := range map[int64]string{
		0: "0 sat", 999: "0.999 sat", 12000000: "12 000 sat",
		1234500: "1 234.5 sat", 123456789: "123 456.789 sat",
		-1500: "-1.5 sat",
	} {
		if got := satText(msat); got != want {
			t.Errorf("satText(%d) = %q, want %q", msat, got, want)
		}
	}
}

// TestWaitTexts checks what each command says it waits for, and when it
// is done or failed.
func TestWaitTexts(t *testing.T) {
	hash := []byte{1, 2}
	at := func(s int64) *timestamppb.Timestamp {
		return timestamppb.New(time.Unix(s, 0))
	}
	cases := []struct {
		name         string
		got          waitState
		line         string
		done, failed bool
	}{{
		name: "awaiting funding",
		got: fundingWait(&sluicerpc.Job{JobId: "j1",
			State: "awaiting_funding", BudgetMsat: 12000000,
			Invoices: []*sluicerpc.JobInvoice{{Purpose: "funding",
				AmountMsat: 12000000}}}),
		line: "job j1: waiting for the funding invoice to be paid " +
			"(12 000 sat)…",
	}, {
		name: "funded",
		got: fundingWait(&sluicerpc.Job{JobId: "j1", State: "funded",
			EscrowMsat: 12000000}),
		line: "job j1: funded, escrow 12 000 sat, funded", done: true,
	}, {
		name: "funding expired",
		got:  fundingWait(&sluicerpc.Job{JobId: "j1", State: "expired"}),
		line: "job j1: the funding invoice expired unpaid", done: true,
		failed: true,
	}, {
		name: "top-up open",
		got: topUpWait(&sluicerpc.Job{JobId: "j1",
			Invoices: []*sluicerpc.JobInvoice{{PaymentHash: hash,
				State: "open", AmountMsat: 2000}}}, hash),
		line: "job j1: waiting for the top-up invoice to be paid " +
			"(2 sat)…",
	}, {
		name: "top-up settled",
		got: topUpWait(&sluicerpc.Job{JobId: "j1", State: "running",
			EscrowMsat: 7000, Invoices: []*sluicerpc.JobInvoice{{
				PaymentHash: hash, State: "settled",
				AmountMsat: 2000, AmountPaidMsat: 2000}}}, hash),
		line: "job j1: top-up of 2 sat settled, escrow 7 sat, running",
		done: true,
	}, {
		name: "top-up canceled",
		got: topUpWait(&sluicerpc.Job{JobId: "j1", State: "ended",
			Invoices: []*sluicerpc.JobInvoice{{PaymentHash: hash,
				State: "canceled"}}}, hash),
		line:   "job j1: the top-up invoice is canceled, unpaid (job ended)",
		done:   true,
		failed: true,
	}, {
		name: "refund in flight",
		got: refundWait(&sluicerpc.Job{JobId: "j1", State: "ended",
			Refunds: []*sluicerpc.JobRefund{{State: "pending",
				AmountMsat: 9874000, FeeLimitMsat: 12000,
				CreatedAt: at(1)}}}),
		line: "job j1: refund in flight: 9 874 sat, fee ≤ 12 sat…",
	}, {
		name: "refunded",
		got: refundWait(&sluicerpc.Job{JobId: "j1", State: "ended",
			Refunds: []*sluicerpc.JobRefund{{State: "failed",
				CreatedAt: at(1)}, {State: "succeeded",
				AmountMsat: 9874000, FeeMsat: 3000,
				CreatedAt: at(2)}}}),
		line: "job j1: refunded 9 874 sat, fee 3 sat", done: true,
	}, {
		name: "refund failed",
		got: refundWait(&sluicerpc.Job{JobId: "j1", State: "ended",
			EscrowMsat: 5000, Refunds: []*sluicerpc.JobRefund{{
				State: "failed", Failure: "no route",
				CreatedAt: at(1)}}}),
		line: "job j1: the refund of 5 sat failed: no route; the " +
			"escrow waits for 'sluice job end j1' with " +
			"--refund-invoice or --refund-node",
		done: true, failed: true,
	}, {
		name: "no refund destination",
		got: refundWait(&sluicerpc.Job{JobId: "j1", State: "ended",
			EscrowMsat: 5000}),
		line: "job j1: the refund of 5 sat has no refund " +
			"destination; the escrow waits for 'sluice job end j1' " +
			"with --refund-invoice or --refund-node",
		done: true, failed: true,
	}, {
		name: "nothing to refund",
		got:  refundWait(&sluicerpc.Job{JobId: "j1", State: "ended"}),
		line: "job j1: ended, nothing left in escrow to refund",
		done: true,
	}, {
		name: "withdrawal queued",
		got: withdrawalWait([]*sluicerpc.ShareWithdrawal{{Id: 3,
			AmountUnits: 1500, State: "queued"}}, 3),
		line: "withdrawal 3: 1.500 shares queued for the next send " +
			"round…",
	}, {
		name: "withdrawal sending",
		got: withdrawalWait([]*sluicerpc.ShareWithdrawal{{Id: 3,
			AmountUnits: 1500, State: "sending", RoundId: 7}}, 3),
		line: "withdrawal 3: 1.500 shares sent in round 7, waiting " +
			"for its proofs and confirmations…",
	}, {
		name: "withdrawn",
		got: withdrawalWait([]*sluicerpc.ShareWithdrawal{{Id: 3,
			AmountUnits: 1500, State: "withdrawn", Addr: "taprt1x"}},
			3),
		line: "withdrawal 3: 1.500 shares withdrawn to taprt1x",
		done: true,
	}, {
		name: "withdrawal returned",
		got: withdrawalWait([]*sluicerpc.ShareWithdrawal{{Id: 3,
			AmountUnits: 1500, State: "returned",
			Failure: "send refused"}}, 3),
		line: "withdrawal 3: the send failed (send refused); " +
			"1.500 shares back in custody",
		done: true, failed: true,
	}, {
		name: "plan applying",
		got: planWait([]*sluicerpc.AppliedAction{
			{Status: "succeeded"}, {Status: "succeeded"},
			{Status: "pending"}, {Status: "pending"},
			{Status: "pending"}}, "3"),
		line: "plan 3: 2 of 5 actions applied…",
	}, {
		name: "plan applied",
		got: planWait([]*sluicerpc.AppliedAction{
			{Status: "succeeded"}, {Status: "succeeded"}}, "3"),
		line: "plan 3: 2 of 2 actions applied", done: true,
	}, {
		name: "plan failed",
		got: planWait([]*sluicerpc.AppliedAction{
			{Status: "succeeded"}, {Id: 9, Kind: "open",
				Status: "failed", Error: "peer offline"}}, "3"),
		line: "plan 3: 1 of 2 actions applied, 1 failed (9 open: " +
			"peer offline)",
		done: true, failed: true,
	}}
	for _, tc := range cases {
		if tc.got.line != tc.line || tc.got.done != tc.done ||
			tc.got.failed != tc.failed {

			t.Errorf("%s: got %q done=%v failed=%v, want %q "+
				"done=%v failed=%v", tc.name, tc.got.line,
				tc.got.done, tc.got.failed, tc.line, tc.done,
				tc.failed)
		}
	}
}

// runCLIStderr is runCLI keeping stderr apart.
func runCLIStderr(args ...string) (stdout, stderr string, err error) {
	var errOut bytes.Buffer
	return runCLIStderrTo(&errOut, args...)
}

// runCLIStderrTo is runCLIStderr writing stderr to errOut as it goes.
func runCLIStderrTo(errOut io.Writer, args ...string) (stdout,
	stderr string, err error) {

	var out bytes.Buffer
	app := cli.NewApp()
	app.Name = "sluice"
	app.Flags = globalFlags
	app.Commands = []cli.Command{jobCommand, operatorCommand}
	app.Writer = &out
	app.ErrWriter = errOut
	err = app.Run(append([]string{"sluice"}, args...))
	return out.String(), fmt.Sprint(errOut), err
}

// TestJobWait checks `job create --wait` against a real settlement
// manager: it returns once the funding invoice is paid on the fake hub,
// with the invoice on stdout and the wait on stderr; `job end --wait`
// without a refund destination fails saying so.
func TestJobWait(t *testing.T) {
	js := startJobServerWith(t)
	base := []string{"--rpcserver", js.addr, "--sluicedir", js.dir}
	if _, err := runCLI(append(base, "operator", "buyer", "add",
		"alice")...); err != nil {

		t.Fatal(err)
	}
	buyer := append([]string{"--macaroonpath", filepath.Join(js.dir,
		"regtest", "buyer-alice.macaroon")}, base...)

	type result struct {
		stdout, stderr string
		err            error
	}
	done := make(chan result, 1)
	progress := &outputtest.Buffer{}
	go func() {
		o, e, err := runCLIStderrTo(progress, append(buyer, "job",
			"create", "--provider", "prov-1", "--cpu", "1000",
			"--budget", "5sat", "--wait", "--timeout", "1m")...)
		done <- result{o, e, err}
	}()

	// Pay the job's funding invoice once the command made it and says
	// it waits for the payment: paid before that, the first poll would
	// find the job funded and never say it waits.
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	var job *sluicerpc.Job
	for job == nil {
		out, err := runCLI(append(buyer, "job", "list", "--json")...)
		if err != nil {
			t.Fatal(err)
		}
		var list sluicerpc.ListJobsResponse
		if err := sluicerpc.JSONUnmarshalOptions.Unmarshal(
			[]byte(out), &list); err != nil {

			t.Fatalf("list --json: %v\n%s", err, out)
		}
		if len(list.Jobs) > 0 {
			job = list.Jobs[0]
			break
		}
		select {
		case <-ctx.Done():
			t.Fatal("no job created")
		case <-time.After(10 * time.Millisecond):
		}
	}
	out, err := runCLI(append(buyer, "job", "show", job.JobId,
		"--json")...)
	if err != nil {
		t.Fatal(err)
	}
	var shown sluicerpc.GetJobResponse
	if err := sluicerpc.JSONUnmarshalOptions.Unmarshal([]byte(out),
		&shown); err != nil {

		t.Fatal(err)
	}
	hash, err := lntypes.MakeHash(shown.Job.Invoices[0].PaymentHash)
	if err != nil {
		t.Fatal(err)
	}
	if err := progress.WaitFor(ctx, "waiting for the funding "+
		"invoice"); err != nil {

		t.Fatal(err)
	}
	js.hub.Settle(hash, 0)

	var r result
	select {
	case r = <-done:
	case <-ctx.Done():
		t.Fatal("job create --wait did not return")
	}
	if r.err != nil {
		t.Fatalf("create --wait: %v\n%s", r.err, r.stderr)
	}
	if !strings.Contains(r.stdout, "awaiting_funding") ||
		!strings.Contains(r.stdout, "pay:") {

		t.Errorf("stdout lacks the job and its invoice:\n%s", r.stdout)
	}
	wantErr := []string{
		fmt.Sprintf("job %s: waiting for the funding invoice to be "+
			"paid (5 sat)…", job.JobId),
		fmt.Sprintf("job %s: funded, escrow 5 sat", job.JobId),
	}
	for _, w := range wantErr {
		if !strings.Contains(r.stderr, w) {
			t.Errorf("stderr lacks %q:\n%s", w, r.stderr)
		}
	}
	if strings.Contains(r.stdout, "waiting for") {
		t.Errorf("progress on stdout:\n%s", r.stdout)
	}

	_, stderr, err := runCLIStderr(append(buyer, "job", "end", job.JobId,
		"--wait")...)
	if err == nil || !strings.Contains(err.Error(),
		"has no refund destination") {

		t.Fatalf("end --wait without a destination: %v\n%s", err,
			stderr)
	}
}

// TestWaitTextsLeaseRedeem checks what `lease request --wait` and
// `provider redeem --wait` say they wait for.
func TestWaitTextsLeaseRedeem(t *testing.T) {
	cases := []struct {
		got          waitState
		line         string
		done, failed bool
	}{
		{leaseWait(&sluicerpc.Lease{Id: "l1", State: "awaiting_payment",
			PremiumMsat: 25000}), "lease l1: waiting for the hold " +
			"invoice to be paid (25 sat)…", false, false},
		{leaseWait(&sluicerpc.Lease{Id: "l1", State: "opening",
			ChannelPoint: "ab:0"}), "lease l1: channel ab:0 opening, " +
			"waiting for its funding to confirm…", false, false},
		{leaseWait(&sluicerpc.Lease{Id: "l1", State: "active",
			ChannelPoint: "ab:0", LspBalanceSat: 100000,
			ExpiryHeight: 500}), "lease l1: channel ab:0 active, " +
			"100 000 sat inbound until block 500", true, false},
		{leaseWait(&sluicerpc.Lease{Id: "l1", State: "failed",
			Reason: "open refused"}), "lease l1: failed (open " +
			"refused)", true, true},
		{redemptionWait(&sluicerpc.Redemption{Id: 4, Status: "pending",
			SharesUnits: 12345, RequestedMsat: 99000}),
			"redemption 4: 12.345 shares in the queue, waiting for " +
				"the vault's liquidity (at most 99 sat)…", false, false},
		{redemptionWait(&sluicerpc.Redemption{Id: 4,
			Status: "finalized", AssetsMsat: 98500}), "redemption 4: " +
			"98.5 sat into your payable (finalized)", true, false},
		{redemptionWait(&sluicerpc.Redemption{Id: 4,
			Status: "cancelled"}), "redemption 4: cancelled", true,
			true},
	}
	for _, tc := range cases {
		if tc.got.line != tc.line || tc.got.done != tc.done ||
			tc.got.failed != tc.failed {

			t.Errorf("got %q done=%v failed=%v, want %q done=%v "+
				"failed=%v", tc.got.line, tc.got.done,
				tc.got.failed, tc.line, tc.done, tc.failed)
		}
	}
}

// TestWaiterStderr checks that the waiter prints on stderr when the app
// names no error writer, as the sluice binary does not.
func TestWaiterStderr(t *testing.T) {
	app := cli.NewApp()
	c := cli.NewContext(app, flag.NewFlagSet("t", flag.ContinueOnError),
		nil)
	if w := newWaiter(c, "x"); w.out != os.Stderr {
		t.Fatalf("waiter prints on %v, want stderr", w.out)
	}
}
