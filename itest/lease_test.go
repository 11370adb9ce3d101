//go:build itest

package itest

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/lightningnetwork/lnd/lnrpc"
	"github.com/lightningnetwork/lnd/lnrpc/routerrpc"
	"github.com/lightningnetwork/lnd/routing/route"
	"github.com/sluice-ln/sluice/devnet"
	"github.com/sluice-ln/sluice/hubnode"
	"github.com/sluice-ln/sluice/ledger"
	"github.com/sluice-ln/sluice/store"
	"github.com/sluice-ln/sluice/yield"
	"github.com/sluice-ln/sluice/yield/lease"
)

// leaseRig is the lease strategy on the real hub, in a vault of its own
// store, funded directly on the ledger.
type leaseRig struct {
	t     *testing.T
	net   *network
	db    *store.DB
	lg    *ledger.Ledger
	vault *yield.Vault
	s     *lease.Strategy
	buyer route.Vertex
}

// newLeaseRig builds the strategy over the network's hub and a vault
// holding fund msat with a lease cap of cap msat and no floor.
func newLeaseRig(t *testing.T, net *network, fund,
	cap ledger.MilliSatoshi) *leaseRig {

	t.Helper()
	ctx, cancel := rpcContext(t)
	defer cancel()
	hub, err := net.profile.Hub()
	if err != nil {
		t.Fatal(err)
	}
	svc, err := hub.Services(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(svc.Close)
	db, err := store.Open(ctx, store.Config{Backend: store.SQLite,
		SQLitePath: filepath.Join(t.TempDir(), "sluice.db")})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = db.Close() })

	r := &leaseRig{t: t, net: net, db: db,
		lg: ledger.New(store.NewLedgerStore(db), nil)}
	r.buyer, err = route.NewVertexFromBytes(
		net.lnd(devnet.NodeBuyer).pubKey(t))
	if err != nil {
		t.Fatal(err)
	}
	cfg := lease.DefaultConfig()
	cfg.RatePPB = 1_000_000
	cfg.MinBlocks = 5
	cfg.InvoiceExpiry = 10 * time.Minute
	ref := &vaultRef{}
	r.s, err = lease.New(cfg, lease.NewHub(svc.Client),
		hubnode.NewHoldInvoices(svc.Client, svc.Invoices), db, ref,
		nil)
	if err != nil {
		t.Fatal(err)
	}
	reg, err := yield.NewRegistry(r.s)
	if err != nil {
		t.Fatal(err)
	}
	r.vault, err = yield.New(db, r.lg, yield.Config{Strategies: reg,
		Epoch: yield.DefaultEpoch, RewardPPM: yield.DefaultRewardPPM})
	if err != nil {
		t.Fatal(err)
	}
	ref.v = r.vault
	r.fundVault(fund)
	if _, err := r.vault.SetPolicy(ctx, 0, map[string]ledger.
		MilliSatoshi{lease.Name: cap}); err != nil {

		t.Fatal(err)
	}
	return r
}

// vaultRef is the vault, set once built (the vault takes the strategy
// when made; the strategy reads the vault).
type vaultRef struct{ v *yield.Vault }

func (r *vaultRef) State(ctx context.Context) (yield.State, error) {
	return r.v.State(ctx)
}

func (r *vaultRef) StrategySettingsAll(ctx context.Context) (
	map[string]yield.StrategySettings, error) {

	return r.v.StrategySettingsAll(ctx)
}

// fundVault puts msat in the idle vault, as if staked. The lead's itest
// harness will fund sluiced's vault through its API; this rig posts it
// on the ledger of its own store.
func (r *leaseRig) fundVault(msat ledger.MilliSatoshi) {
	r.t.Helper()
	ctx, cancel := rpcContext(r.t)
	defer cancel()
	_, err := r.lg.Post(ctx, ledger.Transaction{
		IdempotencyKey: "itest-fund-vault",
		Description:    "itest: fund the vault",
		Postings: []ledger.Posting{
			{Account: ledger.HubHoldings(), Amount: -msat},
			{Account: ledger.Vault(), Amount: msat},
		},
	})
	if err != nil {
		r.t.Fatalf("fund the vault: %v", err)
	}
}

// harvest runs the vault's resume-and-harvest once.
func (r *leaseRig) harvest() error {
	ctx, cancel := rpcContext(r.t)
	defer cancel()
	return r.vault.ResumeAndHarvest(ctx)
}

// waitState harvests until the lease is in state.
func (r *leaseRig) waitState(id string, state lease.State) lease.Lease {
	r.t.Helper()
	var l lease.Lease
	eventually(r.t, 2*waitTimeout, "lease "+string(state), func() error {
		if err := r.harvest(); err != nil {
			return err
		}
		var err error
		l, err = r.s.Lease(r.t.Context(), id)
		switch {
		case err != nil:
			return err
		case l.State == state:
			return nil
		case l.State.Final():
			return permanent(fmt.Errorf("lease %s: %s", l.State,
				l.Reason))
		}
		return fmt.Errorf("lease is %s", l.State)
	})
	return l
}

// balance is an account's balance.
func (r *leaseRig) balance(a ledger.Account) ledger.MilliSatoshi {
	r.t.Helper()
	b, err := r.lg.Balance(r.t.Context(), a)
	if err != nil {
		r.t.Fatal(err)
	}
	return b
}

// payAsync pays payReq from the buyer in the background.
func payAsync(t *testing.T, buyer *lndNode, payReq string) <-chan error {
	done := make(chan error, 1)
	go func() {
		ctx, cancel := context.WithTimeout(t.Context(), 5*time.Minute)
		defer cancel()
		_, err := sendHeld(ctx, buyer, payReq)
		done <- err
	}()
	return done
}

// sendHeld is payInvoiceErr with a deadline long enough for a held
// payment.
func sendHeld(ctx context.Context, l *lndNode, payReq string) (
	*lnrpc.Payment, error) {

	return SendPayment(ctx, l.router, &routerrpc.SendPaymentRequest{
		PaymentRequest:    payReq,
		TimeoutSeconds:    60,
		FeeLimitSat:       100,
		NoInflightUpdates: true,
	})
}

// TestLeaseOnRealNodes sells a lease to the buyer node on the real hub: the
// buyer pays the hold invoice (held), a plan accepts the paid lease, its
// apply opens the channel, the invoice settles once the funding confirms
// (the buyer's payment succeeds), the premium is recognised block by block
// in the ledger, the channel closes at expiry and the capital returns, and
// the report's lease premium is the premium. A second lease, whose open
// the buyer's node refuses, cancels its hold invoice (the buyer's payment
// fails) and gives the capital back.
func TestLeaseOnRealNodes(t *testing.T) {
	net := newNetwork(t)
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Minute)
	defer cancel()
	r := newLeaseRig(t, net, 1_000_000_000, 200_000_000)
	buyer := net.lnd(devnet.NodeBuyer)

	// 50,000 sat × 1000 × 1,000,000 ppb × 10 / 10⁹ = 500,000 msat.
	l, err := r.s.Request(ctx, lease.Request{Node: r.buyer.String(),
		Capacity: 50_000, Blocks: 10, Key: "itest-1"})
	if err != nil {
		t.Fatal(err)
	}
	if l.Premium != 500_000 || l.PayReq == "" {
		t.Fatalf("order: %+v", l)
	}
	paid := payAsync(t, buyer, l.PayReq)
	r.waitState(l.ID, lease.StatePaid)
	select {
	case err := <-paid:
		t.Fatalf("the held payment ended before the open: %v", err)
	default:
	}

	p, err := r.vault.Plan(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(p.Actions) != 1 || p.Actions[0].Kind !=
		yield.ActionLeaseAccept || p.Actions[0].Target != l.ID {

		t.Fatalf("plan: %+v", p)
	}
	applied, err := r.vault.Apply(ctx, p.ID)
	if err != nil {
		t.Fatal(err)
	}
	a := applied.Actions[0]
	if a.Status != yield.ActionSucceeded || a.Outcome.Result == "" {
		t.Fatalf("applied: %+v", a)
	}
	if got := r.balance(ledger.StrategyPrincipal(lease.Name)); got !=
		50_000_000 {

		t.Fatalf("principal after apply: %v", got)
	}

	net.mine(6)
	l = r.waitState(l.ID, lease.StateActive)
	select {
	case err := <-paid:
		if err != nil {
			t.Fatalf("the buyer's payment: %v", err)
		}
	case <-time.After(waitTimeout):
		t.Fatal("the buyer's payment did not succeed once settled")
	}
	if !l.Settled || l.ExpiryHeight != l.StartHeight+10 ||
		l.ChanPoint != a.Outcome.Result {

		t.Fatalf("active: %+v", l)
	}

	// Recognised in steps as blocks come; never all before expiry.
	for l.RecognisedHeight < l.ExpiryHeight-1 {
		net.mine(1)
		before := l.Recognised
		eventually(t, waitTimeout, "a step recognised", func() error {
			if err := r.harvest(); err != nil {
				return err
			}
			l, err = r.s.Lease(ctx, l.ID)
			if err != nil || l.Recognised > before {
				return err
			}
			return errors.New("nothing recognised yet")
		})
		if l.Recognised != lease.Recognised(l.Premium,
			l.StartHeight, l.Blocks, l.RecognisedHeight) {

			t.Fatalf("recognised %v at %d", l.Recognised,
				l.RecognisedHeight)
		}
	}
	if l.Recognised >= l.Premium {
		t.Fatalf("all recognised before expiry: %+v", l)
	}

	net.mine(1)
	l = r.waitState(l.ID, lease.StateClosing)
	if l.Recognised != l.Premium || l.CloseTxid == "" {
		t.Fatalf("at expiry: %+v", l)
	}
	net.mine(6)
	l = r.waitState(l.ID, lease.StateClosed)
	if got := r.balance(ledger.StrategyPrincipal(lease.Name)); got != 0 {
		t.Fatalf("principal after close: %v", got)
	}
	// The report's lines are read from these entries by their keys'
	// prefixes (yield/report.go). Vault.Report itself is not called:
	// over a window of minutes its APY, (1+r)^(year/window), runs for
	// minutes in decimal's PowWithPrecision (reported to the lead).
	entries, err := r.lg.History(ctx, ledger.StrategyYield(lease.Name),
		0, 0)
	if err != nil {
		t.Fatal(err)
	}
	var premium, costs ledger.MilliSatoshi
	for _, e := range entries {
		switch {
		case strings.HasPrefix(e.IdempotencyKey, "yield-lease:"+l.ID+":"):
			premium -= e.Amount
		case strings.HasPrefix(e.IdempotencyKey, "yield-cost:open:"),
			strings.HasPrefix(e.IdempotencyKey, "yield-cost:close:"):

			costs += e.Amount
		}
	}
	if premium != l.Premium || costs <= 0 {
		t.Fatalf("ledger: premium %v, costs %v, want %v and the "+
			"chain fees", premium, costs, l.Premium)
	}
	t.Logf("lease %s: premium %v recognised in %d entries, chain fees "+
		"%v", l.ID, premium, len(entries), costs)

	// The second lease: the buyer refuses the channel.
	stopAcceptor := refuseChannels(t, buyer)
	defer stopAcceptor()
	l2, err := r.s.Request(ctx, lease.Request{Node: r.buyer.String(),
		Capacity: 60_000, Blocks: 10})
	if err != nil {
		t.Fatal(err)
	}
	paid2 := payAsync(t, buyer, l2.PayReq)
	r.waitState(l2.ID, lease.StatePaid)
	p2, err := r.vault.Plan(ctx)
	if err != nil {
		t.Fatal(err)
	}
	applied2, err := r.vault.Apply(ctx, p2.ID)
	if err != nil {
		t.Fatal(err)
	}
	if a := applied2.Actions[0]; a.Status != yield.ActionFailed ||
		!strings.Contains(a.Outcome.Error, "refused") {

		t.Fatalf("refused open: %+v", a)
	}
	select {
	case err := <-paid2:
		if !errors.Is(err, ErrPaymentFailed) {
			t.Fatalf("the buyer's second payment: %v", err)
		}
	case <-time.After(waitTimeout):
		t.Fatal("the buyer's second payment did not fail")
	}
	if got, err := r.s.Lease(ctx, l2.ID); err != nil ||
		got.State != lease.StateFailed {

		t.Fatalf("second lease: %+v, %v", got, err)
	}
	if got := r.balance(ledger.StrategyPrincipal(lease.Name)); got != 0 {
		t.Fatalf("principal after the failed open: %v", got)
	}
}

// refuseChannels makes the node refuse every channel opened to it, with
// an lnd ChannelAcceptor stream, until the returned func is called.
func refuseChannels(t *testing.T, node *lndNode) func() {
	t.Helper()
	ctx, cancel := context.WithCancel(t.Context())
	stream, err := node.ln.ChannelAcceptor(ctx)
	if err != nil {
		cancel()
		t.Fatalf("%s: channel acceptor: %v", node.Name, err)
	}
	go func() {
		for {
			req, err := stream.Recv()
			if err != nil {
				return
			}
			_ = stream.Send(&lnrpc.ChannelAcceptResponse{
				PendingChanId: req.PendingChanId,
				Accept:        false,
				Error:         "itest: no leases wanted",
			})
		}
	}()
	return cancel
}
