// Package meteringtest gives unit tests an in-memory metering.Store: jobs,
// usage rows, meter states and ledger charges in maps, with a rollback
// when a commit fails and hooks to inject failures and retries.
package meteringtest

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/sluice-ln/sluice/ledger"
	"github.com/sluice-ln/sluice/metering"
	"github.com/sluice-ln/sluice/settlement"
)

// ErrInjected is the error a Store fails a commit with when told to.
var ErrInjected = errors.New("injected store failure")

// state is everything the Store holds; a commit works on a copy.
type state struct {
	jobs    map[string]metering.JobView
	rows    map[string]map[uint64]metering.UsageRow
	charges []metering.Charge
	starts  map[string]time.Time
}

// clone copies the state deeply enough that a commit's changes can be
// thrown away.
func (s *state) clone() *state {
	c := &state{
		jobs:    maps.Clone(s.jobs),
		rows:    make(map[string]map[uint64]metering.UsageRow),
		charges: slices.Clone(s.charges),
		starts:  maps.Clone(s.starts),
	}
	for id, rows := range s.rows {
		c.rows[id] = maps.Clone(rows)
	}

	return c
}

// Store is an in-memory metering.Store. Its zero value is not usable; use
// NewStore.
type Store struct {
	mu sync.Mutex
	st *state

	// commits counts committed transactions, attempts every run of a
	// commit's function.
	commits, attempts int

	// failNext fails that many coming commits with ErrInjected.
	failNext int

	// retryNext runs the function of that many coming commits twice, as
	// a store that hit a serialization conflict would.
	retryNext int

	// delay is how long each commit takes.
	delay time.Duration

	// hold, when set, stops the next commit until it is released.
	hold *hold
}

// hold is a commit stopped by Hold.
type hold struct {
	held, release chan struct{}
}

// Compile-time check that Store is what the Ingestor needs.
var _ metering.Store = (*Store)(nil)

// NewStore returns an empty Store.
func NewStore() *Store {
	return &Store{st: &state{
		jobs:   make(map[string]metering.JobView),
		rows:   make(map[string]map[uint64]metering.UsageRow),
		starts: make(map[string]time.Time),
	}}
}

// PutJob adds or replaces a job.
func (s *Store) PutJob(job metering.JobView) {
	s.mu.Lock()
	defer s.mu.Unlock()

	s.st.jobs[job.ID] = job
}

// Job returns a job as stored, with its meter state and escrow as the
// commits left them.
func (s *Store) Job(id string) (metering.JobView, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()

	j, ok := s.st.jobs[id]
	return j, ok
}

// Rows returns a job's usage rows in seq order.
func (s *Store) Rows(id string) []metering.UsageRow {
	s.mu.Lock()
	defer s.mu.Unlock()

	rows := slices.Collect(maps.Values(s.st.rows[id]))
	slices.SortFunc(rows, func(a, b metering.UsageRow) int {
		return int(a.Seq - b.Seq)
	})

	return rows
}

// Charges returns the charges posted, in order.
func (s *Store) Charges() []metering.Charge {
	s.mu.Lock()
	defer s.mu.Unlock()

	return slices.Clone(s.st.charges)
}

// Started returns when a job was started by metering.
func (s *Store) Started(id string) (time.Time, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()

	at, ok := s.st.starts[id]
	return at, ok
}

// Commits returns the number of committed transactions and of runs of
// commit functions.
func (s *Store) Commits() (commits, attempts int) {
	s.mu.Lock()
	defer s.mu.Unlock()

	return s.commits, s.attempts
}

// FailNext makes the next n commits fail with ErrInjected, after running
// their function (so that their writes are rolled back).
func (s *Store) FailNext(n int) {
	s.mu.Lock()
	defer s.mu.Unlock()

	s.failNext = n
}

// RetryNext makes the next n commits run their function twice, throwing
// the first run's writes away, as after a serialization conflict.
func (s *Store) RetryNext(n int) {
	s.mu.Lock()
	defer s.mu.Unlock()

	s.retryNext = n
}

// SetDelay makes each commit take d, so that batches queue behind it.
func (s *Store) SetDelay(d time.Duration) {
	s.mu.Lock()
	defer s.mu.Unlock()

	s.delay = d
}

// Hold makes the next commit stop, once it has begun and holds the store,
// until release is called; held is closed when it stops. Batches submitted
// meanwhile queue behind it, in the order their Submit calls queue them.
func (s *Store) Hold() (held <-chan struct{}, release func()) {
	s.mu.Lock()
	defer s.mu.Unlock()

	h := &hold{held: make(chan struct{}), release: make(chan struct{})}
	s.hold = h
	var once sync.Once
	return h.held, func() { once.Do(func() { close(h.release) }) }
}

// ExecUsage runs fn on a copy of the state and keeps the copy if fn
// succeeds: one transaction at a time, as on SQLite.
func (s *Store) ExecUsage(ctx context.Context,
	fn func(metering.UsageTx) error) error {

	s.mu.Lock()
	defer s.mu.Unlock()

	if s.delay > 0 {
		time.Sleep(s.delay)
	}
	if h := s.hold; h != nil {
		s.hold = nil
		close(h.held)
		<-h.release
	}

	runs := 1
	if s.retryNext > 0 {
		s.retryNext--
		runs = 2
	}
	var (
		work *state
		err  error
	)
	for i := 0; i < runs; i++ {
		s.attempts++
		work = s.st.clone()
		err = fn(&tx{st: work})
	}
	if err != nil {
		return err
	}
	if s.failNext > 0 {
		s.failNext--
		return ErrInjected
	}

	s.st = work
	s.commits++

	return nil
}

// tx is one transaction on a copy of the state.
type tx struct {
	st *state
}

func (t *tx) Job(_ context.Context, id string) (metering.JobView, error) {
	j, ok := t.st.jobs[id]
	if !ok {
		return metering.JobView{}, fmt.Errorf("%w: %s",
			metering.ErrUnknownJob, id)
	}

	return j, nil
}

func (t *tx) Jobs(ctx context.Context, ids []string) (
	map[string]metering.JobView, error) {

	out := make(map[string]metering.JobView, len(ids))
	for _, id := range ids {
		if j, ok := t.st.jobs[id]; ok {
			out[id] = j
		}
	}

	return out, nil
}

func (t *tx) Records(_ context.Context, jobID string, from,
	to uint64) ([]metering.Record, error) {

	var recs []metering.Record
	for seq := from; seq <= to && seq >= from; seq++ {
		if r, ok := t.st.rows[jobID][seq]; ok {
			recs = append(recs, r.Record)
		}
	}

	return recs, nil
}

func (t *tx) InsertUsage(_ context.Context, rows []metering.UsageRow) error {
	for _, r := range rows {
		if t.st.rows[r.JobID] == nil {
			t.st.rows[r.JobID] = make(map[uint64]metering.UsageRow)
		}
		if _, ok := t.st.rows[r.JobID][r.Seq]; ok {
			return fmt.Errorf("job %s seq %d inserted twice",
				r.JobID, r.Seq)
		}
		t.st.rows[r.JobID][r.Seq] = r
	}

	return nil
}

func (t *tx) SaveMeters(_ context.Context, meters []metering.JobMeter) error {
	for _, m := range meters {
		j, ok := t.st.jobs[m.JobID]
		if !ok {
			return fmt.Errorf("meter of unknown job %s", m.JobID)
		}
		j.Meter = m.State
		t.st.jobs[m.JobID] = j
	}

	return nil
}

func (t *tx) Start(_ context.Context, jobID string, at time.Time) error {
	j, ok := t.st.jobs[jobID]
	if !ok || !j.State.TakesUsage() || !j.StartedAt.IsZero() {
		return fmt.Errorf("start of job %s in state %v", jobID, j.State)
	}
	if j.State == settlement.StateFunded {
		j.State = settlement.StateRunning
	}
	j.Started, j.StartedAt = at, at
	t.st.jobs[jobID] = j
	t.st.starts[jobID] = at

	return nil
}

func (t *tx) Charge(_ context.Context, charges []metering.Charge) error {
	for _, c := range charges {
		if err := t.charge(c); err != nil {
			return err
		}
	}

	return nil
}

func (t *tx) charge(c metering.Charge) error {
	j, ok := t.st.jobs[c.JobID]
	if !ok {
		return fmt.Errorf("charge of unknown job %s", c.JobID)
	}
	if c.Price > j.Escrow {
		return fmt.Errorf("job %s: %w", c.JobID, ledger.ErrOverdraft)
	}
	if err := ledger.ValidateKey(c.Key); err != nil {
		return err
	}
	for _, prior := range t.st.charges {
		if prior.Key == c.Key {
			return fmt.Errorf("charge key %q used twice", c.Key)
		}
	}
	j.Escrow -= c.Price
	t.st.jobs[c.JobID] = j
	t.st.charges = append(t.st.charges, c)

	return nil
}

// CheckCharges fails the test unless the charges posted for a job add up
// to price and fee, and the job's meter state agrees.
func (s *Store) CheckCharges(t testing.TB, jobID string, price,
	fee ledger.MilliSatoshi) {

	t.Helper()

	var gotPrice, gotFee ledger.MilliSatoshi
	for _, c := range s.Charges() {
		if c.JobID == jobID {
			gotPrice += c.Price
			gotFee += c.Fee
		}
	}
	if gotPrice != price || gotFee != fee {
		t.Fatalf("job %s charged %v with fee %v, want %v with %v",
			jobID, gotPrice, gotFee, price, fee)
	}
	j, _ := s.Job(jobID)
	if j.Meter.Charged != price || j.Meter.Fees != fee {
		t.Fatalf("job %s meter says %v with fee %v, want %v with %v",
			jobID, j.Meter.Charged, j.Meter.Fees, price, fee)
	}
}
