//go:build itest

package itest

import (
	"bytes"
	"crypto/sha256"
	"errors"
	"fmt"
	"testing"

	"github.com/lightningnetwork/lnd/lnrpc"
	"github.com/lightningnetwork/lnd/record"
	"github.com/sluice-ln/sluice/devnet"
)

// payoutIDRecord is the custom record, in Sluice's own range (custom records
// start at 65536), that carries a payout id next to the keysend preimage.
const payoutIDRecord uint64 = record.KeySendType + 1

// TestBuyerPaysHubInvoice: the hub makes an invoice, the buyer pays it
// through their channel, and the hub sees it settled with the exact amount
// and the buyer's preimage. Paying it again is refused.
func TestBuyerPaysHubInvoice(t *testing.T) {
	net := newNetwork(t)
	hub := net.lnd(devnet.NodeHub)
	buyer := net.lnd(devnet.NodeBuyer)

	// Not a whole number of sats, so that rounding to sats would show.
	const amtMsat = 123_457
	inv := hub.addInvoice(t, amtMsat, "itest: buyer funds a job")
	open := hub.lookupInvoice(t, inv.RHash)
	if open.State != lnrpc.Invoice_OPEN || open.AmtPaidMsat != 0 {
		t.Fatalf("new invoice: state %v, paid %d msat; want OPEN, 0",
			open.State, open.AmtPaidMsat)
	}

	pay := buyer.payInvoice(t, inv.PaymentRequest)
	if pay.ValueMsat != amtMsat {
		t.Fatalf("buyer paid %d msat, want %d", pay.ValueMsat, amtMsat)
	}

	eventually(t, waitTimeout, "the hub's invoice to settle", func() error {
		got := hub.lookupInvoice(t, inv.RHash)
		if got.State != lnrpc.Invoice_SETTLED {
			return fmt.Errorf("state %v", got.State)
		}
		if got.AmtPaidMsat != amtMsat {
			return permanent(fmt.Errorf("settled with %d msat, "+
				"want %d", got.AmtPaidMsat, amtMsat))
		}
		if fmt.Sprintf("%x", got.RPreimage) != pay.PaymentPreimage {
			return permanent(fmt.Errorf("hub preimage %x, buyer "+
				"has %s", got.RPreimage, pay.PaymentPreimage))
		}
		return nil
	})

	if _, err := buyer.payInvoiceErr(t, inv.PaymentRequest); err == nil {
		t.Fatal("paying a settled invoice again succeeded")
	}
}

// TestHubKeysendToProviderWithRecord: the hub pays provider1 by keysend
// with a payout id in a custom record; provider1's lnd shows the invoice it
// made for it, settled, with the record in its HTLC. A record below the
// custom range is refused by lnd before anything is sent.
func TestHubKeysendToProviderWithRecord(t *testing.T) {
	net := newNetwork(t)
	hub := net.lnd(devnet.NodeHub)
	provider := net.lnd(devnet.NodeProvider1)
	other := net.lnd(devnet.NodeProvider2)

	const amtMsat = 7_001
	payoutID := []byte("sluice payout id 42")
	pay, preimage := hub.keysend(t, provider.pubKey(t), amtMsat,
		map[uint64][]byte{payoutIDRecord: payoutID})
	hash := sha256.Sum256(preimage[:])
	if pay.PaymentHash != fmt.Sprintf("%x", hash) {
		t.Fatalf("payment hash %s, want %x", pay.PaymentHash, hash)
	}

	eventually(t, waitTimeout, "provider1's keysend invoice with the "+
		"payout record", func() error {

		ctx, cancel := rpcContext(t)
		defer cancel()
		resp, err := provider.ln.ListInvoices(ctx,
			&lnrpc.ListInvoiceRequest{NumMaxInvoices: 100})
		if err != nil {
			return err
		}
		var inv *lnrpc.Invoice
		for _, i := range resp.Invoices {
			if bytes.Equal(i.RHash, hash[:]) {
				inv = i
			}
		}
		switch {
		case inv == nil:
			return fmt.Errorf("no invoice with hash %x among %d",
				hash, len(resp.Invoices))
		case inv.State != lnrpc.Invoice_SETTLED:
			return fmt.Errorf("invoice state %v", inv.State)
		case !inv.IsKeysend:
			return permanent(errors.New("invoice not keysend"))
		case inv.AmtPaidMsat != amtMsat:
			return permanent(fmt.Errorf("paid %d msat, want %d",
				inv.AmtPaidMsat, amtMsat))
		case len(inv.Htlcs) != 1:
			return permanent(fmt.Errorf("%d htlcs, want 1",
				len(inv.Htlcs)))
		}
		recs := inv.Htlcs[0].CustomRecords
		if got := recs[payoutIDRecord]; !bytes.Equal(got, payoutID) {
			return permanent(fmt.Errorf("record %d = %q, want %q "+
				"(records %v)", payoutIDRecord, got, payoutID,
				recs))
		}
		if got := recs[record.KeySendType]; !bytes.Equal(got,
			preimage[:]) {

			return permanent(fmt.Errorf("keysend record %x, want "+
				"preimage %x", got, preimage))
		}
		return nil
	})

	// The other provider knows nothing of it.
	ctx, cancel := rpcContext(t)
	defer cancel()
	_, err := other.ln.LookupInvoice(ctx, &lnrpc.PaymentHash{RHash: hash[:]})
	if err == nil {
		t.Fatal("provider2 has an invoice for provider1's keysend")
	}

	// Types below 65536 are not custom records; lnd refuses them.
	_, _, err = hub.keysendErr(t, provider.pubKey(t), 1000,
		map[uint64][]byte{65535: []byte("x")})
	if err == nil {
		t.Fatal("keysend with record type 65535 was accepted")
	}
}
