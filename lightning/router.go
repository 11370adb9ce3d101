package lightning

import (
	"errors"
	"strconv"
	"time"

	"github.com/lightningnetwork/lnd/lntypes"
	"github.com/lightningnetwork/lnd/lnwire"
	"github.com/lightningnetwork/lnd/routing/route"
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
// what the store keeps. The values are lnd's numbers; hubnode converts
// lnd's enum and its tests check that the two agree.
type FailureReason int32

// The failure reasons, as lnd numbers them.
const (
	FailureReasonNone FailureReason = iota
	FailureReasonTimeout
	FailureReasonNoRoute
	FailureReasonError
	FailureReasonIncorrectPaymentDetails
	FailureReasonInsufficientBalance
	FailureReasonCanceled
)

// failureReasonNames are lnd's enum names of the reasons, by value.
var failureReasonNames = [...]string{
	FailureReasonNone:                    "FAILURE_REASON_NONE",
	FailureReasonTimeout:                 "FAILURE_REASON_TIMEOUT",
	FailureReasonNoRoute:                 "FAILURE_REASON_NO_ROUTE",
	FailureReasonError:                   "FAILURE_REASON_ERROR",
	FailureReasonIncorrectPaymentDetails: "FAILURE_REASON_INCORRECT_PAYMENT_DETAILS",
	FailureReasonInsufficientBalance:     "FAILURE_REASON_INSUFFICIENT_BALANCE",
	FailureReasonCanceled:                "FAILURE_REASON_CANCELED",
}

// String is lnd's name of the reason (FAILURE_REASON_NO_ROUTE), as stored;
// a number lnd added after this build is printed as lnd prints it.
func (r FailureReason) String() string {
	if r >= 0 && int(r) < len(failureReasonNames) {
		return failureReasonNames[r]
	}
	return strconv.Itoa(int(r))
}

// ParseFailureReason reads a stored reason name; false for a string that
// names none (a refusal's message, say).
func ParseFailureReason(s string) (FailureReason, bool) {
	for r, name := range failureReasonNames {
		if name == s {
			return FailureReason(r), true
		}
	}
	return 0, false
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
