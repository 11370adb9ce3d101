package lease

import (
	"context"
	"errors"
	"fmt"

	"github.com/btcsuite/btcd/wire"
	"github.com/sluice-ln/sluice/failpoint"
	"github.com/sluice-ln/sluice/hubnode"
	"github.com/sluice-ln/sluice/lightning"
	"github.com/sluice-ln/sluice/outbound"
	"github.com/sluice-ln/sluice/yield"
)

// The strategy's failpoints (package failpoint), in a lease_accept's
// execution.
const (
	// FailpointOpenBeforeCall fires when the lease is recorded opening
	// and lnd has no channel with its memo, before lnd is asked.
	FailpointOpenBeforeCall = "lease-open-before-call"

	// FailpointOpenAfterCall fires when lnd answered the open with its
	// channel point, before the point is recorded.
	FailpointOpenAfterCall = "lease-open-after-call"
)

// Failpoints are the strategy's failpoints in the one outbound lifecycle.
var Failpoints = outbound.Failpoints{
	AfterIntent: FailpointOpenBeforeCall,
	AfterSend:   FailpointOpenAfterCall,
}

// refusals are lnd's answers to an open that say it was refused for good:
// no channel was made, and asking again would be refused again.
var refusals = []error{
	hubnode.ErrChannelRequest,
	hubnode.ErrUnknownPeer,
	hubnode.ErrPeerUnreachable,
	hubnode.ErrInsufficientFunds,
	hubnode.ErrChannelSize,
	hubnode.ErrOpenRefused,
}

// refused reports whether err is one of refusals.
func refused(err error) bool {
	for _, r := range refusals {
		if errors.Is(err, r) {
			return true
		}
	}
	return false
}

// failed is the outcome of an action refused for good.
func failed(err error) yield.ActionOutcome {
	return yield.ActionOutcome{Failed: true, Error: err.Error()}
}

// hit fires a failpoint.
func (s *Strategy) hit(name string) {
	if s.cfg.Hook != nil {
		s.cfg.Hook(name)
		return
	}
	failpoint.Hit(name)
}

// Execute carries out a lease_accept: it records the lease opening under
// the action (once: a lease accepted by another action fails this one,
// and the vault takes its capital back), looks the lease's memo
// "sluice-lease-<id>" up in lnd, as a crash may have left the open made,
// and asks lnd to open a public channel of the capacity to the buyer only
// when lnd has none. The channel point is recorded and is the outcome's
// Result. When lnd refuses the open the hold invoice is cancelled, so the
// buyer's payment goes back, the lease is failed, and so is the action.
// An error means lnd's answer is not known; the vault calls again.
func (s *Strategy) Execute(ctx context.Context, a yield.Action,
	_ yield.Books) (yield.ActionOutcome, error) {

	switch {
	case a.Strategy != Name:
		return failed(fmt.Errorf("action %d is strategy %q's, not %q's",
			a.ID, a.Strategy, Name)), nil

	case a.Kind != yield.ActionLeaseAccept:
		return failed(fmt.Errorf("action %d: the lease strategy does "+
			"not %s", a.ID, a.Kind)), nil

	case a.ID <= 0:
		return failed(fmt.Errorf("lease_accept has no id (%d)", a.ID)),
			nil
	}

	l, err := s.store.Lease(ctx, a.Target)
	switch {
	case errors.Is(err, ErrLeaseNotFound):
		return failed(fmt.Errorf("action %d: %w: %q", a.ID,
			ErrLeaseNotFound, a.Target)), nil

	case err != nil:
		return yield.ActionOutcome{}, err
	}
	if a.Amount != l.Principal() {
		return failed(fmt.Errorf("action %d: amount %v is not lease "+
			"%s's capacity %d sat", a.ID, a.Amount, l.ID,
			int64(l.Capacity))), nil
	}

	switch {
	case l.ActionID != 0 && l.ActionID != a.ID:
		return failed(fmt.Errorf("lease %s was accepted by action %d",
			l.ID, l.ActionID)), nil

	case l.State == StateFailed:
		// Refused before; the invoice may still need cancelling.
		if err := s.cancelInvoice(ctx, &l); err != nil {
			return yield.ActionOutcome{}, err
		}
		return failed(fmt.Errorf("lease %s: %s", l.ID, l.Reason)), nil

	case l.State == StatePaid:
		height, err := s.node.BestHeight(ctx)
		if err != nil {
			return yield.ActionOutcome{}, err
		}
		if l.HTLCExpiry != 0 && height+s.cfg.SafetyMargin+
			s.cfg.FundingConfirms >= l.HTLCExpiry {

			// Left paid: the harvest gives the payment back.
			return failed(fmt.Errorf("lease %s: the held payment "+
				"expires at height %d, too soon to open and "+
				"confirm from %d", l.ID, l.HTLCExpiry,
				height)), nil
		}
		if l, err = s.beginOpen(ctx, l, a.ID); err != nil {
			return yield.ActionOutcome{}, err
		}

	case l.State != StateOpening && l.ChanPoint == "":
		return failed(fmt.Errorf("lease %s is %s, not paid", l.ID,
			l.State)), nil
	}
	if l.ChanPoint != "" {
		return yield.ActionOutcome{Result: l.ChanPoint}, nil
	}

	st, found, err := s.node.ByMemo(ctx, l.Memo())
	if err != nil {
		return yield.ActionOutcome{}, fmt.Errorf("lease %s: look up "+
			"its open: %w", l.ID, err)
	}
	if !found {
		s.hit(FailpointOpenBeforeCall)
		point, err := s.node.Open(ctx, hubnode.OpenRequest{
			Peer:       l.Node,
			Amount:     l.Capacity,
			Memo:       l.Memo(),
			TargetConf: int32(s.cfg.FundingConfirms),
		})
		switch {
		case errors.Is(err, hubnode.ErrMemoInUse):
			// Made meanwhile: Open returns its point.

		case err != nil && refused(err):
			return s.openRefused(ctx, l, err)

		case err != nil:
			return yield.ActionOutcome{}, fmt.Errorf("lease %s: "+
				"open: %w", l.ID, err)
		}
		s.hit(FailpointOpenAfterCall)
		st = hubnode.ChannelState{Point: point,
			Status: hubnode.StatusPendingOpen}
	}
	if err := s.recordPoint(ctx, &l, st.Point); err != nil {
		return yield.ActionOutcome{}, err
	}
	log.Infof("Lease %s: channel %v of %d sat to %v opening (action %d)",
		l.ID, st.Point, int64(l.Capacity), l.Node, a.ID)
	return yield.ActionOutcome{Result: l.ChanPoint}, nil
}

// beginOpen records a paid lease opening under the action: the intent,
// before lnd is asked.
func (s *Strategy) beginOpen(ctx context.Context, l Lease,
	actionID int64) (Lease, error) {

	l.State = StateOpening
	l.ActionID = actionID
	l.UpdatedAt = s.now()
	err := s.store.UpdateLease(ctx, l, StatePaid)
	if errors.Is(err, ErrStateChanged) {
		// Cancelled by the harvest, or taken by another action,
		// meanwhile: read it again and let Execute's next call decide.
		return Lease{}, fmt.Errorf("lease %s: %w", l.ID, err)
	}
	if err != nil {
		return Lease{}, fmt.Errorf("lease %s: record opening: %w",
			l.ID, err)
	}
	return l, nil
}

// recordPoint records the lease's channel point.
func (s *Strategy) recordPoint(ctx context.Context, l *Lease,
	point wire.OutPoint) error {

	l.ChanPoint = point.String()
	l.UpdatedAt = s.now()
	if err := s.store.UpdateLease(ctx, *l, l.State); err != nil {
		return fmt.Errorf("lease %s: record channel %v: %w", l.ID,
			point, err)
	}
	return nil
}

// openRefused ends an open lnd refused: unless a channel with the memo
// shows up after all, the lease fails and its invoice is cancelled.
func (s *Strategy) openRefused(ctx context.Context, l Lease,
	refusal error) (yield.ActionOutcome, error) {

	st, found, err := s.node.ByMemo(ctx, l.Memo())
	if err != nil {
		return yield.ActionOutcome{}, fmt.Errorf("lease %s: look up "+
			"its open after lnd refused it (%v): %w", l.ID,
			refusal, err)
	}
	if found {
		if err := s.recordPoint(ctx, &l, st.Point); err != nil {
			return yield.ActionOutcome{}, err
		}
		return yield.ActionOutcome{Result: l.ChanPoint}, nil
	}

	from := l.State
	l.State = StateFailed
	l.Reason = "lnd refused the open: " + refusal.Error()
	l.UpdatedAt = s.now()
	if err := s.store.UpdateLease(ctx, l, from); err != nil {
		return yield.ActionOutcome{}, fmt.Errorf("lease %s: record "+
			"refusal: %w", l.ID, err)
	}
	log.Warnf("Lease %s: open to %v refused: %v", l.ID, l.Node, refusal)
	if err := s.cancelInvoice(ctx, &l); err != nil {
		// The harvest cancels it later; the open's outcome is known.
		log.Warnf("Lease %s: cancel its invoice: %v", l.ID, err)
	}
	return failed(fmt.Errorf("lease %s: %w", l.ID, refusal)), nil
}

// cancelInvoice gives the held payment of a lease in a final state back,
// and records that lnd has the invoice cancelled.
func (s *Strategy) cancelInvoice(ctx context.Context, l *Lease) error {
	if l.InvoiceDone {
		return nil
	}
	err := s.invoices.Cancel(ctx, l.Hash)
	if err != nil && !errors.Is(err, lightning.ErrInvoiceNotFound) {
		return fmt.Errorf("lease %s: cancel invoice: %w", l.ID, err)
	}
	l.InvoiceDone = true
	l.UpdatedAt = s.now()
	if err := s.store.UpdateLease(ctx, *l, l.State); err != nil {
		return fmt.Errorf("lease %s: record invoice cancelled: %w",
			l.ID, err)
	}
	return nil
}
