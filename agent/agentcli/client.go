package agentcli

import (
	"context"
	"errors"
	"time"

	"connectrpc.com/connect"
	"github.com/sluice-ln/sluice/rpc/rpcclient"
	"github.com/sluice-ln/sluice/rpc/sluicerpc/sluicerpcconnect"
	"github.com/urfave/cli"
)

// callTimeout bounds one unary API call.
const callTimeout = 30 * time.Second

// apiClient is the agent's connection to sluiced: the services it calls,
// with the provider's macaroon on every call.
type apiClient struct {
	// addr is the server's host:port (several joined by commas), for
	// error messages.
	addr string

	// current is the address calls go to first (rpcclient.Client's).
	current func() string

	sluice   sluicerpcconnect.SluiceClient
	metering sluicerpcconnect.MeteringServiceClient
	jobs     sluicerpcconnect.JobServiceClient
	market   sluicerpcconnect.MarketServiceClient
}

// providerClient dials sluiced with the provider's macaroon
// (rpcclient.ProviderFromCLI).
func providerClient(c *cli.Context) (*apiClient, error) {
	conn := rpcclient.ProviderFromCLI(c)
	cl, err := conn.Dial(conn.MacaroonPath)
	if err != nil {
		return nil, err
	}
	return newAPIClient(cl), nil
}

// newAPIClient is the agent's part of cl.
func newAPIClient(cl *rpcclient.Client) *apiClient {
	return &apiClient{addr: cl.Addr, current: cl.Current,
		sluice: cl.Sluice, metering: cl.Metering, jobs: cl.Jobs,
		market: cl.Market}
}

// providerTarget is providerClient and the provider the command acts for:
// its argument, else the one the macaroon is bound to.
func providerTarget(c *cli.Context) (*apiClient, string, error) {
	client, err := providerClient(c)
	if err != nil {
		return nil, "", err
	}
	if id := c.Args().First(); id != "" {
		return client, id, nil
	}
	ctx, cancel := context.WithTimeout(context.Background(), callTimeout)
	defer cancel()
	id, err := rpcclient.BoundProvider(ctx, client.sluice)
	var connectErr *connect.Error
	if errors.As(err, &connectErr) {
		return nil, "", client.callError("getinfo", err)
	}
	return client, id, err
}

// callError explains a failed call (rpcclient.Explain).
func (a *apiClient) callError(method string, err error) error {
	return rpcclient.Explain(a.addr, method, err)
}

// networkDir is <sluicedir>/<network>, where the agent key is kept.
func networkDir(c *cli.Context) string {
	return rpcclient.FromCLI(c).NetworkDir
}
