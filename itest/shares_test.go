//go:build itest

package itest

import (
	"bytes"
	"encoding/hex"
	"encoding/json"
	"fmt"
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
)

// TestSharesGenesis mints the vault's shares as a Taproot Asset on the
// hub's tapd. A genesis before any share exists is refused. Metered work
// closes an epoch with a reward, so the ledger has a supply. The genesis
// is then killed (SIGKILL, by its failpoints) after its intent and after
// tapd broadcast its batch; after the restarts it ends with one batch of
// the name, and the asset tapd holds is the ledger's supply, in the
// share group, with the terms as its JSON metadata. A second genesis is
// refused.
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

	// Killed after the intent: nothing reached tapd.
	t.Setenv(failpoint.EnvVar, failpointGenesisAfterIntent)
	s.stop()
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
	s.stop()
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
