//go:build itest

package itest

import (
	"bytes"
	"encoding/hex"
	"fmt"
	"strings"
	"testing"
	"time"

	"connectrpc.com/connect"
	"github.com/btcsuite/btcd/wire"
	"github.com/lightningnetwork/lnd/lnrpc"
	"github.com/sluice-ln/sluice/devnet"
	"github.com/sluice-ln/sluice/failpoint"
	"github.com/sluice-ln/sluice/ledger"
	"github.com/sluice-ln/sluice/rpc/sluicerpc"
	"github.com/sluice-ln/sluice/yield/routing"
)

// The routing strategy's channels in the yield test are the devnet's:
// devnet.RoutingChanSat each, at a policy cheaper than the hub's default
// (1000 msat + 1 ppm), so that senders route through them and the hub's
// switch cannot move a forward to a pricier channel to the same peer.
const (
	yieldChanSat = devnet.RoutingChanSat
	yieldBaseFee = 500
)

// withRouting harvests every second and gives the routing channels a
// time lock delta other than lnd's default, so that a plan restores it
// after an open; the devnet's conf lists provider1 and provider2 as the
// routing strategy's peers, with channels of devnet.RoutingChanSat at
// yieldBaseFee.
func withRouting(s *sluiced) {
	s.addConf("routing", "routing.timelockdelta=40")
	s.addConf("yield", "yield.harvest=1s")
}

// TestYieldRouting runs the routing strategy on the local network: vault
// capital staked from a job's earnings; a plan opens one hub channel from
// it (the other peer left out for want of room); traffic forwards through
// it; the report's income equals the fee_msat lnd's forwarding log shows
// for that channel, its costs the open's chain fee, and the vault's assets
// rose by exactly the net. Then sluiced is killed (SIGKILL, by its
// failpoint) after lnd opened a second plan's channel and before it was
// recorded: after the restart the action is found by its memo and lnd has
// one channel for it. A plan made before the settings changed is refused;
// the kill switch closes both channels and their capital returns, less
// nothing: close fees are costs. On the same network and vault, leaseAct
// sells liquidity leases. The books reconcile with lnd.
func TestYieldRouting(t *testing.T) {
	f := newMeteredJob(t, 400_000_000, map[string]string{
		"cpu": "70000", "mem": "0.01"}, withRouting, withLeases)
	s, ctx := f.s, f.ctx
	book := openBook(t, s)
	op := s.clientsWith(readFile(t, s.operatorMacaroon()))
	hub := s.net.lnd(devnet.NodeHub)

	// Every metered second is staked: 4 busy seconds at 70,000 sat
	// put about 270,000 sat in the vault.
	_, err := f.prov.vault.SetAutoStake(ctx, connect.NewRequest(
		&sluicerpc.SetAutoStakeRequest{ProviderId: f.providerID,
			Percent: 100}))
	if err != nil {
		t.Fatalf("auto-stake: %v", err)
	}
	// The seconds claimed must lie after the job's start.
	time.Sleep(5 * time.Second)
	f.submitSeconds(t, 4)
	vault := getVault(t, op)
	if vault.IdleMsat < 2*yieldChanSat*1000 {
		t.Fatalf("vault idle %d msat", vault.IdleMsat)
	}

	// Room for one channel.
	setCap(t, op, yieldChanSat*1000)
	plan := yieldPlan(t, op)
	if len(plan.Actions) != 1 || len(plan.LeftOut) == 0 {
		t.Fatalf("plan: %+v", plan)
	}
	open := plan.Actions[0]
	if open.Kind != "open" || open.AmountMsat != yieldChanSat*1000 ||
		open.ExpectedCostMsat <= 0 {

		t.Fatalf("open: %+v", open)
	}
	assetsBefore := getVault(t, op).AssetsMsat
	applied := yieldApply(t, op, plan.Id)
	if len(applied) != 1 || applied[0].Status != "succeeded" {
		t.Fatalf("applied: %+v", applied)
	}
	point := applied[0].Result
	if got := book.balance(ledger.StrategyPrincipal("routing")); got !=
		yieldChanSat*1000 {

		t.Fatalf("principal %v", got)
	}

	// Confirmed, the channel is announced with its policy; the
	// harvest posts the open's chain fee as lnd's wallet has it.
	s.net.mine(6)
	ch := hub.channelAt(t, point)
	openFee := hub.txFee(t, strings.Split(point, ":")[0])
	f.waitYieldEntry(t, book, "yield-cost:open:", openFee*1000)
	s.net.lnd(devnet.NodeBuyer).waitPolicy(t, ch.ChanId, hub,
		yieldBaseFee, 80)

	// Traffic: the buyer pays provider1 and provider2 through the hub,
	// and they pay back.
	rep, err := devnet.Traffic(ctx, s.net.profile, devnet.TrafficOptions{
		Rate:   devnet.Rate{Count: 4, Per: time.Second},
		For:    5 * time.Second,
		Amount: 5_000,
		Out:    testWriter{t},
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("traffic: sent %d, succeeded %d, failed %d", rep.Sent,
		rep.Succeeded, rep.Failed)

	// The income is what lnd's log shows out of the channel, to the
	// msat, once the harvest read it all.
	var fees int64
	var forwards int
	eventually(t, waitTimeout, "routing income to equal lnd's fees",
		func() error {
			forwards, fees = hub.forwardFeesOut(t, ch.ChanId)
			income := -book.balance(ledger.StrategyYield(
				"routing")) + ledger.MilliSatoshi(openFee*1000)
			if forwards == 0 {
				return fmt.Errorf("no forward out of %d yet",
					ch.ChanId)
			}
			if int64(income) != fees {
				return fmt.Errorf("income %v, lnd's fees %d "+
					"msat over %d forwards", income, fees,
					forwards)
			}
			return nil
		})
	t.Logf("%d forwards out of the routing channel, %d msat of fees",
		forwards, fees)

	report := yieldReport(t, op)
	r := strategyReport(t, report, "routing")
	if r.IncomeTotalMsat != fees ||
		r.CostTotalMsat != openFee*1000 ||
		r.NetMsat != fees-openFee*1000 || r.CapitalMsat <= 0 ||
		!strings.Contains(r.AprLabel, "APR") {

		t.Fatalf("report: %+v", r)
	}
	if got := getVault(t, op).AssetsMsat - assetsBefore; got !=
		r.NetMsat {

		t.Fatalf("the vault's assets moved by %d msat, the net is %d",
			got, r.NetMsat)
	}

	// Kill -9 after lnd opened the second plan's channel, before it
	// was recorded: the restart finds it by its memo. The plan also
	// restores the first channel's time lock delta: an open sets the
	// fees, lnd's default delta (80) stays until a policy change.
	setCap(t, op, 2*yieldChanSat*1000)
	plan = yieldPlan(t, op)
	var peer string
	kinds := map[string]int{}
	for _, a := range plan.Actions {
		kinds[a.Kind]++
		if a.Kind == "open" {
			peer = a.Target
		}
	}
	if len(plan.Actions) != 2 || kinds["open"] != 1 || kinds["policy"] != 1 {
		t.Fatalf("second plan: %+v", plan)
	}
	s.stop()
	t.Setenv(failpoint.EnvVar, routing.FailpointOpenAfterCall)
	s.start()
	_, err = op.yield.Apply(ctx, connect.NewRequest(
		&sluicerpc.ApplyRequest{PlanId: plan.Id}))
	if err == nil {
		t.Fatal("apply survived its failpoint")
	}
	s.crashAt(t, routing.FailpointOpenAfterCall)
	t.Setenv(failpoint.EnvVar, "")
	s.start()
	var second *sluicerpc.AppliedAction
	eventually(t, waitTimeout, "the crashed plan's actions to resolve",
		func() error {
			acts := yieldActions(t, op, plan.Id)
			for _, a := range acts {
				if a.Status != "succeeded" {
					return fmt.Errorf("action %+v", a)
				}
				if a.Kind == "open" {
					second = a
				}
			}
			if len(acts) != 2 {
				return fmt.Errorf("actions %+v", acts)
			}
			return nil
		})
	s.net.lnd(devnet.NodeBuyer).waitPolicy(t, ch.ChanId, hub,
		yieldBaseFee, 40)
	memo := fmt.Sprintf("sluice-yield-%d", second.Id)
	if n := hub.channelsWithMemo(t, peer, memo); n != 1 {
		t.Fatalf("lnd has %d channels with memo %s", n, memo)
	}
	s.net.mine(6)
	hub.channelAt(t, second.Result)
	eventually(t, waitTimeout, "the strategy to see both channels open",
		func() error {
			for _, st := range yieldPlan(t, op).Strategies {
				for _, p := range st.Positions {
					if p.Status != "open" {
						return fmt.Errorf("%s is %s",
							p.Id, p.Status)
					}
				}
			}
			return nil
		})

	// A plan made before the settings changed is refused.
	stale := yieldPlan(t, op)
	_, err = op.yield.SetStrategy(ctx, connect.NewRequest(
		&sluicerpc.SetStrategyRequest{Name: "routing", Killed: true}))
	if err != nil {
		t.Fatal(err)
	}
	_, err = op.yield.Apply(ctx, connect.NewRequest(
		&sluicerpc.ApplyRequest{PlanId: stale.Id}))
	if connect.CodeOf(err) != connect.CodeFailedPrecondition ||
		!strings.Contains(err.Error(), "state changed") {

		t.Fatalf("stale plan applied: %v", err)
	}

	// The kill switch: the plan closes both channels; once closed
	// their capital returns and their close fees are costs.
	plan = yieldPlan(t, op)
	if len(plan.Actions) != 2 {
		t.Fatalf("kill switch plan: %+v", plan)
	}
	for _, a := range yieldApply(t, op, plan.Id) {
		if a.Kind != "close" || a.Status != "succeeded" {
			t.Fatalf("close: %+v", a)
		}
	}
	s.net.mine(6)
	eventually(t, waitTimeout, "the routing capital to return",
		func() error {
			if p := book.balance(ledger.StrategyPrincipal(
				"routing")); p != 0 {

				return fmt.Errorf("principal %v", p)
			}
			return nil
		})

	// Each close's cost is its transaction's fee: the channel's
	// capacity less what its outputs pay.
	closes := 0
	for _, e := range book.history(ledger.StrategyYield("routing")) {
		txid, ok := strings.CutPrefix(e.IdempotencyKey,
			"yield-cost:close:")
		if !ok {
			continue
		}
		closes++
		if fee := yieldChanSat - hub.txOutputs(t, txid); int64(
			e.Amount) != fee*1000 {

			t.Errorf("%s: %v, the transaction pays %d sat of fee",
				e.IdempotencyKey, e.Amount, fee)
		}
	}
	if closes != 2 {
		t.Errorf("%d close costs posted, want 2", closes)
	}
	leaseAct(t, f, op, book)
	s.wantReconciled(t)
}

// operatorMacaroon is the operator macaroon's path.
func (s *sluiced) operatorMacaroon() string {
	return s.dir + "/" + s.net.profile.Network + "/operator.macaroon"
}

// getVault reads the vault.
func getVault(t *testing.T, op apiClients) *sluicerpc.GetVaultResponse {
	t.Helper()
	ctx, cancel := rpcContext(t)
	defer cancel()
	resp, err := op.vault.GetVault(ctx,
		connect.NewRequest(&sluicerpc.GetVaultRequest{}))
	if err != nil {
		t.Fatalf("get vault: %v", err)
	}
	return resp.Msg
}

// setCap sets the routing strategy's cap, with no floor.
func setCap(t *testing.T, op apiClients, capMsat int64) {
	t.Helper()
	ctx, cancel := rpcContext(t)
	defer cancel()
	_, err := op.vault.SetVaultPolicy(ctx, connect.NewRequest(
		&sluicerpc.SetVaultPolicyRequest{
			CapsMsat: map[string]int64{"routing": capMsat}}))
	if err != nil {
		t.Fatalf("vault policy: %v", err)
	}
}

// yieldPlan makes a plan.
func yieldPlan(t *testing.T, op apiClients) *sluicerpc.YieldPlan {
	t.Helper()
	ctx, cancel := rpcContext(t)
	defer cancel()
	resp, err := op.yield.Plan(ctx,
		connect.NewRequest(&sluicerpc.PlanRequest{}))
	if err != nil {
		t.Fatalf("plan: %v", err)
	}
	return resp.Msg.Plan
}

// yieldApply applies a plan.
func yieldApply(t *testing.T, op apiClients, id string) []*sluicerpc.AppliedAction {
	t.Helper()
	ctx, cancel := rpcContext(t)
	defer cancel()
	resp, err := op.yield.Apply(ctx,
		connect.NewRequest(&sluicerpc.ApplyRequest{PlanId: id}))
	if err != nil {
		t.Fatalf("apply %s: %v", id, err)
	}
	return resp.Msg.Actions
}

// yieldActions lists a plan's actions.
func yieldActions(t *testing.T, op apiClients,
	plan string) []*sluicerpc.AppliedAction {

	t.Helper()
	ctx, cancel := rpcContext(t)
	defer cancel()
	resp, err := op.yield.ListActions(ctx, connect.NewRequest(
		&sluicerpc.ListActionsRequest{PlanId: plan}))
	if err != nil {
		t.Fatalf("actions: %v", err)
	}
	return resp.Msg.Actions
}

// yieldReport reads the report since start, explained.
func yieldReport(t *testing.T, op apiClients) *sluicerpc.ReportResponse {
	t.Helper()
	ctx, cancel := rpcContext(t)
	defer cancel()
	resp, err := op.yield.Report(ctx, connect.NewRequest(
		&sluicerpc.ReportRequest{Explain: true}))
	if err != nil {
		t.Fatalf("report: %v", err)
	}
	return resp.Msg
}

// waitYieldEntry waits until the routing strategy's yield account has an
// entry whose key starts with prefix, and checks its amount.
func (f *meteredJob) waitYieldEntry(t *testing.T, book *payoutBook,
	prefix string, amount int64) {

	t.Helper()
	eventually(t, waitTimeout, "a "+prefix+" entry", func() error {
		for _, e := range book.history(ledger.StrategyYield("routing")) {
			if !strings.HasPrefix(e.IdempotencyKey, prefix) {
				continue
			}
			if int64(e.Amount) != amount {
				t.Fatalf("%s: %v, lnd says %d msat",
					e.IdempotencyKey, e.Amount, amount)
			}
			return nil
		}
		return fmt.Errorf("no %s entry", prefix)
	})
}

// channelAt waits until the hub's channel at the point is open and
// returns it.
func (l *lndNode) channelAt(t *testing.T, point string) *lnrpc.Channel {
	t.Helper()
	var ch *lnrpc.Channel
	eventually(t, waitTimeout, "channel "+point+" to be active",
		func() error {
			ctx, cancel := rpcContext(t)
			defer cancel()
			resp, err := l.ln.ListChannels(ctx,
				&lnrpc.ListChannelsRequest{ActiveOnly: true})
			if err != nil {
				return err
			}
			for _, c := range resp.Channels {
				if c.ChannelPoint == point {
					ch = c
					return nil
				}
			}
			return fmt.Errorf("not active yet")
		})
	return ch
}

// txFee is the fee lnd's wallet reports for its transaction, in sat.
func (l *lndNode) txFee(t *testing.T, txid string) int64 {
	t.Helper()
	ctx, cancel := rpcContext(t)
	defer cancel()
	resp, err := l.ln.GetTransactions(ctx, &lnrpc.GetTransactionsRequest{})
	if err != nil {
		t.Fatal(err)
	}
	for _, tx := range resp.Transactions {
		if tx.TxHash == txid {
			return tx.TotalFees
		}
	}
	t.Fatalf("%s: no transaction %s", l.Name, txid)
	return 0
}

// txOutputs is what the outputs of the node's wallet transaction pay, in
// sat.
func (l *lndNode) txOutputs(t *testing.T, txid string) int64 {
	t.Helper()
	ctx, cancel := rpcContext(t)
	defer cancel()
	resp, err := l.ln.GetTransactions(ctx, &lnrpc.GetTransactionsRequest{})
	if err != nil {
		t.Fatal(err)
	}
	for _, tx := range resp.Transactions {
		if tx.TxHash != txid {
			continue
		}
		raw, err := hex.DecodeString(tx.RawTxHex)
		if err != nil {
			t.Fatal(err)
		}
		var msg wire.MsgTx
		if err := msg.Deserialize(bytes.NewReader(raw)); err != nil {
			t.Fatal(err)
		}
		var sum int64
		for _, out := range msg.TxOut {
			sum += out.Value
		}
		return sum
	}
	t.Fatalf("%s: no transaction %s", l.Name, txid)
	return 0
}

// forwardFeesOut is how many forwards lnd's log has out of the channel and
// their fee_msat.
func (l *lndNode) forwardFeesOut(t *testing.T, chanID uint64) (int, int64) {
	t.Helper()
	ctx, cancel := rpcContext(t)
	defer cancel()
	resp, err := l.ln.ForwardingHistory(ctx,
		&lnrpc.ForwardingHistoryRequest{
			StartTime:       1,
			NumMaxEvents:    50_000,
			OutgoingChanIds: []uint64{chanID},
		})
	if err != nil {
		t.Fatal(err)
	}
	var fees int64
	for _, ev := range resp.ForwardingEvents {
		fees += int64(ev.FeeMsat)
	}
	return len(resp.ForwardingEvents), fees
}

// channelsWithMemo counts the node's pending and open channels with the
// peer that carry the memo.
func (l *lndNode) channelsWithMemo(t *testing.T, peer, memo string) int {
	t.Helper()
	ctx, cancel := rpcContext(t)
	defer cancel()
	n := 0
	open, err := l.ln.ListChannels(ctx, &lnrpc.ListChannelsRequest{})
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range open.Channels {
		if c.RemotePubkey == peer && c.Memo == memo {
			n++
		}
	}
	pending, err := l.ln.PendingChannels(ctx,
		&lnrpc.PendingChannelsRequest{})
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range pending.PendingOpenChannels {
		if c.Channel.RemoteNodePub == peer && c.Channel.Memo == memo {
			n++
		}
	}
	return n
}

// waitPolicy waits until the node's graph has the hub's policy of the
// channel with the base fee and time lock delta.
func (l *lndNode) waitPolicy(t *testing.T, chanID uint64, hub *lndNode,
	baseFee int64, delta uint32) {

	t.Helper()
	hubKey := hub.pubKey(t)
	eventually(t, waitTimeout, "the routing channel's policy in "+l.Name+
		"'s graph", func() error {
		ctx, cancel := rpcContext(t)
		defer cancel()
		e, err := l.ln.GetChanInfo(ctx,
			&lnrpc.ChanInfoRequest{ChanId: chanID})
		if err != nil {
			return err
		}
		p := e.Node1Policy
		if k, _ := hex.DecodeString(e.Node2Pub); bytes.Equal(k, hubKey) {
			p = e.Node2Policy
		}
		if p == nil || p.FeeBaseMsat != baseFee ||
			p.TimeLockDelta != delta {
			return fmt.Errorf("policy %+v", p)
		}
		return nil
	})
}
