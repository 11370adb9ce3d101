package yield

import (
	"context"
	"fmt"
	"maps"

	"github.com/sluice-ln/sluice/ledger"
)

// SetPolicy replaces the liquid floor (in basis points of NAV) and the
// strategies' caps, keeping the shutdown switch as it is, and returns the
// policy stored. Refusals change nothing: ErrInvalidPolicy for a floor
// above 10,000 bps, a cap on a strategy the vault does not know, on
// reserve (it takes none) or below zero, and a *LimitError ("cap of
// <name>") for a cap below what the strategy holds now.
func (v *Vault) SetPolicy(ctx context.Context, floorBPS uint32,
	caps map[string]ledger.MilliSatoshi) (Policy, error) {

	if floorBPS > 10_000 {
		return Policy{}, fmt.Errorf("%w: floor of %d bps is above "+
			"10,000", ErrInvalidPolicy, floorBPS)
	}
	reg := v.strategies()
	for name, c := range caps {
		switch _, known := reg.Lookup(name); {
		case !known:
			return Policy{}, fmt.Errorf("%w: cap on %q, which is "+
				"not a strategy (%v)", ErrInvalidPolicy, name,
				reg.Names())

		case name == ReserveName:
			return Policy{}, fmt.Errorf("%w: reserve takes no "+
				"cap: the floor bounds it", ErrInvalidPolicy)

		case c < 0:
			return Policy{}, fmt.Errorf("%w: cap of %v on %q is "+
				"negative", ErrInvalidPolicy, c, name)
		}
	}

	var stored Policy
	err := v.store.ExecVault(ctx, false, func(tx VaultTx) error {
		for name, c := range caps {
			principal, err := balance(ctx, tx,
				ledger.StrategyPrincipal(name))
			if err != nil {
				return err
			}
			if c < principal {
				return &LimitError{Limit: "cap of " + name,
					Unit: "msat", Have: int64(c),
					Want: int64(principal)}
			}
		}
		p, err := tx.Policy(ctx)
		if err != nil {
			return err
		}
		p.FloorBPS = floorBPS
		p.Caps = nil
		if len(caps) > 0 {
			p.Caps = maps.Clone(caps)
		}
		p.UpdatedAt = v.clock.Now()
		if err := tx.PutPolicy(ctx, p); err != nil {
			return err
		}
		stored, err = tx.Policy(ctx)
		return err
	})
	if err != nil {
		return Policy{}, fmt.Errorf("vault policy: %w", err)
	}
	log.Infof("Vault policy set: floor %d bps, caps %v", stored.FloorBPS,
		stored.Caps)

	return stored, nil
}

// Shutdown turns the shutdown switch on or off and returns the policy
// stored. While it is on, nothing is staked (by hand, automatically or by
// an epoch's reward) and nothing is allocated; redemptions keep being
// queued, cancelled and finalized.
func (v *Vault) Shutdown(ctx context.Context, on bool) (Policy, error) {
	var stored Policy
	err := v.store.ExecVault(ctx, false, func(tx VaultTx) error {
		p, err := tx.Policy(ctx)
		if err != nil {
			return err
		}
		p.Shutdown = on
		p.UpdatedAt = v.clock.Now()
		if err := tx.PutPolicy(ctx, p); err != nil {
			return err
		}
		stored, err = tx.Policy(ctx)
		return err
	})
	if err != nil {
		return Policy{}, fmt.Errorf("vault shutdown: %w", err)
	}
	if on {
		log.Warnf("Vault shut down: staking and allocation stop, " +
			"redemptions go on")
	} else {
		log.Infof("Vault shutdown lifted")
	}

	return stored, nil
}
