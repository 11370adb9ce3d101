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
	// when empty. The host must be a loopback address (127.0.0.1, ::1 or
	// localhost): Sluice serves only its own machine, and the
	// self-signed certificate names only loopback addresses. An address
	// elsewhere is refused rather than served with a certificate no
	// client could verify; serving remote clients is a later, deliberate
	// change (extra certificate names, a config switch).
	ListenAddr string

	// TLSCertPath and TLSKeyPath are the server's certificate and key.
	// When either file is missing (or the certificate has expired), a
	// self-signed pair for 127.0.0.1, ::1 and localhost is made there, as
	// lnd does; the key file is written with mode 0600.
	TLSCertPath string
	TLSKeyPath  string

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

	// Reconciler serves the OperatorService's Reconcile; the daemon
	// runs reconcile.Run over the store and the hub's lnd. When nil, it
	// answers unimplemented.
	Reconciler Reconciler
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
}

// withDefaults returns the config with empty optional fields filled in, or
// an error naming the first field that is wrong.
func (c Config) withDefaults() (Config, error) {
	if c.ListenAddr == "" {
		c.ListenAddr = DefaultListenAddr
	}
	if err := checkLoopback(c.ListenAddr); err != nil {
		return c, fmt.Errorf("%w: ListenAddr: %w", ErrInvalidConfig, err)
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

// checkLoopback returns an error unless addr is host:port with a loopback
// host.
func checkLoopback(addr string) error {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return fmt.Errorf("%q is not host:port: %w", addr, err)
	}
	if host == "localhost" {
		return nil
	}
	ip := net.ParseIP(host)
	if ip == nil || !ip.IsLoopback() {
		return fmt.Errorf("%q is not a loopback address; the API "+
			"listens on 127.0.0.1, ::1 or localhost only", addr)
	}
	return nil
}
