package lightning

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/lightningnetwork/lnd/lnrpc"
	"github.com/lightningnetwork/lnd/lnrpc/routerrpc"
	"github.com/lightningnetwork/lnd/lntypes"
	"github.com/lightningnetwork/lnd/lnwire"
	"github.com/lightningnetwork/lnd/record"
	"github.com/lightningnetwork/lnd/routing/route"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// PayoutIDRecord is the custom record type that carries a payout's id in a
// keysend payout, next to the preimage in record.KeySendType
// (5482373484). Custom records start at 65536; this one sits right after
// keysend's so that a provider's lnd shows both together.
const PayoutIDRecord uint64 = record.KeySendType + 1

var (
	// ErrBadRecord is returned by SendKeysend for an extra custom record
	// that lnd would refuse or that would clash with the keysend
	// preimage.
	ErrBadRecord = errors.New("bad custom record")

	// ErrPaymentRefused is returned by SendKeysend when lnd answered the
	// request with an error before recording the payment (a bad
	// destination, amount or record): lnd has no payment to the hash,
	// and sending the same request again would be refused again. A
	// broken connection is not a refusal: its outcome is unknown.
	ErrPaymentRefused = errors.New("payment refused by lnd")
)

// Keysend is a keysend payment with a preimage chosen (and stored) before
// lnd sees it, and extra custom records.
type Keysend struct {
	// Dest is the node paid.
	Dest route.Vertex

	// Preimage goes in record.KeySendType; the payment hash is its
	// SHA-256.
	Preimage lntypes.Preimage

	// Amount is what Dest receives, in msat: lnd pays millisatoshi
	// amounts, so no rounding to whole satoshis is needed.
	Amount lnwire.MilliSatoshi

	// FeeLimit is the most the routing may cost; zero allows only
	// zero-fee routes (a direct channel).
	FeeLimit lnwire.MilliSatoshi

	// Timeout bounds lnd's attempts; DefaultPaymentTimeout when zero.
	Timeout time.Duration

	// Records are extra custom records (type ≥ 65536, not
	// record.KeySendType), such as PayoutIDRecord.
	Records map[uint64][]byte
}

// SendKeysend hands a keysend payment to lnd and waits until it succeeds or
// fails, or ctx ends. accepted, when not nil, is called once, as soon as lnd
// has recorded the payment in its database (its first update): from then
// on lnd will not start a second payment to the hash, and TrackPaymentV2
// finds it. A payment hash lnd already has gives an error wrapping
// ErrPaymentExists, before accepted is called. An error after accepted
// leaves the outcome unknown: the payment goes on in lnd, and Track
// follows it.
func (p *HubPayments) SendKeysend(ctx context.Context, k Keysend,
	accepted func()) (PaymentResult, error) {

	custom := make(map[uint64][]byte, len(k.Records)+1)
	for typ, val := range k.Records {
		if typ < record.CustomTypeStart || typ == record.KeySendType {
			return PaymentResult{}, fmt.Errorf("%w: type %d is "+
				"not a free custom record type", ErrBadRecord,
				typ)
		}
		custom[typ] = val
	}
	custom[record.KeySendType] = k.Preimage[:]

	timeout := k.Timeout
	if timeout == 0 {
		timeout = DefaultPaymentTimeout
	}
	hash := k.Preimage.Hash()
	req := &routerrpc.SendPaymentRequest{
		Dest:              k.Dest[:],
		AmtMsat:           int64(k.Amount),
		PaymentHash:       hash[:],
		DestCustomRecords: custom,
		FeeLimitMsat:      int64(k.FeeLimit),
		TimeoutSeconds:    int32(timeout / time.Second),
	}

	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	rpcCtx, _, client := p.router.RawClientWithMacAuth(ctx)
	stream, err := client.SendPaymentV2(rpcCtx, req)
	if err != nil {
		return PaymentResult{}, classifyPaymentErr("send keysend "+
			hash.String(), err)
	}

	return follow(&acceptedStream{stream: stream, accepted: accepted})
}

// acceptedStream calls accepted on the first update a payment stream
// delivers: lnd sends it only after it recorded the payment.
type acceptedStream struct {
	stream   paymentStream
	accepted func()
	seen     bool
}

// Recv reads the next update. An error lnd sent before its first update is
// marked ErrPaymentRefused when its code says lnd judged the request.
func (s *acceptedStream) Recv() (*lnrpc.Payment, error) {
	pay, err := s.stream.Recv()
	switch {
	case err == nil && !s.seen:
		s.seen = true
		if s.accepted != nil {
			s.accepted()
		}

	case err != nil && !s.seen && refusedCode(status.Code(err)):
		return nil, fmt.Errorf("%w: %w", ErrPaymentRefused, err)
	}
	return pay, err
}

// refusedCode reports whether a gRPC code on SendPaymentV2's stream, before
// its first update, is lnd's verdict on the request rather than a
// transport failure. lnd returns most of its checks as plain errors, which
// gRPC sends as Unknown. AlreadyExists (ErrPaymentExists) is not a refusal
// of the payment: lnd has it.
func refusedCode(code codes.Code) bool {
	switch code {
	case codes.Unknown, codes.InvalidArgument, codes.FailedPrecondition,
		codes.OutOfRange, codes.Unimplemented, codes.PermissionDenied,
		codes.Unauthenticated:

		return true
	}
	return false
}
