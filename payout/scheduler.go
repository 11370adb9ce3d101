package payout

import (
	"context"
	"errors"
	"fmt"
	"maps"
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

// DefaultSafetyPoll is how often the scheduler reads the store without
// being woken. Payable that sluiced's own metering credits wakes it (Credited)
// and so does every payout that ends; the slow poll is for payable written
// into the store by something else (an operator's repair, the integration
// tests' ledger writes from their own process), which nothing announces.
const DefaultSafetyPoll = time.Second

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
// change the answer: usage credited to a provider that could be paid now
// (Credited), a payout's end, the plan's next deadline, a policy change
// (Wake) or the slow safety poll.
type Scheduler struct {
	cfg   SchedulerConfig
	exec  *Executor
	wake  chan struct{}
	kick  chan struct{}
	reads atomic.Int64

	mu       sync.Mutex
	started  bool
	cancel   context.CancelFunc
	busy     map[string]bool
	nextDue  map[string]time.Time
	retryAt  map[string]time.Time
	credited map[string]bool

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
	log.Infof("Payout scheduler stopped after %d store reads",
		s.reads.Load())
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
// blocks. A provider with a payout in progress, or whose interval or retry
// time has not passed, costs no store read: its payout's end or its
// deadline wakes the scheduler anyway.
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

	read := true
	var deadline, lastRead time.Time
	for {
		if read {
			lastRead = s.cfg.Clock.Now()
			deadline = s.round(ctx)
			read = false
		}

		// The safety poll counts from the last read, so that wake-ups
		// that read nothing do not put it off.
		now := s.cfg.Clock.Now()
		wait := max(lastRead.Add(s.cfg.SafetyPoll).Sub(now), 0)
		if !deadline.IsZero() {
			wait = min(wait, max(deadline.Sub(now), 0))
		}
		select {
		case <-ctx.Done():
			return

		case <-s.wake:
			read = true

		case <-s.kick:
			var due time.Time
			read, due = s.creditedDue(s.cfg.Clock.Now())
			deadline = earliest(deadline, due)

		case <-s.cfg.Clock.TickAfter(wait):
			read = true
		}
	}
}

// creditedDue takes the providers credited since it was last called and
// says whether one of them could be paid now, which is worth a round, or
// else the earliest time one of them becomes due.
func (s *Scheduler) creditedDue(now time.Time) (bool, time.Time) {
	s.mu.Lock()
	defer s.mu.Unlock()

	var next time.Time
	read := false
	for p := range s.credited {
		delete(s.credited, p)
		if s.busy[p] {
			continue
		}
		due := s.nextDue[p]
		if s.retryAt[p].After(due) {
			due = s.retryAt[p]
		}
		if now.Before(due) {
			next = earliest(next, due)
			continue
		}
		read = true
	}
	return read, next
}

// read takes a snapshot of the store in one read-only transaction.
func (s *Scheduler) read(ctx context.Context) (snapshot, error) {
	s.reads.Add(1)
	snap := snapshot{
		defaults:    s.cfg.Defaults,
		maxInFlight: s.cfg.MaxInFlight,
	}
	err := s.cfg.DB.ExecPayouts(ctx, true, func(tx TxStore) error {
		snap.pending, snap.providers = nil, nil
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
	})
	return snap, err
}

// round reads a snapshot, plans and starts what the plan says. It returns
// the plan's next deadline, zero for none.
func (s *Scheduler) round(ctx context.Context) time.Time {
	snap, err := s.read(ctx)
	if err != nil {
		if ctx.Err() == nil {
			log.Warnf("Payout round: reading the store: %v", err)
		}
		// The safety poll tries again.
		return time.Time{}
	}
	now := s.cfg.Clock.Now()

	s.mu.Lock()
	defer s.mu.Unlock()

	snap.busy = maps.Clone(s.busy)
	snap.nextDue = s.nextDue
	clear(s.retryAt)
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
		s.wg.Add(1)
		if st.resume != "" {
			go s.resume(ctx, st.providerID, st.resume)
			continue
		}
		s.nextDue[st.providerID] = st.nextDue
		go s.pay(ctx, st.candidate, st.policy)
	}
	return d.next
}

// done releases a provider, and its slot, and wakes the loop: the
// provider may have more payable, or a retry time, and the slot may let
// another provider go.
func (s *Scheduler) done(providerID string) {
	s.mu.Lock()
	delete(s.busy, providerID)
	s.mu.Unlock()
	s.Wake()
}

// pay makes one payout to c.
func (s *Scheduler) pay(ctx context.Context, c Candidate, pol Policy) {
	defer s.wg.Done()
	defer s.done(c.ProviderID)

	_, err := s.exec.Pay(ctx, c, pol)
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
	defer s.done(providerID)

	_, err := s.exec.Resume(ctx, id)
	if err != nil && ctx.Err() == nil {
		log.Warnf("Resuming payout %s to provider %s: %v", id,
			providerID, err)
	}
}
