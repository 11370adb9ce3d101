package hubnode

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/lightninglabs/lndclient"
	"github.com/lightningnetwork/lnd/lnrpc"
	"github.com/lightningnetwork/lnd/lnrpc/invoicesrpc"
	"github.com/lightningnetwork/lnd/lntypes"
	"github.com/sluice-ln/sluice/lightning"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// holdLn fakes the lndclient client HoldInvoices reads invoices with.
type holdLn struct {
	lndclient.LightningClient
	raw *rawInvoices
}

func (c *holdLn) RawClientWithMacAuth(ctx context.Context) (
	context.Context, time.Duration, lnrpc.LightningClient) {

	return ctx, time.Minute, c.raw
}

// holdClient fakes the lndclient invoices client HoldInvoices changes
// invoices with.
type holdClient struct {
	lndclient.InvoicesClient

	adds    []*invoicesrpc.AddInvoiceData
	addErr  error
	settles []lntypes.Preimage
	setErr  error
	cancels []lntypes.Hash
	canErr  error
}

func (c *holdClient) AddHoldInvoice(_ context.Context,
	in *invoicesrpc.AddInvoiceData) (string, error) {

	c.adds = append(c.adds, in)
	if c.addErr != nil {
		return "", c.addErr
	}
	return "lnbcrt1new", nil
}

func (c *holdClient) SettleInvoice(_ context.Context,
	p lntypes.Preimage) error {

	c.settles = append(c.settles, p)
	return c.setErr
}

func (c *holdClient) CancelInvoice(_ context.Context,
	h lntypes.Hash) error {

	c.cancels = append(c.cancels, h)
	return c.canErr
}

// rawInvoices answers LookupInvoice from its table; any other call
// panics on the nil embedded interface.
type rawInvoices struct {
	lnrpc.LightningClient
	invoices map[lntypes.Hash]*lnrpc.Invoice
}

func (r *rawInvoices) LookupInvoice(_ context.Context,
	req *lnrpc.PaymentHash, _ ...grpc.CallOption) (*lnrpc.Invoice, error) {

	h, err := lntypes.MakeHash(req.RHash)
	if err != nil {
		return nil, err
	}
	inv, ok := r.invoices[h]
	if !ok {
		return nil, status.Error(codes.NotFound,
			"unable to locate invoice")
	}
	return inv, nil
}

// preimageOf is a preimage of 32 bytes b.
func preimageOf(b byte) lntypes.Preimage {
	var p lntypes.Preimage
	for i := range p {
		p[i] = b
	}
	return p
}

// hashOf is the hash of preimageOf(b).
func hashOf(b byte) lntypes.Hash {
	p := preimageOf(b)
	return p.Hash()
}

// TestHoldData checks the request AddHold makes and the fields it
// refuses.
func TestHoldData(t *testing.T) {
	t.Parallel()
	h := hashOf(1)
	got, err := holdData(HoldRequest{Hash: h, Amount: 5_000, Memo: "m",
		Expiry: 90*time.Second + time.Millisecond, CltvExpiry: 144})
	if err != nil {
		t.Fatal(err)
	}
	if *got.Hash != h || got.Value != 5_000 || got.Memo != "m" ||
		got.Expiry != 90 || got.CltvExpiry != 144 || got.Preimage != nil {

		t.Errorf("request = %+v", got)
	}
	for _, tc := range []struct {
		name  string
		req   HoldRequest
		field string
	}{
		{"no hash", HoldRequest{Amount: 1}, "Hash"},
		{"no amount", HoldRequest{Hash: h}, "Amount"},
		{"negative expiry", HoldRequest{Hash: h, Amount: 1,
			Expiry: -time.Second}, "Expiry"},
		{"sub-second expiry", HoldRequest{Hash: h, Amount: 1,
			Expiry: time.Millisecond}, "Expiry"},
	} {
		_, err := holdData(tc.req)
		if !errors.Is(err, ErrHoldRequest) ||
			!strings.Contains(err.Error(), tc.field) {

			t.Errorf("%s: %v", tc.name, err)
		}
	}
}

// TestHoldState maps lnd's invoice states and HTLCs.
func TestHoldState(t *testing.T) {
	t.Parallel()
	htlcs := []*lnrpc.InvoiceHTLC{{
		State: lnrpc.InvoiceHTLCState_CANCELED, AcceptHeight: 90,
		ExpiryHeight: 130,
	}, {
		State: lnrpc.InvoiceHTLCState_ACCEPTED, AcceptHeight: 105,
		ExpiryHeight: 190,
	}, {
		State: lnrpc.InvoiceHTLCState_ACCEPTED, AcceptHeight: 100,
		ExpiryHeight: 200,
	}}
	settled := []*lnrpc.InvoiceHTLC{{
		State: lnrpc.InvoiceHTLCState_SETTLED, AcceptHeight: 101,
		ExpiryHeight: 201,
	}}
	for _, tc := range []struct {
		inv  *lnrpc.Invoice
		want HoldState
	}{{
		&lnrpc.Invoice{State: lnrpc.Invoice_OPEN},
		HoldState{State: HoldOpen},
	}, {
		&lnrpc.Invoice{State: lnrpc.Invoice_ACCEPTED,
			AmtPaidMsat: 7_000, Htlcs: htlcs},
		HoldState{State: HoldAccepted, AmountPaid: 7_000,
			AcceptHeight: 100, HTLCExpiry: 190},
	}, {
		&lnrpc.Invoice{State: lnrpc.Invoice_SETTLED,
			AmtPaidMsat: 7_000, Htlcs: settled},
		HoldState{State: HoldSettled, AmountPaid: 7_000,
			AcceptHeight: 101},
	}, {
		&lnrpc.Invoice{State: lnrpc.Invoice_CANCELED,
			Htlcs: htlcs[:1]},
		HoldState{State: HoldCanceled},
	}} {
		if got := holdState(tc.inv); got != tc.want {
			t.Errorf("%v: %+v, want %+v", tc.inv.State, got,
				tc.want)
		}
	}
}

// TestAddHold adds, finds the same invoice again, and refuses another one
// with the hash.
func TestAddHold(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	req := HoldRequest{Hash: hashOf(1), Amount: 5_000, Memo: "lease"}
	raw := &rawInvoices{invoices: map[lntypes.Hash]*lnrpc.Invoice{}}
	c := &holdClient{}
	h := NewHoldInvoices(&holdLn{raw: raw}, c)

	payReq, err := h.AddHold(ctx, req)
	if err != nil || payReq != "lnbcrt1new" {
		t.Fatalf("add = %q, %v", payReq, err)
	}

	// lnd has it now and refuses the hash.
	c.addErr = status.Error(codes.Unknown,
		"invoice with payment hash already exists")
	raw.invoices[req.Hash] = &lnrpc.Invoice{ValueMsat: 5_000,
		Memo: "lease", PaymentRequest: "lnbcrt1old",
		State: lnrpc.Invoice_ACCEPTED}
	payReq, err = h.AddHold(ctx, req)
	if err != nil || payReq != "lnbcrt1old" {
		t.Fatalf("add again = %q, %v", payReq, err)
	}
	for _, other := range []HoldRequest{
		{Hash: req.Hash, Amount: 5_001, Memo: "lease"},
		{Hash: req.Hash, Amount: 5_000, Memo: "other"},
	} {
		if _, err := h.AddHold(ctx, other); !errors.Is(err,
			ErrInvoiceExists) {

			t.Errorf("add %+v = %v", other, err)
		}
	}

	// Refused for another reason: lnd's error.
	c.addErr = status.Error(codes.Unknown, "memo too long")
	req.Hash = hashOf(2)
	if _, err := h.AddHold(ctx, req); !errors.Is(err, c.addErr) {
		t.Errorf("add refused = %v", err)
	}
}

// TestSettleCancel maps lnd's refusals of settles and cancels by the
// invoice's state.
func TestSettleCancel(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	raw := &rawInvoices{invoices: map[lntypes.Hash]*lnrpc.Invoice{
		hashOf(1): {State: lnrpc.Invoice_OPEN},
		hashOf(2): {State: lnrpc.Invoice_ACCEPTED},
		hashOf(3): {State: lnrpc.Invoice_SETTLED},
		hashOf(4): {State: lnrpc.Invoice_CANCELED},
	}}
	c := &holdClient{}
	h := NewHoldInvoices(&holdLn{raw: raw}, c)

	// lnd answers; nothing to map.
	if err := h.Settle(ctx, preimageOf(2)); err != nil {
		t.Fatal(err)
	}
	if err := h.Cancel(ctx, hashOf(2)); err != nil {
		t.Fatal(err)
	}
	if len(c.settles) != 1 || c.settles[0] != preimageOf(2) ||
		len(c.cancels) != 1 || c.cancels[0] != hashOf(2) {

		t.Errorf("settles %v, cancels %v", c.settles, c.cancels)
	}

	c.setErr = errors.New("lnd refused")
	c.canErr = errors.New("lnd refused")
	for _, tc := range []struct {
		b                byte
		settle, cancelEr error
	}{
		{1, ErrHoldNotAccepted, c.canErr},
		{2, c.setErr, c.canErr},
		{3, nil, lightning.ErrInvoiceSettled},
		{4, ErrInvoiceCanceled, nil},
		{5, lightning.ErrInvoiceNotFound, lightning.ErrInvoiceNotFound},
	} {
		err := h.Settle(ctx, preimageOf(tc.b))
		if (tc.settle == nil) != (err == nil) ||
			!errors.Is(err, tc.settle) {

			t.Errorf("settle %d = %v, want %v", tc.b, err,
				tc.settle)
		}
		err = h.Cancel(ctx, hashOf(tc.b))
		if (tc.cancelEr == nil) != (err == nil) ||
			!errors.Is(err, tc.cancelEr) {

			t.Errorf("cancel %d = %v, want %v", tc.b, err,
				tc.cancelEr)
		}
	}

	if _, err := h.State(ctx, hashOf(5)); !errors.Is(err,
		lightning.ErrInvoiceNotFound) {

		t.Errorf("state of unknown = %v", err)
	}
}
