package daemon

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/lightningnetwork/lnd/clock"
	"github.com/sluice-ln/sluice/channels"
	"github.com/sluice-ln/sluice/market"
	"github.com/sluice-ln/sluice/settlement"
	"github.com/sluice-ln/sluice/store"
)

// MarketConfig holds the market.* options.
//
//nolint:ll
type MarketConfig struct {
	HeartbeatTimeout time.Duration `long:"heartbeattimeout" description:"how long a provider stays online after its agent's last heartbeat; offline providers get no new work (1s to 1h; the agent heartbeats every 5s by default, so the default is three of them)"`
	StartTimeout     time.Duration `long:"starttimeout" description:"how long a job the market placed may wait, funded, for its provider's agent to start it before it is placed on another provider (1s to 24h)"`
	LostAfter        time.Duration `long:"lostafter" description:"how long after its provider's last heartbeat a started job with a workload is ended and its buyer refunded the rest (1s to 24h; never less than heartbeattimeout)"`
}

// defaultMarketConfig returns the market.* defaults.
func defaultMarketConfig() *MarketConfig {
	return &MarketConfig{HeartbeatTimeout: market.DefaultTimeout,
		StartTimeout: settlement.DefaultStartTimeout,
		LostAfter:    settlement.DefaultLostAfter}
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
	if s := c.Market.StartTimeout; s < time.Second || s > 24*time.Hour {
		return invalid("market.starttimeout", "%v is outside 1s to "+
			"24h", s)
	}
	if l := c.Market.LostAfter; l < time.Second || l > 24*time.Hour {
		return invalid("market.lostafter", "%v is outside 1s to 24h",
			l)
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

// placer is the market as settlement places jobs again through it.
type placer struct {
	m *market.Market
}

// Replace places spec under max on a provider not in exclude.
func (p placer) Replace(ctx context.Context, spec settlement.Spec,
	max channels.RateCard, exclude []string) (string, channels.RateCard,
	error) {

	req := market.Request{MaxRates: max, Spec: market.Spec{
		CPU: uint64(spec[channels.ResourceCPU]),
		Mem: uint64(spec[channels.ResourceMem]),
	}}
	_, c, err := p.m.PlaceExcept(ctx, req, exclude)
	if errors.Is(err, market.ErrNoFit) {
		return "", nil, fmt.Errorf("%w: %w", settlement.ErrNoPlacement,
			err)
	}
	if err != nil {
		return "", nil, err
	}
	return c.ProviderID, c.Rates, nil
}

// LastSeen is the provider's last heartbeat.
func (p placer) LastSeen(ctx context.Context, providerID string) (
	time.Time, bool, error) {

	return p.m.LastSeen(ctx, providerID)
}
