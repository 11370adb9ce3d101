package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"

	"connectrpc.com/connect"
	"github.com/sluice-ln/sluice/hubnode"
	"github.com/sluice-ln/sluice/ledger"
	"github.com/sluice-ln/sluice/rpc/sluicerpc"
	"github.com/urfave/cli"
)

// The provider's share withdrawals: `provider shares address` makes the
// address on the provider's own tapd and registers it, `withdraw` queues a
// withdrawal, `withdrawals` lists them. Deposits back are in deposit.go.

var providerSharesCommand = cli.Command{
	Name: "shares",
	Usage: "take shares out of the hub's custody to your own tapd " +
		"and bring them back",
	Subcommands: []cli.Command{
		providerSharesAddressCommand,
		providerSharesWithdrawCommand,
		providerSharesWithdrawalsCommand,
		providerSharesDepositAddressCommand,
		providerSharesDepositCommand,
		providerSharesDepositsCommand,
	},
}

var providerSharesAddressCommand = cli.Command{
	Name:      "address",
	Usage:     "make a share address on your tapd and register it",
	ArgsUsage: "[provider-id]",
	Description: `Makes a V2 group key address of the share asset, with no amount (the hub
chooses it each time, so it is used again), on your own tapd, and
registers it with sluiced as where your withdrawals go. With --universe
(the hub tapd's universe, host:port) your tapd first syncs the share
asset's issuance from it and the address delivers its proofs through it
(universerpc://host:port); without it your tapd's own federation and
proof courier are used. sluiced checks the address with the hub's tapd.

Your tapd: --tapd.host, --tapd.tlspath and --tapd.macaroonpath, or, on a
local network from ` + "`sluice devnet up`" + `, --devnet DIR --node provider1,
which also gives --universe and points --rpcserver and --sluicedir at the
network's sluiced unless they are given. --addr registers an address
made elsewhere instead. The provider and the macaroon are as for
'provider status'.`,
	Flags: append(ownTapdFlags("make addresses and sync"),
		cli.StringFlag{Name: "addr",
			Usage: "register this address instead of making one"},
		jsonFlag,
	),
	Action: providerSharesAddress,
}

func providerSharesAddress(c *cli.Context) error {
	addr := strings.TrimSpace(c.String("addr"))
	var tf tapdFlags
	if addr == "" {
		var err error
		if tf, err = resolveTapd(c); err != nil {
			return err
		}
	}
	client, id, err := providerTarget(c)
	if err != nil {
		return err
	}
	ctx, cancel := callContext()
	defer cancel()

	if addr == "" {
		sh, err := client.shares.GetShares(ctx,
			connect.NewRequest(&sluicerpc.GetSharesRequest{}))
		if err != nil {
			return client.callError("shares show", err)
		}
		a := sh.Msg.Asset
		if a == nil || len(a.GroupKey) == 0 {
			return errors.New("the share asset has no genesis yet: " +
				"there is nothing to make an address for")
		}
		w, err := hubnode.DialTapdWallet(ctx, tf.host, tf.tlsPath,
			tf.macaroonPath, c.GlobalString("network"))
		if err != nil {
			return fmt.Errorf("your tapd: %w", err)
		}
		defer w.Close()
		courier := ""
		if tf.universe != "" {
			if err := w.SyncGroup(ctx, tf.universe,
				a.GroupKey); err != nil {

				return fmt.Errorf("your tapd: %w", err)
			}
			courier = "universerpc://" + tf.universe
		}
		made, err := w.NewGroupAddr(ctx, a.GroupKey, courier)
		if errors.Is(err, hubnode.ErrAssetUnknown) &&
			tf.universe == "" {

			return fmt.Errorf("your tapd: %w (give --universe, the "+
				"hub tapd's universe)", err)
		}
		if err != nil {
			return fmt.Errorf("your tapd: %w", err)
		}
		addr = made.Encoded
	}

	resp, err := client.shares.SetWithdrawAddress(ctx, connect.NewRequest(
		&sluicerpc.SetWithdrawAddressRequest{ProviderId: id,
			Addr: addr}))
	if err != nil {
		return client.callError("set withdrawal address", err)
	}
	if wantJSON(c) {
		return printJSON(c.App.Writer, resp.Msg)
	}
	a := resp.Msg.Address
	w := tabwriter.NewWriter(c.App.Writer, 0, 4, 2, ' ', 0)
	fmt.Fprintf(w, "provider\t%s\n", a.ProviderId)
	fmt.Fprintf(w, "address\t%s\n", a.Addr)
	fmt.Fprintf(w, "group key\t%x\n", a.GroupKey)
	fmt.Fprintf(w, "proof courier\t%s\n", a.ProofCourier)
	return w.Flush()
}

var providerSharesWithdrawCommand = cli.Command{
	Name:      "withdraw",
	Usage:     "queue a withdrawal of shares to your registered address",
	ArgsUsage: "[provider-id]",
	Description: `--amount N (shares, with up to three decimals, "1.5") takes that many of
your shares out of the hub's custody at once: they are withdrawing until
the next round sends every queued withdrawal in one tapd send, and are
withdrawn when it is complete (proofs delivered, 6 confirmations); a
failed send returns them to custody. 'provider shares withdrawals'
follows them. A random idempotency key is made and printed; give it back
with --idempotency-key to retry safely.`,
	Flags: []cli.Flag{
		cli.StringFlag{Name: "amount", Usage: "how many shares, for " +
			"example 1.5"},
		idempotencyKeyFlag,
		jsonFlag,
		waitFlags[0], waitFlags[1],
	},
	Action: providerSharesWithdraw,
}

func providerSharesWithdraw(c *cli.Context) error {
	if !c.IsSet("amount") {
		return errors.New("give --amount (shares, for example 1.5)")
	}
	units, err := ledger.ParseShares(c.String("amount"))
	if err != nil {
		return fmt.Errorf("--amount: %w", err)
	}
	if units <= 0 {
		return errors.New("--amount must be above zero")
	}
	key, err := requestKey(c)
	if err != nil {
		return err
	}
	client, id, err := providerTarget(c)
	if err != nil {
		return err
	}
	ctx, cancel := callContext()
	defer cancel()
	resp, err := client.shares.Withdraw(ctx, connect.NewRequest(
		&sluicerpc.WithdrawRequest{ProviderId: id,
			AmountUnits: int64(units), IdempotencyKey: key}))
	if err != nil {
		return client.callError("withdraw", err)
	}
	if wantJSON(c) {
		err = printJSON(c.App.Writer, resp.Msg)
	} else {
		if resp.Msg.Duplicate {
			fmt.Fprintln(c.App.Writer, "(an earlier request with "+
				"this key)")
		}
		fmt.Fprintf(c.App.Writer, "idempotency key %s\n",
			resp.Msg.IdempotencyKey)
		err = printWithdrawals(c.App.Writer,
			[]*sluicerpc.ShareWithdrawal{resp.Msg.Withdrawal})
	}
	if err != nil || !c.Bool("wait") {
		return err
	}
	wid := resp.Msg.Withdrawal.GetId()
	w := newWaiter(c, "sluice provider shares withdrawals")
	return w.wait(context.Background(), func(ctx context.Context) (
		waitState, error) {

		resp, err := client.shares.ListWithdrawals(ctx,
			connect.NewRequest(&sluicerpc.ListWithdrawalsRequest{
				ProviderId: id}))
		if err != nil {
			return waitState{}, client.frameError("list withdrawals",
				err)
		}
		return withdrawalWait(resp.Msg.Withdrawals, wid), nil
	})
}

var providerSharesWithdrawalsCommand = cli.Command{
	Name:      "withdrawals",
	Usage:     "list your share withdrawals and your address",
	ArgsUsage: "[provider-id]",
	Flags:     []cli.Flag{jsonFlag},
	Action:    providerSharesWithdrawals,
}

func providerSharesWithdrawals(c *cli.Context) error {
	client, id, err := providerTarget(c)
	if err != nil {
		return err
	}
	ctx, cancel := callContext()
	defer cancel()
	resp, err := client.shares.ListWithdrawals(ctx, connect.NewRequest(
		&sluicerpc.ListWithdrawalsRequest{ProviderId: id}))
	if err != nil {
		return client.callError("list withdrawals", err)
	}
	if wantJSON(c) {
		return printJSON(c.App.Writer, resp.Msg)
	}
	if a := resp.Msg.Address; a != nil {
		fmt.Fprintf(c.App.Writer, "address %s\n", a.Addr)
	} else {
		fmt.Fprintln(c.App.Writer, "no address: 'sluice provider "+
			"shares address' makes one")
	}
	return printWithdrawals(c.App.Writer, resp.Msg.Withdrawals)
}

// printWithdrawals prints withdrawals as a table.
func printWithdrawals(out io.Writer, ws []*sluicerpc.ShareWithdrawal) error {
	w := tabwriter.NewWriter(out, 0, 4, 2, ' ', 0)
	fmt.Fprintln(w, "ID\tSHARES\tSTATE\tROUND\tASKED\tRESOLVED\tFAILURE")
	for _, wd := range ws {
		fmt.Fprintf(w, "%d\t%s\t%s\t%d\t%s\t%s\t%s\n", wd.Id,
			ledger.Shares(wd.AmountUnits), wd.State, wd.RoundId,
			showTime(wd.CreatedAt), showTime(wd.ResolvedAt),
			wd.Failure)
	}
	return w.Flush()
}
