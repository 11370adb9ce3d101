//go:build itest

package itest

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/btcsuite/btcd/btcec/v2"
	"github.com/btcsuite/btcd/btcutil"
	"github.com/btcsuite/btcd/chaincfg/chainhash"
	"github.com/lightningnetwork/lnd/lnrpc"
	"github.com/lightningnetwork/lnd/lntypes"
	"github.com/lightningnetwork/lnd/lnwire"
	"github.com/lightningnetwork/lnd/routing/route"
	"github.com/sluice-ln/sluice/devnet"
	"github.com/sluice-ln/sluice/hubnode"
	"github.com/sluice-ln/sluice/lightning"
)

// TestHubChannelsAndHoldInvoices drives hubnode.HubChannels and
// hubnode.HoldInvoices against the hub's real lnd: a channel to provider2
// opened with a memo and its own initial policy, found by memo while
// pending and by point once open, its funding fee, a policy change read
// back, a cooperative close followed to the end and its fee; then hold
// invoices paid by the buyer, one settled and one canceled.
func TestHubChannelsAndHoldInvoices(t *testing.T) {
	net := newNetwork(t)
	hub, err := net.profile.Hub()
	if err != nil {
		t.Fatal(err)
	}
	svc, err := hub.Services(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	defer svc.Close()

	t.Run("channels", func(t *testing.T) {
		testHubChannels(t, net, hubnode.NewHubChannels(svc.Client))
	})
	t.Run("hold invoices", func(t *testing.T) {
		testHoldInvoices(t, net, hubnode.NewHoldInvoices(svc.Client,
			svc.Invoices))
	})
}

// testHubChannels is the channel half of TestHubChannelsAndHoldInvoices.
func testHubChannels(t *testing.T, net *network,
	chans *hubnode.HubChannels) {

	ctx, cancel := context.WithTimeout(t.Context(), 3*time.Minute)
	defer cancel()
	hubLn := net.lnd(devnet.NodeHub).ln
	peer, err := route.NewVertexFromBytes(
		net.lnd(devnet.NodeProvider2).pubKey(t))
	if err != nil {
		t.Fatal(err)
	}

	// A node the hub never heard of.
	key, err := btcec.NewPrivateKey()
	if err != nil {
		t.Fatal(err)
	}
	_, err = chans.Open(ctx, hubnode.OpenRequest{
		Peer:   route.NewVertex(key.PubKey()),
		Amount: 100_000,
		Memo:   "itest:unknown-peer",
	})
	if !errors.Is(err, hubnode.ErrUnknownPeer) {
		t.Fatalf("open to an unknown node: %v, want ErrUnknownPeer",
			err)
	}

	const amount = btcutil.Amount(1_000_000)
	est, err := chans.EstimateOpenFee(ctx, amount, 0)
	if err != nil || est <= 0 {
		t.Fatalf("estimate open fee: %v, %v", est, err)
	}
	t.Logf("estimated open fee: %v", est)

	base, ppm := lnwire.MilliSatoshi(2_000), uint64(350)
	const memo = "itest:routing:provider2"
	point, err := chans.Open(ctx, hubnode.OpenRequest{
		Peer:        peer,
		Amount:      amount,
		Memo:        memo,
		BaseFeeMsat: &base,
		FeeRatePPM:  &ppm,
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("opened %v", point)

	st, found, err := chans.ByMemo(ctx, memo)
	if err != nil || !found {
		t.Fatalf("by memo: %+v, %v, %v", st, found, err)
	}
	if st.Point != point || st.Status != hubnode.StatusPendingOpen ||
		st.Peer != peer || st.Capacity != amount || st.Memo != memo ||
		st.ShortChanID != 0 {

		t.Fatalf("pending by memo: %+v", st)
	}

	// The memo names this open now: a second one is refused.
	again, err := chans.Open(ctx, hubnode.OpenRequest{
		Peer: peer, Amount: amount, Memo: memo,
	})
	if !errors.Is(err, hubnode.ErrMemoInUse) || again != point {
		t.Fatalf("second open with the memo: %v, %v", again, err)
	}

	net.mine(6)
	eventually(t, waitTimeout, "the channel open", func() error {
		st, err = chans.ByPoint(ctx, point)
		switch {
		case err != nil:
			return err
		case st.Status != hubnode.StatusOpen || st.ShortChanID == 0 ||
			st.OpenHeight == 0:

			return errors.New(string(st.Status))
		}
		return nil
	})
	scid := st.ShortChanID
	if st.Memo != memo || st.Capacity != amount || st.CloseTxid != nil {
		t.Errorf("open by point: %+v", st)
	}

	// The funding fee, as lnd's wallet reports it once its own view of
	// the chain has the 6 blocks mined (it can lag behind the channel's
	// open).
	var fund hubnode.TxInfo
	eventually(t, waitTimeout, "the wallet to count 6 confirmations",
		func() error {
			fund, err = chans.TxFee(ctx, point.Hash)
			switch {
			case err != nil:
				return err
			case fund.Confirmations < 6:
				return fmt.Errorf("%d confirmations",
					fund.Confirmations)
			}
			return nil
		})
	want := walletTx(t, hubLn, point.Hash.String())
	if fund.Fee <= 0 || !fund.FeeKnown ||
		fund.Fee != btcutil.Amount(want.TotalFees) ||
		fund.Height != int32(st.OpenHeight) ||
		fund.Confirmations < 6 {

		t.Errorf("funding tx: %+v; lnd: fee %d, height %d, "+
			"channel opened at %d", fund, want.TotalFees,
			want.BlockHeight, st.OpenHeight)
	}
	t.Logf("funding tx: %+v", fund)

	// The initial policy, then a new one.
	var pol hubnode.Policy
	eventually(t, waitTimeout, "the initial policy", func() error {
		pol, err = chans.Policy(ctx, scid)
		switch {
		case err != nil:
			return err
		case pol.BaseFeeMsat != base || pol.FeeRatePPM != ppm:
			return errors.New("not yet")
		}
		return nil
	})
	if pol.TimeLockDelta == 0 {
		t.Fatalf("initial policy: %+v", pol)
	}
	newPol := hubnode.Policy{BaseFeeMsat: 1_500, FeeRatePPM: 777}
	if err := chans.SetPolicy(ctx, point, newPol); err != nil {
		t.Fatal(err)
	}
	newPol.TimeLockDelta = pol.TimeLockDelta
	eventually(t, waitTimeout, "the new policy", func() error {
		got, err := chans.Policy(ctx, scid)
		switch {
		case err != nil:
			return err
		case got != newPol:
			return errors.New("not yet")
		}
		return nil
	})

	// Close, twice: the second one finds the first.
	txid, err := chans.Close(ctx, point, hubnode.CloseRequest{})
	if err != nil {
		t.Fatal(err)
	}
	txid2, err := chans.Close(ctx, point, hubnode.CloseRequest{})
	if err != nil || txid2 != txid {
		t.Fatalf("second close: %v, %v; first %v", txid2, err, txid)
	}
	st, err = chans.ByPoint(ctx, point)
	if err != nil || st.Status != hubnode.StatusClosing ||
		st.CloseTxid == nil || *st.CloseTxid != txid ||
		st.ShortChanID != scid {

		t.Fatalf("closing by point: %+v, %v", st, err)
	}

	net.mine(1)
	eventually(t, waitTimeout, "the close confirmed once", func() error {
		st, err = chans.ByPoint(ctx, point)
		switch {
		case err != nil:
			return err
		case st.CloseHeight == 0:
			return errors.New(string(st.Status))
		}
		return nil
	})
	net.mine(5)
	eventually(t, waitTimeout, "the channel closed", func() error {
		st, err = chans.ByPoint(ctx, point)
		switch {
		case err != nil:
			return err
		case st.Status != hubnode.StatusClosed:
			return errors.New(string(st.Status))
		}
		return nil
	})
	if st.CloseTxid == nil || *st.CloseTxid != txid ||
		st.ShortChanID != scid || st.OpenHeight != uint32(fund.Height) ||
		st.CloseHeight <= st.OpenHeight || st.Memo != "" {

		t.Errorf("closed by point: %+v", st)
	}

	// The close fee: the funding output less what the close paid out.
	// Nothing was paid over the channel, so all of it was the hub's and
	// the fee is what the hub did not get back.
	// The wallet's view of the chain can lag behind the channel's
	// close: wait until it has the transaction confirmed.
	var closeTx hubnode.TxInfo
	eventually(t, waitTimeout, "the wallet to see the close confirmed",
		func() error {
			closeTx, err = chans.TxFee(ctx, txid)
			switch {
			case err != nil:
				return err
			case closeTx.Height <= 0:
				return errors.New("not confirmed yet")
			}
			return nil
		})
	lndClose := walletTx(t, hubLn, txid.String())
	if !closeTx.FeeKnown || closeTx.Fee <= 0 ||
		closeTx.Fee != amount-st.LocalBalance ||
		closeTx.Height != int32(st.CloseHeight) {

		t.Errorf("close tx: %+v; closed channel %+v; lnd's fee %d",
			closeTx, st, lndClose.TotalFees)
	}
	t.Logf("close tx: %+v (lnd's total_fees %d)", closeTx,
		lndClose.TotalFees)

	if _, err := chans.TxFee(ctx, chainhash.Hash{}); !errors.Is(err,
		hubnode.ErrTxNotFound) {

		t.Errorf("fee of no transaction: %v", err)
	}
}

// walletTx is the hub wallet's transaction with the txid, as lnd's
// GetTransactions reports it.
func walletTx(t *testing.T, ln lnrpc.LightningClient,
	txid string) *lnrpc.Transaction {

	t.Helper()
	ctx, cancel := rpcContext(t)
	defer cancel()
	resp, err := ln.GetTransactions(ctx, &lnrpc.GetTransactionsRequest{
		EndHeight: -1,
	})
	if err != nil {
		t.Fatal(err)
	}
	for _, tx := range resp.Transactions {
		if tx.TxHash == txid {
			return tx
		}
	}
	t.Fatalf("transaction %s not in the hub's wallet", txid)
	return nil
}

// testHoldInvoices is the hold invoice half of
// TestHubChannelsAndHoldInvoices.
func testHoldInvoices(t *testing.T, net *network,
	hold *hubnode.HoldInvoices) {

	ctx, cancel := context.WithTimeout(t.Context(), 2*time.Minute)
	defer cancel()
	buyer := net.lnd(devnet.NodeBuyer)
	const amount = lnwire.MilliSatoshi(50_000_000)

	// pay pays payReq from the buyer in the background; the result comes
	// on the channel.
	pay := func(payReq string) <-chan error {
		done := make(chan error, 1)
		go func() {
			_, err := buyer.payInvoiceErr(t, payReq)
			done <- err
		}()
		return done
	}
	result := func(done <-chan error) error {
		t.Helper()
		select {
		case err := <-done:
			return err
		case <-time.After(waitTimeout):
			t.Fatalf("payment not done after %v", waitTimeout)
			return nil
		}
	}
	accepted := func(hash lntypes.Hash) hubnode.HoldState {
		t.Helper()
		var st hubnode.HoldState
		eventually(t, waitTimeout, "the payment held", func() error {
			var err error
			st, err = hold.State(ctx, hash)
			switch {
			case err != nil:
				return err
			case st.State != hubnode.HoldAccepted:
				return errors.New(string(st.State))
			}
			return nil
		})
		if st.AmountPaid != amount || st.AcceptHeight <= 0 ||
			st.HTLCExpiry <= st.AcceptHeight {

			t.Errorf("accepted: %+v", st)
		}
		return st
	}

	// One settled.
	preimage := randomPreimage(t)
	req := hubnode.HoldRequest{
		Hash:   preimage.Hash(),
		Amount: amount,
		Memo:   "itest lease",
		Expiry: 10 * time.Minute,
	}
	payReq, err := hold.AddHold(ctx, req)
	if err != nil {
		t.Fatal(err)
	}
	if again, err := hold.AddHold(ctx, req); err != nil || again != payReq {
		t.Fatalf("add the same hold invoice again: %v", err)
	}
	other := req
	other.Amount++
	if _, err := hold.AddHold(ctx, other); !errors.Is(err,
		hubnode.ErrInvoiceExists) {

		t.Fatalf("another invoice with the hash: %v", err)
	}
	if st, err := hold.State(ctx, req.Hash); err != nil ||
		st.State != hubnode.HoldOpen || st.AmountPaid != 0 {

		t.Fatalf("new hold invoice: %+v, %v", st, err)
	}
	if err := hold.Settle(ctx, preimage); !errors.Is(err,
		hubnode.ErrHoldNotAccepted) {

		t.Fatalf("settle unpaid: %v", err)
	}

	done := pay(payReq)
	accepted(req.Hash)
	if err := hold.Settle(ctx, preimage); err != nil {
		t.Fatal(err)
	}
	if err := hold.Settle(ctx, preimage); err != nil {
		t.Fatalf("settle again: %v", err)
	}
	if err := result(done); err != nil {
		t.Fatalf("payment of the settled invoice: %v", err)
	}
	if st, err := hold.State(ctx, req.Hash); err != nil ||
		st.State != hubnode.HoldSettled || st.AmountPaid != amount {

		t.Fatalf("settled: %+v, %v", st, err)
	}
	if err := hold.Cancel(ctx, req.Hash); !errors.Is(err,
		lightning.ErrInvoiceSettled) {

		t.Fatalf("cancel settled: %v", err)
	}

	// One canceled.
	preimage2 := randomPreimage(t)
	req2 := req
	req2.Hash = preimage2.Hash()
	payReq2, err := hold.AddHold(ctx, req2)
	if err != nil {
		t.Fatal(err)
	}
	done2 := pay(payReq2)
	accepted(req2.Hash)
	if err := hold.Cancel(ctx, req2.Hash); err != nil {
		t.Fatal(err)
	}
	if err := hold.Cancel(ctx, req2.Hash); err != nil {
		t.Fatalf("cancel again: %v", err)
	}
	if err := result(done2); !errors.Is(err, ErrPaymentFailed) {
		t.Fatalf("payment of the canceled invoice: %v", err)
	}
	if st, err := hold.State(ctx, req2.Hash); err != nil ||
		st.State != hubnode.HoldCanceled || st.HTLCExpiry != 0 {

		t.Fatalf("canceled: %+v, %v", st, err)
	}
	if err := hold.Settle(ctx, preimage2); !errors.Is(err,
		hubnode.ErrInvoiceCanceled) {

		t.Fatalf("settle canceled: %v", err)
	}

	// Unknown.
	unknownPreimage := randomPreimage(t)
	unknown := unknownPreimage.Hash()
	if err := hold.Cancel(ctx, unknown); !errors.Is(err,
		lightning.ErrInvoiceNotFound) {

		t.Errorf("cancel unknown: %v", err)
	}
	if _, err := hold.State(ctx, unknown); !errors.Is(err,
		lightning.ErrInvoiceNotFound) {

		t.Errorf("state of unknown: %v", err)
	}
}

// randomPreimage is a fresh random preimage.
func randomPreimage(t *testing.T) lntypes.Preimage {
	t.Helper()
	var p lntypes.Preimage
	if _, err := rand.Read(p[:]); err != nil {
		t.Fatal(err)
	}
	return p
}
