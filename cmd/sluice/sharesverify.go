package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"time"

	"connectrpc.com/connect"
	"github.com/btcsuite/btcd/chaincfg/chainhash"
	"github.com/btcsuite/btcd/wire"
	"github.com/sluice-ln/sluice/devnet"
	"github.com/sluice-ln/sluice/hubnode"
	"github.com/sluice-ln/sluice/ledger"
	"github.com/sluice-ln/sluice/outbound"
	"github.com/sluice-ln/sluice/rpc/rpcclient"
	"github.com/sluice-ln/sluice/rpc/sluicerpc"
	sharespkg "github.com/sluice-ln/sluice/shares"
	"github.com/sluice-ln/sluice/yield"
	"github.com/urfave/cli"
)

var sharesVerifyCommand = cli.Command{
	Name:  "verify",
	Usage: "check with your own tapd that a provider's reward is in its epoch's tranche on chain",
	Description: `Checks, step by step, that provider --provider's reward in closed epoch
--epoch is part of what the hub's tapd issued on chain for that epoch
(docs/shares.md, "Verifying a reward share"):

  1. sluiced names the epoch's tranche: its asset id (GetShares);
  2. your tapd syncs the share group's issuance proofs from the hub's
     universe, and finds the tranche's proof valid (VerifyProof),
     anchored where sluiced says, in a block of its chain;
  3. the proof reveals the metadata the asset id commits to, and it is
     the metadata of a tranche of epoch --epoch;
  4. the provider's leaf and Merkle path (GetRewardProof, or
     --proof-file) lead to the metadata's usage_root.

Each step prints ok or FAILED; a failed step ends the check with a
non-zero exit. --proof-file takes a reward proof kept from 'sluice
provider rewards verify --epoch N --json' instead of asking sluiced.

Your tapd: --tapd.host, --tapd.tlspath and --tapd.macaroonpath (a
macaroon that may sync its universe: admin.macaroon), or, on a local
network, --devnet DIR (provider1's tapd, or --node's), which also names
the hub's universe and points --rpcserver and --sluicedir at the
network's sluiced unless they are given. The hub's universe is
--universe, else your tapd's federation servers. The macaroon for
sluiced is chosen as for 'provider show': a provider may verify its
own rewards, the operator anyone's.`,
	Flags: []cli.Flag{
		cli.Uint64Flag{Name: "epoch", Usage: "the closed epoch's number"},
		cli.StringFlag{Name: "provider", Usage: "the provider's id " +
			"(default: the one the macaroon is bound to)"},
		cli.StringFlag{Name: "tapd.host", Usage: "host:port of your " +
			"tapd's gRPC"},
		cli.StringFlag{Name: "tapd.tlspath", Usage: "your tapd's " +
			"tls.cert"},
		cli.StringFlag{Name: "tapd.macaroonpath", Usage: "a macaroon " +
			"of your tapd that may sync its universe and verify " +
			"proofs (admin.macaroon will do)"},
		cli.StringFlag{Name: "universe", Usage: "the hub's universe, " +
			"host:port (default: your tapd's federation servers)"},
		cli.StringFlag{Name: "devnet", Usage: "a local network's " +
			"directory: your tapd and the hub's universe from its " +
			"profile"},
		cli.StringFlag{Name: "node", Value: devnet.NodeProvider1,
			Usage: "with --devnet, whose tapd is yours"},
		cli.StringFlag{Name: "proof-file", Usage: "a reward proof " +
			"to verify, as 'provider rewards verify --json' prints " +
			"it, instead of sluiced's"},
		cli.DurationFlag{Name: "timeout", Value: 2 * time.Minute,
			Usage: "how long the whole check may take"},
		jsonFlag,
	},
	Action: sharesVerify,
}

func sharesVerify(c *cli.Context) error {
	epoch := c.Uint64("epoch")
	if epoch == 0 {
		return errors.New("give --epoch N (epochs count from 1)")
	}
	if c.NArg() > 0 {
		return fmt.Errorf("unexpected argument %q: the provider is "+
			"--provider", c.Args().First())
	}
	tf, err := resolveTapd(c)
	if err != nil {
		return err
	}
	var kept *sharespkg.RewardProof
	if path := rpcclient.CleanPath(c.String("proof-file")); path != "" {
		p, err := readRewardProof(path)
		if err != nil {
			return fmt.Errorf("--proof-file: %w", err)
		}
		kept = &p
	}
	client, err := providerClient(c)
	if err != nil {
		return err
	}
	id := c.String("provider")
	if id == "" {
		if id, err = providerID(c, client); err != nil {
			return err
		}
	}

	tapd, err := hubnode.DialTapdProofs(tf.host, tf.tlsPath,
		tf.macaroonPath, c.GlobalString("network"))
	if err != nil {
		return err
	}
	defer tapd.Close()
	ctx, cancel := context.WithTimeout(context.Background(),
		c.Duration("timeout"))
	defer cancel()
	network, err := tapd.Network(ctx)
	if err != nil {
		return fmt.Errorf("your tapd at %s: %w", tf.host, err)
	}
	if want := c.GlobalString("network"); network != want {
		return fmt.Errorf("your tapd at %s runs on %s, not %s",
			tf.host, network, want)
	}

	rep, verr := sharespkg.Verify(ctx, sharespkg.VerifyRequest{
		Epoch:      epoch,
		ProviderID: id,
		Universe:   tf.universe,
		Reward:     kept,
	}, &apiVerifyHub{client: client}, tapd)
	if verr != nil && len(rep.Steps) == 0 {
		return verr
	}
	if wantJSON(c) {
		b, err := json.MarshalIndent(rep, "", "    ")
		if err != nil {
			return err
		}
		fmt.Fprintln(c.App.Writer, string(b))
		return verr
	}
	printVerifyReport(c.App.Writer, rep)
	return verr
}

// printVerifyReport prints each step with ok or FAILED, and the outcome.
func printVerifyReport(out io.Writer, rep sharespkg.Report) {
	fmt.Fprintf(out, "verifying provider %s's reward in epoch %d\n",
		rep.ProviderID, rep.Epoch)
	for _, s := range rep.Steps {
		verdict := "ok"
		if !s.OK {
			verdict = "FAILED"
		}
		fmt.Fprintf(out, "step %d %s: %s\n        %s\n", s.Number,
			verdict, s.Title, s.Detail)
	}
	if rep.OK() {
		fmt.Fprintf(out, "OK: provider %s's reward in epoch %d is in "+
			"the usage root of tranche %s, which the chain "+
			"anchors\n", rep.ProviderID, rep.Epoch, rep.AssetID)
	}
}

// apiVerifyHub asks sluiced's API what verification needs of the hub.
type apiVerifyHub struct {
	client *apiClient
}

var _ sharespkg.VerifyHub = (*apiVerifyHub)(nil)

// ShareOps reads GetShares.
func (h *apiVerifyHub) ShareOps(ctx context.Context) ([]byte,
	[]sharespkg.EpochOp, error) {

	resp, err := h.client.shares.GetShares(ctx,
		connect.NewRequest(&sluicerpc.GetSharesRequest{}))
	if err != nil {
		return nil, nil, h.client.callError("GetShares", err)
	}
	a := resp.Msg.Asset
	if a == nil || a.State != string(outbound.StatusSucceeded) {
		return nil, nil, sharespkg.ErrNoGenesis
	}
	ops := make([]sharespkg.EpochOp, 0, len(resp.Msg.EpochOps))
	for _, o := range resp.Msg.EpochOps {
		op := sharespkg.EpochOp{
			Name:    o.Name,
			Epoch:   o.Epoch,
			Kind:    sharespkg.MintKind(o.Kind),
			Amount:  ledger.Shares(o.AmountUnits),
			State:   outbound.Status(o.State),
			Failure: o.Failure,
			AssetID: o.AssetId,
		}
		if o.Kind == string(sharespkg.KindTranche) && o.Anchor != "" {
			p, err := wire.NewOutPointFromString(o.Anchor)
			if err != nil {
				return nil, nil, fmt.Errorf("tranche %q: anchor "+
					"%q: %w", o.Name, o.Anchor, err)
			}
			op.Anchor = *p
		}
		ops = append(ops, op)
	}
	return a.GroupKey, ops, nil
}

// RewardProof reads GetRewardProof.
func (h *apiVerifyHub) RewardProof(ctx context.Context, epoch uint64,
	providerID string) (sharespkg.RewardProof, error) {

	resp, err := h.client.vault.GetRewardProof(ctx, connect.NewRequest(
		&sluicerpc.GetRewardProofRequest{Epoch: epoch,
			ProviderId: providerID}))
	if err != nil {
		return sharespkg.RewardProof{}, h.client.callError(
			"GetRewardProof", err)
	}
	return apiRewardProof(resp.Msg)
}

// readRewardProof reads a reward proof in the API's JSON from path.
func readRewardProof(path string) (sharespkg.RewardProof, error) {
	raw, err := os.ReadFile(path)
	if err != nil {
		return sharespkg.RewardProof{}, err
	}
	var m sluicerpc.GetRewardProofResponse
	if err := sluicerpc.JSONUnmarshalOptions.Unmarshal(raw, &m); err != nil {
		return sharespkg.RewardProof{}, fmt.Errorf("%s: %w", path, err)
	}
	if m.Leaf == nil {
		return sharespkg.RewardProof{}, fmt.Errorf("%s: no leaf", path)
	}
	return apiRewardProof(&m)
}

// apiRewardProof is the API's reward proof in package shares' terms; hashes
// keep SHA-256's byte order.
func apiRewardProof(m *sluicerpc.GetRewardProofResponse) (sharespkg.RewardProof,
	error) {

	l := m.GetLeaf()
	p := sharespkg.RewardProof{
		Leaf: yield.Leaf{
			Epoch:      l.GetEpoch(),
			ProviderID: l.GetProviderId(),
			Seconds:    l.GetSeconds(),
			Earned:     ledger.MilliSatoshi(l.GetEarnedMsat()),
			Shares:     ledger.Shares(l.GetSharesUnits()),
		},
		Proof: yield.Proof{Index: m.Index, Count: m.Count},
	}
	if len(m.Root) > 0 {
		root, err := chainhash.NewHash(m.Root)
		if err != nil {
			return sharespkg.RewardProof{}, fmt.Errorf("root: %w", err)
		}
		p.Root = *root
	}
	for i, s := range m.Siblings {
		h, err := chainhash.NewHash(s)
		if err != nil {
			return sharespkg.RewardProof{}, fmt.Errorf("sibling %d: %w",
				i, err)
		}
		p.Proof.Siblings = append(p.Proof.Siblings, *h)
	}
	return p, nil
}
