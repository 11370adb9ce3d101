package meteringstore

import (
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"time"

	"github.com/sluice-ln/sluice/channels"
	"github.com/sluice-ln/sluice/metering"
	"github.com/sluice-ln/sluice/settlement"
	"github.com/sluice-ln/sluice/store"
)

// SettlementJobs is the JobSource of production: jobs as settlement keeps
// them and the provider's agent key as channels stores it, all read in
// metering's transaction. Settlement owns jobs and their states; metering
// asks it (settlement.State.TakesUsage) instead of keeping states of its
// own.
type SettlementJobs struct {
	// Jobs is settlement's manager.
	Jobs *settlement.Manager
}

// Compile-time check that SettlementJobs is a JobSource.
var _ JobSource = (*SettlementJobs)(nil)

// JobInfo reads the job and its provider's current agent key in tx.
func (s *SettlementJobs) JobInfo(ctx context.Context, tx *store.Tx,
	id string) (metering.JobView, error) {

	job, err := s.Jobs.JobInTx(ctx, tx.Settlement(), id)
	if errors.Is(err, settlement.ErrJobNotFound) {
		return metering.JobView{}, fmt.Errorf("%w: %s", metering.ErrUnknownJob, id)
	}
	if err != nil {
		return metering.JobView{}, err
	}

	prov, err := tx.Provider(ctx, job.ProviderID)
	if err != nil {
		return metering.JobView{}, fmt.Errorf("provider %s of job %s: %w",
			job.ProviderID, id, err)
	}
	key, err := hex.DecodeString(prov.AgentPubkey)
	if err != nil || len(key) != metering.AgentKeyLen {
		return metering.JobView{}, fmt.Errorf("provider %s: agent key %q is "+
			"not 32 bytes of hex", prov.ID, prov.AgentPubkey)
	}

	view := metering.JobView{
		ID:         job.ID,
		ProviderID: job.ProviderID,
		State:      job.State,
		StartedAt:  job.StartedAt,
		Ended:      job.EndedAt,
		Rates:      job.Rates,
	}
	copy(view.AgentKey[:], key)

	// Usage may be for any second since the job could first run: when it
	// was funded. A job started by its first record starts at that
	// record's second, which is no earlier.
	view.Started = job.FundedAt
	if view.Started.IsZero() {
		view.Started = job.StartedAt
	}

	for r, n := range job.Spec {
		if n < 0 {
			continue
		}
		switch r {
		case channels.ResourceCPU:
			view.Max.CPU = uint64(n)
		case channels.ResourceMem:
			view.Max.Mem = uint64(n)
		}
	}

	return view, nil
}

// StartJob starts a funded job at its first metered second.
func (s *SettlementJobs) StartJob(ctx context.Context, tx *store.Tx,
	id string, at time.Time) error {

	_, err := s.Jobs.StartJob(ctx, tx.Settlement(), id, at)
	return err
}

// UsageCharged has settlement re-evaluate the job's solvency.
func (s *SettlementJobs) UsageCharged(ctx context.Context, tx *store.Tx,
	id, key string) error {

	_, _, err := s.Jobs.UsageCharged(ctx, tx.Settlement(), id, key)
	return err
}
