package settlement

import (
	"context"
	"errors"
	"fmt"

	"github.com/cenkalti/backoff/v4"
	"github.com/lightningnetwork/lnd/lntypes"
	"github.com/sluice-ln/sluice/failpoint"
	"github.com/sluice-ln/sluice/ledger"
	"github.com/sluice-ln/sluice/lightning"
	"github.com/sluice-ln/sluice/outbound"
)

// watchInvoices subscribes to the hub's settled invoices from the last
// settle index processed, catches up on the jobs' open invoices, and
// credits each job invoice that settles. When the stream breaks it
// subscribes again from the cursor, with a growing delay, until ctx ends.
func (m *Manager) watchInvoices(ctx context.Context) {
	defer m.wg.Done()

	wait := newResubscribeBackoff()
	for ctx.Err() == nil {
		err := m.watchOnce(ctx, wait.Reset)
		if ctx.Err() != nil {
			return
		}
		delay := wait.NextBackOff()
		log.Warnf("Invoice stream: %v; subscribing again in %v", err,
			delay)
		select {
		case <-m.cfg.Clock.TickAfter(delay):
		case <-ctx.Done():
			return
		}
	}
}

// newResubscribeBackoff returns the waits between invoice subscriptions:
// doubling from resubscribeDelay up to maxResubscribeDelay, without
// jitter (one stream, nothing to fall in step with), never giving up
// (outbound.Doubling). Reset starts over once a subscription is up.
func newResubscribeBackoff() *backoff.ExponentialBackOff {
	return outbound.Doubling(resubscribeDelay, maxResubscribeDelay)
}

// watchOnce runs one subscription until it breaks; connected is called once
// it is up.
func (m *Manager) watchOnce(ctx context.Context, connected func()) error {
	var cursor uint64
	err := m.execTx(ctx, true, func(tx TxStore) error {
		var err error
		cursor, err = tx.Cursor(ctx, settleCursor)
		return err
	})
	if err != nil {
		return fmt.Errorf("read settle cursor: %w", err)
	}

	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	updates, errs, err := m.cfg.Invoices.SubscribeSettled(ctx, cursor)
	if err != nil {
		return err
	}
	log.Infof("Watching the hub's invoices from settle index %d", cursor)
	connected()

	// Subscribed first, caught up second: an invoice that settles in
	// between is in the stream, and one that settled before is found by
	// looking it up. Crediting is idempotent, so seeing one twice is
	// harmless.
	if err := m.catchUp(ctx); err != nil {
		log.Warnf("Catching up on open invoices: %v", err)
	}

	for {
		select {
		case inv, ok := <-updates:
			if !ok {
				return errors.New("invoice stream closed")
			}
			if err := m.settled(ctx, inv, true); err != nil {
				// The cursor did not move: the next
				// subscription replays this invoice.
				return fmt.Errorf("invoice %v: %w", inv.Hash,
					err)
			}

		case err := <-errs:
			return err

		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

// catchUp looks up every job invoice still open in the store and credits
// the ones lnd settled while nobody watched.
func (m *Manager) catchUp(ctx context.Context) error {
	var open []StoredInvoice
	err := m.execTx(ctx, true, func(tx TxStore) error {
		var err error
		open, err = tx.OpenJobInvoices(ctx)
		return err
	})
	if err != nil {
		return err
	}
	for _, row := range open {
		hash, err := lntypes.MakeHashFromStr(row.PaymentHash)
		if err != nil {
			return fmt.Errorf("stored invoice hash %q: %w",
				row.PaymentHash, err)
		}
		inv, err := m.cfg.Invoices.LookupInvoice(ctx, hash)
		if err != nil {
			log.Warnf("Catch-up: invoice %v of job %s: %v", hash,
				row.JobID, err)
			continue
		}
		if inv.State != lightning.InvoiceSettled {
			continue
		}
		log.Infof("Catch-up: invoice %v of job %s settled while "+
			"nobody watched", hash, row.JobID)
		if err := m.settled(ctx, inv, false); err != nil {
			return err
		}
	}
	return nil
}

// settled credits a settled hub invoice to its job, in one store
// transaction with the cursor (when the invoice came from the stream, which
// delivers in settle index order): the invoice's amount paid moves from
// hub holdings into the job's escrow under the key fund:<payment hash>, a
// job awaiting funding becomes funded, and solvency is re-evaluated, which
// resumes a suspended or low job when the top-up lifts it. Invoices that
// are not a job's only move the cursor; one credited before changes
// nothing.
func (m *Manager) settled(ctx context.Context, inv lightning.Invoice,
	fromStream bool) error {

	failpoint.Hit(FailpointBeforeCredit)

	hash := inv.Hash.String()
	var (
		jobID      string
		endedFunds bool
	)
	err := m.execTx(ctx, false, func(tx TxStore) error {
		jobID, endedFunds = "", false
		if fromStream {
			_, err := tx.AdvanceCursor(ctx, settleCursor,
				inv.SettleIndex)
			if err != nil {
				return err
			}
		}
		row, err := tx.JobInvoiceByHash(ctx, hash)
		if errors.Is(err, ErrInvoiceNotFound) {
			return nil
		}
		if err != nil {
			return err
		}
		switch row.State {
		case InvoiceSettled:
			return nil
		case InvoiceOpen:
		default:
			// lnd settled what the store thought dead: take
			// the money anyway, it is the buyer's.
			log.Errorf("Invoice %s of job %s settled in lnd but "+
				"is %s in the store; crediting it", hash,
				row.JobID, row.State)
		}
		jobID = row.JobID

		paid := ledger.MilliSatoshi(inv.AmountPaid)
		if paid <= 0 {
			return fmt.Errorf("invoice %s settled with %d msat",
				hash, paid)
		}
		settledAt := inv.SettledAt
		if settledAt.IsZero() {
			settledAt = m.now()
		}
		err = tx.UpdateJobInvoice(ctx, InvoiceOutcome{
			PaymentHash: hash, State: InvoiceSettled,
			AmountPaid: paid, SettleIndex: inv.SettleIndex,
			SettledAt: settledAt,
		})
		if err != nil {
			return err
		}

		_, err = m.cfg.Ledger.PostTx(ctx, tx, ledger.Transfer(
			"fund:"+hash,
			fmt.Sprintf("%s of job %s", row.Purpose, row.JobID),
			ledger.HubHoldings(), ledger.BuyerEscrow(row.JobID),
			paid))
		if err != nil {
			return err
		}

		job, err := tx.JobByID(ctx, row.JobID)
		if err != nil {
			return err
		}
		switch state := job.State; {
		case state == StateAwaitingFunding:
			err := m.transition(ctx, tx, &job, StateFunded,
				CauseFundingSettled, fmt.Sprintf("paid %d msat",
					paid))
			if err != nil {
				return err
			}
		case state.Terminal():
			endedFunds = true
			return nil
		}
		_, err = m.evaluate(ctx, tx, &job)
		return err
	})
	if err != nil {
		return err
	}
	if jobID != "" {
		log.Infof("Invoice %s settled: %d msat into the escrow of job "+
			"%s", hash, inv.AmountPaid, jobID)
	}
	if endedFunds {
		// Money arrived for a job that had ended: send it back.
		m.refundToNode(ctx, jobID, "money that came in after it ended")
	}
	return nil
}

// sweep runs SweepInterval after its last run, on the Clock, and when
// woken: it resolves expired invoices, makes top-up invoices ready and
// resumes refunds that no goroutine follows (all the pending ones, on the
// first run).
func (m *Manager) sweep(ctx context.Context) {
	defer m.wg.Done()

	var asked chan struct{}
	for {
		m.sweepOnce(ctx)
		if asked != nil {
			close(asked)
			asked = nil
		}
		select {
		case <-m.cfg.Clock.TickAfter(m.cfg.SweepInterval):
		case <-m.kick:
		case asked = <-m.sweepNow:
		case <-ctx.Done():
			return
		}
	}
}

// sweepOnce does one round of the sweeper's work.
func (m *Manager) sweepOnce(ctx context.Context) {
	if err := m.expireInvoices(ctx); err != nil && ctx.Err() == nil {
		log.Warnf("Expiring invoices: %v", err)
	}
	if err := m.readyTopUps(ctx); err != nil && ctx.Err() == nil {
		log.Warnf("Top-up invoices: %v", err)
	}
	if err := m.resumeRefunds(ctx); err != nil && ctx.Err() == nil {
		log.Warnf("Resuming refunds: %v", err)
	}
	if err := m.retryRefunds(ctx); err != nil && ctx.Err() == nil {
		log.Warnf("Retrying refunds: %v", err)
	}
	if m.cfg.Placer == nil {
		return
	}
	if err := m.replaceLapsed(ctx); err != nil && ctx.Err() == nil {
		log.Warnf("Placing jobs again: %v", err)
	}
	if err := m.endLost(ctx); err != nil && ctx.Err() == nil {
		log.Warnf("Ending jobs of lost providers: %v", err)
	}
}

// expireInvoices resolves the open invoices whose expiry has passed: lnd
// cancels an expired invoice itself, and canceling it here as well makes
// sure no payment can settle it after the job expired. One that settled
// after all is credited.
func (m *Manager) expireInvoices(ctx context.Context) error {
	var open []StoredInvoice
	err := m.execTx(ctx, true, func(tx TxStore) error {
		var err error
		open, err = tx.OpenJobInvoices(ctx)
		return err
	})
	if err != nil {
		return err
	}
	now := m.now()
	for _, row := range open {
		if row.ExpiresAt.After(now) {
			// Sorted by expiry: the rest are later.
			break
		}
		if err := m.closeInvoice(ctx, row, InvoiceExpired); err != nil {
			log.Warnf("Invoice %s of job %s: %v", row.PaymentHash,
				row.JobID, err)
		}
	}
	return nil
}

// closeInvoice cancels an open invoice in lnd and records it as state
// (expired or canceled); a funding invoice that expires expires its job.
// An invoice lnd settled meanwhile is credited instead.
func (m *Manager) closeInvoice(ctx context.Context, row StoredInvoice,
	state string) error {

	hash, err := lntypes.MakeHashFromStr(row.PaymentHash)
	if err != nil {
		return err
	}
	err = m.cfg.Invoices.CancelInvoice(ctx, hash)
	switch {
	case errors.Is(err, lightning.ErrInvoiceSettled):
		inv, err := m.cfg.Invoices.LookupInvoice(ctx, hash)
		if err != nil {
			return err
		}
		return m.settled(ctx, inv, false)

	case err != nil && !errors.Is(err, lightning.ErrInvoiceNotFound):
		return err
	}

	return m.execTx(ctx, false, func(tx TxStore) error {
		err := tx.UpdateJobInvoice(ctx, InvoiceOutcome{
			PaymentHash: row.PaymentHash, State: state,
		})
		if errors.Is(err, ErrStale) {
			return nil
		}
		if err != nil {
			return err
		}
		if state != InvoiceExpired || row.Purpose != PurposeFunding {
			log.Infof("Job %s: %s invoice %s %s", row.JobID,
				row.Purpose, row.PaymentHash, state)
			return nil
		}
		job, err := tx.JobByID(ctx, row.JobID)
		if err != nil {
			return err
		}
		if job.State != StateAwaitingFunding {
			return nil
		}
		return m.transition(ctx, tx, &job, StateExpired,
			CauseFundingExpired, "invoice "+row.PaymentHash+
				" expired unpaid")
	})
}

// readyTopUps makes a top-up invoice for every job low on balance or
// suspended that has none open.
func (m *Manager) readyTopUps(ctx context.Context) error {
	jobs, err := m.ListJobs(ctx, ListFilter{States: []State{
		StateLowBalance, StateSuspended,
	}})
	if err != nil {
		return err
	}
	for _, st := range jobs {
		if !needsTopUp(st) {
			continue
		}
		if err := m.ensureTopUp(ctx, st.ID); err != nil {
			log.Warnf("Job %s: top-up invoice: %v", st.ID, err)
		}
	}
	return nil
}
