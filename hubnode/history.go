package hubnode

import (
	"context"
	"fmt"

	"github.com/lightninglabs/lndclient"
	"github.com/lightningnetwork/lnd/lnrpc"
	"github.com/lightningnetwork/lnd/lntypes"
	"github.com/lightningnetwork/lnd/lnwire"
)

// historyPage is how many invoices or payments one call asks lnd for.
const historyPage = 1000

// SettledInvoice is an invoice the hub was paid.
type SettledInvoice struct {
	Hash       lntypes.Hash
	AmountPaid lnwire.MilliSatoshi
}

// PaymentState is where a payment of the hub's is.
type PaymentState int

const (
	// PaymentInFlight is a payment lnd has not resolved (or only
	// initiated).
	PaymentInFlight PaymentState = iota

	// PaymentSucceeded is a payment lnd paid.
	PaymentSucceeded

	// PaymentFailed is a payment lnd gave up on.
	PaymentFailed
)

// String names the state.
func (s PaymentState) String() string {
	switch s {
	case PaymentInFlight:
		return "in flight"
	case PaymentSucceeded:
		return "succeeded"
	case PaymentFailed:
		return "failed"
	}
	return fmt.Sprintf("state(%d)", int(s))
}

// PaymentRecord is one payment the hub made or tried.
type PaymentRecord struct {
	Hash  lntypes.Hash
	State PaymentState

	// Amount is what the destination got and Fee what routing cost;
	// both are set once the payment succeeded.
	Amount lnwire.MilliSatoshi
	Fee    lnwire.MilliSatoshi
}

// HubHistory reads the hub's invoices and payments, for reconciliation.
type HubHistory struct {
	client lndclient.LightningClient
}

// NewHubHistory returns the history reader over the hub's lnd.
func NewHubHistory(client lndclient.LightningClient) *HubHistory {
	return &HubHistory{client: client}
}

// SettledInvoices returns every invoice of the hub that was settled, in
// the order lnd added them, reading lnd's list page by page.
func (h *HubHistory) SettledInvoices(ctx context.Context) ([]SettledInvoice,
	error) {

	var (
		out    []SettledInvoice
		offset uint64
	)
	for {
		rpcCtx, _, client := h.client.RawClientWithMacAuth(ctx)
		resp, err := client.ListInvoices(rpcCtx,
			&lnrpc.ListInvoiceRequest{
				IndexOffset:    offset,
				NumMaxInvoices: historyPage,
			})
		if err != nil {
			return nil, fmt.Errorf("list invoices after %d: %w",
				offset, err)
		}
		for _, inv := range resp.Invoices {
			if inv.State != lnrpc.Invoice_SETTLED {
				continue
			}
			hash, err := lntypes.MakeHash(inv.RHash)
			if err != nil {
				return nil, fmt.Errorf("invoice hash %x: %w",
					inv.RHash, err)
			}
			out = append(out, SettledInvoice{
				Hash:       hash,
				AmountPaid: lnwire.MilliSatoshi(inv.AmtPaidMsat),
			})
		}
		if len(resp.Invoices) < historyPage ||
			resp.LastIndexOffset <= offset {

			return out, nil
		}
		offset = resp.LastIndexOffset
	}
}

// Payments returns every payment of the hub, complete or not, in the
// order lnd made them, reading lnd's list page by page.
func (h *HubHistory) Payments(ctx context.Context) ([]PaymentRecord, error) {
	var (
		out    []PaymentRecord
		offset uint64
	)
	for {
		rpcCtx, _, client := h.client.RawClientWithMacAuth(ctx)
		resp, err := client.ListPayments(rpcCtx,
			&lnrpc.ListPaymentsRequest{
				IncludeIncomplete: true,
				IndexOffset:       offset,
				MaxPayments:       historyPage,
			})
		if err != nil {
			return nil, fmt.Errorf("list payments after %d: %w",
				offset, err)
		}
		for _, p := range resp.Payments {
			rec, err := paymentRecord(p)
			if err != nil {
				return nil, err
			}
			out = append(out, rec)
		}
		if len(resp.Payments) < historyPage ||
			resp.LastIndexOffset <= offset {

			return out, nil
		}
		offset = resp.LastIndexOffset
	}
}

// paymentRecord reads one of lnd's payments.
func paymentRecord(p *lnrpc.Payment) (PaymentRecord, error) {
	hash, err := lntypes.MakeHashFromStr(p.PaymentHash)
	if err != nil {
		return PaymentRecord{}, fmt.Errorf("payment hash %q: %w",
			p.PaymentHash, err)
	}
	rec := PaymentRecord{Hash: hash}
	switch p.Status {
	case lnrpc.Payment_SUCCEEDED:
		rec.State = PaymentSucceeded
		rec.Amount = lnwire.MilliSatoshi(p.ValueMsat)
		rec.Fee = lnwire.MilliSatoshi(p.FeeMsat)
	case lnrpc.Payment_FAILED:
		rec.State = PaymentFailed
	default:
		rec.State = PaymentInFlight
	}
	return rec, nil
}
