package lease

import (
	"context"
	"fmt"

	"github.com/lightninglabs/lndclient"
	"github.com/lightningnetwork/lnd/lntypes"
	"github.com/lightningnetwork/lnd/routing/route"
	"github.com/sluice-ln/sluice/hubnode"
	"github.com/sluice-ln/sluice/yield"
)

// Node is what the strategy needs of the hub's lnd, in package lightning's
// terms: Hub satisfies it.
type Node interface {
	hubnode.ChannelOps

	// BestHeight is the height of the hub's best block.
	BestHeight(ctx context.Context) (uint32, error)

	// Connected says whether the hub is connected to the node now.
	Connected(ctx context.Context, node route.Vertex) (bool, error)
}

// Invoices is the hub's hold invoices: *hubnode.HoldInvoices.
type Invoices interface {
	// AddHold adds a hold invoice and returns its payment request; the
	// same request again returns the same invoice.
	AddHold(ctx context.Context, req hubnode.HoldRequest) (string,
		error)

	// State says where the invoice is; lightning.ErrInvoiceNotFound
	// when lnd does not know it.
	State(ctx context.Context, hash lntypes.Hash) (hubnode.HoldState,
		error)

	// Settle takes the held payment (a settled invoice: success);
	// hubnode.ErrInvoiceCanceled, ErrHoldNotAccepted.
	Settle(ctx context.Context, preimage lntypes.Preimage) error

	// Cancel gives the held payment back (a cancelled invoice:
	// success); lightning.ErrInvoiceSettled.
	Cancel(ctx context.Context, hash lntypes.Hash) error
}

var _ Invoices = (*hubnode.HoldInvoices)(nil)

// Vault is what the strategy reads of the vault to quote a request: its
// state (caps, principals, idle, floor) and the kill switches.
// *yield.Vault satisfies it.
type Vault interface {
	State(ctx context.Context) (yield.State, error)
	StrategySettingsAll(ctx context.Context) (
		map[string]yield.StrategySettings, error)
}

var _ Vault = (*yield.Vault)(nil)

// Filter selects leases: every one when empty.
type Filter struct {
	// States selects leases in one of them.
	States []State

	// Node selects one node's leases.
	Node *route.Vertex
}

// Store keeps the leases (store/lease_domain.go implements it over
// migration 000016's yield_leases).
type Store interface {
	// InsertLease stores l, unless l.Key is set and a lease with that
	// key exists: then that one comes back with false.
	InsertLease(ctx context.Context, l Lease) (Lease, bool, error)

	// Lease returns the lease with the id; ErrLeaseNotFound.
	Lease(ctx context.Context, id string) (Lease, error)

	// LeaseByKey returns the lease stored for the idempotency key;
	// ErrLeaseNotFound.
	LeaseByKey(ctx context.Context, key string) (Lease, error)

	// Leases returns the leases f selects, oldest first.
	Leases(ctx context.Context, f Filter) ([]Lease, error)

	// UpdateLease writes l's changing fields (state, reason, payreq,
	// action, channel, heights, flags, recognised, updated_at) to its
	// row if the row is still in state from; ErrStateChanged when it
	// is not, ErrLeaseNotFound when there is none.
	UpdateLease(ctx context.Context, l Lease, from State) error
}

// Hub is the hub's lnd as the strategy uses it: its channel operations,
// its graph, and its chain height.
type Hub struct {
	*hubnode.HubChannels
	*hubnode.Graph

	// Client answers GetInfo, for the height.
	Client lndclient.LightningClient
}

// NewHub returns the strategy's Node over the hub's lnd.
func NewHub(client lndclient.LightningClient) Hub {
	return Hub{
		HubChannels: hubnode.NewHubChannels(client),
		Graph:       hubnode.NewGraph(client),
		Client:      client,
	}
}

// BestHeight is lnd's block height.
func (h Hub) BestHeight(ctx context.Context) (uint32, error) {
	info, err := h.Client.GetInfo(ctx)
	if err != nil {
		return 0, fmt.Errorf("hub's height: %w", err)
	}
	return info.BlockHeight, nil
}

var _ Node = Hub{}
