//go:build itest

package itest

import (
	"context"
	"testing"
	"time"

	"github.com/lightningnetwork/lnd/lnrpc"
	"github.com/lightningnetwork/lnd/lnwire"
	"github.com/sluice-ln/sluice/devnet"
	"github.com/sluice-ln/sluice/hubnode"
)

// senderTotals are what a node's lnd says it paid.
type senderTotals struct {
	succeeded, failed int
	fees              lnwire.MilliSatoshi
}

// paymentTotals reads every payment of the node from its lnd.
func (l *lndNode) paymentTotals(t testing.TB) senderTotals {
	t.Helper()
	ctx, cancel := rpcContext(t)
	defer cancel()
	resp, err := l.ln.ListPayments(ctx, &lnrpc.ListPaymentsRequest{
		IncludeIncomplete: true,
		MaxPayments:       10_000,
	})
	if err != nil {
		t.Fatalf("%s: list payments: %v", l.Name, err)
	}
	var out senderTotals
	for _, p := range resp.Payments {
		switch p.Status {
		case lnrpc.Payment_SUCCEEDED:
			out.succeeded++
			out.fees += lnwire.MilliSatoshi(p.FeeMsat)
		case lnrpc.Payment_FAILED:
			out.failed++
		default:
			t.Errorf("%s: payment %s still %v after traffic",
				l.Name, p.PaymentHash, p.Status)
		}
	}
	return out
}

// hubChanWith returns the short channel id of the hub's channel with peer.
func (n *network) hubChanWith(peer string) uint64 {
	n.t.Helper()
	ctx, cancel := rpcContext(n.t)
	defer cancel()
	resp, err := n.lnd(devnet.NodeHub).ln.ListChannels(ctx,
		&lnrpc.ListChannelsRequest{Peer: n.lnd(peer).pubKey(n.t)})
	if err != nil || len(resp.Channels) != 1 {
		n.t.Fatalf("hub channels with %s: %v, %v", peer, resp, err)
	}
	return resp.Channels[0].ChanId
}

// TestTrafficForwardsThroughHub runs `sluice devnet traffic`'s payments for
// a few seconds, then reads the hub's forwarding log with
// hubnode.HubForwards: one forward for each payment the senders' lnd
// call succeeded, and the forwards' fees add up to the fees the senders
// paid. The channel filters and paging of the reader are checked on the
// real log too.
func TestTrafficForwardsThroughHub(t *testing.T) {
	net := newNetwork(t)
	began := time.Now()

	// 50,000 sat a payment: after a few payments provider1 and
	// provider2 hold enough above their reserve to pay back too.
	rep, err := devnet.Traffic(t.Context(), net.profile,
		devnet.TrafficOptions{
			Rate:   devnet.Rate{Count: 4, Per: time.Second},
			For:    5 * time.Second,
			Amount: 50_000,
			Out:    testWriter{t},
		})
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("traffic: planned %d, sent %d, succeeded %d, failed %d %v, "+
		"fees %v, in %v", rep.Planned, rep.Sent, rep.Succeeded,
		rep.Failed, rep.Failures, rep.Fees, rep.Elapsed)
	for _, f := range rep.Flows {
		t.Logf("  %s -> %s: sent %d, succeeded %d, fees %v", f.From,
			f.To, f.Sent, f.Succeeded, f.Fees)
	}
	if rep.Sent == 0 || rep.Failed != 0 || rep.NoBalance != 0 {
		t.Fatalf("sent %d, failed %d (%v), no balance %d: a fresh "+
			"network carries every payment", rep.Sent, rep.Failed,
			rep.Failures, rep.NoBalance)
	}
	backward := 0
	for _, f := range rep.Flows {
		if f.From != devnet.NodeBuyer {
			backward += f.Succeeded
		}
	}
	if backward == 0 {
		t.Errorf("no payment went back from a provider")
	}
	for _, p := range rep.HubPolicies {
		if p.BaseFeeMsat == 0 && p.FeePPM == 0 {
			t.Errorf("hub channel %d charges no fee", p.ChanID)
		}
	}

	// What the senders' lnd say they paid.
	var sent senderTotals
	for _, name := range []string{
		devnet.NodeBuyer, devnet.NodeProvider1, devnet.NodeProvider2,
	} {
		s := net.lnd(name).paymentTotals(t)
		sent.succeeded += s.succeeded
		sent.failed += s.failed
		sent.fees += s.fees
	}
	if sent.succeeded != rep.Succeeded || sent.fees != rep.Fees ||
		sent.failed != rep.Failed {

		t.Errorf("senders' lnd: %+v; traffic reported succeeded %d, "+
			"failed %d, fees %v", sent, rep.Succeeded, rep.Failed,
			rep.Fees)
	}
	if sent.fees == 0 {
		t.Errorf("the senders paid no fees")
	}

	// What the hub's forwarding log says it forwarded.
	hub, err := net.profile.Hub()
	if err != nil {
		t.Fatal(err)
	}
	svc, err := hub.Services(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	defer svc.Close()
	fwds := hubnode.NewHubForwards(svc.Client)
	ctx, cancel := context.WithTimeout(t.Context(), rpcTimeout)
	defer cancel()

	all, next, err := fwds.All(ctx, hubnode.ForwardQuery{})
	if err != nil {
		t.Fatal(err)
	}
	var fees lnwire.MilliSatoshi
	for i, f := range all {
		fees += f.Fee
		if f.Index != uint64(i)+1 || f.AmountIn-f.AmountOut != f.Fee ||
			f.Time.Before(began.Add(-time.Second)) ||
			f.Time.After(time.Now()) {

			t.Errorf("forward %d: %+v", i, f)
		}
	}
	if len(all) != sent.succeeded || fees != sent.fees ||
		next != uint64(len(all)) {

		t.Errorf("hub forwarded %d for %v in fees (next %d); the "+
			"senders' lnd: %d succeeded, %v in fees", len(all),
			fees, next, sent.succeeded, sent.fees)
	}

	// Paged by three, the same forwards with the same indexes.
	paged, next3, err := fwds.All(ctx, hubnode.ForwardQuery{PageSize: 3})
	if err != nil {
		t.Fatal(err)
	}
	if len(paged) != len(all) || next3 != next {
		t.Errorf("paged by 3: %d forwards, next %d", len(paged), next3)
	}
	for i := range paged {
		if i < len(all) && paged[i] != all[i] {
			t.Errorf("paged forward %d = %+v, want %+v", i,
				paged[i], all[i])
		}
	}

	// Read on from the end: nothing new.
	more, after, err := fwds.All(ctx, hubnode.ForwardQuery{Offset: next})
	if err != nil || len(more) != 0 || after != next {
		t.Errorf("read on from %d: %d forwards, next %d, %v", next,
			len(more), after, err)
	}

	// Out on the hub's channel to provider1: what provider1 was paid.
	toP1 := net.hubChanWith(devnet.NodeProvider1)
	out1, _, err := fwds.All(ctx, hubnode.ForwardQuery{
		OutgoingChanIDs: []uint64{toP1},
	})
	if err != nil {
		t.Fatal(err)
	}
	want := 0
	var wantFees lnwire.MilliSatoshi
	for _, f := range rep.Flows {
		if f.To == devnet.NodeProvider1 {
			want += f.Succeeded
			wantFees += f.Fees
		}
	}
	var got lnwire.MilliSatoshi
	for _, f := range out1 {
		got += f.Fee
		if f.ChanOut != toP1 {
			t.Errorf("filtered forward out on %d, want %d",
				f.ChanOut, toP1)
		}
	}
	if len(out1) != want || got != wantFees {
		t.Errorf("out on %d: %d forwards, %v fees; flows to "+
			"provider1: %d, %v", toP1, len(out1), got, want,
			wantFees)
	}

	// In on the buyer's channel: what the buyer sent.
	fromBuyer := net.hubChanWith(devnet.NodeBuyer)
	in, _, err := fwds.All(ctx, hubnode.ForwardQuery{
		IncomingChanIDs: []uint64{fromBuyer},
	})
	if err != nil {
		t.Fatal(err)
	}
	want = 0
	for _, f := range rep.Flows {
		if f.From == devnet.NodeBuyer {
			want += f.Succeeded
		}
	}
	if len(in) != want {
		t.Errorf("in on %d: %d forwards, want %d", fromBuyer, len(in),
			want)
	}
	t.Logf("hub forwarded %d payments for %v in fees; checks took %v "+
		"after traffic", len(all), fees,
		time.Since(began)-rep.Elapsed)
}
