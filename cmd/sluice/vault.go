package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
	"text/tabwriter"
	"time"

	"connectrpc.com/connect"
	"github.com/btcsuite/btcd/chaincfg/chainhash"
	"github.com/sluice-ln/sluice/ledger"
	"github.com/sluice-ln/sluice/rpc/sluicerpc"
	"github.com/sluice-ln/sluice/yield"
	"github.com/urfave/cli"
)

// The vault's commands: `vault show` for anyone with a macaroon that may
// see it, `provider stake|autostake|redeem|rewards` for a provider's own
// shares, `operator vault policy|shutdown` for the operator.

var vaultCommand = cli.Command{
	Name:  "vault",
	Usage: "show the yield vault",
	Subcommands: []cli.Command{
		vaultShowCommand,
	},
}

var vaultShowCommand = cli.Command{
	Name:  "show",
	Usage: "show the vault: NAV, supply, value per share, floor, queue, epoch",
	Description: `Shows the vault as one consistent snapshot: its net asset value (idle
in the vault, allocated to strategies), the shares issued (1 share =
1000 units) and what one is worth, the liquid floor and whether idle
covers it, the redemption queue, the operator's policy and the open
reward epoch. The macaroon is chosen as for 'provider show'.`,
	Flags:  []cli.Flag{jsonFlag},
	Action: vaultShow,
}

func vaultShow(c *cli.Context) error {
	client, err := providerClient(c)
	if err != nil {
		return err
	}
	ctx, cancel := callContext()
	defer cancel()
	resp, err := client.vault.GetVault(ctx,
		connect.NewRequest(&sluicerpc.GetVaultRequest{}))
	if err != nil {
		return client.callError("vault show", err)
	}
	if wantJSON(c) {
		return printJSON(c.App.Writer, resp.Msg)
	}
	return printVault(c.App.Writer, resp.Msg, time.Now())
}

// shares formats share units as shares with their units.
func shares(units int64) string {
	return fmt.Sprintf("%s (%d units)", strings.TrimSuffix(
		ledger.Shares(units).String(), " shares")+" shares", units)
}

// printVault prints the vault for a person.
func printVault(out io.Writer, v *sluicerpc.GetVaultResponse,
	now time.Time) error {

	w := tabwriter.NewWriter(out, 0, 4, 2, ' ', 0)
	row := func(name, format string, args ...any) {
		fmt.Fprintf(w, "%s\t"+format+"\n", append([]any{
			labelOrBlank(name)}, args...)...)
	}
	row("nav", "%s", msat(v.AssetsMsat))
	row("idle", "%s", msat(v.IdleMsat))
	row("allocated", "%s", msat(v.AllocatedMsat))
	row("supply", "%s, %s locked in redemptions", shares(v.SupplyUnits),
		ledger.Shares(v.LockedUnits))
	row("share value", "%d msat per share (exactly %s msat)",
		v.ShareValueMsat, v.ShareValueExactMsat)
	met := "met"
	if !v.FloorMet {
		met = fmt.Sprintf("NOT met: idle is %d msat short",
			v.FloorMsat-v.IdleMsat)
	}
	row("liquid floor", "%s, %s", msat(v.FloorMsat), met)
	row("queue", "%d pending, %s, asking %s", v.QueueLength,
		ledger.Shares(v.QueueUnits), msat(v.QueuedMsat))
	printVaultPolicy(row, v.Policy)
	if e := v.OpenEpoch; e != nil {
		due := showTime(v.EpochDue)
		if v.EpochDue != nil {
			due += " (" + until(v.EpochDue.AsTime(), now) + ")"
		}
		row("epoch", "%d open since %s, closes %s", e.Number,
			showTime(e.Start), due)
		row("epoch so far", "%d s metered, %s earned, %s fees",
			e.Seconds, msat(e.EarnedMsat), msat(e.FeesMsat))
	} else {
		row("epoch", "none open yet (the first metered charge opens one)")
	}
	for i, s := range v.Strategies {
		name := "strategies"
		if i > 0 {
			name = ""
		}
		row(name, "%s %s", s.Name, msat(s.PrincipalMsat))
	}
	return w.Flush()
}

// printVaultPolicy prints the policy's rows.
func printVaultPolicy(row func(name, format string, args ...any),
	p *sluicerpc.VaultPolicy) {

	row("floor policy", "%d.%02d %% of NAV", p.GetFloorBps()/100,
		p.GetFloorBps()%100)
	if len(p.GetCapsMsat()) == 0 {
		row("caps", "none")
	}
	names := make([]string, 0, len(p.GetCapsMsat()))
	for name := range p.GetCapsMsat() {
		names = append(names, name)
	}
	slices.Sort(names)
	for i, name := range names {
		label := "caps"
		if i > 0 {
			label = ""
		}
		row(label, "%s %s", name, msat(p.CapsMsat[name]))
	}
	state := "no: staking and allocation are open"
	if p.GetShutdown() {
		state = "YES: staking and allocation are stopped, " +
			"redemptions work"
	}
	row("shut down", "%s", state)
}

// until says how long until t, or how long ago it was.
func until(t, now time.Time) string {
	d := t.Sub(now).Round(time.Second)
	if d < 0 {
		return (-d).String() + " overdue"
	}
	return "in " + d.String()
}

// newIdempotencyKey is a random key for a stake or a redemption, printed
// so that the person can retry with it.
func newIdempotencyKey() (string, error) {
	var b [16]byte
	if _, err := rand.Read(b[:]); err != nil {
		return "", fmt.Errorf("idempotency key: %w", err)
	}
	return hex.EncodeToString(b[:]), nil
}

// idempotencyKeyFlag lets a retry reuse the key of a call whose answer
// was lost.
var idempotencyKeyFlag = cli.StringFlag{
	Name: "idempotency-key",
	Usage: "the key of an earlier try whose answer was lost: the " +
		"server answers it again instead of acting twice (default: " +
		"a new random key, printed)",
}

// requestKey is --idempotency-key or a new random key.
func requestKey(c *cli.Context) (string, error) {
	if k := c.String("idempotency-key"); k != "" {
		return k, nil
	}
	return newIdempotencyKey()
}

var providerStakeCommand = cli.Command{
	Name:      "stake",
	Usage:     "stake earnings: move payable into the vault for shares",
	ArgsUsage: "[provider-id]",
	Description: `Moves --amount of the provider's payable (msat, or "5000sat"), or
--all of it, into the vault, and issues shares for it at the vault's
value per share, rounded down. What is staked is no longer paid out; it
comes back by 'provider redeem'. Refused while the vault is shut down,
and for more than the payable. A random idempotency key is made and
printed; give it back with --idempotency-key to retry safely. The
provider and the macaroon are as for 'provider status'. For the share of
each second's earnings staked automatically, see 'provider autostake'.`,
	Flags: []cli.Flag{
		cli.StringFlag{Name: "amount", Usage: "how much of the payable: " +
			"123456 (msat), 123456msat or 123.456sat"},
		cli.BoolFlag{Name: "all", Usage: "stake the whole payable"},
		idempotencyKeyFlag,
		jsonFlag,
	},
	Action: providerStake,
}

func providerStake(c *cli.Context) error {
	var amount ledger.MilliSatoshi
	switch {
	case c.Bool("all") && c.IsSet("amount"):
		return errors.New("give --amount or --all, not both")
	case c.Bool("all"):
	case !c.IsSet("amount"):
		return errors.New("give --amount or --all")
	default:
		a, err := ledger.ParseMilliSatoshi(c.String("amount"))
		if err != nil {
			return fmt.Errorf("--amount: %w", err)
		}
		if a == 0 {
			return errors.New("--amount is zero")
		}
		amount = a
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
	resp, err := client.vault.Stake(ctx, connect.NewRequest(
		&sluicerpc.StakeRequest{ProviderId: id,
			AmountMsat: int64(amount), All: c.Bool("all"),
			IdempotencyKey: key}))
	if err != nil {
		return vaultError(client, "provider stake", err)
	}
	if wantJSON(c) {
		return printJSON(c.App.Writer, resp.Msg)
	}
	m := resp.Msg
	out := c.App.Writer
	if m.Duplicate {
		fmt.Fprintf(out, "Staked before with this key; nothing moved "+
			"now.\n")
	}
	fmt.Fprintf(out, "Staked %s for %s.\n", msat(m.AssetsMsat),
		shares(m.SharesUnits))
	fmt.Fprintf(out, "Idempotency key: %s\n", m.IdempotencyKey)
	return nil
}

// vaultError explains a refused vault call: the server's reason for the
// vault's own refusals (a limit and by how much, a state, bad input),
// callError's explanation for the rest.
func vaultError(client *apiClient, method string, err error) error {
	var connectErr *connect.Error
	if errors.As(err, &connectErr) {
		switch connectErr.Code() {
		case connect.CodeInvalidArgument, connect.CodeNotFound,
			connect.CodeFailedPrecondition, connect.CodeOutOfRange,
			connect.CodeAlreadyExists:

			return fmt.Errorf("%s refused (%s): %s", method,
				connectErr.Code(), connectErr.Message())

		case connect.CodeUnimplemented:
			return fmt.Errorf("%s: sluiced at %s: %s", method,
				client.addr, connectErr.Message())
		}
	}
	return client.callError(method, err)
}

var providerAutoStakeCommand = cli.Command{
	Name:      "autostake",
	Usage:     "set or show the part of each second's earnings staked at once",
	ArgsUsage: "[provider-id]",
	Description: `--percent P (0 to 100) stakes P % of what each metered second earns the
provider, rounded down, before payouts see it; 0 stops it. Without
--percent, shows the setting and the provider's shares. The provider and
the macaroon are as for 'provider status'.`,
	Flags: []cli.Flag{
		cli.IntFlag{Name: "percent", Usage: "0 to 100"},
		jsonFlag,
	},
	Action: providerAutoStake,
}

func providerAutoStake(c *cli.Context) error {
	set := c.IsSet("percent")
	percent := c.Int("percent")
	if set && (percent < 0 || percent > 100) {
		return fmt.Errorf("--percent %d is not 0 to 100", percent)
	}
	client, id, err := providerTarget(c)
	if err != nil {
		return err
	}
	ctx, cancel := callContext()
	defer cancel()
	var h *sluicerpc.Holding
	if set {
		resp, err := client.vault.SetAutoStake(ctx, connect.NewRequest(
			&sluicerpc.SetAutoStakeRequest{ProviderId: id,
				Percent: uint32(percent)}))
		if err != nil {
			return vaultError(client, "provider autostake", err)
		}
		h = resp.Msg.Holding
	} else {
		resp, err := client.vault.GetHolding(ctx, connect.NewRequest(
			&sluicerpc.GetHoldingRequest{ProviderId: id}))
		if err != nil {
			return vaultError(client, "provider autostake", err)
		}
		h = resp.Msg.Holding
	}
	if wantJSON(c) {
		return printJSON(c.App.Writer, h)
	}
	w := tabwriter.NewWriter(c.App.Writer, 0, 4, 2, ' ', 0)
	printHolding(w, h)
	return w.Flush()
}

// printHolding prints a provider's holding as rows.
func printHolding(w io.Writer, h *sluicerpc.Holding) {
	fmt.Fprintf(w, "shares:\t%s, %s locked in redemptions\n",
		shares(h.SharesUnits), ledger.Shares(h.LockedUnits))
	fmt.Fprintf(w, "value:\t%s\n", msat(h.ValueMsat))
	auto := fmt.Sprintf("%d %% of each second's earnings",
		h.AutoStakePercent)
	if h.AutoStakePercent == 0 {
		auto = "off"
	}
	fmt.Fprintf(w, "auto-stake:\t%s\n", auto)
}

var providerRedeemCommand = cli.Command{
	Name:      "redeem",
	Usage:     "redeem shares for sats, cancel or list redemptions",
	ArgsUsage: "[provider-id]",
	Description: `--shares N (a number of shares with up to three decimals, "12.345")
locks that many of the provider's shares in a redemption request, which
asks for what they are worth now, rounded down. Requests are finalized
first in, first out, while the vault keeps its liquid floor: then the
lesser of what was asked and what the shares are worth then is added to
the provider's payable, which the ordinary payouts send, and the shares
are burnt. A request is cancelled with 'redeem cancel ID' until it is
finalized. A random idempotency key is made and printed; give it back
with --idempotency-key to retry safely. The provider and the macaroon are
as for 'provider status'.`,
	Flags: []cli.Flag{
		cli.StringFlag{Name: "shares", Usage: "how many shares, for " +
			"example 12.345"},
		idempotencyKeyFlag,
		jsonFlag,
		waitFlags[0], waitFlags[1],
	},
	Action: providerRedeem,
	Subcommands: []cli.Command{
		providerRedeemCancelCommand,
		providerRedeemListCommand,
	},
}

func providerRedeem(c *cli.Context) error {
	if !c.IsSet("shares") {
		return errors.New("give --shares (or: redeem cancel ID, " +
			"redeem list)")
	}
	units, err := ledger.ParseShares(c.String("shares"))
	if err != nil {
		return fmt.Errorf("--shares: %w", err)
	}
	if units == 0 {
		return errors.New("--shares is zero")
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
	resp, err := client.vault.Redeem(ctx, connect.NewRequest(
		&sluicerpc.RedeemRequest{ProviderId: id,
			SharesUnits: int64(units), IdempotencyKey: key}))
	if err != nil {
		return vaultError(client, "provider redeem", err)
	}
	if wantJSON(c) {
		err = printJSON(c.App.Writer, resp.Msg)
	} else {
		w := tabwriter.NewWriter(c.App.Writer, 0, 4, 2, ' ', 0)
		printRedemption(w, resp.Msg.Redemption)
		fmt.Fprintf(w, "idempotency key:\t%s\n",
			resp.Msg.IdempotencyKey)
		err = w.Flush()
	}
	if err != nil || !c.Bool("wait") {
		return err
	}
	rid := resp.Msg.Redemption.GetId()
	waiter := newWaiter(c, "sluice provider redeem list")
	return waiter.wait(context.Background(), func(ctx context.Context) (
		waitState, error) {

		resp, err := client.vault.ListRedemptions(ctx,
			connect.NewRequest(&sluicerpc.ListRedemptionsRequest{
				FilterProviderId: id}))
		if err != nil {
			return waitState{}, client.frameError(
				"provider redeem list", err)
		}
		for _, r := range resp.Msg.Redemptions {
			if r.Id == rid {
				return redemptionWait(r), nil
			}
		}
		return waitState{done: true, failed: true, line: fmt.Sprintf(
			"redemption %d: not among the provider's", rid)}, nil
	})
}

// printRedemption prints one request as rows.
func printRedemption(w io.Writer, r *sluicerpc.Redemption) {
	fmt.Fprintf(w, "redemption:\t%d (provider %s)\n", r.Id, r.ProviderId)
	fmt.Fprintf(w, "status:\t%s\n", r.Status)
	fmt.Fprintf(w, "shares:\t%s\n", shares(r.SharesUnits))
	fmt.Fprintf(w, "requested:\t%s at most, %s\n", msat(r.RequestedMsat),
		showTime(r.RequestedAt))
	switch r.Status {
	case "finalized", "paid":
		fmt.Fprintf(w, "finalized:\t%s into the payable, %s\n",
			msat(r.AssetsMsat), showTime(r.FinalizedAt))
	case "cancelled":
		fmt.Fprintf(w, "cancelled:\t%s\n", showTime(r.CancelledAt))
	}
}

var providerRedeemCancelCommand = cli.Command{
	Name:      "cancel",
	Usage:     "cancel a pending redemption request and unlock its shares",
	ArgsUsage: "ID",
	Description: "Cancels request ID, which must still be pending. A " +
		"provider macaroon cancels the provider's own requests; the " +
		"operator's any.",
	Flags:  []cli.Flag{jsonFlag},
	Action: providerRedeemCancel,
}

func providerRedeemCancel(c *cli.Context) error {
	if c.NArg() != 1 {
		return fmt.Errorf("redeem cancel takes one ID, got %d "+
			"arguments", c.NArg())
	}
	var rid int64
	if _, err := fmt.Sscan(c.Args().First(), &rid); err != nil ||
		rid <= 0 {

		return fmt.Errorf("redemption id %q is not a positive number",
			c.Args().First())
	}
	client, err := providerClient(c)
	if err != nil {
		return err
	}
	ctx, cancel := callContext()
	defer cancel()
	resp, err := client.vault.CancelRedeem(ctx, connect.NewRequest(
		&sluicerpc.CancelRedeemRequest{RedemptionId: rid}))
	if err != nil {
		return vaultError(client, "provider redeem cancel", err)
	}
	if wantJSON(c) {
		return printJSON(c.App.Writer, resp.Msg)
	}
	w := tabwriter.NewWriter(c.App.Writer, 0, 4, 2, ' ', 0)
	printRedemption(w, resp.Msg.Redemption)
	return w.Flush()
}

var providerRedeemListCommand = cli.Command{
	Name:      "list",
	Usage:     "list redemption requests",
	ArgsUsage: "[provider-id]",
	Description: "Lists requests in queue order: with a provider " +
		"macaroon the provider's own, with the operator's those of " +
		"the provider named, or all. --status narrows them (pending, " +
		"finalized, paid, cancelled; repeatable).",
	Flags: []cli.Flag{
		cli.StringSliceFlag{Name: "status", Usage: "only requests " +
			"with this status"},
		jsonFlag,
	},
	Action: providerRedeemList,
}

func providerRedeemList(c *cli.Context) error {
	client, err := providerClient(c)
	if err != nil {
		return err
	}
	ctx, cancel := callContext()
	defer cancel()
	resp, err := client.vault.ListRedemptions(ctx, connect.NewRequest(
		&sluicerpc.ListRedemptionsRequest{
			FilterProviderId: c.Args().First(),
			Statuses:         c.StringSlice("status"),
		}))
	if err != nil {
		return vaultError(client, "provider redeem list", err)
	}
	if wantJSON(c) {
		return printJSON(c.App.Writer, resp.Msg)
	}
	if len(resp.Msg.Redemptions) == 0 {
		fmt.Fprintln(c.App.Writer, "no redemptions")
		return nil
	}
	w := tabwriter.NewWriter(c.App.Writer, 0, 4, 2, ' ', 0)
	fmt.Fprintln(w, "ID\tPROVIDER\tSTATUS\tSHARES\tREQUESTED (msat)\t"+
		"PAID IN (msat)\tREQUESTED AT")
	for _, r := range resp.Msg.Redemptions {
		paid := "-"
		if r.Status == "finalized" || r.Status == "paid" {
			paid = fmt.Sprint(r.AssetsMsat)
		}
		fmt.Fprintf(w, "%d\t%s\t%s\t%s\t%d\t%s\t%s\n", r.Id,
			r.ProviderId, r.Status,
			strings.TrimSuffix(ledger.Shares(r.SharesUnits).String(),
				" shares"), r.RequestedMsat, paid,
			showTime(r.RequestedAt))
	}
	return w.Flush()
}

var providerRewardsCommand = cli.Command{
	Name:      "rewards",
	Usage:     "list the provider's epoch rewards, verify one's proof",
	ArgsUsage: "[provider-id]",
	Description: `Lists the reward epochs the provider worked in, newest last: the
seconds it metered, what they earned and the shares they were issued
when the epoch closed, with the epoch's Merkle root; the open epoch
shows its work so far. --last N looks at the last N epochs (default
24), --after N at those numbered above N. 'rewards verify --epoch N'
checks the provider's leaf against the epoch's root. The provider and the
macaroon are as for 'provider status'.`,
	Flags:       rewardsListFlags,
	Action:      providerRewardsList,
	Subcommands: []cli.Command{providerRewardsListCommand, providerRewardsVerifyCommand},
}

var rewardsListFlags = []cli.Flag{
	cli.UintFlag{Name: "last", Value: 24, Usage: "look at the last N " +
		"epochs"},
	cli.Uint64Flag{Name: "after", Usage: "look at epochs numbered " +
		"above N instead"},
	jsonFlag,
}

var providerRewardsListCommand = cli.Command{
	Name:      "list",
	Usage:     "list the provider's epoch rewards (the default)",
	ArgsUsage: "[provider-id]",
	Flags:     rewardsListFlags,
	Action:    providerRewardsList,
}

// rewardRow is one epoch in `provider rewards`: the epoch and the
// provider's contribution to it.
type rewardRow struct {
	epoch *sluicerpc.Epoch
	leaf  *sluicerpc.Contribution
}

func providerRewardsList(c *cli.Context) error {
	client, id, err := providerTarget(c)
	if err != nil {
		return err
	}
	ctx, cancel := callContext()
	defer cancel()

	// Epochs are numbered one after the other, so the last N are those
	// above the open one's number less N.
	after := c.Uint64("after")
	if !c.IsSet("after") {
		st, err := client.vault.GetVault(ctx, connect.NewRequest(
			&sluicerpc.GetVaultRequest{}))
		if err != nil {
			return vaultError(client, "provider rewards", err)
		}
		open := st.Msg.OpenEpoch.GetNumber()
		if last := uint64(c.Uint("last")); open > last {
			after = open - last
		}
	}
	limit := c.Uint("last")
	list, err := client.vault.ListEpochs(ctx, connect.NewRequest(
		&sluicerpc.ListEpochsRequest{After: after,
			Limit: uint32(limit)}))
	if err != nil {
		return vaultError(client, "provider rewards", err)
	}

	var rows []rewardRow
	for _, e := range list.Msg.Epochs {
		ep, err := client.vault.GetEpoch(ctx, connect.NewRequest(
			&sluicerpc.GetEpochRequest{Number: e.Number}))
		if err != nil {
			return vaultError(client, "provider rewards", err)
		}
		for _, leaf := range ep.Msg.Contributions {
			if leaf.ProviderId == id {
				rows = append(rows, rewardRow{ep.Msg.Epoch, leaf})
			}
		}
	}
	if wantJSON(c) {
		return printRewardsJSON(c.App.Writer, rows)
	}
	if len(rows) == 0 {
		fmt.Fprintf(c.App.Writer, "provider %s has no work in epochs "+
			"%d to %d\n", id, after+1, after+uint64(
			len(list.Msg.Epochs)))
		return nil
	}
	w := tabwriter.NewWriter(c.App.Writer, 0, 4, 2, ' ', 0)
	fmt.Fprintln(w, "EPOCH\tCLOSED\tSECONDS\tEARNED (msat)\tSHARES\tROOT")
	for _, r := range rows {
		closed, issued, root := "open", "-", "-"
		if r.epoch.Closed {
			closed = showTime(r.epoch.End)
			issued = strings.TrimSuffix(ledger.Shares(
				r.leaf.SharesUnits).String(), " shares")
			root = hex.EncodeToString(r.epoch.Root)
		}
		fmt.Fprintf(w, "%d\t%s\t%d\t%d\t%s\t%s\n", r.epoch.Number,
			closed, r.leaf.Seconds, r.leaf.EarnedMsat, issued, root)
	}
	return w.Flush()
}

// printRewardsJSON prints the rows as a JSON list of {epoch,
// contribution}, each in the API's JSON.
func printRewardsJSON(out io.Writer, rows []rewardRow) error {
	var b strings.Builder
	b.WriteString(`{"rewards": [`)
	for i, r := range rows {
		if i > 0 {
			b.WriteString(",")
		}
		e, err := sluicerpc.JSONMarshalOptions.Marshal(r.epoch)
		if err != nil {
			return err
		}
		l, err := sluicerpc.JSONMarshalOptions.Marshal(r.leaf)
		if err != nil {
			return err
		}
		fmt.Fprintf(&b, `{"epoch": %s, "contribution": %s}`, e, l)
	}
	b.WriteString("]}")
	return printRawJSON(out, []byte(b.String()))
}

var providerRewardsVerifyCommand = cli.Command{
	Name:      "verify",
	Usage:     "check the provider's reward in an epoch against its Merkle root",
	ArgsUsage: "[provider-id]",
	Description: `Fetches the provider's leaf in closed epoch --epoch and its path, and
checks here, with nothing but SHA-256 (yield.Verify, docs/vault.md), that
they lead to the epoch's root. --root checks against a root from
elsewhere instead of the one sluiced sends (hex, in SHA-256 byte order).
Prints the leaf, the path and OK, or FAILED and exits non-zero.`,
	Flags: []cli.Flag{
		cli.Uint64Flag{Name: "epoch", Usage: "the epoch's number"},
		cli.StringFlag{Name: "root", Usage: "the root to check " +
			"against, 64 hex digits"},
		jsonFlag,
	},
	Action: providerRewardsVerify,
}

// errProofFailed is returned by `rewards verify` for a proof that does not
// lead to the root, after printing it.
var errProofFailed = errors.New("reward proof FAILED")

func providerRewardsVerify(c *cli.Context) error {
	number := c.Uint64("epoch")
	if number == 0 {
		return errors.New("give --epoch N (epochs count from 1)")
	}
	var given *chainhash.Hash
	if s := c.String("root"); s != "" {
		h, err := parseHash(s)
		if err != nil {
			return fmt.Errorf("--root: %w", err)
		}
		given = &h
	}
	client, id, err := providerTarget(c)
	if err != nil {
		return err
	}
	ctx, cancel := callContext()
	defer cancel()
	resp, err := client.vault.GetRewardProof(ctx, connect.NewRequest(
		&sluicerpc.GetRewardProofRequest{Epoch: number,
			ProviderId: id}))
	if err != nil {
		return vaultError(client, "provider rewards verify", err)
	}
	m := resp.Msg

	verr := verifyRewardProof(m, id, given)
	if wantJSON(c) {
		if err := printJSON(c.App.Writer, m); err != nil {
			return err
		}
		return verr
	}
	out := c.App.Writer
	w := tabwriter.NewWriter(out, 0, 4, 2, ' ', 0)
	l := m.GetLeaf()
	fmt.Fprintf(w, "epoch:\t%d\n", l.GetEpoch())
	fmt.Fprintf(w, "provider:\t%s\n", l.GetProviderId())
	fmt.Fprintf(w, "seconds:\t%d\n", l.GetSeconds())
	fmt.Fprintf(w, "earned:\t%s\n", msat(l.GetEarnedMsat()))
	fmt.Fprintf(w, "shares issued:\t%s\n", shares(l.GetSharesUnits()))
	fmt.Fprintf(w, "leaf hash:\t%x\n", m.LeafHash)
	fmt.Fprintf(w, "position:\tleaf %d of %d\n", m.Index, m.Count)
	for i, s := range m.Siblings {
		label := "path"
		if i > 0 {
			label = ""
		}
		fmt.Fprintf(w, "%s\t%x\n", labelOrBlank(label), s)
	}
	if len(m.Siblings) == 0 {
		fmt.Fprintf(w, "path:\tnone (the only leaf)\n")
	}
	fmt.Fprintf(w, "root:\t%x\n", m.Root)
	if given != nil {
		fmt.Fprintf(w, "checked against:\t%x (--root)\n", given[:])
	}
	if err := w.Flush(); err != nil {
		return err
	}
	if verr != nil {
		fmt.Fprintln(out, verr)
		return verr
	}
	fmt.Fprintln(out, "OK: the leaf and its path lead to the root")
	return nil
}

// verifyRewardProof checks the API's proof with yield.Verify against
// the root given, or the one sent: that it is the provider's leaf, that
// the root sent is the epoch's, and that the path leads to the root.
func verifyRewardProof(m *sluicerpc.GetRewardProofResponse, providerID string,
	given *chainhash.Hash) error {

	l := m.GetLeaf()
	if l.GetProviderId() != providerID {
		return fmt.Errorf("%w: the leaf is provider %q's, not %q",
			errProofFailed, l.GetProviderId(), providerID)
	}
	if l.GetEpoch() != m.GetEpoch().GetNumber() {
		return fmt.Errorf("%w: the leaf is of epoch %d, the proof of "+
			"%d", errProofFailed, l.GetEpoch(),
			m.GetEpoch().GetNumber())
	}
	root, err := chainhash.NewHash(m.Root)
	if err != nil {
		return fmt.Errorf("%w: root: %w", errProofFailed, err)
	}
	if m.GetEpoch().GetClosed() &&
		hex.EncodeToString(m.Epoch.Root) != hex.EncodeToString(m.Root) {

		return fmt.Errorf("%w: the proof's root %x is not the "+
			"epoch's %x", errProofFailed, m.Root, m.Epoch.Root)
	}
	if given != nil {
		root = given
	}
	proof := yield.Proof{Index: m.Index, Count: m.Count}
	for i, s := range m.Siblings {
		h, err := chainhash.NewHash(s)
		if err != nil {
			return fmt.Errorf("%w: sibling %d: %w", errProofFailed,
				i, err)
		}
		proof.Siblings = append(proof.Siblings, *h)
	}
	leaf := yield.Leaf{
		Epoch:      l.GetEpoch(),
		ProviderID: l.GetProviderId(),
		Seconds:    l.GetSeconds(),
		Earned:     ledger.MilliSatoshi(l.GetEarnedMsat()),
		Shares:     ledger.Shares(l.GetSharesUnits()),
	}
	if err := yield.Verify(*root, leaf, proof); err != nil {
		return fmt.Errorf("%w: %w", errProofFailed, err)
	}
	return nil
}

// parseHash reads a hash written as hex in SHA-256's byte order, as the
// API and docs/vault.md show them (not chainhash's reversed String).
func parseHash(s string) (chainhash.Hash, error) {
	raw, err := hex.DecodeString(strings.TrimSpace(s))
	if err != nil {
		return chainhash.Hash{}, fmt.Errorf("%q is not hex: %w", s, err)
	}
	h, err := chainhash.NewHash(raw)
	if err != nil {
		return chainhash.Hash{}, fmt.Errorf("%q: %w", s, err)
	}
	return *h, nil
}

var operatorVaultCommand = cli.Command{
	Name:  "vault",
	Usage: "set the vault's policy, shut it down",
	Subcommands: []cli.Command{
		operatorVaultPolicyCommand,
		operatorVaultShutdownCommand,
	},
}

var operatorVaultPolicyCommand = cli.Command{
	Name:  "policy",
	Usage: "set or show the liquid floor and the strategies' caps",
	Description: `--floorbps N sets the liquid floor to N basis points of the NAV (0 to
10000): redemptions are finalized only while idle stays above it.
--cap NAME=AMOUNT (repeatable; AMOUNT in msat, or "5000sat") caps what
strategy NAME may hold; a cap below what it holds now is refused. Given
values replace those and leave the rest of the policy as it is;
--clear-caps starts from no caps. Without flags, shows the policy.`,
	Flags: []cli.Flag{
		cli.UintFlag{Name: "floorbps", Usage: "the liquid floor, " +
			"basis points of NAV"},
		cli.StringSliceFlag{Name: "cap", Usage: "NAME=AMOUNT, a " +
			"strategy's cap"},
		cli.BoolFlag{Name: "clear-caps", Usage: "remove every cap " +
			"not given"},
		jsonFlag,
	},
	Action: operatorVaultPolicy,
}

func operatorVaultPolicy(c *cli.Context) error {
	caps := map[string]int64{}
	for _, kv := range c.StringSlice("cap") {
		name, amount, ok := strings.Cut(kv, "=")
		name = strings.TrimSpace(name)
		if !ok || name == "" {
			return fmt.Errorf("--cap %q is not NAME=AMOUNT", kv)
		}
		a, err := ledger.ParseMilliSatoshi(amount)
		if err != nil {
			return fmt.Errorf("--cap %s: %w", name, err)
		}
		caps[name] = int64(a)
	}
	if c.IsSet("floorbps") && c.Uint("floorbps") > 10_000 {
		return fmt.Errorf("--floorbps %d is above 10000 (100 %%)",
			c.Uint("floorbps"))
	}

	client, err := newAPIClient(c)
	if err != nil {
		return err
	}
	ctx, cancel := callContext()
	defer cancel()
	st, err := client.vault.GetVault(ctx, connect.NewRequest(
		&sluicerpc.GetVaultRequest{}))
	if err != nil {
		return vaultError(client, "operator vault policy", err)
	}
	policy := st.Msg.Policy
	if c.IsSet("floorbps") || c.IsSet("cap") || c.Bool("clear-caps") {
		req := &sluicerpc.SetVaultPolicyRequest{
			FloorBps: policy.GetFloorBps(),
			CapsMsat: map[string]int64{},
		}
		if c.IsSet("floorbps") {
			req.FloorBps = uint32(c.Uint("floorbps"))
		}
		if !c.Bool("clear-caps") {
			for name, v := range policy.GetCapsMsat() {
				req.CapsMsat[name] = v
			}
		}
		for name, v := range caps {
			req.CapsMsat[name] = v
		}
		resp, err := client.vault.SetVaultPolicy(ctx,
			connect.NewRequest(req))
		if err != nil {
			return vaultError(client, "operator vault policy", err)
		}
		policy = resp.Msg.Policy
	}
	return printPolicy(c, policy)
}

// printPolicy prints a policy as JSON or rows.
func printPolicy(c *cli.Context, p *sluicerpc.VaultPolicy) error {
	if wantJSON(c) {
		return printJSON(c.App.Writer, p)
	}
	w := tabwriter.NewWriter(c.App.Writer, 0, 4, 2, ' ', 0)
	printVaultPolicy(func(name, format string, args ...any) {
		fmt.Fprintf(w, "%s\t"+format+"\n", append([]any{
			labelOrBlank(name)}, args...)...)
	}, p)
	if p.UpdatedAt != nil {
		fmt.Fprintf(w, "set:\t%s\n", showTime(p.UpdatedAt))
	}
	return w.Flush()
}

var operatorVaultShutdownCommand = cli.Command{
	Name:  "shutdown",
	Usage: "stop or allow again staking and allocation",
	Description: `--on stops staking (by hand, by auto-stake and by epoch reward) and
allocation to strategies; redemptions keep working. --off allows them
again.`,
	Flags: []cli.Flag{
		cli.BoolFlag{Name: "on", Usage: "shut the vault down"},
		cli.BoolFlag{Name: "off", Usage: "open it again"},
		jsonFlag,
	},
	Action: operatorVaultShutdown,
}

func operatorVaultShutdown(c *cli.Context) error {
	on, off := c.Bool("on"), c.Bool("off")
	if on == off {
		return errors.New("give --on or --off")
	}
	client, err := newAPIClient(c)
	if err != nil {
		return err
	}
	ctx, cancel := callContext()
	defer cancel()
	resp, err := client.vault.Shutdown(ctx, connect.NewRequest(
		&sluicerpc.ShutdownRequest{On: on}))
	if err != nil {
		return vaultError(client, "operator vault shutdown", err)
	}
	return printPolicy(c, resp.Msg.Policy)
}
