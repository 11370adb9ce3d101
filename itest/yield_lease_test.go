//go:build itest

package itest

import (
	"bytes"
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"connectrpc.com/connect"
	"github.com/lightningnetwork/lnd/lnrpc"
	"github.com/lightningnetwork/lnd/lnrpc/routerrpc"
	"github.com/sluice-ln/sluice/devnet"
	"github.com/sluice-ln/sluice/ledger"
	"github.com/sluice-ln/sluice/rpc/rpcclient"
	"github.com/sluice-ln/sluice/rpc/sluicerpc"
	"github.com/sluice-ln/sluice/rpc/sluicerpc/sluicerpcconnect"
	"github.com/sluice-ln/sluice/yield/lease"
	"google.golang.org/protobuf/proto"
)

// The yield test's leases. The first is 50,000 sat for 10 blocks at
// 1,000,000 ppb of the capacity per block: a premium of 50,000,000 msat ×
// 1,000,000 × 10 / 10⁹ = 500,000 msat. Its funding confirms at depth 6,
// 5 of its blocks in; the other 5 are mined one by one. The second, of
// 60,000 sat, the buyer's node refuses. The strategy's cap has room for
// either.
const (
	leaseSat        = 50_000
	leaseBlocks     = 10
	leaseRatePPB    = 1_000_000
	leasePremium    = 500_000
	refusedLeaseSat = 60_000
	leaseCapMsat    = 100_000_000
)

// leasePayTimeout bounds how long a held payment is followed: the first
// lease's is held over its open and 6 blocks.
const leasePayTimeout = 3 * time.Minute

// withLeases sells liquidity leases from 5 blocks at leaseRatePPB.
func withLeases(s *sluiced) {
	s.addConf("lease",
		"lease.enable=true",
		fmt.Sprintf("lease.rateppb=%d", leaseRatePPB),
		"lease.minblocks=5")
}

// leaseAct sells leases to the buyer node through sluiced, on the network
// and vault TestYieldRouting leaves: the vault's policy gives the lease
// strategy a cap beside routing's; a buyer orders a lease with the CLI,
// whose --pay has the buyer node pay the hold invoice, and the hub holds
// the payment; `sluice yield plan` shows its lease_accept and `sluice
// yield apply` opens the channel; once the funding confirms, the invoice
// settles and the buyer's payment succeeds; the ledger recognises the
// premium a step per block, never all of it before the expiry; at the
// expiry the channel closes and the capital returns; the report's lease
// premium is the premium and its costs the chain fees. Then the buyer node
// refuses a second lease's channel: the apply fails, the hold invoice is
// cancelled (the buyer's payment fails) and the capital returns.
func leaseAct(t *testing.T, f *meteredJob, op apiClients, book *payoutBook) {
	s := f.s
	hub := s.net.lnd(devnet.NodeHub)
	buyer := s.net.lnd(devnet.NodeBuyer)
	begin := time.Now()

	// The lease strategy's cap, the others' kept: SetVaultPolicy
	// replaces every cap, the CLI sets the ones given over the policy it
	// reads first.
	caps := getVault(t, op).Policy.GetCapsMsat()
	if caps["routing"] == 0 {
		t.Fatalf("the vault's caps before the leases: %v", caps)
	}
	var policy sluicerpc.VaultPolicy
	s.cliJSON(t, &policy, "operator", "vault", "policy", "--cap",
		fmt.Sprintf("%s=%d", lease.Name, leaseCapMsat))
	for name, c := range caps {
		if policy.CapsMsat[name] != c {
			t.Fatalf("cap of %s: %d, was %d", name,
				policy.CapsMsat[name], c)
		}
	}
	if len(policy.CapsMsat) != len(caps)+1 ||
		policy.CapsMsat[lease.Name] != leaseCapMsat {

		t.Fatalf("caps: %v", policy.CapsMsat)
	}

	// A buyer orders a lease with the CLI; the buyer node pays and the
	// hub holds the payment.
	mac := s.addBuyer(t, "lease-buyer")
	leases := s.leaseClient(t, readFile(t, mac))
	buyerKey := buyer.pubKey(t)
	l := s.requestLease(t, mac, leaseSat, "itest-yield-lease")
	if l.PremiumMsat != leasePremium || l.RatePpb != leaseRatePPB ||
		l.LspBalanceSat != leaseSat ||
		l.ChannelExpiryBlocks != leaseBlocks ||
		!bytes.Equal(l.NodePubkey, buyerKey) {

		t.Fatalf("order: %+v", l)
	}
	paid := trackPayment(t, buyer, l.PaymentHash)
	waitLease(t, leases, l.Id, "paid")
	select {
	case err := <-paid:
		t.Fatalf("the held payment ended before the open: %v", err)
	default:
	}

	// The plan accepts the paid lease; its apply opens the channel from
	// vault capital.
	plan := s.yieldPlanCLI(t)
	if len(plan.Actions) != 1 {
		t.Fatalf("lease plan: %+v", plan)
	}
	accept := plan.Actions[0]
	if accept.Strategy != lease.Name || accept.Kind != "lease_accept" ||
		accept.Target != l.Id || accept.AmountMsat != leaseSat*1000 ||
		accept.ExpectedCostMsat <= 0 ||
		!strings.Contains(accept.Reason, "paid lease "+l.Id) {

		t.Fatalf("lease_accept: %+v", accept)
	}
	applied := s.yieldApplyCLI(t, plan.Id)
	if len(applied) != 1 || applied[0].Status != "succeeded" ||
		applied[0].Result == "" {

		t.Fatalf("applied: %+v", applied)
	}
	point := applied[0].Result
	principal := ledger.StrategyPrincipal(lease.Name)
	if got := book.balance(principal); got != leaseSat*1000 {
		t.Fatalf("lease principal after apply: %v", got)
	}

	// The funding confirms: the invoice settles, the buyer's payment
	// succeeds, the lease runs from the confirming block.
	s.net.mine(6)
	l = waitLease(t, leases, l.Id, "active")
	if l.ChannelPoint != point || l.StartHeight == 0 ||
		l.ExpiryHeight != l.StartHeight+leaseBlocks {

		t.Fatalf("active: %+v", l)
	}
	select {
	case err := <-paid:
		if err != nil {
			t.Fatalf("the buyer's payment: %v", err)
		}
	case <-time.After(waitTimeout):
		t.Fatal("the buyer's payment did not succeed once settled")
	}

	// The premium is recognised up to the tip, then a step a block;
	// never all of it before the expiry.
	tip := uint32(chainHeight(t, s.net))
	if tip >= l.ExpiryHeight-1 {
		t.Fatalf("at height %d the lease %+v has no steps left", tip, l)
	}
	l = waitRecognised(t, leases, book, l, tip)
	steps := 0
	for h := tip + 1; h < l.ExpiryHeight; h++ {
		s.net.mine(1)
		l = waitRecognised(t, leases, book, l, h)
		steps++
	}
	if l.RecognisedMsat >= l.PremiumMsat {
		t.Fatalf("all recognised before the expiry: %+v", l)
	}

	// At the expiry: all of it, and the hub closes the channel; once
	// closed, the capital returns.
	s.net.mine(1)
	l = waitLease(t, leases, l.Id, "closing")
	if !l.Expired || l.RecognisedMsat != leasePremium || l.CloseTxid == "" {
		t.Fatalf("at the expiry: %+v", l)
	}
	waitRecognised(t, leases, book, l, l.ExpiryHeight)
	s.net.mine(6)
	waitLease(t, leases, l.Id, "closed")
	if got := book.balance(principal); got != 0 {
		t.Fatalf("lease principal after the close: %v", got)
	}
	wantEntry(t, book, principal, lease.ReturnKey(point),
		-leaseSat*1000)

	// The costs: the open's fee as the hub's wallet has it, the
	// close's the channel's capacity less what its outputs pay. The
	// report's lines are the premium and these.
	fundingTxid := strings.Split(point, ":")[0]
	openFee := ledger.MilliSatoshi(hub.txFee(t, fundingTxid) * 1000)
	closeFee := ledger.MilliSatoshi((leaseSat -
		hub.txOutputs(t, l.CloseTxid)) * 1000)
	yieldAcct := ledger.StrategyYield(lease.Name)
	wantEntry(t, book, yieldAcct, lease.OpenCostKey(fundingTxid), openFee)
	wantEntry(t, book, yieldAcct, lease.CloseCostKey(l.CloseTxid),
		closeFee)
	var premiums int64
	for _, e := range book.history(yieldAcct) {
		if strings.HasPrefix(e.IdempotencyKey, "yield-lease:") {
			premiums++
		}
	}
	r := strategyReport(t, yieldReport(t, op), lease.Name)
	lines := map[string]int64{}
	for _, line := range append(r.Income, r.Costs...) {
		lines[line.Name] = line.AmountMsat
	}
	costs := int64(openFee + closeFee)
	if len(lines) != 3 || lines["lease premium"] != leasePremium ||
		lines["open chain fees"] != int64(openFee) ||
		lines["close chain fees"] != int64(closeFee) ||
		r.IncomeTotalMsat != leasePremium || r.CostTotalMsat != costs ||
		r.NetMsat != leasePremium-costs || r.CapitalEndMsat != 0 {

		t.Fatalf("lease report: %+v; open fee %v, close fee %v", r,
			openFee, closeFee)
	}
	t.Logf("lease %s: %d msat recognised in %d entries (%d a block), "+
		"chain fees %v to open, %v to close", l.Id, leasePremium,
		premiums, steps, openFee, closeFee)

	// The second lease: the buyer's node refuses the channel, the apply
	// fails, the held payment goes back and so does the capital.
	stopRefusing := refuseChannels(t, buyer)
	defer stopRefusing()
	l2 := s.requestLease(t, mac, refusedLeaseSat, "itest-yield-lease-2")
	paid2 := trackPayment(t, buyer, l2.PaymentHash)
	waitLease(t, leases, l2.Id, "paid")
	plan = s.yieldPlanCLI(t)
	if len(plan.Actions) != 1 || plan.Actions[0].Target != l2.Id ||
		plan.Actions[0].Kind != "lease_accept" {

		t.Fatalf("refused lease's plan: %+v", plan)
	}
	applied = s.yieldApplyCLI(t, plan.Id)
	if len(applied) != 1 || applied[0].Status != "failed" ||
		!strings.Contains(applied[0].Error, "refused") {

		t.Fatalf("refused open: %+v", applied)
	}
	select {
	case err := <-paid2:
		if !errors.Is(err, ErrPaymentFailed) {
			t.Fatalf("the buyer's second payment: %v", err)
		}
	case <-time.After(waitTimeout):
		t.Fatal("the buyer's second payment did not fail")
	}
	stopRefusing()
	l2 = waitLease(t, leases, l2.Id, "failed")
	if !strings.Contains(l2.Reason, "refused") {
		t.Fatalf("refused lease: %+v", l2)
	}
	if got := book.balance(principal); got != 0 {
		t.Fatalf("lease principal after the refused open: %v", got)
	}
	action := strconv.FormatInt(applied[0].Id, 10)
	wantEntry(t, book, principal, "yield-alloc:"+action,
		refusedLeaseSat*1000)
	wantEntry(t, book, principal, "yield-unalloc:"+action,
		-refusedLeaseSat*1000)
	if n := hub.channelsWithMemo(t, hex.EncodeToString(buyerKey),
		"sluice-lease-"+l2.Id); n != 0 {

		t.Fatalf("lnd has %d channels for the refused lease", n)
	}
	t.Logf("lease act: %s", time.Since(begin).Round(100*time.Millisecond))
}

// cliJSON runs a sluice command with --json and decodes its answer into
// msg.
func (s *sluiced) cliJSON(t *testing.T, msg proto.Message,
	args ...string) {

	t.Helper()
	out, err := s.cli(append(args, "--json")...)
	if err != nil {
		t.Fatalf("%v\n%s", err, s.tail())
	}
	if err := sluicerpc.JSONUnmarshalOptions.Unmarshal([]byte(out),
		msg); err != nil {

		t.Fatalf("sluice %s --json: %v\n%s", strings.Join(args, " "),
			err, out)
	}
}

// leaseClient is a LeaseService client calling with the macaroon.
func (s *sluiced) leaseClient(t *testing.T,
	macaroon []byte) sluicerpcconnect.LeaseServiceClient {

	t.Helper()
	cl, err := rpcclient.New(s.rpcListen, readFile(t,
		filepath.Join(s.dir, "tls.cert")), macaroon)
	if err != nil {
		t.Fatal(err)
	}
	return cl.Leases
}

// requestLease orders a lease of sat for leaseBlocks blocks to the buyer
// node with `sluice lease request --devnet --pay` and the buyer macaroon
// at mac: it returns once the hub holds the buyer's payment.
func (s *sluiced) requestLease(t *testing.T, mac string, sat int64,
	key string) *sluicerpc.Lease {

	t.Helper()
	var l sluicerpc.Lease
	s.cliJSON(t, &l, "--macaroonpath="+mac, "lease", "request",
		"--devnet", s.net.profile.Dir, "--as", devnet.NodeBuyer,
		"--capacity", strconv.FormatInt(sat, 10),
		"--blocks", strconv.Itoa(leaseBlocks), "--key", key, "--pay")
	if l.Id == "" || l.State != "awaiting_payment" ||
		len(l.PaymentHash) != 32 {

		t.Fatalf("lease request: %+v", &l)
	}
	return &l
}

// leaseFinal are the states a lease does not leave.
var leaseFinal = map[string]bool{"closed": true, "cancelled": true,
	"failed": true}

// waitLease waits until the lease is in state and returns it.
func waitLease(t *testing.T, c sluicerpcconnect.LeaseServiceClient, id,
	state string) *sluicerpc.Lease {

	t.Helper()
	var l *sluicerpc.Lease
	eventually(t, waitTimeout, "lease "+id+" to be "+state, func() error {
		ctx, cancel := rpcContext(t)
		defer cancel()
		resp, err := c.GetLease(ctx, connect.NewRequest(
			&sluicerpc.GetLeaseRequest{Id: id}))
		if err != nil {
			return err
		}
		l = resp.Msg.Lease
		switch {
		case l.State == state:
			return nil
		case leaseFinal[l.State]:
			return permanent(fmt.Errorf("lease is %s: %s", l.State,
				l.Reason))
		}
		return fmt.Errorf("lease is %s", l.State)
	})
	return l
}

// waitRecognised waits until the lease's premium is recognised to height
// h, as the formula has it, and checks the ledger: its entries sum to
// that, one of them at h.
func waitRecognised(t *testing.T, c sluicerpcconnect.LeaseServiceClient,
	book *payoutBook, l *sluicerpc.Lease, h uint32) *sluicerpc.Lease {

	t.Helper()
	want := lease.Recognised(ledger.MilliSatoshi(l.PremiumMsat),
		l.StartHeight, l.ChannelExpiryBlocks, h)
	eventually(t, waitTimeout, fmt.Sprintf("the premium recognised to "+
		"height %d", h), func() error {
		ctx, cancel := rpcContext(t)
		defer cancel()
		resp, err := c.GetLease(ctx, connect.NewRequest(
			&sluicerpc.GetLeaseRequest{Id: l.Id}))
		if err != nil {
			return err
		}
		l = resp.Msg.Lease
		switch got := ledger.MilliSatoshi(l.RecognisedMsat); {
		case got > want:
			return permanent(fmt.Errorf("%v recognised", got))
		case got < want:
			return fmt.Errorf("%v recognised", got)
		}
		return nil
	})
	var sum ledger.MilliSatoshi
	var atH bool
	for _, e := range book.history(ledger.StrategyYield(lease.Name)) {
		if !strings.HasPrefix(e.IdempotencyKey, "yield-lease:"+l.Id+
			":") {

			continue
		}
		sum -= e.Amount
		atH = atH || e.IdempotencyKey == lease.IncomeKey(l.Id, h)
	}
	if sum != want || !atH {

		t.Fatalf("recognised to %d: the ledger has %v (an entry at "+
			"%d: %v), want %v", h, sum, h, atH, want)
	}
	return l
}

// wantEntry checks that the account has the entry with the key and amount.
func wantEntry(t *testing.T, book *payoutBook, a ledger.Account, key string,
	amount ledger.MilliSatoshi) {

	t.Helper()
	for _, e := range book.history(a) {
		if e.IdempotencyKey == key {
			if e.Amount != amount {
				t.Fatalf("%v: %s is %v, want %v", a, key,
					e.Amount, amount)
			}
			return
		}
	}
	t.Fatalf("%v: no entry %s", a, key)
}

// yieldPlanCLI makes a plan with `sluice yield plan`.
func (s *sluiced) yieldPlanCLI(t *testing.T) *sluicerpc.YieldPlan {
	t.Helper()
	var resp sluicerpc.PlanResponse
	s.cliJSON(t, &resp, "yield", "plan")
	return resp.Plan
}

// yieldApplyCLI applies a plan with `sluice yield apply`.
func (s *sluiced) yieldApplyCLI(t *testing.T,
	id string) []*sluicerpc.AppliedAction {

	t.Helper()
	var resp sluicerpc.ApplyResponse
	s.cliJSON(t, &resp, "yield", "apply", id)
	return resp.Actions
}

// strategyReport is the report's strategy with the name.
func strategyReport(t *testing.T, r *sluicerpc.ReportResponse,
	name string) *sluicerpc.StrategyReport {

	t.Helper()
	for _, s := range r.Strategies {
		if s.Name == name {
			return s
		}
	}
	t.Fatalf("no strategy %s in the report: %+v", name, r.Strategies)
	return nil
}

// trackPayment follows the node's payment of hash in the background
// until it ends: nil when it succeeded, ErrPaymentFailed when it failed.
func trackPayment(t *testing.T, node *lndNode, hash []byte) <-chan error {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), leasePayTimeout)
	stream, err := node.router.TrackPaymentV2(ctx,
		&routerrpc.TrackPaymentRequest{PaymentHash: hash,
			NoInflightUpdates: true})
	if err != nil {
		cancel()
		t.Fatalf("%s: track payment %x: %v", node.Name, hash, err)
	}
	done := make(chan error, 1)
	go func() {
		defer cancel()
		for {
			p, err := stream.Recv()
			switch {
			case err != nil:
				done <- err
				return
			case p.Status == lnrpc.Payment_SUCCEEDED:
				done <- nil
				return
			case p.Status == lnrpc.Payment_FAILED:
				done <- fmt.Errorf("%w: %s", ErrPaymentFailed,
					p.FailureReason)
				return
			}
		}
	}()
	return done
}

// chainHeight is the chain backend's height.
func chainHeight(t *testing.T, n *network) int64 {
	t.Helper()
	c, err := n.profile.Chain()
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	h, err := c.Height()
	if err != nil {
		t.Fatal(err)
	}
	return h
}
