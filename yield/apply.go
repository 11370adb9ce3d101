package yield

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/sluice-ln/sluice/ledger"
)

// Applied is a plan carried out: its actions as stored after this call,
// some perhaps still pending (their outcome was not known yet; the
// harvest loop follows them to their end).
type Applied struct {
	Plan    Plan
	Actions []StoredAction
}

// allocKey is the ledger key of an open's capital moving to its
// strategy, unallocKey of its return when the open failed.
func allocKey(id int64) string   { return fmt.Sprintf("yield-alloc:%d", id) }
func unallocKey(id int64) string { return fmt.Sprintf("yield-unalloc:%d", id) }

// Apply carries out the stored plan with the id, once. It is refused,
// with nothing changed, when the plan is unknown (ErrPlanNotFound),
// applied already (ErrPlanApplied), expired (ErrPlanExpired), made on a
// state that changed since (ErrPlanStale), when it would give capital to
// a killed strategy (ErrStrategyKilled) or while the vault is shut down
// (ErrShutdown), take a strategy over its cost budget (ErrOverBudget), or
// over its cap or the idle vault below the floor as they stand now
// (*LimitError).
//
// Otherwise, in one store transaction, the plan is marked applied, each
// action is written as a pending intent, and each open's capital moves
// from the idle vault to its strategy's principal. Then each action is
// executed by its allocator and resolved; one whose outcome is not known
// yet stays pending and RunStrategies follows it up. The returned error
// is nil once the intents are written, whatever the actions' outcomes.
func (v *Vault) Apply(ctx context.Context, id string) (Applied, error) {
	p, sp, err := v.GetPlan(ctx, id)
	if err != nil {
		return Applied{}, err
	}
	now := v.clock.Now().UTC()
	switch {
	case !sp.AppliedAt.IsZero():
		return Applied{}, fmt.Errorf("plan %s: %w at %v", id,
			ErrPlanApplied, sp.AppliedAt)

	case !now.Before(sp.ExpiresAt):
		return Applied{}, fmt.Errorf("plan %s: %w at %v", id,
			ErrPlanExpired, sp.ExpiresAt)
	}

	observed, err := v.observe(ctx)
	if err != nil {
		return Applied{}, fmt.Errorf("apply %s: %w", id, err)
	}
	if err := v.checkBudgets(ctx, p, now); err != nil {
		return Applied{}, fmt.Errorf("apply %s: %w", id, err)
	}

	var actions []StoredAction
	err = v.store.ExecVault(ctx, false, func(tx VaultTx) error {
		actions = nil
		ps, st, settings, err := v.planStateTx(ctx, tx, observed)
		if err != nil {
			return err
		}
		// The room first: a kill switch or shutdown turned on since
		// the plan changed the state too, but its own refusal says
		// more than "stale".
		if err := checkRoom(p, st, settings); err != nil {
			return err
		}
		hash, err := ps.hash()
		if err != nil {
			return err
		}
		if hash != p.StateHash {
			return fmt.Errorf("%w: planned on %s, now %s",
				ErrPlanStale, p.StateHash[:12], hash[:12])
		}
		if err := tx.MarkPlanApplied(ctx, id, now); err != nil {
			return err
		}
		for seq, a := range p.Actions {
			aid, err := tx.InsertAction(ctx, id, seq, a, now)
			if err != nil {
				return err
			}
			a.ID = aid
			if a.Amount > 0 {
				if err := v.allocate(ctx, tx, a); err != nil {
					return err
				}
			}
			actions = append(actions, StoredAction{Action: a,
				PlanID: id, Status: ActionPending,
				CreatedAt: now})
		}
		return nil
	})
	if err != nil {
		return Applied{}, fmt.Errorf("apply %s: %w", id, err)
	}
	log.Infof("Yield plan %s applied: %d actions", id, len(actions))

	for i := range actions {
		actions[i] = v.execute(ctx, actions[i])
	}

	return Applied{Plan: p, Actions: actions}, nil
}

// checkBudgets refuses a plan whose expected costs would take a strategy
// over what is left of its budget now.
func (v *Vault) checkBudgets(ctx context.Context, p Plan,
	now time.Time) error {

	var settings map[string]StrategySettings
	err := v.store.ExecVault(ctx, true, func(tx VaultTx) error {
		var err error
		settings, err = tx.StrategySettings(ctx)
		return err
	})
	if err != nil {
		return err
	}
	for _, s := range p.Strategies {
		set, ok := settings[s.Name]
		if !ok || !set.Limited() {
			continue
		}
		var actions []Action
		for _, a := range p.Actions {
			if a.Strategy == s.Name {
				actions = append(actions, a)
			}
		}
		want := budgeted(s, actions)
		if want == 0 {
			continue
		}
		left, _, _, err := v.budgetLeft(ctx, set, now)
		if err != nil {
			return err
		}
		if want > left {
			return fmt.Errorf("%w: %s expects %v of costs, %v "+
				"is left of %v per %v", ErrOverBudget, s.Name,
				want, left, set.Budget, set.BudgetPeriod)
		}
	}

	return nil
}

// checkRoom refuses a plan that the vault as it stands now cannot carry:
// opens while shut down or for a killed strategy, a strategy over its cap,
// the idle vault below the floor.
func checkRoom(p Plan, st State, settings map[string]StrategySettings) error {
	taken := make(map[string]ledger.MilliSatoshi)
	var total ledger.MilliSatoshi
	for _, a := range p.Actions {
		if a.Amount == 0 {
			continue
		}
		if st.Policy.Shutdown {
			return fmt.Errorf("%w: the plan opens for %s", ErrShutdown,
				a.Strategy)
		}
		if settings[a.Strategy].Killed {
			return fmt.Errorf("%w: %s", ErrStrategyKilled,
				a.Strategy)
		}
		taken[a.Strategy] += a.Amount
		total += a.Amount
	}
	for name, amt := range taken {
		cap := st.Policy.Caps[name]
		if want := st.Strategies[name] + amt; want > cap {
			return &LimitError{Limit: "cap of " + name,
				Unit: "msat", Have: int64(cap), Want: int64(want)}
		}
	}
	if total > 0 {
		avail := st.Idle - st.Floor
		if avail < 0 {
			avail = 0
		}
		if total > avail {
			return &LimitError{Limit: "liquid floor", Unit: "msat",
				Have: int64(avail), Want: int64(total)}
		}
	}

	return nil
}

// allocate moves an open's capital from the idle vault to its strategy's
// principal, in tx.
func (v *Vault) allocate(ctx context.Context, tx VaultTx, a Action) error {
	_, err := v.ledger.PostTx(ctx, tx.Ledger(), ledger.Transaction{
		IdempotencyKey: allocKey(a.ID),
		Description: fmt.Sprintf("%s: %s %s (action %d)", a.Strategy,
			a.Kind, a.Target, a.ID),
		Postings: []ledger.Posting{
			{Account: ledger.Vault(), Amount: -a.Amount},
			{Account: ledger.StrategyPrincipal(a.Strategy),
				Amount: a.Amount},
		},
	})

	return err
}

// execute runs one pending action through its allocator and records the
// outcome; an action whose outcome is not known yet is returned pending.
func (v *Vault) execute(ctx context.Context, a StoredAction) StoredAction {
	v.actMu.Lock()
	defer v.actMu.Unlock()

	return v.executeLocked(ctx, a)
}

// executeLocked is execute with actMu held.
func (v *Vault) executeLocked(ctx context.Context,
	a StoredAction) StoredAction {

	alloc, err := v.allocator(a.Strategy)
	if err != nil {
		log.Errorf("Yield action %d: %v", a.ID, err)
		return a
	}
	// The action may have been resolved since it was read (by Apply
	// and the loop both): read it again under the lock.
	if cur, err := v.Action(ctx, a.ID); err == nil {
		a = cur
	}
	if a.Status != ActionPending {
		return a
	}
	out, err := alloc.Execute(ctx, a.Action, v.books(a.Strategy))
	if err != nil {
		log.Warnf("Yield action %d (%s %s %s): outcome not known yet: "+
			"%v", a.ID, a.Strategy, a.Kind, a.Target, err)
		return a
	}
	resolved, err := v.resolve(ctx, a, out)
	if err != nil {
		log.Errorf("Yield action %d: recording its outcome: %v", a.ID,
			err)
		return a
	}

	return resolved
}

// resolve records the action's outcome once; a failed open's capital
// returns to the idle vault in the same transaction.
func (v *Vault) resolve(ctx context.Context, a StoredAction,
	out ActionOutcome) (StoredAction, error) {

	status := ActionSucceeded
	if out.Failed {
		status = ActionFailed
	}
	now := v.clock.Now().UTC()
	err := v.store.ExecVault(ctx, false, func(tx VaultTx) error {
		err := tx.ResolveAction(ctx, a.ID, status, out, now)
		if err != nil {
			return err
		}
		if !out.Failed || a.Amount == 0 {
			return nil
		}
		_, err = v.ledger.PostTx(ctx, tx.Ledger(), ledger.Transaction{
			IdempotencyKey: unallocKey(a.ID),
			Description: fmt.Sprintf("%s: %s %s failed "+
				"(action %d): %s", a.Strategy, a.Kind, a.Target,
				a.ID, out.Error),
			Postings: []ledger.Posting{
				{Account: ledger.StrategyPrincipal(a.Strategy),
					Amount: -a.Amount},
				{Account: ledger.Vault(), Amount: a.Amount},
			},
		})
		return err
	})
	if err != nil {
		return a, err
	}
	a.Status = status
	a.Outcome = out
	a.ResolvedAt = now
	if out.Failed {
		log.Warnf("Yield action %d (%s %s %s) failed: %s", a.ID,
			a.Strategy, a.Kind, a.Target, out.Error)
	} else {
		log.Infof("Yield action %d (%s %s %s) succeeded: %s", a.ID,
			a.Strategy, a.Kind, a.Target, out.Result)
	}

	return a, nil
}

// Action returns the applied action with the id.
func (v *Vault) Action(ctx context.Context, id int64) (StoredAction, error) {
	var a StoredAction
	err := v.store.ExecVault(ctx, true, func(tx VaultTx) error {
		var err error
		a, err = tx.Action(ctx, id)
		return err
	})

	return a, err
}

// Actions returns the applied actions the filter selects.
func (v *Vault) Actions(ctx context.Context, f ActionFilter) (
	[]StoredAction, error) {

	var out []StoredAction
	err := v.store.ExecVault(ctx, true, func(tx VaultTx) error {
		var err error
		out, err = tx.Actions(ctx, f)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("yield actions: %w", err)
	}

	return out, nil
}

// ResumeAndHarvest executes every pending action again (each allocator
// looks it up at the other side first) and lets every allocator harvest.
// Errors are logged; the next call tries again.
func (v *Vault) ResumeAndHarvest(ctx context.Context) error {
	pending, err := v.Actions(ctx, ActionFilter{Status: ActionPending})
	if err != nil {
		return err
	}
	v.actMu.Lock()
	defer v.actMu.Unlock()
	for _, a := range pending {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		v.executeLocked(ctx, a)
	}
	var errs []error
	for _, a := range v.allocators() {
		if err := a.Harvest(ctx, v.books(a.Name())); err != nil {
			errs = append(errs, fmt.Errorf("harvesting %s: %w",
				a.Name(), err))
		}
	}

	return errors.Join(errs...)
}

// RunStrategies resumes pending actions and harvests the allocators every
// Config.Harvest until ctx ends. It does nothing when the vault has no
// allocator.
func (v *Vault) RunStrategies(ctx context.Context) error {
	if len(v.allocators()) == 0 {
		<-ctx.Done()
		return ctx.Err()
	}
	every := v.cfg.Harvest
	if every <= 0 {
		every = DefaultHarvest
	}
	ticker := v.clock.TickAfter(0)
	for {
		select {
		case <-ctx.Done():
			return ctx.Err()

		case <-ticker:
		}
		if err := v.ResumeAndHarvest(ctx); err != nil &&
			!errors.Is(err, context.Canceled) {

			log.Errorf("Yield strategies: %v", err)
		}
		ticker = v.clock.TickAfter(every)
	}
}

// SetStrategySettings sets a strategy's kill switch and cost budget. An
// unknown strategy (or reserve, which takes no settings) is refused with
// ErrUnknownStrategy, a negative budget or period with ErrInvalidPolicy.
func (v *Vault) SetStrategySettings(ctx context.Context,
	s StrategySettings) (StrategySettings, error) {

	if _, err := v.allocator(s.Strategy); err != nil {
		return StrategySettings{}, err
	}
	if s.Budget < 0 || s.BudgetPeriod < 0 {
		return StrategySettings{}, fmt.Errorf("%w: budget %v per %v "+
			"is negative", ErrInvalidPolicy, s.Budget,
			s.BudgetPeriod)
	}
	if s.BudgetPeriod > 0 && s.BudgetPeriod < time.Second {
		return StrategySettings{}, fmt.Errorf("%w: budget period %v "+
			"is under a second", ErrInvalidPolicy, s.BudgetPeriod)
	}
	s.BudgetPeriod = s.BudgetPeriod.Truncate(time.Second)
	s.UpdatedAt = v.clock.Now().UTC()
	err := v.store.ExecVault(ctx, false, func(tx VaultTx) error {
		return tx.PutStrategySettings(ctx, s)
	})
	if err != nil {
		return StrategySettings{}, fmt.Errorf("strategy settings: %w",
			err)
	}
	log.Infof("Strategy %s: killed %v, budget %v per %v", s.Strategy,
		s.Killed, s.Budget, s.BudgetPeriod)

	return s, nil
}

// StrategySettingsAll returns every allocator's settings, by name; one
// never set reads as not killed and without budget.
func (v *Vault) StrategySettingsAll(ctx context.Context) (
	map[string]StrategySettings, error) {

	var out map[string]StrategySettings
	err := v.store.ExecVault(ctx, true, func(tx VaultTx) error {
		var err error
		out, err = tx.StrategySettings(ctx)
		return err
	})
	if err != nil {
		return nil, err
	}
	for _, a := range v.allocators() {
		if _, ok := out[a.Name()]; !ok {
			out[a.Name()] = StrategySettings{Strategy: a.Name()}
		}
	}

	return out, nil
}

// books is the Books of one strategy.
type books struct {
	v        *Vault
	strategy string
}

// books returns the strategy's Books.
func (v *Vault) books(strategy string) Books {
	return books{v: v, strategy: strategy}
}

// post posts one two-legged move under the key; a key posted before is a
// no-op.
func (b books) post(ctx context.Context, tx VaultTx, key, desc string,
	from, to ledger.Account, amt ledger.MilliSatoshi) error {

	if amt < 0 {
		return fmt.Errorf("%s: %w: %v", key, ErrInvalidAmount, amt)
	}
	if amt == 0 {
		return nil
	}
	_, err := b.v.ledger.PostTx(ctx, tx.Ledger(), ledger.Transaction{
		IdempotencyKey: key,
		Description:    desc,
		Postings: []ledger.Posting{
			{Account: from, Amount: -amt},
			{Account: to, Amount: amt},
		},
	})

	return err
}

// Income posts strategy_yield → vault and sets the cursor, together.
func (b books) Income(ctx context.Context, key, desc string,
	amt ledger.MilliSatoshi, cursor Cursor) error {

	return b.v.store.ExecVault(ctx, false, func(tx VaultTx) error {
		err := b.post(ctx, tx, key, desc,
			ledger.StrategyYield(b.strategy), ledger.Vault(), amt)
		if err != nil {
			return err
		}
		if cursor.Name == "" {
			return nil
		}
		return tx.PutCursor(ctx, b.strategy, cursor,
			b.v.clock.Now().UTC())
	})
}

// Cost posts vault → strategy_yield.
func (b books) Cost(ctx context.Context, key, desc string,
	amt ledger.MilliSatoshi) error {

	return b.v.store.ExecVault(ctx, false, func(tx VaultTx) error {
		return b.post(ctx, tx, key, desc, ledger.Vault(),
			ledger.StrategyYield(b.strategy), amt)
	})
}

// Return posts strategy_principal → vault.
func (b books) Return(ctx context.Context, key, desc string,
	amt ledger.MilliSatoshi) error {

	return b.v.store.ExecVault(ctx, false, func(tx VaultTx) error {
		return b.post(ctx, tx, key, desc,
			ledger.StrategyPrincipal(b.strategy), ledger.Vault(),
			amt)
	})
}

// Cursor reads the strategy's cursor.
func (b books) Cursor(ctx context.Context, name string) (string, error) {
	var val string
	err := b.v.store.ExecVault(ctx, true, func(tx VaultTx) error {
		var err error
		val, err = tx.Cursor(ctx, b.strategy, name)
		return err
	})

	return val, err
}
