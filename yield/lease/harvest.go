package lease

import (
	"context"
	"errors"
	"fmt"
	"strconv"

	"github.com/btcsuite/btcd/chaincfg/chainhash"
	"github.com/btcsuite/btcd/wire"
	"github.com/sluice-ln/sluice/hubnode"
	"github.com/sluice-ln/sluice/ledger"
	"github.com/sluice-ln/sluice/lightning"
	"github.com/sluice-ln/sluice/yield"
)

// ReturnKey is the ledger key of the capacity of the lease's channel
// returning to the idle vault.
func ReturnKey(chanPoint string) string { return "yield-return:" + chanPoint }

// OpenCostKey and CloseCostKey are the ledger keys of a channel's chain
// fees.
func OpenCostKey(txid string) string  { return "yield-cost:open:" + txid }
func CloseCostKey(txid string) string { return "yield-cost:close:" + txid }

// harvested are the states Harvest follows; cancelled and failed leases
// are followed until lnd has their invoice cancelled.
var harvested = []State{
	StateAwaitingPayment, StatePaid, StateOpening, StateActive,
	StateExpired, StateClosing, StateCancelled, StateFailed,
}

// Harvest moves every lease forward by what lnd shows, each at most one
// step per call where a step needs lnd to act (a settle, a close), and
// posts what they earned and cost and the capital of the ones that ended:
//
//   - awaiting payment: the hold invoice accepted with the premium → paid;
//     cancelled, or expired unpaid (then cancelled) → cancelled;
//   - paid: the held payment's expiry within Config.SafetyMargin blocks
//     and no plan accepted it → the invoice cancelled, the lease
//     cancelled;
//   - opening: the funding confirmed → the invoice settled, the open's
//     fee posted, active from the confirming block to that block plus
//     the lease's blocks;
//   - active: the premium recognised up to the current height; at the
//     expiry height → expired; a channel the peer closed early → the
//     premium recognised in full, closing;
//   - expired: closed cooperatively (forced Config.ForceCloseAfter
//     blocks after the expiry) → closing;
//   - closing: closed → the close's fee posted, the capacity returned,
//     closed.
//
// One lease's error does not stop the others; they are joined.
func (s *Strategy) Harvest(ctx context.Context, books yield.Books) error {
	leases, err := s.store.Leases(ctx, Filter{States: harvested})
	if err != nil {
		return fmt.Errorf("leases: %w", err)
	}
	if len(leases) == 0 {
		return nil
	}
	height, err := s.node.BestHeight(ctx)
	if err != nil {
		return err
	}
	var errs []error
	for _, l := range leases {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		if err := s.harvestOne(ctx, books, l, height); err != nil {
			errs = append(errs, fmt.Errorf("lease %s: %w", l.ID,
				err))
		}
	}
	return errors.Join(errs...)
}

// harvestOne moves one lease as far forward as lnd shows now.
func (s *Strategy) harvestOne(ctx context.Context, books yield.Books,
	l Lease, height uint32) error {

	var err error
	for range len(States) {
		before := l.State
		switch l.State {
		case StateAwaitingPayment:
			l, err = s.awaiting(ctx, l)
		case StatePaid:
			l, err = s.paid(ctx, l, height)
		case StateOpening:
			l, err = s.opening(ctx, books, l, height)
		case StateActive:
			l, err = s.active(ctx, books, l, height)
		case StateExpired:
			l, err = s.expired(ctx, l, height)
		case StateClosing:
			l, err = s.closing(ctx, books, l)
		case StateCancelled, StateFailed:
			return s.cancelInvoice(ctx, &l)
		default:
			return nil
		}
		if err != nil || l.State == before {
			return err
		}
	}
	return nil
}

// save writes l to its row if the row is still in from.
func (s *Strategy) save(ctx context.Context, l Lease, from State) error {
	if !from.CanMoveTo(l.State) {
		return fmt.Errorf("lease %s: %s to %s is not a move a lease "+
			"makes", l.ID, from, l.State)
	}
	l.UpdatedAt = s.now()
	if err := s.store.UpdateLease(ctx, l, from); err != nil {
		return fmt.Errorf("record %s: %w", l.State, err)
	}
	if from != l.State {
		log.Infof("Lease %s: %s → %s %s", l.ID, from, l.State,
			l.Reason)
	}
	return nil
}

// awaiting follows an unpaid lease's invoice.
func (s *Strategy) awaiting(ctx context.Context, l Lease) (Lease, error) {
	expired := !s.now().Before(l.InvoiceExpiresAt)
	st, err := s.invoices.State(ctx, l.Hash)
	switch {
	case errors.Is(err, lightning.ErrInvoiceNotFound):
		if !expired {
			// Not made yet: the request is still under way.
			return l, nil
		}
		l.State, l.InvoiceDone = StateCancelled, true
		l.Reason = "the invoice was never made"
		return l, s.save(ctx, l, StateAwaitingPayment)

	case err != nil:
		return l, err
	}

	switch {
	case st.State == hubnode.HoldAccepted &&
		ledger.MilliSatoshi(st.AmountPaid) >= l.Premium,
		st.State == hubnode.HoldSettled:

		l.State = StatePaid
		l.HTLCExpiry = uint32(max(st.HTLCExpiry, 0))
		return l, s.save(ctx, l, StateAwaitingPayment)

	case st.State == hubnode.HoldCanceled:
		l.State, l.InvoiceDone = StateCancelled, true
		l.Reason = "the invoice was cancelled unpaid"
		return l, s.save(ctx, l, StateAwaitingPayment)

	case expired && st.State == hubnode.HoldOpen:
		l.State = StateCancelled
		l.Reason = "the invoice expired unpaid"
		if err := s.save(ctx, l, StateAwaitingPayment); err != nil {
			return l, err
		}
		err := s.cancelInvoice(ctx, &l)
		return l, err
	}
	return l, nil
}

// paid gives a paid lease's payment back when its expiry nears and no
// plan accepted it.
func (s *Strategy) paid(ctx context.Context, l Lease, height uint32) (Lease,
	error) {

	st, err := s.invoices.State(ctx, l.Hash)
	if err != nil {
		return l, err
	}
	if st.State == hubnode.HoldCanceled {
		l.State, l.InvoiceDone = StateCancelled, true
		l.Reason = "lnd cancelled the held payment"
		return l, s.save(ctx, l, StatePaid)
	}
	if st.HTLCExpiry > 0 && uint32(st.HTLCExpiry) != l.HTLCExpiry {
		l.HTLCExpiry = uint32(st.HTLCExpiry)
		if err := s.save(ctx, l, StatePaid); err != nil {
			return l, err
		}
	}
	if l.HTLCExpiry == 0 || height+s.cfg.SafetyMargin < l.HTLCExpiry {
		return l, nil
	}
	l.State = StateCancelled
	l.Reason = fmt.Sprintf("no plan accepted it before the payment's "+
		"expiry at height %d (now %d): payment given back",
		l.HTLCExpiry, height)
	if err := s.save(ctx, l, StatePaid); err != nil {
		return l, err
	}
	err = s.cancelInvoice(ctx, &l)
	return l, err
}

// opening follows a lease's open until its funding confirms.
func (s *Strategy) opening(ctx context.Context, books yield.Books, l Lease,
	height uint32) (Lease, error) {

	if l.ChanPoint == "" {
		// The action is under way, or crashed before recording the
		// point: lnd's memo tells.
		st, found, err := s.node.ByMemo(ctx, l.Memo())
		if err != nil || !found {
			return l, err
		}
		l.ChanPoint = st.Point.String()
		if err := s.save(ctx, l, StateOpening); err != nil {
			return l, err
		}
	}
	point, err := wire.NewOutPointFromString(l.ChanPoint)
	if err != nil {
		return l, fmt.Errorf("channel point %q: %w", l.ChanPoint, err)
	}
	st, err := s.node.ByPoint(ctx, *point)
	if err != nil {
		return l, err
	}
	switch st.Status {
	case hubnode.StatusOpen:
		if st.OpenHeight == 0 {
			return l, nil
		}

	case hubnode.StatusClosing, hubnode.StatusClosed:
		// Closed before it opened: nothing was leased.
		if err := s.cancelHeld(ctx, &l); err != nil {
			return l, err
		}
		l.Reason = "the channel closed before its funding confirmed"
		return s.toClosing(ctx, l, st, StateOpening)

	default:
		return l, nil
	}

	err = s.invoices.Settle(ctx, l.Preimage)
	switch {
	case err == nil:
		l.Settled, l.InvoiceDone = true, true

	case errors.Is(err, hubnode.ErrInvoiceCanceled):
		// The payment went back before the channel opened: the
		// buyer has it, the hub closes the channel.
		l.InvoiceDone = true
		l.Reason = "the hold invoice was cancelled before the " +
			"channel opened: no premium; closed at once"

	default:
		return l, fmt.Errorf("settle: %w", err)
	}
	if err := s.postOpenCost(ctx, books, &l, point.Hash); err != nil {
		return l, err
	}
	l.StartHeight = st.OpenHeight
	l.ExpiryHeight = st.OpenHeight + l.Blocks
	l.State = StateActive
	if !l.Settled {
		l.ExpiryHeight = st.OpenHeight
		l.State = StateExpired
	}
	return l, s.save(ctx, l, StateOpening)
}

// cancelHeld cancels the invoice of a lease whose payment was not
// settled.
func (s *Strategy) cancelHeld(ctx context.Context, l *Lease) error {
	if l.Settled || l.InvoiceDone {
		return nil
	}
	err := s.invoices.Cancel(ctx, l.Hash)
	if err != nil && !errors.Is(err, lightning.ErrInvoiceNotFound) {
		return fmt.Errorf("cancel invoice: %w", err)
	}
	l.InvoiceDone = true
	return nil
}

// postOpenCost posts the funding transaction's chain fee once.
func (s *Strategy) postOpenCost(ctx context.Context, books yield.Books,
	l *Lease, txid chainhash.Hash) error {

	if l.OpenCostPosted {
		return nil
	}
	info, err := s.node.TxFee(ctx, txid)
	switch {
	case errors.Is(err, hubnode.ErrTxNotFound):
		log.Warnf("Lease %s: the wallet does not know funding "+
			"transaction %v: no open fee posted", l.ID, txid)

	case err != nil:
		return fmt.Errorf("open fee: %w", err)

	default:
		fee, err := ledger.FromSatoshis(int64(info.Fee))
		if err != nil {
			return err
		}
		err = books.Cost(ctx, OpenCostKey(txid.String()),
			fmt.Sprintf("lease %s: chain fee of opening %s",
				l.ID, l.ChanPoint), fee)
		if err != nil {
			return fmt.Errorf("post open fee: %w", err)
		}
	}
	l.OpenCostPosted = true
	return nil
}

// active recognises an active lease's premium up to height, and ends it
// at its expiry or when the channel closed.
func (s *Strategy) active(ctx context.Context, books yield.Books, l Lease,
	height uint32) (Lease, error) {

	point, err := wire.NewOutPointFromString(l.ChanPoint)
	if err != nil {
		return l, fmt.Errorf("channel point %q: %w", l.ChanPoint, err)
	}
	st, err := s.node.ByPoint(ctx, *point)
	if err != nil {
		return l, err
	}
	if st.Status == hubnode.StatusClosing ||
		st.Status == hubnode.StatusClosed {

		// Closed early (by the peer, or forced): the buyer paid for
		// the lease, so all of its premium is recognised now.
		if err := s.recognise(ctx, books, &l, l.ExpiryHeight); err != nil {
			return l, err
		}
		l.Reason = fmt.Sprintf("the channel closed at height %d "+
			"before the lease's expiry at %d: premium recognised "+
			"in full", max(st.CloseHeight, 0), l.ExpiryHeight)
		return s.toClosing(ctx, l, st, StateActive)
	}

	if err := s.recognise(ctx, books, &l, height); err != nil {
		return l, err
	}
	if height < l.ExpiryHeight {
		return l, nil
	}
	l.State = StateExpired
	return l, s.save(ctx, l, StateActive)
}

// recognise posts the premium recognised up to height h (at most the
// expiry height) since the last posting, under the lease's cursor.
func (s *Strategy) recognise(ctx context.Context, books yield.Books,
	l *Lease, h uint32) error {

	if !l.Settled || l.StartHeight == 0 {
		return nil
	}
	h = min(h, l.ExpiryHeight)
	cur, err := books.Cursor(ctx, CursorName(l.ID))
	if err != nil {
		return fmt.Errorf("cursor: %w", err)
	}
	var h0 uint32
	if cur != "" {
		v, err := strconv.ParseUint(cur, 10, 32)
		if err != nil {
			return fmt.Errorf("cursor %q: %w", cur, err)
		}
		h0 = uint32(v)
	}
	if h <= h0 {
		return nil
	}
	upTo := Recognised(l.Premium, l.StartHeight, l.Blocks, h)
	delta := upTo - Recognised(l.Premium, l.StartHeight, l.Blocks, h0)
	err = books.Income(ctx, IncomeKey(l.ID, h),
		fmt.Sprintf("lease %s: premium recognised to height %d "+
			"(%d of %d blocks)", l.ID, h,
			min(h-l.StartHeight, l.Blocks), l.Blocks), delta,
		yield.Cursor{Name: CursorName(l.ID),
			Value: strconv.FormatUint(uint64(h), 10)})
	if err != nil {
		return fmt.Errorf("post premium: %w", err)
	}
	l.Recognised, l.RecognisedHeight = upTo, h
	return s.save(ctx, *l, l.State)
}

// expired closes an expired lease's channel: cooperatively, or forced
// once Config.ForceCloseAfter blocks passed the expiry.
func (s *Strategy) expired(ctx context.Context, l Lease, height uint32) (
	Lease, error) {

	point, err := wire.NewOutPointFromString(l.ChanPoint)
	if err != nil {
		return l, fmt.Errorf("channel point %q: %w", l.ChanPoint, err)
	}
	force := height >= l.ExpiryHeight+s.cfg.ForceCloseAfter
	req := hubnode.CloseRequest{TargetConf: int32(s.cfg.FundingConfirms)}
	if force {
		req = hubnode.CloseRequest{Force: true}
	}
	txid, err := s.node.Close(ctx, *point, req)
	switch {
	case errors.Is(err, hubnode.ErrPeerUnreachable):
		log.Infof("Lease %s: the buyer is offline; closing again "+
			"later (forced from height %d)", l.ID,
			l.ExpiryHeight+s.cfg.ForceCloseAfter)
		return l, nil

	case errors.Is(err, hubnode.ErrChannelNotFound):
		st, err := s.node.ByPoint(ctx, *point)
		if err != nil {
			return l, err
		}
		return s.toClosing(ctx, l, st, StateExpired)

	case err != nil:
		return l, fmt.Errorf("close: %w", err)
	}
	l.CloseTxid = txid.String()
	l.State = StateClosing
	return l, s.save(ctx, l, StateExpired)
}

// toClosing records a lease whose channel lnd reports closing or closed as
// closing, with its closing txid when lnd has one.
func (s *Strategy) toClosing(ctx context.Context, l Lease,
	st hubnode.ChannelState, from State) (Lease, error) {

	if st.CloseTxid != nil && l.CloseTxid == "" {
		l.CloseTxid = st.CloseTxid.String()
	}
	l.State = StateClosing
	return l, s.save(ctx, l, from)
}

// closing ends a lease whose channel closed: the close's fee posted, the
// capacity returned.
func (s *Strategy) closing(ctx context.Context, books yield.Books,
	l Lease) (Lease, error) {

	point, err := wire.NewOutPointFromString(l.ChanPoint)
	if err != nil {
		return l, fmt.Errorf("channel point %q: %w", l.ChanPoint, err)
	}
	st, err := s.node.ByPoint(ctx, *point)
	if err != nil {
		return l, err
	}
	if st.CloseTxid != nil && l.CloseTxid == "" {
		l.CloseTxid = st.CloseTxid.String()
	}
	if st.Status != hubnode.StatusClosed {
		return l, nil
	}
	if !l.CloseCostPosted {
		if err := s.postCloseCost(ctx, books, &l); err != nil {
			return l, err
		}
	}
	if !l.Returned {
		err := books.Return(ctx, ReturnKey(l.ChanPoint),
			fmt.Sprintf("lease %s: channel %s closed, capacity "+
				"returned", l.ID, l.ChanPoint), l.Principal())
		if err != nil {
			return l, fmt.Errorf("return capital: %w", err)
		}
		l.Returned = true
	}
	l.State = StateClosed
	return l, s.save(ctx, l, StateClosing)
}

// postCloseCost posts the closing transaction's fee when the hub's wallet
// knows it.
func (s *Strategy) postCloseCost(ctx context.Context, books yield.Books,
	l *Lease) error {

	if l.CloseTxid == "" {
		log.Warnf("Lease %s: closed without a closing txid: no close "+
			"fee posted", l.ID)
		l.CloseCostPosted = true
		return nil
	}
	txid, err := chainhash.NewHashFromStr(l.CloseTxid)
	if err != nil {
		return fmt.Errorf("close txid %q: %w", l.CloseTxid, err)
	}
	info, err := s.node.TxFee(ctx, *txid)
	switch {
	case errors.Is(err, hubnode.ErrTxNotFound):
		log.Warnf("Lease %s: the wallet does not know closing "+
			"transaction %v: no close fee posted", l.ID, txid)

	case err != nil:
		return fmt.Errorf("close fee: %w", err)

	case !info.FeeKnown:
		log.Warnf("Lease %s: the wallet cannot tell closing "+
			"transaction %v's fee: none posted", l.ID, txid)

	default:
		fee, err := ledger.FromSatoshis(int64(info.Fee))
		if err != nil {
			return err
		}
		err = books.Cost(ctx, CloseCostKey(l.CloseTxid),
			fmt.Sprintf("lease %s: chain fee of closing %s", l.ID,
				l.ChanPoint), fee)
		if err != nil {
			return fmt.Errorf("post close fee: %w", err)
		}
	}
	l.CloseCostPosted = true
	return nil
}
