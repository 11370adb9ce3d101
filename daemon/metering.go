package daemon

import (
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"time"

	"github.com/sluice-ln/sluice/ledger"
	"github.com/sluice-ln/sluice/metering"
	"github.com/sluice-ln/sluice/settlement"
	"github.com/sluice-ln/sluice/store"
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
// (the payout scheduler's Credited).
func newMetering(c *MeteringConfig, db *store.DB, jobs *settlement.Manager,
	credited func(providers ...string)) (*metering.Service, error) {

	linger := c.Linger
	if linger == 0 {
		// The Ingestor reads 0 as its default; the option's 0 means
		// no waiting.
		linger = -1
	}

	return metering.NewService(metering.ServiceConfig{
		DB:     db,
		Ledger: ledger.New(store.NewLedgerStore(db), nil),
		Jobs:   &meteringJobs{jobs: jobs},
		Ingest: metering.IngestConfig{
			Policy:       metering.Policy{ClockSkew: c.ClockSkew},
			FeeRate:      ledger.BasisPoints(c.PlatformFee),
			FlushRecords: c.FlushRecords,
			Linger:       linger,
			Credited: func(providers []string) {
				credited(providers...)
			},
		},
	})
}

// meteringJobs is metering's JobSource: jobs as settlement keeps them, the
// agent key as channels keeps it, all read in metering's transaction.
type meteringJobs struct {
	jobs *settlement.Manager
}

var _ metering.JobSource = (*meteringJobs)(nil)

// meteringState maps settlement's job states onto metering's. A job low on
// balance that never started is still waiting for its first record.
func meteringState(j settlement.Job) metering.JobState {
	switch j.State {
	case settlement.StateFunded:
		return metering.JobFunded
	case settlement.StateRunning:
		return metering.JobRunning
	case settlement.StateLowBalance:
		if j.StartedAt.IsZero() {
			return metering.JobFunded
		}
		return metering.JobRunning
	case settlement.StateSuspended:
		return metering.JobSuspended
	case settlement.StateEnded, settlement.StateExpired:
		return metering.JobEnded
	}

	return metering.JobWaiting
}

// JobInfo reads the job and its provider's current agent key in tx.
func (m *meteringJobs) JobInfo(ctx context.Context, tx *store.Tx,
	id string) (metering.JobView, error) {

	job, err := m.jobs.JobInTx(ctx, tx, id)
	if errors.Is(err, settlement.ErrJobNotFound) {
		return metering.JobView{}, fmt.Errorf("%w: %s",
			metering.ErrUnknownJob, id)
	}
	if err != nil {
		return metering.JobView{}, err
	}

	prov, err := tx.Provider(ctx, job.ProviderID)
	if err != nil {
		return metering.JobView{}, fmt.Errorf("provider %s of job %s: "+
			"%w", job.ProviderID, id, err)
	}
	key, err := hex.DecodeString(prov.AgentPubkey)
	if err != nil || len(key) != metering.AgentKeyLen {
		return metering.JobView{}, fmt.Errorf("provider %s: agent "+
			"key %q is not 32 bytes of hex", prov.ID,
			prov.AgentPubkey)
	}

	view := metering.JobView{
		ID:         job.ID,
		ProviderID: job.ProviderID,
		State:      meteringState(job),
		Ended:      job.EndedAt,
		Rates:      make(metering.RateCard, len(job.Rates)),
	}
	copy(view.AgentKey[:], key)

	// Usage may be for any second since the job could first run: when it
	// was funded. A job started by its first record starts at that
	// record's second, which is no earlier.
	view.Started = job.FundedAt
	if view.Started.IsZero() {
		view.Started = job.StartedAt
	}

	for r, rate := range job.Rates {
		view.Rates[string(r)] = rate
	}
	for r, n := range job.Spec {
		if n < 0 {
			continue
		}
		switch string(r) {
		case metering.ResourceCPU:
			view.Max.CPU = uint64(n)
		case metering.ResourceMem:
			view.Max.Mem = uint64(n)
		}
	}

	return view, nil
}

// StartJob starts a funded job at its first metered second.
func (m *meteringJobs) StartJob(ctx context.Context, tx *store.Tx, id string,
	at time.Time) error {

	_, err := m.jobs.StartJob(ctx, tx, id, at)
	return err
}

// UsageCharged has settlement re-evaluate the job's solvency.
func (m *meteringJobs) UsageCharged(ctx context.Context, tx *store.Tx, id,
	key string) error {

	_, _, err := m.jobs.UsageCharged(ctx, tx, id, key)
	return err
}
