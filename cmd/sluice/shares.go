package main

import (
	"context"
	"encoding/hex"
	"fmt"
	"io"
	"text/tabwriter"
	"time"

	"connectrpc.com/connect"
	"github.com/sluice-ln/sluice/ledger"
	"github.com/sluice-ln/sluice/rpc/sluicerpc"
	"github.com/urfave/cli"
)

// The share asset's commands: `shares show` for anyone with a macaroon that
// may see it, `operator shares genesis` for the operator.

var sharesCommand = cli.Command{
	Name:  "shares",
	Usage: "show the vault's shares as a Taproot Asset",
	Subcommands: []cli.Command{
		sharesShowCommand,
		sharesVerifyCommand,
	},
}

var sharesShowCommand = cli.Command{
	Name:  "show",
	Usage: "show the share asset: group key, asset id, amount, state",
	Description: `Shows the share asset's genesis on the hub's tapd: its name, state
(pending until its batch is final), the units minted (1000 to a share),
the tweaked group key, the asset id, the anchor outpoint and the terms
minted as its JSON metadata. The macaroon is chosen as for 'provider
show'.`,
	Flags:  []cli.Flag{jsonFlag},
	Action: sharesShow,
}

func sharesShow(c *cli.Context) error {
	client, err := providerClient(c)
	if err != nil {
		return err
	}
	ctx, cancel := callContext()
	defer cancel()
	resp, err := client.shares.GetShares(ctx,
		connect.NewRequest(&sluicerpc.GetSharesRequest{}))
	if err != nil {
		return client.callError("shares show", err)
	}
	if wantJSON(c) {
		return printJSON(c.App.Writer, resp.Msg)
	}
	if resp.Msg.Asset == nil {
		_, err := fmt.Fprintln(c.App.Writer, "no share asset yet: "+
			"'sluice operator shares genesis --name NAME' mints it")
		return err
	}
	if err := printShareAsset(c.App.Writer, resp.Msg.Asset); err != nil {
		return err
	}
	return printEpochOps(c.App.Writer, resp.Msg.EpochOps)
}

// printEpochOps prints the epochs' tranches and burns as a table.
func printEpochOps(out io.Writer, ops []*sluicerpc.ShareEpochOp) error {
	if len(ops) == 0 {
		_, err := fmt.Fprintln(out, "\nno epoch tranche or burn yet")
		return err
	}
	fmt.Fprintln(out)
	w := tabwriter.NewWriter(out, 0, 4, 2, ' ', 0)
	fmt.Fprintln(w, "EPOCH\tKIND\tNAME\tUNITS\tSUPPLY AFTER\tSTATE\tANCHOR")
	for _, o := range ops {
		state := o.State
		if o.Failure != "" {
			state += ": " + o.Failure
		}
		fmt.Fprintf(w, "%d\t%s\t%s\t%d\t%d\t%s\t%s\n", o.Epoch,
			o.Kind, o.Name, o.AmountUnits, o.SupplyAfterUnits, state,
			o.Anchor)
	}
	return w.Flush()
}

var operatorSharesCommand = cli.Command{
	Name:  "shares",
	Usage: "mint the vault's shares as a Taproot Asset",
	Subcommands: []cli.Command{
		operatorSharesGenesisCommand,
	},
}

var operatorSharesGenesisCommand = cli.Command{
	Name:  "genesis",
	Usage: "mint the share asset's group on the hub's tapd, once",
	Description: `Mints the share asset's group on the hub's tapd for the ledger's share
supply, with its terms as JSON metadata, and waits until the minting
batch is final (one confirmation; mine a block on the devnet). Refused
when the supply is zero and after a genesis. If --timeout passes first,
the mint goes on in sluiced: 'sluice shares show' follows it.`,
	Flags: []cli.Flag{
		cli.StringFlag{Name: "name", Usage: "the asset's name in " +
			"tapd, 1 to 64 bytes"},
		cli.DurationFlag{Name: "timeout", Value: 10 * time.Minute,
			Usage: "how long to wait for the batch to be final"},
		jsonFlag,
	},
	Action: operatorSharesGenesis,
}

func operatorSharesGenesis(c *cli.Context) error {
	name := c.String("name")
	if name == "" {
		return fmt.Errorf("--name is required")
	}
	client, err := newAPIClient(c)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(context.Background(),
		c.Duration("timeout"))
	defer cancel()
	resp, err := client.shares.Genesis(ctx,
		connect.NewRequest(&sluicerpc.GenesisRequest{Name: name}))
	if err != nil {
		return client.callError("shares genesis", err)
	}
	if wantJSON(c) {
		return printJSON(c.App.Writer, resp.Msg)
	}
	return printShareAsset(c.App.Writer, resp.Msg.Asset)
}

// printShareAsset prints the share asset for a person.
func printShareAsset(out io.Writer, a *sluicerpc.ShareAsset) error {
	w := tabwriter.NewWriter(out, 0, 4, 2, ' ', 0)
	row := func(name, format string, args ...any) {
		fmt.Fprintf(w, "%s\t"+format+"\n", append([]any{name},
			args...)...)
	}
	row("name", "%s", a.Name)
	row("state", "%s", a.State)
	row("amount", "%s (%d units)", ledger.Shares(a.AmountUnits),
		a.AmountUnits)
	if len(a.GroupKey) > 0 {
		row("group key", "%s", hex.EncodeToString(a.GroupKey))
		row("asset id", "%s", hex.EncodeToString(a.AssetId))
		row("anchor", "%s", a.AnchorOutpoint)
	}
	row("terms", "%s", a.MetaJson)
	row("created", "%s", showTime(a.CreatedAt))
	row("resolved", "%s", showTime(a.ResolvedAt))
	return w.Flush()
}
