package main

import (
	"bytes"
	"context"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"strings"
	"time"

	"connectrpc.com/connect"
	"github.com/btcsuite/btcd/btcutil"
	"github.com/sluice-ln/sluice/rpc/rpcclient"
	"github.com/sluice-ln/sluice/rpc/sluicerpc"
	"github.com/sluice-ln/sluice/rpc/sluicerpc/sluicerpcconnect"
	"github.com/urfave/cli"
	"google.golang.org/protobuf/proto"
)

const (
	// defaultRPCServer is where sluiced's API listens by default.
	defaultRPCServer = "127.0.0.1:10090"

	// defaultNetwork is sluiced's default network, which names the
	// directory its macaroons are baked into.
	defaultNetwork = "regtest"

	// callTimeout bounds one unary API call.
	callTimeout = 30 * time.Second
)

// defaultSluiceDir is sluiced's data directory: ~/.sluice on Unix.
var defaultSluiceDir = btcutil.AppDataDir("sluice", false)

// globalFlags name the server and the credentials for every API command.
var globalFlags = []cli.Flag{
	cli.StringFlag{
		Name:  "rpcserver",
		Value: defaultRPCServer,
		Usage: "host:port of sluiced's API",
	},
	cli.StringFlag{
		Name:  "sluicedir",
		Value: defaultSluiceDir,
		Usage: "sluiced's data directory, where tls.cert and " +
			"<network>/operator.macaroon are found by default",
	},
	cli.StringFlag{
		Name:  "network",
		Value: defaultNetwork,
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
	cli.BoolFlag{
		Name:  "json",
		Usage: "print the server's answer as JSON",
	},
}

// jsonFlag lets a command take --json after its name too, as lncli users
// expect; the global --json works before it.
var jsonFlag = cli.BoolFlag{
	Name:  "json",
	Usage: "print the server's answer as JSON",
}

// apiClient is a connection to sluiced's API with a macaroon attached to
// every call.
type apiClient struct {
	// addr is the server's host:port, for error messages.
	addr string

	// sluice is the Sluice service.
	sluice sluicerpcconnect.SluiceClient

	// provider is the ProviderService.
	provider sluicerpcconnect.ProviderServiceClient

	// metering is the MeteringService.
	metering sluicerpcconnect.MeteringServiceClient

	// jobs is the JobService; operator the OperatorService.
	jobs     sluicerpcconnect.JobServiceClient
	operator sluicerpcconnect.OperatorServiceClient

	// vault is the VaultService; yield the YieldService.
	vault sluicerpcconnect.VaultServiceClient
	yield sluicerpcconnect.YieldServiceClient

	// shares is the SharesService.
	shares sluicerpcconnect.SharesServiceClient

	// leases is the LeaseService.
	leases sluicerpcconnect.LeaseServiceClient

	// market is the MarketService.
	market sluicerpcconnect.MarketServiceClient
}

// connectionFlags are the global flags resolved to paths.
type connectionFlags struct {
	addr         string
	tlsCertPath  string
	macaroonPath string
}

// resolveFlags applies the defaults that depend on other flags.
func resolveFlags(c *cli.Context) connectionFlags {
	dir := cleanPath(c.GlobalString("sluicedir"))
	f := connectionFlags{
		addr:         c.GlobalString("rpcserver"),
		tlsCertPath:  cleanPath(c.GlobalString("tlscertpath")),
		macaroonPath: cleanPath(c.GlobalString("macaroonpath")),
	}
	if f.tlsCertPath == "" {
		f.tlsCertPath = filepath.Join(dir, "tls.cert")
	}
	if f.macaroonPath == "" {
		f.macaroonPath = filepath.Join(
			dir, c.GlobalString("network"), "operator.macaroon",
		)
	}
	return f
}

// newAPIClient reads the TLS certificate and macaroon the global flags name
// and returns a client for the server. Nothing is dialed until the first
// call.
func newAPIClient(c *cli.Context) (*apiClient, error) {
	return newAPIClientWithMacaroon(c, resolveFlags(c).macaroonPath)
}

// newAPIClientWithMacaroon is newAPIClient with the macaroon file given;
// with macaroonPath empty, calls carry no macaroon (for the open linking
// calls).
func newAPIClientWithMacaroon(c *cli.Context, macaroonPath string) (
	*apiClient, error) {

	f := resolveFlags(c)
	if _, _, err := net.SplitHostPort(f.addr); err != nil {
		return nil, fmt.Errorf("--rpcserver %q is not host:port: %w",
			f.addr, err)
	}

	certPEM, err := os.ReadFile(f.tlsCertPath)
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
	cl, err := rpcclient.New(f.addr, certPEM, mac)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", f.tlsCertPath, err)
	}
	return &apiClient{
		addr:     cl.Addr,
		sluice:   cl.Sluice,
		provider: cl.Providers,
		metering: cl.Metering,
		jobs:     cl.Jobs,
		operator: cl.Operator,
		vault:    cl.Vault,
		yield:    cl.Yield,
		shares:   cl.Shares,
		leases:   cl.Leases,
		market:   cl.Market,
	}, nil
}

// callContext bounds one API call.
func callContext() (context.Context, context.CancelFunc) {
	return context.WithTimeout(context.Background(), callTimeout)
}

// callError explains a failed call: whether the server could not be
// reached, refused the macaroon, or answered with an error.
func (a *apiClient) callError(method string, err error) error {
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
			"listening there?)", a.addr, connectErr.Message())
	}
	switch connectErr.Code() {
	case connect.CodeUnavailable, connect.CodeDeadlineExceeded:
		return fmt.Errorf("cannot reach sluiced at %s: %s", a.addr,
			connectErr.Message())

	case connect.CodeUnauthenticated:
		return fmt.Errorf("sluiced at %s refused the macaroon: %s",
			a.addr, connectErr.Message())

	case connect.CodePermissionDenied:
		return fmt.Errorf("sluiced at %s does not allow %s with this "+
			"macaroon: %s", a.addr, method, connectErr.Message())

	case connect.CodeUnknown:
		// Transport failures that connect could not classify (a TLS
		// certificate that does not match, for one) land here.
		return fmt.Errorf("cannot talk to sluiced at %s: %s", a.addr,
			connectErr.Message())

	default:
		return fmt.Errorf("%s: %w", method, err)
	}
}

// wantJSON reports whether --json was given before or after the command.
func wantJSON(c *cli.Context) bool {
	return c.Bool("json") || c.GlobalBool("json")
}

// printJSON prints msg to out as the API's JSON, indented. protojson varies
// its whitespace on purpose; encoding/json re-indents it so the output is
// stable for scripts that diff it.
func printJSON(out io.Writer, msg proto.Message) error {
	js, err := sluicerpc.JSONMarshalOptions.Marshal(msg)
	if err != nil {
		return fmt.Errorf("encode JSON: %w", err)
	}
	return printRawJSON(out, js)
}

// printRawJSON prints JSON to out indented as printJSON does.
func printRawJSON(out io.Writer, js []byte) error {
	var buf bytes.Buffer
	if err := json.Indent(&buf, js, "", "    "); err != nil {
		return fmt.Errorf("indent JSON: %w", err)
	}
	buf.WriteByte('\n')
	_, err := buf.WriteTo(out)
	return err
}

// cleanPath expands a leading ~ to the home directory and environment
// variables, and cleans the result; empty stays empty.
func cleanPath(path string) string {
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
