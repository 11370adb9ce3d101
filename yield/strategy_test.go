package yield_test

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/lightningnetwork/lnd/clock"
	"github.com/shopspring/decimal"
	"github.com/sluice-ln/sluice/ledger"
	"github.com/sluice-ln/sluice/store"
	"github.com/sluice-ln/sluice/store/storetest"
	"github.com/sluice-ln/sluice/yield"
)

// fakeAlloc is an allocator whose positions, outcomes and harvest the test
// sets: it opens one position of size per plan while it has room.
type fakeAlloc struct {
	size      ledger.MilliSatoshi
	cost      ledger.MilliSatoshi
	positions []yield.Position

	// outcome is what Execute returns; execErr makes it return an
	// error (outcome unknown).
	outcome yield.ActionOutcome
	execErr error
	calls   []int64

	// income is posted by the next Harvest under incomeKey.
	income    ledger.MilliSatoshi
	incomeKey string
}

func (f *fakeAlloc) Name() string { return "fake" }

func (f *fakeAlloc) Observe(context.Context) (yield.Observation, error) {
	return yield.Observation{Positions: f.positions,
		Facts: []string{"size=" + f.size.String()}}, nil
}

func (f *fakeAlloc) Propose(_ context.Context, obs yield.Observation,
	room yield.Room) (yield.Proposal, error) {

	var p yield.Proposal
	switch {
	case room.Killed:
		for _, pos := range obs.Positions {
			p.Actions = append(p.Actions, yield.Action{
				Kind: yield.ActionClose, Target: pos.ID,
				Reason: "kill switch", ExpectedCost: f.cost})
		}

	case room.New < f.size:
		p.LeftOut = append(p.LeftOut, yield.LeftOut{Target: "peer",
			Reason: fmt.Sprintf("room %v below %v", room.New,
				f.size)})

	case !room.Unlimited && f.cost > room.Budget:
		p.LeftOut = append(p.LeftOut, yield.LeftOut{Target: "peer",
			Reason: "over budget"})

	default:
		p.Actions = append(p.Actions, yield.Action{
			Kind: yield.ActionOpen, Target: "peer", Amount: f.size,
			Reason: "room", ExpectedCost: f.cost})
	}

	return p, nil
}

func (f *fakeAlloc) Execute(_ context.Context, a yield.Action,
	_ yield.Books) (yield.ActionOutcome, error) {

	f.calls = append(f.calls, a.ID)
	if f.execErr != nil {
		return yield.ActionOutcome{}, f.execErr
	}
	if !f.outcome.Failed && a.Kind == yield.ActionOpen {
		f.positions = append(f.positions, yield.Position{
			ID: fmt.Sprintf("chan%d", a.ID), Peer: a.Target,
			Principal: a.Amount, Status: "open"})
	}

	return f.outcome, nil
}

func (f *fakeAlloc) Harvest(ctx context.Context, b yield.Books) error {
	if f.income == 0 {
		return nil
	}
	err := b.Income(ctx, f.incomeKey, "fees", f.income,
		yield.Cursor{Name: "fwd", Value: f.incomeKey})
	f.income = 0

	return err
}

// stratEnv is a vault with the fake allocator on a SQLite store, its
// ledger on the test clock, and assets staked.
type stratEnv struct {
	t      *testing.T
	ctx    context.Context
	ledger *ledger.Ledger
	clock  *clock.TestClock
	vault  *yield.Vault
	alloc  *fakeAlloc
	n      int
}

func newStratEnv(t *testing.T) *stratEnv {
	t.Helper()
	db := storetest.Open(t, storetest.Config(t, store.SQLite))
	clk := clock.NewTestClock(testStart)
	lg := ledger.New(store.NewLedgerStore(db), clk.Now)
	alloc := &fakeAlloc{size: 400_000, cost: 1_000}
	reg, err := yield.NewRegistry(alloc)
	if err != nil {
		t.Fatal(err)
	}
	v, err := yield.New(db, lg, yield.Config{Epoch: time.Hour,
		Clock: clk, Strategies: reg})
	if err != nil {
		t.Fatal(err)
	}
	e := &stratEnv{t: t, ctx: context.Background(), ledger: lg, clock: clk,
		vault: v, alloc: alloc}
	// The vault's assets: 1,000,000 msat idle, as a gain on an empty
	// vault (no shares issued: the value per share is then 1e6+1).
	e.post("seed", ledger.StrategyYield("seed"), ledger.Vault(), 1_000_000)

	return e
}

func (e *stratEnv) post(what string, from, to ledger.Account,
	amt ledger.MilliSatoshi) {

	e.t.Helper()
	e.n++
	_, err := e.ledger.Post(e.ctx, ledger.Transfer(
		fmt.Sprintf("test:%s:%d", what, e.n), what, from, to, amt))
	if err != nil {
		e.t.Fatal(err)
	}
}

func (e *stratEnv) msat(a ledger.Account) ledger.MilliSatoshi {
	e.t.Helper()
	b, err := e.ledger.Balance(e.ctx, a)
	if err != nil && !errors.Is(err, ledger.ErrNotFound) {
		e.t.Fatal(err)
	}
	return b
}

func (e *stratEnv) policy(floorBPS uint32, cap ledger.MilliSatoshi) {
	e.t.Helper()
	_, err := e.vault.SetPolicy(e.ctx, floorBPS,
		map[string]ledger.MilliSatoshi{"fake": cap})
	if err != nil {
		e.t.Fatal(err)
	}
}

func (e *stratEnv) plan() yield.Plan {
	e.t.Helper()
	p, err := e.vault.Plan(e.ctx)
	if err != nil {
		e.t.Fatal(err)
	}
	return p
}

// TestPlanWithinCapAndFloor: the plan's room is the cap less the principal
// and the idle vault less the floor, whichever is less; nothing moves
// until Apply, which moves the open's capital and executes it once.
func TestPlanWithinCapAndFloor(t *testing.T) {
	e := newStratEnv(t)

	// No cap: no room.
	p := e.plan()
	if len(p.Actions) != 0 || len(p.LeftOut) != 1 {
		t.Fatalf("without a cap: %+v", p)
	}

	// Floor 70 % of 1,000,000: 300,000 free, below the size.
	e.policy(7_000, 1_000_000)
	p = e.plan()
	if p.Free != 300_000 || len(p.Actions) != 0 {
		t.Fatalf("under the floor: free %v, %+v", p.Free, p.Actions)
	}

	e.policy(5_000, 1_000_000)
	p = e.plan()
	if len(p.Actions) != 1 || p.Actions[0].Amount != 400_000 {
		t.Fatalf("plan: %+v", p.Actions)
	}
	if got := e.msat(ledger.Vault()); got != 1_000_000 {
		t.Fatalf("a plan moved capital: vault %v", got)
	}
	if p.Strategies[0].Name != yield.ReserveName ||
		p.Strategies[0].Target != 600_000 ||
		p.Strategies[1].Target != 400_000 {

		t.Fatalf("targets: %+v", p.Strategies)
	}

	applied, err := e.vault.Apply(e.ctx, p.ID)
	if err != nil {
		t.Fatal(err)
	}
	if len(applied.Actions) != 1 ||
		applied.Actions[0].Status != yield.ActionSucceeded {

		t.Fatalf("applied: %+v", applied.Actions)
	}
	if got := e.msat(ledger.StrategyPrincipal("fake")); got != 400_000 {
		t.Fatalf("principal %v", got)
	}
	if got := e.msat(ledger.Vault()); got != 600_000 {
		t.Fatalf("idle %v", got)
	}

	// A second apply of the same plan is refused, and executes nothing.
	if _, err := e.vault.Apply(e.ctx, p.ID); !errors.Is(err,
		yield.ErrPlanApplied) {

		t.Fatalf("second apply: %v", err)
	}
	if len(e.alloc.calls) != 1 {
		t.Fatalf("executed %v", e.alloc.calls)
	}
}

// TestApplyRefusals: a stale, expired, unknown, killed or over-budget
// plan is refused with its own error and changes nothing.
func TestApplyRefusals(t *testing.T) {
	e := newStratEnv(t)
	e.policy(0, 1_000_000)

	if _, err := e.vault.Apply(e.ctx, "nope"); !errors.Is(err,
		yield.ErrPlanNotFound) {

		t.Fatalf("unknown: %v", err)
	}

	// The state changes (a position appears): stale.
	p := e.plan()
	e.alloc.positions = []yield.Position{{ID: "x", Status: "open"}}
	if _, err := e.vault.Apply(e.ctx, p.ID); !errors.Is(err,
		yield.ErrPlanStale) {

		t.Fatalf("stale: %v", err)
	}
	e.alloc.positions = nil

	// Expired.
	p = e.plan()
	e.clock.SetTime(e.clock.Now().Add(yield.DefaultPlanTTL))
	if _, err := e.vault.Apply(e.ctx, p.ID); !errors.Is(err,
		yield.ErrPlanExpired) {

		t.Fatalf("expired: %v", err)
	}

	// Killed after the plan: refused for that (the settings are in the
	// state too, but the kill switch says more); a plan made while
	// killed only winds down.
	p = e.plan()
	if _, err := e.vault.SetStrategySettings(e.ctx, yield.StrategySettings{
		Strategy: "fake", Killed: true}); err != nil {
		t.Fatal(err)
	}
	if _, err := e.vault.Apply(e.ctx, p.ID); !errors.Is(err,
		yield.ErrStrategyKilled) {

		t.Fatalf("killed since: %v", err)
	}
	if p := e.plan(); len(p.Actions) != 0 {
		t.Fatalf("killed plan opens: %+v", p.Actions)
	}

	// Budget: 1,500 per hour; a cost of 1,000 spent now leaves 500,
	// below the open's expected 1,000: the plan leaves it out.
	if _, err := e.vault.SetStrategySettings(e.ctx, yield.StrategySettings{
		Strategy: "fake", Budget: 1_500,
		BudgetPeriod: time.Hour}); err != nil {
		t.Fatal(err)
	}
	p = e.plan()
	if len(p.Actions) != 1 {
		t.Fatalf("within budget: %+v %+v", p.Actions, p.LeftOut)
	}
	e.post("cost", ledger.Vault(), ledger.StrategyYield("fake"), 1_000)
	if _, err := e.vault.Apply(e.ctx, p.ID); !errors.Is(err,
		yield.ErrOverBudget) {

		t.Fatalf("over budget: %v", err)
	}
	if p := e.plan(); len(p.Actions) != 0 || len(p.LeftOut) != 1 {
		t.Fatalf("over budget plan: %+v", p)
	}
	// An hour on, the cost is out of the period.
	e.clock.SetTime(e.clock.Now().Add(time.Hour + time.Second))
	if p := e.plan(); len(p.Actions) != 1 {
		t.Fatalf("next period: %+v", p.LeftOut)
	}

	if got := e.msat(ledger.StrategyPrincipal("fake")); got != 0 {
		t.Fatalf("a refusal moved capital: %v", got)
	}
	if len(e.alloc.calls) != 0 {
		t.Fatalf("a refusal executed %v", e.alloc.calls)
	}

	// Unknown strategy and bad settings.
	if _, err := e.vault.SetStrategySettings(e.ctx, yield.StrategySettings{
		Strategy: "nope"}); !errors.Is(err, yield.ErrUnknownStrategy) {
		t.Fatalf("unknown strategy: %v", err)
	}
	if _, err := e.vault.SetStrategySettings(e.ctx, yield.StrategySettings{
		Strategy: "fake", Budget: -1,
		BudgetPeriod: time.Hour}); !errors.Is(err,
		yield.ErrInvalidPolicy) {
		t.Fatalf("negative budget: %v", err)
	}
}

// TestApplyUnknownOutcomeResumes: an action whose outcome is not known
// stays pending with its capital allocated; ResumeAndHarvest executes it
// again; a refusal returns the capital.
func TestApplyUnknownOutcomeResumes(t *testing.T) {
	e := newStratEnv(t)
	e.policy(0, 1_000_000)
	e.alloc.execErr = errors.New("lnd unreachable")

	p := e.plan()
	applied, err := e.vault.Apply(e.ctx, p.ID)
	if err != nil {
		t.Fatal(err)
	}
	a := applied.Actions[0]
	if a.Status != yield.ActionPending {
		t.Fatalf("status %v", a.Status)
	}
	if got := e.msat(ledger.StrategyPrincipal("fake")); got != 400_000 {
		t.Fatalf("pending open's principal %v", got)
	}

	e.alloc.execErr = nil
	e.alloc.outcome = yield.ActionOutcome{Failed: true,
		Error: "peer refused"}
	if err := e.vault.ResumeAndHarvest(e.ctx); err != nil {
		t.Fatal(err)
	}
	got, err := e.vault.Action(e.ctx, a.ID)
	if err != nil {
		t.Fatal(err)
	}
	if got.Status != yield.ActionFailed || got.Outcome.Error !=
		"peer refused" {

		t.Fatalf("resolved: %+v", got)
	}
	if got := e.msat(ledger.StrategyPrincipal("fake")); got != 0 {
		t.Fatalf("failed open's principal %v", got)
	}
	if got := e.msat(ledger.Vault()); got != 1_000_000 {
		t.Fatalf("idle %v", got)
	}
	// Resolved once: a further pass executes nothing.
	if err := e.vault.ResumeAndHarvest(e.ctx); err != nil {
		t.Fatal(err)
	}
	if len(e.alloc.calls) != 2 {
		t.Fatalf("executed %v", e.alloc.calls)
	}
}

// TestReportAPR: capital in place for half the window and an income give
// the time-weighted capital, the return and an APR labelled with its
// window; the vault's value per share rises by the net.
func TestReportAPR(t *testing.T) {
	e := newStratEnv(t)
	e.policy(0, 1_000_000)
	start := e.clock.Now()

	// A day with nothing allocated, then 400,000 msat for a day.
	e.clock.SetTime(start.Add(24 * time.Hour))
	if _, err := e.vault.Apply(e.ctx, e.plan().ID); err != nil {
		t.Fatal(err)
	}
	e.clock.SetTime(start.Add(36 * time.Hour))
	e.alloc.income, e.alloc.incomeKey = 2_000, "yield-routing:1:1-5"
	if err := e.vault.ResumeAndHarvest(e.ctx); err != nil {
		t.Fatal(err)
	}
	// The same key again posts nothing.
	e.alloc.income = 2_000
	if err := e.vault.ResumeAndHarvest(e.ctx); err != nil {
		t.Fatal(err)
	}
	e.post("cost", ledger.Vault(), ledger.StrategyYield("fake"), 500)
	e.clock.SetTime(start.Add(48 * time.Hour))

	r, err := e.vault.Report(e.ctx, 48*time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	if len(r.Strategies) != 1 {
		t.Fatalf("strategies %+v", r.Strategies)
	}
	s := r.Strategies[0]
	if s.Capital != 200_000 || s.CapitalEnd != 400_000 {
		t.Fatalf("capital %v, end %v", s.Capital, s.CapitalEnd)
	}
	if s.IncomeTotal != 2_000 || s.CostTotal != 500 || s.Net != 1_500 {
		t.Fatalf("income %v cost %v net %v", s.IncomeTotal,
			s.CostTotal, s.Net)
	}
	// r = 1500/200000 = 0.0075 over 2 days; APR = 0.0075 × 365/2.
	if !s.HasReturn || s.Return.String() != "0.0075" ||
		s.APR.String() != "1.36875" {

		t.Fatalf("return %v APR %v", s.Return, s.APR)
	}
	if r.Vault.Net != 1_500 {
		t.Fatalf("vault net %v", r.Vault.Net)
	}
	// No shares: the value per share is (A+1) × units / V, so it rose
	// by the net times the units.
	rise := r.Vault.ValueEnd.Sub(r.Vault.ValueStart)
	if want := int64(1_500) * int64(ledger.UnitsPerShare); !rise.Equal(
		decimal.NewFromInt(want)) {

		t.Fatalf("value per share %v → %v, rise %v, want %d",
			r.Vault.ValueStart, r.Vault.ValueEnd, rise, want)
	}
	if !r.Vault.HasAPY || !r.Vault.APY.IsPositive() {
		t.Fatalf("vault APY %v %v", r.Vault.HasAPY, r.Vault.APY)
	}

	// Since start: the window opens at the first posting (the open).
	r, err = e.vault.Report(e.ctx, 0)
	if err != nil {
		t.Fatal(err)
	}
	if !r.SinceStart || !r.Start.Equal(start.Add(24*time.Hour)) ||
		r.Strategies[0].Capital != 400_000 {

		t.Fatalf("since start: %v, capital %v", r.Start,
			r.Strategies[0].Capital)
	}
	if _, err := e.vault.Report(e.ctx, -time.Hour); !errors.Is(err,
		yield.ErrInvalidWindow) {
		t.Fatalf("negative window: %v", err)
	}
}

// TestReportShortWindowAPY: a vault that grew over two minutes has a
// return but no APY: annualised, the power is beyond meaning (and would
// take long to compute to 18 places).
func TestReportShortWindowAPY(t *testing.T) {
	e := newStratEnv(t)
	e.clock.SetTime(testStart.Add(time.Minute))
	e.post("gain", ledger.StrategyYield("fake"), ledger.Vault(), 10_000)
	e.clock.SetTime(testStart.Add(2 * time.Minute))

	r, err := e.vault.Report(e.ctx, 2*time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	if !r.Vault.Return.IsPositive() || r.Vault.HasAPY {
		t.Fatalf("return %v, APY %v %v", r.Vault.Return,
			r.Vault.HasAPY, r.Vault.APY)
	}
}

// TestKillSwitchWindsDownOverBudget: a killed strategy's closes are
// planned and applied even with its budget spent: winding down does not
// wait for the budget.
func TestKillSwitchWindsDownOverBudget(t *testing.T) {
	e := newStratEnv(t)
	e.policy(0, 1_000_000)
	e.alloc.positions = []yield.Position{{ID: "chan1", Peer: "peer",
		Principal: 0, Status: "open"}}
	if _, err := e.vault.SetStrategySettings(e.ctx, yield.StrategySettings{
		Strategy: "fake", Killed: true, Budget: 500,
		BudgetPeriod: time.Hour}); err != nil {
		t.Fatal(err)
	}
	e.post("cost", ledger.Vault(), ledger.StrategyYield("fake"), 500)

	p := e.plan()
	if len(p.Actions) != 1 || p.Actions[0].Kind != yield.ActionClose ||
		p.Actions[0].ExpectedCost != 1_000 {

		t.Fatalf("plan: %+v", p.Actions)
	}
	applied, err := e.vault.Apply(e.ctx, p.ID)
	if err != nil {
		t.Fatalf("apply: %v", err)
	}
	if applied.Actions[0].Status != yield.ActionSucceeded {
		t.Fatalf("close: %+v", applied.Actions[0])
	}
}
