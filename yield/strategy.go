package yield

import (
	"fmt"
	"sort"
)

// Strategy is a place the vault's sats can be put to work. Its principal
// is the ledger account ledger.StrategyPrincipal(Name()); what it earns
// comes from ledger.StrategyYield(Name()). Issue 12 adds allocation and
// harvesting to it; until then the vault knows strategies by name only,
// for their caps.
type Strategy interface {
	// Name is the strategy's unique name: the reference of its ledger
	// accounts and the key of its cap in the policy.
	Name() string
}

// ReserveName is the name of the reserve strategy: the idle vault itself.
// Its principal is the vault account's balance, not a principal account,
// and it takes no cap: the liquid floor bounds it from below instead.
const ReserveName = "reserve"

// reserve is the idle vault as a strategy.
type reserve struct{}

// Name is ReserveName.
func (reserve) Name() string { return ReserveName }

// Reserve returns the reserve strategy.
func Reserve() Strategy { return reserve{} }

// Registry is the strategies a vault knows, by name. reserve is always in
// it. A Registry is not changed after NewRegistry, so any number of
// goroutines may read it.
type Registry struct {
	byName map[string]Strategy
}

// NewRegistry returns a registry of reserve and the strategies given. An
// empty name, a name given twice, or a strategy named like reserve is
// refused.
func NewRegistry(strategies ...Strategy) (*Registry, error) {
	r := &Registry{byName: map[string]Strategy{ReserveName: reserve{}}}
	for _, s := range strategies {
		name := s.Name()
		switch {
		case name == "":
			return nil, fmt.Errorf("strategy with an empty name")

		case r.byName[name] != nil:
			return nil, fmt.Errorf("strategy %q is registered "+
				"twice", name)
		}
		r.byName[name] = s
	}

	return r, nil
}

// Lookup returns the strategy with the name.
func (r *Registry) Lookup(name string) (Strategy, bool) {
	s, ok := r.byName[name]
	return s, ok
}

// Names returns every strategy's name, sorted, reserve included.
func (r *Registry) Names() []string {
	names := make([]string, 0, len(r.byName))
	for name := range r.byName {
		names = append(names, name)
	}
	sort.Strings(names)

	return names
}

// defaultRegistry knows reserve alone.
var defaultRegistry = &Registry{
	byName: map[string]Strategy{ReserveName: reserve{}},
}

// strategies returns the vault's registry: Config.Strategies, or reserve
// alone when none was given.
func (v *Vault) strategies() *Registry {
	if v.cfg.Strategies != nil {
		return v.cfg.Strategies
	}

	return defaultRegistry
}
