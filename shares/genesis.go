package shares

import (
	"context"
	"errors"
	"fmt"
	"time"
	"unicode/utf8"

	"github.com/lightningnetwork/lnd/clock"
	"github.com/sluice-ln/sluice/hubnode"
	"github.com/sluice-ln/sluice/outbound"
)

// MaxNameLen is the longest asset name tapd takes, in bytes.
const MaxNameLen = 64

// DefaultPollInterval is how often a finalized batch is read until it is
// final.
const DefaultPollInterval = 2 * time.Second

// genesisFailpoints are the genesis's failpoints: after its intent is
// written, and once tapd broadcast its batch.
var genesisFailpoints = outbound.Failpoints{
	AfterIntent: "shares-genesis-after-intent",
	AfterSend:   "shares-genesis-after-finalize",
}

// Config is what a Manager works with.
type Config struct {
	Store  Store
	Minter Minter

	// Epochs and Burner are what the epochs' tranches and burns need;
	// without them the Manager mints the genesis only.
	Epochs EpochStore
	Burner Burner

	// Vault names the vault in the terms.
	Vault Vault

	// FeeRate is the minting transaction's fee rate in sat/kw;
	// hubnode.MinFeeRate when lower.
	FeeRate uint32

	// PollInterval is how often a broadcast batch is read until final;
	// DefaultPollInterval when zero.
	PollInterval time.Duration

	// Clock times the polls and stamps the rows; the wall clock when
	// nil.
	Clock clock.Clock

	// Hook fires failpoints (outbound.Driver.Hook); tests put their
	// own crash there.
	Hook func(name string)

	// Retry is the wait rule while a mint's outcome is unknown.
	Retry outbound.Retry

	// Guard, when set, is asked right before each call to tapd leaves
	// (outbound.Driver.Guard): the leader's lease on PostgreSQL.
	Guard func() error
}

// Manager mints the share asset.
type Manager struct {
	cfg Config
}

// NewManager is a Manager over cfg.
func NewManager(cfg Config) *Manager {
	if cfg.Clock == nil {
		cfg.Clock = clock.NewDefaultClock()
	}
	if cfg.PollInterval <= 0 {
		cfg.PollInterval = DefaultPollInterval
	}
	cfg.FeeRate = max(cfg.FeeRate, hubnode.MinFeeRate)
	return &Manager{cfg: cfg}
}

// checkName refuses a name tapd would refuse.
func checkName(name string) error {
	switch {
	case name == "":
		return fmt.Errorf("%w: empty", ErrBadName)
	case len(name) > MaxNameLen:
		return fmt.Errorf("%w: %d bytes, at most %d", ErrBadName,
			len(name), MaxNameLen)
	case !utf8.ValidString(name):
		return fmt.Errorf("%w: not UTF-8", ErrBadName)
	}
	return nil
}

// Asset returns the share asset's genesis: pending while it is minted,
// succeeded with the group key, asset id and anchor once done;
// ErrNoGenesis before.
func (m *Manager) Asset(ctx context.Context) (Mint, error) {
	return m.cfg.Store.Genesis(ctx)
}

// Genesis mints the share asset's group once, named name, for the ledger's
// share supply, and waits until its batch is final. The intent is written
// before tapd sees anything. A genesis pending under the same name is
// followed to its end instead (as Resume does); one done or pending under
// another name gives ErrGenesisDone; a supply of zero, ErrNothingToMint.
// A mint tapd refused or cancelled is recorded failed and returned as
// ErrMintFailed. When ctx ends first the intent stays pending and Resume
// takes it up.
func (m *Manager) Genesis(ctx context.Context, name string) (Mint, error) {
	if err := checkName(name); err != nil {
		return Mint{}, err
	}
	g, err := m.cfg.Store.Genesis(ctx)
	switch {
	case errors.Is(err, ErrNoGenesis):

	case err != nil:
		return Mint{}, fmt.Errorf("share genesis: %w", err)

	case g.State == outbound.StatusPending && g.Name == name:
		return m.drive(ctx, g, true)

	default:
		return Mint{}, fmt.Errorf("%w: %q is %v", ErrGenesisDone,
			g.Name, g.State)
	}

	totals, err := m.cfg.Store.ShareTotals(ctx)
	if err != nil {
		return Mint{}, fmt.Errorf("share genesis: supply: %w", err)
	}
	supply := totals.Supply
	if supply <= 0 {
		return Mint{}, ErrNothingToMint
	}
	meta, err := GenesisTerms(name, m.cfg.Vault).JSON()
	if err != nil {
		return Mint{}, err
	}

	g = Mint{
		Name:      name,
		Kind:      KindGenesis,
		Amount:    supply,
		Burned:    totals.Burned,
		MetaJSON:  meta,
		State:     outbound.StatusPending,
		CreatedAt: m.cfg.Clock.Now().UTC(),
	}
	if err := m.cfg.Store.InsertGenesis(ctx, g); err != nil {
		return Mint{}, fmt.Errorf("share genesis %q: %w", name, err)
	}
	log.Infof("Share genesis %q: intent for %v units written", name,
		supply)

	return m.drive(ctx, g, false)
}

// Resume follows a genesis left pending by a crash or a stop to its end;
// nothing when there is none. The daemon calls it on start.
func (m *Manager) Resume(ctx context.Context) error {
	g, err := m.cfg.Store.Genesis(ctx)
	switch {
	case errors.Is(err, ErrNoGenesis):
		return nil

	case err != nil:
		return fmt.Errorf("share genesis: %w", err)

	case g.State != outbound.StatusPending:
		return nil
	}
	log.Infof("Share genesis %q pending: tracking it at tapd", g.Name)
	_, err = m.drive(ctx, g, true)
	return err
}

// drive gets the pending genesis g's outcome from tapd, making the mint
// at most once, and records it.
func (m *Manager) drive(ctx context.Context, g Mint, resume bool) (Mint,
	error) {

	call := &mintCall{
		minter: m.cfg.Minter,
		seedling: hubnode.Seedling{
			Name:           g.Name,
			Amount:         uint64(g.Amount),
			DecimalDisplay: DecimalDisplay,
			MetaJSON:       g.MetaJSON,
		},
		feeRate: m.cfg.FeeRate,
		poll:    m.cfg.PollInterval,
		clock:   m.cfg.Clock,
	}
	d := outbound.Driver{Hook: m.cfg.Hook, Clock: m.cfg.Clock,
		Retry: m.cfg.Retry, Guard: m.cfg.Guard}
	out, err := outbound.Drive(ctx, d, "share genesis "+g.Name, call,
		genesisFailpoints, resume)
	if err != nil {
		return Mint{}, err
	}

	if err := outbound.Transition(g.State, out.Status); err != nil {
		return Mint{}, fmt.Errorf("share genesis %q: %w", g.Name, err)
	}
	g.State = out.Status
	g.Failure = out.Failure
	g.ResolvedAt = m.cfg.Clock.Now().UTC()
	if out.Status == outbound.StatusSucceeded {
		a := out.Detail
		if a.Amount != uint64(g.Amount) {
			// tapd minted another amount than the intent's:
			// never expected, and never recorded as done.
			return Mint{}, fmt.Errorf("share genesis %q: tapd "+
				"holds %d units, the intent %v", g.Name,
				a.Amount, g.Amount)
		}
		g.GroupKey, g.AssetID, g.Anchor = a.GroupKey, a.ID, a.Anchor
	}
	if err := m.cfg.Store.ResolveMint(ctx, g); err != nil {
		if errors.Is(err, outbound.ErrInvalidTransition) {
			// Resolved by another caller meanwhile: its record
			// stands.
			return m.cfg.Store.Genesis(ctx)
		}
		return Mint{}, fmt.Errorf("share genesis %q: %w", g.Name, err)
	}
	if g.State == outbound.StatusFailed {
		log.Warnf("Share genesis %q failed: %s", g.Name, g.Failure)
		return g, fmt.Errorf("%w: %s", ErrMintFailed, g.Failure)
	}
	log.Infof("Share genesis %q minted: %v units, group key %x, asset "+
		"id %x, anchor %v", g.Name, g.Amount, g.GroupKey, g.AssetID,
		g.Anchor)

	return g, nil
}
