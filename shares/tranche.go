package shares

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/sluice-ln/sluice/hubnode"
	"github.com/sluice-ln/sluice/outbound"
)

// The epochs' failpoints: after an operation's intent is written, and once
// tapd took it (the tranche's batch broadcast, the burn made).
var (
	trancheFailpoints = outbound.Failpoints{
		AfterIntent: "shares-tranche-after-intent",
		AfterSend:   "shares-tranche-after-finalize",
	}
	burnFailpoints = outbound.Failpoints{
		AfterIntent: "shares-burn-after-intent",
		AfterSend:   "shares-burn-after-send",
	}
)

// DefaultSyncInterval is how often Run looks for closed epochs that tapd
// has not caught up with.
const DefaultSyncInterval = 10 * time.Second

// syncBatch is how many closed epochs one pass of Sync reads at a time.
const syncBatch = 16

// coverage is where tapd's supply of the group stands by the genesis and
// the operations that succeeded: its supply, and the ledger's burned units
// its burns have caught up with. Every unit the ledger issued up to
// Supply + Burned is minted.
type coverage struct {
	Totals

	// epoch is the epoch of the last operation, 0 after the genesis.
	epoch uint64
}

// covered reads the coverage: the last operation's, or the genesis's.
func (m *Manager) covered(ctx context.Context, g Mint) (coverage, error) {
	op, err := m.cfg.Epochs.LastEpochOp(ctx)
	switch {
	case errors.Is(err, ErrNoEpochOp):
		return coverage{Totals: Totals{Supply: g.Amount,
			Burned: g.Burned}}, nil

	case err != nil:
		return coverage{}, err
	}
	return coverage{Totals: Totals{Supply: op.SupplyAfter,
		Burned: op.Burned}, epoch: op.Epoch}, nil
}

// Sync brings tapd's supply of the group up to the ledger's at the close
// of every closed epoch, in order: for each, one tranche mints the units
// the ledger issued up to the close that tapd has not (the epoch's rewards
// and stakes), then one burn destroys the units redemptions burned that
// tapd still holds. Each is an intent written first and driven through
// outbound's lifecycle, so a crash never makes one twice; a pending one is
// followed to its end first. Epochs closed before the genesis are in it.
// Nothing happens before the genesis succeeded. It returns the operations
// it made.
func (m *Manager) Sync(ctx context.Context) ([]EpochOp, error) {
	if m.cfg.Epochs == nil || m.cfg.Burner == nil {
		return nil, errors.New("share sync: no epoch store or burner")
	}
	g, err := m.cfg.Store.Genesis(ctx)
	switch {
	case errors.Is(err, ErrNoGenesis):
		return nil, nil

	case err != nil:
		return nil, fmt.Errorf("share sync: %w", err)

	case g.State != outbound.StatusSucceeded:
		return nil, nil
	}

	var done []EpochOp
	p, err := m.cfg.Epochs.PendingEpochOp(ctx)
	switch {
	case errors.Is(err, ErrNoEpochOp):

	case err != nil:
		return nil, fmt.Errorf("share sync: %w", err)

	default:
		log.Infof("Share %s %q of epoch %d pending: tracking it at "+
			"tapd", p.Kind, p.Name, p.Epoch)
		op, err := m.driveOp(ctx, g, p, true)
		if err != nil {
			return nil, err
		}
		done = append(done, op)
	}

	cov, err := m.covered(ctx, g)
	if err != nil {
		return done, fmt.Errorf("share sync: %w", err)
	}
	// The last operation's epoch may still owe its burn.
	from := max(cov.epoch, 1)
	for {
		epochs, err := m.cfg.Epochs.ClosedEpochs(ctx, from, syncBatch)
		if err != nil {
			return done, fmt.Errorf("share sync: %w", err)
		}
		for _, e := range epochs {
			ops, err := m.syncEpoch(ctx, g, e)
			done = append(done, ops...)
			if err != nil {
				return done, err
			}
		}
		if len(epochs) < syncBatch {
			return done, nil
		}
		from = epochs[len(epochs)-1].Number + 1
	}
}

// syncEpoch makes epoch e's tranche and burn, as far as tapd is behind its
// close's totals.
func (m *Manager) syncEpoch(ctx context.Context, g Mint, e ClosedEpoch) (
	[]EpochOp, error) {

	var done []EpochOp
	for _, kind := range []MintKind{KindTranche, KindBurn} {
		cov, err := m.covered(ctx, g)
		if err != nil {
			return done, fmt.Errorf("share sync: %w", err)
		}
		op, ok, err := m.plan(ctx, g, e, cov, kind)
		if err != nil || !ok {
			if err != nil {
				return done, err
			}
			continue
		}
		if err := m.cfg.Epochs.InsertEpochOp(ctx, op); err != nil {
			return done, fmt.Errorf("share %s of epoch %d: %w", kind,
				e.Number, err)
		}
		log.Infof("Share %s %q of epoch %d: intent for %v units "+
			"written", kind, op.Name, e.Number, op.Amount)
		op, err = m.driveOp(ctx, g, op, false)
		done = append(done, op)
		if err != nil {
			return done, err
		}
	}
	return done, nil
}

// plan is epoch e's operation of the kind from the coverage cov: false
// when tapd is not behind the close's totals in that respect.
func (m *Manager) plan(ctx context.Context, g Mint, e ClosedEpoch,
	cov coverage, kind MintKind) (EpochOp, bool, error) {

	issued, err := e.Totals.Issued()
	if err != nil {
		return EpochOp{}, false, err
	}
	covIssued, err := cov.Issued()
	if err != nil {
		return EpochOp{}, false, err
	}
	attempts, err := m.cfg.Epochs.EpochOpAttempts(ctx, e.Number, kind)
	if err != nil {
		return EpochOp{}, false, fmt.Errorf("share %s of epoch %d: %w",
			kind, e.Number, err)
	}
	op := EpochOp{
		Epoch:     e.Number,
		Kind:      kind,
		State:     outbound.StatusPending,
		CreatedAt: m.cfg.Clock.Now().UTC(),
		Burned:    cov.Burned,
	}
	switch kind {
	case KindTranche:
		if issued <= covIssued {
			return EpochOp{}, false, nil
		}
		op.Amount = issued - covIssued
		op.SupplyAfter = cov.Supply + op.Amount
		op.Name = trancheName(g.Name, e.Number, attempts)
		op.MetaJSON, err = TrancheTerms(e, op.Amount).JSON()
		if err != nil {
			return EpochOp{}, false, err
		}

	case KindBurn:
		if e.Totals.Burned <= cov.Burned {
			return EpochOp{}, false, nil
		}
		op.Amount = e.Totals.Burned - cov.Burned
		if op.Amount > cov.Supply {
			return EpochOp{}, false, fmt.Errorf("share burn of epoch "+
				"%d: %v units to burn, tapd's supply is %v",
				e.Number, op.Amount, cov.Supply)
		}
		op.SupplyAfter = cov.Supply - op.Amount
		op.Burned = e.Totals.Burned
		op.Name = burnName(g.Name, e.Number, attempts)
	}
	return op, true, nil
}

// trancheName is the asset name of epoch n's tranche, its attempt-th try
// from 0: the genesis's name, "-e", the epoch and a retry's number, cut to
// fit tapd's length.
func trancheName(genesis string, n uint64, attempt int) string {
	return opName(genesis, fmt.Sprintf("-e%d", n), attempt)
}

// burnName is the note of epoch n's burn.
func burnName(genesis string, n uint64, attempt int) string {
	return opName(genesis, fmt.Sprintf("-e%d-burn", n), attempt)
}

func opName(genesis, suffix string, attempt int) string {
	if attempt > 0 {
		suffix += fmt.Sprintf(".%d", attempt)
	}
	base := []rune(genesis)
	for len(string(base))+len(suffix) > MaxNameLen {
		base = base[:len(base)-1]
	}
	return string(base) + suffix
}

// driveOp gets the pending op's outcome from tapd, making it at most once,
// and records it.
func (m *Manager) driveOp(ctx context.Context, g Mint, op EpochOp,
	resume bool) (EpochOp, error) {

	d := outbound.Driver{Hook: m.cfg.Hook, Clock: m.cfg.Clock,
		Retry: m.cfg.Retry, Guard: m.cfg.Guard}
	what := fmt.Sprintf("share %s %s", op.Kind, op.Name)

	var (
		status  outbound.Status
		failure string
	)
	switch op.Kind {
	case KindTranche:
		call := &mintCall{
			minter: m.cfg.Minter,
			seedling: hubnode.Seedling{
				Name:           op.Name,
				Amount:         uint64(op.Amount),
				DecimalDisplay: DecimalDisplay,
				MetaJSON:       op.MetaJSON,
				GroupKey:       g.GroupKey,
			},
			feeRate: m.cfg.FeeRate,
			poll:    m.cfg.PollInterval,
			clock:   m.cfg.Clock,
		}
		out, err := outbound.Drive(ctx, d, what, call,
			trancheFailpoints, resume)
		if err != nil {
			return op, err
		}
		status, failure = out.Status, out.Failure
		if status == outbound.StatusSucceeded {
			a := out.Detail
			if a.Amount != uint64(op.Amount) {
				return op, fmt.Errorf("%s: tapd minted %d units, "+
					"the intent %v", what, a.Amount, op.Amount)
			}
			op.AssetID, op.Anchor = a.ID, a.Anchor
		}

	case KindBurn:
		call := &burnCall{
			burner:   m.cfg.Burner,
			groupKey: g.GroupKey,
			note:     op.Name,
			amount:   uint64(op.Amount),
			poll:     m.cfg.PollInterval,
			clock:    m.cfg.Clock,
		}
		out, err := outbound.Drive(ctx, d, what, call, burnFailpoints,
			resume)
		if err != nil {
			return op, err
		}
		status, failure = out.Status, out.Failure
		if status == outbound.StatusSucceeded {
			op.BurnTxid = out.Detail.Txid
		}

	default:
		return op, fmt.Errorf("%s: unknown kind", what)
	}

	if err := outbound.Transition(op.State, status); err != nil {
		return op, fmt.Errorf("%s: %w", what, err)
	}
	op.State, op.Failure = status, failure
	op.ResolvedAt = m.cfg.Clock.Now().UTC()
	if err := m.cfg.Epochs.ResolveEpochOp(ctx, op); err != nil {
		return op, fmt.Errorf("%s: %w", what, err)
	}
	if op.State == outbound.StatusFailed {
		log.Warnf("Share %s %q of epoch %d failed: %s", op.Kind,
			op.Name, op.Epoch, op.Failure)
		if op.Kind == KindBurn {
			return op, fmt.Errorf("%w: %s", ErrBurnFailed, op.Failure)
		}
		return op, fmt.Errorf("%w: %s", ErrMintFailed, op.Failure)
	}
	log.Infof("Share %s %q of epoch %d done: %v units; tapd's supply "+
		"now %v", op.Kind, op.Name, op.Epoch, op.Amount, op.SupplyAfter)

	return op, nil
}

// EpochOps lists every epoch's tranche and burn, in the order they were
// made; none without an epoch store.
func (m *Manager) EpochOps(ctx context.Context) ([]EpochOp, error) {
	if m.cfg.Epochs == nil {
		return nil, nil
	}
	return m.cfg.Epochs.EpochOps(ctx, 0)
}

// Run syncs tapd with the closed epochs every interval until ctx ends;
// errors are logged and tried again on the next tick.
func (m *Manager) Run(ctx context.Context, interval time.Duration) error {
	if interval <= 0 {
		interval = DefaultSyncInterval
	}
	tick := m.cfg.Clock.TickAfter(0)
	for {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-tick:
		}
		if _, err := m.Sync(ctx); err != nil && ctx.Err() == nil {
			log.Errorf("Share sync: %v", err)
		}
		tick = m.cfg.Clock.TickAfter(interval)
	}
}
