package hubnode

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/lightninglabs/lndclient"
	"github.com/lightningnetwork/lnd/lnrpc"
	"github.com/lightningnetwork/lnd/lnrpc/invoicesrpc"
	"github.com/lightningnetwork/lnd/lntypes"
	"github.com/lightningnetwork/lnd/lnwire"
	"github.com/sluice-ln/sluice/lightning"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

var (
	// ErrHoldRequest is returned for a HoldRequest refused before asking
	// lnd; the error says which field and why.
	ErrHoldRequest = errors.New("invalid hold invoice request")

	// ErrInvoiceExists is returned by AddHold when the hub has an invoice
	// with the hash already that is not the one asked for (another
	// amount or memo).
	ErrInvoiceExists = errors.New("an invoice with the hash exists")

	// ErrInvoiceCanceled is returned by Settle for an invoice canceled
	// before it could be settled.
	ErrInvoiceCanceled = errors.New("invoice already canceled")

	// ErrHoldNotAccepted is returned by Settle for a hold invoice that
	// holds no payment yet: there is nothing to settle.
	ErrHoldNotAccepted = errors.New("hold invoice not paid yet")
)

// The states of a hold invoice: open (unpaid), accepted (paid, the HTLCs
// held until the hub settles or cancels), settled, canceled. They are the
// InvoiceState values.
const (
	HoldOpen     = lightning.InvoiceOpen
	HoldAccepted = lightning.InvoiceAccepted
	HoldSettled  = lightning.InvoiceSettled
	HoldCanceled = lightning.InvoiceCanceled
)

// HoldRequest asks for a hold invoice: one that lnd accepts but does not
// settle, so the hub decides later whether to take the payment (Settle
// with the preimage) or give it back (Cancel).
type HoldRequest struct {
	// Hash is the payment hash; the caller keeps its preimage.
	Hash lntypes.Hash

	// Amount is what the invoice asks; more than zero.
	Amount lnwire.MilliSatoshi

	// Memo is the invoice's description.
	Memo string

	// Expiry is how long the invoice can be paid, in whole seconds; 0
	// is lnd's default (24 hours).
	Expiry time.Duration

	// CltvExpiry is the final CLTV delta the invoice asks of the
	// payment's last hop: the blocks the hub has to decide once a
	// payment arrives. 0 is lnd's default.
	CltvExpiry uint64
}

// HoldState is where a hold invoice is.
type HoldState struct {
	// State is HoldOpen, HoldAccepted, HoldSettled or HoldCanceled.
	State lightning.InvoiceState

	// AmountPaid is what the held (or settled) HTLCs carry; 0 while
	// open.
	AmountPaid lnwire.MilliSatoshi

	// AcceptHeight is the lowest block height at which one of the
	// invoice's held or settled HTLCs was accepted; 0 if none.
	AcceptHeight int32

	// HTLCExpiry is the lowest expiry height of the HTLCs held now: the
	// hub must settle or cancel before that block, or the payer's node
	// force-closes its channel to get the HTLC back. 0 if none is held.
	HTLCExpiry int32
}

// HoldInvoices makes, watches, settles and cancels the hub's hold
// invoices: the payments for liquidity leases, settled once the leased
// channel is open and canceled if it cannot be. It reads invoices through
// lnd's raw LookupInvoice: lndclient's invoice drops the HTLCs' accept and
// expiry heights.
type HoldInvoices struct {
	client   lndclient.LightningClient
	invoices lndclient.InvoicesClient
}

// NewHoldInvoices returns the hold invoice adapter over the hub's lnd.
func NewHoldInvoices(client lndclient.LightningClient,
	inv lndclient.InvoicesClient) *HoldInvoices {

	return &HoldInvoices{client: client, invoices: inv}
}

// AddHold adds a hold invoice and returns its payment request. Adding the
// same invoice again (same hash, amount and memo, as a caller that crashed
// after asking does) returns the invoice's payment request, whatever its
// state; another invoice with the hash gives an error wrapping
// ErrInvoiceExists.
func (h *HoldInvoices) AddHold(ctx context.Context, req HoldRequest) (
	string, error) {

	data, err := holdData(req)
	if err != nil {
		return "", err
	}
	payReq, err := h.invoices.AddHoldInvoice(ctx, data)
	if err == nil {
		return payReq, nil
	}
	// lnd refuses a hash it has; look at what it has instead of parsing
	// its message.
	inv, lookupErr := h.lookup(ctx, req.Hash)
	switch {
	case errors.Is(lookupErr, lightning.ErrInvoiceNotFound):
		return "", fmt.Errorf("add hold invoice %v: %w", req.Hash, err)

	case lookupErr != nil:
		return "", fmt.Errorf("add hold invoice %v: %w (then: %w)",
			req.Hash, err, lookupErr)

	case lnwire.MilliSatoshi(inv.ValueMsat) != req.Amount ||
		inv.Memo != req.Memo:

		return "", fmt.Errorf("add hold invoice %v for %v: %w: for "+
			"%d msat, memo %q", req.Hash, req.Amount,
			ErrInvoiceExists, inv.ValueMsat, inv.Memo)
	}
	return inv.PaymentRequest, nil
}

// holdData checks req and makes lndclient's request of it.
func holdData(req HoldRequest) (*invoicesrpc.AddInvoiceData, error) {
	switch {
	case req.Hash == lntypes.ZeroHash:
		return nil, fmt.Errorf("%w: Hash: zero", ErrHoldRequest)

	case req.Amount == 0:
		return nil, fmt.Errorf("%w: Amount: zero", ErrHoldRequest)

	case req.Expiry < 0 || (req.Expiry > 0 && req.Expiry < time.Second):
		return nil, fmt.Errorf("%w: Expiry: %v is not a whole "+
			"number of seconds or zero", ErrHoldRequest,
			req.Expiry)
	}
	hash := req.Hash
	return &invoicesrpc.AddInvoiceData{
		Memo:       req.Memo,
		Hash:       &hash,
		Value:      req.Amount,
		Expiry:     int64(req.Expiry / time.Second),
		CltvExpiry: req.CltvExpiry,
	}, nil
}

// State returns where the hold invoice with the hash is, or an error
// wrapping ErrInvoiceNotFound when lnd does not know it.
func (h *HoldInvoices) State(ctx context.Context, hash lntypes.Hash) (
	HoldState, error) {

	inv, err := h.lookup(ctx, hash)
	if err != nil {
		return HoldState{}, err
	}
	return holdState(inv), nil
}

// holdState is lnd's invoice as a HoldState.
func holdState(inv *lnrpc.Invoice) HoldState {
	st := HoldState{AmountPaid: lnwire.MilliSatoshi(inv.AmtPaidMsat)}
	switch inv.State {
	case lnrpc.Invoice_OPEN:
		st.State = HoldOpen
	case lnrpc.Invoice_ACCEPTED:
		st.State = HoldAccepted
	case lnrpc.Invoice_SETTLED:
		st.State = HoldSettled
	case lnrpc.Invoice_CANCELED:
		st.State = HoldCanceled
	default:
		st.State = lightning.InvoiceState(inv.State.String())
	}
	for _, htlc := range inv.Htlcs {
		if htlc.State == lnrpc.InvoiceHTLCState_CANCELED {
			continue
		}
		if st.AcceptHeight == 0 || htlc.AcceptHeight < st.AcceptHeight {
			st.AcceptHeight = htlc.AcceptHeight
		}
		if htlc.State != lnrpc.InvoiceHTLCState_ACCEPTED {
			continue
		}
		if st.HTLCExpiry == 0 || htlc.ExpiryHeight < st.HTLCExpiry {
			st.HTLCExpiry = htlc.ExpiryHeight
		}
	}
	return st
}

// lookup is lnd's raw invoice with the hash, or an error wrapping
// ErrInvoiceNotFound.
func (h *HoldInvoices) lookup(ctx context.Context, hash lntypes.Hash) (
	*lnrpc.Invoice, error) {

	rpcCtx, timeout, client := h.client.RawClientWithMacAuth(ctx)
	rpcCtx, cancel := context.WithTimeout(rpcCtx, timeout)
	defer cancel()
	inv, err := client.LookupInvoice(rpcCtx,
		&lnrpc.PaymentHash{RHash: hash[:]})
	switch {
	case status.Code(err) == codes.NotFound:
		return nil, fmt.Errorf("invoice %v: %w", hash,
			lightning.ErrInvoiceNotFound)

	case err != nil:
		return nil, fmt.Errorf("lookup invoice %v: %w", hash, err)
	}
	return inv, nil
}

// invoiceState is the state of the invoice with the hash.
func (h *HoldInvoices) invoiceState(ctx context.Context,
	hash lntypes.Hash) (lightning.InvoiceState, error) {

	st, err := h.State(ctx, hash)
	return st.State, err
}

// Settle takes the payment a hold invoice holds, revealing the preimage to
// the payer. Settling a settled invoice succeeds. An invoice with no
// payment held gives an error wrapping ErrHoldNotAccepted, a canceled one
// ErrInvoiceCanceled, an unknown one ErrInvoiceNotFound.
func (h *HoldInvoices) Settle(ctx context.Context,
	preimage lntypes.Preimage) error {

	hash := preimage.Hash()
	err := h.invoices.SettleInvoice(ctx, preimage)
	if err == nil {
		return nil
	}
	st, lookupErr := h.invoiceState(ctx, hash)
	switch {
	case errors.Is(lookupErr, lightning.ErrInvoiceNotFound):
		return fmt.Errorf("settle invoice %v: %w", hash, lookupErr)
	case lookupErr != nil:
		return fmt.Errorf("settle invoice %v: %w (then: %w)", hash,
			err, lookupErr)
	case st == HoldSettled:
		return nil
	case st == HoldOpen:
		return fmt.Errorf("settle invoice %v: %w", hash,
			ErrHoldNotAccepted)
	case st == HoldCanceled:
		return fmt.Errorf("settle invoice %v: %w", hash,
			ErrInvoiceCanceled)
	}
	return fmt.Errorf("settle invoice %v: %w", hash, err)
}

// Cancel gives back the payment a hold invoice holds, if any, and closes
// the invoice to payments. Canceling a canceled invoice succeeds; a
// settled one gives an error wrapping ErrInvoiceSettled, an unknown one
// ErrInvoiceNotFound.
func (h *HoldInvoices) Cancel(ctx context.Context, hash lntypes.Hash) error {
	return cancelInvoice(ctx, h.invoices, h.invoiceState, hash)
}

// cancelInvoice cancels the invoice with the hash and, when lnd refuses,
// tells why from the invoice's state (lnd's answer does not classify it):
// canceled already is success, settled ErrInvoiceSettled, missing
// ErrInvoiceNotFound.
func cancelInvoice(ctx context.Context, invoices lndclient.InvoicesClient,
	state func(context.Context, lntypes.Hash) (lightning.InvoiceState, error),
	hash lntypes.Hash) error {

	err := invoices.CancelInvoice(ctx, hash)
	if err == nil {
		return nil
	}
	st, lookupErr := state(ctx, hash)
	switch {
	case errors.Is(lookupErr, lightning.ErrInvoiceNotFound):
		return fmt.Errorf("cancel invoice %v: %w", hash, lookupErr)
	case lookupErr != nil:
		return fmt.Errorf("cancel invoice %v: %w (then: %w)", hash, err,
			lookupErr)
	case st == lightning.InvoiceCanceled:
		return nil
	case st == lightning.InvoiceSettled:
		return fmt.Errorf("cancel invoice %v: %w", hash,
			lightning.ErrInvoiceSettled)
	}
	return fmt.Errorf("cancel invoice %v: %w", hash, err)
}
