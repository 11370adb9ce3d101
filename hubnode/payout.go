package hubnode

import (
	"context"
	"fmt"
	"time"

	"github.com/lightningnetwork/lnd/lnrpc"
	"github.com/lightningnetwork/lnd/lnrpc/routerrpc"
	"github.com/lightningnetwork/lnd/record"
	"github.com/sluice-ln/sluice/lightning"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// SendKeysend hands a keysend payment to lnd and waits until it succeeds or
// fails, or ctx ends. accepted, when not nil, is called once, as soon as lnd
// has recorded the payment in its database (its first update): from then
// on lnd will not start a second payment to the hash, and TrackPaymentV2
// finds it. A payment hash lnd already has gives an error wrapping
// ErrPaymentExists, before accepted is called. An error after accepted
// leaves the outcome unknown: the payment goes on in lnd, and Track
// follows it.
func (p *HubPayments) SendKeysend(ctx context.Context, k lightning.Keysend,
	accepted func()) (lightning.PaymentResult, error) {

	custom := make(map[uint64][]byte, len(k.Records)+1)
	for typ, val := range k.Records {
		if typ < record.CustomTypeStart || typ == record.KeySendType {
			return lightning.PaymentResult{}, fmt.Errorf("%w: type %d is "+
				"not a free custom record type", lightning.ErrBadRecord,
				typ)
		}
		custom[typ] = val
	}
	custom[record.KeySendType] = k.Preimage[:]

	timeout := k.Timeout
	if timeout == 0 {
		timeout = lightning.DefaultPaymentTimeout
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
		return lightning.PaymentResult{}, classifyPaymentErr("send keysend "+
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
		return nil, fmt.Errorf("%w: %w", lightning.ErrPaymentRefused, err)
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
