package lightning

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/btcsuite/btcd/chaincfg"
	"github.com/lightninglabs/lndclient"
	"github.com/lightningnetwork/lnd/invoices"
	"github.com/lightningnetwork/lnd/lnrpc/invoicesrpc"
	"github.com/lightningnetwork/lnd/lntypes"
	"github.com/lightningnetwork/lnd/lnwire"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

var (
	// ErrInvoiceNotFound is returned when the hub has no invoice with the
	// payment hash.
	ErrInvoiceNotFound = errors.New("invoice not found on the hub")

	// ErrInvoiceSettled is returned by CancelInvoice for an invoice that
	// settled before it could be canceled.
	ErrInvoiceSettled = errors.New("invoice already settled")
)

// InvoiceState is where a hub invoice is.
type InvoiceState string

// The invoice states, as lnd has them.
const (
	InvoiceOpen     InvoiceState = "open"
	InvoiceSettled  InvoiceState = "settled"
	InvoiceCanceled InvoiceState = "canceled"
	InvoiceAccepted InvoiceState = "accepted"
)

// Invoice is one of the hub's invoices.
type Invoice struct {
	Hash           lntypes.Hash
	PaymentRequest string

	// Amount is what the invoice asks; AmountPaid what was paid (set
	// once settled; lnd lets a payer pay more than asked).
	Amount     lnwire.MilliSatoshi
	AmountPaid lnwire.MilliSatoshi

	State InvoiceState

	// SettleIndex is lnd's settle index of a settled invoice: it grows
	// by one with each invoice that settles on the node.
	SettleIndex uint64

	CreatedAt time.Time
	ExpiresAt time.Time
	SettledAt time.Time
}

// HubInvoices makes and watches invoices on the hub: funding and top-up
// invoices of jobs.
type HubInvoices struct {
	client   lndclient.LightningClient
	invoices lndclient.InvoicesClient
	params   *chaincfg.Params
}

// NewHubInvoices returns the invoice adapter over the hub's lnd services.
// network is the hub's network (regtest, testnet, mainnet, ...).
func NewHubInvoices(client lndclient.LightningClient,
	inv lndclient.InvoicesClient, network string) (*HubInvoices, error) {

	params, err := ParamsOf(network)
	if err != nil {
		return nil, err
	}
	return &HubInvoices{client: client, invoices: inv, params: params}, nil
}

// AddInvoice makes an invoice for amt with the memo, expiring after expiry,
// and returns it with its creation and expiry times as encoded in the
// payment request.
func (h *HubInvoices) AddInvoice(ctx context.Context, amt lnwire.MilliSatoshi,
	memo string, expiry time.Duration) (Invoice, error) {

	hash, payReq, err := h.client.AddInvoice(ctx,
		&invoicesrpc.AddInvoiceData{
			Memo:   memo,
			Value:  amt,
			Expiry: int64(expiry / time.Second),
		})
	if err != nil {
		return Invoice{}, fmt.Errorf("add invoice for %v: %w", amt, err)
	}
	decoded, err := DecodePaymentRequest(payReq, h.params)
	if err != nil {
		return Invoice{}, fmt.Errorf("hub invoice %v: %w", hash, err)
	}
	return Invoice{
		Hash:           hash,
		PaymentRequest: payReq,
		Amount:         amt,
		State:          InvoiceOpen,
		CreatedAt:      decoded.CreatedAt,
		ExpiresAt:      decoded.ExpiresAt,
	}, nil
}

// LookupInvoice returns the hub's invoice with the hash, or an error
// wrapping ErrInvoiceNotFound.
func (h *HubInvoices) LookupInvoice(ctx context.Context,
	hash lntypes.Hash) (Invoice, error) {

	inv, err := h.client.LookupInvoice(ctx, hash)
	switch {
	case status.Code(err) == codes.NotFound:
		return Invoice{}, fmt.Errorf("invoice %v: %w", hash,
			ErrInvoiceNotFound)
	case err != nil:
		return Invoice{}, fmt.Errorf("lookup invoice %v: %w", hash, err)
	}
	return convertInvoice(inv), nil
}

// CancelInvoice cancels an open invoice so that it can no longer be paid.
// Canceling a canceled invoice succeeds; a settled one gives an error
// wrapping ErrInvoiceSettled, an unknown one ErrInvoiceNotFound.
func (h *HubInvoices) CancelInvoice(ctx context.Context,
	hash lntypes.Hash) error {

	return cancelInvoice(ctx, h.invoices, h.invoiceState, hash)
}

// invoiceState is the state of the hub's invoice with the hash.
func (h *HubInvoices) invoiceState(ctx context.Context,
	hash lntypes.Hash) (InvoiceState, error) {

	inv, err := h.LookupInvoice(ctx, hash)
	return inv.State, err
}

// SubscribeSettled streams the hub's invoices as they settle, starting with
// every invoice settled after settle index afterIndex (none for 0: lnd
// replays nothing then). Invoices that are added, canceled or accepted are
// not sent. The error channel receives one error when the stream breaks;
// both channels stop when ctx is done.
func (h *HubInvoices) SubscribeSettled(ctx context.Context,
	afterIndex uint64) (<-chan Invoice, <-chan error, error) {

	updates, errs, err := h.client.SubscribeInvoices(ctx,
		lndclient.InvoiceSubscriptionRequest{SettleIndex: afterIndex})
	if err != nil {
		return nil, nil, fmt.Errorf("subscribe to invoices: %w", err)
	}

	out := make(chan Invoice)
	outErr := make(chan error, 1)
	go func() {
		defer close(out)
		for {
			select {
			case inv, ok := <-updates:
				if !ok {
					outErr <- errors.New("invoice stream " +
						"closed")
					return
				}
				if inv.State != invoices.ContractSettled {
					continue
				}
				select {
				case out <- convertInvoice(inv):
				case <-ctx.Done():
					return
				}

			case err, ok := <-errs:
				if !ok {
					err = errors.New("invoice stream closed")
				}
				outErr <- fmt.Errorf("invoice stream: %w", err)
				return

			case <-ctx.Done():
				return
			}
		}
	}()
	return out, outErr, nil
}

// convertInvoice is lndclient's invoice as this package's.
func convertInvoice(inv *lndclient.Invoice) Invoice {
	out := Invoice{
		Hash:           inv.Hash,
		PaymentRequest: inv.PaymentRequest,
		Amount:         inv.Amount,
		AmountPaid:     inv.AmountPaid,
		SettleIndex:    inv.SettleIndex,
		CreatedAt:      inv.CreationDate,
		SettledAt:      inv.SettleDate,
	}
	switch inv.State {
	case invoices.ContractOpen:
		out.State = InvoiceOpen
	case invoices.ContractSettled:
		out.State = InvoiceSettled
	case invoices.ContractCanceled:
		out.State = InvoiceCanceled
	case invoices.ContractAccepted:
		out.State = InvoiceAccepted
	default:
		out.State = InvoiceState(inv.State.String())
	}
	return out
}
