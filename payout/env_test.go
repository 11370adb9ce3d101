package payout_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/lightningnetwork/lnd/routing/route"
	"github.com/sluice-ln/sluice/clocktest"
	"github.com/sluice-ln/sluice/ledger"
	"github.com/sluice-ln/sluice/outbound"
	"github.com/sluice-ln/sluice/payout"
	"github.com/sluice-ln/sluice/payout/payouttest"
	"github.com/sluice-ln/sluice/store"
	"github.com/sluice-ln/sluice/store/storetest"
)

// The fake is what the package needs.
var (
	_ payout.Payments = (*payouttest.Lnd)(nil)
	_ payout.Routes   = (*payouttest.Lnd)(nil)
)

// Providers of the tests and their nodes.
var (
	nodeA = mustVertex("02" + strings.Repeat("aa", 32))
	nodeB = mustVertex("03" + strings.Repeat("bb", 32))
)

func mustVertex(s string) route.Vertex {
	v, err := route.NewVertexFromStr(s)
	if err != nil {
		panic(err)
	}
	return v
}

// env is a store with two linked providers, a ledger over it, a fake lnd
// and an executor.
type env struct {
	t      testing.TB
	db     *store.DB
	ledger *ledger.Ledger
	lnd    *payouttest.Lnd
	clock  *clocktest.Clock
	exec   *payout.Executor

	// keys numbers the test's own ledger transactions.
	keys int
}

// newEnv opens a fresh SQLite store at path (a temp dir when empty) with
// providers pa (nodeA) and pb (nodeB).
func newEnv(t testing.TB, path string) *env {
	t.Helper()
	cfg := storetest.Config(t, store.SQLite)
	if path != "" {
		cfg.SQLitePath = path
	}
	return envOver(t, storetest.Open(t, cfg))
}

// envOver is newEnv on an open store.
func envOver(t testing.TB, db *store.DB) *env {
	t.Helper()
	e := &env{
		t:     t,
		db:    db,
		lnd:   payouttest.New(t),
		clock: clocktest.New(time.Date(2026, 6, 1, 12, 0, 0, 0, time.UTC)),
	}
	e.ledger = ledger.New(store.NewLedgerStore(db), e.clock.Now)

	e.linkProviders(map[string]string{
		"pa": nodeA.String(), "pb": nodeB.String(),
	})
	e.exec = e.newExecutor()
	return e
}

// newExecutor returns a fresh executor over the env, as a restarted
// sluiced would have, whose waits are instant.
func (e *env) newExecutor() *payout.Executor {
	e.t.Helper()
	ex, err := payout.NewExecutor(payout.ExecutorConfig{
		DB:       e.db,
		Ledger:   e.ledger,
		Payments: e.lnd,
		Routes:   e.lnd,
		Clock:    e.clock,
	})
	if err != nil {
		e.t.Fatal(err)
	}
	ex.SetHook(func(string) {})
	ex.SetRetry(outbound.Retry{InitialWait: time.Nanosecond,
		MaxWait: time.Nanosecond})
	return ex
}

// crashAt makes ex cancel cancel when it reaches the failpoint, as a kill
// there would: nothing after it reaches the store or lnd.
func crashAt(ex *payout.Executor, point string, cancel context.CancelFunc) {
	ex.SetHook(func(name string) {
		if name == point {
			cancel()
		}
	})
}

// post records a transfer under a fresh key.
func (e *env) post(from, to ledger.Account, amt ledger.MilliSatoshi) {
	e.t.Helper()
	e.keys++
	_, err := e.ledger.Post(context.Background(), ledger.Transfer(
		fmt.Sprintf("test:%d", e.keys), "test", from, to, amt))
	if err != nil {
		e.t.Fatal(err)
	}
}

// earn funds a job and moves amt of it into the provider's payable, as
// metering does.
func (e *env) earn(provider, job string, amt ledger.MilliSatoshi) {
	e.t.Helper()
	e.post(ledger.HubHoldings(), ledger.BuyerEscrow(job), amt)
	e.post(ledger.BuyerEscrow(job), ledger.ProviderPayable(provider), amt)
}

// fees gives the platform amt of fees.
func (e *env) fees(amt ledger.MilliSatoshi) {
	e.t.Helper()
	e.post(ledger.HubHoldings(), ledger.BuyerEscrow("fees"), amt)
	e.post(ledger.BuyerEscrow("fees"), ledger.PlatformFees(), amt)
}

// balance returns an account's balance.
func (e *env) balance(a ledger.Account) ledger.MilliSatoshi {
	e.t.Helper()
	b, err := e.ledger.Balance(context.Background(), a)
	if err != nil {
		e.t.Fatal(err)
	}
	return b
}

// balances are a provider's payout accounts and the singletons payouts
// touch.
type balances struct {
	Payable, InFlight, PaidOut, Routing, Platform ledger.MilliSatoshi
}

func (e *env) balances(provider string) balances {
	e.t.Helper()
	return balances{
		Payable:  e.balance(ledger.ProviderPayable(provider)),
		InFlight: e.balance(ledger.PayoutInFlight(provider)),
		PaidOut:  e.balance(ledger.PaidOut(provider)),
		Routing:  e.balance(ledger.RoutingFees()),
		Platform: e.balance(ledger.PlatformFees()),
	}
}

// candidate is the provider as the scheduler would see it now.
func (e *env) candidate(provider string) payout.Candidate {
	e.t.Helper()
	node := nodeA
	if provider == "pb" {
		node = nodeB
	}
	return payout.Candidate{
		ProviderID: provider,
		Node:       node,
		Payable:    e.balance(ledger.ProviderPayable(provider)),
	}
}

// payouts returns the stored payouts, oldest first.
func (e *env) payouts() []store.Payout {
	e.t.Helper()
	var out []store.Payout
	err := e.db.ExecTx(context.Background(), store.TxOptions{ReadOnly: true},
		func(tx *store.Tx) error {
			var err error
			out, err = tx.Payouts(context.Background(), "")
			return err
		})
	if err != nil {
		e.t.Fatal(err)
	}
	return out
}

// pending returns the ids of pending payouts.
func (e *env) pending() []string {
	e.t.Helper()
	var ids []string
	for _, p := range e.payouts() {
		if p.State == store.PayoutPending {
			ids = append(ids, p.ID)
		}
	}
	return ids
}

// status returns a provider's payout status, zero when none is recorded.
func (e *env) status(provider string) store.PayoutStatus {
	e.t.Helper()
	var s store.PayoutStatus
	err := e.db.ExecTx(context.Background(), store.TxOptions{ReadOnly: true},
		func(tx *store.Tx) error {
			var err error
			s, err = tx.PayoutStatus(context.Background(), provider)
			return err
		})
	if err != nil && !errors.Is(err, store.ErrNotFound) {
		e.t.Fatal(err)
	}
	return s
}

// linkProviders stores the providers, by id with their node keys, as
// linked now.
func (e *env) linkProviders(nodes map[string]string) {
	e.t.Helper()
	ctx := context.Background()
	err := e.db.ExecTx(ctx, store.TxOptions{}, func(tx *store.Tx) error {
		for id, node := range nodes {
			err := tx.InsertProvider(ctx, store.Provider{
				ID:          id,
				NodePubkey:  node,
				AgentPubkey: strings.Repeat("1", 64),
				Status:      "linked",
				LinkedAt:    e.clock.Now(),
				CreatedAt:   e.clock.Now(),
			})
			if err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		e.t.Fatal(err)
	}
}
