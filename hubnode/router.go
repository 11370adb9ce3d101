package hubnode

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
	"github.com/sluice-ln/sluice/lightning"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// failureReason maps lnd's reason onto FailureReason.
func failureReason(r lnrpc.PaymentFailureReason) lightning.FailureReason {
	return lightning.FailureReason(r)
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
func (p *HubPayments) Pay(ctx context.Context, pay lightning.Payment) (lightning.PaymentResult,
	error) {

	timeout := pay.Timeout
	if timeout == 0 {
		timeout = lightning.DefaultPaymentTimeout
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
		return lightning.PaymentResult{}, classifyPaymentErr("send payment", err)
	}
	return follow(stream)
}

// Track follows a payment lnd has, until it succeeds or fails or ctx ends.
// A payment hash lnd has never seen gives an error wrapping
// ErrPaymentUnknown.
func (p *HubPayments) Track(ctx context.Context, hash lntypes.Hash) (
	lightning.PaymentResult, error) {

	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	rpcCtx, _, client := p.router.RawClientWithMacAuth(ctx)
	stream, err := client.TrackPaymentV2(rpcCtx,
		&routerrpc.TrackPaymentRequest{
			PaymentHash:       hash[:],
			NoInflightUpdates: true,
		})
	if err != nil {
		return lightning.PaymentResult{}, classifyPaymentErr("track payment "+
			hash.String(), err)
	}
	return follow(stream)
}

// paymentStream is SendPaymentV2's and TrackPaymentV2's stream.
type paymentStream interface {
	Recv() (*lnrpc.Payment, error)
}

// follow reads a payment stream until the payment's final state.
func follow(stream paymentStream) (lightning.PaymentResult, error) {
	for {
		pay, err := stream.Recv()
		if errors.Is(err, io.EOF) {
			return lightning.PaymentResult{}, errors.New("payment stream " +
				"ended before the payment did")
		}
		if err != nil {
			return lightning.PaymentResult{}, classifyPaymentErr("payment",
				err)
		}

		hash, err := lntypes.MakeHashFromStr(pay.PaymentHash)
		if err != nil {
			return lightning.PaymentResult{}, fmt.Errorf("payment hash %q: %w",
				pay.PaymentHash, err)
		}
		res := lightning.PaymentResult{Hash: hash}
		switch pay.Status {
		case lnrpc.Payment_SUCCEEDED:
			res.Succeeded = true
			res.Amount = lnwire.MilliSatoshi(pay.ValueMsat)
			res.Fee = lnwire.MilliSatoshi(pay.FeeMsat)
			res.Preimage, err = lntypes.MakePreimageFromStr(
				pay.PaymentPreimage)
			if err != nil {
				return lightning.PaymentResult{}, fmt.Errorf("payment %v "+
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
		return fmt.Errorf("%s: %w", what, lightning.ErrPaymentUnknown)
	case codes.AlreadyExists:
		return fmt.Errorf("%s: %w", what, lightning.ErrPaymentExists)
	case codes.InvalidArgument:
		// Refused before lnd recorded anything (an expired invoice, a
		// bad amount); ErrPaymentRefused is payout.go's.
		return fmt.Errorf("%s: %w: %w", what, lightning.ErrPaymentRefused, err)
	}
	return fmt.Errorf("%s: %w", what, err)
}
