package demo

import (
	"context"
	"fmt"
	"strings"
	"time"

	"connectrpc.com/connect"
	"github.com/lightningnetwork/lnd/lnrpc"
	"github.com/sluice-ln/sluice/devnet"
	"github.com/sluice-ln/sluice/ledger"
	"github.com/sluice-ln/sluice/metering"
	"github.com/sluice-ln/sluice/payout"
	"github.com/sluice-ln/sluice/rpc/sluicerpc"
	"github.com/sluice-ln/sluice/store"
	"github.com/sluice-ln/sluice/yield"
)

// books are the provider's and the platform's side of the ledger, and
// provider1's node, at one moment. The story takes them before the work and
// reports what changed.
type books struct {
	payable, inFlight, paidOut ledger.MilliSatoshi
	platformFees, routingFees  ledger.MilliSatoshi

	// payouts counts the provider's succeeded payouts, pending its
	// payouts not final.
	payouts, pending int

	// received is provider1's local channel balance.
	received ledger.MilliSatoshi
}

// sub is b minus a, account by account.
func (b books) sub(a books) books {
	return books{
		payable:      b.payable - a.payable,
		inFlight:     b.inFlight - a.inFlight,
		paidOut:      b.paidOut - a.paidOut,
		platformFees: b.platformFees - a.platformFees,
		routingFees:  b.routingFees - a.routingFees,
		payouts:      b.payouts - a.payouts,
		pending:      b.pending,
		received:     b.received - a.received,
	}
}

// readBooks reads the books from the store and provider1's node.
func (s *story) readBooks(ctx context.Context) (books, error) {
	var b books
	if err := s.openStore(ctx); err != nil {
		return b, err
	}
	err := s.db.ExecTx(ctx, store.TxOptions{ReadOnly: true},
		func(tx *store.Tx) error {
			for _, a := range []struct {
				acct ledger.Account
				dst  *ledger.MilliSatoshi
			}{
				{ledger.ProviderPayable(s.providerID), &b.payable},
				{ledger.PayoutInFlight(s.providerID), &b.inFlight},
				{ledger.PaidOut(s.providerID), &b.paidOut},
				{ledger.PlatformFees(), &b.platformFees},
				{ledger.RoutingFees(), &b.routingFees},
			} {
				bal, err := tx.Balance(ctx, a.acct)
				if err != nil {
					return fmt.Errorf("balance of %v: %w",
						a.acct, err)
				}
				*a.dst = bal
			}
			payouts, err := tx.ProviderPayouts(ctx, s.providerID, 0)
			if err != nil {
				return fmt.Errorf("payouts: %w", err)
			}
			for _, p := range payouts {
				switch p.State {
				case store.PayoutSucceeded:
					b.payouts++
				case store.PayoutPending:
					b.pending++
				}
			}
			return nil
		})
	if err != nil {
		return b, err
	}

	conn, err := s.conn(devnet.NodeProvider1)
	if err != nil {
		return b, err
	}
	bal, err := lnrpc.NewLightningClient(conn).ChannelBalance(ctx,
		&lnrpc.ChannelBalanceRequest{})
	if err != nil {
		return b, fmt.Errorf("provider1's channel balance: %w", err)
	}
	b.received = ledger.MilliSatoshi(bal.GetLocalBalance().GetMsat())
	return b, nil
}

// baseline takes the books before the work.
func (s *story) baseline(ctx context.Context) error {
	b, err := s.readBooks(ctx)
	if err != nil {
		return err
	}
	s.base = b
	fmt.Fprintf(s.out, "    provider %s: payable %s, paid out %s so "+
		"far; provider1's channel balance %s\n", s.providerID,
		sat(b.payable), sat(b.paidOut), sat(b.received))
	return nil
}

// meter is the job's meter as the provider sees it.
func (s *story) meter(ctx context.Context) (*sluicerpc.GetMeterResponse,
	error) {

	resp, err := s.provider.metering.GetMeter(ctx, connect.NewRequest(
		&sluicerpc.GetMeterRequest{JobId: s.job.JobId}))
	if err != nil {
		return nil, fmt.Errorf("get meter: %w", err)
	}
	return resp.Msg, nil
}

// Progress is one live line: what the story has done so far.
type Progress struct {
	// Elapsed is the time since the agent started; Final marks the
	// reading after it exited.
	Elapsed  time.Duration
	Final    bool
	Seconds  uint64
	Used     ledger.MilliSatoshi
	PaidOut  ledger.MilliSatoshi
	Payouts  int
	InFlight int
	Received ledger.MilliSatoshi
	Escrow   ledger.MilliSatoshi
}

// String is the compact live line.
func (p Progress) String() string {
	at := fmt.Sprintf("%3ds", int64(p.Elapsed/time.Second))
	if p.Final {
		at = "done"
	}
	return fmt.Sprintf("  %s | metered %3d s | used %s | streamed %s "+
		"in %d payouts (%d in flight) | provider1 +%s | escrow %s",
		at, p.Seconds, sat(p.Used),
		sat(p.PaidOut), p.Payouts, p.InFlight, sat(p.Received),
		sat(p.Escrow))
}

// live prints the live line; a read that fails is shown, not fatal.
func (s *story) live(ctx context.Context, elapsed time.Duration,
	final bool) {

	ctx, cancel := context.WithTimeout(ctx, 900*time.Millisecond)
	defer cancel()
	m, err := s.meter(ctx)
	if err != nil {
		fmt.Fprintf(s.out, "  %3ds | (meter: %v)\n",
			int64(elapsed/time.Second), err)
		return
	}
	b, err := s.readBooks(ctx)
	if err != nil {
		fmt.Fprintf(s.out, "  %3ds | (books: %v)\n",
			int64(elapsed/time.Second), err)
		return
	}
	d := b.sub(s.base)
	fmt.Fprintln(s.out, Progress{
		Elapsed: elapsed, Final: final, Seconds: m.LastSeq,
		Used:    ledger.MilliSatoshi(m.ChargedMsat),
		PaidOut: d.paidOut, Payouts: d.payouts, InFlight: d.pending,
		Received: d.received,
		Escrow:   ledger.MilliSatoshi(m.EscrowMsat),
	})
}

// waitDrained waits until the provider's payouts are done: nothing in
// flight, less than a payout's minimum payable, and provider1's node shows
// all of it. When that does not come in time the story goes on and the
// summary shows what is off.
func (s *story) waitDrained(ctx context.Context) error {
	err := poll(ctx, "the last payouts", 500*time.Millisecond,
		func() error {
			b, err := s.readBooks(ctx)
			if err != nil {
				return err
			}
			d := b.sub(s.base)
			switch {
			case b.inFlight != 0 || b.pending != 0:
				return fmt.Errorf("%s in flight", sat(b.inFlight))
			case b.payable >= payout.DefaultMinimum:
				return fmt.Errorf("%s payable", sat(b.payable))
			case d.received != d.paidOut:
				return fmt.Errorf("provider1 received %s of %s",
					sat(d.received), sat(d.paidOut))
			}
			return nil
		})
	if err != nil {
		fmt.Fprintf(s.out, "    not drained: %v\n", err)
	}
	return nil
}

// epochRewards is what the epochs closed during the story moved from the
// platform fees into the vault.
func (s *story) epochRewards(ctx context.Context) (ledger.MilliSatoshi,
	error) {

	epochs, err := s.operator.vault.ListEpochs(ctx, connect.NewRequest(
		&sluicerpc.ListEpochsRequest{After: s.act.baseEpoch}))
	if err != nil {
		return 0, fmt.Errorf("list epochs: %w", err)
	}
	var r ledger.MilliSatoshi
	for _, e := range epochs.Msg.Epochs {
		if e.Closed {
			r += ledger.MilliSatoshi(e.RewardMsat)
		}
	}
	return r, nil
}

// summarize reads the books after the story and reconciles them with the
// hub's lnd.
func (s *story) summarize(ctx context.Context) error {
	m, err := s.meter(ctx)
	if err != nil {
		return err
	}
	b, err := s.readBooks(ctx)
	if err != nil {
		return err
	}
	d := b.sub(s.base)
	sum := &Summary{
		JobID: s.job.JobId, ProviderID: s.providerID,
		Seconds:      m.LastSeq,
		Usage:        ledger.MilliSatoshi(m.ChargedMsat),
		PlatformFees: d.platformFees,
		PaidOut:      d.paidOut, Payable: d.payable,
		InFlight: d.inFlight, Payouts: d.payouts,
		Received:       d.received,
		SluicedRunning: s.leavesSluiced(),
	}
	jobID := s.job.JobId
	err = s.db.ExecTx(ctx, store.TxOptions{ReadOnly: true},
		func(tx *store.Tx) error {
			invoices, err := tx.JobInvoices(ctx, jobID)
			if err != nil {
				return err
			}
			for _, inv := range invoices {
				sum.Funded += inv.AmountPaid
			}
			entries, err := tx.History(ctx,
				ledger.BuyerEscrow(jobID), 0, 0)
			if err != nil {
				return err
			}
			for _, e := range entries {
				if e.Amount > 0 {
					sum.EscrowCredits += e.Amount
				}
			}
			// Auto-stake takes from the payable what each of
			// the job's charges earned.
			stakes, err := tx.History(ctx,
				ledger.ProviderPayable(s.providerID), 0, 0)
			if err != nil {
				return err
			}
			prefix := yield.AutoStakeKeyPrefix +
				metering.UsageKeyPrefix(jobID)
			for _, e := range stakes {
				if strings.HasPrefix(e.IdempotencyKey, prefix) {
					sum.Staked -= e.Amount
				}
			}
			refunds, err := tx.JobRefunds(ctx, jobID)
			if err != nil {
				return err
			}
			for _, r := range refunds {
				sum.RefundFees += r.Fee
			}
			if sum.Refunded, err = tx.Balance(ctx,
				ledger.Refunded(jobID)); err != nil {

				return err
			}
			if sum.EscrowLeft, err = tx.Balance(ctx,
				ledger.BuyerEscrow(jobID)); err != nil {

				return err
			}
			// Each unit sums to zero on its own; money and shares
			// are never added together.
			for _, k := range ledger.Kinds() {
				if k.Unit() == ledger.UnitShares {
					total, err := tx.ShareKindTotal(ctx, k)
					if err != nil {
						return err
					}
					sum.ShareSum += total
					continue
				}
				total, err := tx.KindTotal(ctx, k)
				if err != nil {
					return err
				}
				sum.LedgerSum += total
			}
			return nil
		})
	if err != nil {
		return fmt.Errorf("read the books: %w", err)
	}
	sum.PayoutFees = d.routingFees - sum.RefundFees
	sum.Shares = s.act.sum
	if sum.Rewards, err = s.epochRewards(ctx); err != nil {
		return err
	}
	s.sum = sum

	// The whole ledger against the hub's lnd, as an operator checks it.
	// The command exits 1 on a difference; its answer says which.
	var report sluicerpc.ReconcileResponse
	err = s.runCLI(ctx, &report, "operator", "reconcile")
	if err != nil && len(report.Differences) == 0 {
		return err
	}
	sum.Reconcile = &report
	return nil
}
