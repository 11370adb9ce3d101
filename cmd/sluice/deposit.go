package main

import (
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"text/tabwriter"

	"connectrpc.com/connect"
	"github.com/sluice-ln/sluice/hubnode"
	"github.com/sluice-ln/sluice/ledger"
	"github.com/sluice-ln/sluice/rpc/sluicerpc"
	"github.com/urfave/cli"
)

// The provider's share deposits back into the hub's custody:
// `provider shares deposit-address` shows its address on the hub's tapd,
// `deposit` sends shares there from the provider's own tapd, `deposits`
// lists what the hub credited.

var providerSharesDepositAddressCommand = cli.Command{
	Name:      "deposit-address",
	Usage:     "show your address on the hub's tapd for shares back",
	ArgsUsage: "[provider-id]",
	Description: `Prints your deposit address: a V2 group key address of the share asset,
with no amount, made on the hub's tapd the first time you ask and the
same afterwards. Send shares to it from any tapd (for example 'provider
shares deposit'); each output that arrives is credited to your custody
once, when the hub's tapd has its proofs and it is 6 blocks deep. Then
you can redeem the shares through the vault's queue, or withdraw them
again. The provider and the macaroon are as for 'provider status'.`,
	Flags:  []cli.Flag{jsonFlag},
	Action: providerSharesDepositAddress,
}

func providerSharesDepositAddress(c *cli.Context) error {
	client, id, err := providerTarget(c)
	if err != nil {
		return err
	}
	ctx, cancel := callContext()
	defer cancel()
	resp, err := client.shares.GetDepositAddress(ctx, connect.NewRequest(
		&sluicerpc.GetDepositAddressRequest{ProviderId: id}))
	if err != nil {
		return client.callError("deposit address", err)
	}
	if wantJSON(c) {
		return printJSON(c.App.Writer, resp.Msg)
	}
	fmt.Fprintln(c.App.Writer, resp.Msg.Address.Addr)
	return nil
}

var providerSharesDepositCommand = cli.Command{
	Name:      "deposit",
	Usage:     "send shares from your tapd back into the hub's custody",
	ArgsUsage: "[provider-id]",
	Description: `--amount N (shares, with up to three decimals, "1.5") sends that many
share units from your own tapd to your deposit address on the hub's
tapd, in one tapd send labelled "sluice-deposit-<random>", and prints its
anchor transaction. The hub credits the output to your custody once it
has the proofs and the anchor is 6 blocks deep: 'provider shares
deposits' lists it then.

Your tapd: --tapd.host, --tapd.tlspath and --tapd.macaroonpath, or, on a
local network from ` + "`sluice devnet up`" + `, --devnet DIR --node provider1,
which also points --rpcserver and --sluicedir at the network's sluiced
unless they are given.`,
	Flags: append(ownTapdFlags("send assets"),
		cli.StringFlag{Name: "amount", Usage: "how many shares, for " +
			"example 1.5"},
		cli.Uint64Flag{Name: "sat-per-vbyte", Value: 2,
			Usage: "the anchor transaction's fee rate"},
		jsonFlag,
	),
	Action: providerSharesDeposit,
}

func providerSharesDeposit(c *cli.Context) error {
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
	// sat/kw is sat/vbyte × 250 (a vbyte is four weight units).
	rate := c.Uint64("sat-per-vbyte") * 250
	if rate < uint64(hubnode.MinFeeRate) || rate > 1<<24 {
		return fmt.Errorf("--sat-per-vbyte %d is out of range",
			c.Uint64("sat-per-vbyte"))
	}
	tf, err := resolveTapd(c)
	if err != nil {
		return err
	}
	client, id, err := providerTarget(c)
	if err != nil {
		return err
	}
	ctx, cancel := callContext()
	defer cancel()
	a, err := client.shares.GetDepositAddress(ctx, connect.NewRequest(
		&sluicerpc.GetDepositAddressRequest{ProviderId: id}))
	if err != nil {
		return client.callError("deposit address", err)
	}
	addr := a.Msg.Address.Addr

	w, err := hubnode.DialTapdWallet(ctx, tf.host, tf.tlsPath,
		tf.macaroonPath, c.GlobalString("network"))
	if err != nil {
		return fmt.Errorf("your tapd: %w", err)
	}
	defer w.Close()
	var nonce [6]byte
	if _, err := rand.Read(nonce[:]); err != nil {
		return err
	}
	label := "sluice-deposit-" + hex.EncodeToString(nonce[:])
	tr, err := w.Sender().SendAsset(ctx, hubnode.AssetSend{
		Label:   label,
		FeeRate: uint32(rate),
		Recipients: []hubnode.Recipient{{Addr: addr,
			Amount: uint64(units)}},
	})
	if err != nil {
		return fmt.Errorf("your tapd: %w", err)
	}
	if wantJSON(c) {
		enc := json.NewEncoder(c.App.Writer)
		enc.SetIndent("", "  ")
		return enc.Encode(map[string]any{
			"provider_id":  id,
			"addr":         addr,
			"amount_units": int64(units),
			"label":        label,
			"anchor_txid":  tr.AnchorTxid.String(),
		})
	}
	fmt.Fprintf(c.App.Writer, "sent %v to %s\nlabel %s, anchor tx %s\n"+
		"credited to your custody once 6 blocks deep: 'sluice provider "+
		"shares deposits' lists it\n", units, addr, label,
		tr.AnchorTxid)
	return nil
}

var providerSharesDepositsCommand = cli.Command{
	Name:      "deposits",
	Usage:     "list the share deposits credited to your custody",
	ArgsUsage: "[provider-id]",
	Flags:     []cli.Flag{jsonFlag},
	Action:    providerSharesDeposits,
}

func providerSharesDeposits(c *cli.Context) error {
	client, id, err := providerTarget(c)
	if err != nil {
		return err
	}
	ctx, cancel := callContext()
	defer cancel()
	resp, err := client.shares.ListDeposits(ctx, connect.NewRequest(
		&sluicerpc.ListDepositsRequest{ProviderId: id}))
	if err != nil {
		return client.callError("list deposits", err)
	}
	if wantJSON(c) {
		return printJSON(c.App.Writer, resp.Msg)
	}
	return printDeposits(c.App.Writer, resp.Msg.Deposits)
}

// printDeposits prints deposits as a table.
func printDeposits(out io.Writer, ds []*sluicerpc.ShareDeposit) error {
	w := tabwriter.NewWriter(out, 0, 4, 2, ' ', 0)
	fmt.Fprintln(w, "ID\tSHARES\tOUTPOINT\tHEIGHT\tCREDITED")
	for _, d := range ds {
		fmt.Fprintf(w, "%d\t%s\t%s\t%d\t%s\n", d.Id,
			ledger.Shares(d.AmountUnits), d.Outpoint, d.BlockHeight,
			showTime(d.CreditedAt))
	}
	return w.Flush()
}
