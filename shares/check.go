package shares

import (
	"context"
	"errors"
	"fmt"

	"github.com/sluice-ln/sluice/ledger"
	"github.com/sluice-ln/sluice/lightning"
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
	Tapd lightning.GroupSupply

	// Ledger is the ledger's share supply at the close of Epoch (0:
	// at the genesis's intent), the last one tapd has caught up with.
	Ledger ledger.Shares
	Epoch  uint64

	// Behind counts the closed epochs after Epoch whose tranche or burn
	// is still to be made (one pending among them, maybe): tapd follows
	// within the next syncs, and that is not a difference.
	Behind int
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
	return c, nil
}
