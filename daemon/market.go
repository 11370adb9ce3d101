package daemon

import (
	"time"

	"github.com/lightningnetwork/lnd/clock"
	"github.com/sluice-ln/sluice/market"
	"github.com/sluice-ln/sluice/store"
)

// MarketConfig holds the market.* options.
//
//nolint:ll
type MarketConfig struct {
	HeartbeatTimeout time.Duration `long:"heartbeattimeout" description:"how long a provider stays online after its agent's last heartbeat; offline providers get no new work (1s to 1h; the agent heartbeats every 5s by default, so the default is three of them)"`
}

// defaultMarketConfig returns the market.* defaults.
func defaultMarketConfig() *MarketConfig {
	return &MarketConfig{HeartbeatTimeout: market.DefaultTimeout}
}

// validateMarket checks the market.* options.
func (c *Config) validateMarket() error {
	if c.Market == nil {
		return nil
	}
	t := c.Market.HeartbeatTimeout
	if t < time.Second || t > time.Hour {
		return invalid("market.heartbeattimeout", "%v is outside 1s "+
			"to 1h", t)
	}
	return nil
}

// newMarket builds the market over the store.
func newMarket(cfg *MarketConfig, db *store.DB, clk clock.Clock) *market.Market {
	timeout := market.DefaultTimeout
	if cfg != nil {
		timeout = cfg.HeartbeatTimeout
	}
	return market.New(market.Config{Store: db, Timeout: timeout,
		Clock: clk})
}
