package main

import (
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"text/tabwriter"
	"time"

	"connectrpc.com/connect"
	"github.com/btcsuite/btcd/btcutil"
	"github.com/lightninglabs/lndclient"
	"github.com/lightningnetwork/lnd/lnrpc"
	"github.com/sluice-ln/sluice/devnet"
	"github.com/sluice-ln/sluice/rpc/rpcclient"
	"github.com/sluice-ln/sluice/rpc/sluicerpc"
	"github.com/urfave/cli"
)

// The lease commands: a buyer (or the operator) asks for the terms,
// orders a lease and follows it; the operator lists them.

var leaseCommand = cli.Command{
	Name:  "lease",
	Usage: "buy inbound liquidity from the hub for a number of blocks",
	Description: `Liquidity leases, LSPS1-shaped (docs/leases.md): a node asks for a
channel of --capacity sat from the hub, kept open --blocks blocks, and
pays a hold invoice for the premium. The hub opens the channel from the
vault's capital, settles the invoice once the funding confirms, and gives
the payment back if it cannot open it. The macaroon is the operator's or
a buyer's (--macaroonpath).`,
	Subcommands: []cli.Command{
		leaseInfoCommand,
		leaseRequestCommand,
		leaseStatusCommand,
		leaseListCommand,
	},
}

var leaseInfoCommand = cli.Command{
	Name:   "info",
	Usage:  "show the terms: capacity and length bounds, rate, floor",
	Flags:  []cli.Flag{jsonFlag},
	Action: leaseInfo,
}

func leaseInfo(c *cli.Context) error {
	client, err := newAPIClient(c)
	if err != nil {
		return err
	}
	ctx, cancel := callContext()
	defer cancel()
	resp, err := client.leases.GetLeaseInfo(ctx,
		connect.NewRequest(&sluicerpc.GetLeaseInfoRequest{}))
	if err != nil {
		return client.callError("lease info", err)
	}
	if wantJSON(c) {
		return printJSON(c.App.Writer, resp.Msg)
	}
	i := resp.Msg
	w := tabwriter.NewWriter(c.App.Writer, 0, 4, 2, ' ', 0)
	fmt.Fprintf(w, "capacity\t%d to %d sat\n", i.MinLspBalanceSat,
		i.MaxLspBalanceSat)
	fmt.Fprintf(w, "blocks\t%d to %d\n", i.MinChannelExpiryBlocks,
		i.MaxChannelExpiryBlocks)
	fmt.Fprintf(w, "rate\t%d ppb of the capacity per block, at least "+
		"%d msat\n", i.RatePpb, i.FloorMsat)
	fmt.Fprintf(w, "funding\tconfirms within %d blocks\n",
		i.FundingConfirmsWithinBlocks)
	fmt.Fprintf(w, "available\t%d sat\n", i.AvailableSat)
	if i.Killed {
		fmt.Fprintf(w, "selling\tno: the kill switch is on\n")
	}
	return w.Flush()
}

var leaseRequestCommand = cli.Command{
	Name:  "request",
	Usage: "order a lease and print its hold invoice",
	Description: `Orders a lease of --capacity sat for --blocks blocks to --node (a node
key in hex), or, on a local network from ` + "`sluice devnet up`" + `, to the node
--devnet DIR --as NAME (default buyer), which also points --rpcserver and
--sluicedir at the network's sluiced unless they are given. --key makes
the order idempotent: the same key returns the same lease.

With --pay (and --devnet), the node pays the hold invoice: the payment
stays in flight, held by the hub, until the channel's funding confirms
(then it succeeds) or the lease fails (then it fails and the node has its
money back). The command returns once the payment is held.`,
	Flags: []cli.Flag{
		cli.StringFlag{Name: "node", Usage: "the node to lease to, " +
			"hex"},
		cli.StringFlag{Name: "devnet", Usage: "a local network's " +
			"directory: lease to one of its nodes"},
		cli.StringFlag{Name: "as", Value: devnet.NodeBuyer,
			Usage: "with --devnet, the node (buyer, provider1, ...)"},
		cli.Int64Flag{Name: "capacity", Usage: "inbound capacity, " +
			"sat (lsp_balance_sat)"},
		cli.Uint64Flag{Name: "blocks", Usage: "how long, in blocks " +
			"(channel_expiry_blocks)"},
		cli.StringFlag{Name: "key", Usage: "an idempotency key"},
		cli.BoolFlag{Name: "pay", Usage: "with --devnet, pay the " +
			"invoice from the node"},
		jsonFlag,
		waitFlags[0], waitFlags[1],
	},
	Action: leaseRequest,
}

func leaseRequest(c *cli.Context) error {
	switch {
	case !c.IsSet("capacity"):
		return errors.New("give --capacity (sat)")
	case !c.IsSet("blocks"):
		return errors.New("give --blocks")
	case c.Uint64("blocks") > 1<<32-1:
		return fmt.Errorf("--blocks %d is too many", c.Uint64("blocks"))
	case c.Bool("pay") && c.String("devnet") == "":
		return errors.New("--pay needs --devnet (pay the invoice " +
			"with any wallet otherwise)")
	}
	nodeHex := c.String("node")
	var payer *devnet.LndNode
	if dir := rpcclient.CleanPath(c.String("devnet")); dir != "" {
		if nodeHex != "" {
			return errors.New("give --node or --devnet, not both")
		}
		var err error
		_, payer, err = devnetNode(c, dir, "as", c.String("as"))
		if err != nil {
			return err
		}
		nodeHex = payer.PubKey
	}
	node, err := hex.DecodeString(nodeHex)
	if err != nil || len(node) != 33 {
		return fmt.Errorf("--node %q is not a node key in hex", nodeHex)
	}

	client, err := newAPIClient(c)
	if err != nil {
		return err
	}
	ctx, cancel := callContext()
	defer cancel()
	resp, err := client.leases.CreateLease(ctx, connect.NewRequest(
		&sluicerpc.CreateLeaseRequest{
			NodePubkey:          node,
			LspBalanceSat:       c.Int64("capacity"),
			ChannelExpiryBlocks: uint32(c.Uint64("blocks")),
			Key:                 c.String("key"),
		}))
	if err != nil {
		return client.callError("lease request", err)
	}
	l := resp.Msg.Lease
	if c.Bool("pay") {
		if err := payHeld(ctx, payer, l.Bolt11); err != nil {
			return fmt.Errorf("lease %s: pay from %s: %w", l.Id,
				payer.Name, err)
		}
	}
	if wantJSON(c) {
		err = printJSON(c.App.Writer, l)
	} else {
		err = printLease(c.App.Writer, l)
		if err == nil && c.Bool("pay") {
			fmt.Fprintf(c.App.Writer, "paid from %s: held by the "+
				"hub until the channel opens\n", payer.Name)
		}
	}
	if err != nil || !c.Bool("wait") {
		return err
	}
	w := newWaiter(c, "sluice lease status "+l.Id)
	return w.wait(context.Background(), func(ctx context.Context) (
		waitState, error) {

		resp, err := client.leases.GetLease(ctx, connect.NewRequest(
			&sluicerpc.GetLeaseRequest{Id: l.Id}))
		if err != nil {
			return waitState{}, client.frameError("lease status", err)
		}
		return leaseWait(resp.Msg.Lease), nil
	})
}

// payHeld pays the hold invoice from node and returns once the hub holds
// the payment (or lnd says it failed).
func payHeld(ctx context.Context, node *devnet.LndNode,
	payReq string) error {

	svc, err := node.Services(ctx)
	if err != nil {
		return err
	}
	defer svc.Close()
	updates, payErrs, err := svc.Router.SendPayment(ctx,
		lndclient.SendPaymentRequest{
			Invoice: payReq,
			MaxFee:  btcutil.Amount(1_000),
			Timeout: time.Minute,
		})
	if err != nil {
		return err
	}
	for {
		select {
		case st := <-updates:
			switch st.State {
			case lnrpc.Payment_IN_FLIGHT:
				if st.InFlightHtlcs > 0 {
					return nil
				}
			case lnrpc.Payment_SUCCEEDED:
				return nil
			case lnrpc.Payment_FAILED:
				return fmt.Errorf("payment failed: %v",
					st.FailureReason)
			}

		case err := <-payErrs:
			return err

		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

var leaseStatusCommand = cli.Command{
	Name:      "status",
	Usage:     "show one lease",
	ArgsUsage: "ID",
	Flags:     []cli.Flag{jsonFlag},
	Action:    leaseStatus,
}

func leaseStatus(c *cli.Context) error {
	if c.NArg() != 1 {
		return fmt.Errorf("lease status takes one ID, got %d", c.NArg())
	}
	client, err := newAPIClient(c)
	if err != nil {
		return err
	}
	ctx, cancel := callContext()
	defer cancel()
	resp, err := client.leases.GetLease(ctx, connect.NewRequest(
		&sluicerpc.GetLeaseRequest{Id: c.Args().First()}))
	if err != nil {
		return client.callError("lease status", err)
	}
	if wantJSON(c) {
		return printJSON(c.App.Writer, resp.Msg.Lease)
	}
	return printLease(c.App.Writer, resp.Msg.Lease)
}

var leaseListCommand = cli.Command{
	Name:  "list",
	Usage: "list the leases (operator)",
	Flags: []cli.Flag{
		cli.StringFlag{Name: "node", Usage: "only this node's, hex"},
		cli.StringSliceFlag{Name: "state", Usage: "only leases in " +
			"this state (repeat for more)"},
		jsonFlag,
	},
	Action: leaseList,
}

func leaseList(c *cli.Context) error {
	var node []byte
	if s := c.String("node"); s != "" {
		var err error
		if node, err = hex.DecodeString(s); err != nil ||
			len(node) != 33 {

			return fmt.Errorf("--node %q is not a node key in hex",
				s)
		}
	}
	client, err := newAPIClient(c)
	if err != nil {
		return err
	}
	ctx, cancel := callContext()
	defer cancel()
	resp, err := client.leases.ListLeases(ctx, connect.NewRequest(
		&sluicerpc.ListLeasesRequest{NodePubkey: node,
			States: c.StringSlice("state")}))
	if err != nil {
		return client.callError("lease list", err)
	}
	if wantJSON(c) {
		return printJSON(c.App.Writer, resp.Msg)
	}
	w := tabwriter.NewWriter(c.App.Writer, 0, 4, 2, ' ', 0)
	fmt.Fprintln(w, "ID\tSTATE\tNODE\tSAT\tBLOCKS\tPREMIUM\tRECOGNISED\t"+
		"EXPIRY")
	for _, l := range resp.Msg.Leases {
		fmt.Fprintf(w, "%s\t%s\t%x\t%d\t%d\t%d msat\t%d msat\t%s\n",
			l.Id, l.State, l.NodePubkey, l.LspBalanceSat,
			l.ChannelExpiryBlocks, l.PremiumMsat, l.RecognisedMsat,
			expiryText(l))
	}
	return w.Flush()
}

// expiryText is a lease's expiry height, or "-" before it is known.
func expiryText(l *sluicerpc.Lease) string {
	if l.ExpiryHeight == 0 {
		return "-"
	}
	return fmt.Sprintf("%d", l.ExpiryHeight)
}

// printLease prints a lease for a person.
func printLease(out io.Writer, l *sluicerpc.Lease) error {
	w := tabwriter.NewWriter(out, 0, 4, 2, ' ', 0)
	row := func(name, format string, args ...any) {
		fmt.Fprintf(w, "%s\t"+format+"\n", append([]any{name},
			args...)...)
	}
	row("lease", "%s", l.Id)
	row("state", "%s", l.State)
	if l.Reason != "" {
		row("reason", "%s", l.Reason)
	}
	row("node", "%x", l.NodePubkey)
	row("capacity", "%d sat inbound for %d blocks", l.LspBalanceSat,
		l.ChannelExpiryBlocks)
	row("premium", "%d msat (%d ppb per block), %d msat recognised",
		l.PremiumMsat, l.RatePpb, l.RecognisedMsat)
	if l.ChannelPoint != "" {
		row("channel", "%s", l.ChannelPoint)
	}
	if l.ExpiryHeight != 0 {
		row("blocks", "%d to %d (expired: %v)", l.StartHeight,
			l.ExpiryHeight, l.Expired)
	}
	if l.CloseTxid != "" {
		row("closed by", "%s", l.CloseTxid)
	}
	if l.State == "awaiting_payment" && l.Bolt11 != "" {
		row("pay", "%s", l.Bolt11)
		row("until", "%s", showTime(l.InvoiceExpiresAt))
	}
	return w.Flush()
}
