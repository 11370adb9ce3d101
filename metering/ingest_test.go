package metering_test

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/sluice-ln/sluice/metering"
	"github.com/sluice-ln/sluice/metering/meteringtest"
	"github.com/sluice-ln/sluice/settlement"
)

// The ingest tests' jobs, batches and clock are meteringtest's fixtures.
var (
	jobStart  = meteringtest.JobStart
	ingestNow = meteringtest.IngestNow
	agentKey  = meteringtest.AgentKey
	testJob   = meteringtest.Job
	signed    = meteringtest.Signed
)

// newIngestor starts an Ingestor on a fresh fake store with the given
// jobs, a 2.5% fee and the test clock.
func newIngestor(t testing.TB, cfg metering.IngestConfig,
	jobs ...metering.JobView) (*metering.Ingestor, *meteringtest.Store) {

	t.Helper()

	store := meteringtest.NewStore()
	for _, j := range jobs {
		store.PutJob(j)
	}
	cfg.FeeRate = 250
	cfg.Policy = metering.DefaultPolicy()
	cfg.Clock = func() time.Time { return ingestNow }
	in, err := metering.NewIngestor(store, cfg)
	if err != nil {
		t.Fatal(err)
	}
	in.Start()
	t.Cleanup(in.Stop)

	return in, store
}

func TestIngestAcceptsAndReplays(t *testing.T) {
	in, store := newIngestor(t, metering.IngestConfig{},
		testJob(t, "job-1", 1_000_000))
	ctx := context.Background()

	// Seqs 1-3: 1.5 msat cpu + 0.1 msat mem per second = 4.8 msat, so 4
	// whole msat and a carry of 0.8.
	b := signed(t, "job-1", 1, 3)
	res, err := in.Submit(ctx, "prov-1", b)
	if err != nil {
		t.Fatal(err)
	}
	want := metering.Result{Accepted: 3, LastSeq: 3, Price: 4, Fee: 0}
	if res != want {
		t.Fatalf("first submit %+v, want %+v", res, want)
	}
	if rows := store.Rows("job-1"); len(rows) != 3 {
		t.Fatalf("%d rows stored", len(rows))
	}
	job, _ := store.Job("job-1")
	if job.Meter.LastSeq != 3 || job.Meter.Carry.String() != "0.8" ||
		job.Escrow != 1_000_000-4 || job.Meter.FeeRate != 250 {

		t.Fatalf("job after first batch: %+v", job)
	}

	// The same batch again changes nothing.
	res, err = in.Submit(ctx, "prov-1", b)
	if err != nil {
		t.Fatal(err)
	}
	if want := (metering.Result{Duplicates: 3, LastSeq: 3}); res != want {
		t.Fatalf("replay %+v, want %+v", res, want)
	}
	if n := len(store.Charges()); n != 1 {
		t.Fatalf("%d charges after a replay", n)
	}

	// A resend overlapping what was accepted takes only the new part.
	res, err = in.Submit(ctx, "prov-1", signed(t, "job-1", 2, 5))
	if err != nil {
		t.Fatal(err)
	}
	if res.Accepted != 2 || res.Duplicates != 2 || res.LastSeq != 5 {
		t.Fatalf("overlap %+v", res)
	}
	store.CheckCharges(t, "job-1", 8, 0)

	// The same seq with other content is a conflict and changes nothing.
	conflict := signed(t, "job-1", 5, 6)
	conflict.Records[0].CPU++
	if err := conflict.Sign(agentKey()); err != nil {
		t.Fatal(err)
	}
	_, err = in.Submit(ctx, "prov-1", conflict)
	if !errors.Is(err, metering.ErrConflict) {
		t.Fatalf("conflict err = %v", err)
	}
	if rows := store.Rows("job-1"); len(rows) != 5 {
		t.Fatalf("%d rows after a conflict", len(rows))
	}
	store.CheckCharges(t, "job-1", 8, 0)
}

// TestIngestOnCommit checks that a commit that accepted records calls
// OnCommit, and Credited with the job's provider (the daemon tells the
// payout scheduler with it), and that a replay or a refusal does not.
func TestIngestOnCommit(t *testing.T) {
	calls := make(chan struct{}, 10)
	credited := make(chan []string, 10)
	in, _ := newIngestor(t, metering.IngestConfig{
		OnCommit: func() { calls <- struct{}{} },
		Credited: func(p []string) { credited <- p },
	}, testJob(t, "job-1", 1_000_000))
	ctx := context.Background()

	first := signed(t, "job-1", 1, 2)
	tests := []struct {
		name  string
		batch *metering.Batch
		want  int
	}{
		{"accepted", first, 1},
		{"replay", first, 0},
		{"refused gap", signed(t, "job-1", 5, 6), 0},
		{"accepted again", signed(t, "job-1", 3, 3), 1},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, _ = in.Submit(ctx, "prov-1", tc.batch)
			// OnCommit runs before Submit is answered.
			if got := len(calls); got != tc.want {
				t.Fatalf("%d OnCommit calls, want %d", got,
					tc.want)
			}
			if got := len(credited); got != tc.want {
				t.Fatalf("%d Credited calls, want %d", got,
					tc.want)
			}
			for len(calls) > 0 {
				<-calls
			}
			for len(credited) > 0 {
				if p := <-credited; len(p) != 1 ||
					p[0] != "prov-1" {

					t.Fatalf("Credited %v, want [prov-1]", p)
				}
			}
		})
	}
}

func TestIngestRefusals(t *testing.T) {
	in, store := newIngestor(t, metering.IngestConfig{},
		testJob(t, "job-1", 1_000_000))
	ctx := context.Background()

	badSig := signed(t, "job-1", 1, 1)
	badSig.Records[0].Mem++

	tests := []struct {
		name    string
		caller  string
		batch   *metering.Batch
		wantErr error
	}{
		{"bad signature", "prov-1", badSig, metering.ErrBadSignature},
		{"unknown job", "prov-1", signed(t, "job-9", 1, 1),
			metering.ErrUnknownJob},
		{"other provider", "prov-2", signed(t, "job-1", 1, 1),
			metering.ErrForeignJob},
		{"gap", "prov-1", signed(t, "job-1", 2, 3),
			metering.ErrSeqGap},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := in.Submit(ctx, tc.caller, tc.batch)
			if !errors.Is(err, tc.wantErr) {
				t.Fatalf("err = %v, want %v", err, tc.wantErr)
			}
		})
	}
	if len(store.Rows("job-1")) != 0 || len(store.Charges()) != 0 {
		t.Fatal("a refused batch wrote something")
	}
}

func TestIngestStartsFundedJob(t *testing.T) {
	job := testJob(t, "job-1", 1_000_000)
	job.State, job.StartedAt = settlement.StateFunded, time.Time{}
	in, store := newIngestor(t, metering.IngestConfig{}, job)

	b := signed(t, "job-1", 1, 2)
	if _, err := in.Submit(context.Background(), "prov-1", b); err != nil {
		t.Fatal(err)
	}
	at, ok := store.Started("job-1")
	if want := time.Unix(b.Records[0].Second, 0).UTC(); !ok ||
		!at.Equal(want) {

		t.Fatalf("started %v (%v), want %v", at, ok, want)
	}
	got, _ := store.Job("job-1")
	if got.State != settlement.StateRunning || got.StartedAt.IsZero() {
		t.Fatalf("state %v", got.State)
	}
}

func TestIngestInsufficientEscrow(t *testing.T) {
	// Each second costs 1.6 msat: 2 msat pays for one second (1 msat,
	// carry 0.6) and not the second (2 msat).
	in, store := newIngestor(t, metering.IngestConfig{},
		testJob(t, "job-1", 2))

	res, err := in.Submit(context.Background(), "prov-1",
		signed(t, "job-1", 1, 3))
	if !errors.Is(err, metering.ErrInsufficientEscrow) {
		t.Fatalf("err = %v", err)
	}
	if res.Accepted != 1 || res.LastSeq != 1 || res.Price != 1 {
		t.Fatalf("result %+v", res)
	}
	store.CheckCharges(t, "job-1", 1, 0)

	// Nothing more fits in the one msat left.
	res, err = in.Submit(context.Background(), "prov-1",
		signed(t, "job-1", 2, 3))
	if !errors.Is(err, metering.ErrInsufficientEscrow) ||
		res.Accepted != 0 {

		t.Fatalf("second submit %+v, %v", res, err)
	}
	store.CheckCharges(t, "job-1", 1, 0)
}

func TestIngestStoreFailureAndRetry(t *testing.T) {
	in, store := newIngestor(t, metering.IngestConfig{},
		testJob(t, "job-1", 1_000_000))
	ctx := context.Background()

	store.FailNext(1)
	b := signed(t, "job-1", 1, 10)
	if _, err := in.Submit(ctx, "prov-1", b); !errors.Is(err,
		meteringtest.ErrInjected) {

		t.Fatalf("failed commit: err = %v", err)
	}
	if len(store.Rows("job-1")) != 0 || len(store.Charges()) != 0 {
		t.Fatal("a failed commit left writes")
	}

	// The resend succeeds, and a commit run twice writes once.
	store.RetryNext(1)
	res, err := in.Submit(ctx, "prov-1", b)
	if err != nil || res.Accepted != 10 {
		t.Fatalf("resend %+v, %v", res, err)
	}
	if _, attempts := store.Commits(); attempts != 3 {
		t.Fatalf("%d attempts, want 3", attempts)
	}
	store.CheckCharges(t, "job-1", 16, 0)
}

// TestIngestGroupCommit has many agents submit concurrently into a slow
// store: the batches share commits, each agent's batches are accepted in
// order, and every job is charged exactly its price.
func TestIngestGroupCommit(t *testing.T) {
	const (
		nJobs    = 20
		nBatches = 15
		perBatch = 4
	)
	var jobs []metering.JobView
	for i := 0; i < nJobs; i++ {
		jobs = append(jobs, testJob(t, fmt.Sprintf("job-%d", i),
			1_000_000))
	}
	in, store := newIngestor(t, metering.IngestConfig{
		FlushRecords: 200,
		Linger:       time.Millisecond,
	}, jobs...)
	store.SetDelay(2 * time.Millisecond)

	var wg sync.WaitGroup
	errs := make(chan error, nJobs)
	for _, j := range jobs {
		wg.Add(1)
		go func(id string) {
			defer wg.Done()
			for b := 0; b < nBatches; b++ {
				from := uint64(b*perBatch + 1)
				batch := signed(t, id, from, from+perBatch-1)
				res, err := in.Submit(context.Background(),
					"prov-1", batch)
				if err != nil || res.Accepted != perBatch {
					errs <- fmt.Errorf("%s batch %d: %+v, %v",
						id, b, res, err)
					return
				}
			}
		}(j.ID)
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}

	// 60 seconds at 1.6 msat: 96 msat, fee 2.5%: 2 msat.
	for _, j := range jobs {
		if n := len(store.Rows(j.ID)); n != nBatches*perBatch {
			t.Fatalf("%s: %d rows", j.ID, n)
		}
		store.CheckCharges(t, j.ID, 96, 2)
	}
	commits, _ := store.Commits()
	if commits >= nJobs*nBatches {
		t.Fatalf("%d commits for %d batches: nothing was grouped",
			commits, nJobs*nBatches)
	}
	t.Logf("%d batches in %d commits", nJobs*nBatches, commits)
}

// TestIngestSameJobInOneCommit queues two batches of one job, and a replay
// of the first, behind a slow commit, so that one commit carries all
// three.
func TestIngestSameJobInOneCommit(t *testing.T) {
	in, store := newIngestor(t, metering.IngestConfig{
		Linger: 20 * time.Millisecond,
	}, testJob(t, "job-1", 1_000_000), testJob(t, "job-0", 1_000_000))
	ctx := context.Background()
	holder := signed(t, "job-0", 1, 1)
	first := signed(t, "job-1", 1, 2)
	batches := []*metering.Batch{first, signed(t, "job-1", 3, 4), first}

	// A first commit holds the store while the others queue.
	held, release := store.Hold()
	defer release()
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		_, _ = in.Submit(ctx, "prov-1", holder)
	}()
	waitHeld(t, held)

	results := make([]metering.Result, 3)
	errs := make([]error, 3)
	for i, b := range batches {
		wg.Add(1)
		go func() {
			defer wg.Done()
			results[i], errs[i] = in.Submit(ctx, "prov-1", b)
		}()
		// Queue them in this order.
		waitQueued(t, in, i+1)
	}
	release()
	wg.Wait()

	for i, err := range errs {
		if err != nil {
			t.Fatalf("batch %d: %v", i, err)
		}
	}
	if results[0].Accepted != 2 || results[1].Accepted != 2 ||
		results[2].Duplicates != 2 || results[2].Accepted != 0 {

		t.Fatalf("results %+v", results)
	}
	if commits, _ := store.Commits(); commits != 2 {
		t.Fatalf("%d commits, want 2", commits)
	}
	store.CheckCharges(t, "job-1", 6, 0)
	if n := len(store.Charges()); n != 2 {
		t.Fatalf("%d charges, want one per job", n)
	}
}

func TestIngestStopAndBackPressure(t *testing.T) {
	in, store := newIngestor(t, metering.IngestConfig{QueueLen: 1,
		Linger: -1}, testJob(t, "job-1", 1_000_000),
		testJob(t, "job-2", 1_000_000), testJob(t, "job-3", 1_000_000))
	held, release := store.Hold()
	defer release()

	// One batch commits slowly, one waits in the queue; a third cannot
	// queue and its caller gives up.
	var wg sync.WaitGroup
	for i, id := range []string{"job-1", "job-2"} {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, _ = in.Submit(context.Background(), "prov-1",
				signed(t, id, 1, 1))
		}()
		if i == 0 {
			waitHeld(t, held)
		} else {
			waitQueued(t, in, 1)
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(),
		50*time.Millisecond)
	defer cancel()
	_, err := in.Submit(ctx, "prov-1", signed(t, "job-3", 1, 1))
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("full queue: err = %v", err)
	}
	release()
	wg.Wait()

	in.Stop()
	_, err = in.Submit(context.Background(), "prov-1",
		signed(t, "job-3", 1, 1))
	if !errors.Is(err, metering.ErrIngestClosed) {
		t.Fatalf("after Stop: err = %v", err)
	}
}

// waitHeld waits until a commit Hold stopped has begun.
func waitHeld(t *testing.T, held <-chan struct{}) {
	t.Helper()
	select {
	case <-held:
	case <-time.After(10 * time.Second):
		t.Fatal("no commit began within 10s")
	}
}

// waitQueued waits until n batches wait for a commit.
func waitQueued(t *testing.T, in *metering.Ingestor, n int) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for in.Queued() != n {
		if time.Now().After(deadline) {
			t.Fatalf("%d batches queued after 10s, want %d",
				in.Queued(), n)
		}
		time.Sleep(time.Millisecond)
	}
}

func TestNewIngestorConfig(t *testing.T) {
	store := meteringtest.NewStore()
	tests := []struct {
		name string
		cfg  metering.IngestConfig
		ok   bool
	}{
		{"defaults", metering.IngestConfig{}, true},
		{"fee too high", metering.IngestConfig{FeeRate: 10001}, false},
		{"negative skew", metering.IngestConfig{
			Policy: metering.Policy{ClockSkew: -1}}, false},
		{"negative flush", metering.IngestConfig{FlushRecords: -1},
			false},
		{"negative queue", metering.IngestConfig{QueueLen: -1}, false},
	}
	for _, tc := range tests {
		_, err := metering.NewIngestor(store, tc.cfg)
		if (err == nil) != tc.ok {
			t.Errorf("%s: err = %v", tc.name, err)
		}
	}

	// An Ingestor stopped without being started does not hang.
	in, _ := metering.NewIngestor(store, metering.IngestConfig{})
	in.Stop()
}

// commits is an Observer that keeps what it is told.
type commits struct {
	mu   sync.Mutex
	seen []metering.Commit
}

func (c *commits) Committed(m metering.Commit) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.seen = append(c.seen, m)
}

// last is the last commit observed; it fails the test when there is none.
func (c *commits) last(t *testing.T) metering.Commit {
	t.Helper()
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(c.seen) == 0 {
		t.Fatal("no commit observed")
	}
	return c.seen[len(c.seen)-1]
}

// TestIngestObserver checks that the observer is told, before Submit is
// answered, each commit's batches and records by result and what it
// credited from which metered second.
func TestIngestObserver(t *testing.T) {
	obs := &commits{}
	in, _ := newIngestor(t, metering.IngestConfig{Observer: obs},
		testJob(t, "job-1", 1_000_000))
	ctx := context.Background()

	first := signed(t, "job-1", 1, 3)
	tests := []struct {
		name    string
		batch   *metering.Batch
		batches metering.CommitCounts
		records metering.CommitCounts
		credit  bool
	}{
		{"accepted", first, metering.CommitCounts{Accepted: 1},
			metering.CommitCounts{Accepted: 3}, true},
		{"replay", first, metering.CommitCounts{Duplicate: 1},
			metering.CommitCounts{Duplicate: 3}, false},
		{"refused gap", signed(t, "job-1", 6, 7),
			metering.CommitCounts{Refused: 1},
			metering.CommitCounts{Refused: 2}, false},
		{"overlap", signed(t, "job-1", 3, 4),
			metering.CommitCounts{Accepted: 1},
			metering.CommitCounts{Accepted: 1, Duplicate: 1},
			true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			res, _ := in.Submit(ctx, "prov-1", tc.batch)
			c := obs.last(t)
			if c.Failed || c.Batches != tc.batches ||
				c.Records != tc.records {

				t.Fatalf("observed %+v, want batches %+v, "+
					"records %+v", c, tc.batches,
					tc.records)
			}
			if !tc.credit {
				if len(c.Credits) != 0 {
					t.Fatalf("credits %+v", c.Credits)
				}
				return
			}
			first := tc.batch.Records[len(tc.batch.Records)-
				res.Accepted]
			if len(c.Credits) != 1 ||
				c.Credits[0].ProviderID != "prov-1" ||
				c.Credits[0].Amount != res.Price-res.Fee ||
				!c.Credits[0].FirstSecond.Equal(
					time.Unix(first.Second, 0)) {

				t.Fatalf("credits %+v for %+v from second %d",
					c.Credits, res, first.Second)
			}
		})
	}
}
