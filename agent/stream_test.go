package agent

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/btcsuite/btcd/btcec/v2"
	"github.com/sluice-ln/sluice/channels"
	"github.com/sluice-ln/sluice/ledger"
	"github.com/sluice-ln/sluice/metering"
	"github.com/sluice-ln/sluice/metering/meteringtest"
	"github.com/sluice-ln/sluice/settlement"
)

var (
	streamStart = time.Unix(1767225600, 0).UTC()
	streamNow   = streamStart.Add(time.Hour)
)

// streamKey is the agent key of the stream tests.
func streamKey(seed string) *btcec.PrivateKey {
	sum := sha256.Sum256([]byte(seed))
	priv, _ := btcec.PrivKeyFromBytes(sum[:])
	return priv
}

// fakeRun is a Measured fed by the test.
type fakeRun struct {
	ch chan Measurement

	mu     sync.Mutex
	events []string
}

func newFakeRun(ms ...Measurement) *fakeRun {
	r := &fakeRun{ch: make(chan Measurement, len(ms))}
	for _, m := range ms {
		r.ch <- m
	}
	close(r.ch)
	return r
}

func (r *fakeRun) Measurements() <-chan Measurement { return r.ch }

func (r *fakeRun) event(e string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.events = append(r.events, e)
}

func (r *fakeRun) Pause() error             { r.event("pause"); return nil }
func (r *fakeRun) Resume() error            { r.event("resume"); return nil }
func (r *fakeRun) Stop(grace time.Duration) { r.event("stop") }
func (r *fakeRun) Events() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]string(nil), r.events...)
}

// seconds are n measurements from second streamStart+from on.
func seconds(from, n int) []Measurement {
	ms := make([]Measurement, n)
	for i := range ms {
		ms[i] = Measurement{
			Second: streamStart.Unix() + int64(from+i),
			Usage:  metering.Usage{CPU: 1000, Mem: 100},
		}
	}
	return ms
}

// serverClient is a Client on a real Ingestor over the in-memory store,
// with failures the test injects.
type serverClient struct {
	in    *metering.Ingestor
	store *meteringtest.Store

	mu sync.Mutex
	// failBefore fails that many coming submits before they reach
	// Sluice; loseAnswer loses the answer of that many after they
	// committed.
	failBefore, loseAnswer int
	submits                int

	// versions are the batch versions Meter announces (nil: none, a
	// server before versioning); reads, when set, are the versions
	// Submit takes: a batch of another is refused, and Meter then
	// announces reads (the server that answered is an older one).
	// sent are the versions of the batches that reached the server.
	versions, reads, sent []uint8
}

var errDropped = errors.New("connection dropped")

func (c *serverClient) Submit(ctx context.Context,
	enc []byte) (SubmitResult, error) {

	c.mu.Lock()
	c.submits++
	if c.failBefore > 0 {
		c.failBefore--
		c.mu.Unlock()
		return SubmitResult{}, errDropped
	}
	lose := c.loseAnswer > 0
	if lose {
		c.loseAnswer--
	}
	if len(enc) > 0 {
		c.sent = append(c.sent, enc[0])
		if c.reads != nil && !slices.Contains(c.reads, enc[0]) {
			c.versions = c.reads
			c.mu.Unlock()
			return SubmitResult{}, metering.ErrUnsupportedVersion
		}
	}
	c.mu.Unlock()

	b, err := metering.Decode(enc)
	if err != nil {
		return SubmitResult{}, err
	}
	res, err := c.in.Submit(ctx, "prov-1", b)
	partial := errors.Is(err, metering.ErrInsufficientEscrow) &&
		res.Accepted > 0
	if err != nil && !partial {
		return SubmitResult{}, err
	}
	if lose {
		return SubmitResult{}, errDropped
	}
	out := SubmitResult{Accepted: res.Accepted,
		Duplicates: res.Duplicates, LastSeq: res.LastSeq}
	if partial {
		out.Refused = err.Error()
	}
	return out, nil
}

func (c *serverClient) Meter(_ context.Context,
	jobID string) (MeterStatus, error) {

	j, ok := c.store.Job(jobID)
	if !ok {
		return MeterStatus{}, metering.ErrUnknownJob
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	return MeterStatus{State: string(j.State), LastSeq: j.Meter.LastSeq,
		LastSecond: j.Meter.LastSecond, Max: j.Max,
		BatchVersions: slices.Clone(c.versions)}, nil
}

// setState changes the job's state in the store.
func (c *serverClient) setState(s settlement.State, escrow ledger.MilliSatoshi) {
	j, _ := c.store.Job("job-1")
	j.State = s
	if escrow >= 0 {
		j.Escrow = escrow
	}
	c.store.PutJob(j)
}

// newServer starts an Ingestor over an in-memory store holding job-1 of
// prov-1, whose agent key is streamKey("agent").
func newServer(t *testing.T, mutate func(j *metering.JobView)) *serverClient {
	t.Helper()

	var key [32]byte
	copy(key[:], streamKey("agent").PubKey().SerializeCompressed()[1:])
	cpu, _ := ledger.ParseRate("0.001")
	job := metering.JobView{
		ID: "job-1", ProviderID: "prov-1", AgentKey: key,
		State: settlement.StateRunning, Started: streamStart,
		StartedAt: streamStart,
		Max:       metering.Usage{CPU: 2000, Mem: 1024},
		Rates:     channels.RateCard{channels.ResourceCPU: cpu},
		Escrow:    1_000_000,
	}
	if mutate != nil {
		mutate(&job)
	}
	store := meteringtest.NewStore()
	store.PutJob(job)
	in, err := metering.NewIngestor(store, metering.IngestConfig{
		Policy: metering.DefaultPolicy(),
		Clock:  func() time.Time { return streamNow },
		Linger: -1,
	})
	if err != nil {
		t.Fatal(err)
	}
	in.Start()
	t.Cleanup(in.Stop)

	return &serverClient{in: in, store: store}
}

// streamCfg is the test's StreamConfig; onSleep runs at each wait.
func streamCfg(c Client, onSleep func()) StreamConfig {
	return StreamConfig{
		JobID: "job-1", Key: streamKey("agent"), Client: c,
		MaxBatch: 4,
		Sleep: func(ctx context.Context, d time.Duration) error {
			if onSleep != nil {
				onSleep()
			}
			return ctx.Err()
		},
	}
}

// checkRows fails unless job-1's stored records are seqs 1..n with the
// given first second, one second apart.
func checkRows(t *testing.T, c *serverClient, n int, firstSecond int64) {
	t.Helper()

	rows := c.store.Rows("job-1")
	if len(rows) != n {
		t.Fatalf("%d rows stored, want %d", len(rows), n)
	}
	for i, r := range rows {
		if r.Seq != uint64(i+1) {
			t.Fatalf("row %d has seq %d", i, r.Seq)
		}
		if i == 0 && r.Second != firstSecond {
			t.Fatalf("first second %d, want %d", r.Second,
				firstSecond)
		}
	}
}

func TestStreamSendsEverySecondOnce(t *testing.T) {
	tests := []struct {
		name       string
		failBefore int
		loseAnswer int
	}{
		{"clean", 0, 0},
		{"connection drops before sending", 3, 0},
		{"answers lost after commit", 0, 2},
		{"both", 2, 2},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c := newServer(t, nil)
			c.failBefore, c.loseAnswer = tc.failBefore,
				tc.loseAnswer
			run := newFakeRun(seconds(10, 10)...)

			stats, err := Stream(context.Background(),
				streamCfg(c, nil), run)
			if err != nil {
				t.Fatal(err)
			}
			checkRows(t, c, 10, streamStart.Unix()+10)
			if stats.Measured != 10 {
				t.Fatalf("stats %+v", stats)
			}
			// 10 seconds of one core: 10 msat, charged once.
			c.store.CheckCharges(t, "job-1", 10, 0)
			if len(run.Events()) != 0 {
				t.Fatalf("command touched: %v", run.Events())
			}
		})
	}
}

func TestStreamResumesAfterAgentRestart(t *testing.T) {
	c := newServer(t, func(j *metering.JobView) {
		j.Meter = metering.MeterState{LastSeq: 5,
			LastSecond: streamStart.Unix() + 14}
	})
	// The first two seconds were billed by the agent before.
	run := newFakeRun(seconds(13, 6)...)
	stats, err := Stream(context.Background(), streamCfg(c, nil), run)
	if err != nil {
		t.Fatal(err)
	}
	rows := c.store.Rows("job-1")
	if len(rows) != 4 || rows[0].Seq != 6 ||
		rows[0].Second != streamStart.Unix()+15 {

		t.Fatalf("rows %+v", rows)
	}
	if stats.Dropped != 2 || stats.Accepted != 4 {
		t.Fatalf("stats %+v", stats)
	}
}

func TestStreamClampsToSpec(t *testing.T) {
	c := newServer(t, nil)
	ms := seconds(10, 3)
	ms[1].CPU = 5000
	run := newFakeRun(ms...)
	if _, err := Stream(context.Background(), streamCfg(c, nil),
		run); err != nil {

		t.Fatal(err)
	}
	rows := c.store.Rows("job-1")
	if len(rows) != 3 || rows[1].CPU != 2000 {
		t.Fatalf("rows %+v", rows)
	}
}

// TestStreamSuspendAndResume suspends the job after its first batch: the
// agent pauses the command, polls, resumes it when a top-up lets the job
// run again and sends the rest.
func TestStreamSuspendAndResume(t *testing.T) {
	c := newServer(t, nil)
	run := newFakeRun(seconds(10, 10)...)

	polls := 0
	cfg := streamCfg(c, func() {
		polls++
		if polls == 3 {
			c.setState(settlement.StateRunning, 1_000_000)
		}
	})
	// The first batch goes through; then the job is suspended.
	c.store.SetDelay(0)
	var once sync.Once
	cfg.Client = &hookClient{Client: c, after: func() {
		once.Do(func() { c.setState(settlement.StateSuspended, -1) })
	}}

	stats, err := Stream(context.Background(), cfg, run)
	if err != nil {
		t.Fatal(err)
	}
	checkRows(t, c, 10, streamStart.Unix()+10)
	if ev := run.Events(); len(ev) != 2 || ev[0] != "pause" ||
		ev[1] != "resume" {

		t.Fatalf("events %v", ev)
	}
	if stats.Pauses != 1 {
		t.Fatalf("stats %+v", stats)
	}
}

// hookClient runs after() after each successful submit.
type hookClient struct {
	Client
	after func()
}

func (h *hookClient) Submit(ctx context.Context,
	enc []byte) (SubmitResult, error) {

	res, err := h.Client.Submit(ctx, enc)
	if err == nil {
		h.after()
	}
	return res, err
}

func TestStreamStops(t *testing.T) {
	tests := []struct {
		name    string
		setup   func(c *serverClient, cfg *StreamConfig)
		wantErr error
	}{
		{"job ended", func(c *serverClient, cfg *StreamConfig) {
			c.setState(settlement.StateEnded, -1)
		}, ErrJobEnded},
		{"job ends while running", func(c *serverClient,
			cfg *StreamConfig) {

			var once sync.Once
			cfg.Client = &hookClient{Client: c, after: func() {
				once.Do(func() {
					c.setState(settlement.StateEnded, -1)
				})
			}}
		}, ErrJobEnded},
		{"escrow runs out, then suspended", func(c *serverClient,
			cfg *StreamConfig) {

			c.setState(settlement.StateRunning, 5)
			cfg.Sleep = func(ctx context.Context,
				d time.Duration) error {

				c.setState(settlement.StateEnded, -1)
				return nil
			}
		}, ErrJobEnded},
		{"wrong agent key", func(c *serverClient, cfg *StreamConfig) {
			cfg.Key = streamKey("someone else")
		}, ErrRefused},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c := newServer(t, nil)
			run := newFakeRun(seconds(10, 10)...)
			cfg := streamCfg(c, nil)
			tc.setup(c, &cfg)

			_, err := Stream(context.Background(), cfg, run)
			if !errors.Is(err, tc.wantErr) {
				t.Fatalf("err = %v, want %v", err, tc.wantErr)
			}
			ev := run.Events()
			if len(ev) == 0 || ev[len(ev)-1] != "stop" {
				t.Fatalf("command not stopped: %v", ev)
			}
		})
	}
}

func TestStreamContextEnds(t *testing.T) {
	c := newServer(t, nil)
	run := &fakeRun{ch: make(chan Measurement)}
	ctx, cancel := context.WithCancel(context.Background())
	go func() {
		time.Sleep(20 * time.Millisecond)
		cancel()
	}()
	_, err := Stream(ctx, streamCfg(c, nil), run)
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("err = %v", err)
	}
}

// TestStreamInterval feeds seconds faster than the interval: they go out
// in fewer batches, and all of them.
func TestStreamInterval(t *testing.T) {
	c := newServer(t, nil)
	run := &fakeRun{ch: make(chan Measurement)}
	go func() {
		for _, m := range seconds(10, 12) {
			run.ch <- m
			time.Sleep(10 * time.Millisecond)
		}
		close(run.ch)
	}()
	cfg := streamCfg(c, nil)
	cfg.MaxBatch = 100
	cfg.Interval = 50 * time.Millisecond
	if _, err := Stream(context.Background(), cfg, run); err != nil {
		t.Fatal(err)
	}
	checkRows(t, c, 12, streamStart.Unix()+10)
	c.mu.Lock()
	submits := c.submits
	c.mu.Unlock()
	if submits >= 12 || submits < 2 {
		t.Fatalf("%d submits for 12 seconds 10 ms apart with a 50 ms "+
			"interval", submits)
	}
}

// movingClient is a serverClient whose instance dies at the submit moveAt:
// the batch is committed but its answer lost, and the client says it moved
// to the next instance (on the same store), as agentcli's client does
// with several addresses.
type movingClient struct {
	*serverClient

	moveAt, submits, meters int
}

func (m *movingClient) Submit(ctx context.Context, enc []byte) (SubmitResult,
	error) {

	m.submits++
	res, err := m.serverClient.Submit(ctx, enc)
	if m.submits == m.moveAt {
		return SubmitResult{}, fmt.Errorf("%w B (sluiced at A: %v)",
			ErrMoved, errDropped)
	}
	return res, err
}

func (m *movingClient) Meter(ctx context.Context, jobID string) (MeterStatus,
	error) {

	m.meters++
	return m.serverClient.Meter(ctx, jobID)
}

// TestStreamResumesAfterMove has the instance die after committing the
// second batch: the stream asks the next instance for the job's meter and
// resumes from its last acknowledged seq, so every second is stored once
// and charged once.
func TestStreamResumesAfterMove(t *testing.T) {
	c := &movingClient{serverClient: newServer(t, nil), moveAt: 2}
	var sleeps int
	cfg := streamCfg(c, func() { sleeps++ })
	stats, err := Stream(context.Background(), cfg,
		newFakeRun(seconds(10, 10)...))
	if err != nil {
		t.Fatal(err)
	}
	checkRows(t, c.serverClient, 10, streamStart.Unix()+10)
	c.store.CheckCharges(t, "job-1", 10, 0)
	// The meter at the start, and once after the move.
	if c.meters != 2 {
		t.Fatalf("%d meter calls, want 2", c.meters)
	}
	// The batch committed on the dead instance was not sent again.
	if stats.Accepted != 6 || stats.Dropped != 4 || sleeps != 1 {
		t.Fatalf("stats %+v, %d sleeps", stats, sleeps)
	}
}
