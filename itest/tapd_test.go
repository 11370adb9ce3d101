//go:build itest

package itest

import (
	"bytes"
	"encoding/hex"
	"fmt"
	"testing"

	"github.com/btcsuite/btcd/chaincfg/chainhash"
	"github.com/lightninglabs/taproot-assets/taprpc"
	"github.com/lightninglabs/taproot-assets/taprpc/mintrpc"
	"github.com/lightninglabs/taproot-assets/taprpc/universerpc"
	"github.com/sluice-ln/sluice/devnet"
)

// TestTapdMintAndSend: the hub's tapd mints a grouped asset (as reward
// shares will be), provider1's tapd makes an address for part of it, the
// hub sends to it, and provider1's tapd shows the balance once the proof
// has come through the hub's universe courier.
func TestTapdMintAndSend(t *testing.T) {
	net := newNetwork(t)
	hubTapd := net.tapd(devnet.NodeHub)
	provTapd := net.tapd(devnet.NodeProvider1)

	const (
		name  = "sluice-itest-share"
		total = 1000
		sent  = 250
	)

	// Mint a normal asset with a new group key, as `tapcli assets mint
	// --new_grouped_asset` does, and finalise the batch.
	ctx, cancel := rpcContext(t)
	defer cancel()
	_, err := hubTapd.mint.MintAsset(ctx, &mintrpc.MintAssetRequest{
		Asset: &mintrpc.MintAsset{
			AssetType: taprpc.AssetType_NORMAL,
			Name:      name,
			AssetMeta: &taprpc.AssetMeta{
				Data: []byte("sluice itest reward shares"),
				Type: taprpc.AssetMetaType_META_TYPE_OPAQUE,
			},
			Amount:          total,
			NewGroupedAsset: true,
		},
	})
	if err != nil {
		t.Fatalf("mint asset: %v", err)
	}
	fin, err := hubTapd.mint.FinalizeBatch(ctx,
		&mintrpc.FinalizeBatchRequest{})
	if err != nil {
		t.Fatalf("finalize batch: %v", err)
	}
	if fin.Batch.State != mintrpc.BatchState_BATCH_STATE_BROADCAST {
		t.Fatalf("finalized batch in state %v, want BROADCAST",
			fin.Batch.State)
	}
	net.mine(1)
	batchKey := fin.Batch.BatchKey
	eventually(t, waitTimeout, "the minting batch to be final", func() error {
		ctx, cancel := rpcContext(t)
		defer cancel()
		resp, err := hubTapd.mint.ListBatches(ctx,
			&mintrpc.ListBatchRequest{
				Filter: &mintrpc.ListBatchRequest_BatchKey{
					BatchKey: batchKey,
				},
			})
		if err != nil {
			return err
		}
		if len(resp.Batches) != 1 {
			return permanent(fmt.Errorf("%d batches with key %x",
				len(resp.Batches), batchKey))
		}
		if s := resp.Batches[0].Batch.State; s !=
			mintrpc.BatchState_BATCH_STATE_FINALIZED {

			return fmt.Errorf("batch state %v", s)
		}
		return nil
	})

	minted := hubTapd.asset(t, name)
	if minted.Amount != total {
		t.Fatalf("minted %d units, want %d", minted.Amount, total)
	}
	if minted.AssetGroup == nil ||
		len(minted.AssetGroup.TweakedGroupKey) != 33 {

		t.Fatalf("minted asset has no group key: %+v",
			minted.AssetGroup)
	}
	if minted.ChainAnchor == nil || minted.ChainAnchor.BlockHeight == 0 {
		t.Fatalf("minted asset not anchored in a block: %+v",
			minted.ChainAnchor)
	}
	assetID := minted.AssetGenesis.AssetId
	groupKey := minted.AssetGroup.TweakedGroupKey

	// The provider learns the issuance from the hub's universe, then
	// makes an address for part of it.
	_, err = provTapd.universe.SyncUniverse(ctx, &universerpc.SyncRequest{
		UniverseHost: hubTapd.RPCHost,
		SyncMode:     universerpc.UniverseSyncMode_SYNC_ISSUANCE_ONLY,
		SyncTargets: []*universerpc.SyncTarget{{
			Id: &universerpc.ID{
				Id: &universerpc.ID_AssetId{
					AssetId: assetID,
				},
				ProofType: universerpc.ProofType_PROOF_TYPE_ISSUANCE,
			},
		}},
	})
	if err != nil {
		t.Fatalf("provider1 tapd: sync universe from the hub: %v", err)
	}
	addr, err := provTapd.assets.NewAddr(ctx, &taprpc.NewAddrRequest{
		AssetId: assetID,
		Amt:     sent,
	})
	if err != nil {
		t.Fatalf("provider1 tapd: new address: %v", err)
	}
	if !bytes.Equal(addr.AssetId, assetID) || addr.Amount != sent ||
		!bytes.Equal(addr.GroupKey, groupKey) {

		t.Fatalf("address for asset %x amount %d group %x, want %x, "+
			"%d, %x", addr.AssetId, addr.Amount, addr.GroupKey,
			assetID, sent, groupKey)
	}

	send, err := hubTapd.assets.SendAsset(ctx, &taprpc.SendAssetRequest{
		TapAddrs: []string{addr.Encoded},
	})
	if err != nil {
		t.Fatalf("hub tapd: send to provider1's address: %v", err)
	}
	if txid, err := chainhash.NewHash(send.Transfer.AnchorTxHash); err == nil {
		t.Logf("sent %d units in anchor tx %v", sent, txid)
	}
	net.mine(1)

	eventually(t, waitTimeout, "provider1's tapd to complete the receive",
		func() error {
			ctx, cancel := rpcContext(t)
			defer cancel()
			resp, err := provTapd.assets.AddrReceives(ctx,
				&taprpc.AddrReceivesRequest{
					FilterAddr: addr.Encoded,
				})
			if err != nil {
				return err
			}
			if len(resp.Events) != 1 {
				return fmt.Errorf("%d receive events",
					len(resp.Events))
			}
			if s := resp.Events[0].Status; s !=
				taprpc.AddrEventStatus_ADDR_EVENT_STATUS_COMPLETED {

				return fmt.Errorf("receive status %v", s)
			}
			return nil
		})

	eventually(t, waitTimeout, "the group balances to move", func() error {
		if got, err := provTapd.groupBalance(t, groupKey); err != nil {
			return err
		} else if got != sent {
			return fmt.Errorf("provider1 holds %d, want %d", got,
				sent)
		}
		if got, err := hubTapd.groupBalance(t, groupKey); err != nil {
			return err
		} else if got != total-sent {
			return fmt.Errorf("hub holds %d, want %d", got,
				total-sent)
		}
		return nil
	})
}

// asset returns the tapd's one asset of the given name, failing the test
// when there is not exactly one.
func (td *tapdNode) asset(t testing.TB, name string) *taprpc.Asset {
	t.Helper()
	found := td.assetsNamed(t, name)
	if len(found) != 1 {
		t.Fatalf("%s: %d assets named %q, want 1", td.Name, len(found),
			name)
	}
	return found[0]
}

// assetsNamed returns the unspent assets of the name that the tapd holds.
func (td *tapdNode) assetsNamed(t testing.TB, name string) []*taprpc.Asset {
	t.Helper()
	ctx, cancel := rpcContext(t)
	defer cancel()
	resp, err := td.assets.ListAssets(ctx, &taprpc.ListAssetRequest{})
	if err != nil {
		t.Fatalf("%s: list assets: %v", td.Name, err)
	}
	var found []*taprpc.Asset
	for _, a := range resp.Assets {
		if a.AssetGenesis != nil && a.AssetGenesis.Name == name {
			found = append(found, a)
		}
	}
	return found
}

// burns returns the group's burns the tapd lists.
func (td *tapdNode) burns(t testing.TB, groupKey []byte) []*taprpc.AssetBurn {
	t.Helper()
	ctx, cancel := rpcContext(t)
	defer cancel()
	resp, err := td.assets.ListBurns(ctx, &taprpc.ListBurnsRequest{
		TweakedGroupKey: groupKey,
	})
	if err != nil {
		t.Fatalf("%s: list burns: %v", td.Name, err)
	}
	return resp.Burns
}

// groupBalance returns what the tapd holds of an asset group.
func (td *tapdNode) groupBalance(t testing.TB, groupKey []byte) (uint64,
	error) {

	ctx, cancel := rpcContext(t)
	defer cancel()
	resp, err := td.assets.ListBalances(ctx, &taprpc.ListBalancesRequest{
		GroupBy:        &taprpc.ListBalancesRequest_GroupKey{GroupKey: true},
		GroupKeyFilter: groupKey,
	})
	if err != nil {
		return 0, fmt.Errorf("%s: list balances: %w", td.Name, err)
	}
	b, ok := resp.AssetGroupBalances[hex.EncodeToString(groupKey)]
	if !ok {
		return 0, nil
	}
	return b.Balance, nil
}
