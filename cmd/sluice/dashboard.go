package main

import (
	"fmt"
	"time"

	"connectrpc.com/connect"
	"github.com/sluice-ln/sluice/rpc/sluicerpc"
	"github.com/urfave/cli"
)

var operatorDashboardCommand = cli.Command{
	Name:  "dashboard",
	Usage: "print a one-time link to the web dashboard",
	Description: `Asks sluiced for a one-time link to the operator's web dashboard, served
under /dashboard/ on the API's own address (--rpcserver), and prints it.
The link works once, within minutes: opening it sets a session cookie.
The browser must accept sluiced's self-signed certificate (tls.cert). The
dashboard's login page also takes the operator macaroon in hex.`,
	Flags:  []cli.Flag{jsonFlag},
	Action: operatorDashboard,
}

func operatorDashboard(c *cli.Context) error {
	client, err := newAPIClient(c)
	if err != nil {
		return err
	}
	ctx, cancel := callContext()
	defer cancel()
	resp, err := client.operator.CreateDashboardLink(ctx,
		connect.NewRequest(&sluicerpc.CreateDashboardLinkRequest{}))
	if err != nil {
		return client.callError("operator dashboard", err)
	}
	url := "https://" + client.addr + resp.Msg.Path
	if wantJSON(c) {
		// The path with the server's address before it.
		resp.Msg.Path = url
		return printJSON(c.App.Writer, resp.Msg)
	}
	_, err = fmt.Fprintf(c.App.Writer, "%s\n(works once, until %s)\n", url,
		resp.Msg.ExpiresAt.AsTime().Local().Format(time.TimeOnly))
	return err
}
