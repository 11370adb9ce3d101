package payout

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/lightningnetwork/lnd/routing/route"
	"github.com/sluice-ln/sluice/ledger"
	"github.com/sluice-ln/sluice/store"
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

// minWait is the shortest sleep between two scheduling rounds.
const minWait = time.Millisecond

// SchedulerConfig is what a Scheduler works with.
type SchedulerConfig struct {
	// Defaults is the policy of providers without overrides, and the
	// base the overrides change; its Interval is also how often the
	// scheduler looks for payable.
	Defaults Policy

	// MaxInFlight caps concurrent payouts across all providers,
	// 1..MaxHTLCSlots; DefaultMaxInFlight when zero.
	MaxInFlight int

	// DB runs the scheduler's reads and the policy updates.
	DB DB

	// Executor makes the payouts.
	Executor *Executor

	// Clock gives the time; time.Now when nil.
	Clock func() time.Time
}

// Scheduler decides when each provider is paid: per provider, its payable
// (one account, netted across its jobs) is paid when its policy's interval
// has passed and the amount reaches the minimum, at most one payout in
// flight per provider and MaxInFlight in all. It resumes every pending
// payout on start and whenever one is left pending by an error.
type Scheduler struct {
	cfg   SchedulerConfig
	exec  *Executor
	slots chan struct{}
	wake  chan struct{}

	mu      sync.Mutex
	started bool
	cancel  context.CancelFunc
	busy    map[string]bool
	nextDue map[string]time.Time

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
	switch {
	case cfg.MaxInFlight < 1 || cfg.MaxInFlight > MaxHTLCSlots:
		return nil, fmt.Errorf("%w: max in flight %d is not in 1..%d",
			ErrInvalidConfig, cfg.MaxInFlight, MaxHTLCSlots)
	case cfg.DB == nil:
		return nil, fmt.Errorf("%w: DB is nil", ErrInvalidConfig)
	case cfg.Executor == nil:
		return nil, fmt.Errorf("%w: Executor is nil", ErrInvalidConfig)
	}
	if cfg.Clock == nil {
		cfg.Clock = time.Now
	}

	return &Scheduler{
		cfg:     cfg,
		exec:    cfg.Executor,
		slots:   make(chan struct{}, cfg.MaxInFlight),
		wake:    make(chan struct{}, 1),
		busy:    make(map[string]bool),
		nextDue: make(map[string]time.Time),
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
	log.Infof("Payout scheduler stopped")
}

// Wake asks for a scheduling round now, for example after usage raised a
// provider's payable; without it the next round comes within the default
// interval.
func (s *Scheduler) Wake() {
	select {
	case s.wake <- struct{}{}:
	default:
	}
}

// run is the scheduling loop.
func (s *Scheduler) run(ctx context.Context) {
	defer s.wg.Done()

	for {
		wait := s.round(ctx)
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return
		case <-s.wake:
		case <-t.C:
		}
		t.Stop()
	}
}

// snapshot is what one scheduling round reads.
type snapshot struct {
	pending    []store.Payout
	candidates []store.PayoutCandidate
	overrides  map[string]store.PayoutPolicy
	statuses   map[string]store.PayoutStatus
}

// read takes a snapshot in one read-only transaction.
func (s *Scheduler) read(ctx context.Context) (snapshot, error) {
	var snap snapshot
	err := s.cfg.DB.ExecTx(ctx, store.TxOptions{ReadOnly: true},
		func(tx *store.Tx) error {
			var err error
			snap.pending, err = tx.PendingPayouts(ctx)
			if err != nil {
				return err
			}
			snap.candidates, err = tx.PayoutCandidates(ctx)
			if err != nil {
				return err
			}
			snap.overrides, err = tx.PayoutPolicies(ctx)
			if err != nil {
				return err
			}
			snap.statuses, err = tx.PayoutStatuses(ctx)
			return err
		})
	return snap, err
}

// round starts whatever is due: first the pending payouts nobody works on,
// then a payout for each provider whose interval has passed, whose backoff
// is over and whose payable makes one. It returns how long to sleep
// before the next round.
func (s *Scheduler) round(ctx context.Context) time.Duration {
	poll := s.cfg.Defaults.Interval
	snap, err := s.read(ctx)
	if err != nil {
		if ctx.Err() == nil {
			log.Warnf("Payout round: reading the store: %v", err)
		}
		return poll
	}

	now := s.cfg.Clock()
	next := now.Add(poll)

	s.mu.Lock()
	defer s.mu.Unlock()

	for _, sp := range snap.pending {
		if s.busy[sp.ProviderID] {
			continue
		}
		if !s.acquire() {
			return poll
		}
		s.busy[sp.ProviderID] = true
		s.wg.Add(1)
		go s.resume(ctx, sp.ProviderID, sp.ID)
	}

	for _, c := range snap.candidates {
		if s.busy[c.ProviderID] {
			continue
		}
		pol := s.cfg.Defaults
		if o, ok := snap.overrides[c.ProviderID]; ok {
			pol = pol.Apply(overrideFromStore(o))
		}
		if err := pol.Validate(); err != nil {
			log.Warnf("Provider %s: payout policy: %v",
				c.ProviderID, err)
			continue
		}

		due := s.nextDue[c.ProviderID]
		if st, ok := snap.statuses[c.ProviderID]; ok &&
			st.RetryAt.After(due) {

			due = st.RetryAt
		}
		if now.Before(due) {
			if due.Before(next) {
				next = due
			}
			continue
		}
		// Whether fees apply depends on the route, which the
		// executor checks; here only what could not be paid even
		// without fees waits.
		if _, ok := pol.zeroFee().Plan(c.Payable, 0, 0); !ok {
			continue
		}

		node, err := route.NewVertexFromStr(c.NodePubkey)
		if err != nil {
			log.Errorf("Provider %s: node key %q: %v", c.ProviderID,
				c.NodePubkey, err)
			continue
		}
		if !s.acquire() {
			// Every slot is taken; a payout that ends wakes
			// the loop.
			return poll
		}
		s.busy[c.ProviderID] = true
		due = now.Add(pol.Interval)
		s.nextDue[c.ProviderID] = due
		if due.Before(next) {
			next = due
		}
		s.wg.Add(1)
		go s.pay(ctx, Candidate{
			ProviderID: c.ProviderID,
			Node:       node,
			Payable:    c.Payable,
		}, pol)
	}

	return max(next.Sub(now), minWait)
}

// acquire takes a global slot if one is free.
func (s *Scheduler) acquire() bool {
	select {
	case s.slots <- struct{}{}:
		return true
	default:
		return false
	}
}

// done releases a provider and its slot and wakes the loop.
func (s *Scheduler) done(providerID string) {
	s.mu.Lock()
	delete(s.busy, providerID)
	s.mu.Unlock()
	<-s.slots
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
