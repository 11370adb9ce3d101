package store_test

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/sluice-ln/sluice/ledger"
	"github.com/sluice-ln/sluice/metering"
	"github.com/sluice-ln/sluice/metering/meteringtest"
	"github.com/sluice-ln/sluice/settlement"
	"github.com/sluice-ln/sluice/store"
	"github.com/sluice-ln/sluice/store/storetest"
)

// Metering's store is tested with the jobs, batches and clock of
// metering's ingest tests.
var (
	jobStart   = meteringtest.JobStart
	ingestNow  = meteringtest.IngestNow
	agentKey   = meteringtest.AgentKey
	meteredJob = meteringtest.Job
	signed     = meteringtest.Signed
)

// meteringFixture is an Ingestor on a real store with jobs funded in the
// ledger.
type meteringFixture struct {
	db     *store.DB
	ledger *ledger.Ledger
	jobs   *storetest.MeteringJobs
	in     *metering.Ingestor
	sql    *store.MeteringStore
}

// newMeteringFixture opens a store of cfg's backend with the jobs' rows
// (which usage refers to) and their escrow funded, and starts an Ingestor
// on it.
func newMeteringFixture(t *testing.T, cfg store.Config,
	icfg metering.IngestConfig, jobs ...metering.JobView) *meteringFixture {

	t.Helper()

	db := storetest.Open(t, cfg)
	lg := ledger.New(store.NewLedgerStore(db), nil)
	storetest.SeedJobs(t, db, lg, jobStart, jobs...)

	f := &meteringFixture{db: db, ledger: lg,
		jobs: storetest.NewMeteringJobs(jobs...)}
	f.sql = store.NewMeteringStore(db, lg, f.jobs, nil)
	icfg.FeeRate = 250
	icfg.Policy = metering.DefaultPolicy()
	icfg.Clock = func() time.Time { return ingestNow }
	var err error
	f.in, err = metering.NewIngestor(f.sql, icfg)
	if err != nil {
		t.Fatal(err)
	}
	f.in.Start()
	t.Cleanup(f.in.Stop)

	return f
}

// balances returns the escrow of a job, the provider's payable and the
// platform's fees.
func (f *meteringFixture) balances(t *testing.T, job string) (escrow, payable,
	fees ledger.MilliSatoshi) {

	t.Helper()
	ctx := context.Background()

	var err error
	for _, b := range []struct {
		acc ledger.Account
		to  *ledger.MilliSatoshi
	}{
		{ledger.BuyerEscrow(job), &escrow},
		{ledger.ProviderPayable("prov-1"), &payable},
		{ledger.PlatformFees(), &fees},
	} {
		*b.to, err = f.ledger.Balance(ctx, b.acc)
		if err != nil {
			t.Fatal(err)
		}
	}

	return escrow, payable, fees
}

// TestMeteringStoreIngest runs the Ingestor on both backends: a funded job is
// started by its first batch; accepted seconds are stored and posted,
// provider's share and fee exactly as the rate card says; a replayed batch
// and a conflicting one change nothing; usage beyond the escrow is refused.
func TestMeteringStoreIngest(t *testing.T) {
	t.Parallel()

	storetest.ForEachBackend(t, func(t *testing.T, cfg store.Config) {
		t.Parallel()
		ctx := context.Background()

		job := meteredJob(t, "job-1", 100)
		job.State, job.StartedAt = settlement.StateFunded, time.Time{}
		f := newMeteringFixture(t, cfg, metering.IngestConfig{}, job)

		// 50 seconds at 1.6 msat: 80 msat, 2.5% fee: 2 msat.
		b := signed(t, "job-1", 1, 50)
		res, err := f.in.Submit(ctx, "prov-1", b)
		if err != nil || res.Accepted != 50 || res.Price != 80 ||
			res.Fee != 2 {

			t.Fatalf("first batch: %+v, %v", res, err)
		}
		if _, ok := f.jobs.Started("job-1"); !ok {
			t.Fatal("the first batch did not start the job")
		}
		escrow, payable, fees := f.balances(t, "job-1")
		if escrow != 20 || payable != 78 || fees != 2 {
			t.Fatalf("escrow %v, payable %v, fees %v", escrow,
				payable, fees)
		}
		if last, err := f.sql.LastSeq(ctx, "job-1"); err != nil ||
			last != 50 {

			t.Fatalf("last seq %d, %v", last, err)
		}

		// A replay, whole or in part, changes nothing.
		res, err = f.in.Submit(ctx, "prov-1", b)
		if err != nil || res.Duplicates != 50 || res.Accepted != 0 {
			t.Fatalf("replay: %+v, %v", res, err)
		}
		conflict := signed(t, "job-1", 50, 50)
		conflict.Records[0].Mem++
		if err := conflict.Sign(agentKey()); err != nil {
			t.Fatal(err)
		}
		_, err = f.in.Submit(ctx, "prov-1", conflict)
		if !errors.Is(err, metering.ErrConflict) {
			t.Fatalf("conflict: %v", err)
		}
		if e, p, fe := f.balances(t, "job-1"); e != escrow ||
			p != payable || fe != fees {

			t.Fatalf("a replay moved money: %v %v %v", e, p, fe)
		}

		// 20 msat left pays for 13 more seconds: 63 s × 1.6 = 100.8
		// msat is 100 whole ones. The 14th is refused.
		res, err = f.in.Submit(ctx, "prov-1", signed(t, "job-1", 51,
			70))
		if !errors.Is(err, metering.ErrInsufficientEscrow) ||
			res.Accepted != 13 || res.LastSeq != 63 {

			t.Fatalf("over escrow: %+v, %v", res, err)
		}
		escrow, payable, fees = f.balances(t, "job-1")
		if escrow+payable+fees != 100 || escrow < 0 {
			t.Fatalf("money not conserved: %v %v %v", escrow,
				payable, fees)
		}
		// 100 msat charged, fee floor(2.5) = 2.
		if payable != 98 || fees != 2 || escrow != 0 {
			t.Fatalf("escrow %v, payable %v, fees %v", escrow,
				payable, fees)
		}
		if n := len(f.jobs.Charged("job-1")); n != 2 {
			t.Fatalf("%d solvency evaluations, want 2", n)
		}
	})
}

// TestMeteringStoreConcurrent has several agents submit at once into one store
// per backend; every job ends up charged exactly its price.
func TestMeteringStoreConcurrent(t *testing.T) {
	t.Parallel()

	storetest.ForEachBackend(t, func(t *testing.T, cfg store.Config) {
		t.Parallel()

		const nJobs, nBatches = 8, 10
		var jobs []metering.JobView
		for i := 0; i < nJobs; i++ {
			jobs = append(jobs, meteredJob(t, fmt.Sprintf("job-%d", i),
				1_000_000))
		}
		f := newMeteringFixture(t, cfg, metering.IngestConfig{}, jobs...)

		var wg sync.WaitGroup
		errs := make(chan error, nJobs)
		for _, j := range jobs {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for b := uint64(0); b < nBatches; b++ {
					batch := signed(t, j.ID, b*5+1, b*5+5)
					_, err := f.in.Submit(context.Background(),
						"prov-1", batch)
					if err != nil {
						errs <- err
						return
					}
				}
			}()
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			t.Fatal(err)
		}

		// 50 seconds at 1.6 msat: 80 msat each, fee 2.
		var payable ledger.MilliSatoshi
		for _, j := range jobs {
			escrow, p, _ := f.balances(t, j.ID)
			if escrow != 1_000_000-80 {
				t.Fatalf("%s: escrow %v", j.ID, escrow)
			}
			payable = p
		}
		_, _, fees := f.balances(t, jobs[0].ID)
		if payable != nJobs*78 || fees != nJobs*2 {
			t.Fatalf("payable %v, fees %v", payable, fees)
		}
	})
}
