package rpc

import (
	"context"
	"errors"
	"fmt"
	"net"
	"time"

	"github.com/sluice-ln/sluice/channels"
)

// DefaultListenAddr is where the API listens unless told otherwise.
const DefaultListenAddr = "127.0.0.1:10090"

// ErrInvalidConfig is returned by NewServer for a Config it cannot run with;
// the message names the field.
var ErrInvalidConfig = errors.New("invalid rpc config")

// Config is what NewServer needs.
type Config struct {
	// ListenAddr is the host:port the API listens on; DefaultListenAddr
	// when empty. An empty host (":10090") or an unspecified address
	// ("0.0.0.0", "[::]") listens on every interface. Any address but
	// loopback is reachable from other machines, and Start says so in
	// the log; every call still needs a macaroon. Remote clients verify
	// the server against the certificate, so it should carry the name
	// they dial (TLSExtraIPs, TLSExtraDomains).
	ListenAddr string

	// TLSCertPath and TLSKeyPath are the server's certificate and key.
	// When either file is missing (or the certificate has expired), a
	// self-signed pair is made there, as lnd does, for 127.0.0.1, ::1,
	// localhost and the extra names below; the key file is written with
	// mode 0600. A certificate that sluiced made (its organization is
	// sluice's) is made again, with a new key, when its names differ
	// from the ones asked for, as lnd's tlsautorefresh does; one made
	// by anyone else is used as it is, whatever it names.
	TLSCertPath string
	TLSKeyPath  string

	// TLSExtraIPs and TLSExtraDomains are added to the self-signed
	// certificate's names (lnd's tlsextraip and tlsextradomain). Each
	// IP must parse; lnd would skip one that does not.
	TLSExtraIPs     []string
	TLSExtraDomains []string

	// MacaroonDir holds the macaroon root key (macaroons.key, mode 0600)
	// and the operator macaroon baked on first start (operator.macaroon).
	// It is created if missing.
	MacaroonDir string

	// Info answers GetInfo.
	Info InfoSource

	// Providers serves the ProviderService (linking, rate cards); the
	// daemon sets a channels.Manager. When nil, the service's methods
	// answer unimplemented.
	Providers ProviderBackend

	// Metering serves the MeteringService (agents' usage); the daemon
	// sets a metering.Service. When nil, the service's methods answer
	// unimplemented.
	Metering MeteringBackend

	// Jobs serves the JobService and the OperatorService's buyers; the
	// daemon sets a settlement.Manager. When nil, their methods answer
	// unimplemented.
	Jobs JobBackend

	// Payouts serves the ProviderService's GetProviderStatus; the daemon
	// sets a payout.Scheduler. When nil, it answers unimplemented.
	Payouts PayoutBackend

	// ProviderLinks tells the current agent key of a provider: a
	// provider macaroon is bound to the agent key of the link that minted
	// it, and stops working when the provider links again. The daemon
	// sets a channels.Manager. When nil, provider macaroons are not
	// checked against the provider's current link.
	ProviderLinks ProviderLinks

	// Vault serves the VaultService (staking, redemptions, reward
	// epochs and their proofs, the vault's policy); the daemon sets a
	// *yield.Vault. When nil, the service's methods answer unimplemented,
	// saying that this sluiced serves no vault.
	Vault VaultBackend

	// Yield serves the YieldService (the strategies' plans, applied
	// actions, reports and settings); the daemon sets the same
	// *yield.Vault as Vault. When nil, the service's methods answer
	// unimplemented.
	Yield YieldBackend
	// Leases serves the LeaseService (liquidity leases); the daemon sets
	// the lease strategy when [lease] enables it. When nil, the
	// service's methods answer unimplemented.
	Leases LeaseBackend

	// Market serves the MarketService (offers, records, dry-run
	// placement). When nil, the service's methods answer unimplemented.
	Market MarketBackend

	// Shares serves the SharesService (the share asset on tapd); the
	// daemon sets it when tapd answered at start. When nil, the
	// service's methods answer unavailable.
	Shares SharesBackend

	// Reconciler serves the OperatorService's Reconcile; the daemon
	// runs reconcile.Run over the store and the hub's lnd. When nil, it
	// answers unimplemented.
	Reconciler Reconciler

	// Dashboard mints the one-time links of the operator's dashboard
	// (OperatorService.CreateDashboardLink); the daemon mounts the
	// dashboard itself with Server.Handle. When nil, the call answers
	// unimplemented.
	Dashboard DashboardLinks
}

// ProviderLinks tells a provider's current agent key, or an error wrapping
// channels.ErrProviderNotFound. channels.Manager implements it.
type ProviderLinks interface {
	AgentKey(ctx context.Context, providerID string) (channels.AgentKey,
		error)
}

// InfoSource answers GetInfo: the daemon implements it with what it learned
// at start.
type InfoSource interface {
	// Info describes the running daemon. An error is returned to the
	// caller as an internal error.
	Info(ctx context.Context) (Info, error)
}

// Info describes the running daemon.
type Info struct {
	// Version is sluiced's version, for example "0.1.0-alpha".
	Version string

	// Network is the Bitcoin network: mainnet, testnet, signet, simnet or
	// regtest.
	Network string

	// HubPubkey is the hub lnd's compressed identity key; all zero when
	// not known.
	HubPubkey [33]byte

	// DBBackend is the SQL backend: "sqlite" or "postgres".
	DBBackend string

	// StartTime is when the daemon started; the server's own start time
	// is reported when it is zero. Uptime is measured from it.
	StartTime time.Time

	// LeaderRole is this instance's part in the leader election:
	// "leader", "follower" or "deposed".
	LeaderRole string

	// LeaderToken is the fencing token while this instance leads.
	LeaderToken int64

	// LeaderAddress is the leader's advertised API address as last seen.
	LeaderAddress string
}

// withDefaults returns the config with empty optional fields filled in, or
// an error naming the first field that is wrong.
func (c Config) withDefaults() (Config, error) {
	if c.ListenAddr == "" {
		c.ListenAddr = DefaultListenAddr
	}
	if _, _, err := net.SplitHostPort(c.ListenAddr); err != nil {
		return c, fmt.Errorf("%w: ListenAddr: %q is not host:port: %w",
			ErrInvalidConfig, c.ListenAddr, err)
	}
	for _, ip := range c.TLSExtraIPs {
		if net.ParseIP(ip) == nil {
			return c, fmt.Errorf("%w: TLSExtraIPs: %q is not an IP "+
				"address", ErrInvalidConfig, ip)
		}
	}
	switch {
	case c.TLSCertPath == "":
		return c, fmt.Errorf("%w: TLSCertPath is empty", ErrInvalidConfig)
	case c.TLSKeyPath == "":
		return c, fmt.Errorf("%w: TLSKeyPath is empty", ErrInvalidConfig)
	case c.TLSCertPath == c.TLSKeyPath:
		return c, fmt.Errorf("%w: TLSCertPath and TLSKeyPath are both "+
			"%q", ErrInvalidConfig, c.TLSCertPath)
	case c.MacaroonDir == "":
		return c, fmt.Errorf("%w: MacaroonDir is empty", ErrInvalidConfig)
	case c.Info == nil:
		return c, fmt.Errorf("%w: Info is nil", ErrInvalidConfig)
	}
	return c, nil
}
