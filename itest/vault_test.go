//go:build itest

package itest

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"testing"
	"time"

	"connectrpc.com/connect"
	"github.com/sluice-ln/sluice/channels"
	"github.com/sluice-ln/sluice/failpoint"
	"github.com/sluice-ln/sluice/ledger"
	"github.com/sluice-ln/sluice/metering"
	"github.com/sluice-ln/sluice/rpc/sluicerpc"
	"github.com/sluice-ln/sluice/yield"
)

// The vault test's sluiced closes a reward epoch every vaultEpoch and
// rewards providers with vaultRewardPPM of the platform fees, so that a
// few metered seconds close several epochs with rewards.
const (
	vaultEpoch     = 3 * time.Second
	vaultRewardPPM = 500_000

	// vaultAutoStake is the percent of its earnings provider1 stakes.
	vaultAutoStake = 50
)

// withVaultEpoch sets the vault's epoch and reward on sluiced's conf.
func withVaultEpoch(epoch time.Duration) func(*sluiced) {
	return func(s *sluiced) {
		s.addConf("yield", "yield.epoch="+epoch.String(),
			fmt.Sprintf("yield.rewardppm=%d", vaultRewardPPM))
	}
}

// TestVault runs the vault on the local network: provider1 auto-stakes
// half of what a job's metered seconds earn, epochs close and reward it in
// shares for its work, it proves its reward from the epoch's root, redeems
// part of its shares and the sats reach its lnd through a payout; the
// ledger reconciles with lnd. Then sluiced is killed (SIGKILL, by its
// failpoints) in an epoch's close and in a redemption's finalization: after
// each restart the epoch's shares are issued once and the redemption is
// paid once.
func TestVault(t *testing.T) {
	// A busy core earns 20 sat a second at this rate card, and the
	// platform's 2.5 % of it funds the reward. Every redemption below
	// must carry more than a payout's minimum and fee reserve (2 sat), or
	// its payable would wait for more earnings and never show paid: the
	// five busy seconds earn that even when a loaded machine gives the
	// loop a tenth of a core, and the three seconds submitted before the
	// crash tests stake 30 sat.
	f := newMeteredJob(t, 10_000_000, map[string]string{
		"cpu": "20", "mem": "0.01"}, withVaultEpoch(vaultEpoch))
	s, ctx, vault := f.s, f.ctx, f.prov.vault
	book := openBook(t, s)

	_, err := vault.SetAutoStake(ctx, connect.NewRequest(
		&sluicerpc.SetAutoStakeRequest{ProviderId: f.providerID,
			Percent: vaultAutoStake}))
	if err != nil {
		t.Fatalf("set auto-stake: %v", err)
	}

	// The provider's agent runs a busy loop for five seconds.
	out, err := s.cli("--macaroonpath", f.files.macaroon, "agent", "run",
		"--job", f.job.JobId, "--agentkey", f.files.agentKey,
		"--", "sh", "-c",
		`timeout 5 sh -c 'while :; do :; done'; exit 0`)
	if err != nil {
		t.Fatalf("agent run: %v\n%s\n%s", err, out, s.tail())
	}
	epochs := f.waitEpochsCover(t)

	// Each charge staked half the provider's part, before payouts saw
	// it.
	f.checkAutoStake(t, book)

	// Each epoch with work rewarded it: half the fees, in shares at the
	// NAV before, all to provider1 (the only provider); each proof
	// verifies against its root, and a wrong root does not.
	rewarded := 0
	for _, e := range epochs {
		if e.Seconds == 0 {
			continue
		}
		f.checkEpochReward(t, book, e)
		rewarded++
		n := strconv.FormatUint(e.Number, 10)
		out, err := s.cli("--macaroonpath", f.files.macaroon,
			"provider", "rewards", "verify", "--epoch", n)
		if err != nil {
			t.Fatalf("rewards verify --epoch %s: %v\n%s", n, err,
				out)
		}
		wrong := strings.Repeat("ab", 32)
		out, err = s.cli("--macaroonpath", f.files.macaroon,
			"provider", "rewards", "verify", "--epoch", n,
			"--root", wrong)
		if err == nil {
			t.Fatalf("rewards verify against a wrong root passed:"+
				"\n%s", out)
		}
	}
	if rewarded == 0 {
		t.Fatalf("no epoch rewarded the work: %+v", epochs)
	}
	f.checkShareBooks(t, book)

	// provider1 redeems half its shares; the sats reach its node.
	held := f.holding(t)
	if held.SharesUnits < 2 {
		t.Fatalf("provider1 holds %d units", held.SharesUnits)
	}
	f.redeemPaid(t, book, held.SharesUnits/2, "")
	f.checkShareBooks(t, book)
	s.wantReconciled(t)

	// Kill -9 in an epoch's close. The epoch is made long, so that the
	// seconds submitted now stay in the open epoch, then short again
	// with the failpoints armed: the close dies before its commit, then
	// after it, and after the restart it is closed once.
	s.stop()
	withVaultEpoch(time.Hour)(s)
	s.start()
	open := f.openEpoch(t)
	f.submitSeconds(t, 3)
	s.stop()
	withVaultEpoch(vaultEpoch)(s)
	for _, point := range []string{yield.FailpointEpochBeforeClose,
		yield.FailpointEpochAfterClose} {

		t.Setenv(failpoint.EnvVar, point)
		s.launch()
		s.crashAt(t, point)
	}
	t.Setenv(failpoint.EnvVar, "")
	s.start()
	closed := f.waitEpochClosed(t, open)
	if closed.Seconds != 3 || closed.IssuedUnits <= 0 {
		t.Fatalf("epoch %d after the crashes: %+v", open, closed)
	}
	f.checkEpochReward(t, book, closed)
	f.checkShareBooks(t, book)

	// Kill -9 in a redemption's finalization, before its commit and
	// after it: each is finalized once and paid once.
	for _, point := range []string{yield.FailpointBeforeFinalize,
		yield.FailpointAfterFinalize} {

		s.stop()
		t.Setenv(failpoint.EnvVar, point)
		s.start()
		held := f.holding(t)
		f.redeemPaid(t, book, held.SharesUnits/4, point)
		f.checkShareBooks(t, book)
	}
	t.Setenv(failpoint.EnvVar, "")
	s.wantReconciled(t)
}

// holding returns provider1's holding.
func (f *meteredJob) holding(t *testing.T) *sluicerpc.Holding {
	t.Helper()
	got, err := f.prov.vault.GetHolding(f.ctx, connect.NewRequest(
		&sluicerpc.GetHoldingRequest{ProviderId: f.providerID}))
	if err != nil {
		t.Fatalf("get holding: %v", err)
	}
	return got.Msg.Holding
}

// epochs returns every epoch.
func (f *meteredJob) epochs(t *testing.T) []*sluicerpc.Epoch {
	t.Helper()
	got, err := f.prov.vault.ListEpochs(f.ctx, connect.NewRequest(
		&sluicerpc.ListEpochsRequest{}))
	if err != nil {
		t.Fatalf("list epochs: %v", err)
	}
	return got.Msg.Epochs
}

// openEpoch returns the number of the open epoch.
func (f *meteredJob) openEpoch(t *testing.T) uint64 {
	t.Helper()
	got, err := f.prov.vault.GetVault(f.ctx, connect.NewRequest(
		&sluicerpc.GetVaultRequest{}))
	if err != nil {
		t.Fatalf("get vault: %v", err)
	}
	if got.Msg.OpenEpoch == nil {
		t.Fatalf("no open epoch: %+v", got.Msg)
	}
	return got.Msg.OpenEpoch.Number
}

// waitEpochsCover waits until closed epochs hold every second the job's
// meter accepted, and returns every epoch. Epoch numbers run from 1
// without a gap, each closed once before the next opened.
func (f *meteredJob) waitEpochsCover(t *testing.T) []*sluicerpc.Epoch {
	t.Helper()
	meter, err := f.prov.metering.GetMeter(f.ctx, connect.NewRequest(
		&sluicerpc.GetMeterRequest{JobId: f.job.JobId}))
	if err != nil {
		t.Fatalf("get meter: %v", err)
	}
	var epochs []*sluicerpc.Epoch
	eventually(t, waitTimeout, "closed epochs to hold every metered "+
		"second", func() error {
		epochs = f.epochs(t)
		var seconds uint64
		for _, e := range epochs {
			if e.Closed {
				seconds += e.Seconds
			}
		}
		if seconds != meter.Msg.LastSeq {
			return fmt.Errorf("closed epochs hold %d of %d "+
				"seconds", seconds, meter.Msg.LastSeq)
		}
		return nil
	})
	for i, e := range epochs {
		if e.Number != uint64(i+1) || (!e.Closed && i != len(epochs)-1) {
			t.Fatalf("epoch %d of %d: %+v", i+1, len(epochs), e)
		}
	}
	return epochs
}

// waitEpochClosed waits until the epoch closed and returns it.
func (f *meteredJob) waitEpochClosed(t *testing.T,
	number uint64) *sluicerpc.Epoch {

	t.Helper()
	var got *sluicerpc.Epoch
	eventually(t, waitTimeout, fmt.Sprintf("epoch %d to close", number),
		func() error {
			r, err := f.prov.vault.GetEpoch(f.ctx, connect.NewRequest(
				&sluicerpc.GetEpochRequest{Number: number}))
			if err != nil {
				return err
			}
			if !r.Msg.Epoch.Closed {
				return fmt.Errorf("epoch %d is open", number)
			}
			got = r.Msg.Epoch
			return nil
		})
	return got
}

// history returns an account's ledger history.
func (b *payoutBook) history(a ledger.Account) []ledger.Entry {
	b.t.Helper()
	ctx, cancel := rpcContext(b.t)
	defer cancel()
	h, err := b.ledger.History(ctx, a, 0, 0)
	if err != nil {
		b.t.Fatalf("history of %v: %v", a, err)
	}
	return h
}

// checkAutoStake checks that every usage charge of provider1 staked
// vaultAutoStake percent of its part (rounded down) from the payable into
// the vault in the same store transaction's keys, and that what it staked
// is in provider1's shares.
func (f *meteredJob) checkAutoStake(t *testing.T, book *payoutBook) {
	t.Helper()
	payable := book.history(ledger.ProviderPayable(f.providerID))
	staked := map[string]ledger.MilliSatoshi{}
	for _, e := range payable {
		if k, ok := strings.CutPrefix(e.IdempotencyKey,
			"autostake:"); ok {

			staked[k] = -e.Amount
		}
	}
	charges := 0
	for _, e := range payable {
		if !strings.HasPrefix(e.IdempotencyKey, "usage:") {
			continue
		}
		charges++
		want := e.Amount * vaultAutoStake / 100
		got, ok := staked[e.IdempotencyKey]
		if want > 0 && (!ok || got != want) {
			t.Errorf("charge %s of %v staked %v (found %v), want %v",
				e.IdempotencyKey, e.Amount, got, ok, want)
		}
	}
	if charges == 0 || len(staked) == 0 {
		t.Fatalf("%d charges, %d auto-stakes in provider1's payable",
			charges, len(staked))
	}
	shares := 0
	for _, e := range book.history(ledger.ProviderShares(f.providerID)) {
		if strings.HasPrefix(e.IdempotencyKey, "autostake:") {
			if e.Shares <= 0 {
				t.Errorf("auto-stake %s issued %v", e.IdempotencyKey,
					e.Shares)
			}
			shares++
		}
	}
	if shares != len(staked) {
		t.Fatalf("%d auto-stakes issued shares, %d moved msat", shares,
			len(staked))
	}
}

// checkEpochReward checks a closed epoch with work: its fees are its
// contributions', its reward is vaultRewardPPM of them moved from the
// platform's fees into the vault by one ledger transaction, and the units
// it issued all went to provider1 in that transaction.
func (f *meteredJob) checkEpochReward(t *testing.T, book *payoutBook,
	e *sluicerpc.Epoch) {

	t.Helper()
	got, err := f.prov.vault.GetEpoch(f.ctx, connect.NewRequest(
		&sluicerpc.GetEpochRequest{Number: e.Number}))
	if err != nil {
		t.Fatalf("get epoch %d: %v", e.Number, err)
	}
	cs := got.Msg.Contributions
	if len(cs) != 1 || cs[0].ProviderId != f.providerID ||
		cs[0].Seconds != e.Seconds || cs[0].FeesMsat != e.FeesMsat ||
		cs[0].SharesUnits != e.IssuedUnits {

		t.Fatalf("epoch %d: %+v, contributions %+v", e.Number, e, cs)
	}
	if want := e.FeesMsat * vaultRewardPPM / 1_000_000; e.RewardMsat !=
		want || (want > 0 && e.IssuedUnits <= 0) {

		t.Fatalf("epoch %d rewarded %d msat with %d units, want %d "+
			"msat of %d fees", e.Number, e.RewardMsat, e.IssuedUnits,
			want, e.FeesMsat)
	}
	key := fmt.Sprintf("epoch:%d:reward", e.Number)
	var moved ledger.MilliSatoshi
	for _, en := range book.history(ledger.Vault()) {
		if en.IdempotencyKey == key {
			moved += en.Amount
		}
	}
	var issued ledger.Shares
	for _, en := range book.history(ledger.ProviderShares(f.providerID)) {
		if en.IdempotencyKey == key {
			issued += en.Shares
		}
	}
	if int64(moved) != e.RewardMsat || int64(issued) != e.IssuedUnits {
		t.Fatalf("epoch %d: the ledger moved %v and issued %v under %s, "+
			"the epoch says %d msat and %d units", e.Number, moved,
			issued, key, e.RewardMsat, e.IssuedUnits)
	}
}

// checkShareBooks checks that the share supply is what the vault issued
// (auto-stakes and epoch rewards) less what it burnt (finalized
// redemptions), that provider1 holds all of it, and that the vault shows
// the same supply.
func (f *meteredJob) checkShareBooks(t *testing.T, book *payoutBook) {
	t.Helper()
	var issued, burnt ledger.Shares
	for _, e := range book.history(ledger.ShareSupply()) {
		switch {
		case e.Shares < 0:
			issued -= e.Shares
		default:
			burnt += e.Shares
		}
	}
	var held ledger.Shares
	for _, a := range []ledger.Account{
		ledger.ProviderShares(f.providerID),
		ledger.SharesLocked(f.providerID),
	} {
		h := book.history(a)
		if len(h) > 0 {
			held += h[len(h)-1].SharesAfter
		}
	}
	got, err := f.prov.vault.GetVault(f.ctx, connect.NewRequest(
		&sluicerpc.GetVaultRequest{}))
	if err != nil {
		t.Fatalf("get vault: %v", err)
	}
	if issued-burnt != held || int64(held) != got.Msg.SupplyUnits {
		t.Fatalf("issued %v, burnt %v, provider1 holds %v, the vault "+
			"shows a supply of %d units", issued, burnt, held,
			got.Msg.SupplyUnits)
	}
}

// redeemPaid redeems units of provider1's shares and waits until the
// redemption is paid: its assets reached provider1's node. With point
// set, sluiced is armed to die there: the request's answer may not come,
// sluiced is started again without the failpoint and the redemption is
// found by its key. It checks that the redemption moved its assets and
// burnt its shares by one ledger transaction.
func (f *meteredJob) redeemPaid(t *testing.T, book *payoutBook,
	units int64, point string) {

	t.Helper()
	key := fmt.Sprintf("itest-%d", time.Now().UnixNano())
	_, err := f.prov.vault.Redeem(f.ctx, connect.NewRequest(
		&sluicerpc.RedeemRequest{ProviderId: f.providerID,
			SharesUnits: units, IdempotencyKey: key}))
	switch {
	case point != "":
		f.s.crashAt(t, point)
		t.Setenv(failpoint.EnvVar, "")
		f.s.start()

	case err != nil:
		t.Fatalf("redeem %d units: %v", units, err)
	}

	var r *sluicerpc.Redemption
	eventually(t, payoutWait, "the redemption to be paid", func() error {
		got, err := f.prov.vault.ListRedemptions(f.ctx,
			connect.NewRequest(&sluicerpc.ListRedemptionsRequest{
				FilterProviderId: f.providerID}))
		if err != nil {
			return err
		}
		r = nil
		for _, x := range got.Msg.Redemptions {
			if strings.HasSuffix(x.Key, key) {
				r = x
			}
		}
		switch {
		case r == nil:
			return permanent(fmt.Errorf("no redemption with key %s "+
				"in %+v", key, got.Msg.Redemptions))

		case r.Status != "paid":
			return fmt.Errorf("redemption %d is %s", r.Id, r.Status)
		}
		return nil
	})
	if r.SharesUnits != units || r.AssetsMsat <= 0 ||
		r.AssetsMsat > r.RequestedMsat {

		t.Fatalf("redemption %+v of %d units", r, units)
	}

	lkey := fmt.Sprintf("redeem:%d", r.Id)
	var paid ledger.MilliSatoshi
	for _, e := range book.history(ledger.ProviderPayable(f.providerID)) {
		if e.IdempotencyKey == lkey {
			paid += e.Amount
		}
	}
	var burnt ledger.Shares
	for _, e := range book.history(ledger.ShareSupply()) {
		if e.IdempotencyKey == lkey {
			burnt += e.Shares
		}
	}
	if int64(paid) != r.AssetsMsat || int64(burnt) != units {
		t.Fatalf("redemption %d: the ledger paid %v and burnt %v under "+
			"%s, want %d msat and %d units", r.Id, paid, burnt, lkey,
			r.AssetsMsat, units)
	}
}

// submitSeconds signs n more seconds of the job's usage, the seconds just
// before now, with provider1's agent key and submits them over the API.
func (f *meteredJob) submitSeconds(t *testing.T, n int) {
	t.Helper()
	ctx, cancel := context.WithTimeout(f.ctx, waitTimeout)
	defer cancel()
	key, _, err := channels.ReadAgentKeyFile(f.files.agentKey)
	if err != nil {
		t.Fatal(err)
	}
	meter, err := f.prov.metering.GetMeter(ctx, connect.NewRequest(
		&sluicerpc.GetMeterRequest{JobId: f.job.JobId}))
	if err != nil {
		t.Fatalf("get meter: %v", err)
	}
	now := time.Now().Unix()
	batch := &metering.Batch{JobID: f.job.JobId}
	for i := range n {
		batch.Records = append(batch.Records, metering.Record{
			Seq:    meter.Msg.LastSeq + uint64(i) + 1,
			Second: max(meter.Msg.LastSecond+1, now-int64(n)) + int64(i),
			Usage:  metering.Usage{CPU: 1000, Mem: 64},
		})
	}
	if err := batch.Sign(key); err != nil {
		t.Fatal(err)
	}
	enc, err := batch.Encode()
	if err != nil {
		t.Fatal(err)
	}
	res, err := f.prov.metering.SubmitUsage(ctx, connect.NewRequest(
		&sluicerpc.SubmitUsageRequest{Batch: enc}))
	if err != nil {
		t.Fatalf("submit %d seconds: %v", n, err)
	}
	if int(res.Msg.Accepted) != n {
		t.Fatalf("submit %d seconds: %+v", n, res.Msg)
	}
}
