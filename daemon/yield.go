package daemon

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/btcsuite/btcd/btcutil"
	"github.com/lightninglabs/lndclient"
	"github.com/lightningnetwork/lnd/clock"
	"github.com/lightningnetwork/lnd/lnwire"
	"github.com/lightningnetwork/lnd/routing/route"
	"github.com/sluice-ln/sluice/hubnode"
	"github.com/sluice-ln/sluice/ledger"
	"github.com/sluice-ln/sluice/store"
	"github.com/sluice-ln/sluice/yield"
	"github.com/sluice-ln/sluice/yield/lease"
	"github.com/sluice-ln/sluice/yield/routing"
)

// YieldConfig holds the yield.* options: the vault's reward epochs and
// how its strategies are followed up. The vault's loop ticks every
// yield.DefaultTick; that is not an option.
//
//nolint:ll
type YieldConfig struct {
	Epoch     time.Duration `long:"epoch" description:"how long a reward epoch lasts (1s to 720h; seconds on the devnet)"`
	RewardPPM uint32        `long:"rewardppm" description:"the part of the platform fees collected in an epoch, in millionths, that its close moves into the vault as the providers' reward (0 to 1000000)"`
	Harvest   time.Duration `long:"harvest" description:"how often the strategies' pending actions are followed up and what their positions earned and cost is read from lnd (1s to 1h)"`
	PlanTTL   time.Duration `long:"planttl" description:"how long a yield plan may be applied after it was made (10s to 24h)"`
}

// RoutingConfig holds the routing.* options: the routing strategy, which
// keeps hub channels of vault capital open to the peers listed. Its cap,
// kill switch and budget are set at run time (sluice operator vault
// policy, sluice yield strategy set).
//
//nolint:ll
type RoutingConfig struct {
	Peers         []string `long:"peer" description:"a node the routing strategy keeps one channel of vault capital open to, by its hex key (repeat for several; none: the strategy opens nothing)"`
	ChanSize      int64    `long:"chansize" description:"the capacity of each routing channel, in sat (at least 20000)"`
	BaseFee       uint64   `long:"basefee" description:"the base fee of the routing channels' forwarding policy, in msat"`
	FeePPM        uint64   `long:"feeppm" description:"the proportional fee of the routing channels' forwarding policy, in millionths"`
	TimeLockDelta uint32   `long:"timelockdelta" description:"the CLTV delta of the routing channels' forwarding policy, in blocks (at least 24)"`
	TargetConf    int32    `long:"targetconf" description:"the confirmation target of the routing channels' opens and closes, in blocks"`
}

// defaultRoutingConfig is the routing.* defaults.
func defaultRoutingConfig() *RoutingConfig {
	return &RoutingConfig{
		ChanSize:      1_000_000,
		BaseFee:       1_000,
		FeePPM:        100,
		TimeLockDelta: 80,
		TargetConf:    routing.DefaultTargetConf,
	}
}

// routingConfig converts the routing.* options.
func (c *RoutingConfig) routingConfig() (routing.Config, error) {
	cfg := routing.Config{
		ChannelSize: btcutil.Amount(c.ChanSize),
		Policy: hubnode.Policy{
			BaseFeeMsat:   lnwire.MilliSatoshi(c.BaseFee),
			FeeRatePPM:    c.FeePPM,
			TimeLockDelta: c.TimeLockDelta,
		},
		TargetConf: c.TargetConf,
	}
	for _, p := range c.Peers {
		v, err := route.NewVertexFromStr(p)
		if err != nil {
			return routing.Config{}, invalid("routing.peer",
				"%q: %v", p, err)
		}
		cfg.Peers = append(cfg.Peers, v)
	}

	return cfg, nil
}

// defaultYieldConfig is the yield.* defaults.
func defaultYieldConfig() *YieldConfig {
	return &YieldConfig{
		Epoch:     yield.DefaultEpoch,
		RewardPPM: yield.DefaultRewardPPM,
		Harvest:   yield.DefaultHarvest,
		PlanTTL:   yield.DefaultPlanTTL,
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

	case y.Harvest < time.Second || y.Harvest > time.Hour:
		return invalid("yield.harvest", "%v is outside 1s to 1h",
			y.Harvest)

	case y.PlanTTL < 10*time.Second || y.PlanTTL > 24*time.Hour:
		return invalid("yield.planttl", "%v is outside 10s to 24h",
			y.PlanTTL)
	}

	r := c.Routing
	switch {
	case r.ChanSize < int64(routing.MinChannelSize) ||
		r.ChanSize > int64(btcutil.MaxSatoshi):

		return invalid("routing.chansize", "%d sat is outside %d to "+
			"%d", r.ChanSize, int64(routing.MinChannelSize),
			int64(btcutil.MaxSatoshi))

	case r.TimeLockDelta < routing.MinTimeLockDelta:
		return invalid("routing.timelockdelta", "%d is below lnd's "+
			"smallest of %d", r.TimeLockDelta,
			routing.MinTimeLockDelta)

	case r.FeePPM > 1<<32-1:
		return invalid("routing.feeppm", "%d is above lnd's largest "+
			"of %d", r.FeePPM, uint64(1<<32-1))

	case r.TargetConf < 0:
		return invalid("routing.targetconf", "%d is negative",
			r.TargetConf)
	}
	if _, err := r.routingConfig(); err != nil {
		return err
	}
	return nil
}

// newVault builds the yield vault on the store, with its own ledger and
// the daemon's clock, and its strategies: reserve, routing over the hub's
// lnd, and leases when the lease strategy is given (lease.enable).
func newVault(cfg *Config, db *store.DB, hub *lndclient.GrpcLndServices,
	leases *lease.Strategy, clk clock.Clock) (*yield.Vault, error) {

	c := cfg.Yield
	rcfg, err := cfg.Routing.routingConfig()
	if err != nil {
		return nil, err
	}
	rt, err := routing.New(rcfg, routing.Hub{
		HubChannels: hubnode.NewHubChannels(hub.Client),
		HubForwards: hubnode.NewHubForwards(hub.Client),
		Graph:       hubnode.NewGraph(hub.Client),
	}, db, clk)
	if err != nil {
		return nil, fmt.Errorf("routing strategy: %w", err)
	}
	strategies := []yield.Strategy{rt}
	if leases != nil {
		strategies = append(strategies, leases)
	}
	reg, err := yield.NewRegistry(strategies...)
	if err != nil {
		return nil, err
	}

	return yield.New(db, ledger.New(store.NewLedgerStore(db), nil),
		yield.Config{
			Epoch:      c.Epoch,
			RewardPPM:  c.RewardPPM,
			Clock:      clk,
			Strategies: reg,
			PlanTTL:    c.PlanTTL,
			Harvest:    c.Harvest,
		})
}

// vaultLoop is the vault's Run under the daemon's lifecycle: started with
// the other subsystems and stopped before the store closes.
type vaultLoop struct {
	cancel context.CancelFunc
	done   chan error
}

// startVaultLoop runs v.Run and v.RunStrategies until stop.
func startVaultLoop(v *yield.Vault) *vaultLoop {
	ctx, cancel := context.WithCancel(context.Background())
	l := &vaultLoop{cancel: cancel, done: make(chan error, 2)}
	go func() { l.done <- v.Run(ctx) }()
	go func() { l.done <- v.RunStrategies(ctx) }()

	return l
}

// stop ends the loop and waits for it: an epoch close or a finalization
// under way ends with its transaction.
func (l *vaultLoop) stop() error {
	l.cancel()
	var errs []error
	for range 2 {
		err := <-l.done
		if err != nil && !errors.Is(err, context.Canceled) {
			errs = append(errs, fmt.Errorf("vault loop: %w", err))
		}
	}
	return errors.Join(errs...)
}
