package daemon

import (
	"time"

	"github.com/lightninglabs/lndclient"
	"github.com/lightningnetwork/lnd/clock"
	"github.com/sluice-ln/sluice/hubnode"
	"github.com/sluice-ln/sluice/ledger"
	"github.com/sluice-ln/sluice/payout"
	"github.com/sluice-ln/sluice/store"
)

// PayoutConfig holds the payout.* options: the operator's default payout
// policy (per-provider overrides live in the store) and the payout limits.
//
//nolint:ll
type PayoutConfig struct {
	Interval     time.Duration `long:"interval" description:"how often a provider's payable is paid (whole milliseconds)"`
	Minimum      int64         `long:"minimum" description:"the smallest payout in msat; less stays payable until more is earned"`
	FeeFloor     int64         `long:"feefloor" description:"the least routing fee cap of a payout, in msat"`
	FeePPM       int64         `long:"feeppm" description:"the routing fee cap of a payout in millionths of its amount, when more than feefloor"`
	FeePayer     string        `long:"feepayer" description:"who bears routing fees: the provider (taken from its payable) or the platform (taken from platform fees)" choice:"provider" choice:"platform"`
	MaxInFlight  int           `long:"maxinflight" description:"the most payouts in flight at once across providers (each holds an HTLC slot on the hub's channel; at most 483)"`
	Timeout      time.Duration `long:"timeout" description:"how long lnd tries routes for one payout"`
	BlockedRetry time.Duration `long:"blockedretry" description:"how long a provider whose route cannot carry its payout waits before the route is checked again"`
}

// defaultPayoutConfig is the payout.* defaults.
func defaultPayoutConfig() *PayoutConfig {
	return &PayoutConfig{
		Interval:     payout.DefaultInterval,
		Minimum:      int64(payout.DefaultMinimum),
		FeeFloor:     int64(payout.DefaultFeeFloor),
		FeePPM:       payout.DefaultFeePPM,
		FeePayer:     string(payout.DefaultFeePayer),
		MaxInFlight:  payout.DefaultMaxInFlight,
		Timeout:      payout.DefaultPaymentTimeout,
		BlockedRetry: payout.DefaultBlockedRetry,
	}
}

// policy is the default payout policy the options make.
func (p *PayoutConfig) policy() payout.Policy {
	return payout.Policy{
		Interval: p.Interval,
		Minimum:  ledger.MilliSatoshi(p.Minimum),
		FeeFloor: ledger.MilliSatoshi(p.FeeFloor),
		FeePPM:   p.FeePPM,
		FeePayer: payout.FeePayer(p.FeePayer),
	}
}

// validatePayout checks the payout.* options.
func (c *Config) validatePayout() error {
	p := c.Payout
	switch {
	case p.Interval <= 0 || p.Interval%time.Millisecond != 0:
		return invalid("payout.interval", "%v is not a positive "+
			"whole number of milliseconds", p.Interval)
	case p.Minimum <= 0:
		return invalid("payout.minimum", "%d is not positive",
			p.Minimum)
	case p.FeeFloor < 0:
		return invalid("payout.feefloor", "%d is negative", p.FeeFloor)
	case p.FeePPM < 0 || p.FeePPM > payout.PPMScale:
		return invalid("payout.feeppm", "%d is outside 0 to %d",
			p.FeePPM, payout.PPMScale)
	case payout.FeePayer(p.FeePayer).Validate() != nil:
		return invalid("payout.feepayer", "%q is not provider or "+
			"platform", p.FeePayer)
	case p.MaxInFlight < 1 || p.MaxInFlight > payout.MaxHTLCSlots:
		return invalid("payout.maxinflight", "%d is outside 1 to %d",
			p.MaxInFlight, payout.MaxHTLCSlots)
	case p.Timeout < time.Second:
		return invalid("payout.timeout", "%v is under a second",
			p.Timeout)
	case p.BlockedRetry <= 0:
		return invalid("payout.blockedretry", "%v is not positive",
			p.BlockedRetry)
	}
	return nil
}

// newPayouts builds the payout scheduler on the hub's router and graph, the
// store and the daemon's clock; obs, when not nil, is told of each payout
// (metrics); guard, when not nil, is asked before each keysend leaves (the
// leader's lease).
func newPayouts(cfg *Config, services *lndclient.GrpcLndServices,
	db *store.DB, clk clock.Clock, obs payout.Observer,
	guard func() error) (*payout.Scheduler, error) {

	exec, err := payout.NewExecutor(payout.ExecutorConfig{
		DB:             db,
		Ledger:         ledger.New(store.NewLedgerStore(db), nil),
		Payments:       hubnode.NewHubPayments(services.Router),
		Routes:         hubnode.NewGraph(services.Client),
		PaymentTimeout: cfg.Payout.Timeout,
		BlockedRetry:   cfg.Payout.BlockedRetry,
		Clock:          clk,
		Observer:       obs,
		Guard:          guard,
	})
	if err != nil {
		return nil, err
	}
	return payout.NewScheduler(payout.SchedulerConfig{
		Defaults:    cfg.Payout.policy(),
		MaxInFlight: cfg.Payout.MaxInFlight,
		DB:          db,
		Executor:    exec,
		Clock:       clk,
	})
}
