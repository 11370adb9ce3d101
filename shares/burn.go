package shares

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/lightningnetwork/lnd/clock"
	"github.com/sluice-ln/sluice/hubnode"
	"github.com/sluice-ln/sluice/outbound"
)

// burnOutcome is how a burn ended: the burn tapd lists when it succeeded.
type burnOutcome = outbound.Outcome[hubnode.Burn]

// burnCall is one epoch's burn as an outbound call: Send burns by group key
// with the burn's name as its note, Track finds the burn by its note among
// the group's burns; both wait until tapd lists it, which it does once the
// burn's anchor confirmed.
type burnCall struct {
	burner   Burner
	groupKey []byte
	note     string
	amount   uint64
	poll     time.Duration
	clock    clock.Clock
}

var _ outbound.Call[hubnode.Burn] = (*burnCall)(nil)

// Send burns the units.
func (c *burnCall) Send(ctx context.Context, accepted func()) (burnOutcome,
	error) {

	b, err := c.burner.BurnGroup(ctx, c.groupKey, c.amount, c.note)
	switch {
	case errors.Is(err, hubnode.ErrBurnRefused):
		return burnOutcome{Status: outbound.StatusFailed,
			Failure: err.Error()}, nil

	case err != nil:
		return burnOutcome{}, err
	}
	log.Infof("Share burn %q: %d units, anchor %v broadcast", c.note,
		c.amount, b.Txid)
	if accepted != nil {
		accepted()
	}
	return c.wait(ctx, b.Txid.String())
}

// listed returns the burn of the note as tapd lists it (a burn by group key
// over several tranches is listed once per asset id), and whether it is.
func (c *burnCall) listed(ctx context.Context) (hubnode.Burn, bool,
	error) {

	burns, err := c.burner.Burns(ctx, c.groupKey)
	if err != nil {
		return hubnode.Burn{}, false, err
	}
	var (
		sum   hubnode.Burn
		found bool
	)
	for _, b := range burns {
		if b.Note != c.note {
			continue
		}
		if found && b.Txid != sum.Txid {
			return hubnode.Burn{}, false, fmt.Errorf("burn %q "+
				"listed in two transactions, %v and %v", c.note,
				sum.Txid, b.Txid)
		}
		sum.Note, sum.Txid = b.Note, b.Txid
		sum.Amount += b.Amount
		found = true
	}
	if found && sum.Amount != c.amount {
		return hubnode.Burn{}, false, fmt.Errorf("burn %q: tapd "+
			"lists %d units, the intent %d", c.note, sum.Amount,
			c.amount)
	}
	return sum, found, nil
}

// Track finds the burn by its note: done when tapd lists it; in flight
// when tapd has an unconfirmed transfer without a label (burns carry none;
// withdrawals do), which is waited for; never seen otherwise.
func (c *burnCall) Track(ctx context.Context) (burnOutcome, error) {
	b, ok, err := c.listed(ctx)
	switch {
	case err != nil:
		return burnOutcome{}, err

	case ok:
		return burnOutcome{Status: outbound.StatusSucceeded,
			Detail: b}, nil
	}
	pending, err := c.burner.UnconfirmedUnlabelled(ctx)
	if err != nil {
		return burnOutcome{}, err
	}
	if len(pending) == 0 {
		return burnOutcome{}, fmt.Errorf("%w: burn %q", outbound.ErrNotSeen,
			c.note)
	}
	return c.wait(ctx, pending[0])
}

// wait reads the group's burns until tapd lists the note's, while the
// anchor (hex txid) is unconfirmed.
func (c *burnCall) wait(ctx context.Context, anchor string) (burnOutcome,
	error) {

	for {
		b, ok, err := c.listed(ctx)
		if err != nil {
			return burnOutcome{}, err
		}
		if ok {
			return burnOutcome{Status: outbound.StatusSucceeded,
				Detail: b}, nil
		}
		pending, err := c.burner.UnconfirmedUnlabelled(ctx)
		if err != nil {
			return burnOutcome{}, err
		}
		if !slices.Contains(pending, anchor) {
			// Confirmed between the two reads, or gone: read the
			// burns once more before calling it unknown.
			if b, ok, err := c.listed(ctx); err != nil || ok {
				if err != nil {
					return burnOutcome{}, err
				}
				return burnOutcome{
					Status: outbound.StatusSucceeded,
					Detail: b}, nil
			}
			return burnOutcome{}, fmt.Errorf("burn %q: anchor %s "+
				"neither pending nor listed", c.note, anchor)
		}
		log.Debugf("Share burn %q: anchor %s unconfirmed", c.note,
			anchor)

		select {
		case <-c.clock.TickAfter(c.poll):
		case <-ctx.Done():
			return burnOutcome{}, ctx.Err()
		}
	}
}
