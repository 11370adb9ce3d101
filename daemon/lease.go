package daemon

import (
	"context"
	"errors"
	"time"

	"github.com/btcsuite/btcd/btcutil"
	"github.com/lightninglabs/lndclient"
	"github.com/lightningnetwork/lnd/clock"
	"github.com/sluice-ln/sluice/hubnode"
	"github.com/sluice-ln/sluice/ledger"
	"github.com/sluice-ln/sluice/rpc"
	"github.com/sluice-ln/sluice/store"
	"github.com/sluice-ln/sluice/yield"
	"github.com/sluice-ln/sluice/yield/lease"
)

// LeaseConfig holds the lease.* options: whether sluiced sells liquidity
// leases, and their terms (docs/leases.md).
//
//nolint:ll
type LeaseConfig struct {
	Enable          bool          `long:"enable" description:"sell liquidity leases from vault capital (the vault's policy must give the lease strategy a cap)"`
	RatePPB         uint64        `long:"rateppb" description:"the premium's rate in parts per billion of the capacity per block leased"`
	Floor           uint64        `long:"floor" description:"the least premium, msat"`
	MinCapacity     int64         `long:"mincapacity" description:"the smallest lease, sat (at least lnd's 20000)"`
	MaxCapacity     int64         `long:"maxcapacity" description:"the largest lease, sat"`
	MinBlocks       uint32        `long:"minblocks" description:"the shortest lease, blocks"`
	MaxBlocks       uint32        `long:"maxblocks" description:"the longest lease, blocks"`
	InvoiceExpiry   time.Duration `long:"invoiceexpiry" description:"how long a lease's hold invoice can be paid"`
	Cltv            uint32        `long:"cltv" description:"the hold invoice's final CLTV delta: blocks the hub has to open the channel once paid"`
	SafetyMargin    uint32        `long:"safetymargin" description:"blocks before a held payment expires at which a paid lease not yet accepted is given back"`
	ForceCloseAfter uint32        `long:"forcecloseafter" description:"blocks past a lease's expiry after which a channel that could not be closed cooperatively is force-closed"`
}

// defaultLeaseConfig is the lease.* defaults: off, with package lease's
// terms.
func defaultLeaseConfig() *LeaseConfig {
	d := lease.DefaultConfig()
	return &LeaseConfig{
		RatePPB:         d.RatePPB,
		Floor:           uint64(d.Floor),
		MinCapacity:     int64(d.MinCapacity),
		MaxCapacity:     int64(d.MaxCapacity),
		MinBlocks:       d.MinBlocks,
		MaxBlocks:       d.MaxBlocks,
		InvoiceExpiry:   d.InvoiceExpiry,
		Cltv:            d.CltvExpiry,
		SafetyMargin:    d.SafetyMargin,
		ForceCloseAfter: d.ForceCloseAfter,
	}
}

// strategyConfig is the options as package lease's Config.
func (c *LeaseConfig) strategyConfig() lease.Config {
	d := lease.DefaultConfig()
	return lease.Config{
		RatePPB:         c.RatePPB,
		Floor:           ledger.MilliSatoshi(min(c.Floor, 1<<62)),
		MinCapacity:     btcutil.Amount(c.MinCapacity),
		MaxCapacity:     btcutil.Amount(c.MaxCapacity),
		MinBlocks:       c.MinBlocks,
		MaxBlocks:       c.MaxBlocks,
		InvoiceExpiry:   c.InvoiceExpiry,
		CltvExpiry:      c.Cltv,
		SafetyMargin:    c.SafetyMargin,
		FundingConfirms: d.FundingConfirms,
		ForceCloseAfter: c.ForceCloseAfter,
	}
}

// validateLease checks the lease.* options as package lease does, naming
// the option.
func (c *Config) validateLease() error {
	if c.Lease == nil {
		return nil
	}
	cfg := c.Lease.strategyConfig()
	if err := cfg.Validate(); err != nil {
		return invalid("lease", "%v", err)
	}
	return nil
}

// vaultRef is the vault as the lease strategy reads it, set once the
// vault is built: the vault takes its strategies when it is made, and the
// strategy quotes from the vault's state, so one of them must be late.
type vaultRef struct {
	v *yield.Vault
}

// errNoVault is returned by vaultRef before the vault is set.
var errNoVault = errors.New("the vault is not built yet")

func (r *vaultRef) State(ctx context.Context) (yield.State, error) {
	if r.v == nil {
		return yield.State{}, errNoVault
	}
	return r.v.State(ctx)
}

func (r *vaultRef) StrategySettingsAll(ctx context.Context) (
	map[string]yield.StrategySettings, error) {

	if r.v == nil {
		return nil, errNoVault
	}
	return r.v.StrategySettingsAll(ctx)
}

// newLeaseStrategy builds the lease strategy over the hub's lnd, the store
// and the vault (through ref, set once the vault is built), or returns nil
// when lease.enable is off.
func newLeaseStrategy(c *LeaseConfig, services *lndclient.GrpcLndServices,
	db *store.DB, ref *vaultRef, clk clock.Clock) (*lease.Strategy,
	error) {

	if c == nil || !c.Enable {
		return nil, nil
	}
	return lease.New(c.strategyConfig(), lease.NewHub(services.Client),
		hubnode.NewHoldInvoices(services.Client, services.Invoices),
		db, ref, clk)
}

// leaseBackend is s as the API's LeaseBackend: nil (not a nil pointer)
// when leases are off, so the API answers unimplemented.
func leaseBackend(s *lease.Strategy) rpc.LeaseBackend {
	if s == nil {
		return nil
	}
	return s
}
