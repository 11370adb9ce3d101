package main

import (
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"text/tabwriter"
	"time"

	"connectrpc.com/connect"
	"github.com/lightningnetwork/lnd/routing/route"
	"github.com/sluice-ln/sluice/channels"
	"github.com/sluice-ln/sluice/hubnode"
	"github.com/sluice-ln/sluice/keyfile"
	"github.com/sluice-ln/sluice/rpc/rpcclient"
	"github.com/sluice-ln/sluice/rpc/sluicerpc"
	"github.com/urfave/cli"
)

var providerCommand = cli.Command{
	Name: "provider",
	Usage: "link a provider's Lightning node, show it, set its rates, " +
		"stake and redeem its earnings",
	Subcommands: []cli.Command{
		providerLinkCommand,
		providerShowCommand,
		providerRatesCommand,
		providerListCommand,
		providerStatusCommand,
		providerStakeCommand,
		providerAutoStakeCommand,
		providerRedeemCommand,
		providerRewardsCommand,
		providerSharesCommand,
	},
}

var providerLinkCommand = cli.Command{
	Name:  "link",
	Usage: "prove to sluiced that you run a Lightning node, and link it",
	Description: `Asks sluiced for a link challenge naming your node and your metering
agent key, checks the challenge, has your own lnd sign it (SignMessage),
and hands the signature back. sluiced answers with your provider record
and a provider macaroon, written to <sluicedir>/<network>/provider.macaroon
(or --macaroonout). No macaroon is needed to link.

The agent key is read from --agentkey (default
<sluicedir>/<network>/agent.key) and made there if missing. Linking again
with the same key keeps it; --new-agent-key makes a new one, and the link
revokes the old key for good.

Your lnd: --lnd.host, --lnd.tlspath and --lnd.macaroonpath, or, on a local
network from ` + "`sluice devnet up`" + `, --devnet DIR --node provider1, which
also points --rpcserver and --sluicedir at the network's sluiced unless
they are given.`,
	Flags: []cli.Flag{
		cli.StringFlag{
			Name:  "lnd.host",
			Usage: "host:port of your lnd's gRPC",
		},
		cli.StringFlag{
			Name:  "lnd.tlspath",
			Usage: "your lnd's tls.cert",
		},
		cli.StringFlag{
			Name: "lnd.macaroonpath",
			Usage: "a macaroon of your lnd that may call GetInfo and " +
				"SignMessage (admin.macaroon will do)",
		},
		cli.StringFlag{
			Name:  "devnet",
			Usage: "a local network's directory: take the lnd flags from its profile",
		},
		cli.StringFlag{
			Name:  "node",
			Usage: "with --devnet, the node to link (provider1, provider2)",
		},
		cli.StringFlag{
			Name:  "agentkey",
			Usage: "the agent key file (default <sluicedir>/<network>/agent.key)",
		},
		cli.BoolFlag{
			Name:  "new-agent-key",
			Usage: "make a new agent key; the link revokes the old one",
		},
		cli.StringFlag{
			Name:  "alias",
			Usage: "an alias for sluiced to use when its graph does not know your node's (default: your lnd's alias)",
		},
		cli.StringFlag{
			Name: "hub",
			Usage: "the hub node key you expect; the challenge must " +
				"name it",
		},
		cli.StringFlag{
			Name:  "macaroonout",
			Usage: "where to write the provider macaroon (default <sluicedir>/<network>/provider.macaroon)",
		},
		jsonFlag,
	},
	Action: providerLink,
}

// lndFlags are the provider lnd's connection.
type lndFlags struct {
	host, tlsPath, macaroonPath string
}

// resolveLnd returns the lnd flags, from --devnet's profile when given. With
// --devnet it also defaults --rpcserver and --sluicedir to the network's
// sluiced.
func resolveLnd(c *cli.Context) (lndFlags, error) {
	f := lndFlags{
		host:         c.String("lnd.host"),
		tlsPath:      rpcclient.CleanPath(c.String("lnd.tlspath")),
		macaroonPath: rpcclient.CleanPath(c.String("lnd.macaroonpath")),
	}
	dir := rpcclient.CleanPath(c.String("devnet"))
	if dir == "" {
		if c.String("node") != "" {
			return f, errors.New("--node needs --devnet")
		}
		switch {
		case f.host == "":
			return f, errors.New("--lnd.host is empty (or give " +
				"--devnet and --node)")
		case f.tlsPath == "":
			return f, errors.New("--lnd.tlspath is empty")
		case f.macaroonPath == "":
			return f, errors.New("--lnd.macaroonpath is empty")
		}
		return f, nil
	}

	_, node, err := devnetProvider(c, dir)
	if err != nil {
		return f, err
	}
	if f.host == "" {
		f.host = node.RPCHost
	}
	if f.tlsPath == "" {
		f.tlsPath = node.TLSCertPath
	}
	if f.macaroonPath == "" {
		f.macaroonPath = node.AdminMacaroonPath
	}
	return f, nil
}

// networkDir is <sluicedir>/<network>.
func networkDir(c *cli.Context) string {
	return filepath.Join(rpcclient.CleanPath(c.GlobalString("sluicedir")),
		c.GlobalString("network"))
}

func providerLink(c *cli.Context) error {
	lnd, err := resolveLnd(c)
	if err != nil {
		return err
	}
	ctx, cancel := callContext()
	defer cancel()

	signer, err := hubnode.DialNodeSigner(
		lnd.host, lnd.tlsPath, lnd.macaroonPath,
		c.GlobalString("network"),
	)
	if err != nil {
		return err
	}
	defer signer.Close()
	node, err := signer.IdentityPubkey(ctx)
	if err != nil {
		return fmt.Errorf("your lnd at %s: %w", lnd.host, err)
	}
	alias := c.String("alias")
	if alias == "" {
		if alias, err = signer.Alias(ctx); err != nil {
			return fmt.Errorf("your lnd at %s: %w", lnd.host, err)
		}
	}

	// The agent key: the existing one, or a new one kept aside until the
	// link that authorises it succeeds.
	keyPath := rpcclient.CleanPath(c.String("agentkey"))
	if keyPath == "" {
		keyPath = filepath.Join(networkDir(c), channels.AgentKeyFileName)
	}
	agent, pendingKey, err := linkAgentKey(keyPath, c.Bool("new-agent-key"))
	if err != nil {
		return err
	}
	if pendingKey != "" {
		defer os.Remove(pendingKey)
	}

	client, err := newAPIClientWithMacaroon(c, "")
	if err != nil {
		return err
	}
	chResp, err := client.provider.CreateLinkChallenge(ctx,
		connect.NewRequest(&sluicerpc.CreateLinkChallengeRequest{
			NodePubkey:  node[:],
			AgentPubkey: agent[:],
			Alias:       alias,
		}))
	if err != nil {
		return linkError(client, "create link challenge", err)
	}
	if err := checkChallenge(c, chResp.Msg.Message, node, agent); err != nil {
		return err
	}

	sig, err := signer.SignMessage(ctx, []byte(chResp.Msg.Message))
	if err != nil {
		return fmt.Errorf("your lnd at %s: %w", lnd.host, err)
	}
	done, err := client.provider.CompleteLink(ctx,
		connect.NewRequest(&sluicerpc.CompleteLinkRequest{
			ChallengeId: chResp.Msg.ChallengeId,
			Signature:   sig,
		}))
	if err != nil {
		return linkError(client, "complete link", err)
	}

	if pendingKey != "" {
		if err := os.Rename(pendingKey, keyPath); err != nil {
			return fmt.Errorf("linked, but the new agent key stays "+
				"in %s: %w", pendingKey, err)
		}
	}
	macPath := rpcclient.CleanPath(c.String("macaroonout"))
	if macPath == "" {
		macPath = filepath.Join(networkDir(c), rpcclient.ProviderMacaroonFile)
	}
	if err := keyfile.WriteAll(macPath, done.Msg.ProviderMacaroon); err != nil {
		return fmt.Errorf("linked, but the provider macaroon was not "+
			"written: %w", err)
	}

	if wantJSON(c) {
		return printJSON(c.App.Writer, done.Msg)
	}
	out := c.App.Writer
	verb := "Linked"
	if done.Msg.Relinked {
		verb = "Re-linked"
	}
	fmt.Fprintf(out, "%s node %v as provider %s.\n", verb, node,
		done.Msg.Provider.ProviderId)
	if len(done.Msg.RevokedAgentPubkey) > 0 {
		fmt.Fprintf(out, "Agent key rotated: %x is revoked.\n",
			done.Msg.RevokedAgentPubkey)
	}
	fmt.Fprintf(out, "Agent key file:     %s\n", keyPath)
	fmt.Fprintf(out, "Provider macaroon:  %s\n\n", macPath)
	return printProvider(out, done.Msg.Provider)
}

// linkAgentKey returns the agent key to link: the one in path, or a new
// one (also when path does not exist). A new key for an existing file is
// written beside it and returned as pending, to be renamed over path once
// the link succeeds; a key for a missing file is written to path directly.
func linkAgentKey(path string, fresh bool) (channels.AgentKey, string,
	error) {

	_, statErr := os.Stat(path)
	switch {
	case statErr == nil && !fresh:
		_, pub, err := channels.ReadAgentKeyFile(path)
		return pub, "", err

	case statErr == nil:
		pending := path + ".new"
		_, pub, err := channels.NewAgentKeyFile(pending, true)
		return pub, pending, err

	case errors.Is(statErr, os.ErrNotExist):
		_, pub, err := channels.NewAgentKeyFile(path, false)
		return pub, "", err

	default:
		return channels.AgentKey{}, "", fmt.Errorf("agent key: %w",
			statErr)
	}
}

// checkChallenge refuses to sign a challenge that does not name this node,
// this agent key, the network, and the hub given by --hub, or that has
// expired: a node's signature goes only to text it has read.
func checkChallenge(c *cli.Context, msg string, node route.Vertex,
	agent channels.AgentKey) error {

	f, err := channels.ParseChallengeMessage(msg)
	if err != nil {
		return fmt.Errorf("not signing the challenge sluiced sent: %w",
			err)
	}
	network := c.GlobalString("network")
	switch {
	case f.Node != node:
		return fmt.Errorf("not signing: the challenge names node %v, "+
			"your lnd is %v", f.Node, node)
	case f.Agent != agent:
		return fmt.Errorf("not signing: the challenge names agent key "+
			"%v, yours is %v", f.Agent, agent)
	case f.Network != network:
		return fmt.Errorf("not signing: the challenge is for %s, "+
			"--network is %s", f.Network, network)
	case !time.Now().Before(f.Expires):
		return fmt.Errorf("not signing: the challenge expired at %v",
			f.Expires)
	}
	if hub := c.String("hub"); hub != "" && hub != f.Hub.String() {
		return fmt.Errorf("not signing: the challenge names hub %v, "+
			"--hub is %s", f.Hub, hub)
	}
	return nil
}

// linkError explains a refused link: the server's reason for the refusals
// linking defines, callError's explanation for the rest.
func linkError(client *apiClient, method string, err error) error {
	var connectErr *connect.Error
	if errors.As(err, &connectErr) {
		switch connectErr.Code() {
		case connect.CodeInvalidArgument, connect.CodeNotFound,
			connect.CodeFailedPrecondition,
			connect.CodeAlreadyExists, connect.CodePermissionDenied,
			connect.CodeUnauthenticated:

			return fmt.Errorf("sluiced refused the link (%s): %s",
				connectErr.Code(), connectErr.Message())
		}
	}
	return client.callError(method, err)
}

// providerClient connects with --macaroonpath, else the provider macaroon
// in <sluicedir>/<network> if there is one, else the operator's.
func providerClient(c *cli.Context) (*apiClient, error) {
	return newAPIClientWithMacaroon(c,
		rpcclient.ProviderFromCLI(c).MacaroonPath)
}

// providerTarget is a provider command's API client and the provider it
// acts for (providerClient, providerID).
func providerTarget(c *cli.Context) (*apiClient, string, error) {
	client, err := providerClient(c)
	if err != nil {
		return nil, "", err
	}
	id, err := providerID(c, client)
	if err != nil {
		return nil, "", err
	}
	return client, id, nil
}

// providerID is the command's argument, or the id the macaroon is bound
// to.
func providerID(c *cli.Context, client *apiClient) (string, error) {
	if id := c.Args().First(); id != "" {
		return id, nil
	}
	ctx, cancel := callContext()
	defer cancel()
	id, err := rpcclient.BoundProvider(ctx, client.sluice)
	var connectErr *connect.Error
	if errors.As(err, &connectErr) {
		return "", client.callError("getinfo", err)
	}
	return id, err
}

var providerShowCommand = cli.Command{
	Name:      "show",
	Usage:     "show a provider: node, agent key, rates, reachability",
	ArgsUsage: "[provider-id]",
	Description: "Shows the provider the macaroon is bound to, or the " +
		"named one (operator). The macaroon is --macaroonpath, else " +
		"<sluicedir>/<network>/provider.macaroon if it exists, else " +
		"the operator's. --check has the hub check again whether it " +
		"can reach the node.",
	Flags: []cli.Flag{
		cli.BoolFlag{
			Name:  "check",
			Usage: "check the hub's reach to the node anew",
		},
		jsonFlag,
	},
	Action: providerShow,
}

func providerShow(c *cli.Context) error {
	client, id, err := providerTarget(c)
	if err != nil {
		return err
	}
	ctx, cancel := callContext()
	defer cancel()
	resp, err := client.provider.GetProvider(ctx,
		connect.NewRequest(&sluicerpc.GetProviderRequest{
			ProviderId: id, CheckReach: c.Bool("check"),
		}))
	if err != nil {
		return client.callError("provider show", err)
	}
	if wantJSON(c) {
		return printJSON(c.App.Writer, resp.Msg)
	}
	if err := printProvider(c.App.Writer, resp.Msg.Provider); err != nil {
		return err
	}
	// The market's view: offer, online state, record. A sluiced without
	// a market says nothing more.
	rec, err := client.market.GetRecord(ctx, connect.NewRequest(
		&sluicerpc.GetRecordRequest{ProviderId: id}))
	if connect.CodeOf(err) == connect.CodeUnimplemented {
		return nil
	}
	if err != nil {
		return client.callError("provider show", err)
	}
	return printMarketRecord(c.App.Writer, rec.Msg.Provider)
}

var providerRatesCommand = cli.Command{
	Name:      "rates",
	Usage:     "set or show a provider's rate card",
	ArgsUsage: "[provider-id]",
	Description: "Rates are decimal millisatoshis per unit: --cpu per " +
		"core-millisecond, --mem per MiB-second, at most 18 decimal " +
		"places. Given rates replace those resources' rates and leave " +
		"the others; --clear starts from an empty card. Without " +
		"flags, shows the card. Jobs already created keep the card " +
		"they copied. The macaroon is chosen as for `provider show`.",
	Flags: []cli.Flag{
		cli.StringFlag{
			Name:  "cpu",
			Usage: "msat per core-millisecond, for example 0.000125",
		},
		cli.StringFlag{
			Name:  "mem",
			Usage: "msat per MiB-second, for example 0.002",
		},
		cli.BoolFlag{
			Name:  "clear",
			Usage: "remove every rate not given",
		},
		jsonFlag,
	},
	Action: providerRates,
}

func providerRates(c *cli.Context) error {
	client, id, err := providerTarget(c)
	if err != nil {
		return err
	}
	ctx, cancel := callContext()
	defer cancel()
	cur, err := client.provider.GetProvider(ctx,
		connect.NewRequest(&sluicerpc.GetProviderRequest{ProviderId: id}))
	if err != nil {
		return client.callError("provider rates", err)
	}

	rates := map[string]string{}
	if !c.Bool("clear") {
		for k, v := range cur.Msg.Provider.Rates {
			rates[k] = v
		}
	}
	changed := c.Bool("clear")
	for _, res := range channels.Resources {
		if v := c.String(string(res)); c.IsSet(string(res)) {
			rates[string(res)] = v
			changed = true
		}
	}
	provider := cur.Msg.Provider
	if changed {
		resp, err := client.provider.SetRates(ctx,
			connect.NewRequest(&sluicerpc.SetRatesRequest{
				ProviderId: id, Rates: rates,
			}))
		if err != nil {
			return client.callError("provider rates", err)
		}
		provider = resp.Msg.Provider
	}
	if wantJSON(c) {
		return printJSON(c.App.Writer, provider)
	}
	w := tabwriter.NewWriter(c.App.Writer, 0, 4, 2, ' ', 0)
	printRates(w, "rates", provider.Rates)
	return w.Flush()
}

var providerListCommand = cli.Command{
	Name:   "list",
	Usage:  "list every provider (operator)",
	Flags:  []cli.Flag{jsonFlag},
	Action: providerList,
}

func providerList(c *cli.Context) error {
	client, err := newAPIClient(c)
	if err != nil {
		return err
	}
	ctx, cancel := callContext()
	defer cancel()
	resp, err := client.provider.ListProviders(ctx,
		connect.NewRequest(&sluicerpc.ListProvidersRequest{}))
	if err != nil {
		return client.callError("provider list", err)
	}
	if wantJSON(c) {
		return printJSON(c.App.Writer, resp.Msg)
	}
	w := tabwriter.NewWriter(c.App.Writer, 0, 4, 2, ' ', 0)
	fmt.Fprintln(w, "PROVIDER\tALIAS\tNODE\tREACH\tLINKED")
	for _, p := range resp.Msg.Providers {
		fmt.Fprintf(w, "%s\t%s\t%x\t%s\t%s\n", p.ProviderId, p.Alias,
			p.NodePubkey, p.Reach.GetState(),
			localTime(p.LinkedAt.AsTime()))
	}
	return w.Flush()
}

// printProvider prints a provider for a person.
func printProvider(out io.Writer, p *sluicerpc.Provider) error {
	w := tabwriter.NewWriter(out, 0, 4, 2, ' ', 0)
	row := func(name, value string) {
		if value == "" {
			value = "-"
		}
		fmt.Fprintf(w, "%s:\t%s\n", name, value)
	}
	row("provider id", p.ProviderId)
	row("node", hex.EncodeToString(p.NodePubkey))
	row("alias", p.Alias)
	row("status", p.Status)
	row("agent key", hex.EncodeToString(p.AgentPubkey))
	row("linked", localTime(p.LinkedAt.AsTime()))
	if !p.CreatedAt.AsTime().Equal(p.LinkedAt.AsTime()) {
		row("first linked", localTime(p.CreatedAt.AsTime()))
	}
	reach := p.Reach.GetState()
	if p.Reach.GetReason() != "" {
		reach += ": " + p.Reach.GetReason()
	}
	row("reach", reach)
	if p.Reach.GetCheckedAt() != nil {
		row("reach checked", localTime(p.Reach.CheckedAt.AsTime()))
	}
	printRates(w, "rates", p.Rates)
	return w.Flush()
}

// printRates prints a rate card, one resource a line, with units.
func printRates(w io.Writer, label string, rates map[string]string) {
	if len(rates) == 0 {
		fmt.Fprintf(w, "%s:\tnone set (sluice provider rates --cpu "+
			"... --mem ...)\n", label)
		return
	}
	names := make([]string, 0, len(rates))
	for k := range rates {
		names = append(names, k)
	}
	slices.Sort(names)
	for i, name := range names {
		if i > 0 {
			label = ""
		}
		unit := channels.Resource(name).Unit()
		fmt.Fprintf(w, "%s\t%s %s msat per %s\n", labelOrBlank(label),
			name, rates[name], unit)
	}
}

// labelOrBlank is "label:" or nothing, for continuation lines.
func labelOrBlank(label string) string {
	if label == "" {
		return ""
	}
	return label + ":"
}

// localTime prints a time in the local zone, or "-" for none.
func localTime(t time.Time) string {
	if t.IsZero() || t.Unix() == 0 {
		return "-"
	}
	return t.Local().Format(time.RFC3339)
}
