package main

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"text/tabwriter"

	"connectrpc.com/connect"
	"github.com/sluice-ln/sluice/rpc/rpcclient"
	"github.com/sluice-ln/sluice/rpc/sluicerpc"
	"github.com/urfave/cli"
)

var operatorCommand = cli.Command{
	Name:  "operator",
	Usage: "the operator's own tasks (operator macaroon)",
	Subcommands: []cli.Command{
		{
			Name:  "buyer",
			Usage: "add and list buyers",
			Subcommands: []cli.Command{
				operatorBuyerAddCommand,
				operatorBuyerListCommand,
			},
		},
		operatorReconcileCommand,
		operatorDashboardCommand,
		operatorVaultCommand,
		operatorSharesCommand,
	},
}

var operatorBuyerAddCommand = cli.Command{
	Name:      "add",
	Usage:     "add a buyer and write its macaroon",
	ArgsUsage: "NAME",
	Description: `Records a buyer named NAME and writes a buyer macaroon bound to it to
--macaroonout (default <sluicedir>/<network>/buyer-NAME.macaroon, mode
0600; an existing file is not overwritten). Give the file to the buyer:
with it they create and fund jobs and see only their own.`,
	Flags: []cli.Flag{
		cli.StringFlag{Name: "macaroonout", Usage: "where to write " +
			"the buyer macaroon"},
		jsonFlag,
	},
	Action: operatorBuyerAdd,
}

func operatorBuyerAdd(c *cli.Context) error {
	if c.NArg() != 1 {
		return fmt.Errorf("operator buyer add takes one NAME, got %d "+
			"arguments", c.NArg())
	}
	name := c.Args().First()
	out := rpcclient.CleanPath(c.String("macaroonout"))
	if out == "" {
		out = filepath.Join(rpcclient.CleanPath(c.GlobalString("sluicedir")),
			c.GlobalString("network"), "buyer-"+name+".macaroon")
	}
	if _, err := os.Stat(out); err == nil {
		return fmt.Errorf("%s exists; give another --macaroonout", out)
	}

	client, err := newAPIClient(c)
	if err != nil {
		return err
	}
	ctx, cancel := callContext()
	defer cancel()
	resp, err := client.operator.AddBuyer(ctx, connect.NewRequest(
		&sluicerpc.AddBuyerRequest{Name: name}))
	if err != nil {
		return client.callError("operator buyer add", err)
	}
	if err := writeNew(out, resp.Msg.BuyerMacaroon); err != nil {
		return fmt.Errorf("buyer %s added, but its macaroon could not "+
			"be written: %w", resp.Msg.Buyer.BuyerId, err)
	}
	if wantJSON(c) {
		return printJSON(c.App.Writer, resp.Msg)
	}
	fmt.Fprintf(c.App.Writer, "buyer:     %s (%s)\nmacaroon:  %s\n",
		resp.Msg.Buyer.BuyerId, resp.Msg.Buyer.Name, out)
	return nil
}

// writeNew writes data to a file that must not exist yet, mode 0600.
func writeNew(path string, data []byte) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return err
	}
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return err
	}
	_, werr := f.Write(data)
	return errors.Join(werr, f.Sync(), f.Close())
}

var operatorBuyerListCommand = cli.Command{
	Name:   "list",
	Usage:  "list the buyers",
	Flags:  []cli.Flag{jsonFlag},
	Action: operatorBuyerList,
}

func operatorBuyerList(c *cli.Context) error {
	client, err := newAPIClient(c)
	if err != nil {
		return err
	}
	ctx, cancel := callContext()
	defer cancel()
	resp, err := client.operator.ListBuyers(ctx, connect.NewRequest(
		&sluicerpc.ListBuyersRequest{}))
	if err != nil {
		return client.callError("operator buyer list", err)
	}
	if wantJSON(c) {
		return printJSON(c.App.Writer, resp.Msg)
	}
	w := tabwriter.NewWriter(c.App.Writer, 0, 4, 2, ' ', 0)
	fmt.Fprintln(w, "BUYER\tNAME\tADDED")
	for _, b := range resp.Msg.Buyers {
		fmt.Fprintf(w, "%s\t%s\t%s\n", b.BuyerId, b.Name,
			showTime(b.CreatedAt))
	}
	return w.Flush()
}
