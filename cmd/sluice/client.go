package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"slices"
	"time"

	"github.com/sluice-ln/sluice/rpc/rpcclient"
	"github.com/sluice-ln/sluice/rpc/sluicerpc"
	"github.com/sluice-ln/sluice/rpc/sluicerpc/sluicerpcconnect"
	"github.com/urfave/cli"
	"google.golang.org/protobuf/proto"
)

// callTimeout bounds one unary API call.
const callTimeout = 30 * time.Second

// globalFlags name the server and the credentials for every API command.
var globalFlags = append(slices.Clone(rpcclient.Flags), cli.BoolFlag{
	Name:  "json",
	Usage: "print the server's answer as JSON",
})

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

// newAPIClient reads the TLS certificate and macaroon the global flags name
// and returns a client for the server. Nothing is dialed until the first
// call.
func newAPIClient(c *cli.Context) (*apiClient, error) {
	conn := rpcclient.FromCLI(c)
	return newAPIClientWithMacaroon(c, conn.MacaroonPath)
}

// newAPIClientWithMacaroon is newAPIClient with the macaroon file given;
// with macaroonPath empty, calls carry no macaroon (for the open linking
// calls).
func newAPIClientWithMacaroon(c *cli.Context, macaroonPath string) (
	*apiClient, error) {

	cl, err := rpcclient.FromCLI(c).Dial(macaroonPath)
	if err != nil {
		return nil, err
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
	return rpcclient.Explain(a.addr, method, err)
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
