package main

import (
	"bytes"
	"flag"
	"strings"
	"testing"

	"github.com/sluice-ln/sluice/rpc/sluicerpc"
	"github.com/urfave/cli"
)

// TestPrintLease shows the invoice while it can be paid, and the channel,
// its blocks and the expired flag once it has them.
func TestPrintLease(t *testing.T) {
	t.Parallel()
	var out bytes.Buffer
	err := printLease(&out, &sluicerpc.Lease{Id: "ab", State: "awaiting_payment", NodePubkey: []byte{2, 1},
		LspBalanceSat: 50_000, ChannelExpiryBlocks: 10,
		PremiumMsat: 50_000, RatePpb: 100_000, Bolt11: "lnbcrt1"})
	if err != nil || !strings.Contains(out.String(), "pay       lnbcrt1") ||
		!strings.Contains(out.String(), "50000 sat inbound for 10 "+
			"blocks") {

		t.Errorf("awaiting:\n%s", out.String())
	}
	out.Reset()
	err = printLease(&out, &sluicerpc.Lease{Id: "ab", State: "expired",
		ChannelPoint: "aa:0", StartHeight: 500, ExpiryHeight: 510,
		Expired: true, Bolt11: "lnbcrt1"})
	if err != nil || strings.Contains(out.String(), "lnbcrt1") ||
		!strings.Contains(out.String(), "500 to 510 (expired: true)") {

		t.Errorf("expired:\n%s", out.String())
	}
}

// TestLeaseRequestFlags refuses what it cannot send before any call.
func TestLeaseRequestFlags(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"--blocks", "10"}, "--capacity"},
		{[]string{"--capacity", "50000"}, "--blocks"},
		{[]string{"--capacity", "50000", "--blocks", "10", "--pay"},
			"--pay needs --devnet"},
		{[]string{"--capacity", "50000", "--blocks", "10", "--node",
			"zz"}, "not a node key"},
	} {
		set := flag.NewFlagSet("request", flag.ContinueOnError)
		for _, f := range leaseRequestCommand.Flags {
			f.Apply(set)
		}
		if err := set.Parse(tc.args); err != nil {
			t.Fatal(err)
		}
		app := cli.NewApp()
		err := leaseRequest(cli.NewContext(app, set, nil))
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%v: %v, want %q", tc.args, err, tc.want)
		}
	}
}
