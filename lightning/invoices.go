package lightning

import (
	"errors"
	"time"

	"github.com/lightningnetwork/lnd/lntypes"
	"github.com/lightningnetwork/lnd/lnwire"
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
