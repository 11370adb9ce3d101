//go:build itest

package itest

import (
	"bytes"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"connectrpc.com/connect"
	"github.com/lightninglabs/taproot-assets/taprpc"
	"github.com/lightninglabs/taproot-assets/taprpc/mintrpc"
	"github.com/sluice-ln/sluice/devnet"
	"github.com/sluice-ln/sluice/failpoint"
	"github.com/sluice-ln/sluice/rpc/sluicerpc"
	"github.com/sluice-ln/sluice/shares"
)

// The genesis's failpoints, as package shares names them.
const (
	failpointGenesisAfterIntent   = "shares-genesis-after-intent"
	failpointGenesisAfterFinalize = "shares-genesis-after-finalize"
	failpointTrancheAfterFinalize = "shares-tranche-after-finalize"
	failpointBurnAfterSend        = "shares-burn-after-send"
)

// TestSharesGenesis mints the vault's shares as a Taproot Asset on the
// hub's tapd. A genesis before any share exists is refused. Metered work
// closes an epoch with a reward, so the ledger has a supply. The genesis
// is then killed (SIGKILL, by its failpoints) after its intent and after
// tapd broadcast its batch; after the restarts it ends with one batch of
// the name, and the asset tapd holds is the ledger's supply, in the
// share group, with the terms as its JSON metadata. A second genesis is
// refused. Two epochs of work are minted as tranches of the group with
// their metadata (sluiced killed once tapd broadcast the first one's
// batch: one batch of its name after the restart), a redemption's units
// are burned (sluiced killed once tapd made the burn: burned once), tapd's
// supply equals the ledger's after each, reconcile says so, and at the end
// provider1 verifies its reward with `sluice shares verify` and its own
// tapd (checkSharesVerify, the TestSharesVerify case).
func TestSharesGenesis(t *testing.T) {
	f := newMeteredJob(t, 10_000_000, map[string]string{
		"cpu": "2", "mem": "0.01"}, withVaultEpoch(vaultEpoch))
	s := f.s
	hubTapd := f.net.tapd(devnet.NodeHub)
	name := fmt.Sprintf("sluice-share-%d", time.Now().UnixNano())

	// No supply yet: nothing to mint.
	out, err := s.cli("operator", "shares", "genesis", "--name", name)
	if err == nil || !strings.Contains(err.Error(), "supply is zero") {
		t.Fatalf("genesis without supply: %v\n%s", err, out)
	}

	// Metered seconds are seconds since the job started: wait for five.
	time.Sleep(6 * time.Second)
	f.submitSeconds(t, 5)
	f.waitEpochsCover(t)
	supply := f.supply(t)
	if supply <= 0 {
		t.Fatalf("ledger supply %d after a rewarded epoch", supply)
	}

	// Killed after the intent: nothing reached tapd. From this start
	// on, closed epochs are synced to tapd every second.
	t.Setenv(failpoint.EnvVar, failpointGenesisAfterIntent)
	s.stop()
	s.addConf("tapd", "tapd.sharesync=1s")
	s.start()
	_, _ = s.cli("operator", "shares", "genesis", "--name", name,
		"--timeout", "30s")
	s.crashAt(t, failpointGenesisAfterIntent)
	if n := batchesNamed(t, hubTapd, name); n != 0 {
		t.Fatalf("%d batches after a crash before tapd was asked", n)
	}

	// The restart resumes it: tracked (never seen), sent, and killed
	// once tapd broadcast the batch.
	t.Setenv(failpoint.EnvVar, failpointGenesisAfterFinalize)
	s.launch()
	s.crashAt(t, failpointGenesisAfterFinalize)
	if n := batchesNamed(t, hubTapd, name); n != 1 {
		t.Fatalf("%d batches named %q after the second crash", n, name)
	}

	// The next start tracks the broadcast batch; a block confirms it.
	t.Setenv(failpoint.EnvVar, "")
	s.start()
	var asset *sluicerpc.ShareAsset
	eventually(t, waitTimeout, "the genesis to succeed", func() error {
		f.net.mine(1)
		out, err := s.cli("shares", "show", "--json")
		if err != nil {
			return fmt.Errorf("shares show: %v\n%s", err, out)
		}
		var resp sluicerpc.GetSharesResponse
		if err := sluicerpc.JSONUnmarshalOptions.Unmarshal(
			[]byte(out), &resp); err != nil {
			return permanent(fmt.Errorf("decode %s: %w", out, err))
		}
		if resp.Asset == nil || resp.Asset.State != "succeeded" {
			return fmt.Errorf("genesis %+v", resp.Asset)
		}
		asset = resp.Asset
		return nil
	})
	if n := batchesNamed(t, hubTapd, name); n != 1 {
		t.Fatalf("%d batches named %q, want 1", n, name)
	}

	// tapd holds the ledger's supply, in the share group, with the
	// terms as its metadata.
	if asset.AmountUnits != supply || asset.Name != name {
		t.Fatalf("genesis %+v, want %q of %d units", asset, name,
			supply)
	}
	if got := f.supply(t); got != supply {
		t.Fatalf("ledger supply moved from %d to %d", supply, got)
	}
	minted := hubTapd.asset(t, name)
	if minted.Amount != uint64(supply) ||
		!bytes.Equal(minted.AssetGenesis.AssetId, asset.AssetId) ||
		!bytes.Equal(minted.AssetGroup.TweakedGroupKey,
			asset.GroupKey) ||
		minted.DecimalDisplay.GetDecimalDisplay() !=
			shares.DecimalDisplay {

		t.Fatalf("tapd holds %+v, sluiced recorded %+v", minted, asset)
	}
	held, err := hubTapd.groupBalance(t, asset.GroupKey)
	if err != nil || held != uint64(supply) {
		t.Fatalf("hub tapd holds %d of the group (%v), want %d", held,
			err, supply)
	}
	ctx, cancel := rpcContext(t)
	defer cancel()
	meta, err := hubTapd.assets.FetchAssetMeta(ctx,
		&taprpc.FetchAssetMetaRequest{
			Asset: &taprpc.FetchAssetMetaRequest_AssetId{
				AssetId: asset.AssetId,
			},
		})
	if err != nil {
		t.Fatalf("fetch asset meta: %v", err)
	}
	var terms shares.Terms
	if err := json.Unmarshal(meta.Data, &terms); err != nil ||
		meta.Type != taprpc.AssetMetaType_META_TYPE_JSON {

		t.Fatalf("meta %s (%v): %v", meta.Data, meta.Type, err)
	}
	info, err := s.getInfo()
	if err != nil {
		t.Fatal(err)
	}
	if terms.Name != name || terms.Claim != shares.Claim ||
		terms.DecimalDisplay != shares.DecimalDisplay ||
		terms.Vault.Network != f.net.profile.Network ||
		terms.Vault.Hub != hex.EncodeToString(info.HubPubkey) {

		t.Fatalf("terms %+v, hub %s", terms, info.HubPubkey)
	}

	// A second genesis is refused, under any name.
	for _, n := range []string{name, name + "-2"} {
		out, err := s.cli("operator", "shares", "genesis", "--name", n)
		if err == nil || !strings.Contains(err.Error(), "done already") {
			t.Fatalf("second genesis %q: %v\n%s", n, err, out)
		}
	}
	if n := batchesNamed(t, hubTapd, name+"-2"); n != 0 {
		t.Fatalf("a refused genesis reached tapd")
	}

	// Two more epochs of work: each one's new shares are minted as its
	// tranche of the group, with the epoch's root in the metadata, and
	// tapd's supply follows the ledger's.
	// The first tranche's sluiced is killed once tapd broadcast its
	// batch: the restart tracks the batch by name, and the tranche is
	// minted once (checkTranche counts the batches of its name).
	var worked []*sluicerpc.Epoch
	for i := range 2 {
		if i == 0 {
			t.Setenv(failpoint.EnvVar, failpointTrancheAfterFinalize)
			s.stop()
			s.start()
		}
		f.submitSeconds(t, 3)
		if i == 0 {
			s.crashAt(t, failpointTrancheAfterFinalize)
			t.Setenv(failpoint.EnvVar, "")
			s.start()
		}
		epochs := f.waitEpochsCover(t)
		e := lastWorked(t, epochs)
		f.checkTranche(t, hubTapd, asset, name, e)
		worked = append(worked, e)
	}

	// provider1 redeems shares: the ledger burns them when the
	// redemption is finalized, and after the next epoch closes tapd burns
	// as many from the hub's holdings.
	holding := f.holding(t)
	if holding.SharesUnits < 2 {
		t.Fatalf("provider1 holds %d units", holding.SharesUnits)
	}
	units := holding.SharesUnits / 2
	f.redeemFinalized(t, units)

	// sluiced is killed once tapd made the burn: the restart finds it
	// in flight (unconfirmed, unlabelled) and waits for it, and the
	// units are burned once.
	t.Setenv(failpoint.EnvVar, failpointBurnAfterSend)
	s.stop()
	s.start()
	f.submitSeconds(t, 1)
	// The epoch's tranche comes first and needs a block to be final.
	eventually(t, waitTimeout, "sluiced to burn and die", func() error {
		if s.running() {
			f.net.mine(1)
			return errors.New("still running")
		}
		return nil
	})
	s.crashAt(t, failpointBurnAfterSend)
	t.Setenv(failpoint.EnvVar, "")
	s.start()
	e := lastWorked(t, f.waitEpochsCover(t))
	burn := fmt.Sprintf("%s-e%d-burn", name, e.Number)
	eventually(t, waitTimeout, "the epoch's burn", func() error {
		f.net.mine(1)
		var sum uint64
		for _, b := range hubTapd.burns(t, asset.GroupKey) {
			if b.Note == burn {
				sum += b.Amount
			}
		}
		if sum != uint64(units) {
			return fmt.Errorf("tapd burned %d units as %q, want %d",
				sum, burn, units)
		}
		return nil
	})
	f.waitSupplyMatches(t, hubTapd, asset.GroupKey)

	// Reconcile compares tapd's supply with the ledger's.
	eventually(t, waitTimeout, "reconcile to see the asset caught up",
		func() error {
			out, err := s.cli("operator", "reconcile")
			if err != nil {
				return fmt.Errorf("reconcile: %v\n%s", err, out)
			}
			if !strings.Contains(out, "share asset: tapd") ||
				!strings.Contains(out, ": ok (hub's tapd holds") ||
				strings.Contains(out, "still to mint") {

				return fmt.Errorf("reconcile says:\n%s", out)
			}
			return nil
		})

	f.checkSharesVerify(t, worked[0], worked[1])
	s.stop()
}

// checkSharesVerify runs `sluice shares verify` as provider1 with its own
// tapd (TestSharesVerify, issue 11 item 5): the reward in a worked epoch
// verifies against the epoch's tranche on chain, from sluiced's proof and
// from one the provider kept; a kept proof with a tampered leaf, and one
// checked against another epoch, fail at step 4; an epoch without a
// tranche fails at step 1.
func (f *meteredJob) checkSharesVerify(t *testing.T, e1, e2 *sluicerpc.Epoch) {
	t.Helper()
	s := f.s
	asProvider := func(args ...string) (string, error) {
		return s.cli(append([]string{"--macaroonpath", f.files.macaroon},
			args...)...)
	}
	verify := func(epoch uint64, extra ...string) (string, error) {
		args := append([]string{"shares", "verify", "--epoch",
			fmt.Sprint(epoch), "--devnet", f.net.profile.Dir}, extra...)
		return asProvider(args...)
	}
	mustFail := func(out string, err error, step int, why string) {
		t.Helper()
		t.Logf("failed as it should at step %d:\n%s", step, out)
		failed := fmt.Sprintf("step %d FAILED", step)
		if err == nil || !strings.Contains(out, failed) ||
			!strings.Contains(out, why) ||
			!strings.Contains(err.Error(), "FAILED at step") {

			t.Fatalf("want %q (%s): %v\n%s", failed, why, err, out)
		}
		for n := 1; n < step; n++ {
			if !strings.Contains(out, fmt.Sprintf("step %d ok", n)) {
				t.Fatalf("step %d not ok before step %d:\n%s",
					n, step, out)
			}
		}
	}

	// A worked epoch verifies, step by step, with sluiced's proof.
	out, err := verify(e1.Number)
	if err != nil {
		t.Fatalf("verify epoch %d: %v\n%s", e1.Number, err, out)
	}
	for n := 1; n <= 4; n++ {
		if !strings.Contains(out, fmt.Sprintf("step %d ok", n)) {
			t.Fatalf("verify epoch %d: no step %d ok:\n%s",
				e1.Number, n, out)
		}
	}
	if !strings.Contains(out, hex.EncodeToString(e1.Root)) ||
		!strings.Contains(out, "OK: provider "+f.providerID) {

		t.Fatalf("verify epoch %d (root %x):\n%s", e1.Number, e1.Root,
			out)
	}
	t.Logf("sluice shares verify --epoch %d:\n%s", e1.Number, out)

	// The operator may verify any provider's reward.
	out, err = s.cli("shares", "verify", "--epoch", fmt.Sprint(e2.Number),
		"--provider", f.providerID, "--devnet", f.net.profile.Dir)
	if err != nil || !strings.Contains(out, "OK: provider "+f.providerID) {
		t.Fatalf("the operator verifies epoch %d: %v\n%s", e2.Number,
			err, out)
	}

	// The proof as the provider keeps it verifies too; tampered, or
	// checked against another epoch, it fails at step 4.
	kept, err := asProvider("provider", "rewards", "verify", "--epoch",
		fmt.Sprint(e1.Number), "--json")
	if err != nil {
		t.Fatalf("keep the reward proof: %v\n%s", err, kept)
	}
	dir := t.TempDir()
	keptPath := filepath.Join(dir, "kept.json")
	writeTestFile(t, keptPath, []byte(kept))
	if out, err := verify(e1.Number, "--proof-file", keptPath); err != nil {
		t.Fatalf("verify the kept proof: %v\n%s", err, out)
	}
	var proof sluicerpc.GetRewardProofResponse
	if err := sluicerpc.JSONUnmarshalOptions.Unmarshal([]byte(kept),
		&proof); err != nil {

		t.Fatalf("decode the kept proof: %v\n%s", err, kept)
	}
	proof.Leaf.SharesUnits++
	tampered, err := sluicerpc.JSONMarshalOptions.Marshal(&proof)
	if err != nil {
		t.Fatal(err)
	}
	tamperedPath := filepath.Join(dir, "tampered.json")
	writeTestFile(t, tamperedPath, tampered)
	out, err = verify(e1.Number, "--proof-file", tamperedPath)
	mustFail(out, err, 4, "proof does not match root")

	out, err = verify(e2.Number, "--proof-file", keptPath)
	mustFail(out, err, 4, fmt.Sprintf("of epoch %d, not %d", e1.Number,
		e2.Number))

	// An epoch without a tranche: the first one, closed before the
	// genesis, which covered it.
	const none = 1
	for _, op := range f.shareOps(t).EpochOps {
		if op.Epoch == none {
			t.Fatalf("epoch %d has a %s: %+v", none, op.Kind, op)
		}
	}
	out, err = verify(none)
	mustFail(out, err, 1, fmt.Sprintf("no tranche for epoch %d", none))
}

// writeTestFile writes data to path, failing the test when it cannot.
func writeTestFile(t *testing.T, path string, data []byte) {
	t.Helper()
	if err := os.WriteFile(path, data, 0o600); err != nil {
		t.Fatal(err)
	}
}

// shareOps is `sluice shares show --json`.
func (f *meteredJob) shareOps(t *testing.T) *sluicerpc.GetSharesResponse {
	t.Helper()
	out, err := f.s.cli("shares", "show", "--json")
	if err != nil {
		t.Fatalf("shares show: %v\n%s", err, out)
	}
	var resp sluicerpc.GetSharesResponse
	if err := sluicerpc.JSONUnmarshalOptions.Unmarshal([]byte(out),
		&resp); err != nil {

		t.Fatalf("decode %s: %v", out, err)
	}
	return &resp
}

// redeemFinalized has provider1 redeem units and waits until the vault
// finalized the redemption, which burns the units in the ledger. Its
// payout is not waited for: these few units are worth less than the
// payout minimum, so they wait in the payable for more earnings
// (docs/vault.md).
func (f *meteredJob) redeemFinalized(t *testing.T, units int64) {
	t.Helper()
	key := fmt.Sprintf("itest-%d", time.Now().UnixNano())
	if _, err := f.prov.vault.Redeem(f.ctx, connect.NewRequest(
		&sluicerpc.RedeemRequest{ProviderId: f.providerID,
			SharesUnits: units, IdempotencyKey: key})); err != nil {

		t.Fatalf("redeem %d units: %v", units, err)
	}
	eventually(t, waitTimeout, "the redemption to be finalized",
		func() error {
			got, err := f.prov.vault.ListRedemptions(f.ctx,
				connect.NewRequest(&sluicerpc.ListRedemptionsRequest{
					FilterProviderId: f.providerID}))
			if err != nil {
				return err
			}
			for _, r := range got.Msg.Redemptions {
				if !strings.HasSuffix(r.Key, key) {
					continue
				}
				if r.SharesUnits != units {
					return permanent(fmt.Errorf("redemption "+
						"%+v of %d units", r, units))
				}
				if r.Status != "finalized" && r.Status != "paid" {
					return fmt.Errorf("redemption %d is %s",
						r.Id, r.Status)
				}
				return nil
			}
			return permanent(fmt.Errorf("no redemption with key %s",
				key))
		})
}

// lastWorked is the last closed epoch that metered seconds.
func lastWorked(t *testing.T, epochs []*sluicerpc.Epoch) *sluicerpc.Epoch {
	t.Helper()
	for i := len(epochs) - 1; i >= 0; i-- {
		if epochs[i].Closed && epochs[i].Seconds > 0 {
			return epochs[i]
		}
	}
	t.Fatalf("no closed epoch with work in %+v", epochs)
	return nil
}

// checkTranche waits until epoch e's tranche is minted into the share
// group with its metadata, and tapd's supply equals the ledger's.
func (f *meteredJob) checkTranche(t *testing.T, hubTapd *tapdNode,
	genesis *sluicerpc.ShareAsset, name string, e *sluicerpc.Epoch) {

	t.Helper()
	tranche := fmt.Sprintf("%s-e%d", name, e.Number)
	eventually(t, waitTimeout, "tranche "+tranche, func() error {
		f.net.mine(1)
		if n := batchesNamed(t, hubTapd, tranche); n != 1 {
			return fmt.Errorf("%d batches named %q", n, tranche)
		}
		if a := hubTapd.assetsNamed(t, tranche); len(a) != 1 {
			return fmt.Errorf("%d assets named %q", len(a), tranche)
		}
		return nil
	})
	minted := hubTapd.asset(t, tranche)
	if !bytes.Equal(minted.AssetGroup.TweakedGroupKey, genesis.GroupKey) {
		t.Fatalf("tranche %q in group %x, want %x", tranche,
			minted.AssetGroup.TweakedGroupKey, genesis.GroupKey)
	}
	ctx, cancel := rpcContext(t)
	defer cancel()
	meta, err := hubTapd.assets.FetchAssetMeta(ctx,
		&taprpc.FetchAssetMetaRequest{
			Asset: &taprpc.FetchAssetMetaRequest_AssetId{
				AssetId: minted.AssetGenesis.AssetId,
			},
		})
	if err != nil {
		t.Fatalf("fetch tranche meta: %v", err)
	}
	var m shares.TrancheMeta
	if err := json.Unmarshal(meta.Data, &m); err != nil {
		t.Fatalf("tranche meta %s: %v", meta.Data, err)
	}
	if m.Epoch != e.Number || m.UsageRoot != hex.EncodeToString(e.Root) ||
		m.TotalUnits != minted.Amount || m.LeafCount != 1 ||
		m.DecimalDisplay != shares.DecimalDisplay {

		t.Fatalf("tranche %q metadata %+v, epoch %+v, minted %d",
			tranche, m, e, minted.Amount)
	}
	f.waitSupplyMatches(t, hubTapd, genesis.GroupKey)
}

// waitSupplyMatches waits until what the hub's tapd holds of the group
// (all of its supply: nothing was withdrawn) equals the ledger's supply
// at the last epoch's close, which is the ledger's supply now: no seconds
// are metered meanwhile and auto-stake is off.
func (f *meteredJob) waitSupplyMatches(t *testing.T, hubTapd *tapdNode,
	groupKey []byte) {

	t.Helper()
	eventually(t, waitTimeout, "tapd's supply to equal the ledger's",
		func() error {
			held, err := hubTapd.groupBalance(t, groupKey)
			if err != nil {
				return err
			}
			if supply := f.supply(t); held != uint64(supply) {
				f.net.mine(1)
				return fmt.Errorf("hub tapd holds %d, the "+
					"ledger's supply is %d", held, supply)
			}
			return nil
		})
}

// supply is the ledger's share supply, as the vault shows it.
func (f *meteredJob) supply(t *testing.T) int64 {
	t.Helper()
	v, err := f.prov.vault.GetVault(f.ctx, connect.NewRequest(
		&sluicerpc.GetVaultRequest{}))
	if err != nil {
		t.Fatalf("get vault: %v", err)
	}
	return v.Msg.SupplyUnits
}

// batchesNamed counts the tapd's minting batches that hold an asset of
// the name.
func batchesNamed(t *testing.T, td *tapdNode, name string) int {
	t.Helper()
	ctx, cancel := rpcContext(t)
	defer cancel()
	resp, err := td.mint.ListBatches(ctx, &mintrpc.ListBatchRequest{})
	if err != nil {
		t.Fatalf("%s: list batches: %v", td.Name, err)
	}
	n := 0
	for _, b := range resp.Batches {
		for _, a := range b.GetBatch().GetAssets() {
			if a.GetName() == name {
				n++
			}
		}
	}
	return n
}
