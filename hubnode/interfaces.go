package hubnode

import (
	"github.com/sluice-ln/sluice/channels"
	"github.com/sluice-ln/sluice/outbound"
	"github.com/sluice-ln/sluice/payout"
	"github.com/sluice-ln/sluice/settlement"
)

// The adapters are what the domain packages need.
var (
	_ channels.Hub          = (*Graph)(nil)
	_ outbound.KeysendPayer = (*HubPayments)(nil)
	_ outbound.InvoicePayer = (*HubPayments)(nil)
	_ payout.Payments       = (*HubPayments)(nil)
	_ payout.Routes         = (*Graph)(nil)
	_ settlement.Invoices   = (*HubInvoices)(nil)
	_ settlement.Payments   = (*HubPayments)(nil)
	_ settlement.Routes     = (*Graph)(nil)
)
