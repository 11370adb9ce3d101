package metering_test

import (
	"context"
	"encoding/hex"
	"flag"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/sluice-ln/sluice/ledger"
	"github.com/sluice-ln/sluice/metering"
	"github.com/sluice-ln/sluice/store"
	"github.com/sluice-ln/sluice/store/storetest"
)

// The ingest benchmark's shape, settable on the command line:
//
//	go test ./metering -run '^$' -bench BenchmarkIngest -benchtime 1x \
//	    -ingest.agents 64 -ingest.batch 10 -ingest.seconds 600
var (
	benchAgents  = flag.Int("ingest.agents", 64, "concurrent agents (one job each)")
	benchBatch   = flag.Int("ingest.batch", 10, "records per batch")
	benchSeconds = flag.Int("ingest.seconds", 600, "records per agent")
	benchLinger  = flag.Duration("ingest.linger", 0,
		"group commit linger (0 the default, negative none)")
)

// BenchmarkIngest measures usage ingest end to end on each backend: signed,
// encoded batches from many concurrent agents through decoding, signature
// verification, validation, rating and the durable group commit (usage
// rows, meter states, ledger postings, solvency hook), in records per
// second. In the same run and the same database it measures the raw insert
// rate of the same rows (usage_records only, in transactions of the
// ingest's flush size, the fastest way each backend allows: rawInsert),
// and reports the ratio of the two.
func BenchmarkIngest(b *testing.B) {
	for _, backend := range storetest.Backends {
		b.Run(string(backend), func(b *testing.B) {
			cfg := storetest.Config(b, backend)
			for i := 0; i < b.N; i++ {
				benchIngestOnce(b, cfg)
			}
		})
	}
}

// benchIngestOnce runs one measurement on a fresh database.
func benchIngestOnce(b *testing.B, cfg store.Config) {
	b.StopTimer()
	agents, perBatch, seconds := *benchAgents, *benchBatch, *benchSeconds
	ctx := context.Background()

	var jobs []metering.JobView
	for a := 0; a < agents; a++ {
		jobs = append(jobs, testJob(b, fmt.Sprintf("bench-%d", a),
			1_000_000_000_000))
	}
	for a := 0; a < agents; a++ {
		// The raw inserts' jobs, so that their rows have somewhere to
		// go.
		j := testJob(b, fmt.Sprintf("raw-%d", a), 1)
		jobs = append(jobs, j)
	}
	f := newBenchFixture(b, cfg, jobs)

	// The agents sign before the clock starts: signing is their work,
	// verifying is Sluice's.
	batches := make([][][]byte, agents)
	for a := 0; a < agents; a++ {
		id := fmt.Sprintf("bench-%d", a)
		for from := 1; from <= seconds; from += perBatch {
			to := min(from+perBatch-1, seconds)
			batch := signed(b, id, uint64(from), uint64(to))
			enc, err := batch.Encode()
			if err != nil {
				b.Fatal(err)
			}
			batches[a] = append(batches[a], enc)
		}
	}
	total := agents * seconds

	b.StartTimer()
	statements := store.Statements()
	start := time.Now()
	var wg sync.WaitGroup
	errs := make(chan error, agents)
	for a := 0; a < agents; a++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for _, enc := range batches[a] {
				res, err := f.svc.Submit(ctx, "prov-1", enc)
				if err != nil {
					errs <- err
					return
				}
				if res.Accepted == 0 {
					errs <- fmt.Errorf("batch not accepted")
					return
				}
			}
		}()
	}
	wg.Wait()
	ingest := time.Since(start)
	statements = store.Statements() - statements
	b.StopTimer()
	close(errs)
	for err := range errs {
		b.Fatal(err)
	}

	// The same rows, raw, into the same database.
	hash := hex.EncodeToString(make([]byte, 32))
	var rows []store.UsageRecord
	for a := 0; a < agents; a++ {
		for s := 1; s <= seconds; s++ {
			rows = append(rows, store.UsageRecord{
				JobID: fmt.Sprintf("raw-%d", a), Seq: int64(s),
				Second: jobStart.Unix() + int64(s),
				CPU:    1500, Mem: 100, Price: 1, Fee: 0,
				BatchHash: hash,
			})
		}
	}
	start = time.Now()
	rawInsert(b, cfg, rows)
	raw := time.Since(start)

	ingestRate := float64(total) / ingest.Seconds()
	rawRate := float64(total) / raw.Seconds()
	b.ReportMetric(ingestRate, "records/s")
	b.ReportMetric(rawRate, "raw-rows/s")
	b.ReportMetric(ingestRate/rawRate, "ratio")
	b.Logf("%s: %d agents × %d records in batches of %d: ingest %.0f "+
		"records/s (%v), raw insert %.0f rows/s (%v), ratio %.2f",
		cfg.Backend, agents, seconds, perBatch, ingestRate,
		ingest.Round(time.Millisecond), rawRate,
		raw.Round(time.Millisecond), ingestRate/rawRate)
	c := f.commits
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.n > 0 {
		b.Logf("%s: %d group commits of %.0f records on average, "+
			"%v in their transactions (%.0f%% of ingest), %v each",
			cfg.Backend, c.n, float64(c.records)/float64(c.n),
			c.took.Round(time.Millisecond),
			100*c.took.Seconds()/ingest.Seconds(),
			(c.took / time.Duration(c.n)).Round(10*time.Microsecond))
		if statements > 0 {
			b.Logf("%s: %.1f statements per group commit",
				cfg.Backend, float64(statements)/float64(c.n))
		}
	}
}

// benchFixture is a metering Service on a real store.
type benchFixture struct {
	db      *store.DB
	svc     *metering.Service
	commits *commitTally
}

// commitTally adds up the group commits, to show where ingest's time
// goes: in the store transactions, or outside them (verifying, waiting
// for the next batches).
type commitTally struct {
	mu      sync.Mutex
	n       int
	records int
	took    time.Duration
}

func (c *commitTally) Committed(cm metering.Commit) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.n++
	c.records += cm.Records.Accepted
	c.took += cm.Duration
}

// newBenchFixture opens the store, stores and funds the jobs, and starts a
// Service with the fake job source.
func newBenchFixture(b *testing.B, cfg store.Config,
	jobs []metering.JobView) *benchFixture {

	b.Helper()

	db := storetest.Open(b, cfg)
	lg := ledger.New(store.NewLedgerStore(db), nil)
	storetest.SeedJobs(b, db, lg, jobStart, jobs...)

	obs := &commitTally{}
	svc, err := metering.NewService(metering.ServiceConfig{
		Store: store.NewMeteringStore(db, lg,
			storetest.NewMeteringJobs(jobs...), func() time.Time { return ingestNow }),
		Ingest: metering.IngestConfig{
			FeeRate:  250,
			Linger:   *benchLinger,
			Observer: obs,
			Policy:   metering.DefaultPolicy(),
			Clock:    func() time.Time { return ingestNow },
		},
	})
	if err != nil {
		b.Fatal(err)
	}
	svc.Start()
	b.Cleanup(svc.Stop)

	return &benchFixture{db: db, svc: svc, commits: obs}
}
