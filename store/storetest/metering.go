package storetest

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/sluice-ln/sluice/ledger"
	"github.com/sluice-ln/sluice/metering"
	"github.com/sluice-ln/sluice/settlement"
	"github.com/sluice-ln/sluice/store"
)

// MeteringJobs is a store.JobSource over a fixed set of jobs, for tests of
// metering's store (store.MeteringStore) without settlement and channels.
// A job it starts runs from then on; it records the solvency evaluations
// asked of it.
type MeteringJobs struct {
	mu      sync.Mutex
	jobs    map[string]metering.JobView
	started map[string]time.Time
	charged map[string][]string
}

// Compile-time check that MeteringJobs is a JobSource.
var _ store.JobSource = (*MeteringJobs)(nil)

// NewMeteringJobs returns a JobSource over the jobs.
func NewMeteringJobs(jobs ...metering.JobView) *MeteringJobs {
	j := &MeteringJobs{
		jobs:    make(map[string]metering.JobView),
		started: make(map[string]time.Time),
		charged: make(map[string][]string),
	}
	for _, job := range jobs {
		j.jobs[job.ID] = job
	}

	return j
}

// JobInfo returns the job as given, running since its start if StartJob
// started it.
func (j *MeteringJobs) JobInfo(_ context.Context, _ *store.Tx,
	id string) (metering.JobView, error) {

	j.mu.Lock()
	defer j.mu.Unlock()

	job, ok := j.jobs[id]
	if !ok {
		return metering.JobView{}, fmt.Errorf("%w: %s",
			metering.ErrUnknownJob, id)
	}
	if at, ok := j.started[id]; ok {
		job.Started, job.StartedAt = at, at
		if job.State == settlement.StateFunded {
			job.State = settlement.StateRunning
		}
	}

	return job, nil
}

// StartJob records the start.
func (j *MeteringJobs) StartJob(_ context.Context, _ *store.Tx, id string,
	at time.Time) error {

	j.mu.Lock()
	defer j.mu.Unlock()

	j.started[id] = at
	return nil
}

// UsageCharged records the evaluation.
func (j *MeteringJobs) UsageCharged(_ context.Context, _ *store.Tx, id,
	key string) error {

	j.mu.Lock()
	defer j.mu.Unlock()

	j.charged[id] = append(j.charged[id], key)
	return nil
}

// Started returns when StartJob started a job.
func (j *MeteringJobs) Started(id string) (time.Time, bool) {
	j.mu.Lock()
	defer j.mu.Unlock()

	at, ok := j.started[id]
	return at, ok
}

// Charged returns the keys of the charges a job was evaluated after.
func (j *MeteringJobs) Charged(id string) []string {
	j.mu.Lock()
	defer j.mu.Unlock()

	return append([]string(nil), j.charged[id]...)
}

// SeedJobs stores a buyer and a row for each job (usage rows refer to
// them) and funds each job's escrow with its Escrow from the hub.
func SeedJobs(t testing.TB, db *store.DB, lg *ledger.Ledger, at time.Time,
	jobs ...metering.JobView) {

	t.Helper()
	ctx := context.Background()

	err := db.ExecTx(ctx, store.TxOptions{}, func(tx *store.Tx) error {
		err := tx.InsertBuyer(ctx, store.Buyer{ID: "b1", Name: "b1",
			CreatedAt: at})
		if err != nil {
			return err
		}
		for _, j := range jobs {
			err := tx.InsertJob(ctx, store.Job{
				ID: j.ID, BuyerID: "b1", ProviderID: j.ProviderID,
				State: "funded", Budget: max(j.Escrow, 1),
				PricePerSecond: "1", CreatedAt: at,
				UpdatedAt: at,
			})
			if err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	for _, j := range jobs {
		if j.Escrow <= 0 {
			continue
		}
		_, err := lg.Post(ctx, ledger.Transfer("fund:"+j.ID, "",
			ledger.HubHoldings(), ledger.BuyerEscrow(j.ID), j.Escrow))
		if err != nil {
			t.Fatal(err)
		}
	}
}
