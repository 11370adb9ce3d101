package metering

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"time"

	"github.com/sluice-ln/sluice/ledger"
	"github.com/sluice-ln/sluice/settlement"
)

// Defaults of IngestConfig.
const (
	// DefaultFlushRecords is how many records make a group commit go
	// without waiting for more.
	DefaultFlushRecords = 1000

	// DefaultLinger is how long a group commit waits for more batches
	// after the first, when fewer than FlushRecords are queued. Short
	// beside a commit (5–15 ms): the batches that come during a commit
	// make the next one's group anyway, and a longer wait only idles
	// the store while callers wait for their answers (5 ms cost
	// BenchmarkIngest a quarter of its rate).
	DefaultLinger = time.Millisecond

	// DefaultQueueLen is how many batches may wait for a commit before
	// Submit blocks.
	DefaultQueueLen = 4096
)

// IngestConfig configures an Ingestor.
type IngestConfig struct {
	// Policy sets the validation rules.
	Policy Policy

	// FeeRate is the platform fee, fixed into each job when its first
	// record is accepted.
	FeeRate ledger.BasisPoints

	// FlushRecords is how many records make a group commit go at once;
	// 0 means DefaultFlushRecords.
	FlushRecords int

	// Linger is how long a commit waits for more batches after the
	// first one; 0 means DefaultLinger, negative means no waiting (a
	// commit takes what is queued).
	Linger time.Duration

	// QueueLen bounds the batches waiting for a commit; Submit blocks
	// while it is full. 0 means DefaultQueueLen.
	QueueLen int

	// Clock gives the time rules are checked against; nil is time.Now.
	Clock func() time.Time

	// OnCommit, when set, is called after each commit that accepted a
	// batch, outside its transaction and before its callers are answered:
	// the daemon wakes the payout scheduler with it, so payable that usage
	// raised is paid at once rather than at the next poll. It must not
	// block.
	OnCommit func()

	// Credited, when set, is called after each durable commit that
	// credited usage, with the providers whose payable it raised
	// (sorted, each once), outside the transaction and before the
	// callers are answered: the payout scheduler is told who may be
	// paid and reads the store only for them. It must not block.
	Credited func(providers []string)

	// Observer, when set, is told what each group commit did (package
	// metrics counts it). It is called on the committer goroutine after
	// the commit, before its callers are answered, and must not block.
	Observer Observer
}

// withDefaults fills in the zero fields and checks the rest.
func (c IngestConfig) withDefaults() (IngestConfig, error) {
	if err := c.Policy.Validate(); err != nil {
		return c, err
	}
	if err := c.FeeRate.Validate(); err != nil {
		return c, fmt.Errorf("platform fee: %w", err)
	}
	if c.FlushRecords < 0 || c.QueueLen < 0 {
		return c, fmt.Errorf("flush records %d and queue length %d "+
			"may not be negative", c.FlushRecords, c.QueueLen)
	}
	if c.FlushRecords == 0 {
		c.FlushRecords = DefaultFlushRecords
	}
	if c.Linger == 0 {
		c.Linger = DefaultLinger
	}
	if c.QueueLen == 0 {
		c.QueueLen = DefaultQueueLen
	}
	if c.Clock == nil {
		c.Clock = time.Now
	}

	return c, nil
}

// Result is what became of a batch that was not refused outright.
type Result struct {
	// Accepted is how many of its records this call made durable.
	Accepted int

	// Duplicates is how many of its records had been accepted before
	// and were acknowledged without change.
	Duplicates int

	// LastSeq is the job's last accepted seq after the call: the agent
	// continues from LastSeq + 1.
	LastSeq uint64

	// Price is what the accepted records cost, Fee the platform's part.
	Price ledger.MilliSatoshi
	Fee   ledger.MilliSatoshi
}

// request is one Submit waiting for its commit.
type request struct {
	batch    *Batch
	digest   [32]byte
	callerID string
	done     chan response
}

// response answers a request.
type response struct {
	res Result
	err error
}

// Ingestor takes verified batches from many concurrent callers, queues
// them, and commits many in one store transaction (group commit): a
// commit goes when FlushRecords records are queued or Linger after its
// first batch. Each caller is answered after the transaction holding its
// records has committed, or with the error that stopped it. One goroutine
// commits, so commits never contend with each other; the expensive,
// stateless work (decoding, signatures) is done by the callers in parallel
// before they queue.
type Ingestor struct {
	store Store
	cfg   IngestConfig

	queue chan *request
	quit  chan struct{}
	// stopped is closed when the committer has exited and answered
	// every request it took.
	stopped chan struct{}

	startOnce sync.Once
	stopOnce  sync.Once
}

// NewIngestor returns an Ingestor over store; Start runs it.
func NewIngestor(store Store, cfg IngestConfig) (*Ingestor, error) {
	cfg, err := cfg.withDefaults()
	if err != nil {
		return nil, fmt.Errorf("usage ingest config: %w", err)
	}

	return &Ingestor{
		store:   store,
		cfg:     cfg,
		queue:   make(chan *request, cfg.QueueLen),
		quit:    make(chan struct{}),
		stopped: make(chan struct{}),
	}, nil
}

// Start runs the committer.
func (in *Ingestor) Start() {
	in.startOnce.Do(func() {
		go in.run()
	})
}

// Stop stops taking batches, lets a commit under way finish and answers
// every queued batch with ErrIngestClosed. It waits for the committer to
// exit.
func (in *Ingestor) Stop() {
	in.stopOnce.Do(func() {
		close(in.quit)
	})
	// A never-started Ingestor has nothing to wait for.
	in.startOnce.Do(func() { close(in.stopped) })
	<-in.stopped
}

// Queued returns how many batches wait for a commit.
func (in *Ingestor) Queued() int {
	return len(in.queue)
}

// Submit verifies the batch's signature and queues it for the next group
// commit, blocking while the queue is full, then waits until its records
// are durable. callerID is the provider the caller's macaroon is bound to.
//
// It returns the Result, and an error for a refused batch (the errors in
// errors.go, wrapped) or a failed commit. With ErrInsufficientEscrow the
// Result counts the records the escrow did pay for. A caller whose ctx ends
// while waiting gets ctx's error, but its records may still commit: a
// resend then finds them as duplicates.
func (in *Ingestor) Submit(ctx context.Context, callerID string,
	b *Batch) (Result, error) {

	if err := b.Verify(); err != nil {
		return Result{}, err
	}
	digest, err := b.Digest()
	if err != nil {
		return Result{}, err
	}

	req := &request{
		batch:    b,
		digest:   digest,
		callerID: callerID,
		done:     make(chan response, 1),
	}
	select {
	case in.queue <- req:
	case <-in.quit:
		return Result{}, ErrIngestClosed
	case <-ctx.Done():
		return Result{}, ctx.Err()
	}

	select {
	case r := <-req.done:
		return r.res, r.err
	case <-ctx.Done():
		return Result{}, ctx.Err()
	case <-in.stopped:
		// The committer may have answered just before it exited.
		select {
		case r := <-req.done:
			return r.res, r.err
		default:
			return Result{}, ErrIngestClosed
		}
	}
}

// run is the committer: it gathers queued requests into group commits
// until Stop.
func (in *Ingestor) run() {
	defer close(in.stopped)

	for {
		var first *request
		select {
		case first = <-in.queue:
		case <-in.quit:
			in.drain()
			return
		}

		group := in.gather(first)
		in.commit(group)
	}
}

// gather collects requests after first until FlushRecords records are in
// the group, the linger time is over, or Stop.
func (in *Ingestor) gather(first *request) []*request {
	group := []*request{first}
	n := len(first.batch.Records)

	var linger <-chan time.Time
	if in.cfg.Linger > 0 {
		timer := time.NewTimer(in.cfg.Linger)
		defer timer.Stop()
		linger = timer.C
	}

	for n < in.cfg.FlushRecords {
		// What is already queued is taken without waiting.
		select {
		case r := <-in.queue:
			group = append(group, r)
			n += len(r.batch.Records)
			continue
		default:
		}
		if linger == nil {
			break
		}

		select {
		case r := <-in.queue:
			group = append(group, r)
			n += len(r.batch.Records)
		case <-linger:
			return group
		case <-in.quit:
			return group
		}
	}

	return group
}

// drain answers everything still queued with ErrIngestClosed.
func (in *Ingestor) drain() {
	for {
		select {
		case r := <-in.queue:
			r.done <- response{err: ErrIngestClosed}
		default:
			return
		}
	}
}

// jobWork is what one commit does for one job: the job as loaded and
// updated by the batches before, and what they accepted.
type jobWork struct {
	view JobView

	// loadedSeq is the job's last seq in the store; records above it
	// were accepted earlier in this commit and are in accepted.
	loadedSeq uint64
	accepted  map[uint64]Record

	// startAt is when a funded job starts, if this commit starts it.
	startAt time.Time

	firstSeq uint64

	// firstSecond is the metered second of firstSeq, in Unix seconds.
	firstSecond int64

	price, fee ledger.MilliSatoshi
	rows       []UsageRow

	// sentAt is the latest sent-at time (Unix ms) of the job's batches
	// in this commit that carry one (version 2), 0 for none.
	sentAt int64
}

// commit runs one group commit and answers its requests.
func (in *Ingestor) commit(group []*request) {
	// The commit runs to its end even if Stop is called meanwhile: its
	// callers are waiting for it.
	ctx := context.Background()

	var (
		answers []response
		credits []Credit
	)
	begin := time.Now()
	err := in.store.ExecUsage(ctx, func(tx UsageTx) error {
		// ExecUsage may run this again after a conflict: start over.
		var err error
		answers, credits, err = in.apply(ctx, tx, group)
		return err
	})
	took := time.Since(begin)
	if err != nil {
		log.Errorf("Usage commit of %d batches failed: %v", len(group),
			err)
		in.observe(group, nil, nil, took, err)
		for _, r := range group {
			r.done <- response{err: fmt.Errorf("committing "+
				"usage: %w", err)}
		}

		return
	}

	// OnCommit runs before the callers are answered, so a caller that
	// got its answer knows the hook has already run.
	accepted := false
	for i := range group {
		accepted = accepted ||
			(answers[i].err == nil && answers[i].res.Accepted > 0)
	}
	if accepted && in.cfg.OnCommit != nil {
		in.cfg.OnCommit()
	}
	if len(credits) > 0 && in.cfg.Credited != nil {
		in.cfg.Credited(creditedProviders(credits))
	}
	in.observe(group, answers, credits, took, nil)
	for i, r := range group {
		r.done <- answers[i]
	}
}

// apply validates, rates and writes a group's batches in tx, returning
// each batch's answer and what it credited to providers' payable, one
// Credit per job, in job order. A batch that breaks a rule gets its error
// and writes nothing; an error of the store fails the whole commit.
func (in *Ingestor) apply(ctx context.Context, tx UsageTx,
	group []*request) ([]response, []Credit, error) {

	now := in.cfg.Clock()
	answers := make([]response, len(group))
	jobs := make(map[string]*jobWork)

	// Every job of the commit is read at once.
	ids := make([]string, 0, len(group))
	for _, r := range group {
		ids = append(ids, r.batch.JobID)
	}
	slices.Sort(ids)
	views, err := tx.Jobs(ctx, slices.Compact(ids))
	if err != nil {
		return nil, nil, fmt.Errorf("jobs of %d batches: %w",
			len(group), err)
	}

	for i, r := range group {
		w, err := in.loadJob(jobs, views, r.batch.JobID)
		if errors.Is(err, ErrUnknownJob) {
			answers[i].err = err
			continue
		}
		if err != nil {
			return nil, nil, err
		}

		res, err := in.applyBatch(ctx, tx, w, r, now)
		if err != nil && !isRefusal(err) {
			return nil, nil, err
		}
		if err == nil && r.batch.SentAt > w.sentAt {
			w.sentAt = r.batch.SentAt
		}
		answers[i] = response{res: res, err: err}
	}

	// Writes, in job order so that two commits touch jobs in the same
	// order.
	ids = ids[:0]
	var rows []UsageRow
	for id, w := range jobs {
		if len(w.rows) > 0 {
			ids = append(ids, id)
			rows = append(rows, w.rows...)
		}
	}
	if len(rows) == 0 {
		return answers, nil, nil
	}
	slices.Sort(ids)

	if err := tx.InsertUsage(ctx, rows); err != nil {
		return nil, nil, fmt.Errorf("inserting %d usage records: %w",
			len(rows), err)
	}
	var (
		credits []Credit
		meters  = make([]JobMeter, 0, len(ids))
		charges = make([]Charge, 0, len(ids))
	)
	for _, id := range ids {
		w := jobs[id]
		if w.price > w.fee {
			credits = append(credits, Credit{
				ProviderID: w.view.ProviderID,
				Amount:     w.price - w.fee,
				FirstSecond: time.Unix(w.firstSecond,
					0).UTC(),
			})
		}
		if !w.startAt.IsZero() {
			if err := tx.Start(ctx, id, w.startAt); err != nil {
				return nil, nil, fmt.Errorf("starting job %s: %w", id,
					err)
			}
		}
		meters = append(meters, JobMeter{JobID: id,
			State: w.view.Meter, LastSentAt: w.sentAt})
		last := w.view.Meter.LastSeq
		charges = append(charges, Charge{
			Key: UsageKeyPrefix(id) + fmt.Sprintf("%d-%d",
				w.firstSeq, last),
			JobID:      id,
			ProviderID: w.view.ProviderID,
			FirstSeq:   w.firstSeq,
			LastSeq:    last,
			Price:      w.price,
			Fee:        w.fee,
		})
	}
	// One write of all meters and one of all charges, rather than one
	// of each per job.
	if err := tx.SaveMeters(ctx, meters); err != nil {
		return nil, nil, fmt.Errorf("meter states of %d jobs: %w",
			len(meters), err)
	}
	if err := tx.Charge(ctx, charges); err != nil {
		return nil, nil, fmt.Errorf("charging %d jobs: %w",
			len(charges), err)
	}

	return answers, credits, nil
}

// creditedProviders is the providers of credits, sorted, each once.
func creditedProviders(credits []Credit) []string {
	providers := make([]string, 0, len(credits))
	for _, c := range credits {
		providers = append(providers, c.ProviderID)
	}
	slices.Sort(providers)
	return slices.Compact(providers)
}

// observe tells the observer, if any, what a commit did: answers are the
// batches' answers in group order, nil when the commit failed with err.
func (in *Ingestor) observe(group []*request, answers []response,
	credits []Credit, took time.Duration, err error) {

	if in.cfg.Observer == nil {
		return
	}
	c := Commit{Duration: took, Failed: err != nil, Credits: credits}
	for i, r := range group {
		n := len(r.batch.Records)
		if err != nil {
			c.Batches.Failed++
			c.Records.Failed += n
			continue
		}
		a := answers[i]
		c.Records.Accepted += a.res.Accepted
		c.Records.Duplicate += a.res.Duplicates
		c.Records.Refused += n - a.res.Accepted - a.res.Duplicates
		switch {
		case a.err != nil:
			c.Batches.Refused++
		case a.res.Accepted > 0:
			c.Batches.Accepted++
		default:
			c.Batches.Duplicate++
		}
	}
	in.cfg.Observer.Committed(c)
}

// loadJob returns the job's work, made from its view (read for the whole
// commit) the first time a commit meets it; a job without a view is
// ErrUnknownJob.
func (in *Ingestor) loadJob(jobs map[string]*jobWork,
	views map[string]JobView, id string) (*jobWork, error) {

	if w, ok := jobs[id]; ok {
		return w, nil
	}

	view, ok := views[id]
	if !ok {
		return nil, fmt.Errorf("%w: %s", ErrUnknownJob, id)
	}
	if view.ID != id {
		return nil, fmt.Errorf("job %s: store returned job %s", id,
			view.ID)
	}
	w := &jobWork{
		view:      view,
		loadedSeq: view.Meter.LastSeq,
		accepted:  make(map[uint64]Record),
	}
	jobs[id] = w

	return w, nil
}

// applyBatch validates and rates one batch against its job's work,
// updating the work with what it accepts. Errors that are refusals
// (isRefusal) belong to the batch; others fail the commit.
func (in *Ingestor) applyBatch(ctx context.Context, tx UsageTx, w *jobWork,
	r *request, now time.Time) (Result, error) {

	checked, err := Validate(r.batch, w.view, r.callerID, now,
		in.cfg.Policy)
	if err != nil {
		log.Debugf("Refused usage batch for job %s: %v", r.batch.JobID,
			err)
		return Result{}, err
	}

	if len(checked.Replayed) > 0 {
		if err := in.checkReplay(ctx, tx, w, checked.Replayed); err != nil {
			if errors.Is(err, ErrConflict) {
				log.Warnf("Possible cheat by provider %s: %v",
					w.view.ProviderID, err)
			}
			return Result{}, err
		}
	}

	res := Result{Duplicates: len(checked.Replayed),
		LastSeq: w.view.Meter.LastSeq}
	if len(checked.New) == 0 {
		return res, nil
	}

	st := w.view.Meter
	if st.LastSeq == 0 {
		st.FeeRate = in.cfg.FeeRate
	}
	priced, st, rateErr := RateRecords(w.view.Rates, st, w.view.Escrow,
		checked.New)
	if rateErr != nil && len(priced) == 0 {
		return res, rateErr
	}

	if w.firstSeq == 0 {
		w.firstSeq = priced[0].Seq
		w.firstSecond = priced[0].Second
	}
	if w.view.StartedAt.IsZero() {
		w.startAt = time.Unix(priced[0].Second, 0).UTC()
		w.view.StartedAt = w.startAt
		w.view.Started = w.startAt
		if w.view.State == settlement.StateFunded {
			w.view.State = settlement.StateRunning
		}
	}
	for _, p := range priced {
		res.Price += p.Price
		res.Fee += p.Fee
		w.accepted[p.Seq] = p.Record
		w.rows = append(w.rows, UsageRow{JobID: w.view.ID, Priced: p,
			Batch: r.digest})
	}
	w.view.Meter = st
	w.view.Escrow -= res.Price
	w.price += res.Price
	w.fee += res.Fee

	res.Accepted = len(priced)
	res.LastSeq = st.LastSeq

	return res, rateErr
}

// checkReplay compares replayed records with those accepted before: from
// the store, and from earlier batches of this commit.
func (in *Ingestor) checkReplay(ctx context.Context, tx UsageTx,
	w *jobWork, replayed []Record) error {

	var stored []Record
	if first := replayed[0].Seq; first <= w.loadedSeq {
		last := min(replayed[len(replayed)-1].Seq, w.loadedSeq)
		recs, err := tx.Records(ctx, w.view.ID, first, last)
		if err != nil {
			return fmt.Errorf("job %s: records %d-%d: %w",
				w.view.ID, first, last, err)
		}
		stored = recs
	}

	// Line the stored records up with the replayed ones by seq.
	bySeq := make(map[uint64]Record, len(stored))
	for _, s := range stored {
		bySeq[s.Seq] = s
	}
	want := make([]Record, 0, len(replayed))
	for _, r := range replayed {
		s, ok := bySeq[r.Seq]
		if !ok {
			s, ok = w.accepted[r.Seq]
		}
		if !ok {
			return fmt.Errorf("job %s: seq %d was accepted but is "+
				"not stored", w.view.ID, r.Seq)
		}
		want = append(want, s)
	}

	return CheckReplay(w.view.ID, replayed, want)
}

// isRefusal reports whether err refuses a batch (the caller's fault, or the
// job's) rather than failing the commit it is in. Metering's own refusals
// carry RefusedError (IsRefusal); a corrupt carry or fee rate comes from
// ledger, whose sentinels metering cannot mark, and refuses the job's batch
// too.
func isRefusal(err error) bool {
	return IsRefusal(err) || errors.Is(err, ledger.ErrInvalidCarry) ||
		errors.Is(err, ledger.ErrInvalidBasisPoints)
}
