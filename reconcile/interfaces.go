package reconcile

import (
	"context"

	"github.com/sluice-ln/sluice/lightning"
	"github.com/sluice-ln/sluice/store"
)

// Lnd is what reconciliation reads of the hub's lnd.
// lightning.HubHistory is the lnd adapter.
type Lnd interface {
	// SettledInvoices returns every invoice the hub was paid.
	SettledInvoices(ctx context.Context) ([]lightning.SettledInvoice,
		error)

	// Payments returns every payment the hub made or tried, complete or
	// not.
	Payments(ctx context.Context) ([]lightning.PaymentRecord, error)
}

var _ Lnd = (*lightning.HubHistory)(nil)

// DB runs the reads in one transaction; *store.DB is the one
// implementation.
type DB interface {
	ExecTx(ctx context.Context, opts store.TxOptions,
		fn func(*store.Tx) error) error
}

var _ DB = (*store.DB)(nil)
