package shares

import (
	"context"
	"errors"
	"fmt"

	"github.com/sluice-ln/sluice/hubnode"
	"github.com/sluice-ln/sluice/ledger"
	"github.com/sluice-ln/sluice/outbound"
)

// SupplyCheck is the share asset's supply as the hub's tapd has it, beside
// the ledger's supply that tapd should have by the mints and burns Sluice
// recorded as done.
type SupplyCheck struct {
	// Genesis is false before the asset's genesis succeeded: nothing
	// is compared then.
	Genesis bool

	// Tapd is the group's supply as tapd knows it.
	Tapd hubnode.GroupSupply

	// Ledger is the ledger's share supply at the close of Epoch (0:
	// at the genesis's intent), the last one tapd has caught up with.
	Ledger ledger.Shares
	Epoch  uint64

	// Behind counts the closed epochs after Epoch whose tranche or burn
	// is still to be made (one pending among them, maybe): tapd follows
	// within the next syncs, and that is not a difference.
	Behind int

	// InFlight says what is under way that tapd's holdings may show
	// before the ledger does, or the other way round: epochs behind,
	// withdrawal rounds not resolved, deposits received and not yet
	// credited. The hub's holdings are compared with custody only when
	// it is empty (CheckCustody fills it; CheckSupply alone names the
	// epochs behind).
	InFlight []string

	// Custody is true when CheckCustody read Outside, the shares the
	// ledger has outside the hub's custody (withdrawn less deposited
	// back), after tapd and what is in flight.
	Custody bool
	Outside ledger.Shares
}

// HeldWant is what the hub's tapd should hold of the group by the ledger:
// tapd's supply less Outside; false when that cannot be told: without
// Custody, while the supply differs or something is in flight.
func (c SupplyCheck) HeldWant() (uint64, bool) {
	if !c.Custody || !c.Matches() || len(c.InFlight) > 0 {
		return 0, false
	}
	supply, err := c.Tapd.Supply()
	if err != nil || c.Outside < 0 || uint64(c.Outside) > supply {
		return 0, false
	}
	return supply - uint64(c.Outside), true
}

// Matches reports whether tapd's supply equals Ledger.
func (c SupplyCheck) Matches() bool {
	s, err := c.Tapd.Supply()
	return err == nil && s == uint64(c.Ledger)
}

// CheckSupply reads the group's supply from the hub's tapd and where the
// ledger's supply stands by the operations done.
func (m *Manager) CheckSupply(ctx context.Context) (SupplyCheck, error) {
	if m.cfg.Epochs == nil || m.cfg.Burner == nil {
		return SupplyCheck{}, errors.New("share check: no epoch store " +
			"or burner")
	}
	g, err := m.cfg.Store.Genesis(ctx)
	switch {
	case errors.Is(err, ErrNoGenesis):
		return SupplyCheck{}, nil

	case err != nil:
		return SupplyCheck{}, fmt.Errorf("share check: %w", err)

	case g.State != outbound.StatusSucceeded:
		return SupplyCheck{}, nil
	}
	cov, err := m.covered(ctx, g)
	if err != nil {
		return SupplyCheck{}, fmt.Errorf("share check: %w", err)
	}
	c := SupplyCheck{Genesis: true, Ledger: cov.Supply, Epoch: cov.epoch}

	// The epochs after the coverage that tapd is behind.
	covIssued, err := cov.Issued()
	if err != nil {
		return SupplyCheck{}, err
	}
	from := cov.epoch + 1
	for {
		epochs, err := m.cfg.Epochs.ClosedEpochs(ctx, from, syncBatch)
		if err != nil {
			return SupplyCheck{}, fmt.Errorf("share check: %w", err)
		}
		for _, e := range epochs {
			issued, err := e.Totals.Issued()
			if err != nil {
				return SupplyCheck{}, err
			}
			if issued > covIssued || e.Totals.Burned > cov.Burned {
				c.Behind++
			}
		}
		if len(epochs) < syncBatch {
			break
		}
		from = epochs[len(epochs)-1].Number + 1
	}

	c.Tapd, err = m.cfg.Burner.GroupSupply(ctx, g.GroupKey)
	if err != nil {
		return SupplyCheck{}, fmt.Errorf("share check: tapd: %w", err)
	}
	if c.Behind > 0 {
		c.InFlight = append(c.InFlight, fmt.Sprintf("%d closed "+
			"epochs' tranche or burn", c.Behind))
	}
	return c, nil
}

// CheckCustody is CheckSupply with what else moves the hub's holdings of
// the group in InFlight: withdrawal rounds not resolved (w) and deposits
// received and not yet credited (d), and then the shares the ledger has
// outside the hub's custody. With nothing in flight, tapd's holdings must
// be its supply less those (HeldWant; reconcile compares them).
func CheckCustody(ctx context.Context, m *Manager, w *Withdrawer,
	d *Depositor) (SupplyCheck, error) {

	c, err := m.CheckSupply(ctx)
	if err != nil || !c.Genesis {
		return c, err
	}
	rounds, err := w.cfg.Withdrawals.PendingRounds(ctx)
	if err != nil {
		return SupplyCheck{}, fmt.Errorf("share check: %w", err)
	}
	for _, r := range rounds {
		c.InFlight = append(c.InFlight, fmt.Sprintf("withdrawal "+
			"round %d sending", r.ID))
	}
	n, err := d.Uncredited(ctx)
	if err != nil {
		return SupplyCheck{}, fmt.Errorf("share check: %w", err)
	}
	if n > 0 {
		c.InFlight = append(c.InFlight, fmt.Sprintf("%d deposits "+
			"received, not credited yet", n))
	}
	// Read last: a withdrawal resolved or a deposit credited since the
	// reads above was in flight in them.
	if c.Outside, err = d.cfg.Deposits.SharesOutside(ctx); err != nil {
		return SupplyCheck{}, fmt.Errorf("share check: %w", err)
	}
	c.Custody = true
	return c, nil
}
