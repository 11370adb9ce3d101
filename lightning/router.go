package lightning

import (
	"context"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/lightninglabs/lndclient"
	"github.com/lightningnetwork/lnd/lnrpc"
	"github.com/lightningnetwork/lnd/lnrpc/routerrpc"
	"github.com/lightningnetwork/lnd/lntypes"
	"github.com/lightningnetwork/lnd/lnwire"
	"github.com/lightningnetwork/lnd/record"
	"github.com/lightningnetwork/lnd/routing/route"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

var (
	// ErrPaymentUnknown is returned by Track for a payment hash lnd has
	// never seen: the payment was never handed to it, and sending it now
	// cannot pay twice.
	ErrPaymentUnknown = errors.New("payment unknown to lnd")

	// ErrPaymentExists is returned by Pay for a payment hash lnd already
	// has (in flight or succeeded); Track follows it instead.
	ErrPaymentExists = errors.New("payment already initiated")
)

// DefaultPaymentTimeout bounds how long lnd keeps trying new routes for one
// payment.
const DefaultPaymentTimeout = 60 * time.Second

// Payment is a payment for the hub to make: to a BOLT11 invoice, or by
// keysend to a node with a preimage chosen (and stored) beforehand, so that
// its hash is known before lnd sees it.
type Payment struct {
	// Invoice is the BOLT11 invoice to pay; empty for a keysend.
	Invoice string

	// Dest and Preimage make a keysend: the payment hash is the
	// preimage's.
	Dest     route.Vertex
	Preimage lntypes.Preimage

	// Amount is what the destination gets: the keysend's amount, or the
	// amount of a zero-amount invoice (zero for an invoice with one).
	Amount lnwire.MilliSatoshi

	// FeeLimit is the most the routing may cost; zero allows only
	// zero-fee routes (a direct channel).
	FeeLimit lnwire.MilliSatoshi

	// Timeout bounds the attempts; DefaultPaymentTimeout when zero.
	Timeout time.Duration
}

// PaymentResult is how a payment ended.
type PaymentResult struct {
	Hash      lntypes.Hash
	Succeeded bool

	// Amount is what the destination got; Fee what routing cost. Both
	// are set for a payment that succeeded.
	Amount lnwire.MilliSatoshi
	Fee    lnwire.MilliSatoshi

	// Preimage proves a payment that succeeded.
	Preimage lntypes.Preimage

	// Failure says why a payment failed.
	Failure FailureReason
}

// FailureReason is why lnd failed a payment: lnrpc.PaymentFailureReason as
// this package's type, so that callers ask it questions (IsRouteFailure)
// instead of comparing enum names. Its String is lnd's enum name, which is
// what the store keeps.
type FailureReason int32

// The failure reasons, as lnd numbers them.
const (
	FailureReasonNone FailureReason = FailureReason(
		lnrpc.PaymentFailureReason_FAILURE_REASON_NONE)
	FailureReasonTimeout FailureReason = FailureReason(
		lnrpc.PaymentFailureReason_FAILURE_REASON_TIMEOUT)
	FailureReasonNoRoute FailureReason = FailureReason(
		lnrpc.PaymentFailureReason_FAILURE_REASON_NO_ROUTE)
	FailureReasonError FailureReason = FailureReason(
		lnrpc.PaymentFailureReason_FAILURE_REASON_ERROR)
	FailureReasonIncorrectPaymentDetails FailureReason = FailureReason(
		lnrpc.PaymentFailureReason_FAILURE_REASON_INCORRECT_PAYMENT_DETAILS)
	FailureReasonInsufficientBalance FailureReason = FailureReason(
		lnrpc.PaymentFailureReason_FAILURE_REASON_INSUFFICIENT_BALANCE)
	FailureReasonCanceled FailureReason = FailureReason(
		lnrpc.PaymentFailureReason_FAILURE_REASON_CANCELED)
)

// failureReason maps lnd's reason onto FailureReason.
func failureReason(r lnrpc.PaymentFailureReason) FailureReason {
	return FailureReason(r)
}

// String is lnd's name of the reason (FAILURE_REASON_NO_ROUTE), as stored.
func (r FailureReason) String() string {
	return lnrpc.PaymentFailureReason(r).String()
}

// ParseFailureReason reads a stored reason name; false for a string that
// names none (a refusal's message, say).
func ParseFailureReason(s string) (FailureReason, bool) {
	v, ok := lnrpc.PaymentFailureReason_value[s]
	return FailureReason(v), ok
}

// IsRouteFailure reports whether the hub found no route that could carry
// the payment (no route within the fee limit, or not enough outbound
// balance), rather than a timeout, an error at the destination or a local
// fault. Retrying such a payment at once does not help; a smaller amount
// or more liquidity might.
func (r FailureReason) IsRouteFailure() bool {
	switch r {
	case FailureReasonNoRoute, FailureReasonInsufficientBalance:
		return true
	}
	return false
}

// HubPayments sends and tracks the hub's payments through lnd's router.
type HubPayments struct {
	router lndclient.RouterClient
}

// NewHubPayments returns the payment adapter over the hub's router.
func NewHubPayments(router lndclient.RouterClient) *HubPayments {
	return &HubPayments{router: router}
}

// Pay hands the payment to lnd and waits until it succeeds or fails, or ctx
// ends (the payment goes on in lnd then; Track finds it). A payment hash
// lnd already has gives an error wrapping ErrPaymentExists.
func (p *HubPayments) Pay(ctx context.Context, pay Payment) (PaymentResult,
	error) {

	timeout := pay.Timeout
	if timeout == 0 {
		timeout = DefaultPaymentTimeout
	}
	req := &routerrpc.SendPaymentRequest{
		PaymentRequest:    pay.Invoice,
		AmtMsat:           int64(pay.Amount),
		FeeLimitMsat:      int64(pay.FeeLimit),
		TimeoutSeconds:    int32(timeout / time.Second),
		NoInflightUpdates: true,
	}
	if pay.Invoice == "" {
		hash := pay.Preimage.Hash()
		req.Dest = pay.Dest[:]
		req.PaymentHash = hash[:]
		req.DestCustomRecords = map[uint64][]byte{
			record.KeySendType: pay.Preimage[:],
		}
	}

	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	rpcCtx, _, client := p.router.RawClientWithMacAuth(ctx)
	stream, err := client.SendPaymentV2(rpcCtx, req)
	if err != nil {
		return PaymentResult{}, classifyPaymentErr("send payment", err)
	}
	return follow(stream)
}

// Track follows a payment lnd has, until it succeeds or fails or ctx ends.
// A payment hash lnd has never seen gives an error wrapping
// ErrPaymentUnknown.
func (p *HubPayments) Track(ctx context.Context, hash lntypes.Hash) (
	PaymentResult, error) {

	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	rpcCtx, _, client := p.router.RawClientWithMacAuth(ctx)
	stream, err := client.TrackPaymentV2(rpcCtx,
		&routerrpc.TrackPaymentRequest{
			PaymentHash:       hash[:],
			NoInflightUpdates: true,
		})
	if err != nil {
		return PaymentResult{}, classifyPaymentErr("track payment "+
			hash.String(), err)
	}
	return follow(stream)
}

// paymentStream is SendPaymentV2's and TrackPaymentV2's stream.
type paymentStream interface {
	Recv() (*lnrpc.Payment, error)
}

// follow reads a payment stream until the payment's final state.
func follow(stream paymentStream) (PaymentResult, error) {
	for {
		pay, err := stream.Recv()
		if errors.Is(err, io.EOF) {
			return PaymentResult{}, errors.New("payment stream " +
				"ended before the payment did")
		}
		if err != nil {
			return PaymentResult{}, classifyPaymentErr("payment",
				err)
		}

		hash, err := lntypes.MakeHashFromStr(pay.PaymentHash)
		if err != nil {
			return PaymentResult{}, fmt.Errorf("payment hash %q: %w",
				pay.PaymentHash, err)
		}
		res := PaymentResult{Hash: hash}
		switch pay.Status {
		case lnrpc.Payment_SUCCEEDED:
			res.Succeeded = true
			res.Amount = lnwire.MilliSatoshi(pay.ValueMsat)
			res.Fee = lnwire.MilliSatoshi(pay.FeeMsat)
			res.Preimage, err = lntypes.MakePreimageFromStr(
				pay.PaymentPreimage)
			if err != nil {
				return PaymentResult{}, fmt.Errorf("payment %v "+
					"preimage: %w", hash, err)
			}
			return res, nil

		case lnrpc.Payment_FAILED:
			res.Failure = failureReason(pay.FailureReason)
			return res, nil
		}
	}
}

// classifyPaymentErr maps lnd's answers about payments to this package's
// errors.
func classifyPaymentErr(what string, err error) error {
	switch status.Code(err) {
	case codes.NotFound:
		return fmt.Errorf("%s: %w", what, ErrPaymentUnknown)
	case codes.AlreadyExists:
		return fmt.Errorf("%s: %w", what, ErrPaymentExists)
	case codes.InvalidArgument:
		// Refused before lnd recorded anything (an expired invoice, a
		// bad amount); ErrPaymentRefused is payout.go's.
		return fmt.Errorf("%s: %w: %w", what, ErrPaymentRefused, err)
	}
	return fmt.Errorf("%s: %w", what, err)
}
