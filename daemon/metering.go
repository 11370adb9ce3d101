package daemon

import (
	"fmt"
	"time"

	"github.com/sluice-ln/sluice/ledger"
	"github.com/sluice-ln/sluice/metering"
	"github.com/sluice-ln/sluice/settlement"
	"github.com/sluice-ln/sluice/store"
	"github.com/sluice-ln/sluice/yield"
)

// MeteringConfig is the metering.* options: the platform's fee on usage
// and how usage is taken in.
type MeteringConfig struct {
	PlatformFee  uint16        `long:"platformfee" description:"the platform's fee on usage, in basis points (0 to 10000); a job's fee is fixed when its first second is metered"`
	ClockSkew    time.Duration `long:"clockskew" description:"how far ahead of sluiced's clock an agent's usage may be (0s to 1m)"`
	FlushRecords int           `long:"flushrecords" description:"usage records that make a group commit go at once (1 to 100000)"`
	Linger       time.Duration `long:"linger" description:"how long a group commit waits for more batches after the first (0s to 1s)"`
}

// DefaultMeteringConfig returns the metering.* defaults.
func DefaultMeteringConfig() *MeteringConfig {
	return &MeteringConfig{
		ClockSkew:    metering.DefaultClockSkew,
		FlushRecords: metering.DefaultFlushRecords,
		Linger:       metering.DefaultLinger,
	}
}

// validate checks the metering.* options, naming the one that is wrong.
func (c *MeteringConfig) validate() error {
	switch {
	case ledger.BasisPoints(c.PlatformFee).Validate() != nil:
		return fmt.Errorf("%w: --metering.platformfee=%d: at most %d "+
			"basis points", ErrInvalidConfig, c.PlatformFee,
			ledger.MaxBasisPoints)
	case c.ClockSkew < 0 || c.ClockSkew > time.Minute:
		return fmt.Errorf("%w: --metering.clockskew=%v: want 0s to 1m",
			ErrInvalidConfig, c.ClockSkew)
	case c.FlushRecords < 1 || c.FlushRecords > 100_000:
		return fmt.Errorf("%w: --metering.flushrecords=%d: want 1 to "+
			"100000", ErrInvalidConfig, c.FlushRecords)
	case c.Linger < 0 || c.Linger > time.Second:
		return fmt.Errorf("%w: --metering.linger=%v: want 0s to 1s",
			ErrInvalidConfig, c.Linger)
	}

	return nil
}

// newMetering returns the metering service on the store, posting with its
// own ledger and asking settlement about jobs; after each commit that
// credited usage it calls credited with the providers whose payable grew
// (the payout scheduler's Credited). Each charge tells vault what it
// earned (its epoch contribution and auto-stake). obs, when not nil, is
// told of each commit (metrics).
func newMetering(c *MeteringConfig, db *store.DB, jobs *settlement.Manager,
	vault *yield.Vault, credited func(providers ...string),
	obs metering.Observer) (*metering.Service, error) {

	linger := c.Linger
	if linger == 0 {
		// The Ingestor reads 0 as its default; the option's 0 means
		// no waiting.
		linger = -1
	}

	ms := store.NewMeteringStore(db,
		ledger.New(store.NewLedgerStore(db), nil),
		&store.SettlementJobs{Jobs: jobs}, nil)
	ms.SetVault(vault)

	return metering.NewService(metering.ServiceConfig{
		Store: ms,
		Ingest: metering.IngestConfig{
			Policy:       metering.Policy{ClockSkew: c.ClockSkew},
			FeeRate:      ledger.BasisPoints(c.PlatformFee),
			FlushRecords: c.FlushRecords,
			Linger:       linger,
			Credited: func(providers []string) {
				credited(providers...)
			},
			Observer: obs,
		},
	})
}
