package routing

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"

	"github.com/btcsuite/btcd/btcutil"
	"github.com/btcsuite/btcd/wire"
	"github.com/lightningnetwork/lnd/lnwire"
	"github.com/lightningnetwork/lnd/routing/route"
	"github.com/sluice-ln/sluice/hubnode"
	"github.com/sluice-ln/sluice/outbound"
	"github.com/sluice-ln/sluice/yield"
)

// The strategy's failpoints (package failpoint), in an open's execution.
const (
	// FailpointOpenBeforeCall fires when the open's row is recorded and
	// lnd has no channel with its memo, before lnd is asked to open.
	FailpointOpenBeforeCall = "routing-open-before-call"

	// FailpointOpenAfterCall fires when lnd answered the open with its
	// channel point, before the point is recorded.
	FailpointOpenAfterCall = "routing-open-after-call"
)

// Failpoints are the strategy's failpoints in the one outbound lifecycle:
// after the intent (the vault's action and the strategy's row), and once
// lnd recorded the call.
var Failpoints = outbound.Failpoints{
	AfterIntent: FailpointOpenBeforeCall,
	AfterSend:   FailpointOpenAfterCall,
}

// Execute carries out one action of an applied plan.
//
// An open records its row first (once per action), then looks its memo
// "sluice-yield-<action id>" up in lnd, as a crash may have left the open
// made, and asks lnd to open only when lnd has no channel with it; the
// channel point lnd answers is recorded and is the outcome's Result. A
// close asks lnd to close the strategy's channel cooperatively (a channel
// already closing gives its closing txid again) and records the closing
// txid. A policy change sets the channel's forwarding policy to the
// action's.
//
// lnd's refusals (an unknown or unreachable peer, too few funds, a size
// or policy lnd does not take, a channel it does not have or not open
// yet) end the action failed; an error means lnd's answer is not known
// and the vault calls Execute again later.
func (s *Strategy) Execute(ctx context.Context, a yield.Action,
	_ yield.Books) (yield.ActionOutcome, error) {

	if a.Strategy != Name {
		return failed(fmt.Errorf("action %d is strategy %q's, not %q's",
			a.ID, a.Strategy, Name)), nil
	}
	switch a.Kind {
	case yield.ActionOpen:
		return s.executeOpen(ctx, a)

	case yield.ActionClose:
		return s.executeClose(ctx, a)

	case yield.ActionPolicy:
		return s.executePolicy(ctx, a)
	}
	return failed(fmt.Errorf("action %d: the routing strategy does "+
		"not %s", a.ID, a.Kind)), nil
}

// failed is the outcome of an action refused for good.
func failed(err error) yield.ActionOutcome {
	return yield.ActionOutcome{Failed: true, Error: err.Error()}
}

// executeOpen opens the channel of an open action, at most once.
func (s *Strategy) executeOpen(ctx context.Context, a yield.Action) (
	yield.ActionOutcome, error) {

	peer, err := route.NewVertexFromStr(a.Target)
	switch {
	case a.ID <= 0:
		return failed(fmt.Errorf("open action has no id (%d)", a.ID)),
			nil

	case err != nil:
		return failed(fmt.Errorf("open action %d: target %q is not a "+
			"node key: %w", a.ID, a.Target, err)), nil

	case a.Amount <= 0 || a.Amount%1000 != 0:
		return failed(fmt.Errorf("open action %d: amount %v is not a "+
			"positive whole number of sats", a.ID, a.Amount)), nil
	}
	policy, err := s.actionPolicy(a)
	if err != nil {
		return failed(fmt.Errorf("open action %d: %w", a.ID, err)), nil
	}

	now := s.clock.Now()
	ch, err := s.store.InsertRoutingChannel(ctx, Channel{
		ActionID: a.ID, Peer: peer, Capacity: a.Amount,
		Memo: Memo(a.ID), Status: StatusOpening, OpenedAt: now,
		UpdatedAt: now,
	})
	if err != nil {
		return yield.ActionOutcome{}, fmt.Errorf("record open %d: %w",
			a.ID, err)
	}
	switch {
	case ch.Status == StatusFailed:
		return failed(fmt.Errorf("open action %d was refused by lnd "+
			"before", a.ID)), nil

	case ch.ChanPoint != "":
		return yield.ActionOutcome{Result: ch.ChanPoint}, nil
	}

	st, found, err := s.node.ByMemo(ctx, ch.Memo)
	if err != nil {
		return yield.ActionOutcome{}, fmt.Errorf("look up open %d: %w",
			a.ID, err)
	}
	if !found {
		s.hit(FailpointOpenBeforeCall)
		point, err := s.node.Open(ctx, hubnode.OpenRequest{
			Peer:        peer,
			Amount:      btcutil.Amount(a.Amount.ToSatoshisFloor()),
			Memo:        ch.Memo,
			TargetConf:  s.cfg.TargetConf,
			BaseFeeMsat: &policy.BaseFeeMsat,
			FeeRatePPM:  &policy.FeeRatePPM,
		})
		switch {
		case errors.Is(err, hubnode.ErrMemoInUse):
			// Made meanwhile: Open returns its point.

		case err != nil && refused(err):
			return s.openRefused(ctx, ch, err)

		case err != nil:
			return yield.ActionOutcome{}, fmt.Errorf("open %d: %w",
				a.ID, err)
		}
		s.hit(FailpointOpenAfterCall)
		st = hubnode.ChannelState{Point: point,
			Status: hubnode.StatusPendingOpen}
	}

	if err := s.recordPoint(ctx, ch, st); err != nil {
		return yield.ActionOutcome{}, err
	}
	log.Infof("Open %d: channel %v to %v of %v", a.ID, st.Point, peer,
		a.Amount)
	return yield.ActionOutcome{Result: st.Point.String()}, nil
}

// openRefused ends an open lnd refused: failed, unless a channel with its
// memo shows up after all (lnd refused a second call of one that went
// through).
func (s *Strategy) openRefused(ctx context.Context, ch Channel,
	refusal error) (yield.ActionOutcome, error) {

	st, found, err := s.node.ByMemo(ctx, ch.Memo)
	if err != nil {
		return yield.ActionOutcome{}, fmt.Errorf("look up open %d "+
			"after lnd refused it (%v): %w", ch.ActionID, refusal,
			err)
	}
	if found {
		if err := s.recordPoint(ctx, ch, st); err != nil {
			return yield.ActionOutcome{}, err
		}
		return yield.ActionOutcome{Result: st.Point.String()}, nil
	}

	ch.Status = StatusFailed
	ch.UpdatedAt = s.clock.Now()
	if err := s.store.UpdateRoutingChannel(ctx, ch); err != nil {
		return yield.ActionOutcome{}, fmt.Errorf("record open %d "+
			"refused: %w", ch.ActionID, err)
	}
	log.Warnf("Open %d to %v refused: %v", ch.ActionID, ch.Peer, refusal)
	return failed(fmt.Errorf("open %d: %w", ch.ActionID, refusal)), nil
}

// recordPoint records the channel lnd has for ch's open.
func (s *Strategy) recordPoint(ctx context.Context, ch Channel,
	st hubnode.ChannelState) error {

	ch.ChanPoint = st.Point.String()
	ch.OpenTxid = st.Point.Hash.String()
	applyState(&ch, st)
	ch.UpdatedAt = s.clock.Now()
	if err := s.store.UpdateRoutingChannel(ctx, ch); err != nil {
		return fmt.Errorf("record channel %v of open %d: %w", st.Point,
			ch.ActionID, err)
	}
	return nil
}

// statusOf is the strategy's status for lnd's; false for
// hubnode.StatusUnknown.
func statusOf(s hubnode.ChannelStatus) (ChannelStatus, bool) {
	switch s {
	case hubnode.StatusPendingOpen:
		return StatusOpening, true
	case hubnode.StatusOpen:
		return StatusOpen, true
	case hubnode.StatusClosing:
		return StatusClosing, true
	case hubnode.StatusClosed:
		return StatusClosed, true
	}
	return "", false
}

// applyState moves ch forward to what lnd reports of it, and reports
// whether anything changed. A status behind ch's is ignored (lnd's lists
// are read one after the other), as is what lnd no longer reports (the
// short channel id of a force-closing channel).
func applyState(ch *Channel, st hubnode.ChannelState) bool {
	changed := false
	if next, ok := statusOf(st.Status); ok && next != ch.Status &&
		ch.Status.CanMoveTo(next) {

		ch.Status = next
		changed = true
	}
	if st.ShortChanID != 0 && st.ShortChanID != ch.ShortChanID {
		ch.ShortChanID = st.ShortChanID
		changed = true
	}
	if st.OpenHeight != 0 && st.OpenHeight != ch.OpenHeight {
		ch.OpenHeight = st.OpenHeight
		changed = true
	}
	if st.CloseTxid != nil && ch.CloseTxid == "" {
		ch.CloseTxid = st.CloseTxid.String()
		changed = true
	}
	return changed
}

// channelAt returns the strategy's channel at the point named by target.
func (s *Strategy) channelAt(ctx context.Context, target string) (
	Channel, wire.OutPoint, bool, error) {

	point, err := wire.NewOutPointFromString(target)
	if err != nil {
		return Channel{}, wire.OutPoint{}, false, nil
	}
	rows, err := s.store.RoutingChannels(ctx)
	if err != nil {
		return Channel{}, wire.OutPoint{}, false, fmt.Errorf("routing "+
			"channels: %w", err)
	}
	for _, ch := range rows {
		if ch.ChanPoint == point.String() {
			return ch, *point, true, nil
		}
	}
	return Channel{}, *point, false, nil
}

// executeClose closes the strategy's channel of a close action.
func (s *Strategy) executeClose(ctx context.Context, a yield.Action) (
	yield.ActionOutcome, error) {

	ch, point, ok, err := s.channelAt(ctx, a.Target)
	switch {
	case err != nil:
		return yield.ActionOutcome{}, err

	case !ok:
		return failed(fmt.Errorf("close action %d: %q is not a "+
			"channel of the routing strategy", a.ID, a.Target)), nil

	case ch.CloseTxid != "":
		return yield.ActionOutcome{Result: ch.CloseTxid}, nil
	}

	txid, err := s.node.Close(ctx, point, hubnode.CloseRequest{
		TargetConf: s.cfg.TargetConf,
	})
	switch {
	case err != nil && refused(err):
		return failed(fmt.Errorf("close %d: %w", a.ID, err)), nil

	case err != nil:
		return yield.ActionOutcome{}, fmt.Errorf("close %d: %w", a.ID,
			err)
	}

	if ch.Status.CanMoveTo(StatusClosing) {
		ch.Status = StatusClosing
	}
	ch.CloseTxid = txid.String()
	ch.UpdatedAt = s.clock.Now()
	if err := s.store.UpdateRoutingChannel(ctx, ch); err != nil {
		return yield.ActionOutcome{}, fmt.Errorf("record close of "+
			"%v: %w", point, err)
	}
	log.Infof("Close %d: channel %v closing in %v", a.ID, point, txid)
	return yield.ActionOutcome{Result: txid.String()}, nil
}

// executePolicy sets the forwarding policy of a policy action. Setting
// the same policy twice does no harm, so it needs no lookup first.
func (s *Strategy) executePolicy(ctx context.Context, a yield.Action) (
	yield.ActionOutcome, error) {

	policy, err := s.actionPolicy(a)
	if err != nil {
		return failed(fmt.Errorf("policy action %d: %w", a.ID, err)),
			nil
	}
	_, point, ok, err := s.channelAt(ctx, a.Target)
	switch {
	case err != nil:
		return yield.ActionOutcome{}, err

	case !ok:
		return failed(fmt.Errorf("policy action %d: %q is not a "+
			"channel of the routing strategy", a.ID, a.Target)), nil
	}

	err = s.node.SetPolicy(ctx, point, policy)
	switch {
	case err != nil && refused(err):
		return failed(fmt.Errorf("policy %d: %w", a.ID, err)), nil

	case err != nil:
		return yield.ActionOutcome{}, fmt.Errorf("policy %d: %w",
			a.ID, err)
	}
	log.Infof("Policy %d: channel %v set to %s", a.ID, point,
		policyText(policy))
	return yield.ActionOutcome{Result: policyText(policy)}, nil
}

// actionPolicy is the policy an action's params name, each one missing
// taken from the config.
func (s *Strategy) actionPolicy(a yield.Action) (hubnode.Policy, error) {
	p := s.cfg.Policy
	for _, param := range a.Params {
		name, value, ok := strings.Cut(param, "=")
		if !ok {
			return hubnode.Policy{}, fmt.Errorf("param %q is not "+
				"name=value", param)
		}
		n, err := strconv.ParseUint(value, 10, 64)
		if err != nil {
			return hubnode.Policy{}, fmt.Errorf("param %s: %w",
				name, err)
		}
		switch name {
		case paramBaseFee:
			p.BaseFeeMsat = lnwire.MilliSatoshi(n)

		case paramFeeRate:
			p.FeeRatePPM = n

		case paramDelta:
			if n < MinTimeLockDelta || n > 1<<16-1 {
				return hubnode.Policy{}, fmt.Errorf("param "+
					"%s: %d is out of [%d, %d]", name, n,
					MinTimeLockDelta, 1<<16-1)
			}
			p.TimeLockDelta = uint32(n)

		default:
			return hubnode.Policy{}, fmt.Errorf("unknown param "+
				"%q", name)
		}
	}
	return p, nil
}
