package outbound

import (
	"context"
	"errors"
	"fmt"

	"github.com/lightningnetwork/lnd/lntypes"
	"github.com/sluice-ln/sluice/lightning"
)

// PaymentOutcome is how a Lightning payment ended.
type PaymentOutcome = Outcome[lightning.PaymentResult]

// Tracker follows the hub's payments; hubnode.HubPayments is the lnd
// adapter.
type Tracker interface {
	// Track waits for the outcome of a payment lnd has; a hash lnd
	// never saw gives lightning.ErrPaymentUnknown.
	Track(ctx context.Context, hash lntypes.Hash) (
		lightning.PaymentResult, error)
}

// KeysendPayer sends keysends with extra records and follows them;
// hubnode.HubPayments is the lnd adapter.
type KeysendPayer interface {
	Tracker

	// SendKeysend is hubnode.HubPayments.SendKeysend.
	SendKeysend(ctx context.Context, k lightning.Keysend,
		accepted func()) (lightning.PaymentResult, error)
}

// InvoicePayer pays invoices (or plain keysends) and follows them;
// hubnode.HubPayments is the lnd adapter.
type InvoicePayer interface {
	Tracker

	// Pay is hubnode.HubPayments.Pay.
	Pay(ctx context.Context, pay lightning.Payment) (
		lightning.PaymentResult, error)
}

// Keysend is a keysend with a stored preimage as a Call: a payout.
type Keysend struct {
	Payer   KeysendPayer
	Payment lightning.Keysend
}

var _ Call[lightning.PaymentResult] = Keysend{}

// Send hands the keysend to lnd; accepted is called on lnd's first
// update, once lnd recorded it.
func (k Keysend) Send(ctx context.Context, accepted func()) (PaymentOutcome,
	error) {

	res, err := k.Payer.SendKeysend(ctx, k.Payment, accepted)
	return paymentOutcome(k.Payment.Preimage.Hash(), res, err)
}

// Track follows the keysend's hash in lnd.
func (k Keysend) Track(ctx context.Context) (PaymentOutcome, error) {
	res, err := k.Payer.Track(ctx, k.Payment.Preimage.Hash())
	return paymentOutcome(k.Payment.Preimage.Hash(), res, err)
}

// Payment is a payment to an invoice, or a plain keysend, as a Call: a
// refund. Hash is its payment hash (the invoice's, or the preimage's).
type Payment struct {
	Payer   InvoicePayer
	Payment lightning.Payment
	Hash    lntypes.Hash
}

var _ Call[lightning.PaymentResult] = Payment{}

// Send hands the payment to lnd. lnd's Pay reports no update before the
// outcome, so accepted is never called.
func (p Payment) Send(ctx context.Context, _ func()) (PaymentOutcome,
	error) {

	res, err := p.Payer.Pay(ctx, p.Payment)
	return paymentOutcome(p.Hash, res, err)
}

// Track follows the payment's hash in lnd.
func (p Payment) Track(ctx context.Context) (PaymentOutcome, error) {
	res, err := p.Payer.Track(ctx, p.Hash)
	return paymentOutcome(p.Hash, res, err)
}

// paymentOutcome maps lnd's answer about the payment with the hash onto
// the lifecycle: a hash lnd never saw is ErrNotSeen, one it has already
// ErrExists, a request lnd refused before recording it a failed outcome
// that says why.
func paymentOutcome(hash lntypes.Hash, res lightning.PaymentResult,
	err error) (PaymentOutcome, error) {

	switch {
	case err == nil:
		if res.Succeeded {
			return PaymentOutcome{Status: StatusSucceeded,
				Detail: res}, nil
		}
		return PaymentOutcome{Status: StatusFailed,
			Failure: res.Failure.String(), Detail: res}, nil

	case errors.Is(err, lightning.ErrPaymentRefused):
		// lnd never started it and never will.
		return PaymentOutcome{
			Status:  StatusFailed,
			Failure: err.Error(),
			Detail:  lightning.PaymentResult{Hash: hash},
		}, nil

	case errors.Is(err, lightning.ErrPaymentUnknown):
		return PaymentOutcome{}, fmt.Errorf("%w: %w", ErrNotSeen, err)

	case errors.Is(err, lightning.ErrPaymentExists):
		return PaymentOutcome{}, fmt.Errorf("%w: %w", ErrExists, err)
	}
	return PaymentOutcome{}, err
}
