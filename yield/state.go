package yield

import (
	"context"
	"errors"
	"fmt"

	"github.com/shopspring/decimal"
	"github.com/sluice-ln/sluice/ledger"
)

// shareValueDigits is how many decimals State's exact share value keeps:
// (A+1)/(S+V) per unit is exact in few cases, so its digits beyond these
// are cut off.
const shareValueDigits = 18

// State returns the vault as a whole, read in one transaction: its NAV
// and how it is held, the supply and what is locked, a share's value, the
// liquid floor, the queue, the policy and the open epoch.
func (v *Vault) State(ctx context.Context) (State, error) {
	var s State
	err := v.store.ExecVault(ctx, true, func(tx VaultTx) error {
		var err error
		s, err = v.stateTx(ctx, tx)
		return err
	})
	if err != nil {
		return State{}, fmt.Errorf("vault state: %w", err)
	}

	return s, nil
}

// stateTx is State in tx.
func (v *Vault) stateTx(ctx context.Context, tx VaultTx) (State, error) {
	nav, err := v.navPartsTx(ctx, tx)
	if err != nil {
		return State{}, err
	}
	s := State{
		Assets:    nav.Assets,
		Idle:      nav.Idle,
		Allocated: nav.Allocated,
		Supply:    nav.Supply,
	}
	if s.ShareValue, err = nav.PricePerShare(); err != nil {
		return State{}, err
	}
	s.ShareValueExact = shareValueExact(nav.NAV)

	pending, err := tx.Redemptions(ctx, RedemptionFilter{
		States: []RedemptionState{RedemptionPending},
	})
	if err != nil {
		return State{}, err
	}
	holders := make(map[string]bool)
	for _, r := range pending {
		s.QueueLen++
		if s.QueueShares, err = s.QueueShares.Add(r.Shares); err != nil {
			return State{}, err
		}
		if s.Queued, err = s.Queued.Add(r.Requested); err != nil {
			return State{}, err
		}
		holders[r.ProviderID] = true
	}
	// Locked is read off the ledger, where reconcile checks it against
	// the queue, rather than taken from the queue.
	for p := range holders {
		locked, err := shareBalance(ctx, tx, ledger.SharesLocked(p))
		if err != nil {
			return State{}, err
		}
		if s.Locked, err = s.Locked.Add(locked); err != nil {
			return State{}, err
		}
	}

	if s.Policy, err = tx.Policy(ctx); err != nil {
		return State{}, err
	}
	floor, err := floorAfter(s.Policy.FloorBPS, s.Assets)
	if err != nil {
		return State{}, err
	}
	s.Floor = max(floor, s.Queued)
	s.FloorMet = s.Idle >= s.Floor

	s.Strategies = map[string]ledger.MilliSatoshi{ReserveName: s.Idle}
	for _, name := range v.strategies().Names() {
		if name == ReserveName {
			continue
		}
		p, err := balance(ctx, tx, ledger.StrategyPrincipal(name))
		if err != nil {
			return State{}, err
		}
		s.Strategies[name] = p
	}

	epoch, err := tx.OpenEpoch(ctx)
	switch {
	case err == nil:
		s.Epoch = epoch
		s.Due = epoch.Start.Add(v.cfg.Epoch)

	case !errors.Is(err, ErrNoOpenEpoch):
		return State{}, err
	}

	return s, nil
}

// shareValueExact is what one share (ledger.UnitsPerShare units) is worth
// at nav, UnitsPerShare·(A+1)/(S+V) msat, as a decimal string cut off
// after shareValueDigits decimals.
func shareValueExact(nav NAV) string {
	num := decimal.NewFromInt(int64(nav.Assets)).Add(decimal.NewFromInt(1)).
		Mul(decimal.NewFromInt(ledger.UnitsPerShare))
	den := decimal.NewFromInt(int64(nav.Supply)).Add(
		decimal.NewFromInt(int64(nav.offset())))
	q, _ := num.QuoRem(den, shareValueDigits)

	return q.String()
}

// Holding returns one provider's part of the vault: the shares it holds,
// those locked in its pending redemptions, what both redeem for now
// (rounded down) and its auto-stake percent. ErrProviderNotFound for an
// unknown provider.
func (v *Vault) Holding(ctx context.Context, providerID string) (Holding,
	error) {

	h := Holding{ProviderID: providerID}
	err := v.store.ExecVault(ctx, true, func(tx VaultTx) error {
		ok, err := tx.ProviderExists(ctx, providerID)
		if err != nil {
			return err
		}
		if !ok {
			return ErrProviderNotFound
		}
		_, shares, err := balances(ctx, tx,
			ledger.ProviderShares(providerID),
			ledger.SharesLocked(providerID))
		if err != nil {
			return err
		}
		h.Shares = shares[ledger.ProviderShares(providerID)]
		h.Locked = shares[ledger.SharesLocked(providerID)]
		total, err := h.Shares.Add(h.Locked)
		if err != nil {
			return err
		}
		nav, err := v.navTx(ctx, tx)
		if err != nil {
			return err
		}
		if h.Value, err = nav.ToAssets(total, Floor); err != nil {
			return err
		}
		h.AutoStake, err = tx.AutoStake(ctx, providerID)
		return err
	})
	if err != nil {
		return Holding{}, fmt.Errorf("holding of %q: %w", providerID,
			err)
	}

	return h, nil
}
