package yield

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"sort"
	"time"

	"github.com/sluice-ln/sluice/ledger"
)

// DefaultPlanTTL is how long a plan may be applied after it was made
// unless Config.PlanTTL says otherwise.
const DefaultPlanTTL = 10 * time.Minute

// Plan is a dry run of the strategies: where each stands and where it
// would be, the actions that take it there with their reasons and
// expected costs, and the candidates left out with why. Nothing moved to
// make it; Vault.Apply carries it out while the state it hashes is
// unchanged and it has not expired.
type Plan struct {
	ID        string    `json:"id"`
	StateHash string    `json:"state_hash"`
	CreatedAt time.Time `json:"created_at"`
	ExpiresAt time.Time `json:"expires_at"`

	// Assets is the vault's NAV, Idle its idle part, Floor the liquid
	// floor and Free what the strategies could take: Idle less Floor,
	// zero while the vault is shut down.
	Assets   ledger.MilliSatoshi `json:"assets_msat"`
	Idle     ledger.MilliSatoshi `json:"idle_msat"`
	Floor    ledger.MilliSatoshi `json:"floor_msat"`
	Free     ledger.MilliSatoshi `json:"free_msat"`
	Shutdown bool                `json:"shutdown"`

	// Strategies are reserve and each allocator, by name.
	Strategies []StrategyPlan `json:"strategies"`

	Actions []Action  `json:"actions"`
	LeftOut []LeftOut `json:"left_out"`
}

// StrategyPlan is one strategy in a plan.
type StrategyPlan struct {
	Name string `json:"name"`

	// Current is its principal now (reserve: the idle vault), Target
	// once the plan's opens are applied (closes return their capital
	// when the channel has closed, so they show in a later plan).
	Current ledger.MilliSatoshi `json:"current_msat"`
	Target  ledger.MilliSatoshi `json:"target_msat"`

	// Cap is its cap; HasCap is false for reserve and for a strategy
	// the policy gives none (it may then take nothing).
	Cap    ledger.MilliSatoshi `json:"cap_msat"`
	HasCap bool                `json:"has_cap"`

	Killed bool `json:"killed"`

	// Budget is its cost budget per BudgetPeriod, Spent its costs in
	// the period up to now, Expected the plan's expected costs.
	Budget       ledger.MilliSatoshi `json:"budget_msat"`
	BudgetPeriod time.Duration       `json:"budget_period_ns"`
	Spent        ledger.MilliSatoshi `json:"spent_msat"`
	Expected     ledger.MilliSatoshi `json:"expected_cost_msat"`

	Positions []Position `json:"positions"`
}

// planState is what a plan depends on, hashed into its StateHash: the
// operator's policy and settings, each allocator's principal and what it
// observed. The idle vault is not in it: it moves with every metered
// second, and Apply checks the floor and caps against it again instead.
type planState struct {
	FloorBPS   uint32                         `json:"floor_bps"`
	Caps       map[string]ledger.MilliSatoshi `json:"caps"`
	Shutdown   bool                           `json:"shutdown"`
	Settings   []StrategySettings             `json:"settings"`
	Principals map[string]ledger.MilliSatoshi `json:"principals"`
	Observed   map[string]Observation         `json:"observed"`
}

// hash is the hex SHA-256 of the state's JSON (maps are written sorted).
func (s planState) hash() (string, error) {
	b, err := json.Marshal(s)
	if err != nil {
		return "", err
	}
	sum := sha256.Sum256(b)

	return hex.EncodeToString(sum[:]), nil
}

// allocators returns the registry's allocators in name order.
func (v *Vault) allocators() []Allocator {
	reg := v.strategies()
	var out []Allocator
	for _, name := range reg.Names() {
		s, _ := reg.Lookup(name)
		if a, ok := s.(Allocator); ok {
			out = append(out, a)
		}
	}

	return out
}

// allocator returns the allocator with the name.
func (v *Vault) allocator(name string) (Allocator, error) {
	s, ok := v.strategies().Lookup(name)
	if !ok {
		return nil, fmt.Errorf("%w: %q", ErrUnknownStrategy, name)
	}
	a, ok := s.(Allocator)
	if !ok {
		return nil, fmt.Errorf("%w: %q holds no positions",
			ErrUnknownStrategy, name)
	}

	return a, nil
}

// observe asks every allocator for its observation.
func (v *Vault) observe(ctx context.Context) (map[string]Observation,
	error) {

	out := make(map[string]Observation)
	for _, a := range v.allocators() {
		o, err := a.Observe(ctx)
		if err != nil {
			return nil, fmt.Errorf("observing %s: %w", a.Name(), err)
		}
		out[a.Name()] = o
	}

	return out, nil
}

// stateTx reads the planned-on state in tx, with the observations made
// before it, and the vault's figures.
func (v *Vault) planStateTx(ctx context.Context, tx VaultTx,
	observed map[string]Observation) (planState, State,
	map[string]StrategySettings, error) {

	st, err := v.stateTx(ctx, tx)
	if err != nil {
		return planState{}, State{}, nil, err
	}
	settings, err := tx.StrategySettings(ctx)
	if err != nil {
		return planState{}, State{}, nil, fmt.Errorf("strategy "+
			"settings: %w", err)
	}
	ps := planState{
		FloorBPS:   st.Policy.FloorBPS,
		Caps:       st.Policy.Caps,
		Shutdown:   st.Policy.Shutdown,
		Principals: make(map[string]ledger.MilliSatoshi),
		Observed:   observed,
	}
	names := make([]string, 0, len(settings))
	for name := range settings {
		names = append(names, name)
	}
	sort.Strings(names)
	for _, name := range names {
		s := settings[name]
		s.UpdatedAt = time.Time{}
		ps.Settings = append(ps.Settings, s)
	}
	for _, a := range v.allocators() {
		ps.Principals[a.Name()] = st.Strategies[a.Name()]
	}

	return ps, st, settings, nil
}

// costsSince is what the strategy's costs came to since t: the positive
// postings to its yield account (income is negative there).
func (v *Vault) costsSince(ctx context.Context, name string,
	t time.Time) (ledger.MilliSatoshi, error) {

	entries, err := v.ledger.History(ctx, ledger.StrategyYield(name), 0, 0)
	if err != nil {
		return 0, fmt.Errorf("costs of %s: %w", name, err)
	}
	var sum ledger.MilliSatoshi
	for _, e := range entries {
		if e.Amount <= 0 || e.Time.Before(t) {
			continue
		}
		if sum, err = sum.Add(e.Amount); err != nil {
			return 0, err
		}
	}

	return sum, nil
}

// budgetLeft is what is left of the strategy's budget now: its Room's
// Budget and Unlimited, and what was spent in the period.
func (v *Vault) budgetLeft(ctx context.Context, s StrategySettings,
	now time.Time) (left, spent ledger.MilliSatoshi, unlimited bool,
	err error) {

	if !s.Limited() {
		return 0, 0, true, nil
	}
	spent, err = v.costsSince(ctx, s.Strategy, now.Add(-s.BudgetPeriod))
	if err != nil {
		return 0, 0, false, err
	}
	left = s.Budget - spent
	if left < 0 {
		left = 0
	}

	return left, spent, false, nil
}

// Plan makes a plan of every allocator's actions within its room and
// stores it, so that Apply can carry it out by its id until it expires.
// Nothing else changes. Strategies are planned in name order, each within
// its cap less its principal and what the floor and the strategies
// before it leave of the idle vault; a killed strategy only winds down.
func (v *Vault) Plan(ctx context.Context) (Plan, error) {
	observed, err := v.observe(ctx)
	if err != nil {
		return Plan{}, fmt.Errorf("plan: %w", err)
	}
	now := v.clock.Now().UTC()

	var (
		ps       planState
		st       State
		settings map[string]StrategySettings
	)
	err = v.store.ExecVault(ctx, true, func(tx VaultTx) error {
		var err error
		ps, st, settings, err = v.planStateTx(ctx, tx, observed)
		return err
	})
	if err != nil {
		return Plan{}, fmt.Errorf("plan: %w", err)
	}
	hash, err := ps.hash()
	if err != nil {
		return Plan{}, fmt.Errorf("plan: %w", err)
	}

	p := Plan{
		ID:        newPlanID(),
		StateHash: hash,
		CreatedAt: now,
		ExpiresAt: now.Add(v.planTTL()),
		Assets:    st.Assets,
		Idle:      st.Idle,
		Floor:     st.Floor,
		Shutdown:  st.Policy.Shutdown,
	}
	if st.Idle > st.Floor && !st.Policy.Shutdown {
		p.Free = st.Idle - st.Floor
	}
	free := p.Free
	reserve := StrategyPlan{Name: ReserveName, Current: st.Idle,
		Target: st.Idle}

	for _, a := range v.allocators() {
		name := a.Name()
		sp, err := v.planOne(ctx, a, observed[name], st,
			settings[name], &free, now)
		if err != nil {
			return Plan{}, fmt.Errorf("plan: %s: %w", name, err)
		}
		for _, act := range sp.actions {
			reserve.Target -= act.Amount
		}
		p.Strategies = append(p.Strategies, sp.StrategyPlan)
		p.Actions = append(p.Actions, sp.actions...)
		p.LeftOut = append(p.LeftOut, sp.leftOut...)
	}
	p.Strategies = append([]StrategyPlan{reserve}, p.Strategies...)

	body, err := json.Marshal(p)
	if err != nil {
		return Plan{}, fmt.Errorf("plan: %w", err)
	}
	err = v.store.ExecVault(ctx, false, func(tx VaultTx) error {
		return tx.InsertPlan(ctx, StoredPlan{
			ID:        p.ID,
			StateHash: p.StateHash,
			Body:      body,
			CreatedAt: p.CreatedAt,
			ExpiresAt: p.ExpiresAt,
		})
	})
	if err != nil {
		return Plan{}, fmt.Errorf("plan: storing it: %w", err)
	}
	log.Infof("Yield plan %s: %d actions, %d left out, state %s", p.ID,
		len(p.Actions), len(p.LeftOut), p.StateHash[:12])

	return p, nil
}

// plannedStrategy is one allocator's part of a plan as planOne makes it.
type plannedStrategy struct {
	StrategyPlan
	actions []Action
	leftOut []LeftOut
}

// planOne plans one allocator within what free leaves, and takes its
// opens off free.
func (v *Vault) planOne(ctx context.Context, a Allocator, obs Observation,
	st State, set StrategySettings, free *ledger.MilliSatoshi,
	now time.Time) (plannedStrategy, error) {

	name := a.Name()
	set.Strategy = name
	principal := st.Strategies[name]
	cap, hasCap := st.Policy.Caps[name]
	sp := plannedStrategy{StrategyPlan: StrategyPlan{
		Name:         name,
		Current:      principal,
		Target:       principal,
		Cap:          cap,
		HasCap:       hasCap,
		Killed:       set.Killed,
		Budget:       set.Budget,
		BudgetPeriod: set.BudgetPeriod,
		Positions:    obs.Positions,
	}}

	left, spent, unlimited, err := v.budgetLeft(ctx, set, now)
	if err != nil {
		return plannedStrategy{}, err
	}
	sp.Spent = spent
	room := Room{Killed: set.Killed, Budget: left, Unlimited: unlimited}
	if hasCap && cap > principal && !set.Killed {
		room.New = min(cap-principal, *free)
	}

	prop, err := a.Propose(ctx, obs, room)
	if err != nil {
		return plannedStrategy{}, err
	}
	var taken ledger.MilliSatoshi
	for i, act := range prop.Actions {
		act.Strategy = name
		prop.Actions[i] = act
		if taken, err = taken.Add(act.Amount); err != nil {
			return plannedStrategy{}, err
		}
		if sp.Expected, err = sp.Expected.Add(
			act.ExpectedCost); err != nil {

			return plannedStrategy{}, err
		}
	}
	// An allocator that proposes beyond its room is a bug: refuse the
	// plan rather than store one Apply would refuse.
	switch {
	case taken > room.New:
		return plannedStrategy{}, fmt.Errorf("proposed %v of new "+
			"capital, room is %v", taken, room.New)

	case !room.Unlimited && budgeted(sp.StrategyPlan, prop.Actions) >
		room.Budget:

		return plannedStrategy{}, fmt.Errorf("proposed %v of "+
			"expected costs, budget left is %v", sp.Expected,
			room.Budget)
	}
	for i := range prop.LeftOut {
		prop.LeftOut[i].Strategy = name
	}
	*free -= taken
	sp.Target += taken
	sp.actions = prop.Actions
	sp.leftOut = prop.LeftOut

	return sp, nil
}

// budgeted is what of the actions' expected costs counts against the
// strategy's budget: all of it, but for the closes of a killed strategy
// (winding down does not wait for the budget).
func budgeted(sp StrategyPlan, actions []Action) ledger.MilliSatoshi {
	var sum ledger.MilliSatoshi
	for _, a := range actions {
		if sp.Killed && a.Kind == ActionClose {
			continue
		}
		sum += a.ExpectedCost
	}

	return sum
}

// planTTL is Config.PlanTTL or DefaultPlanTTL.
func (v *Vault) planTTL() time.Duration {
	if v.cfg.PlanTTL > 0 {
		return v.cfg.PlanTTL
	}

	return DefaultPlanTTL
}

// newPlanID returns a random plan id: 16 bytes, hex.
func newPlanID() string {
	var b [16]byte
	if _, err := rand.Read(b[:]); err != nil {
		// crypto/rand does not fail on the platforms Go supports.
		panic(err)
	}

	return hex.EncodeToString(b[:])
}

// GetPlan returns the stored plan with the id, and whether it was
// applied.
func (v *Vault) GetPlan(ctx context.Context, id string) (Plan, StoredPlan,
	error) {

	var sp StoredPlan
	err := v.store.ExecVault(ctx, true, func(tx VaultTx) error {
		var err error
		sp, err = tx.Plan(ctx, id)
		return err
	})
	if err != nil {
		return Plan{}, StoredPlan{}, fmt.Errorf("plan %s: %w", id, err)
	}
	var p Plan
	if err := json.Unmarshal(sp.Body, &p); err != nil {
		return Plan{}, StoredPlan{}, fmt.Errorf("plan %s: %w", id, err)
	}

	return p, sp, nil
}
