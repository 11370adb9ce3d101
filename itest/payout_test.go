//go:build itest

package itest

import (
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/lightningnetwork/lnd/lnrpc"
	"github.com/sluice-ln/sluice/daemon"
	"github.com/sluice-ln/sluice/devnet"
	"github.com/sluice-ln/sluice/failpoint"
	"github.com/sluice-ln/sluice/hubnode"
	"github.com/sluice-ln/sluice/ledger"
	"github.com/sluice-ln/sluice/lightning"
	"github.com/sluice-ln/sluice/payout"
	"github.com/sluice-ln/sluice/reconcile"
	"github.com/sluice-ln/sluice/store"
)

// payoutWait bounds how long payouts may take to drain a payable.
const payoutWait = 60 * time.Second

// payoutBook is the test's handle on sluiced's store: the same SQLite
// file, opened from the test process while sluiced runs (SQLite's file
// locks serialize the two), with the ledger over it. Until metering feeds
// payable through the API, the test plays metering: it links providers by
// writing their rows and credits their payable through the ledger.
type payoutBook struct {
	t      testing.TB
	s      *sluiced
	db     *store.DB
	ledger *ledger.Ledger
	keys   int

	// earned is what each provider was credited.
	earned map[string]ledger.MilliSatoshi
}

// openBook opens sluiced's store (creating it with every migration if
// sluiced has not run yet) and closes it when the test ends.
func openBook(t testing.TB, s *sluiced) *payoutBook {
	t.Helper()
	path := filepath.Join(s.dir, s.net.profile.Network, "sluice.db")
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		t.Fatal(err)
	}
	return openBookWith(t, s, store.Config{Backend: store.SQLite,
		SQLitePath: path})
}

// openBookWith is openBook on the store cfg names.
func openBookWith(t testing.TB, s *sluiced, cfg store.Config) *payoutBook {
	t.Helper()
	ctx, cancel := rpcContext(t)
	defer cancel()
	db, err := store.Open(ctx, cfg)
	if err != nil {
		t.Fatalf("open sluiced's store: %v", err)
	}
	t.Cleanup(func() { db.Close() })
	return &payoutBook{
		t:      t,
		s:      s,
		db:     db,
		ledger: ledger.New(store.NewLedgerStore(db), nil),
		earned: map[string]ledger.MilliSatoshi{},
	}
}

// addProvider records the node as a linked provider with the id.
func (b *payoutBook) addProvider(id string, node *lndNode) {
	b.t.Helper()
	ctx, cancel := rpcContext(b.t)
	defer cancel()
	now := time.Now()
	err := b.db.ExecTx(ctx, store.TxOptions{}, func(tx *store.Tx) error {
		return tx.InsertProvider(ctx, store.Provider{
			ID:          id,
			NodePubkey:  node.PubKey,
			AgentPubkey: strings.Repeat("1", 64),
			Alias:       node.Name,
			Status:      "linked",
			LinkedAt:    now,
			CreatedAt:   now,
		})
	})
	if err != nil {
		b.t.Fatalf("add provider %s: %v", id, err)
	}
}

// earn credits amt to the provider's payable from a funded job, as a
// funding invoice and metered usage would.
func (b *payoutBook) earn(provider string, amt ledger.MilliSatoshi) {
	b.t.Helper()
	ctx, cancel := rpcContext(b.t)
	defer cancel()
	b.keys++
	job := fmt.Sprintf("itest-job-%d", b.keys)
	for i, tx := range []ledger.Transaction{
		ledger.Transfer(job+":fund", "itest funding",
			ledger.HubHoldings(), ledger.BuyerEscrow(job), amt),
		ledger.Transfer(job+":usage", "itest usage",
			ledger.BuyerEscrow(job),
			ledger.ProviderPayable(provider), amt),
	} {
		if _, err := b.ledger.Post(ctx, tx); err != nil {
			b.t.Fatalf("earn step %d: %v", i, err)
		}
	}
	b.earned[provider] += amt
}

// balance returns an account's balance.
func (b *payoutBook) balance(a ledger.Account) ledger.MilliSatoshi {
	b.t.Helper()
	ctx, cancel := rpcContext(b.t)
	defer cancel()
	bal, err := b.ledger.Balance(ctx, a)
	if err != nil {
		b.t.Fatal(err)
	}
	return bal
}

// payouts returns every payout in the store.
func (b *payoutBook) payouts() []store.Payout {
	b.t.Helper()
	ctx, cancel := rpcContext(b.t)
	defer cancel()
	var out []store.Payout
	err := b.db.ExecTx(ctx, store.TxOptions{ReadOnly: true},
		func(tx *store.Tx) error {
			var err error
			out, err = tx.Payouts(ctx, "")
			return err
		})
	if err != nil {
		b.t.Fatal(err)
	}
	return out
}

// drained waits until nothing is pending or in flight and each
// provider's payable is below what a payout under the default policy
// would take, all read in one snapshot of the store: read one after the
// other, a payout whose intent landed between the read of the payouts and
// that of the payable (which the intent moves to in flight) went unseen.
func (b *payoutBook) drained(providers ...string) {
	b.t.Helper()
	pol := payout.DefaultPolicy()
	eventually(b.t, payoutWait, "payouts to drain the payable", func() error {
		ctx, cancel := rpcContext(b.t)
		defer cancel()
		return b.db.ExecTx(ctx, store.TxOptions{ReadOnly: true},
			func(tx *store.Tx) error {
				return drainedIn(ctx, tx, pol, providers)
			})
	})
}

// drainedIn is drained's check in tx: an error says what is left.
func drainedIn(ctx context.Context, tx *store.Tx, pol payout.Policy,
	providers []string) error {

	payouts, err := tx.Payouts(ctx, "")
	if err != nil {
		return err
	}
	for _, p := range payouts {
		if p.State == store.PayoutPending {
			return fmt.Errorf("payout %s pending", p.ID)
		}
	}
	for _, id := range providers {
		payable, err := tx.Balance(ctx, ledger.ProviderPayable(id))
		if err != nil {
			return err
		}
		if _, ok := pol.Plan(payable, 0, 0); ok {
			return fmt.Errorf("%s has %v payable", id, payable)
		}
		inFlight, err := tx.Balance(ctx, ledger.PayoutInFlight(id))
		if err != nil {
			return err
		}
		if inFlight != 0 {
			return fmt.Errorf("%s has %v in flight", id, inFlight)
		}
	}
	return nil
}

// reconcile checks the ledger and the store against both lnds: every
// succeeded payout arrived on the provider's node exactly once, as a
// settled keysend carrying its id, for its amount; the hub paid each
// payout's hash at most once; and paid out and routing fees equal what the
// hub's lnd paid, to the millisatoshi, with nothing in flight and nothing
// lost: earned = payable + paid out + routing fees (the provider pays
// them).
func (b *payoutBook) reconcile(net *network, nodes map[string]*lndNode) {
	b.t.Helper()
	ctx, cancel := rpcContext(b.t)
	defer cancel()

	byHash := map[string]store.Payout{}
	for _, p := range b.payouts() {
		if p.State == store.PayoutPending {
			b.t.Fatalf("payout %s still pending", p.ID)
		}
		byHash[p.PaymentHash] = p
	}

	// The hub's payments: one per payout hash, succeeded ones matching
	// the payouts that the store calls succeeded.
	resp, err := net.lnd(devnet.NodeHub).ln.ListPayments(ctx,
		&lnrpc.ListPaymentsRequest{IncludeIncomplete: true,
			MaxPayments: 100_000})
	if err != nil {
		b.t.Fatal(err)
	}
	hubPaid := map[string]ledger.MilliSatoshi{}
	var hubFees ledger.MilliSatoshi
	seen := map[string]bool{}
	for _, pay := range resp.Payments {
		p, ok := byHash[pay.PaymentHash]
		if !ok {
			continue
		}
		if seen[pay.PaymentHash] {
			b.t.Fatalf("the hub has two payments for payout %s",
				p.ID)
		}
		seen[pay.PaymentHash] = true
		succeeded := pay.Status == lnrpc.Payment_SUCCEEDED
		if succeeded != (p.State == store.PayoutSucceeded) {
			b.t.Fatalf("payout %s is %s, the hub's payment %v",
				p.ID, p.State, pay.Status)
		}
		if succeeded {
			hubPaid[p.ProviderID] += ledger.MilliSatoshi(
				pay.ValueMsat)
			hubFees += ledger.MilliSatoshi(pay.FeeMsat)
		}
	}

	var paidTotal ledger.MilliSatoshi
	for id, node := range nodes {
		// The provider's node: settled keysends with the payout id.
		inv, err := node.ln.ListInvoices(ctx,
			&lnrpc.ListInvoiceRequest{NumMaxInvoices: 100_000})
		if err != nil {
			b.t.Fatal(err)
		}
		got := map[string]ledger.MilliSatoshi{}
		for _, i := range inv.Invoices {
			if i.State != lnrpc.Invoice_SETTLED || !i.IsKeysend {
				continue
			}
			for _, h := range i.Htlcs {
				rec := h.CustomRecords[lightning.PayoutIDRecord]
				if rec == nil {
					continue
				}
				pid := string(rec)
				if _, dup := got[pid]; dup {
					b.t.Fatalf("%s received payout %s "+
						"twice", id, pid)
				}
				got[pid] = ledger.MilliSatoshi(i.AmtPaidMsat)
				p := byHash[hex.EncodeToString(i.RHash)]
				if p.ID != pid {
					b.t.Fatalf("%s: invoice %x carries "+
						"payout %s, the store has %q "+
						"for the hash", id, i.RHash,
						pid, p.ID)
				}
			}
		}
		var succeeded int
		for _, p := range byHash {
			if p.ProviderID != id ||
				p.State != store.PayoutSucceeded {

				continue
			}
			succeeded++
			if got[p.ID] != p.Amount {
				b.t.Fatalf("%s received %v for payout %s of %v",
					id, got[p.ID], p.ID, p.Amount)
			}
		}
		if succeeded != len(got) {
			b.t.Fatalf("%s received %d payouts, the store has %d "+
				"succeeded", id, len(got), succeeded)
		}

		paidOut := b.balance(ledger.PaidOut(id))
		if paidOut != hubPaid[id] {
			b.t.Fatalf("%s: ledger paid out %v, the hub paid %v",
				id, paidOut, hubPaid[id])
		}
		if f := b.balance(ledger.PayoutInFlight(id)); f != 0 {
			b.t.Fatalf("%s: %v still in flight", id, f)
		}
		paidTotal += paidOut
		b.t.Logf("%s: earned %v, %d payouts, paid out %v, payable %v",
			id, b.earned[id], succeeded, paidOut,
			b.balance(ledger.ProviderPayable(id)))
	}

	fees := b.balance(ledger.RoutingFees())
	if fees != hubFees {
		b.t.Fatalf("ledger routing fees %v, the hub paid %v", fees,
			hubFees)
	}
	var earned, payable ledger.MilliSatoshi
	for id := range nodes {
		earned += b.earned[id]
		payable += b.balance(ledger.ProviderPayable(id))
	}
	if earned != payable+paidTotal+fees {
		b.t.Fatalf("earned %v != payable %v + paid out %v + fees %v",
			earned, payable, paidTotal, fees)
	}

	b.reconcileTool(net)
}

// reconcileTool runs package reconcile, as `sluice operator reconcile`
// does, against the hub's lnd and wants no difference.
func (b *payoutBook) reconcileTool(net *network) {
	b.t.Helper()
	ctx, cancel := rpcContext(b.t)
	defer cancel()
	hub := net.lnd(devnet.NodeHub)
	services, err := daemon.ConnectLnd(ctx, &daemon.LndConfig{
		Host:         hub.RPCHost,
		TLSPath:      hub.TLSCertPath,
		MacaroonPath: hub.AdminMacaroonPath,
		DialTimeout:  daemon.DefaultLndDialTimeout,
		RPCTimeout:   daemon.DefaultLndRPCTimeout,
	}, net.profile.Network)
	if err != nil {
		b.t.Fatalf("connect to the hub: %v", err)
	}
	defer services.Close()

	r, err := reconcile.Run(ctx, b.db,
		hubnode.NewHubHistory(services.Client))
	if err != nil {
		b.t.Fatalf("reconcile: %v", err)
	}
	// The test plays funding too, without invoices: only the funding
	// total may differ, by exactly what it credited.
	var earned ledger.MilliSatoshi
	for _, e := range b.earned {
		earned += e
	}
	failed := false
	for _, d := range r.Differences {
		if d.Kind == reconcile.KindTotal &&
			strings.HasPrefix(d.Subject, "funded") &&
			r.Ledger.Funded == earned && r.Lnd.Funded == 0 {

			continue
		}
		b.t.Errorf("reconcile: %v", d)
		failed = true
	}
	if failed {
		b.t.FailNow()
	}
	b.t.Logf("reconciled with lnd: %d payouts, paid out %v, fees %v; "+
		"%d foreign payments", r.Payouts, r.Lnd.PaidOut,
		r.Lnd.RoutingFees, r.ForeignPayments)
	b.reconcileCLI(earned)
}

// reconcileCLI runs the operator's `sluice operator reconcile` and
// `sluice provider status` against sluiced (started for them when it is
// stopped): the only difference may be the funding the test credited
// without invoices, and each provider's status shows its ledger balances.
func (b *payoutBook) reconcileCLI(earned ledger.MilliSatoshi) {
	b.t.Helper()
	if !b.s.running() {
		b.s.start()
		defer b.s.stop()
	}
	r := b.s.reconcileCLI(b.t)
	for _, d := range r.Differences {
		if d.Kind == string(reconcile.KindTotal) &&
			strings.HasPrefix(d.Subject, "funded") &&
			r.Ledger.GetFundedMsat() == int64(earned) &&
			r.Lnd.GetFundedMsat() == 0 {

			continue
		}
		b.t.Errorf("sluice operator reconcile: %s %s: sluice has "+
			"%s, lnd has %s", d.Kind, d.Subject, d.Sluice, d.Lnd)
	}
	for id := range b.earned {
		st := b.s.providerStatusCLI(b.t, id)
		if err := statusMatchesLedger(st, b.balance); err != nil {
			b.t.Errorf("sluice provider status: %v", err)
		}
	}
	if b.t.Failed() {
		b.t.FailNow()
	}
}

// TestPayoutsStreamToProviders: sluiced pays two providers' payable, earned
// a little at a time, to their nodes as keysends carrying the payout id;
// the ledger equals what the hub's lnd paid and what the nodes received.
func TestPayoutsStreamToProviders(t *testing.T) {
	net := newNetwork(t)
	s := net.newSluiced()
	book := openBook(t, s)
	nodes := map[string]*lndNode{
		"provider1": net.lnd(devnet.NodeProvider1),
		"provider2": net.lnd(devnet.NodeProvider2),
	}
	for id, node := range nodes {
		book.addProvider(id, node)
	}
	s.start()

	// About three seconds of earnings, each provider at its own pace.
	for i := 0; i < 10; i++ {
		book.earn("provider1", ledger.MilliSatoshi(20_000+i*1_001))
		if i%2 == 0 {
			book.earn("provider2", 7_777)
		}
		time.Sleep(300 * time.Millisecond)
	}
	book.drained("provider1", "provider2")
	book.reconcile(net, nodes)

	for id := range nodes {
		var n int
		for _, p := range book.payouts() {
			if p.ProviderID == id && p.State == store.PayoutSucceeded {
				n++
			}
		}
		if n < 2 {
			t.Errorf("%s got %d payouts; payable earned over "+
				"seconds should stream in several", id, n)
		}
	}
	s.stop()
}

// TestPayoutCrashAtFailpoints kills sluiced (SIGKILL, by its failpoints)
// after a payout's intent is stored, after lnd took the payment, and after
// lnd reported success before the ledger recorded it; after each, a
// restarted sluiced finishes the payout, the provider's node received it
// exactly once, and the ledger equals what lnd paid.
func TestPayoutCrashAtFailpoints(t *testing.T) {
	net := newNetwork(t)
	s := net.newSluiced()
	book := openBook(t, s)
	provider := net.lnd(devnet.NodeProvider1)
	nodes := map[string]*lndNode{"provider1": provider}
	book.addProvider("provider1", provider)

	points := []string{
		payout.FailpointAfterIntent,
		payout.FailpointAfterSend,
		payout.FailpointAfterSuccess,
	}
	for i, point := range points {
		t.Logf("crash %d of %d: %s", i+1, len(points), point)
		before := len(book.payouts())

		t.Setenv(failpoint.EnvVar, point)
		s.start()
		book.earn("provider1", ledger.MilliSatoshi(50_000+i))
		eventually(t, payoutWait, "sluiced to kill itself at "+point,
			func() error {
				if s.running() {
					return errors.New("still running")
				}
				return nil
			})
		var exitErr *exec.ExitError
		if !errors.As(s.err, &exitErr) || exitErr.Sys().(syscall.
			WaitStatus).Signal() != syscall.SIGKILL {

			t.Fatalf("sluiced exited with %v, want SIGKILL at "+
				"%s\n%s", s.err, point, s.tail())
		}
		if !strings.Contains(s.tail(), "failpoint "+point) {
			t.Fatalf("sluiced's output does not name %s\n%s", point,
				s.tail())
		}

		ps := book.payouts()
		if len(ps) != before+1 || ps[len(ps)-1].State !=
			store.PayoutPending {

			t.Fatalf("after the crash at %s: payouts %+v, want "+
				"one more, pending", point, ps[before:])
		}

		t.Setenv(failpoint.EnvVar, "")
		s.start()
		book.drained("provider1")
		s.stop()
		book.reconcile(net, nodes)
	}
}

// TestPayoutRandomKills kills sluiced with SIGKILL at 20 random times while
// two providers keep earning (as a running job would make them) and are
// paid every 100 ms, restarts it each time, and at the end checks that every payout succeeded exactly
// once in lnd, the ledger equals what lnd paid to the millisatoshi, and no
// payable was lost.
func TestPayoutRandomKills(t *testing.T) {
	const kills = 20

	net := newNetwork(t)
	s := net.newSluiced()
	book := openBook(t, s)
	nodes := map[string]*lndNode{
		"provider1": net.lnd(devnet.NodeProvider1),
		"provider2": net.lnd(devnet.NodeProvider2),
	}
	for id, node := range nodes {
		book.addProvider(id, node)
	}

	// Pay often, so that many kills land while a payout is in flight.
	s.addConf("payout", "payout.interval=100ms")

	seed := uint64(time.Now().UnixNano())
	t.Logf("seed %d", seed)
	rng := rand.New(rand.NewPCG(seed, seed))

	leftPending := map[string]bool{}
	for i := 0; i < kills; i++ {
		s.start()
		runFor := time.Duration(200+rng.IntN(1800)) * time.Millisecond
		end := time.Now().Add(runFor)
		for time.Now().Before(end) {
			book.earn("provider1",
				ledger.MilliSatoshi(5_000+rng.IntN(30_000)))
			if rng.IntN(2) == 0 {
				book.earn("provider2",
					ledger.MilliSatoshi(1_000+rng.IntN(9_000)))
			}
			time.Sleep(time.Duration(20+rng.IntN(150)) *
				time.Millisecond)
		}
		s.kill()
		for _, p := range book.payouts() {
			if p.State == store.PayoutPending {
				leftPending[p.ID] = true
			}
		}
	}
	t.Logf("%d kills left %d payouts pending", kills, len(leftPending))

	s.start()
	book.drained("provider1", "provider2")
	s.stop()
	book.reconcile(net, nodes)
}
