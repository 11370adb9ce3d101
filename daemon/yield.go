package daemon

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/lightningnetwork/lnd/clock"
	"github.com/sluice-ln/sluice/ledger"
	"github.com/sluice-ln/sluice/store"
	"github.com/sluice-ln/sluice/yield"
)

// YieldConfig holds the yield.* options: the vault's reward epochs. The
// vault's loop ticks every yield.DefaultTick; that is not an option.
//
//nolint:ll
type YieldConfig struct {
	Epoch     time.Duration `long:"epoch" description:"how long a reward epoch lasts (1s to 720h; seconds on the devnet)"`
	RewardPPM uint32        `long:"rewardppm" description:"the part of the platform fees collected in an epoch, in millionths, that its close moves into the vault as the providers' reward (0 to 1000000)"`
}

// defaultYieldConfig is the yield.* defaults.
func defaultYieldConfig() *YieldConfig {
	return &YieldConfig{
		Epoch:     yield.DefaultEpoch,
		RewardPPM: yield.DefaultRewardPPM,
	}
}

// validateYield checks the yield.* options.
func (c *Config) validateYield() error {
	y := c.Yield
	switch {
	case y.Epoch < time.Second || y.Epoch > 720*time.Hour:
		return invalid("yield.epoch", "%v is outside 1s to 720h",
			y.Epoch)
	case y.RewardPPM > 1_000_000:
		return invalid("yield.rewardppm", "%d is outside 0 to 1000000",
			y.RewardPPM)
	}
	return nil
}

// newVault builds the yield vault on the store, with its own ledger and
// the daemon's clock.
func newVault(c *YieldConfig, db *store.DB, clk clock.Clock) (*yield.Vault,
	error) {

	return yield.New(db, ledger.New(store.NewLedgerStore(db), nil),
		yield.Config{
			Epoch:     c.Epoch,
			RewardPPM: c.RewardPPM,
			Clock:     clk,
		})
}

// vaultLoop is the vault's Run under the daemon's lifecycle: started with
// the other subsystems and stopped before the store closes.
type vaultLoop struct {
	cancel context.CancelFunc
	done   chan error
}

// startVaultLoop runs v.Run until stop.
func startVaultLoop(v *yield.Vault) *vaultLoop {
	ctx, cancel := context.WithCancel(context.Background())
	l := &vaultLoop{cancel: cancel, done: make(chan error, 1)}
	go func() { l.done <- v.Run(ctx) }()

	return l
}

// stop ends the loop and waits for it: an epoch close or a finalization
// under way ends with its transaction.
func (l *vaultLoop) stop() error {
	l.cancel()
	err := <-l.done
	if errors.Is(err, context.Canceled) {
		return nil
	}
	return fmt.Errorf("vault loop: %w", err)
}
