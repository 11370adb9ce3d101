package yield_test

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/lightningnetwork/lnd/clock"
	"github.com/sluice-ln/sluice/ledger"
	"github.com/sluice-ln/sluice/store"
	"github.com/sluice-ln/sluice/store/storetest"
	"github.com/sluice-ln/sluice/yield"
)

// testStart is the vault's clock when a test begins.
var testStart = time.Date(2026, 6, 1, 12, 0, 0, 0, time.UTC)

// routing is a strategy the tests allocate to by hand, as issue 12's
// allocation will.
type routing struct{}

func (routing) Name() string { return "routing" }

// failer is what env reports failures to: a *testing.T, or the
// *rapid.T of a property test.
type failer interface {
	Helper()
	Fatal(args ...any)
	Fatalf(format string, args ...any)
}

// env is a vault on a real SQLite store with linked providers.
type env struct {
	t      failer
	ctx    context.Context
	db     *store.DB
	ledger *ledger.Ledger
	clock  *clock.TestClock
	vault  *yield.Vault
	n      int
}

// newEnv opens a store, links the providers and builds a vault that knows
// the routing strategy.
func newEnv(t testing.TB, providers ...string) *env {
	t.Helper()

	db := storetest.Open(t, storetest.Config(t, store.SQLite))
	lg := ledger.New(store.NewLedgerStore(db), nil)
	e := &env{t: t, ctx: context.Background(), db: db, ledger: lg,
		clock: clock.NewTestClock(testStart)}
	for i, p := range providers {
		e.addProvider(p, i)
	}
	reg, err := yield.NewRegistry(routing{})
	if err != nil {
		t.Fatal(err)
	}
	e.vault, err = yield.New(db, lg, yield.Config{
		Epoch: time.Hour, RewardPPM: yield.DefaultRewardPPM,
		Clock: e.clock, Strategies: reg,
	})
	if err != nil {
		t.Fatal(err)
	}

	return e
}

// addProvider links a provider with a node key made from i.
func (e *env) addProvider(id string, i int) {
	e.t.Helper()
	err := e.db.ExecTx(e.ctx, store.TxOptions{}, func(tx *store.Tx) error {
		return tx.InsertProvider(e.ctx, store.Provider{
			ID:          id,
			NodePubkey:  fmt.Sprintf("02%064x", i+1),
			AgentPubkey: strings.Repeat("a", 64),
			Status:      "linked",
			LinkedAt:    testStart,
			CreatedAt:   testStart,
		})
	})
	if err != nil {
		e.t.Fatal(err)
	}
}

// post posts a transaction the test makes, with a fresh key.
func (e *env) post(what string, from, to ledger.Account,
	amt ledger.MilliSatoshi) {

	e.t.Helper()
	e.n++
	_, err := e.ledger.Post(e.ctx, ledger.Transfer(
		fmt.Sprintf("test:%s:%d", what, e.n), what, from, to, amt))
	if err != nil {
		e.t.Fatalf("%s of %v: %v", what, amt, err)
	}
}

// earn credits a provider's payable, as metering's charges do.
func (e *env) earn(p string, amt ledger.MilliSatoshi) {
	e.t.Helper()
	e.post("earn", ledger.HubHoldings(), ledger.ProviderPayable(p), amt)
}

// gain is a strategy's realised yield landing in the vault.
func (e *env) gain(amt ledger.MilliSatoshi) {
	e.t.Helper()
	e.post("gain", ledger.StrategyYield("routing"), ledger.Vault(), amt)
}

// lose is a loss of the vault's assets.
func (e *env) lose(amt ledger.MilliSatoshi) {
	e.t.Helper()
	e.post("loss", ledger.Vault(), ledger.StrategyYield("routing"), amt)
}

// allocate moves idle assets to the routing strategy; a negative amount
// brings them back.
func (e *env) allocate(amt ledger.MilliSatoshi) {
	e.t.Helper()
	if amt < 0 {
		e.post("deallocate", ledger.StrategyPrincipal("routing"),
			ledger.Vault(), -amt)
		return
	}
	e.post("allocate", ledger.Vault(), ledger.StrategyPrincipal("routing"),
		amt)
}

// pay moves a provider's payable to paid out, as a payout does.
func (e *env) pay(p string, amt ledger.MilliSatoshi) {
	e.t.Helper()
	e.post("payout", ledger.ProviderPayable(p), ledger.PaidOut(p), amt)
}

// msat is an msat account's balance.
func (e *env) msat(a ledger.Account) ledger.MilliSatoshi {
	e.t.Helper()
	b, err := e.ledger.Balance(e.ctx, a)
	if err != nil {
		e.t.Fatal(err)
	}
	return b
}

// units is a share account's balance.
func (e *env) units(a ledger.Account) ledger.Shares {
	e.t.Helper()
	b, err := e.ledger.ShareBalance(e.ctx, a)
	if err != nil {
		e.t.Fatal(err)
	}
	return b
}

// snapshot is everything a refusal must leave as it was.
type snapshot struct {
	Balances    map[ledger.Account]int64
	Redemptions []yield.Redemption
	Policy      yield.Policy
	AutoStake   map[string]uint32
}

// snap reads a snapshot over the providers.
func (e *env) snap(providers ...string) snapshot {
	e.t.Helper()
	s := snapshot{Balances: map[ledger.Account]int64{}, AutoStake: map[string]uint32{}}
	for _, a := range []ledger.Account{ledger.Vault(),
		ledger.StrategyPrincipal("routing"), ledger.PlatformFees()} {

		s.Balances[a] = int64(e.msat(a))
	}
	s.Balances[ledger.ShareSupply()] = int64(e.units(ledger.ShareSupply()))
	for _, p := range providers {
		s.Balances[ledger.ProviderPayable(p)] = int64(
			e.msat(ledger.ProviderPayable(p)))
		s.Balances[ledger.ProviderShares(p)] = int64(
			e.units(ledger.ProviderShares(p)))
		s.Balances[ledger.SharesLocked(p)] = int64(
			e.units(ledger.SharesLocked(p)))
		h, err := e.vault.Holding(e.ctx, p)
		if err != nil {
			e.t.Fatal(err)
		}
		s.AutoStake[p] = h.AutoStake
	}
	var err error
	if s.Redemptions, err = e.vault.Redemptions(e.ctx,
		yield.RedemptionFilter{}); err != nil {

		e.t.Fatal(err)
	}
	st, err := e.vault.State(e.ctx)
	if err != nil {
		e.t.Fatal(err)
	}
	s.Policy = st.Policy

	return s
}

// refused checks that err is the refusal want (a sentinel, or a
// *LimitError with that Limit when limit is set) and that nothing changed.
func (e *env) refused(name string, before snapshot, err, want error,
	limit string, providers ...string) {

	e.t.Helper()
	if !errors.Is(err, want) {
		e.t.Fatalf("%s: err = %v, want %v", name, err, want)
	}
	if limit != "" {
		var le *yield.LimitError
		if !errors.As(err, &le) || le.Limit != limit {
			e.t.Fatalf("%s: err = %v, want the %q limit", name,
				err, limit)
		}
	}
	if after := e.snap(providers...); !reflect.DeepEqual(before, after) {
		e.t.Fatalf("%s changed the vault:\nbefore %+v\nafter  %+v",
			name, before, after)
	}
}

// redemption reads one request.
func (e *env) redemption(id int64) yield.Redemption {
	e.t.Helper()
	rs, err := e.vault.Redemptions(e.ctx, yield.RedemptionFilter{})
	if err != nil {
		e.t.Fatal(err)
	}
	for _, r := range rs {
		if r.ID == id {
			return r
		}
	}
	e.t.Fatalf("no redemption %d", id)
	return yield.Redemption{}
}
