//go:build itest

package itest

import (
	"bytes"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"connectrpc.com/connect"
	"github.com/btcsuite/btcd/btcutil/bech32"
	"github.com/lightninglabs/taproot-assets/taprpc"
	"github.com/lightninglabs/taproot-assets/taprpc/mintrpc"
	"github.com/sluice-ln/sluice/devnet"
	"github.com/sluice-ln/sluice/failpoint"
	"github.com/sluice-ln/sluice/rpc/sluicerpc"
	"github.com/sluice-ln/sluice/shares"
)

// The withdrawal rounds' failpoints, as package shares names them.
const (
	failpointWithdrawAfterIntent = "shares-withdraw-after-intent"
	failpointWithdrawAfterSend   = "shares-withdraw-after-send"
)

// withWithdrawInterval sends queued share withdrawals every interval.
func withWithdrawInterval(interval time.Duration) func(*sluiced) {
	return func(s *sluiced) {
		s.addConf("tapd", "tapd.withdrawinterval="+interval.String())
		s.addConf("tapd", "tapd.depositinterval="+interval.String())
	}
}

// TestSharesWithdraw takes provider1's shares out of the hub's custody to
// its own tapd. Metered work closes an epoch with a reward and the share
// asset is minted. provider1 makes a V2 group key address on its tapd and
// registers it (`sluice provider shares address --devnet`); an address of
// another network or of another asset group is refused, and so is a
// withdrawal above its custody. A withdrawal is queued; sluiced is killed
// (SIGKILL, by its failpoints) after the round's intent, then after tapd
// logged its send. After the restarts tapd has exactly one transfer of
// the round's label, the withdrawal is still sending until the send is 6
// blocks deep, then withdrawn; provider1's tapd holds the units, the
// supply did not move and the books reconcile. Then provider1 sends part
// back from its tapd to its deposit address on the hub's tapd (`sluice
// provider shares deposit --devnet`): it is credited to custody once it
// is 6 deep, once across a restart, the books reconcile, and the custody
// can be redeemed.
func TestSharesWithdraw(t *testing.T) {
	f := newMeteredJob(t, 10_000_000, map[string]string{
		"cpu": "2", "mem": "0.01"}, withVaultEpoch(vaultEpoch),
		withWithdrawInterval(time.Second))
	s := f.s
	hubTapd := f.net.tapd(devnet.NodeHub)
	provTapd := f.net.tapd(devnet.NodeProvider1)
	mac := "--macaroonpath=" + f.files.macaroon
	name := fmt.Sprintf("sluice-share-%d", time.Now().UnixNano())

	// Metered seconds are seconds since the job started: wait for five,
	// then an epoch rewards them in shares.
	time.Sleep(6 * time.Second)
	f.submitSeconds(t, 5)
	f.waitEpochsCover(t)
	supply := f.supply(t)
	held := f.custody(t)
	if supply <= 0 || held <= 1 {
		t.Fatalf("supply %d, provider1 holds %d after a rewarded "+
			"epoch", supply, held)
	}

	// Before the genesis there is no group to make an address for.
	out, err := s.cli(mac, "provider", "shares", "address", "--devnet",
		f.net.dir, "--node", devnet.NodeProvider1)
	if err == nil || !strings.Contains(err.Error(), "no genesis") {
		t.Fatalf("address before genesis: %v\n%s", err, out)
	}

	// The genesis, and, in the same blocks, another asset group on
	// provider1's own tapd.
	_, _ = s.cli("operator", "shares", "genesis", "--name", name,
		"--timeout", "2s")
	otherGroup := mintOtherGroup(t, f, provTapd)
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
	other := otherGroup()

	// Addresses of another network and of another group are refused,
	// each with its own error.
	for _, tc := range []struct{ addr, want string }{
		{mainnetAddr(t), "another network"},
		{other, "another asset group"},
	} {
		out, err := s.cli(mac, "provider", "shares", "address",
			"--addr", tc.addr)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Fatalf("address %s: %v, want %q\n%s", tc.addr, err,
				tc.want, out)
		}
	}

	// provider1's own address: V2, the share group, no amount.
	out, err = s.cli(mac, "provider", "shares", "address", "--devnet",
		f.net.dir, "--node", devnet.NodeProvider1, "--json")
	if err != nil {
		t.Fatalf("provider shares address: %v\n%s", err, out)
	}
	var set sluicerpc.SetWithdrawAddressResponse
	if err := sluicerpc.JSONUnmarshalOptions.Unmarshal([]byte(out),
		&set); err != nil {
		t.Fatalf("decode %s: %v", out, err)
	}
	if !bytes.Equal(set.Address.GroupKey, asset.GroupKey) ||
		!strings.HasPrefix(set.Address.Addr, "taprt1") {

		t.Fatalf("address %+v for group %x", set.Address, asset.GroupKey)
	}

	// Above custody: refused, nothing moves.
	out, err = s.cli(mac, "provider", "shares", "withdraw", "--amount",
		unitsArg(held+1))
	if err == nil || !strings.Contains(err.Error(), "above the shares") {
		t.Fatalf("withdraw above custody: %v\n%s", err, out)
	}

	// Killed after the round's intent: tapd saw nothing.
	amount := held / 2
	t.Setenv(failpoint.EnvVar, failpointWithdrawAfterIntent)
	s.stop()
	s.start()
	// The round may start, and kill sluiced, before the answer is
	// written: the request is checked once sluiced runs again.
	out, err = s.cli(mac, "provider", "shares", "withdraw", "--amount",
		unitsArg(amount), "--json")
	if err != nil {
		t.Logf("withdraw answered %v\n%s", err, out)
	}
	s.crashAt(t, failpointWithdrawAfterIntent)
	if n := transfersLabelled(t, hubTapd, shares.LabelPrefix); n != 0 {
		t.Fatalf("%d transfers after a crash before tapd was asked", n)
	}

	// The restart tracks the round (not listed), sends it once the
	// grace has passed, and is killed once tapd logged the send.
	t.Setenv(failpoint.EnvVar, failpointWithdrawAfterSend)
	s.launch()
	s.crashAt(t, failpointWithdrawAfterSend)
	if n := transfersLabelled(t, hubTapd, shares.LabelPrefix); n != 1 {
		t.Fatalf("%d transfers after the second crash, want 1", n)
	}

	// The next start tracks the send; until it is 6 blocks deep the
	// shares are withdrawing, not withdrawn.
	t.Setenv(failpoint.EnvVar, "")
	s.start()
	w := f.withdrawals(t)
	if len(w) != 1 || w[0].State != "sending" ||
		w[0].AmountUnits != amount {

		t.Fatalf("withdrawals before the blocks %+v", w)
	}
	if got := f.custody(t); got != held-amount {
		t.Fatalf("custody %d while sending, want %d", got, held-amount)
	}
	f.net.mine(1)
	eventually(t, waitTimeout, "provider1's tapd to hold the units",
		func() error {
			got, err := provTapd.groupBalance(t, asset.GroupKey)
			if err != nil {
				return err
			}
			if got != uint64(amount) {
				return fmt.Errorf("provider1 holds %d, want %d",
					got, amount)
			}
			return nil
		})
	if w := f.withdrawals(t); w[0].State != "sending" {
		t.Fatalf("withdrawn at one confirmation: %+v", w[0])
	}
	eventually(t, waitTimeout, "the withdrawal to complete", func() error {
		f.net.mine(1)
		w := f.withdrawals(t)
		if w[0].State != "withdrawn" {
			return fmt.Errorf("withdrawal %s", w[0].State)
		}
		return nil
	})

	// One transfer, the supply as it was, the books reconciled.
	if n := transfersLabelled(t, hubTapd, shares.LabelPrefix); n != 1 {
		t.Fatalf("%d transfers labelled %s*, want 1", n,
			shares.LabelPrefix)
	}
	if got := f.supply(t); got != supply {
		t.Fatalf("supply moved from %d to %d", supply, got)
	}
	if got := f.custody(t); got != held-amount {
		t.Fatalf("custody %d after the withdrawal, want %d", got,
			held-amount)
	}
	hubHeld, err := hubTapd.groupBalance(t, asset.GroupKey)
	if err != nil || hubHeld != uint64(supply-amount) {
		t.Fatalf("hub tapd holds %d (%v), want %d", hubHeld, err,
			supply-amount)
	}
	s.wantReconciled(t)

	// Back: provider1 sends part of what it withdrew from its own tapd
	// to its deposit address on the hub's tapd (the same address each
	// time it asks). The hub credits the output once it is 6 deep, once,
	// across a kill -9, and the shares can be redeemed.
	depositAddr := func() string {
		t.Helper()
		out, err := s.cli(mac, "provider", "shares", "deposit-address",
			"--json")
		if err != nil {
			t.Fatalf("deposit-address: %v\n%s", err, out)
		}
		var resp sluicerpc.GetDepositAddressResponse
		if err := sluicerpc.JSONUnmarshalOptions.Unmarshal([]byte(out),
			&resp); err != nil {
			t.Fatalf("decode %s: %v", out, err)
		}
		return resp.Address.GetAddr()
	}
	dAddr := depositAddr()
	if !strings.HasPrefix(dAddr, "taprt1") || depositAddr() != dAddr {
		t.Fatalf("deposit address %q, then another", dAddr)
	}
	back := max(amount/2, 1)
	out, err = s.cli(mac, "provider", "shares", "deposit", "--amount",
		unitsArg(back), "--devnet", f.net.dir, "--node",
		devnet.NodeProvider1)
	if err != nil || !strings.Contains(out, "anchor tx") {
		t.Fatalf("deposit: %v\n%s", err, out)
	}
	f.net.mine(1)
	eventually(t, waitTimeout, "the deposit to be credited", func() error {
		ds := f.deposits(t)
		if len(ds) == 0 {
			f.net.mine(1)
			return errors.New("no deposit credited")
		}
		if len(ds) != 1 || ds[0].AmountUnits != back ||
			ds[0].Addr != dAddr {

			return permanent(fmt.Errorf("deposits %+v", ds))
		}
		return nil
	})
	credited := f.deposits(t)[0]
	info, err := hubTapd.assets.GetInfo(f.ctx, &taprpc.GetInfoRequest{})
	if err != nil {
		t.Fatalf("hub tapd getinfo: %v", err)
	}
	if tip := info.BlockHeight; tip-credited.BlockHeight+1 < 6 {
		t.Fatalf("credited at height %d, %d deep", tip,
			tip-credited.BlockHeight+1)
	}
	s.stop()
	s.start()
	f.net.mine(2)
	time.Sleep(3 * time.Second)
	if ds := f.deposits(t); len(ds) != 1 {
		t.Fatalf("deposits after a restart: %+v", ds)
	}
	if got := f.custody(t); got != held-amount+back {
		t.Fatalf("custody %d after the deposit, want %d", got,
			held-amount+back)
	}
	hubHeld, err = hubTapd.groupBalance(t, asset.GroupKey)
	if err != nil || hubHeld != uint64(supply-amount+back) {
		t.Fatalf("hub tapd holds %d (%v) after the deposit, want %d",
			hubHeld, err, supply-amount+back)
	}
	s.wantReconciled(t)
	if a := s.reconcileCLI(t).ShareAsset; !a.GetHeldCompared() ||
		a.HeldWantUnits != uint64(supply-amount+back) {

		t.Fatalf("reconcile's holdings check after the deposit: %+v", a)
	}
	out, err = s.cli(mac, "provider", "redeem", "--shares",
		unitsArg(held-amount+back))
	if err != nil {
		t.Fatalf("redeem what custody holds after the deposit: %v\n%s",
			err, out)
	}
	s.stop()
}

// deposits are provider1's credited deposits, over the API.
func (f *meteredJob) deposits(t *testing.T) []*sluicerpc.ShareDeposit {
	t.Helper()
	l, err := f.prov.shares.ListDeposits(f.ctx, connect.NewRequest(
		&sluicerpc.ListDepositsRequest{ProviderId: f.providerID}))
	if err != nil {
		t.Fatalf("list deposits: %v", err)
	}
	return l.Msg.Deposits
}

// custody is the share units provider1 holds in the hub's custody and may
// redeem or withdraw.
func (f *meteredJob) custody(t *testing.T) int64 {
	t.Helper()
	h, err := f.prov.vault.GetHolding(f.ctx, connect.NewRequest(
		&sluicerpc.GetHoldingRequest{ProviderId: f.providerID}))
	if err != nil {
		t.Fatalf("get holding: %v", err)
	}
	return h.Msg.Holding.SharesUnits
}

// withdrawals are provider1's withdrawals, over the API.
func (f *meteredJob) withdrawals(t *testing.T) []*sluicerpc.ShareWithdrawal {
	t.Helper()
	l, err := f.prov.shares.ListWithdrawals(f.ctx, connect.NewRequest(
		&sluicerpc.ListWithdrawalsRequest{ProviderId: f.providerID}))
	if err != nil {
		t.Fatalf("list withdrawals: %v", err)
	}
	return l.Msg.Withdrawals
}

// unitsArg is share units as the CLI's --amount takes them, in shares.
func unitsArg(units int64) string {
	return fmt.Sprintf("%d.%03d", units/1000, units%1000)
}

// mainnetAddr is a string that decodes as a mainnet Taproot Asset address
// would (bech32m, prefix tapbc).
func mainnetAddr(t *testing.T) string {
	t.Helper()
	data, err := bech32.ConvertBits(bytes.Repeat([]byte{7}, 60), 8, 5,
		true)
	if err != nil {
		t.Fatal(err)
	}
	s, err := bech32.EncodeM("tapbc", data)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// mintOtherGroup starts a mint of another asset group on the tapd; the
// function it returns waits until the batch is final (the caller mines)
// and makes a V2 address of that group there.
func mintOtherGroup(t *testing.T, f *meteredJob, td *tapdNode) func() string {
	t.Helper()
	ctx, cancel := rpcContext(t)
	defer cancel()
	name := fmt.Sprintf("other-%d", time.Now().UnixNano())
	_, err := td.mint.MintAsset(ctx, &mintrpc.MintAssetRequest{
		Asset: &mintrpc.MintAsset{
			AssetType:       taprpc.AssetType_NORMAL,
			Name:            name,
			Amount:          1000,
			NewGroupedAsset: true,
		},
	})
	if err != nil {
		t.Fatalf("%s: mint another group: %v", td.Name, err)
	}
	if _, err := td.mint.FinalizeBatch(ctx,
		&mintrpc.FinalizeBatchRequest{}); err != nil {
		t.Fatalf("%s: finalize: %v", td.Name, err)
	}
	return func() string {
		t.Helper()
		var group []byte
		eventually(t, waitTimeout, "the other group's batch to be final",
			func() error {
				ctx, cancel := rpcContext(t)
				defer cancel()
				resp, err := td.assets.ListAssets(ctx,
					&taprpc.ListAssetRequest{})
				if err != nil {
					return err
				}
				for _, a := range resp.Assets {
					if a.AssetGenesis.GetName() == name &&
						a.AssetGroup != nil {

						group = a.AssetGroup.TweakedGroupKey
						return nil
					}
				}
				f.net.mine(1)
				return fmt.Errorf("no asset %q yet", name)
			})
		ctx, cancel := rpcContext(t)
		defer cancel()
		addr, err := td.assets.NewAddr(ctx, &taprpc.NewAddrRequest{
			GroupKey:       group,
			AddressVersion: taprpc.AddrVersion_ADDR_VERSION_V2,
		})
		if err != nil {
			t.Fatalf("%s: address of the other group: %v", td.Name,
				err)
		}
		return addr.Encoded
	}
}

// transfersLabelled counts the tapd's transfers whose label starts with
// prefix.
func transfersLabelled(t *testing.T, td *tapdNode, prefix string) int {
	t.Helper()
	ctx, cancel := rpcContext(t)
	defer cancel()
	resp, err := td.assets.ListTransfers(ctx,
		&taprpc.ListTransfersRequest{})
	if err != nil {
		t.Fatalf("%s: list transfers: %v", td.Name, err)
	}
	n := 0
	for _, tr := range resp.Transfers {
		if strings.HasPrefix(tr.Label, prefix) {
			n++
		}
	}
	return n
}
