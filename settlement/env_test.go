package settlement_test

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/btcsuite/btcd/btcec/v2"
	"github.com/btcsuite/btcd/btcec/v2/ecdsa"
	"github.com/btcsuite/btcd/chaincfg"
	"github.com/btcsuite/btcd/chaincfg/chainhash"
	"github.com/lightningnetwork/lnd/lntypes"
	"github.com/lightningnetwork/lnd/lnwire"
	"github.com/lightningnetwork/lnd/routing/route"
	"github.com/lightningnetwork/lnd/zpay32"
	"github.com/sluice-ln/sluice/channels"
	"github.com/sluice-ln/sluice/clocktest"
	"github.com/sluice-ln/sluice/ledger"
	"github.com/sluice-ln/sluice/settlement"
	"github.com/sluice-ln/sluice/settlement/settlementtest"
	"github.com/sluice-ln/sluice/store"
	"github.com/sluice-ln/sluice/store/storetest"
)

// key is a node key for tests.
type key struct {
	priv *btcec.PrivateKey
	node route.Vertex
}

func newKey(t *testing.T) key {
	t.Helper()
	priv, err := btcec.NewPrivateKey()
	if err != nil {
		t.Fatal(err)
	}
	return key{priv: priv,
		node: route.NewVertex(priv.PubKey())}
}

// invoice makes a BOLT11 invoice signed by k for net: amt 0 makes a
// zero-amount one.
func (k key) invoice(t *testing.T, net *chaincfg.Params, amt lnwire.MilliSatoshi,
	created time.Time, expiry time.Duration) (string, lntypes.Hash) {

	t.Helper()
	var preimage lntypes.Preimage
	if _, err := rand.Read(preimage[:]); err != nil {
		t.Fatal(err)
	}
	opts := []func(*zpay32.Invoice){
		zpay32.Description("refund"), zpay32.Expiry(expiry),
	}
	if amt > 0 {
		opts = append(opts, zpay32.Amount(amt))
	}
	inv, err := zpay32.NewInvoice(net, preimage.Hash(), created, opts...)
	if err != nil {
		t.Fatal(err)
	}
	s, err := inv.Encode(zpay32.MessageSigner{
		SignCompact: func(msg []byte) ([]byte, error) {
			return ecdsa.SignCompact(k.priv, chainhash.HashB(msg),
				true), nil
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	return s, preimage.Hash()
}

// env is a manager on a fresh SQLite store with a fake hub, one provider
// and one buyer.
type env struct {
	t      *testing.T
	ctx    context.Context
	db     *store.DB
	ledger *ledger.Ledger
	hub    *settlementtest.Hub
	provs  *settlementtest.Providers
	clock  *clocktest.Clock
	hubKey key
	cfg    settlement.Config
	m      *settlement.Manager
	buyer  string
	prov   settlement.Provider
}

// rate parses a rate.
func rate(t *testing.T, s string) ledger.Rate {
	t.Helper()
	r, err := ledger.ParseRate(s)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// newEnv makes an env whose provider prices cpu at 0.01 msat per
// core-millisecond and mem at 0.001 msat per MiB-second.
func newEnv(t *testing.T) *env {
	t.Helper()
	e := &env{
		t:     t,
		ctx:   context.Background(),
		clock: clocktest.New(time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)),
	}
	e.db = storetest.Open(t, storetest.Config(t, store.SQLite))
	e.ledger = ledger.New(store.NewLedgerStore(e.db), e.clock.Now)
	e.hub = settlementtest.NewHub(t, e.clock.Now)
	e.hubKey = newKey(t)
	e.prov = settlement.Provider{
		ID: "prov-1", Node: newKey(t).node,
		Rates: channels.RateCard{
			channels.ResourceCPU: rate(t, "0.01"),
			channels.ResourceMem: rate(t, "0.001"),
		},
	}
	e.provs = settlementtest.NewProviders(e.prov)
	e.cfg = settlement.Config{
		DB: e.db, Ledger: e.ledger, Invoices: e.hub, Payments: e.hub,
		Routes: e.hub, Providers: e.provs, Network: "regtest",
		HubNode:       e.hubKey.node,
		SweepInterval: 20 * time.Millisecond, Clock: e.clock,
	}
	e.m = e.newManager()

	b, err := e.m.AddBuyer(e.ctx, "alice")
	if err != nil {
		t.Fatal(err)
	}
	e.buyer = b.ID
	return e
}

// newManager makes a manager on the env's store and fakes.
func (e *env) newManager() *settlement.Manager {
	e.t.Helper()
	m, err := settlement.New(e.cfg)
	if err != nil {
		e.t.Fatal(err)
	}
	return m
}

// start starts m and stops it when the test ends.
func (e *env) start(m *settlement.Manager) {
	e.t.Helper()
	if err := m.Start(); err != nil {
		e.t.Fatal(err)
	}
	e.t.Cleanup(m.Stop)
}

// create makes a job using 1000 cpu per second (10 msat/s) with budget and
// buffer.
func (e *env) create(budget ledger.MilliSatoshi,
	buffer int64) settlement.Status {

	e.t.Helper()
	st, err := e.m.CreateJob(e.ctx, settlement.CreateJobRequest{
		BuyerID: e.buyer, ProviderID: e.prov.ID,
		Spec:   settlement.Spec{channels.ResourceCPU: 1000},
		Budget: budget, BufferSeconds: buffer,
	})
	if err != nil {
		e.t.Fatal(err)
	}
	return st
}

// hash returns the payment hash of an invoice.
func hashOf(t *testing.T, inv settlement.Invoice) lntypes.Hash {
	t.Helper()
	h, err := lntypes.MakeHashFromStr(inv.PaymentHash)
	if err != nil {
		t.Fatal(err)
	}
	return h
}

// get reads a job's status.
func (e *env) get(id string) settlement.Status {
	e.t.Helper()
	st, err := e.m.GetJob(e.ctx, id)
	if err != nil {
		e.t.Fatal(err)
	}
	return st
}

// eventually waits up to 5 s for check to pass.
func (e *env) eventually(what string, check func() error) {
	e.t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		err := check()
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			e.t.Fatalf("waiting for %s: %v", what, err)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// waitState waits until the job is in state.
func (e *env) waitState(id string, want settlement.State) settlement.Status {
	e.t.Helper()
	var st settlement.Status
	e.eventually(fmt.Sprintf("job %s to be %s", id, want), func() error {
		st = e.get(id)
		if st.State != want {
			return fmt.Errorf("state %s", st.State)
		}
		return nil
	})
	return st
}

// inTx runs fn in a store transaction, as metering's group commit hands
// its transaction to settlement.
func (e *env) inTx(fn func(tx settlement.TxStore) error) error {
	return e.db.ExecSettlement(e.ctx, false, fn)
}

// testFee is the platform fee the usage helper takes, as metering would
// at the operator's setting of 10%.
const testFee = ledger.BasisPoints(1000)

// usageResult is what posting usage did: the ledger's receipt and the
// job's state and solvency after settlement re-evaluated it.
type usageResult struct {
	Receipt       ledger.Receipt
	Fee           ledger.MilliSatoshi
	ProviderShare ledger.MilliSatoshi
	State         settlement.State
	Solvency      settlement.Solvency
}

// charge posts usage of a job in its own transaction the way metering's
// store does (store/metering_domain.go): escrow → provider payable and
// platform fees (testFee of amt, rounded down) under key, then
// UsageCharged. Settlement no longer charges; it only re-evaluates.
func (e *env) charge(id string, amt ledger.MilliSatoshi,
	key string) (usageResult, error) {

	return e.chargeWith(e.m, id, amt, key)
}

// chargeWith is charge with settlement's re-evaluation by m.
func (e *env) chargeWith(m *settlement.Manager, id string,
	amt ledger.MilliSatoshi, key string) (usageResult, error) {

	fee, share, err := ledger.SplitFee(amt, testFee)
	if err != nil {
		return usageResult{}, err
	}
	res := usageResult{Fee: fee, ProviderShare: share}
	err = e.inTx(func(tx settlement.TxStore) error {
		postings := []ledger.Posting{
			{Account: ledger.BuyerEscrow(id), Amount: -amt},
		}
		if share > 0 {
			postings = append(postings, ledger.Posting{
				Account: ledger.ProviderPayable(e.prov.ID),
				Amount:  share,
			})
		}
		if fee > 0 {
			postings = append(postings, ledger.Posting{
				Account: ledger.PlatformFees(), Amount: fee,
			})
		}
		var err error
		res.Receipt, err = e.ledger.PostTx(e.ctx, tx,
			ledger.Transaction{IdempotencyKey: key,
				Description: "usage of " + id,
				Postings:    postings})
		if err != nil {
			return err
		}
		res.State, res.Solvency, err = m.UsageCharged(e.ctx, tx, id,
			key)
		return err
	})
	return res, err
}

// waitTopUp waits until the sweeper has made a job's top-up invoice.
func (e *env) waitTopUp(id string) settlement.Status {
	e.t.Helper()
	var st settlement.Status
	e.eventually("a top-up invoice of job "+id, func() error {
		st = e.get(id)
		if st.TopUp == nil {
			return fmt.Errorf("none yet, state %s", st.State)
		}
		return nil
	})
	return st
}

// startJob marks a job started in its own transaction.
func (e *env) startJob(id string) (settlement.State, error) {
	var st settlement.State
	err := e.inTx(func(tx settlement.TxStore) error {
		var err error
		st, err = e.m.StartJob(e.ctx, tx, id, time.Time{})
		return err
	})
	return st, err
}

// balance is an account's balance.
func (e *env) balance(a ledger.Account) ledger.MilliSatoshi {
	e.t.Helper()
	b, err := e.ledger.Balance(e.ctx, a)
	if err != nil {
		e.t.Fatal(err)
	}
	return b
}

// history is an account's history.
func (e *env) history(a ledger.Account) []ledger.Entry {
	e.t.Helper()
	h, err := e.ledger.History(e.ctx, a, 0, 0)
	if err != nil {
		e.t.Fatal(err)
	}
	return h
}

// fund settles a job's funding invoice (for paid, 0 for its amount) and
// waits until the job is funded.
func (e *env) fund(st settlement.Status, paid lnwire.MilliSatoshi) {
	e.t.Helper()
	e.hub.Settle(hashOf(e.t, st.Invoices[0]), paid)
	e.eventually("funding to be credited", func() error {
		if s := e.get(st.ID); !s.State.Funded() {
			return fmt.Errorf("state %s", s.State)
		}
		return nil
	})
}

// wantErr fails unless errors.Is(err, want).
func wantErr(t *testing.T, what string, err, want error) {
	t.Helper()
	if !errors.Is(err, want) {
		t.Fatalf("%s: err = %v, want %v", what, err, want)
	}
}
