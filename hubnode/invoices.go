package hubnode

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
	"github.com/sluice-ln/sluice/lightning"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

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

	params, err := lightning.ParamsOf(network)
	if err != nil {
		return nil, err
	}
	return &HubInvoices{client: client, invoices: inv, params: params}, nil
}

// AddInvoice makes an invoice for amt with the memo, expiring after expiry,
// and returns it with its creation and expiry times as encoded in the
// payment request.
func (h *HubInvoices) AddInvoice(ctx context.Context, amt lnwire.MilliSatoshi,
	memo string, expiry time.Duration) (lightning.Invoice, error) {

	hash, payReq, err := h.client.AddInvoice(ctx,
		&invoicesrpc.AddInvoiceData{
			Memo:   memo,
			Value:  amt,
			Expiry: int64(expiry / time.Second),
		})
	if err != nil {
		return lightning.Invoice{}, fmt.Errorf("add invoice for %v: %w", amt, err)
	}
	decoded, err := lightning.DecodePaymentRequest(payReq, h.params)
	if err != nil {
		return lightning.Invoice{}, fmt.Errorf("hub invoice %v: %w", hash, err)
	}
	return lightning.Invoice{
		Hash:           hash,
		PaymentRequest: payReq,
		Amount:         amt,
		State:          lightning.InvoiceOpen,
		CreatedAt:      decoded.CreatedAt,
		ExpiresAt:      decoded.ExpiresAt,
	}, nil
}

// LookupInvoice returns the hub's invoice with the hash, or an error
// wrapping ErrInvoiceNotFound.
func (h *HubInvoices) LookupInvoice(ctx context.Context,
	hash lntypes.Hash) (lightning.Invoice, error) {

	inv, err := h.client.LookupInvoice(ctx, hash)
	switch {
	case status.Code(err) == codes.NotFound:
		return lightning.Invoice{}, fmt.Errorf("invoice %v: %w", hash,
			lightning.ErrInvoiceNotFound)
	case err != nil:
		return lightning.Invoice{}, fmt.Errorf("lookup invoice %v: %w", hash, err)
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
	hash lntypes.Hash) (lightning.InvoiceState, error) {

	inv, err := h.LookupInvoice(ctx, hash)
	return inv.State, err
}

// SubscribeSettled streams the hub's invoices as they settle, starting with
// every invoice settled after settle index afterIndex (none for 0: lnd
// replays nothing then). Invoices that are added, canceled or accepted are
// not sent. The error channel receives one error when the stream breaks;
// both channels stop when ctx is done.
func (h *HubInvoices) SubscribeSettled(ctx context.Context,
	afterIndex uint64) (<-chan lightning.Invoice, <-chan error, error) {

	updates, errs, err := h.client.SubscribeInvoices(ctx,
		lndclient.InvoiceSubscriptionRequest{SettleIndex: afterIndex})
	if err != nil {
		return nil, nil, fmt.Errorf("subscribe to invoices: %w", err)
	}

	out := make(chan lightning.Invoice)
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
func convertInvoice(inv *lndclient.Invoice) lightning.Invoice {
	out := lightning.Invoice{
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
		out.State = lightning.InvoiceOpen
	case invoices.ContractSettled:
		out.State = lightning.InvoiceSettled
	case invoices.ContractCanceled:
		out.State = lightning.InvoiceCanceled
	case invoices.ContractAccepted:
		out.State = lightning.InvoiceAccepted
	default:
		out.State = lightning.InvoiceState(inv.State.String())
	}
	return out
}
