package dashboard

import (
	"context"
	"time"

	"github.com/sluice-ln/sluice/channels"
	"github.com/sluice-ln/sluice/payout"
	"github.com/sluice-ln/sluice/settlement"
)

// Verifier checks an operator macaroon; the rpc server's macaroon service
// does it (rpc.Server.VerifyOperatorMacaroon), so the dashboard accepts
// exactly what the API accepts from an operator.
type Verifier interface {
	// VerifyOperatorMacaroon returns nil when macHex is a valid
	// operator macaroon of this server, in hex.
	VerifyOperatorMacaroon(macHex string) error
}

// Jobs reads jobs; settlement.Manager implements it. Both calls only read
// the store: they never call lnd.
type Jobs interface {
	ListJobs(ctx context.Context, f settlement.ListFilter) (
		[]settlement.Status, error)
	GetJob(ctx context.Context, id string) (settlement.Status, error)
}

// Providers lists the linked providers from the store; channels.Manager
// implements it.
type Providers interface {
	Providers(ctx context.Context) ([]channels.Provider, error)
}

// Payouts reads what payouts know of a provider, from the store;
// payout.Scheduler implements it.
type Payouts interface {
	Provider(ctx context.Context, providerID string, recent int) (
		payout.ProviderView, error)
	ProviderStatus(ctx context.Context, providerID string,
		allJobs bool) (payout.ProviderStatus, error)
}

// Reconciliations tells how the last reconciliation ended. Reconciling
// asks lnd, so the dashboard never runs one: it shows the last that ran
// (`sluice reconcile`, or whatever the daemon runs).
type Reconciliations interface {
	// LastReconcile returns the last reconciliation's outcome; false
	// when none ran since sluiced started.
	LastReconcile() (ReconcileStatus, bool)
}

// ReconcileStatus is the outcome of one reconciliation.
type ReconcileStatus struct {
	// At is when it ran.
	At time.Time

	// OK says the books and lnd agreed; Differences counts where they
	// did not. Err, when not empty, says why the comparison could not
	// be made.
	OK          bool
	Differences int
	Err         string
}

var (
	_ Jobs      = (*settlement.Manager)(nil)
	_ Providers = (*channels.Manager)(nil)
	_ Payouts   = (*payout.Scheduler)(nil)
)
