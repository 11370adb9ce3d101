package store

import (
	"context"
	"fmt"
	"time"

	"github.com/sluice-ln/sluice/settlement"
	"github.com/sluice-ln/sluice/store/sqlc"
)

// Jobs' placements (migration 000019), as settlement's TxStore reads and
// writes them, and the queries of the sweeper that places lapsed jobs
// again and ends the jobs of lost providers.

// InsertJobPlacement records where a job was placed.
func (s settlementTx) InsertJobPlacement(ctx context.Context,
	p settlement.StoredPlacement) error {

	err := s.q.InsertJobPlacement(ctx, sqlc.InsertJobPlacementParams{
		JobID: p.JobID, Seq: p.Seq, ProviderID: p.ProviderID,
		MaxRates: p.MaxRates, PlacedAt: dbTime(p.PlacedAt),
	})
	if err != nil {
		return fmt.Errorf("insert placement %d of job %s: %w", p.Seq,
			p.JobID, mapError(err))
	}
	return nil
}

// JobPlacements returns a job's placements, first first.
func (s settlementTx) JobPlacements(ctx context.Context, jobID string) (
	[]settlement.StoredPlacement, error) {

	rows, err := s.q.ListJobPlacements(ctx, jobID)
	if err != nil {
		return nil, fmt.Errorf("placements of job %s: %w", jobID,
			mapError(err))
	}
	out := make([]settlement.StoredPlacement, len(rows))
	for i, r := range rows {
		out[i] = settlement.StoredPlacement{
			JobID: r.JobID, Seq: r.Seq, ProviderID: r.ProviderID,
			MaxRates: r.MaxRates, PlacedAt: r.PlacedAt.UTC(),
			LapsedAt: fromNull(r.LapsedAt),
		}
	}
	return out, nil
}

// LapsePlacement marks a job's current placement lapsed.
func (s settlementTx) LapsePlacement(ctx context.Context, jobID string,
	seq int64, at time.Time) error {

	n, err := s.q.LapseJobPlacement(ctx, sqlc.LapseJobPlacementParams{
		LapsedAt: nullTime(at), JobID: jobID, Seq: seq,
	})
	switch {
	case err != nil:
		return fmt.Errorf("lapse placement %d of job %s: %w", seq,
			jobID, mapError(err))
	case n == 0:
		return fmt.Errorf("%w: placement %d of job %s is lapsed or "+
			"not there", settlement.ErrStale, seq, jobID)
	}
	return nil
}

// UnstartedPlacements returns the current placements of the jobs in a
// startable state (settlement.State.Startable: funded or low on balance)
// that their agent has not started.
func (s settlementTx) UnstartedPlacements(ctx context.Context) (
	[]settlement.StoredPlacement, error) {

	rows, err := s.q.ListUnstartedPlacements(ctx,
		sqlc.ListUnstartedPlacementsParams{
			State1: string(settlement.StateFunded),
			State2: string(settlement.StateLowBalance),
		})
	if err != nil {
		return nil, fmt.Errorf("unstarted placements: %w",
			mapError(err))
	}
	out := make([]settlement.StoredPlacement, len(rows))
	for i, r := range rows {
		out[i] = settlement.StoredPlacement{
			JobID: r.JobID, Seq: r.Seq, ProviderID: r.ProviderID,
			MaxRates: r.MaxRates, PlacedAt: r.PlacedAt.UTC(),
			FundedAt: fromNull(r.FundedAt),
		}
	}
	return out, nil
}

// MoveJob moves an unstarted job in a startable state (funded or low on
// balance) to another provider.
func (s settlementTx) MoveJob(ctx context.Context,
	m settlement.JobMove) error {

	n, err := s.q.MoveJob(ctx, sqlc.MoveJobParams{
		ToProvider: m.To, PricePerSecond: m.PricePerSecond,
		UpdatedAt: dbTime(m.At), ID: m.ID, FromProvider: m.From,
		State1: string(settlement.StateFunded),
		State2: string(settlement.StateLowBalance),
	})
	switch {
	case err != nil:
		return fmt.Errorf("move job %s: %w", m.ID, mapError(err))
	case n == 0:
		return fmt.Errorf("%w: job %s is not startable, unstarted "+
			"and on provider %s", settlement.ErrStale, m.ID, m.From)
	}
	for r, rate := range m.Rates {
		n, err := s.q.SetJobResourceRate(ctx,
			sqlc.SetJobResourceRateParams{
				Rate: rate, JobID: m.ID, Resource: string(r),
			})
		switch {
		case err != nil:
			return fmt.Errorf("rate of %s of job %s: %w", r, m.ID,
				mapError(err))
		case n == 0:
			return fmt.Errorf("job %s has no resource %s", m.ID, r)
		}
	}
	return nil
}

// ServedJobs returns the started workload jobs without a result that have
// not ended.
func (s settlementTx) ServedJobs(ctx context.Context) (
	[]settlement.ServedJob, error) {

	rows, err := s.q.ListServedJobs(ctx, sqlc.ListServedJobsParams{
		State1: string(settlement.StateFunded),
		State2: string(settlement.StateRunning),
		State3: string(settlement.StateLowBalance),
		State4: string(settlement.StateSuspended),
	})
	if err != nil {
		return nil, fmt.Errorf("served jobs: %w", mapError(err))
	}
	out := make([]settlement.ServedJob, len(rows))
	for i, r := range rows {
		out[i] = settlement.ServedJob{ID: r.ID, ProviderID: r.ProviderID}
	}
	return out, nil
}
