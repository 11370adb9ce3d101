// Package yieldtest gives the tests of rpc's YieldService and of the CLI's
// `sluice yield` commands a real yield vault: a *yield.Vault on a fresh
// SQLite store, its ledger and its plans on a test clock, with one
// allocator, Allocator, whose candidates, outcomes and harvests the test
// sets. Plans, applies, budgets, refusals and reports are then the vault's
// own, not a fake's. An Allocator fails the test when income or a cost it
// was given to harvest was never harvested.
package yieldtest

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/lightningnetwork/lnd/clock"
	"github.com/sluice-ln/sluice/ledger"
	"github.com/sluice-ln/sluice/store"
	"github.com/sluice-ln/sluice/store/storetest"
	"github.com/sluice-ln/sluice/yield"
)

// Start is the test clock's time when an Env is made.
var Start = time.Date(2026, 6, 1, 12, 0, 0, 0, time.UTC)

// Name is the Allocator's strategy name.
const Name = "routing"

// Allocator is an allocator that opens a position of Size to each of its
// peers while its room allows, closes its positions when killed, and
// harvests what the test gave it. Any number of goroutines may use it.
type Allocator struct {
	t testing.TB

	mu        sync.Mutex
	size      ledger.MilliSatoshi
	cost      ledger.MilliSatoshi
	peers     []string
	positions []yield.Position
	outcome   yield.ActionOutcome
	execErr   error
	executed  []yield.Action
	harvest   []line
}

// line is one income or cost waiting for the next Harvest.
type line struct {
	key, desc string
	amt       ledger.MilliSatoshi
	cost      bool
}

var _ yield.Allocator = (*Allocator)(nil)

// Name is yieldtest.Name.
func (*Allocator) Name() string { return Name }

// SetPeers sets the candidates, each given a position of size expected to
// cost cost (its open's chain fee).
func (a *Allocator) SetPeers(size, cost ledger.MilliSatoshi,
	peers ...string) {

	a.mu.Lock()
	defer a.mu.Unlock()
	a.size, a.cost, a.peers = size, cost, peers
}

// SetOutcome sets how Execute ends the actions it is given from now on:
// outcome, or, when err is not nil, unknown (Execute returns err).
func (a *Allocator) SetOutcome(outcome yield.ActionOutcome, err error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.outcome, a.execErr = outcome, err
}

// AddPosition adds a position as if it appeared at the other side: the
// state a plan was made on changes.
func (a *Allocator) AddPosition(p yield.Position) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.positions = append(a.positions, p)
}

// Earn gives the next Harvest income to post under key.
func (a *Allocator) Earn(key, desc string, amt ledger.MilliSatoshi) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.harvest = append(a.harvest, line{key: key, desc: desc, amt: amt})
}

// Spend gives the next Harvest a cost to post under key.
func (a *Allocator) Spend(key, desc string, amt ledger.MilliSatoshi) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.harvest = append(a.harvest, line{key: key, desc: desc, amt: amt,
		cost: true})
}

// Executed returns the actions Execute was called with, in order.
func (a *Allocator) Executed() []yield.Action {
	a.mu.Lock()
	defer a.mu.Unlock()
	return slices.Clone(a.executed)
}

// Observe returns the positions, and the size as a fact.
func (a *Allocator) Observe(context.Context) (yield.Observation, error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	return yield.Observation{
		Positions: slices.Clone(a.positions),
		Facts:     []string{"size=" + a.size.String()},
	}, nil
}

// Propose opens Size to each peer without a position while the room and
// the budget allow, leaving the others out with why; killed, it closes
// every open position.
func (a *Allocator) Propose(_ context.Context, obs yield.Observation,
	room yield.Room) (yield.Proposal, error) {

	a.mu.Lock()
	defer a.mu.Unlock()
	var p yield.Proposal
	if room.Killed {
		for _, pos := range obs.Positions {
			if pos.Status != "open" {
				continue
			}
			p.Actions = append(p.Actions, yield.Action{
				Kind: yield.ActionClose, Target: pos.ID,
				Reason: "the kill switch is on: wind down"})
		}
		for _, peer := range a.peers {
			p.LeftOut = append(p.LeftOut, yield.LeftOut{
				Target: peer, Reason: "the kill switch is on"})
		}
		return p, nil
	}
	left, budget := room.New, room.Budget
	for _, peer := range a.peers {
		if slices.ContainsFunc(obs.Positions, func(
			pos yield.Position) bool {

			return pos.Peer == peer
		}) {
			p.LeftOut = append(p.LeftOut, yield.LeftOut{
				Target: peer, Reason: "has a channel already"})
			continue
		}
		switch {
		case left < a.size:
			p.LeftOut = append(p.LeftOut, yield.LeftOut{
				Target: peer, Reason: fmt.Sprintf("room of "+
					"%v is below a channel of %v", left,
					a.size)})

		case !room.Unlimited && budget < a.cost:
			p.LeftOut = append(p.LeftOut, yield.LeftOut{
				Target: peer, Reason: fmt.Sprintf("budget "+
					"left %v is below the open's fee %v",
					budget, a.cost)})

		default:
			p.Actions = append(p.Actions, yield.Action{
				Kind: yield.ActionOpen, Target: peer,
				Amount: a.size,
				Params: []string{"base_fee_msat=1000",
					"fee_rate_ppm=500"},
				Reason:       "room under the cap",
				ExpectedCost: a.cost,
			})
			left -= a.size
			budget -= a.cost
		}
	}
	return p, nil
}

// Execute records the action and ends it as SetOutcome said: an open
// that succeeds adds a position, a close removes it and returns its
// capital.
func (a *Allocator) Execute(ctx context.Context, act yield.Action,
	books yield.Books) (yield.ActionOutcome, error) {

	a.mu.Lock()
	a.executed = append(a.executed, act)
	out, err := a.outcome, a.execErr
	a.mu.Unlock()
	if err != nil || out.Failed {
		return out, err
	}
	id := fmt.Sprintf("chan%d", act.ID)
	switch act.Kind {
	case yield.ActionOpen:
		a.AddPosition(yield.Position{ID: id, Peer: act.Target,
			Principal: act.Amount, Status: "open"})
		out.Result = id

	case yield.ActionClose:
		a.mu.Lock()
		i := slices.IndexFunc(a.positions, func(p yield.Position) bool {
			return p.ID == act.Target
		})
		var pos yield.Position
		if i >= 0 {
			pos = a.positions[i]
			a.positions = slices.Delete(a.positions, i, i+1)
		}
		a.mu.Unlock()
		if i < 0 {
			return yield.ActionOutcome{Failed: true,
				Error: "no such position"}, nil
		}
		err := books.Return(ctx, fmt.Sprintf("yield-return:%d",
			act.ID), "closed "+pos.ID, pos.Principal)
		if err != nil {
			return yield.ActionOutcome{}, err
		}
		out.Result = "closed " + pos.ID
	}
	return out, nil
}

// Harvest posts what Earn and Spend gave it.
func (a *Allocator) Harvest(ctx context.Context, books yield.Books) error {
	a.mu.Lock()
	lines := a.harvest
	a.harvest = nil
	a.mu.Unlock()
	for _, l := range lines {
		var err error
		if l.cost {
			err = books.Cost(ctx, l.key, l.desc, l.amt)
		} else {
			err = books.Income(ctx, l.key, l.desc, l.amt,
				yield.Cursor{})
		}
		if err != nil {
			return err
		}
	}
	return nil
}

// check fails the test for income or costs never harvested.
func (a *Allocator) check() {
	a.mu.Lock()
	defer a.mu.Unlock()
	for _, l := range a.harvest {
		a.t.Errorf("yieldtest: %s of %v was never harvested", l.key,
			l.amt)
	}
}

// Env is a vault with the Allocator on a fresh SQLite store.
type Env struct {
	t testing.TB

	Vault  *yield.Vault
	Alloc  *Allocator
	Clock  *clock.TestClock
	Ledger *ledger.Ledger

	n int
}

// New returns a vault whose idle assets are idle msat (a gain on a vault
// without shares), knowing the Allocator, on the test clock at Start.
func New(t testing.TB, idle ledger.MilliSatoshi) *Env {
	t.Helper()
	db := storetest.Open(t, storetest.Config(t, store.SQLite))
	clk := clock.NewTestClock(Start)
	lg := ledger.New(store.NewLedgerStore(db), clk.Now)
	alloc := &Allocator{t: t}
	t.Cleanup(alloc.check)
	reg, err := yield.NewRegistry(alloc)
	if err != nil {
		t.Fatal(err)
	}
	v, err := yield.New(db, lg, yield.Config{Epoch: time.Hour,
		Clock: clk, Strategies: reg})
	if err != nil {
		t.Fatal(err)
	}
	e := &Env{t: t, Vault: v, Alloc: alloc, Clock: clk, Ledger: lg}
	if idle > 0 {
		e.Post("seed", ledger.StrategyYield("seed"), ledger.Vault(),
			idle)
	}
	return e
}

// Post posts a transfer the test makes, under a fresh key.
func (e *Env) Post(what string, from, to ledger.Account,
	amt ledger.MilliSatoshi) {

	e.t.Helper()
	e.n++
	_, err := e.Ledger.Post(context.Background(), ledger.Transfer(
		fmt.Sprintf("yieldtest:%s:%d", what, e.n), what, from, to, amt))
	if err != nil {
		e.t.Fatalf("yieldtest: %s of %v: %v", what, amt, err)
	}
}

// Policy sets the liquid floor and the Allocator's cap.
func (e *Env) Policy(floorBPS uint32, cap ledger.MilliSatoshi) {
	e.t.Helper()
	_, err := e.Vault.SetPolicy(context.Background(), floorBPS,
		map[string]ledger.MilliSatoshi{Name: cap})
	if err != nil {
		e.t.Fatal(err)
	}
}

// Harvest resumes pending actions and harvests, as the vault's loop does.
func (e *Env) Harvest() {
	e.t.Helper()
	if err := e.Vault.ResumeAndHarvest(context.Background()); err != nil {
		e.t.Fatal(err)
	}
}

// Advance moves the clock on by d.
func (e *Env) Advance(d time.Duration) {
	e.Clock.SetTime(e.Clock.Now().Add(d))
}

// Balance is an msat account's balance, zero for one never posted to.
func (e *Env) Balance(a ledger.Account) ledger.MilliSatoshi {
	e.t.Helper()
	b, err := e.Ledger.Balance(context.Background(), a)
	if err != nil && !errors.Is(err, ledger.ErrNotFound) {
		e.t.Fatal(err)
	}
	return b
}
