package payout

import (
	"context"

	"github.com/lightningnetwork/lnd/lntypes"
	"github.com/lightningnetwork/lnd/lnwire"
	"github.com/lightningnetwork/lnd/routing/route"
	"github.com/sluice-ln/sluice/lightning"
)

// Payments is what payouts need of the hub's router.
// hubnode.HubPayments is the lnd adapter; payouttest.Lnd the unit tests'
// fake.
type Payments interface {
	// SendKeysend hands a keysend to lnd and waits for its outcome. It
	// calls accepted once lnd has recorded the payment; from then on the
	// hash is lnd's and Track finds it. A hash lnd already has gives
	// lightning.ErrPaymentExists; a request lnd refused before recording
	// it gives lightning.ErrPaymentRefused. Any other error leaves the
	// outcome unknown: the payment may be in lnd or not, and only Track
	// can tell.
	SendKeysend(ctx context.Context, k lightning.Keysend,
		accepted func()) (lightning.PaymentResult, error)

	// Track waits for the outcome of a payment lnd has. A hash lnd never
	// saw gives lightning.ErrPaymentUnknown; any other error leaves the
	// outcome unknown.
	Track(ctx context.Context, hash lntypes.Hash) (
		lightning.PaymentResult, error)
}

// Routes answers whether the hub can carry a payout to a node.
// hubnode.Graph is the lnd adapter.
type Routes interface {
	// QueryRoute returns a route that delivers amt to dest for at most
	// feeLimit in fees, or an error wrapping lightning.ErrNoRoute.
	QueryRoute(ctx context.Context, dest route.Vertex,
		amt, feeLimit lnwire.MilliSatoshi) (lightning.Route, error)

	// ChannelsWith returns the hub's open channels with peer, active or
	// not; none when there are none.
	ChannelsWith(ctx context.Context, peer route.Vertex) (
		[]lightning.Channel, error)
}

// Observer is told what the executor does with payouts, for metrics
// (package metrics implements it; daemon wires it). Its methods are called
// on the payout's goroutine, outside store transactions, and must not
// block.
type Observer interface {
	// PayoutPending is called when a payout's intent is committed, or
	// when a pending payout is resumed after a restart.
	PayoutPending(p Payout)

	// PayoutResolved is called when this executor has recorded a
	// payout's outcome (p.State succeeded or failed, p.ResolvedAt set).
	PayoutResolved(p Payout)
}
