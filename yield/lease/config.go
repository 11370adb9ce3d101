package lease

import (
	"fmt"
	"time"

	"github.com/btcsuite/btcd/btcutil"
	"github.com/sluice-ln/sluice/hubnode"
	"github.com/sluice-ln/sluice/ledger"
)

// Name is the lease strategy's name: the reference of its ledger accounts
// and the key of its cap.
const Name = "lease"

// Defaults and bounds of Config.
const (
	// MinChannelSize is lnd's smallest channel (its funding manager's
	// MinChanFundingSize): the lowest MinCapacity.
	MinChannelSize = btcutil.Amount(20_000)

	// MaxChannelSize is lnd's largest channel without wumbo
	// (funding.MaxBtcFundingAmount): the default MaxCapacity.
	MaxChannelSize = btcutil.Amount(1<<24 - 1)

	// DefaultRatePPB is the default rate: 1,000 ppb per block is about
	// 0.2 % of the capacity over 2,016 blocks (two weeks), about 5.3 %
	// a year.
	DefaultRatePPB = 1_000

	// DefaultFloor is the least premium: 1 sat.
	DefaultFloor = ledger.MilliSatoshi(1_000)

	// DefaultMinBlocks and DefaultMaxBlocks bound a lease's length by
	// default: a day to a year of blocks.
	DefaultMinBlocks = 144
	DefaultMaxBlocks = 52_560

	// DefaultInvoiceExpiry is how long the hold invoice can be paid.
	DefaultInvoiceExpiry = time.Hour

	// DefaultCltvExpiry is the final CLTV delta the hold invoice asks:
	// the blocks the hub has, once paid, to open the channel and see
	// it confirm before it must settle or give the payment back.
	DefaultCltvExpiry = 144

	// DefaultSafetyMargin is how many blocks before the held payment's
	// expiry a paid lease not yet accepted is cancelled, so the buyer
	// gets it back before its node would force-close.
	DefaultSafetyMargin = 20

	// DefaultForceCloseAfter is how many blocks past its expiry a
	// lease's channel that could not be closed cooperatively (the buyer
	// offline) is force-closed, so the capital does not stay stuck.
	DefaultForceCloseAfter = 144

	// DefaultFundingConfirms is funding_confirms_within_blocks as
	// get_info and orders advertise it: the open's confirmation target.
	DefaultFundingConfirms = hubnode.DefaultOpenTargetConf
)

// Config is what the operator sets for the lease strategy ([lease]).
type Config struct {
	// RatePPB is the premium's rate: parts per billion of the capacity
	// per block leased. Floor is the least premium.
	RatePPB uint64
	Floor   ledger.MilliSatoshi

	// MinCapacity and MaxCapacity bound lsp_balance_sat.
	MinCapacity btcutil.Amount
	MaxCapacity btcutil.Amount

	// MinBlocks and MaxBlocks bound channel_expiry_blocks.
	MinBlocks uint32
	MaxBlocks uint32

	// InvoiceExpiry is how long the hold invoice can be paid, whole
	// seconds.
	InvoiceExpiry time.Duration

	// CltvExpiry is the hold invoice's final CLTV delta; it must leave
	// more than SafetyMargin blocks.
	CltvExpiry uint32

	// SafetyMargin is how many blocks before the held payment expires a
	// paid lease still not accepted is cancelled.
	SafetyMargin uint32

	// FundingConfirms is the open's confirmation target, advertised as
	// funding_confirms_within_blocks.
	FundingConfirms uint32

	// ForceCloseAfter is how many blocks past the expiry height the
	// hub force-closes a channel it could not close cooperatively.
	ForceCloseAfter uint32

	// Hook fires the strategy's failpoints (FailpointOpenBeforeCall,
	// FailpointOpenAfterCall); failpoint.Hit when nil.
	Hook func(name string)
}

// DefaultConfig is the defaults of every field.
func DefaultConfig() Config {
	return Config{
		RatePPB:         DefaultRatePPB,
		Floor:           DefaultFloor,
		MinCapacity:     MinChannelSize,
		MaxCapacity:     MaxChannelSize,
		MinBlocks:       DefaultMinBlocks,
		MaxBlocks:       DefaultMaxBlocks,
		InvoiceExpiry:   DefaultInvoiceExpiry,
		CltvExpiry:      DefaultCltvExpiry,
		SafetyMargin:    DefaultSafetyMargin,
		FundingConfirms: DefaultFundingConfirms,
		ForceCloseAfter: DefaultForceCloseAfter,
	}
}

// Validate checks c; zero durations and heights take their defaults
// first. The error wraps ErrInvalidConfig and names the field.
func (c *Config) Validate() error {
	if c.InvoiceExpiry == 0 {
		c.InvoiceExpiry = DefaultInvoiceExpiry
	}
	if c.CltvExpiry == 0 {
		c.CltvExpiry = DefaultCltvExpiry
	}
	if c.SafetyMargin == 0 {
		c.SafetyMargin = DefaultSafetyMargin
	}
	if c.ForceCloseAfter == 0 {
		c.ForceCloseAfter = DefaultForceCloseAfter
	}
	if c.FundingConfirms == 0 {
		c.FundingConfirms = DefaultFundingConfirms
	}
	bad := func(field, format string, args ...any) error {
		return fmt.Errorf("%w: %s: %s", ErrInvalidConfig, field,
			fmt.Sprintf(format, args...))
	}
	switch {
	case c.RatePPB > 1_000_000_000:
		return bad("RatePPB", "%d is above 10⁹ (all of the capacity "+
			"per block)", c.RatePPB)

	case c.Floor < 0:
		return bad("Floor", "%v is negative", c.Floor)

	case c.MinCapacity < MinChannelSize:
		return bad("MinCapacity", "%d sat is below lnd's smallest "+
			"channel of %d sat", int64(c.MinCapacity),
			int64(MinChannelSize))

	case c.MaxCapacity < c.MinCapacity:
		return bad("MaxCapacity", "%d sat is below MinCapacity %d sat",
			int64(c.MaxCapacity), int64(c.MinCapacity))

	case c.MaxCapacity > btcutil.MaxSatoshi:
		return bad("MaxCapacity", "%d sat is more bitcoin than "+
			"exists", int64(c.MaxCapacity))

	case c.MinBlocks == 0:
		return bad("MinBlocks", "zero")

	case c.MaxBlocks < c.MinBlocks:
		return bad("MaxBlocks", "%d is below MinBlocks %d",
			c.MaxBlocks, c.MinBlocks)

	case c.MaxBlocks > 1_000_000:
		return bad("MaxBlocks", "%d is above 1,000,000", c.MaxBlocks)

	case c.InvoiceExpiry < time.Second ||
		c.InvoiceExpiry%time.Second != 0:

		return bad("InvoiceExpiry", "%v is not a whole number of "+
			"seconds", c.InvoiceExpiry)

	case c.CltvExpiry <= c.SafetyMargin+c.FundingConfirms:
		return bad("CltvExpiry", "%d leaves no time to open: it must "+
			"be above SafetyMargin %d + FundingConfirms %d",
			c.CltvExpiry, c.SafetyMargin, c.FundingConfirms)

	case c.FundingConfirms > 1_000:
		return bad("FundingConfirms", "%d is above 1,000",
			c.FundingConfirms)
	}
	return nil
}
