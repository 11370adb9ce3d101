package routing

import (
	"errors"
	"fmt"

	"github.com/btcsuite/btcd/btcutil"
	"github.com/lightningnetwork/lnd/routing/route"
	"github.com/sluice-ln/sluice/hubnode"
)

// ErrInvalidConfig is returned by New for a Config it cannot run with; the
// error names the field and why.
var ErrInvalidConfig = errors.New("invalid routing strategy config")

// Bounds of Config that lnd sets.
const (
	// MinChannelSize is lnd's smallest channel (its funding manager's
	// MinChanFundingSize).
	MinChannelSize = btcutil.Amount(20_000)

	// MinTimeLockDelta is the smallest CLTV delta lnd takes in a policy
	// update (lnd's routing.MinCLTVDelta).
	MinTimeLockDelta = 24

	// DefaultTargetConf is the confirmation target of opens and closes
	// when Config sets none.
	DefaultTargetConf = hubnode.DefaultOpenTargetConf
)

// Config is what the operator sets for the routing strategy.
type Config struct {
	// Peers are the nodes the strategy keeps one channel open to. A
	// channel to a node no longer listed is closed by the next plan.
	Peers []route.Vertex

	// ChannelSize is the capacity of each channel it opens.
	ChannelSize btcutil.Amount

	// Policy is the forwarding policy its channels carry: set at the
	// open (base fee and rate) and restored by a plan when lnd reports
	// another.
	Policy hubnode.Policy

	// TargetConf is the confirmation target of its opens and closes;
	// zero is DefaultTargetConf.
	TargetConf int32

	// Hook fires the strategy's failpoints (FailpointOpenBeforeCall,
	// FailpointOpenAfterCall); failpoint.Hit when nil. Tests put a
	// crash of their own there.
	Hook func(name string)
}

// validate checks c and fills its defaults.
func (c *Config) validate() error {
	seen := make(map[route.Vertex]bool, len(c.Peers))
	for i, p := range c.Peers {
		switch {
		case p == route.Vertex{}:
			return fmt.Errorf("%w: Peers[%d]: empty node key",
				ErrInvalidConfig, i)

		case seen[p]:
			return fmt.Errorf("%w: Peers[%d]: %v is listed twice",
				ErrInvalidConfig, i, p)
		}
		seen[p] = true
	}

	switch {
	case c.ChannelSize < MinChannelSize:
		return fmt.Errorf("%w: ChannelSize: %d sat is below lnd's "+
			"smallest channel of %d sat", ErrInvalidConfig,
			int64(c.ChannelSize), int64(MinChannelSize))

	case c.ChannelSize > btcutil.MaxSatoshi:
		return fmt.Errorf("%w: ChannelSize: %d sat is more bitcoin "+
			"than exists", ErrInvalidConfig, int64(c.ChannelSize))

	case c.Policy.TimeLockDelta < MinTimeLockDelta:
		return fmt.Errorf("%w: Policy.TimeLockDelta: %d is below "+
			"lnd's smallest of %d", ErrInvalidConfig,
			c.Policy.TimeLockDelta, MinTimeLockDelta)

	case c.Policy.FeeRatePPM > 1<<32-1:
		return fmt.Errorf("%w: Policy.FeeRatePPM: %d is above lnd's "+
			"largest of %d", ErrInvalidConfig, c.Policy.FeeRatePPM,
			uint64(1<<32-1))

	case c.TargetConf < 0:
		return fmt.Errorf("%w: TargetConf: %d is negative",
			ErrInvalidConfig, c.TargetConf)
	}
	if c.TargetConf == 0 {
		c.TargetConf = DefaultTargetConf
	}
	return nil
}

// policyText is p as the strategy's facts and reasons write it:
// "<base msat>/<ppm>/<delta>".
func policyText(p hubnode.Policy) string {
	return fmt.Sprintf("%d/%d/%d", uint64(p.BaseFeeMsat), p.FeeRatePPM,
		p.TimeLockDelta)
}
