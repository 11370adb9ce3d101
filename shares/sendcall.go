package shares

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/lightningnetwork/lnd/clock"
	"github.com/sluice-ln/sluice/hubnode"
	"github.com/sluice-ln/sluice/outbound"
)

// sendOutcome is how a round's asset send ended: the transfer tapd logged
// when it completed.
type sendOutcome = outbound.Outcome[hubnode.AssetTransfer]

// errNotListedYet is the unknown outcome of a round whose transfer tapd
// does not list while a send made just before a crash may still be in
// tapd's hands (it logs the transfer only once the anchor is signed).
var errNotListedYet = errors.New("tapd lists no transfer of the label yet")

// sendCall is one withdrawal round's SendAsset as an outbound call: Send
// makes it, Track finds it by its label; both wait until it is complete.
type sendCall struct {
	sender Sender
	send   hubnode.AssetSend

	// created is when the round's intent was written, and grace how
	// long after it a transfer tapd does not list may still come.
	created time.Time
	grace   time.Duration

	// confs is the depth at which the send is complete.
	confs uint32

	poll  time.Duration
	clock clock.Clock
}

var _ outbound.Call[hubnode.AssetTransfer] = (*sendCall)(nil)

// total is the units the send pays its recipients.
func (c *sendCall) total() uint64 {
	var n uint64
	for _, r := range c.send.Recipients {
		n += r.Amount
	}
	return n
}

// Send makes the asset send. Whatever tapd answered, a transfer of the
// label means tapd has it, and it is tracked; a refusal without one is a
// failed outcome.
func (c *sendCall) Send(ctx context.Context, accepted func()) (sendOutcome,
	error) {

	tr, err := c.sender.SendAsset(ctx, c.send)
	if err != nil {
		_, lerr := c.sender.TransferByLabel(ctx, c.send.Label)
		switch {
		case lerr == nil:
			return sendOutcome{}, fmt.Errorf("%w: %w",
				outbound.ErrExists, err)

		case !errors.Is(lerr, hubnode.ErrTransferNotFound):
			// Not known whether tapd has it.
			return sendOutcome{}, err

		case errors.Is(err, hubnode.ErrSendRefused):
			return sendOutcome{Status: outbound.StatusFailed,
				Failure: err.Error()}, nil
		}
		return sendOutcome{}, err
	}
	log.Infof("Share withdrawal %s: %d units sent in anchor tx %v",
		c.send.Label, c.total(), tr.AnchorTxid)
	if accepted != nil {
		accepted()
	}
	return c.wait(ctx)
}

// Track finds the send by its label and follows it. None listed is never
// seen only once the grace after the intent has passed.
func (c *sendCall) Track(ctx context.Context) (sendOutcome, error) {
	_, err := c.sender.TransferByLabel(ctx, c.send.Label)
	switch {
	case errors.Is(err, hubnode.ErrTransferNotFound):
		if c.clock.Now().Sub(c.created) < c.grace {
			return sendOutcome{}, fmt.Errorf("%w (%v after the "+
				"intent)", errNotListedYet,
				c.clock.Now().Sub(c.created))
		}
		return sendOutcome{}, fmt.Errorf("%w: %w", outbound.ErrNotSeen,
			err)

	case err != nil:
		return sendOutcome{}, err
	}
	return c.wait(ctx)
}

// wait reads the transfer until its proofs are delivered and its anchor
// is c.confs deep.
func (c *sendCall) wait(ctx context.Context) (sendOutcome, error) {
	for {
		tr, err := c.sender.TransferByLabel(ctx, c.send.Label)
		if err != nil {
			return sendOutcome{}, err
		}
		var sent uint64
		for _, o := range tr.Outputs {
			if !o.Local {
				sent += o.Amount
			}
		}
		if sent != c.total() {
			// Never expected: the label is unique. Left pending
			// for the operator rather than resolved wrongly.
			return sendOutcome{}, fmt.Errorf("transfer %q pays "+
				"%d units to others, the round %d",
				c.send.Label, sent, c.total())
		}
		tip, err := c.sender.BlockHeight(ctx)
		if err != nil {
			return sendOutcome{}, err
		}
		confs := tr.Confirmations(tip)
		if confs >= c.confs && tr.ProofsDelivered() {
			return sendOutcome{Status: outbound.StatusSucceeded,
				Detail: tr}, nil
		}
		log.Debugf("Share withdrawal %s: %d of %d confirmations, "+
			"proofs delivered %v", c.send.Label, confs, c.confs,
			tr.ProofsDelivered())

		select {
		case <-c.clock.TickAfter(c.poll):
		case <-ctx.Done():
			return sendOutcome{}, ctx.Err()
		}
	}
}
