package yield

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/lightningnetwork/lnd/clock"
	"github.com/sluice-ln/sluice/ledger"
)

// Config is the vault's operator settings (daemon group `yield`).
type Config struct {
	// Epoch is how long a reward epoch lasts (yield.epoch).
	Epoch time.Duration

	// RewardPPM is the part of the platform fees collected in an epoch,
	// in parts per million, that the epoch's close moves into the vault
	// as the providers' reward (yield.rewardppm).
	RewardPPM uint32

	// Tick is how often Run looks for an epoch to close and redemptions
	// to finalize.
	Tick time.Duration

	// Clock gives the time; nil means the wall clock.
	Clock clock.Clock

	// Strategies is the strategies the vault knows (their caps are
	// set in the policy); nil means reserve alone.
	Strategies *Registry

	// PlanTTL is how long a plan may be applied after it was made;
	// zero means DefaultPlanTTL.
	PlanTTL time.Duration

	// Harvest is how often RunStrategies resumes pending actions and
	// harvests the allocators; zero means DefaultHarvest.
	Harvest time.Duration
}

// Defaults of Config.
const (
	DefaultEpoch     = time.Hour
	DefaultRewardPPM = 200_000
	DefaultTick      = time.Second
	DefaultHarvest   = 10 * time.Second
)

// Vault is the yield vault: the shares it issues against the sats it
// holds, staking, reward epochs and the redemption queue. Any number of
// goroutines may use one Vault; the store's transactions serialize them.
type Vault struct {
	store  Store
	ledger *ledger.Ledger
	cfg    Config
	clock  clock.Clock

	// actMu serializes the allocators' calls that leave the process
	// (Execute, Harvest): an action is executed by one goroutine at a
	// time, so a pending one resumed by RunStrategies and the same one
	// run by Apply cannot both open a channel.
	actMu sync.Mutex
}

// New returns a Vault over the store. l posts its ledger transactions, in
// the store transactions the vault opens.
func New(store Store, l *ledger.Ledger, cfg Config) (*Vault, error) {
	if cfg.Epoch <= 0 {
		return nil, fmt.Errorf("vault: epoch %v must be positive",
			cfg.Epoch)
	}
	if cfg.RewardPPM > 1_000_000 {
		return nil, fmt.Errorf("vault: reward %d ppm is above "+
			"1,000,000", cfg.RewardPPM)
	}
	if cfg.Tick <= 0 {
		cfg.Tick = DefaultTick
	}
	clk := cfg.Clock
	if clk == nil {
		clk = clock.NewDefaultClock()
	}

	return &Vault{store: store, ledger: l, cfg: cfg, clock: clk}, nil
}

// Earning is one charge of metered usage, as metering posted it: what the
// provider earned by it and the platform fee it paid.
type Earning struct {
	// Key is the usage charge's ledger idempotency key.
	Key string

	JobID      string
	ProviderID string

	// Seconds is how many metered seconds the charge priced.
	Seconds uint64

	// Earned is the provider's part of the price; Fee the platform's.
	Earned ledger.MilliSatoshi
	Fee    ledger.MilliSatoshi
}

// Earned is called by metering's charge in the store transaction that
// posted the usage (tx): it adds the earning to the open epoch's
// contributions and stakes the provider's auto-stake part of it, before
// payouts can see it.
func (v *Vault) Earned(ctx context.Context, tx VaultTx, e Earning) error {
	if err := v.contribute(ctx, tx, e); err != nil {
		return fmt.Errorf("epoch contribution of %s: %w", e.Key, err)
	}
	if err := v.autoStake(ctx, tx, e); err != nil {
		return fmt.Errorf("auto-stake of %s: %w", e.Key, err)
	}

	return nil
}

// Run closes epochs when they are due and finalizes the redemption queue,
// every Tick, until ctx ends. Errors are logged and tried again on the next
// tick.
func (v *Vault) Run(ctx context.Context) error {
	ticker := v.clock.TickAfter(0)
	for {
		select {
		case <-ctx.Done():
			return ctx.Err()

		case <-ticker:
		}

		if _, _, err := v.CloseDueEpoch(ctx); err != nil &&
			!errors.Is(err, context.Canceled) {

			log.Errorf("Closing the epoch: %v", err)
		}
		if _, err := v.FinalizeRedemptions(ctx); err != nil &&
			!errors.Is(err, context.Canceled) {

			log.Errorf("Finalizing redemptions: %v", err)
		}

		ticker = v.clock.TickAfter(v.cfg.Tick)
	}
}
