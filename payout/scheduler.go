package payout

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/lightningnetwork/lnd/clock"
	"github.com/sluice-ln/sluice/ledger"
)

// Defaults of the operator's payout policy and limits (daemon's
// --payout.* options).
const (
	// DefaultInterval is how often a provider's payable is paid.
	DefaultInterval = time.Second

	// DefaultMinimum is the smallest payout: one satoshi.
	DefaultMinimum = ledger.MilliSatoshi(1_000)

	// DefaultFeeFloor is the least fee cap: one satoshi, lnd's default
	// base fee for one hop.
	DefaultFeeFloor = ledger.MilliSatoshi(1_000)

	// DefaultFeePPM is the fee cap's share of the amount: 0.5 %.
	DefaultFeePPM = 5_000

	// DefaultFeePayer is who bears routing fees by default.
	DefaultFeePayer = FeePayerProvider

	// DefaultMaxInFlight caps concurrent payouts across providers. Each
	// is one HTLC on the hub's channel to its provider, and lnd accepts
	// at most 483 per channel direction; the cap stays well below, and
	// near where lnd's own keysend throughput stops growing on the local
	// network (docs/devnet.md).
	DefaultMaxInFlight = 32

	// MaxHTLCSlots is lnd's max_accepted_htlcs: the most HTLCs one
	// channel carries in one direction. MaxInFlight may not exceed it.
	MaxHTLCSlots = 483
)

// DefaultPolicy is the payout policy of a provider without overrides,
// unless the operator configures other defaults.
func DefaultPolicy() Policy {
	return Policy{
		Interval: DefaultInterval,
		Minimum:  DefaultMinimum,
		FeeFloor: DefaultFeeFloor,
		FeePPM:   DefaultFeePPM,
		FeePayer: DefaultFeePayer,
	}
}

// DefaultSafetyPoll is how often the scheduler reads every provider
// without being woken. Payable that sluiced's own metering credits wakes
// it (Credited), and every payout that ends has its provider looked at
// again when its interval ends; the slow poll is for payable written into
// the store by something else (an operator's repair, the integration
// tests' ledger writes from their own process), which nothing announces.
const DefaultSafetyPoll = time.Second

// readRetry is how long a provider whose read failed waits before it is
// read again, unless the safety poll comes first.
const readRetry = time.Second

// SchedulerConfig is what a Scheduler works with.
type SchedulerConfig struct {
	// Defaults is the policy of providers without overrides, and the
	// base the overrides change.
	Defaults Policy

	// MaxInFlight caps concurrent payouts across all providers,
	// 1..MaxHTLCSlots; DefaultMaxInFlight when zero.
	MaxInFlight int

	// SafetyPoll is the longest the scheduler sleeps without reading
	// the store; DefaultSafetyPoll when zero.
	SafetyPoll time.Duration

	// DB runs the scheduler's reads and the policy updates.
	DB DB

	// Executor makes the payouts.
	Executor *Executor

	// Clock gives the time and the timers; the wall clock when nil.
	Clock clock.Clock
}

// Scheduler decides when each provider is paid: per provider, its payable
// (one account, netted across its jobs) is paid when its policy's interval
// has passed and the amount reaches the minimum, at most one payout in
// flight per provider and MaxInFlight in all. It resumes every pending
// payout on start and whenever one is left pending by an error.
//
// The decisions are plan's, a pure function of a snapshot; the loop reads
// the snapshot, starts what plan says and sleeps until something could
// change the answer. What a read costs follows what woke it, so that a
// payout costs the store a few rows however many providers there are:
// the start, a policy change (Wake) and the slow safety poll read every
// provider; usage credited to a provider that could be paid now
// (Credited), a provider's interval or retry time ending (a payout's end
// is such a deadline: its provider is due again when its interval ends)
// and a freed slot when providers were left waiting for one read only
// those providers.
type Scheduler struct {
	cfg       SchedulerConfig
	exec      *Executor
	wake      chan struct{}
	kick      chan struct{}
	reads     atomic.Int64
	fullReads atomic.Int64

	mu       sync.Mutex
	started  bool
	cancel   context.CancelFunc
	busy     map[string]bool
	nextDue  map[string]time.Time
	retryAt  map[string]time.Time
	credited map[string]bool

	// watch holds the providers to read again when their interval or
	// retry time ends.
	watch deadlines

	// waiting are the providers the plans left waiting for a slot,
	// first come first; queued is their set, and a provider taken out
	// of it (started) is passed over in waiting.
	waiting []string
	queued  map[string]bool

	// unsure are the providers whose last payout in this process ended
	// in an error, so that it may be left pending: a read of a few
	// providers looks for the pending payouts of those alone (the
	// reads of every provider find every one).
	unsure map[string]bool

	wg sync.WaitGroup
}

// NewScheduler checks cfg and returns a scheduler ready to Start.
func NewScheduler(cfg SchedulerConfig) (*Scheduler, error) {
	if err := cfg.Defaults.Validate(); err != nil {
		return nil, fmt.Errorf("%w: defaults: %w", ErrInvalidConfig,
			err)
	}
	if cfg.MaxInFlight == 0 {
		cfg.MaxInFlight = DefaultMaxInFlight
	}
	if cfg.SafetyPoll == 0 {
		cfg.SafetyPoll = DefaultSafetyPoll
	}
	switch {
	case cfg.MaxInFlight < 1 || cfg.MaxInFlight > MaxHTLCSlots:
		return nil, fmt.Errorf("%w: max in flight %d is not in 1..%d",
			ErrInvalidConfig, cfg.MaxInFlight, MaxHTLCSlots)
	case cfg.SafetyPoll < 0:
		return nil, fmt.Errorf("%w: safety poll %v is negative",
			ErrInvalidConfig, cfg.SafetyPoll)
	case cfg.DB == nil:
		return nil, fmt.Errorf("%w: DB is nil", ErrInvalidConfig)
	case cfg.Executor == nil:
		return nil, fmt.Errorf("%w: Executor is nil", ErrInvalidConfig)
	}
	if cfg.Clock == nil {
		cfg.Clock = clock.NewDefaultClock()
	}

	return &Scheduler{
		cfg:      cfg,
		exec:     cfg.Executor,
		wake:     make(chan struct{}, 1),
		kick:     make(chan struct{}, 1),
		busy:     make(map[string]bool),
		nextDue:  make(map[string]time.Time),
		retryAt:  make(map[string]time.Time),
		credited: make(map[string]bool),
		watch:    newDeadlines(),
		queued:   make(map[string]bool),
		unsure:   make(map[string]bool),
	}, nil
}

// Start runs the scheduler until Stop. Its first round resumes every
// pending payout.
func (s *Scheduler) Start() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.started {
		return ErrAlreadyStarted
	}
	s.started = true

	ctx, cancel := context.WithCancel(context.Background())
	s.cancel = cancel
	s.wg.Add(1)
	go s.run(ctx)

	log.Infof("Payout scheduler started: every %v, minimum %v, fee cap "+
		"max(%v, %d ppm) borne by the %s, at most %d in flight",
		s.cfg.Defaults.Interval, s.cfg.Defaults.Minimum,
		s.cfg.Defaults.FeeFloor, s.cfg.Defaults.FeePPM,
		s.cfg.Defaults.FeePayer, s.cfg.MaxInFlight)
	return nil
}

// Stop ends the scheduling rounds and every payout in progress and waits
// for them. A payout stopped before its outcome was recorded stays
// pending in the store and is resumed at the next start; lnd goes on with
// it meanwhile.
func (s *Scheduler) Stop() {
	s.mu.Lock()
	cancel := s.cancel
	s.mu.Unlock()
	if cancel == nil {
		return
	}
	cancel()
	s.wg.Wait()
	log.Infof("Payout scheduler stopped after %d store reads, %d of "+
		"them of every provider", s.reads.Load(), s.fullReads.Load())
}

// Wake asks for a scheduling round now: something may have changed that
// the scheduler cannot see on its own, such as a provider's policy.
func (s *Scheduler) Wake() {
	select {
	case s.wake <- struct{}{}:
	default:
	}
}

// Credited tells the scheduler that a commit raised the payable of the
// providers: metering calls it after each durable group commit. It never
// blocks. A provider that could be paid now costs a read of that provider
// alone; one with a payout in progress, or whose interval or retry time
// has not passed, costs none now: it is read when its deadline passes.
func (s *Scheduler) Credited(providers ...string) {
	if len(providers) == 0 {
		return
	}
	s.mu.Lock()
	for _, p := range providers {
		s.credited[p] = true
	}
	s.mu.Unlock()
	select {
	case s.kick <- struct{}{}:
	default:
	}
}

// run is the scheduling loop.
func (s *Scheduler) run(ctx context.Context) {
	defer s.wg.Done()

	full := true
	var lastFull time.Time
	for {
		if full {
			// The read of every provider covers what is due.
			now := s.cfg.Clock.Now()
			s.due(now)
			lastFull = now
			s.round(ctx, nil)
			full = false
		}
		// Rounds of the providers that are due, until none is: a
		// round that leaves a slot free lets the next provider
		// waiting for one go.
		for ctx.Err() == nil {
			ids := s.due(s.cfg.Clock.Now())
			if len(ids) == 0 {
				break
			}
			s.round(ctx, ids)
		}

		// The safety poll counts from the last read of every
		// provider: reads of a few do not put it off.
		now := s.cfg.Clock.Now()
		poll := lastFull.Add(s.cfg.SafetyPoll)
		wait := max(poll.Sub(now), 0)
		if next := s.nextDeadline(); !next.IsZero() {
			wait = min(wait, max(next.Sub(now), 0))
		}
		select {
		case <-ctx.Done():
			return

		case <-s.wake:
			full = true

		case <-s.kick:
			// Credits, a payout's end: due says what to read.

		case <-s.cfg.Clock.TickAfter(wait):
			full = !s.cfg.Clock.Now().Before(poll)
		}
	}
}

// due returns, in id order, the providers worth reading at now, as many
// as there are free slots: first those the plans left waiting for a slot,
// then those credited since it was last called that could be paid now and
// those whose deadline has passed. What could be paid now but finds no
// slot is queued for one, unread: a payout's end reads it. A credited
// provider that is not due yet is watched until it is; one with a payout
// in progress is left to its payout's end.
func (s *Scheduler) due(now time.Time) []string {
	s.mu.Lock()
	defer s.mu.Unlock()

	free := s.cfg.MaxInFlight - len(s.busy)
	ids := make(map[string]bool)
	for len(ids) < free && len(s.waiting) > 0 {
		p := s.waiting[0]
		s.waiting = s.waiting[1:]
		if !s.queued[p] {
			// Started meanwhile.
			continue
		}
		delete(s.queued, p)
		if !s.busy[p] {
			ids[p] = true
		}
	}

	// consider reads p, which may be paid now, while a slot is free,
	// and else queues it for one.
	consider := func(p string) {
		switch {
		case s.busy[p], ids[p], s.queued[p]:
		case len(ids) < free:
			ids[p] = true
		default:
			s.queue(p)
		}
	}
	for p := range s.credited {
		delete(s.credited, p)
		if s.busy[p] {
			continue
		}
		at := dueAt(s.nextDue[p], s.retryAt[p])
		if now.Before(at) {
			s.watch.set(p, at)
			continue
		}
		consider(p)
	}
	for _, p := range s.watch.popDue(now) {
		consider(p)
	}
	return slices.Sorted(maps.Keys(ids))
}

// queue puts p last of the providers waiting for a slot, unless it waits
// already. The caller holds s.mu.
func (s *Scheduler) queue(p string) {
	if !s.queued[p] {
		s.queued[p] = true
		s.waiting = append(s.waiting, p)
	}
}

// nextDeadline is the earliest time a watched provider is due; zero for
// none.
func (s *Scheduler) nextDeadline() time.Time {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.watch.next()
}

// read takes a snapshot of the store in one read-only transaction: of
// every provider when ids is nil, else of those providers alone.
func (s *Scheduler) read(ctx context.Context, ids []string) (snapshot,
	error) {

	s.reads.Add(1)
	if ids == nil {
		s.fullReads.Add(1)
	}
	snap := snapshot{
		defaults:    s.cfg.Defaults,
		maxInFlight: s.cfg.MaxInFlight,
	}
	unsure := make(map[string]bool)
	s.mu.Lock()
	for _, p := range ids {
		if s.unsure[p] {
			unsure[p] = true
		}
	}
	s.mu.Unlock()
	err := s.cfg.DB.ExecPayouts(ctx, true, func(tx TxStore) error {
		snap.pending, snap.providers = nil, nil
		if ids == nil {
			return readAll(ctx, tx, &snap)
		}
		return readSome(ctx, tx, ids, unsure, &snap)
	})
	return snap, err
}

// readAll reads every pending payout and every provider with payable into
// snap.
func readAll(ctx context.Context, tx TxStore, snap *snapshot) error {
	pending, err := tx.PendingPayouts(ctx)
	if err != nil {
		return err
	}
	for _, p := range pending {
		snap.pending = append(snap.pending,
			pendingPayout{id: p.ID, providerID: p.ProviderID})
	}
	candidates, err := tx.PayoutCandidates(ctx)
	if err != nil {
		return err
	}
	overrides, err := tx.PayoutPolicies(ctx)
	if err != nil {
		return err
	}
	statuses, err := tx.PayoutStatuses(ctx)
	if err != nil {
		return err
	}
	for _, c := range candidates {
		ps := providerState{id: c.ProviderID,
			node: c.NodePubkey, payable: c.Payable}
		if o, ok := overrides[c.ProviderID]; ok {
			ps.override = &o
		}
		if st, ok := statuses[c.ProviderID]; ok {
			ps.retryAt = st.RetryAt
		}
		snap.providers = append(snap.providers, ps)
	}
	return nil
}

// readSome reads the payable, override and retry time of each provider
// of ids (in id order) into snap, and the pending payout of those of them
// that are unsure: a point query or two a provider, whatever the number
// of the others.
func readSome(ctx context.Context, tx TxStore, ids []string,
	unsure map[string]bool, snap *snapshot) error {

	for _, id := range ids {
		if unsure[id] {
			p, ok, err := tx.ProviderPendingPayout(ctx, id)
			if err != nil {
				return fmt.Errorf("pending payout of %s: %w",
					id, err)
			}
			if ok {
				snap.pending = append(snap.pending,
					pendingPayout{id: p.ID, providerID: id})
			}
		}

		c, ok, err := tx.PayoutCandidateState(ctx, id)
		if err != nil {
			return fmt.Errorf("payable of %s: %w", id, err)
		}
		if !ok {
			continue
		}
		snap.providers = append(snap.providers, providerState{
			id: c.ProviderID, node: c.NodePubkey,
			payable: c.Payable, override: c.Override,
			retryAt: c.RetryAt,
		})
	}
	return nil
}

// round reads a snapshot, of every provider when ids is nil and else of
// those providers, plans and starts what the plan says; it watches the
// providers the plan found waiting for a deadline and queues those it
// found waiting for a slot. It returns the plan's next deadline, zero for
// none.
func (s *Scheduler) round(ctx context.Context, ids []string) time.Time {
	snap, err := s.read(ctx, ids)
	if err != nil {
		if ctx.Err() == nil {
			log.Warnf("Payout round: reading the store: %v", err)
		}
		if ids == nil {
			// The safety poll tries again.
			return time.Time{}
		}
		// The providers are read again soon, or at the safety poll.
		at := s.cfg.Clock.Now().Add(min(readRetry, s.cfg.SafetyPoll))
		s.mu.Lock()
		for _, p := range ids {
			s.watch.set(p, at)
		}
		s.mu.Unlock()
		return time.Time{}
	}
	now := s.cfg.Clock.Now()

	s.mu.Lock()
	defer s.mu.Unlock()

	snap.busy = maps.Clone(s.busy)
	snap.nextDue = s.nextDue
	// What was read replaces what was known of the providers read: their
	// retry times, and whether they have a pending payout (an unsure
	// provider stays so until its pending payout is resumed).
	if ids == nil {
		clear(s.retryAt)
		clear(s.unsure)
	}
	for _, p := range ids {
		delete(s.retryAt, p)
		delete(s.unsure, p)
	}
	for _, p := range snap.pending {
		s.unsure[p.providerID] = true
	}
	for _, p := range snap.providers {
		if !p.retryAt.IsZero() {
			s.retryAt[p.id] = p.retryAt
		}
	}

	d := plan(snap, now)
	for _, sk := range d.skipped {
		log.Warnf("Provider %s: %v", sk.providerID, sk.err)
	}
	for _, st := range d.starts {
		s.busy[st.providerID] = true
		s.watch.remove(st.providerID)
		delete(s.queued, st.providerID)
		s.wg.Add(1)
		if st.resume != "" {
			go s.resume(ctx, st.providerID, st.resume)
			continue
		}
		s.nextDue[st.providerID] = st.nextDue
		go s.pay(ctx, st.candidate, st.policy)
	}
	for _, p := range d.waiting {
		s.queue(p)
	}
	for _, l := range d.later {
		s.watch.set(l.providerID, l.at)
	}
	return d.next
}

// done releases a provider, and its slot, and tells the loop. The
// provider is due again when its interval ends (at once after a resume,
// which was not its turn): it may have more payable, or a retry time, and
// is read then, alone; with its pending payout too when its payout ended
// in an error (failed). The slot goes to a provider left waiting for one,
// if any; else it costs no read.
func (s *Scheduler) done(providerID string, failed bool) {
	s.mu.Lock()
	delete(s.busy, providerID)
	if failed {
		s.unsure[providerID] = true
	} else {
		delete(s.unsure, providerID)
	}
	s.watch.set(providerID, dueAt(s.nextDue[providerID],
		s.retryAt[providerID]))
	s.mu.Unlock()
	select {
	case s.kick <- struct{}{}:
	default:
	}
}

// pay makes one payout to c.
func (s *Scheduler) pay(ctx context.Context, c Candidate, pol Policy) {
	defer s.wg.Done()
	var err error
	defer func() { s.done(c.ProviderID, err != nil) }()

	_, err = s.exec.Pay(ctx, c, pol)
	switch {
	case err == nil, ctx.Err() != nil:

	case errors.Is(err, ErrNothingToPay),
		errors.Is(err, ErrProviderBusy),
		errors.Is(err, ErrRouteBlocked):

		log.Debugf("No payout to provider %s: %v", c.ProviderID, err)

	default:
		log.Warnf("Payout to provider %s: %v", c.ProviderID, err)
	}
}

// resume finishes a pending payout.
func (s *Scheduler) resume(ctx context.Context, providerID, id string) {
	defer s.wg.Done()
	var err error
	defer func() { s.done(providerID, err != nil) }()

	_, err = s.exec.Resume(ctx, id)
	if err != nil && ctx.Err() == nil {
		log.Warnf("Resuming payout %s to provider %s: %v", id,
			providerID, err)
	}
}
