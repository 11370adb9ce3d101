package rpcclient

import (
	"context"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"

	"connectrpc.com/connect"
	"github.com/btcsuite/btcd/btcutil"
	"github.com/sluice-ln/sluice/rpc/sluicerpc"
	"github.com/sluice-ln/sluice/rpc/sluicerpc/sluicerpcconnect"
	"github.com/urfave/cli"
)

const (
	// DefaultServer is where sluiced's API listens by default.
	DefaultServer = "127.0.0.1:10090"

	// DefaultNetwork is sluiced's default network, which names the
	// directory its macaroons are baked into.
	DefaultNetwork = "regtest"
)

// DefaultSluiceDir is sluiced's data directory: ~/.sluice on Unix.
var DefaultSluiceDir = btcutil.AppDataDir("sluice", false)

// Flags are the global flags of a command line that talks to sluiced (sluice
// and sluice-agent): the server, its TLS certificate and the macaroon.
var Flags = []cli.Flag{
	// A slice flag without a default value: urfave/cli appends a
	// repeated flag to its default. FromCLI applies DefaultServer.
	cli.StringSliceFlag{
		Name: "rpcserver",
		Usage: "host:port of sluiced's API (default: " + DefaultServer +
			"); several sluiced instances sharing one database: " +
			"a comma-separated list, or the flag repeated, tried " +
			"in order",
	},
	cli.StringFlag{
		Name:  "sluicedir",
		Value: DefaultSluiceDir,
		Usage: "sluiced's data directory, where tls.cert and " +
			"<network>/operator.macaroon are found by default",
	},
	cli.StringFlag{
		Name:  "network",
		Value: DefaultNetwork,
		Usage: "the network sluiced runs on, which names the " +
			"directory of its macaroons (regtest, testnet, signet, " +
			"mainnet, simnet)",
	},
	cli.StringFlag{
		Name:  "tlscertpath",
		Usage: "sluiced's TLS certificate (default: <sluicedir>/tls.cert)",
	},
	cli.StringFlag{
		Name: "macaroonpath",
		Usage: "the macaroon to call with (default: " +
			"<sluicedir>/<network>/operator.macaroon)",
	},
}

// Connection is where Flags point, with their defaults applied.
type Connection struct {
	// Addrs are sluiced's host:port, one or several instances serving
	// the same API, tried in order.
	Addrs []string

	// TLSCertPath and MacaroonPath are the files to read.
	TLSCertPath  string
	MacaroonPath string

	// NetworkDir is <sluicedir>/<network>, where sluiced bakes its
	// macaroons and a provider keeps its agent key.
	NetworkDir string
}

// FromCLI resolves the global Flags of c.
func FromCLI(c *cli.Context) Connection {
	dir := CleanPath(c.GlobalString("sluicedir"))
	conn := Connection{
		Addrs:        ServerList(c.GlobalStringSlice("rpcserver")),
		TLSCertPath:  CleanPath(c.GlobalString("tlscertpath")),
		MacaroonPath: CleanPath(c.GlobalString("macaroonpath")),
		NetworkDir:   filepath.Join(dir, c.GlobalString("network")),
	}
	if conn.TLSCertPath == "" {
		conn.TLSCertPath = filepath.Join(dir, "tls.cert")
	}
	if conn.MacaroonPath == "" {
		conn.MacaroonPath = filepath.Join(conn.NetworkDir,
			"operator.macaroon")
	}
	return conn
}

// ServerList is the addresses of --rpcserver values: each value may list
// several, comma-separated; blanks are dropped, and no value at all is
// DefaultServer.
func ServerList(values []string) []string {
	var addrs []string
	for _, v := range values {
		for _, a := range strings.Split(v, ",") {
			if a = strings.TrimSpace(a); a != "" {
				addrs = append(addrs, a)
			}
		}
	}
	if len(values) == 0 {
		return []string{DefaultServer}
	}
	return addrs
}

// Dial reads the TLS certificate and the macaroon at macaroonPath and
// returns a client of the server; with macaroonPath empty, calls carry no
// macaroon (for the open linking calls). Nothing is dialed until the first
// call. Its errors say which flag to set.
func (conn Connection) Dial(macaroonPath string) (*Client, error) {
	if len(conn.Addrs) == 0 {
		return nil, errors.New("--rpcserver: no address")
	}
	for _, addr := range conn.Addrs {
		if _, _, err := net.SplitHostPort(addr); err != nil {
			return nil, fmt.Errorf("--rpcserver %q is not "+
				"host:port: %w", addr, err)
		}
	}
	certPEM, err := os.ReadFile(conn.TLSCertPath)
	if err != nil {
		return nil, fmt.Errorf("cannot read sluiced's TLS certificate "+
			"(has sluiced started once? else set --sluicedir or "+
			"--tlscertpath): %w", err)
	}
	var mac []byte
	if macaroonPath != "" {
		mac, err = os.ReadFile(macaroonPath)
		if err != nil {
			return nil, fmt.Errorf("cannot read the macaroon (set "+
				"--macaroonpath, or --sluicedir and "+
				"--network): %w", err)
		}
	}
	cl, err := NewServers(conn.Addrs, certPEM, mac)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", conn.TLSCertPath, err)
	}
	return cl, nil
}

// Explain says why a call to the sluiced at addr failed: the server could
// not be reached, refused the macaroon, or answered with an error (which
// is returned wrapped, so that errors.As still finds the *connect.Error).
//
// A call that no address of several answered is explained by its
// *ServersError, which names each address tried and its error.
func Explain(addr, method string, err error) error {
	var serversErr *ServersError
	if errors.As(err, &serversErr) {
		return fmt.Errorf("%s: %w", method, serversErr)
	}
	var connectErr *connect.Error
	if !errors.As(err, &connectErr) {
		return fmt.Errorf("%s: %w", method, err)
	}
	var (
		unknownCA x509.UnknownAuthorityError
		wrongHost x509.HostnameError
	)
	if errors.As(err, &unknownCA) || errors.As(err, &wrongHost) {
		return fmt.Errorf("cannot reach sluiced at %s: %s (is "+
			"--tlscertpath the certificate of the sluiced "+
			"listening there?)", addr, connectErr.Message())
	}
	switch connectErr.Code() {
	case connect.CodeUnavailable, connect.CodeDeadlineExceeded:
		return fmt.Errorf("cannot reach sluiced at %s: %s", addr,
			connectErr.Message())

	case connect.CodeUnauthenticated:
		return fmt.Errorf("sluiced at %s refused the macaroon: %s",
			addr, connectErr.Message())

	case connect.CodePermissionDenied:
		return fmt.Errorf("sluiced at %s does not allow %s with this "+
			"macaroon: %s", addr, method, connectErr.Message())

	case connect.CodeUnknown:
		// Transport failures that connect could not classify (a TLS
		// certificate that does not match, for one) land here.
		return fmt.Errorf("cannot talk to sluiced at %s: %s", addr,
			connectErr.Message())

	default:
		return fmt.Errorf("%s: %w", method, err)
	}
}

// CleanPath expands a leading ~ to the home directory and environment
// variables, and cleans the result; empty stays empty.
func CleanPath(path string) string {
	if path == "" {
		return ""
	}
	if path == "~" || strings.HasPrefix(path, "~/") {
		if home, err := os.UserHomeDir(); err == nil {
			path = home + path[1:]
		}
	}
	return filepath.Clean(os.ExpandEnv(path))
}

// ProviderMacaroonFile is the provider macaroon's name in NetworkDir, where
// `sluice provider link` writes it.
const ProviderMacaroonFile = "provider.macaroon"

// ProviderFromCLI is FromCLI for a provider's commands: without
// --macaroonpath they call with the provider macaroon in NetworkDir when
// linking wrote one, else with the operator's.
func ProviderFromCLI(c *cli.Context) Connection {
	conn := FromCLI(c)
	if c.GlobalString("macaroonpath") == "" {
		path := filepath.Join(conn.NetworkDir, ProviderMacaroonFile)
		if _, err := os.Stat(path); err == nil {
			conn.MacaroonPath = path
		}
	}
	return conn
}

// BoundProvider returns the provider the client's macaroon is bound to, as
// GetInfo tells; an error for a macaroon bound to none (the operator's).
// The call's own error is returned as it came, for Explain.
func BoundProvider(ctx context.Context,
	sluice sluicerpcconnect.SluiceClient) (string, error) {

	info, err := sluice.GetInfo(ctx,
		connect.NewRequest(&sluicerpc.GetInfoRequest{}))
	if err != nil {
		return "", err
	}
	if info.Msg.ProviderId == "" {
		return "", fmt.Errorf("name the provider: a %s macaroon is "+
			"bound to none", info.Msg.Role)
	}
	return info.Msg.ProviderId, nil
}
