package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/sluice-ln/sluice/ledger"
	"github.com/sluice-ln/sluice/rpc/sluicerpc"
	"github.com/urfave/cli"
)

// The --wait of the commands that start work a person waits for: money
// moving (funding, top-ups, refunds, withdrawals) or a plan being applied.
// One waiter polls what the command already calls and prints, on stderr,
// one line per change of what it waits for; stdout keeps the command's
// own output.

// waitInterval is how often a waiting command looks again.
const waitInterval = time.Second

// defaultWaitTimeout is --timeout's default.
const defaultWaitTimeout = 10 * time.Minute

// waitFlags are --wait and --timeout, for every command that can wait.
var waitFlags = []cli.Flag{
	cli.BoolFlag{Name: "wait", Usage: "wait until the work is done, " +
		"showing on stderr what it waits for"},
	cli.DurationFlag{Name: "timeout", Value: defaultWaitTimeout,
		Usage: "with --wait: stop waiting after this long (0: no " +
			"limit); the work goes on in sluiced"},
}

// waitState is one look at what a command waits for.
type waitState struct {
	// line says what it waits for now, or how it ended.
	line string

	// done: nothing more to wait for.
	done bool

	// failed: done, and the work failed; line says why.
	failed bool
}

// waitProbe looks once at the work being waited for.
type waitProbe func(ctx context.Context) (waitState, error)

// waiter waits for work that goes on in sluiced.
type waiter struct {
	// out gets the progress lines (stderr).
	out io.Writer

	// interval between looks; timeout bounds the whole wait, 0 none.
	interval, timeout time.Duration

	// inPlace: each line replaces the one before (a terminal).
	inPlace bool

	// shownBy is the command that shows the work, for the message when
	// the wait stops before the work ends ("sluice job show ID").
	shownBy string
}

// newWaiter is the waiter of command c, printing on its error writer;
// shownBy is the command that shows the work.
func newWaiter(c *cli.Context, shownBy string) *waiter {
	out := c.App.ErrWriter
	if out == nil {
		// urfave/cli leaves it unset: stderr.
		out = os.Stderr
	}
	return &waiter{
		out:      out,
		interval: waitInterval,
		timeout:  c.Duration("timeout"),
		inPlace:  isTerminal(out),
		shownBy:  shownBy,
	}
}

// errStillGoing marks a wait that stopped before the work ended: the
// timeout passed or the person pressed Ctrl-C.
var errStillGoing = errors.New("the work goes on in sluiced")

// wait looks at the work every interval until probe says it is done, the
// timeout passes, Ctrl-C (SIGINT, SIGTERM) or ctx ends. It prints a line
// each time what it waits for changes. It returns nil when the work is
// done, an error saying why when it failed, and an error wrapping
// errStillGoing, naming the command that shows the work, when it stopped
// waiting first. Calls that fail because sluiced is out of reach for a
// moment are shown and tried again; any other error ends the wait.
func (w *waiter) wait(ctx context.Context, probe waitProbe) error {
	ctx, stop := signal.NotifyContext(ctx, os.Interrupt, syscall.SIGTERM)
	defer stop()
	if w.timeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, w.timeout)
		defer cancel()
	}
	if w.out == nil {
		w.out = io.Discard
	}

	last := ""
	show := func(line string) {
		if line == last {
			return
		}
		last = line
		if w.inPlace {
			// Back to the line's start, clear it, draw.
			fmt.Fprintf(w.out, "\r\033[K%s", line)
			return
		}
		fmt.Fprintln(w.out, line)
	}
	end := func() {
		if w.inPlace && last != "" {
			fmt.Fprintln(w.out)
		}
	}

	ticker := time.NewTicker(w.interval)
	defer ticker.Stop()
	for {
		callCtx, cancel := context.WithTimeout(ctx, callTimeout)
		st, err := probe(callCtx)
		cancel()
		switch {
		case err == nil:
			show(st.line)
			if st.failed {
				end()
				return errors.New(st.line)
			}
			if st.done {
				end()
				return nil
			}
		case ctx.Err() != nil:
		case transient(err):
			show(fmt.Sprintf("%s (retrying)", err))
		default:
			end()
			return err
		}
		select {
		case <-ctx.Done():
		case <-ticker.C:
			continue
		}
		end()
		why := "stopped waiting"
		if errors.Is(ctx.Err(), context.DeadlineExceeded) {
			why = fmt.Sprintf("gave up waiting after %s", w.timeout)
		}
		if last != "" {
			why += " (" + last + ")"
		}
		return fmt.Errorf("%s: %w: '%s' shows it", why, errStillGoing,
			w.shownBy)
	}
}

// satText formats an amount in msat as satoshis for a person, digits grouped
// by thousands: "12 000 sat", "1 234.5 sat". It is exact: msat are kept
// as decimals, never rounded.
func satText(msatAmount int64) string {
	sign := ""
	if msatAmount < 0 {
		sign = "-"
	}
	whole := strconv.FormatInt(abs(msatAmount/1000), 10)
	var b strings.Builder
	for i, d := range whole {
		if i > 0 && (len(whole)-i)%3 == 0 {
			b.WriteByte(' ')
		}
		b.WriteRune(d)
	}
	frac := ""
	if m := abs(msatAmount % 1000); m != 0 {
		frac = "." + strings.TrimRight(fmt.Sprintf("%03d", m), "0")
	}
	return sign + b.String() + frac + " sat"
}

// What each command waits for, as pure functions of what the API
// answered, so each text is tested without a server.

// fundingWait is `job create --wait`'s look at job j: done when it leaves
// awaiting_funding, failed when its funding invoice expired unpaid.
func fundingWait(j *sluicerpc.Job) waitState {
	switch j.State {
	case "awaiting_funding":
		amount := j.BudgetMsat
		for _, inv := range j.Invoices {
			if inv.Purpose == "funding" {
				amount = inv.AmountMsat
			}
		}
		return waitState{line: fmt.Sprintf("job %s: waiting for the "+
			"funding invoice to be paid (%s)…", j.JobId, satText(amount))}
	case "expired":
		return waitState{done: true, failed: true, line: fmt.Sprintf(
			"job %s: the funding invoice expired unpaid", j.JobId)}
	}
	return waitState{done: true, line: fmt.Sprintf("job %s: funded, "+
		"escrow %s, %s", j.JobId, satText(j.EscrowMsat), j.State)}
}

// topUpWait is `job topup --wait`'s look at job j for the top-up invoice
// with payment hash hash: done when it settled, failed when it expired or
// was canceled (the job ended, say).
func topUpWait(j *sluicerpc.Job, hash []byte) waitState {
	var inv *sluicerpc.JobInvoice
	for _, i := range j.Invoices {
		if bytes.Equal(i.PaymentHash, hash) {
			inv = i
		}
	}
	if inv == nil && j.TopUpInvoice != nil &&
		bytes.Equal(j.TopUpInvoice.PaymentHash, hash) {

		inv = j.TopUpInvoice
	}
	if inv == nil {
		return waitState{done: true, failed: true, line: fmt.Sprintf(
			"job %s: the top-up invoice %x is not the job's",
			j.JobId, hash)}
	}
	switch inv.State {
	case "open":
		return waitState{line: fmt.Sprintf("job %s: waiting for the "+
			"top-up invoice to be paid (%s)…", j.JobId,
			satText(inv.AmountMsat))}
	case "settled":
		return waitState{done: true, line: fmt.Sprintf("job %s: top-up "+
			"of %s settled, escrow %s, %s", j.JobId,
			satText(inv.AmountPaidMsat), satText(j.EscrowMsat), j.State)}
	}
	return waitState{done: true, failed: true, line: fmt.Sprintf(
		"job %s: the top-up invoice is %s, unpaid (job %s)", j.JobId,
		inv.State, j.State)}
}

// refundWait is `job end --wait`'s look at ended job j: done when its
// refund succeeded or there is nothing to refund, failed when the refund
// failed or has nowhere to go.
func refundWait(j *sluicerpc.Job) waitState {
	var pending, latest *sluicerpc.JobRefund
	for _, r := range j.Refunds {
		if r.State == "pending" {
			pending = r
		}
		if latest == nil || r.CreatedAt.AsTime().After(
			latest.CreatedAt.AsTime()) {

			latest = r
		}
	}
	switch {
	case pending != nil:
		return waitState{line: fmt.Sprintf("job %s: refund in flight: "+
			"%s, fee ≤ %s…", j.JobId, satText(pending.AmountMsat),
			satText(pending.FeeLimitMsat))}
	case j.EscrowMsat > 0:
		// EndJob starts the refund when it knows where to: with
		// money left and none in flight, it did not.
		why := "has no refund destination"
		if latest != nil && latest.State == "failed" {
			why = "failed: " + latest.Failure
		}
		return waitState{done: true, failed: true, line: fmt.Sprintf(
			"job %s: the refund of %s %s; the escrow waits for "+
				"'sluice job end %s' with --refund-invoice or "+
				"--refund-node", j.JobId, satText(j.EscrowMsat), why,
			j.JobId)}
	case latest != nil && latest.State == "succeeded":
		return waitState{done: true, line: fmt.Sprintf("job %s: "+
			"refunded %s, fee %s", j.JobId, satText(latest.AmountMsat),
			satText(latest.FeeMsat))}
	}
	return waitState{done: true, line: fmt.Sprintf("job %s: %s, "+
		"nothing left in escrow to refund", j.JobId, j.State)}
}

// withdrawalWait is `provider shares withdraw --wait`'s look at the
// withdrawal with id in ws: done when withdrawn, failed when returned.
func withdrawalWait(ws []*sluicerpc.ShareWithdrawal, id int64) waitState {
	var wd *sluicerpc.ShareWithdrawal
	for _, w := range ws {
		if w.Id == id {
			wd = w
		}
	}
	if wd == nil {
		return waitState{done: true, failed: true, line: fmt.Sprintf(
			"withdrawal %d: not among the provider's", id)}
	}
	amount := ledger.Shares(wd.AmountUnits)
	switch wd.State {
	case "queued":
		return waitState{line: fmt.Sprintf("withdrawal %d: %s queued "+
			"for the next send round…", id, amount)}
	case "sending":
		return waitState{line: fmt.Sprintf("withdrawal %d: %s sent in "+
			"round %d, waiting for its proofs and confirmations…", id,
			amount, wd.RoundId)}
	case "withdrawn":
		return waitState{done: true, line: fmt.Sprintf("withdrawal %d: "+
			"%s withdrawn to %s", id, amount, wd.Addr)}
	case "returned":
		return waitState{done: true, failed: true, line: fmt.Sprintf(
			"withdrawal %d: the send failed (%s); %s back in custody",
			id, wd.Failure, amount)}
	}
	return waitState{line: fmt.Sprintf("withdrawal %d: %s…", id,
		wd.State)}
}

// planWait is `yield apply --wait`'s look at plan id's actions: done when
// none is pending, failed when one failed.
func planWait(as []*sluicerpc.AppliedAction, id string) waitState {
	var pending, succeeded, failed int
	var why []string
	for _, a := range as {
		switch a.Status {
		case "pending":
			pending++
		case "succeeded":
			succeeded++
		case "failed":
			failed++
			why = append(why, fmt.Sprintf("%d %s: %s", a.Id, a.Kind,
				a.Error))
		}
	}
	line := fmt.Sprintf("plan %s: %d of %d actions applied", shortHash(id),
		succeeded, len(as))
	if failed > 0 {
		line += fmt.Sprintf(", %d failed", failed)
	}
	switch {
	case pending > 0:
		return waitState{line: line + "…"}
	case failed > 0:
		return waitState{done: true, failed: true,
			line: line + " (" + strings.Join(why, "; ") + ")"}
	}
	return waitState{done: true, line: line}
}

// leaseWait is `lease request --wait`'s look at lease l: done when its
// channel is active, failed when the lease ended before.
func leaseWait(l *sluicerpc.Lease) waitState {
	why := ""
	if l.Reason != "" {
		why = " (" + l.Reason + ")"
	}
	switch l.State {
	case "awaiting_payment":
		return waitState{line: fmt.Sprintf("lease %s: waiting for the "+
			"hold invoice to be paid (%s)…", l.Id,
			satText(l.PremiumMsat))}
	case "paid":
		return waitState{line: fmt.Sprintf("lease %s: paid, waiting "+
			"for the hub to open the channel…", l.Id)}
	case "opening":
		return waitState{line: fmt.Sprintf("lease %s: channel %s "+
			"opening, waiting for its funding to confirm…", l.Id,
			l.ChannelPoint)}
	case "active":
		return waitState{done: true, line: fmt.Sprintf("lease %s: "+
			"channel %s active, %s inbound until block %d",
			l.Id, l.ChannelPoint, satText(l.LspBalanceSat*1000),
			l.ExpiryHeight)}
	}
	return waitState{done: true, failed: true, line: fmt.Sprintf(
		"lease %s: %s%s", l.Id, l.State, why)}
}

// redemptionWait is `provider redeem --wait`'s look at redemption r: done
// when it is finalized into the provider's payable, failed when it was
// cancelled.
func redemptionWait(r *sluicerpc.Redemption) waitState {
	switch r.Status {
	case "pending":
		return waitState{line: fmt.Sprintf("redemption %d: %s in the "+
			"queue, waiting for the vault's liquidity (at most %s)…",
			r.Id, ledger.Shares(r.SharesUnits),
			satText(r.RequestedMsat))}
	case "finalized", "paid":
		return waitState{done: true, line: fmt.Sprintf("redemption %d: "+
			"%s into your payable (%s)", r.Id, satText(r.AssetsMsat),
			r.Status)}
	}
	return waitState{done: true, failed: true, line: fmt.Sprintf(
		"redemption %d: %s", r.Id, r.Status)}
}
