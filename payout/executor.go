package payout

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/lightningnetwork/lnd/clock"
	"github.com/lightningnetwork/lnd/lnwire"
	"github.com/lightningnetwork/lnd/routing/route"
	"github.com/sluice-ln/sluice/failpoint"
	"github.com/sluice-ln/sluice/ledger"
	"github.com/sluice-ln/sluice/lightning"
	"github.com/sluice-ln/sluice/outbound"
)

// The executor's failpoints (package failpoint; docs/payouts.md): an
// integration test arms one with SLUICE_FAILPOINTS and sluiced dies there
// with SIGKILL.
const (
	// FailpointAfterIntent fires after a payout's intent and its
	// payable → in-flight move are committed, before lnd is asked.
	FailpointAfterIntent = "payout-after-intent"

	// FailpointAfterSend fires once lnd has recorded the payment
	// (SendPaymentV2's first update), before its outcome is known.
	FailpointAfterSend = "payout-after-send"

	// FailpointAfterSuccess fires when lnd has reported the payment
	// succeeded, before the ledger records it.
	FailpointAfterSuccess = "payout-after-success-before-ledger"
)

// Defaults of ExecutorConfig.
const (
	// DefaultPaymentTimeout bounds how long lnd tries routes for one
	// payout.
	DefaultPaymentTimeout = 60 * time.Second

	// DefaultBlockedRetry is how long a provider whose route cannot carry
	// its payout waits before the route is checked again.
	DefaultBlockedRetry = 30 * time.Second

	// DefaultMaxBackoff caps the wait after payouts that failed in a row.
	DefaultMaxBackoff = 5 * time.Minute
)

// maxRouteProbes bounds the route queries that look for an amount a
// route can carry once the whole payable was refused.
const maxRouteProbes = 6

// ExecutorConfig is what an Executor works with.
type ExecutorConfig struct {
	// DB runs the store transactions.
	DB DB

	// Ledger posts inside them.
	Ledger *ledger.Ledger

	// Payments sends and tracks keysends through the hub's lnd.
	Payments Payments

	// Routes checks that the hub can carry a payout.
	Routes Routes

	// PaymentTimeout bounds lnd's attempts for one payout;
	// DefaultPaymentTimeout when zero.
	PaymentTimeout time.Duration

	// BlockedRetry is the wait before checking again a route that
	// could not carry a payout; DefaultBlockedRetry when zero.
	BlockedRetry time.Duration

	// MaxBackoff caps the wait after failed payouts; DefaultMaxBackoff
	// when zero.
	MaxBackoff time.Duration

	// Clock gives the time and times the waits on an unknown outcome;
	// the wall clock when nil.
	Clock clock.Clock

	// Observer, when set, is told of each payout written, resumed and
	// resolved (metrics).
	Observer Observer

	// Guard, when set, is asked right before each keysend leaves
	// (outbound.Driver.Guard): the leader's lease on PostgreSQL.
	Guard func() error
}

// Executor makes payouts: it writes each durably before lnd sees it, sends
// it as a keysend, follows its outcome and records it in the ledger. It
// also resumes payouts a crash left pending. It enforces nothing about when
// or how often to pay; the Scheduler does.
type Executor struct {
	cfg ExecutorConfig

	// hit fires the lifecycle's failpoints: failpoint.Hit; tests put a
	// crash of their own in its place.
	hit func(name string)

	// retry is the rule for the waits while an outcome is unknown
	// (outbound.Retry), on cfg.Clock; tests make them instant.
	retry outbound.Retry

	mu     sync.Mutex
	routes map[string]routeInfo
}

// routeInfo is what the executor learnt about the hub's route to one
// provider. It lives in memory only; after a restart routes are checked
// again.
type routeInfo struct {
	// carries is the largest amount known to reach the provider: it
	// passed a route query or was paid.
	carries ledger.MilliSatoshi

	// direct is set when the route is the hub's own channel to the
	// provider at no fee.
	direct bool

	// limited is set when a larger amount was refused; until recheckAt
	// payouts are capped at carries without asking again.
	limited   bool
	recheckAt time.Time
}

// NewExecutor returns an executor; zero durations take their defaults.
func NewExecutor(cfg ExecutorConfig) (*Executor, error) {
	switch {
	case cfg.DB == nil:
		return nil, fmt.Errorf("%w: DB is nil", ErrInvalidConfig)
	case cfg.Ledger == nil:
		return nil, fmt.Errorf("%w: Ledger is nil", ErrInvalidConfig)
	case cfg.Payments == nil:
		return nil, fmt.Errorf("%w: Payments is nil", ErrInvalidConfig)
	case cfg.Routes == nil:
		return nil, fmt.Errorf("%w: Routes is nil", ErrInvalidConfig)
	case cfg.PaymentTimeout < 0:
		return nil, fmt.Errorf("%w: payment timeout %v is negative",
			ErrInvalidConfig, cfg.PaymentTimeout)
	case cfg.BlockedRetry < 0:
		return nil, fmt.Errorf("%w: blocked retry %v is negative",
			ErrInvalidConfig, cfg.BlockedRetry)
	case cfg.MaxBackoff < 0:
		return nil, fmt.Errorf("%w: max backoff %v is negative",
			ErrInvalidConfig, cfg.MaxBackoff)
	}
	if cfg.PaymentTimeout == 0 {
		cfg.PaymentTimeout = DefaultPaymentTimeout
	}
	if cfg.PaymentTimeout < time.Second {
		return nil, fmt.Errorf("%w: payment timeout %v is under the "+
			"second lnd counts in", ErrInvalidConfig,
			cfg.PaymentTimeout)
	}
	if cfg.BlockedRetry == 0 {
		cfg.BlockedRetry = DefaultBlockedRetry
	}
	if cfg.MaxBackoff == 0 {
		cfg.MaxBackoff = DefaultMaxBackoff
	}
	if cfg.Clock == nil {
		cfg.Clock = clock.NewDefaultClock()
	}

	return &Executor{
		cfg:    cfg,
		hit:    failpoint.Hit,
		routes: make(map[string]routeInfo),
	}, nil
}

// now is the executor's clock in UTC.
func (e *Executor) now() time.Time {
	return e.cfg.Clock.Now().UTC()
}

// Candidate is a provider to pay, as the scheduler saw it.
type Candidate struct {
	ProviderID string
	Node       route.Vertex

	// Payable is the provider's payable when the scheduler looked; the
	// payout takes the balance again in its own transaction.
	Payable ledger.MilliSatoshi
}

// Pay makes one payout to the provider under pol and waits for its
// outcome. It checks that the hub's route carries the amount (capping it,
// or returning ErrRouteBlocked and recording the provider's status, when it
// does not; a route over the hub's direct channel at no fee gets a zero fee
// cap, so all of the payable goes), writes the payout and its payable → in-flight move in one
// transaction (ErrNothingToPay when the fresh balance makes no payout under
// pol, ErrProviderBusy when the provider has one pending), sends it and
// records the outcome. It returns the payout as resolved. When ctx ends or
// the store fails after the payout was written, it returns the payout
// still pending with the error; Resume finishes it.
func (e *Executor) Pay(ctx context.Context, c Candidate, pol Policy) (Payout,
	error) {

	if err := pol.Validate(); err != nil {
		return Payout{}, err
	}

	routeMax, direct, err := e.routeLimit(ctx, c, pol)
	if err != nil {
		return Payout{}, err
	}
	if direct {
		// Over the hub's own channel a payment costs no fee: no
		// budget is held back, and all of the payable goes.
		pol = pol.zeroFee()
	}

	p, err := e.createIntent(ctx, c, pol, routeMax)
	if err != nil {
		return Payout{}, err
	}
	if e.cfg.Observer != nil {
		e.cfg.Observer.PayoutPending(p)
	}
	return e.execute(ctx, p, false)
}

// Resume finishes a pending payout found in the store: it follows the
// payment in lnd, or sends it with its stored preimage when lnd never saw
// it, and records the outcome. A payout that is already final is returned
// as it is.
func (e *Executor) Resume(ctx context.Context, id string) (Payout, error) {
	var sp StoredPayout
	err := e.cfg.DB.ExecPayouts(ctx, true, func(tx TxStore) error {
		var err error
		sp, err = tx.Payout(ctx, id)
		return err
	})
	if errors.Is(err, ErrPayoutNotFound) {
		return Payout{}, fmt.Errorf("payout %s: %w", id,
			ErrPayoutNotFound)
	}
	if err != nil {
		return Payout{}, fmt.Errorf("payout %s: %w", id, err)
	}
	p, err := fromStore(sp)
	if err != nil {
		return Payout{}, err
	}
	if p.State != StatePending {
		return p, nil
	}

	log.Infof("Resuming payout %s of %v to provider %s (hash %v)", p.ID,
		p.Amount, p.ProviderID, p.Hash)
	if e.cfg.Observer != nil {
		e.cfg.Observer.PayoutPending(p)
	}
	return e.execute(ctx, p, true)
}

// createIntent writes a payout and its payable → in-flight move in one
// transaction, with the amount planned from the balances in that
// transaction.
func (e *Executor) createIntent(ctx context.Context, c Candidate, pol Policy,
	routeMax ledger.MilliSatoshi) (Payout, error) {

	id, err := newPayoutID()
	if err != nil {
		return Payout{}, err
	}
	preimage, err := newPreimage()
	if err != nil {
		return Payout{}, err
	}
	p := Payout{
		ID:         id,
		ProviderID: c.ProviderID,
		Dest:       c.Node,
		FeePayer:   pol.FeePayer,
		Preimage:   preimage,
		Hash:       preimage.Hash(),
		State:      StatePending,
		CreatedAt:  e.now().Truncate(time.Microsecond),
	}

	err = e.cfg.DB.ExecPayouts(ctx, false, func(tx TxStore) error {
		// The intent's move reads the accounts it posts to; read
		// together here, they are read once (the store remembers
		// them for the transaction).
		payable, platform, err := intentBalances(ctx, tx, c.ProviderID,
			pol.FeePayer)
		if err != nil {
			return err
		}
		plan, ok := pol.Plan(payable, platform, routeMax)
		if !ok {
			return fmt.Errorf("provider %s has %v payable: %w",
				c.ProviderID, payable, ErrNothingToPay)
		}
		p.Amount, p.FeeBudget = plan.Amount, plan.FeeBudget

		err = tx.InsertPayout(ctx, p.toStore())
		if errors.Is(err, ErrProviderBusy) {
			return fmt.Errorf("provider %s: %w", c.ProviderID,
				ErrProviderBusy)
		}
		if errors.Is(err, ErrProviderNotFound) {
			return fmt.Errorf("provider %s: %w", c.ProviderID,
				ErrProviderNotFound)
		}
		if err != nil {
			return err
		}
		_, err = e.cfg.Ledger.PostTx(ctx, tx, p.sendTx())
		return err
	})
	if err != nil {
		return Payout{}, fmt.Errorf("payout to provider %s: %w",
			c.ProviderID, err)
	}

	log.Debugf("Payout %s of %v (fee budget %v, %s pays) to provider "+
		"%s written, hash %v", p.ID, p.Amount, p.FeeBudget, p.FeePayer,
		p.ProviderID, p.Hash)
	return p, nil
}

// intentBalances reads, in one read, the provider's payable and, when the
// platform pays the fees, the platform's fees, with the provider's
// in-flight account that the intent's move posts to too.
func intentBalances(ctx context.Context, tx TxStore, providerID string,
	payer FeePayer) (payable, platform ledger.MilliSatoshi, err error) {

	accts := []ledger.Account{ledger.ProviderPayable(providerID),
		ledger.PayoutInFlight(providerID)}
	if payer == FeePayerPlatform {
		accts = append(accts, ledger.PlatformFees())
	}
	states, err := tx.Accounts(ctx, accts)
	if err != nil {
		return 0, 0, err
	}
	balance := func(a ledger.Account) (ledger.MilliSatoshi, error) {
		st, ok := states[a]
		if !ok {
			return 0, nil
		}
		if err := st.CheckUnit(); err != nil {
			return 0, err
		}
		return st.Balance, nil
	}
	if payable, err = balance(accts[0]); err != nil {
		return 0, 0, err
	}
	if payer == FeePayerPlatform {
		platform, err = balance(ledger.PlatformFees())
	}
	return payable, platform, err
}

// keysend is the payment lnd makes for p.
func (e *Executor) keysend(p Payout) lightning.Keysend {
	return lightning.Keysend{
		Dest:     p.Dest,
		Preimage: p.Preimage,
		Amount:   lnwire.MilliSatoshi(p.Amount),
		FeeLimit: lnwire.MilliSatoshi(p.FeeBudget),
		Timeout:  e.cfg.PaymentTimeout,
		Records: map[uint64][]byte{
			lightning.PayoutIDRecord: []byte(p.ID),
		},
	}
}

// failpoints are the executor's failpoints in the lifecycle.
var failpoints = outbound.Failpoints{
	AfterIntent:  FailpointAfterIntent,
	AfterSend:    FailpointAfterSend,
	AfterSuccess: FailpointAfterSuccess,
}

// driver is the lifecycle driver with the executor's hook, clock and
// retry rule.
func (e *Executor) driver() outbound.Driver {
	return outbound.Driver{Hook: e.hit, Clock: e.cfg.Clock,
		Retry: e.retry, Guard: e.cfg.Guard}
}

// execute gets p's outcome from lnd through the one outbound lifecycle and
// records it. lndMayHave says whether lnd may already have the payment (a
// resumed payout): then it is tracked first and sent only when lnd says it
// never saw the hash. lnd refuses a second payment to a hash it has, so
// whatever breaks, p is paid at most once; while the outcome is unknown it
// is tracked again, with backoff, until ctx ends.
func (e *Executor) execute(ctx context.Context, p Payout,
	lndMayHave bool) (Payout, error) {

	call := outbound.Keysend{Payer: e.cfg.Payments, Payment: e.keysend(p)}
	out, err := outbound.Drive(ctx, e.driver(), "payout "+p.ID, call,
		failpoints, lndMayHave)
	if err != nil {
		return p, err
	}
	return e.resolve(ctx, p, out)
}

// resolve records p's outcome: the payout's final state, its ledger
// transaction and the provider's status, in one transaction.
func (e *Executor) resolve(ctx context.Context, p Payout,
	out outbound.PaymentOutcome) (Payout, error) {

	if err := outbound.Transition(p.State, out.Status); err != nil {
		return p, fmt.Errorf("payout %s: %w", p.ID, err)
	}
	res := out.Detail
	if res.Hash != p.Hash {
		return p, fmt.Errorf("payout %s: lnd answered for hash %v, "+
			"want %v", p.ID, res.Hash, p.Hash)
	}

	now := e.now()
	var (
		txn   ledger.Transaction
		state StoredStatus
	)
	if out.Status == StateSucceeded {
		if ledger.MilliSatoshi(res.Amount) != p.Amount {
			log.Errorf("Payout %s: lnd paid %v, the payout is %v",
				p.ID, res.Amount, p.Amount)
		}
		fee := ledger.MilliSatoshi(res.Fee)
		if fee > p.FeeBudget {
			log.Errorf("Payout %s: routing fee %v is over the "+
				"budget %v", p.ID, fee, p.FeeBudget)
		}
		p.State, p.Fee = StateSucceeded, fee
		txn = p.settleTx(fee)
	} else {
		p.State, p.Failure = StateFailed, out.Failure
		if p.Failure == "" {
			p.Failure = "failed"
		}
		txn = p.failTx()
	}
	p.ResolvedAt = now.Truncate(time.Microsecond)

	err := e.cfg.DB.ExecPayouts(ctx, false, func(tx TxStore) error {
		err := tx.ResolvePayout(ctx, StoredOutcome{
			ID:         p.ID,
			State:      p.State,
			Fee:        p.Fee,
			Failure:    p.Failure,
			ResolvedAt: p.ResolvedAt,
		})
		if err != nil {
			return err
		}
		if _, err := e.cfg.Ledger.PostTx(ctx, tx, txn); err != nil {
			return err
		}
		state, err = e.nextStatus(ctx, tx, p, now)
		return err
	})
	if errors.Is(err, outbound.ErrInvalidTransition) {
		// Resolved by someone else (another sluiced on the same
		// database); the stored outcome stands.
		return e.stored(ctx, p.ID)
	}
	if err != nil {
		p.State, p.Fee, p.Failure = StatePending, 0, ""
		p.ResolvedAt = time.Time{}
		return p, fmt.Errorf("payout %s: recording the outcome: %w",
			p.ID, err)
	}

	if e.cfg.Observer != nil {
		e.cfg.Observer.PayoutResolved(p)
	}
	if p.State == StateSucceeded {
		e.learnRoute(p.ProviderID, p.Amount)
		log.Debugf("Payout %s of %v to provider %s succeeded, fee %v",
			p.ID, p.Amount, p.ProviderID, p.Fee)
	} else {
		if res.Failure.IsRouteFailure() {
			e.forgetRoute(p.ProviderID)
		}
		log.Infof("Payout %s of %v to provider %s failed (%s); "+
			"%d in a row, next try after %v", p.ID, p.Amount,
			p.ProviderID, p.Failure, state.Failures,
			state.RetryAt.Format(time.RFC3339))
	}
	return p, nil
}

// stored reads a payout back.
func (e *Executor) stored(ctx context.Context, id string) (Payout, error) {
	var sp StoredPayout
	err := e.cfg.DB.ExecPayouts(ctx, true, func(tx TxStore) error {
		var err error
		sp, err = tx.Payout(ctx, id)
		return err
	})
	if err != nil {
		return Payout{}, fmt.Errorf("payout %s: %w", id, err)
	}
	return fromStore(sp)
}

// nextStatus records the provider's status after p resolved, when it
// changes, and returns it. A success clears a run of failures; a failure
// extends it and sets when to try again (backoff).
func (e *Executor) nextStatus(ctx context.Context, tx TxStore, p Payout,
	now time.Time) (StoredStatus, error) {

	cur, ok, err := tx.PayoutStatus(ctx, p.ProviderID)
	switch {
	case err != nil:
		return cur, err
	case !ok:
		cur = StoredStatus{
			ProviderID: p.ProviderID,
			Status:     Status{State: StatusOK, Since: now},
		}
	}

	next := cur
	next.UpdatedAt = now
	if p.State == StateSucceeded {
		if cur.State != StatusRetrying && cur.Failures == 0 {
			return cur, nil
		}
		next.Failures = 0
		next.RetryAt = time.Time{}
		if cur.State == StatusRetrying {
			next.State, next.Reason, next.Since =
				StatusOK, "", now
		}
		return next, tx.SetPayoutStatus(ctx, next)
	}

	next.Failures++
	if cur.State != StatusRetrying {
		next.Since = now
	}
	next.State = StatusRetrying
	next.Reason = fmt.Sprintf("payout %s of %v failed: %s", p.ID,
		p.Amount, p.Failure)
	next.RetryAt = now.Add(e.backoff(next.Failures))
	return next, tx.SetPayoutStatus(ctx, next)
}

// firstBackoff is the wait after a provider's first failed payout.
const firstBackoff = time.Second

// backoff is the wait after failures payouts failed in a row: one second
// doubled per failure after the first, at most MaxBackoff
// (outbound.NthWait).
func (e *Executor) backoff(failures int64) time.Duration {
	return outbound.NthWait(firstBackoff, e.cfg.MaxBackoff, failures)
}
