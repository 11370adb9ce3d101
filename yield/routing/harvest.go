package routing

import (
	"context"
	"errors"
	"fmt"
	"strconv"

	"github.com/btcsuite/btcd/chaincfg/chainhash"
	"github.com/btcsuite/btcd/wire"
	"github.com/sluice-ln/sluice/hubnode"
	"github.com/sluice-ln/sluice/ledger"
	"github.com/sluice-ln/sluice/yield"
)

// Harvest follows each of the strategy's channels in lnd and posts, once
// each, what it earned and cost, and its capital when it closed:
//
//   - its state: status, short channel id, open height, closing txid;
//   - the funding transaction's chain fee once it confirmed
//     ("yield-cost:open:<txid>");
//   - the fees of its forwards, page by page from its cursor
//     "fwd:<scid>" ("yield-routing:<scid>:<first>-<last>"), the cursor
//     set in each posting's transaction;
//   - once closed: its last forwards (read after lnd reported it
//     closed, so none is missed), the closing transaction's chain fee
//     ("yield-cost:close:<txid>"), then its capacity back to the vault
//     ("yield-return:<chanpoint>").
//
// A close the peer made, or any whose fee the hub's wallet cannot work
// out, posts no cost: the wallet did not pay it, or cannot say what it
// paid; it is logged. A channel that fails is logged and the others go on;
// the errors come back joined.
func (s *Strategy) Harvest(ctx context.Context, books yield.Books) error {
	rows, err := s.store.RoutingChannels(ctx)
	if err != nil {
		return fmt.Errorf("routing channels: %w", err)
	}
	var errs []error
	for _, ch := range rows {
		if ch.Status == StatusFailed || ch.Returned ||
			ch.ChanPoint == "" {

			continue
		}
		if err := s.harvest(ctx, books, ch); err != nil {
			log.Warnf("Harvest of channel %s: %v", ch.ChanPoint,
				err)
			errs = append(errs, fmt.Errorf("channel %s: %w",
				ch.ChanPoint, err))
		}
	}
	return errors.Join(errs...)
}

// harvest is Harvest of one channel.
func (s *Strategy) harvest(ctx context.Context, books yield.Books,
	ch Channel) error {

	point, err := wire.NewOutPointFromString(ch.ChanPoint)
	if err != nil {
		return fmt.Errorf("channel point: %w", err)
	}
	st, err := s.node.ByPoint(ctx, *point)
	if err != nil {
		return fmt.Errorf("state: %w", err)
	}
	if st.Status == hubnode.StatusUnknown {
		log.Warnf("Channel %s of open %d: lnd has no channel there",
			ch.ChanPoint, ch.ActionID)
	}
	if applyState(&ch, st) {
		if err := s.update(ctx, ch); err != nil {
			return err
		}
	}

	if !ch.OpenCostPosted && ch.OpenTxid != "" {
		posted, err := s.postFee(ctx, books, ch, "open", ch.OpenTxid)
		if err != nil {
			return err
		}
		if posted {
			ch.OpenCostPosted = true
			if err := s.update(ctx, ch); err != nil {
				return err
			}
		}
	}

	if ch.ShortChanID != 0 {
		if err := s.readForwards(ctx, books, ch); err != nil {
			return err
		}
	}

	if ch.Status != StatusClosed {
		return nil
	}
	if !ch.CloseCostPosted {
		settled := true
		if ch.CloseTxid != "" {
			settled, err = s.postFee(ctx, books, ch, "close",
				ch.CloseTxid)
			if err != nil {
				return err
			}
		} else {
			log.Warnf("Channel %s closed without a closing txid "+
				"known: no close cost posted", ch.ChanPoint)
		}
		if !settled {
			return nil
		}
		ch.CloseCostPosted = true
		if err := s.update(ctx, ch); err != nil {
			return err
		}
	}

	err = books.Return(ctx, "yield-return:"+ch.ChanPoint,
		fmt.Sprintf("capacity of channel %s to %v, closed",
			ch.ChanPoint, ch.Peer), ch.Capacity)
	if err != nil {
		return fmt.Errorf("return %v: %w", ch.Capacity, err)
	}
	ch.Returned = true
	if err := s.update(ctx, ch); err != nil {
		return err
	}
	log.Infof("Channel %s closed: %v returned to the vault", ch.ChanPoint,
		ch.Capacity)
	return nil
}

// update writes ch's row.
func (s *Strategy) update(ctx context.Context, ch Channel) error {
	ch.UpdatedAt = s.clock.Now()
	if err := s.store.UpdateRoutingChannel(ctx, ch); err != nil {
		return fmt.Errorf("record channel: %w", err)
	}
	return nil
}

// postFee posts the chain fee of ch's open or close transaction txid as a
// cost, once the transaction confirmed, and reports whether it is settled:
// posted, or known never to be (the wallet does not know the transaction
// or its fee: a close the peer made). false with no error means not yet
// (unconfirmed).
func (s *Strategy) postFee(ctx context.Context, books yield.Books,
	ch Channel, what, txid string) (bool, error) {

	hash, err := chainhash.NewHashFromStr(txid)
	if err != nil {
		return false, fmt.Errorf("%s txid %q: %w", what, txid, err)
	}
	info, err := s.node.TxFee(ctx, *hash)
	switch {
	case errors.Is(err, hubnode.ErrTxNotFound) && what == "close":
		log.Infof("Channel %s: the hub's wallet does not know the "+
			"closing transaction %s (a close the peer made?): no "+
			"cost posted", ch.ChanPoint, txid)
		return true, nil

	case errors.Is(err, hubnode.ErrTxNotFound):
		// The funding transaction is the hub's own: the wallet knows
		// it once published. Not yet, or not any more: look again.
		log.Warnf("Channel %s: the hub's wallet does not know the "+
			"funding transaction %s", ch.ChanPoint, txid)
		return false, nil

	case err != nil:
		return false, fmt.Errorf("%s fee: %w", what, err)

	case info.Confirmations <= 0:
		return false, nil

	case !info.FeeKnown || info.Fee == 0:
		log.Infof("Channel %s: the hub's wallet knows no fee of "+
			"the %s transaction %s (a close the peer made?): no "+
			"cost posted", ch.ChanPoint, what, txid)
		return true, nil
	}

	fee, err := ledger.FromSatoshis(int64(info.Fee))
	if err != nil {
		return false, fmt.Errorf("%s fee %d sat: %w", what,
			int64(info.Fee), err)
	}
	err = books.Cost(ctx, fmt.Sprintf("yield-cost:%s:%s", what, txid),
		fmt.Sprintf("chain fee of the %s transaction of channel %s",
			what, ch.ChanPoint), fee)
	if err != nil {
		return false, fmt.Errorf("post %s fee: %w", what, err)
	}
	return true, nil
}

// readForwards posts the fees of ch's forwards that its cursor has not
// passed, one income posting per page of lnd's forwarding log.
func (s *Strategy) readForwards(ctx context.Context, books yield.Books,
	ch Channel) error {

	scid := ch.ShortChanID
	name := fmt.Sprintf("fwd:%d", scid)
	value, err := books.Cursor(ctx, name)
	if err != nil {
		return fmt.Errorf("cursor %s: %w", name, err)
	}
	var offset uint64
	if value != "" {
		offset, err = strconv.ParseUint(value, 10, 64)
		if err != nil {
			return fmt.Errorf("cursor %s: %q: %w", name, value, err)
		}
	}

	for {
		page, err := s.node.Page(ctx, hubnode.ForwardQuery{
			Start:           ch.OpenedAt,
			OutgoingChanIDs: []uint64{scid},
			Offset:          offset,
		})
		if err != nil {
			return fmt.Errorf("forwards out of %d after %d: %w",
				scid, offset, err)
		}
		if len(page.Forwards) == 0 {
			return nil
		}

		var sum ledger.MilliSatoshi
		for _, f := range page.Forwards {
			if f.ChanOut != scid {
				return fmt.Errorf("forward %d went out of %d, "+
					"not %d: lnd ignored the filter",
					f.Index, f.ChanOut, scid)
			}
			if uint64(f.Fee) > lnwireMaxMsat {
				return fmt.Errorf("forward %d: fee %d msat: "+
					"%w", f.Index, uint64(f.Fee),
					ledger.ErrOverflow)
			}
			sum, err = sum.Add(ledger.MilliSatoshi(f.Fee))
			if err != nil {
				return fmt.Errorf("fees of forwards out of "+
					"%d: %w", scid, err)
			}
		}
		first := page.Forwards[0].Index
		last := page.Forwards[len(page.Forwards)-1].Index
		err = books.Income(ctx,
			fmt.Sprintf("yield-routing:%d:%d-%d", scid, first,
				last),
			fmt.Sprintf("fee_msat of forwards %d-%d out of %d",
				first, last, scid),
			sum, yield.Cursor{Name: name,
				Value: strconv.FormatUint(page.NextOffset, 10)})
		if err != nil {
			return fmt.Errorf("post forwards %d-%d out of %d: %w",
				first, last, scid, err)
		}
		offset = page.NextOffset
		if !page.Full {
			return nil
		}
	}
}

// lnwireMaxMsat is the largest fee one forward may carry into the ledger.
const lnwireMaxMsat = uint64(ledger.MaxMilliSatoshi)
