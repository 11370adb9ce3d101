package settlement

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/btcsuite/btcd/chaincfg"
	"github.com/lightningnetwork/lnd/clock"
	"github.com/lightningnetwork/lnd/routing/route"
	"github.com/sluice-ln/sluice/failpoint"
	"github.com/sluice-ln/sluice/ledger"
	"github.com/sluice-ln/sluice/lightning"
)

// Defaults for the Config knobs left at zero.
const (
	// DefaultInvoiceExpiry is how long a funding or top-up invoice may
	// be paid.
	DefaultInvoiceExpiry = time.Hour

	// DefaultSweepInterval is how often expired invoices are resolved,
	// top-up invoices made ready and stalled refunds resumed.
	DefaultSweepInterval = 5 * time.Second

	// DefaultRefundFeeBase and DefaultRefundFeePPM bound a refund's
	// routing fee: base + ppm of the escrow. The fee actually reserved
	// is what the hub's path finding quotes, within that bound.
	DefaultRefundFeeBase = ledger.MilliSatoshi(1000)
	DefaultRefundFeePPM  = 5000

	// DefaultRefundRetry is how long an ended job that still owes its
	// buyer money (its refund found no route or failed, or money came
	// in after it ended) waits before the sweeper refunds it again;
	// the wait doubles with each try up to DefaultMaxRefundRetry.
	DefaultRefundRetry    = 30 * time.Second
	DefaultMaxRefundRetry = 30 * time.Minute

	// resubscribeDelay is the first wait before resubscribing to a
	// broken invoice stream; it doubles up to maxResubscribeDelay.
	resubscribeDelay    = 500 * time.Millisecond
	maxResubscribeDelay = 30 * time.Second

	// settleCursor names the cursor of lnd's invoice settle index.
	settleCursor = "invoice_settle_index"
)

// Settlement's failpoints (package failpoint): an integration test arms one
// with SLUICE_FAILPOINTS and sluiced dies there with SIGKILL, to show that
// what was stored is enough to finish the work after a restart.
const (
	// FailpointBeforeCredit fires when the hub reported an invoice
	// settled, before the escrow is credited and the cursor moved.
	FailpointBeforeCredit = "fund-before-credit"

	// FailpointRefundAfterIntent fires after a refund's intent is
	// committed, before lnd is asked to pay it.
	FailpointRefundAfterIntent = "refund-after-intent"

	// FailpointRefundAfterSuccess fires when lnd reported a refund
	// succeeded, before the store and the ledger record it.
	FailpointRefundAfterSuccess = "refund-after-success-before-ledger"

	// FailpointResultAfterEnd fires when a job's result and the end it
	// brought are committed, before its top-up invoices are canceled
	// and its refund is started.
	FailpointResultAfterEnd = "result-after-end"
)

// Config is what a Manager needs.
type Config struct {
	// DB is the store; Ledger posts to it.
	DB     DB
	Ledger *ledger.Ledger

	// Invoices, Payments and Routes reach the hub's lnd.
	Invoices Invoices
	Payments Payments
	Routes   Routes

	// Providers finds a job's provider and its rate card.
	Providers ProviderLookup

	// Network is the hub's network (regtest, testnet, mainnet, ...):
	// refund invoices must be for it.
	Network string

	// HubNode is the hub's identity key: refunds may not go to it.
	HubNode route.Vertex

	// InvoiceExpiry is how long a funding or top-up invoice may be paid;
	// DefaultInvoiceExpiry when zero.
	InvoiceExpiry time.Duration

	// RefundFeeBase and RefundFeePPM bound a refund's routing fee to
	// base + ppm × escrow / 10⁶; the defaults when both are zero.
	RefundFeeBase ledger.MilliSatoshi
	RefundFeePPM  int64

	// SweepInterval is how often the sweeper runs;
	// DefaultSweepInterval when zero.
	SweepInterval time.Duration

	// RefundRetry and MaxRefundRetry are the first and the longest wait
	// before an ended job that still owes its buyer is refunded again
	// by the sweeper; DefaultRefundRetry and DefaultMaxRefundRetry when
	// zero.
	RefundRetry    time.Duration
	MaxRefundRetry time.Duration

	// Placer places again the jobs the market placed whose provider
	// did not start them within StartTimeout (DefaultStartTimeout when
	// zero), and tells when a provider was last seen, to end its
	// started workload jobs LostAfter (DefaultLostAfter when zero)
	// after its last heartbeat. Nil does neither.
	Placer       Placer
	StartTimeout time.Duration
	LostAfter    time.Duration

	// Clock gives the time and times the sweeper and the invoice
	// stream's resubscriptions; the wall clock when nil.
	Clock clock.Clock

	// Refunds, when set, is told of each refund's outcome (metrics).
	Refunds RefundObserver

	// SendGuard, when set, is asked right before each refund payment
	// leaves (outbound.Driver.Guard): the leader's lease on PostgreSQL.
	SendGuard func() error
}

// Manager runs jobs: it creates them with their funding invoices, credits
// escrow when the hub's invoices settle, keeps each job's state in step
// with its solvency, and refunds what is left when a job ends.
//
// Its API methods may be called before Start; Start runs the background
// work: the invoice watcher, the sweeper and the refunds resumed from an
// earlier run.
type Manager struct {
	cfg    Config
	params *chaincfg.Params

	// mu guards the fields below.
	mu      sync.Mutex
	started bool
	ctx     context.Context
	cancel  context.CancelFunc
	wg      sync.WaitGroup

	// hit fires the refunds' failpoints through the outbound
	// lifecycle: failpoint.Hit; tests put a crash of their own there.
	hit func(name string)

	// refunding holds the payment hashes of refunds a goroutine is
	// sending or tracking now.
	refunding map[string]bool

	// owed holds, for each ended job that still owes its buyer, when the
	// sweeper refunds it next; only the sweeper touches it.
	owed map[string]refundRetry

	// stuck holds the jobs that wait to be placed again with no
	// provider to take them, so that it is logged once; only the
	// sweeper touches it.
	stuck map[string]bool

	// topUpMu makes top-up invoices one at a time, so that two callers
	// never make two for one job.
	topUpMu sync.Mutex

	// kick wakes the sweeper early: a job may need a top-up invoice.
	kick chan struct{}

	// sweepNow asks the sweeper for a round; it closes the channel
	// sent once a round that began after the request has ended. Only
	// tests ask (export_test.go), to wait for a round instead of
	// sleeping.
	sweepNow chan chan struct{}
}

// New checks cfg and returns a Manager.
func New(cfg Config) (*Manager, error) {
	switch {
	case cfg.DB == nil:
		return nil, errors.New("settlement: Config.DB is nil")
	case cfg.Ledger == nil:
		return nil, errors.New("settlement: Config.Ledger is nil")
	case cfg.Invoices == nil:
		return nil, errors.New("settlement: Config.Invoices is nil")
	case cfg.Payments == nil:
		return nil, errors.New("settlement: Config.Payments is nil")
	case cfg.Routes == nil:
		return nil, errors.New("settlement: Config.Routes is nil")
	case cfg.Providers == nil:
		return nil, errors.New("settlement: Config.Providers is nil")
	case cfg.InvoiceExpiry < 0:
		return nil, errors.New("settlement: Config.InvoiceExpiry is " +
			"negative")
	case cfg.RefundFeeBase < 0 || cfg.RefundFeePPM < 0:
		return nil, errors.New("settlement: refund fee bound is " +
			"negative")
	}
	params, err := lightning.ParamsOf(cfg.Network)
	if err != nil {
		return nil, fmt.Errorf("settlement: Config.Network: %w", err)
	}
	if cfg.InvoiceExpiry == 0 {
		cfg.InvoiceExpiry = DefaultInvoiceExpiry
	}
	if cfg.SweepInterval <= 0 {
		cfg.SweepInterval = DefaultSweepInterval
	}
	if cfg.RefundRetry <= 0 {
		cfg.RefundRetry = DefaultRefundRetry
	}
	if cfg.MaxRefundRetry <= 0 {
		cfg.MaxRefundRetry = DefaultMaxRefundRetry
	}
	cfg.MaxRefundRetry = max(cfg.MaxRefundRetry, cfg.RefundRetry)
	if cfg.RefundFeeBase == 0 && cfg.RefundFeePPM == 0 {
		cfg.RefundFeeBase = DefaultRefundFeeBase
		cfg.RefundFeePPM = DefaultRefundFeePPM
	}
	if cfg.StartTimeout <= 0 {
		cfg.StartTimeout = DefaultStartTimeout
	}
	if cfg.LostAfter <= 0 {
		cfg.LostAfter = DefaultLostAfter
	}
	if cfg.Clock == nil {
		cfg.Clock = clock.NewDefaultClock()
	}

	return &Manager{
		stuck:     make(map[string]bool),
		cfg:       cfg,
		params:    params,
		hit:       failpoint.Hit,
		refunding: make(map[string]bool),
		owed:      make(map[string]refundRetry),
		kick:      make(chan struct{}, 1),
		sweepNow:  make(chan chan struct{}),
	}, nil
}

// Start runs the background work until Stop: the invoice watcher (which
// subscribes from the last settle index processed and catches up on the
// open invoices), the sweeper (invoice expiry, top-up invoices, stalled
// refunds) and the refunds left pending by an earlier run.
func (m *Manager) Start() error {
	m.mu.Lock()
	defer m.mu.Unlock()

	if m.started {
		return errors.New("settlement manager already started")
	}
	m.started = true
	m.ctx, m.cancel = context.WithCancel(context.Background())

	m.wg.Add(2)
	go m.watchInvoices(m.ctx)
	go m.sweep(m.ctx)

	log.Infof("Settlement started (invoice expiry %v, sweep every %v)",
		m.cfg.InvoiceExpiry, m.cfg.SweepInterval)

	return nil
}

// Stop ends the background work and waits for it. Refunds in flight stay
// pending in the store and are resumed by the next Start.
func (m *Manager) Stop() {
	m.mu.Lock()
	cancel := m.cancel
	m.mu.Unlock()
	if cancel == nil {
		return
	}
	cancel()
	m.wg.Wait()
	log.Infof("Settlement stopped")
}

// spawn runs fn in a goroutine that Stop waits for; false when the manager is
// not running.
func (m *Manager) spawn(fn func(ctx context.Context)) bool {
	m.mu.Lock()
	defer m.mu.Unlock()

	if m.ctx == nil || m.ctx.Err() != nil {
		return false
	}
	m.wg.Add(1)
	go func(ctx context.Context) {
		defer m.wg.Done()
		fn(ctx)
	}(m.ctx)
	return true
}

// wake asks the sweeper to run soon.
func (m *Manager) wake() {
	select {
	case m.kick <- struct{}{}:
	default:
	}
}

// now is the clock's time in UTC, to the microsecond, as the store keeps
// it.
func (m *Manager) now() time.Time {
	return m.cfg.Clock.Now().UTC().Truncate(time.Microsecond)
}

// execTx runs fn in a store transaction.
func (m *Manager) execTx(ctx context.Context, readOnly bool,
	fn func(tx TxStore) error) error {

	return m.cfg.DB.ExecSettlement(ctx, readOnly, fn)
}

// randomID returns prefix followed by n random bytes in hex.
func randomID(prefix string, n int) (string, error) {
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		return "", fmt.Errorf("random id: %w", err)
	}
	return prefix + hex.EncodeToString(b), nil
}

// Buyer is someone the operator allowed to create jobs.
type Buyer struct {
	ID        string
	Name      string
	CreatedAt time.Time
}

// maxBuyerName bounds a buyer's name.
const maxBuyerName = 64

// AddBuyer records a new buyer with a fresh id; the operator then bakes a
// buyer macaroon bound to that id. A name taken already gives
// ErrBuyerExists; a name that is empty, longer than 64 characters or has
// characters other than [A-Za-z0-9._-] gives ErrInvalidBuyer.
func (m *Manager) AddBuyer(ctx context.Context, name string) (Buyer, error) {
	if err := checkBuyerName(name); err != nil {
		return Buyer{}, err
	}
	id, err := randomID("buyer-", 8)
	if err != nil {
		return Buyer{}, err
	}
	b := Buyer{ID: id, Name: name, CreatedAt: m.now()}
	err = m.execTx(ctx, false, func(tx TxStore) error {
		return tx.InsertBuyer(ctx, b)
	})
	switch {
	case errors.Is(err, ErrBuyerExists):
		return Buyer{}, fmt.Errorf("%w: %q", ErrBuyerExists, name)
	case err != nil:
		return Buyer{}, fmt.Errorf("add buyer %q: %w", name, err)
	}
	log.Infof("Added buyer %s (%s)", b.ID, name)
	return b, nil
}

// checkBuyerName accepts 1 to 64 characters of [A-Za-z0-9._-].
func checkBuyerName(name string) error {
	if name == "" || len(name) > maxBuyerName {
		return fmt.Errorf("%w: name must be 1 to %d characters, got "+
			"%d", ErrInvalidBuyer, maxBuyerName, len(name))
	}
	for _, r := range name {
		ok := r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' ||
			r >= '0' && r <= '9' || r == '-' || r == '_' || r == '.'
		if !ok {
			return fmt.Errorf("%w: name %q has %q; use letters, "+
				"digits, '.', '-' and '_'", ErrInvalidBuyer,
				name, r)
		}
	}
	return nil
}

// Buyers returns every buyer, oldest first.
func (m *Manager) Buyers(ctx context.Context) ([]Buyer, error) {
	var out []Buyer
	err := m.execTx(ctx, true, func(tx TxStore) error {
		var err error
		out, err = tx.Buyers(ctx)
		return err
	})
	return out, err
}

// transition moves job to state to for cause, recording the event, after
// checking the state machine allows it. job is updated in place.
func (m *Manager) transition(ctx context.Context, tx TxStore, job *StoredJob,
	to State, cause Cause, detail string) error {

	return m.transitionAt(ctx, tx, job, to, cause, detail, time.Time{})
}

// transitionAt is transition with the start time of a job the agent
// started given (zero: now).
func (m *Manager) transitionAt(ctx context.Context, tx TxStore,
	job *StoredJob, to State, cause Cause, detail string,
	startedAt time.Time) error {

	from := job.State
	if err := CheckTransition(from, to, cause); err != nil {
		var te *TransitionError
		if errors.As(err, &te) {
			te.JobID = job.ID
		}
		return err
	}

	at := m.now()
	upd := StateChange{ID: job.ID, From: job.State, To: to, At: at}
	if cause == CauseAgentStarted && job.StartedAt.IsZero() {
		upd.StartedAt = at
		if !startedAt.IsZero() {
			upd.StartedAt = startedAt.UTC().Truncate(
				time.Microsecond)
		}
	}
	if to.Terminal() {
		upd.EndedAt = at
	}
	if err := tx.UpdateJobState(ctx, upd); err != nil {
		return err
	}
	err := tx.InsertJobEvent(ctx, StoredEvent{
		JobID: job.ID, From: job.State, To: to, Cause: cause,
		Detail: detail, At: at,
	})
	if err != nil {
		return err
	}

	job.State, job.UpdatedAt = to, at
	if !upd.StartedAt.IsZero() {
		job.StartedAt = upd.StartedAt
	}
	if !upd.EndedAt.IsZero() {
		job.EndedAt = at
	}
	log.Infof("Job %s: %s → %s (%s) %s", job.ID, from, to, cause, detail)

	return nil
}

// evaluate recomputes a funded job's solvency from its escrow in tx and
// moves it to the state solvency asks for. It returns the solvency.
func (m *Manager) evaluate(ctx context.Context, tx TxStore,
	job *StoredJob) (Solvency, error) {

	return m.evaluateBy(ctx, tx, job, "")
}

// evaluateBy is evaluate with lift, when not empty, as the cause of a
// move up to funded: a job placed again at a lower price is lifted by its
// placement, not by a top-up.
func (m *Manager) evaluateBy(ctx context.Context, tx TxStore,
	job *StoredJob, lift Cause) (Solvency, error) {

	price, err := parsePrice(job.PricePerSecond)
	if err != nil {
		return Solvency{}, fmt.Errorf("job %s: %w", job.ID, err)
	}
	escrow, err := tx.Balance(ctx, ledger.BuyerEscrow(job.ID))
	if err != nil {
		return Solvency{}, err
	}
	s := Evaluate(escrow, price, job.BufferSeconds)

	from := job.State
	if !from.Funded() {
		return s, nil
	}
	to := TargetState(s.Health, !job.StartedAt.IsZero())
	if to == from {
		return s, nil
	}
	detail := fmt.Sprintf("escrow %d msat, runway %s s, buffer %d s",
		escrow, s.Runway.StringFixed(3), job.BufferSeconds)
	cause := solvencyCause(from, to)
	if lift != "" && to == StateFunded {
		cause = lift
	}
	if err := m.transition(ctx, tx, job, to, cause,
		detail); err != nil {

		return Solvency{}, err
	}
	if to == StateLowBalance || to == StateSuspended {
		m.wake()
	}
	return s, nil
}
