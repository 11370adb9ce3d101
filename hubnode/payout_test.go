package hubnode

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/lightninglabs/lndclient"
	"github.com/lightningnetwork/lnd/lnrpc"
	"github.com/lightningnetwork/lnd/lnrpc/routerrpc"
	"github.com/lightningnetwork/lnd/lntypes"
	"github.com/lightningnetwork/lnd/record"
	"github.com/lightningnetwork/lnd/routing/route"
	"github.com/sluice-ln/sluice/lightning"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// routerClient fakes the lndclient router: RawClientWithMacAuth hands out
// a raw client whose SendPaymentV2 streams the updates given.
type routerClient struct {
	lndclient.RouterClient
	raw *rawRouter
}

func (r *routerClient) RawClientWithMacAuth(ctx context.Context) (
	context.Context, time.Duration, routerrpc.RouterClient) {

	return ctx, time.Minute, r.raw
}

// rawRouter is the raw router client; any other call panics on the nil
// embedded interface.
type rawRouter struct {
	routerrpc.RouterClient

	// updates are streamed in order, then err.
	updates []*lnrpc.Payment
	err     error

	// got is the last request; calls counts them.
	got   *routerrpc.SendPaymentRequest
	calls int
}

func (r *rawRouter) SendPaymentV2(_ context.Context,
	req *routerrpc.SendPaymentRequest, _ ...grpc.CallOption) (
	routerrpc.Router_SendPaymentV2Client, error) {

	r.got = req
	r.calls++
	return &paymentUpdates{updates: r.updates, err: r.err}, nil
}

// paymentUpdates is a SendPaymentV2 stream.
type paymentUpdates struct {
	grpc.ClientStream
	updates []*lnrpc.Payment
	err     error
}

func (s *paymentUpdates) Recv() (*lnrpc.Payment, error) {
	if len(s.updates) == 0 {
		return nil, s.err
	}
	u := s.updates[0]
	s.updates = s.updates[1:]
	return u, nil
}

// TestSendKeysend checks the request lnd gets, when accepted is called, and
// how each kind of answer comes back.
func TestSendKeysend(t *testing.T) {
	var preimage lntypes.Preimage
	copy(preimage[:], strings.Repeat("p", 32))
	hash := preimage.Hash()
	var dest route.Vertex
	dest[0] = 2
	inflight := &lnrpc.Payment{PaymentHash: hash.String(),
		Status: lnrpc.Payment_IN_FLIGHT}
	succeeded := &lnrpc.Payment{PaymentHash: hash.String(),
		Status: lnrpc.Payment_SUCCEEDED, ValueMsat: 5_000,
		FeeMsat: 7, PaymentPreimage: preimage.String()}
	failed := &lnrpc.Payment{PaymentHash: hash.String(),
		Status:        lnrpc.Payment_FAILED,
		FailureReason: lnrpc.PaymentFailureReason_FAILURE_REASON_NO_ROUTE}

	tests := []struct {
		name      string
		updates   []*lnrpc.Payment
		err       error
		accepted  int
		succeeded bool
		failure   lightning.FailureReason
		wantErr   error
		notErr    error
	}{
		{name: "succeeded", updates: []*lnrpc.Payment{inflight,
			inflight, succeeded}, accepted: 1, succeeded: true},
		{name: "failed", updates: []*lnrpc.Payment{inflight, failed},
			accepted: 1, failure: lightning.FailureReasonNoRoute},
		{name: "refused before recording",
			err: status.Error(codes.Unknown,
				"self-payments not allowed"),
			wantErr: lightning.ErrPaymentRefused},
		{name: "bad argument",
			err:     status.Error(codes.InvalidArgument, "amount"),
			wantErr: lightning.ErrPaymentRefused},
		{name: "hash lnd has",
			err:     status.Error(codes.AlreadyExists, "in flight"),
			wantErr: lightning.ErrPaymentExists, notErr: lightning.ErrPaymentRefused},
		{name: "connection lost before recording",
			err: status.Error(codes.Unavailable,
				"transport closing"),
			notErr: lightning.ErrPaymentRefused},
		{name: "stream broke after recording",
			updates:  []*lnrpc.Payment{inflight},
			err:      status.Error(codes.Unknown, "stream reset"),
			accepted: 1, notErr: lightning.ErrPaymentRefused},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			raw := &rawRouter{updates: tc.updates, err: tc.err}
			p := NewHubPayments(&routerClient{raw: raw})
			accepted := 0
			res, err := p.SendKeysend(context.Background(), lightning.Keysend{
				Dest:     dest,
				Preimage: preimage,
				Amount:   5_000,
				FeeLimit: 1_000,
				Timeout:  30 * time.Second,
				Records: map[uint64][]byte{
					lightning.PayoutIDRecord: []byte("id-1"),
				},
			}, func() { accepted++ })

			req := raw.got
			recs := req.DestCustomRecords
			switch {
			case string(req.Dest) != string(dest[:]):
				t.Errorf("dest %x", req.Dest)
			case req.AmtMsat != 5_000 || req.FeeLimitMsat != 1_000:
				t.Errorf("amount %d, fee limit %d", req.AmtMsat,
					req.FeeLimitMsat)
			case string(req.PaymentHash) != string(hash[:]):
				t.Errorf("hash %x", req.PaymentHash)
			case string(recs[record.KeySendType]) !=
				string(preimage[:]):
				t.Errorf("keysend record %x",
					recs[record.KeySendType])
			case string(recs[lightning.PayoutIDRecord]) != "id-1":
				t.Errorf("payout id record %q",
					recs[lightning.PayoutIDRecord])
			case req.TimeoutSeconds != 30:
				t.Errorf("timeout %d s", req.TimeoutSeconds)
			case req.NoInflightUpdates:
				t.Error("in-flight updates off: accepted " +
					"could not be told")
			}
			if accepted != tc.accepted {
				t.Errorf("accepted called %d times, want %d",
					accepted, tc.accepted)
			}

			if tc.wantErr != nil || tc.notErr != nil {
				if err == nil {
					t.Fatalf("no error, result %+v", res)
				}
				if tc.wantErr != nil &&
					!errors.Is(err, tc.wantErr) {

					t.Fatalf("error %v, want %v", err,
						tc.wantErr)
				}
				if tc.notErr != nil &&
					errors.Is(err, tc.notErr) {

					t.Fatalf("error %v must not be %v", err,
						tc.notErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if res.Succeeded != tc.succeeded ||
				res.Failure != tc.failure || res.Hash != hash {

				t.Fatalf("result %+v", res)
			}
			if tc.succeeded && (res.Amount != 5_000 ||
				res.Fee != 7 || res.Preimage != preimage) {

				t.Fatalf("result %+v", res)
			}
		})
	}
}

// TestSendKeysendBadRecord refuses records lnd would refuse, before asking
// lnd.
func TestSendKeysendBadRecord(t *testing.T) {
	for _, typ := range []uint64{1, record.CustomTypeStart - 1,
		record.KeySendType} {

		raw := &rawRouter{}
		p := NewHubPayments(&routerClient{raw: raw})
		_, err := p.SendKeysend(context.Background(), lightning.Keysend{
			Amount:  1_000,
			Records: map[uint64][]byte{typ: []byte("x")},
		}, nil)
		if !errors.Is(err, lightning.ErrBadRecord) {
			t.Errorf("record %d: %v, want lightning.ErrBadRecord", typ, err)
		}
		if raw.calls != 0 {
			t.Errorf("record %d: lnd was asked", typ)
		}
	}
}

// TestFailureReason tells route failures from the others, and reads each
// of lnd's reasons back from the name the store keeps.
func TestFailureReason(t *testing.T) {
	tests := []struct {
		reason lnrpc.PaymentFailureReason
		want   lightning.FailureReason
		route  bool
	}{
		{lnrpc.PaymentFailureReason_FAILURE_REASON_NONE,
			lightning.FailureReasonNone, false},
		{lnrpc.PaymentFailureReason_FAILURE_REASON_NO_ROUTE,
			lightning.FailureReasonNoRoute, true},
		{lnrpc.PaymentFailureReason_FAILURE_REASON_INSUFFICIENT_BALANCE,
			lightning.FailureReasonInsufficientBalance, true},
		{lnrpc.PaymentFailureReason_FAILURE_REASON_TIMEOUT,
			lightning.FailureReasonTimeout, false},
		{lnrpc.
			PaymentFailureReason_FAILURE_REASON_INCORRECT_PAYMENT_DETAILS,
			lightning.FailureReasonIncorrectPaymentDetails, false},
		{lnrpc.PaymentFailureReason_FAILURE_REASON_ERROR,
			lightning.FailureReasonError, false},
		{lnrpc.PaymentFailureReason_FAILURE_REASON_CANCELED,
			lightning.FailureReasonCanceled, false},
	}
	for _, tc := range tests {
		got := failureReason(tc.reason)
		if got != tc.want {
			t.Errorf("%v maps to %v, want %v", tc.reason, got,
				tc.want)
		}
		if got.IsRouteFailure() != tc.route {
			t.Errorf("%v: route failure %v, want %v", tc.reason,
				got.IsRouteFailure(), tc.route)
		}
		if got.String() != tc.reason.String() {
			t.Errorf("%v is stored as %q", tc.reason, got.String())
		}
		back, ok := lightning.ParseFailureReason(tc.reason.String())
		if !ok || back != tc.want {
			t.Errorf("%q reads back as %v, %v", tc.reason.String(),
				back, ok)
		}
	}
	if r, ok := lightning.ParseFailureReason("payment refused by lnd"); ok {
		t.Errorf("a refusal's message reads as reason %v", r)
	}
}

// TestFailureReasonsAreLnds checks that lightning's failure reasons carry
// lnd's numbers and names, every one of them, so that what the store keeps
// reads back the same.
func TestFailureReasonsAreLnds(t *testing.T) {
	for v, name := range lnrpc.PaymentFailureReason_name {
		r := failureReason(lnrpc.PaymentFailureReason(v))
		if r.String() != name {
			t.Errorf("reason %d: String %q, lnd names it %q", v,
				r.String(), name)
		}
		back, ok := lightning.ParseFailureReason(name)
		if !ok || back != r {
			t.Errorf("ParseFailureReason(%q) = %v, %v; want %d",
				name, back, ok, v)
		}
	}
}
