package settlement

import (
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"time"

	"github.com/btcsuite/btcd/btcec/v2"
	"github.com/lightningnetwork/lnd/lnwire"
	"github.com/lightningnetwork/lnd/routing/route"
	"github.com/shopspring/decimal"
	"github.com/sluice-ln/sluice/channels"
	"github.com/sluice-ln/sluice/ledger"
)

// Limits of a job request.
const (
	// MaxBufferSeconds bounds a job's buffer: 30 days.
	MaxBufferSeconds = 30 * 24 * 3600

	// MinInvoiceExpiry and MaxInvoiceExpiry bound an invoice's expiry.
	MinInvoiceExpiry = time.Second
	MaxInvoiceExpiry = 30 * 24 * time.Hour

	// MaxBudget bounds a budget: every bitcoin there will be.
	MaxBudget = ledger.MilliSatoshi(21_000_000 * 100_000_000 * 1000)
)

// CauseCreated is the cause recorded with a job's first event, when it is
// created awaiting funding. It is not a transition.
const CauseCreated Cause = "created"

// Job is a job as settlement keeps it.
type Job struct {
	ID         string
	BuyerID    string
	ProviderID string
	State      State

	// Spec is the most of each resource per second; Rates the
	// provider's rate card as it stood when the job was created.
	Spec  Spec
	Rates channels.RateCard

	// PricePerSecond is Σ rate × spec, in msat, exact.
	PricePerSecond decimal.Decimal

	Budget        ledger.MilliSatoshi
	BufferSeconds int64

	// RefundNode is the buyer's node for keysend refunds; HasRefundNode
	// says whether one was given.
	RefundNode    route.Vertex
	HasRefundNode bool

	CreatedAt time.Time
	UpdatedAt time.Time

	// StartedAt is when the agent first reported; EndedAt when the job
	// ended or expired. Zero until then.
	StartedAt time.Time
	EndedAt   time.Time

	// FundedAt is when the funding invoice settled; set by JobInTx and
	// GetJob, zero before.
	FundedAt time.Time
}

// InvoicePurpose says what a job's invoice is for.
type InvoicePurpose string

// The invoice purposes.
const (
	PurposeFunding InvoicePurpose = "funding"
	PurposeTopUp   InvoicePurpose = "top_up"
)

// Invoice states as settlement records them.
const (
	InvoiceOpen     = "open"
	InvoiceSettled  = "settled"
	InvoiceExpired  = "expired"
	InvoiceCanceled = "canceled"
)

// Invoice is a hub invoice that funds a job.
type Invoice struct {
	PaymentHash    string
	Purpose        InvoicePurpose
	Amount         ledger.MilliSatoshi
	PaymentRequest string

	// State is open, settled, expired or canceled.
	State      string
	AmountPaid ledger.MilliSatoshi
	CreatedAt  time.Time
	ExpiresAt  time.Time
	SettledAt  time.Time
}

// Event is one recorded state change of a job.
type Event struct {
	From   State
	To     State
	Cause  Cause
	Detail string
	At     time.Time
}

// Status is a job with everything known about it at one moment.
type Status struct {
	Job

	// AsOf is when the status was read.
	AsOf time.Time

	// Solvency is the escrow against the price and buffer.
	Solvency Solvency

	// DepletionTime is when the escrow runs out if the job uses its full
	// spec from AsOf on; zero unless the job runs (running or low on
	// balance), since only a running job spends.
	DepletionTime time.Time

	// Refunded is what the buyer got back so far.
	Refunded ledger.MilliSatoshi

	// SecondsMetered is the job's last accepted usage seq (seqs count
	// metered seconds); Spent what that usage cost the escrow, Fees the
	// platform's part of it, and Earned the provider's (Spent − Fees).
	SecondsMetered int64
	Spent          ledger.MilliSatoshi
	Fees           ledger.MilliSatoshi
	Earned         ledger.MilliSatoshi

	// AutoStaked is what the provider auto-staked of Earned into the
	// vault: it left the payable, so no payout sends it.
	AutoStaked ledger.MilliSatoshi

	// ProviderPaidOut, ProviderInFlight and ProviderPayable are the
	// job's provider's payout balances, across all its jobs: payouts are
	// netted per provider, so no payout belongs to one job.
	ProviderPaidOut  ledger.MilliSatoshi
	ProviderInFlight ledger.MilliSatoshi
	ProviderPayable  ledger.MilliSatoshi

	// Invoices are the job's invoices, oldest first; TopUp is the open
	// top-up invoice ready for the buyer, if any.
	Invoices []Invoice
	TopUp    *Invoice

	// Refunds are the job's refunds, oldest first.
	Refunds []Refund

	// Events are the job's state changes, oldest first (empty in
	// ListJobs answers).
	Events []Event

	// Workload is what the job runs, without its inputs' bytes; nil for
	// a job created without one. Result is how its run ended, without
	// the output's bytes; nil until the provider submitted it.
	Workload *WorkloadInfo
	Result   *ResultInfo
}

// CreateJobRequest is what a buyer asks for.
type CreateJobRequest struct {
	BuyerID    string
	ProviderID string
	Spec       Spec

	// Budget is the funding invoice's amount.
	Budget ledger.MilliSatoshi

	// BufferSeconds is the runway below which the job is low on balance.
	BufferSeconds int64

	// RefundNode, when HasRefundNode, is where keysend refunds go.
	RefundNode    route.Vertex
	HasRefundNode bool

	// InvoiceExpiry overrides the manager's default when not zero.
	InvoiceExpiry time.Duration

	// Workload, when not nil, is what the provider's serving agent runs
	// (workload.go); it is stored with the job. Without one, the
	// provider decides what runs (`sluice agent run -- CMD`).
	Workload *Workload

	// Placed says the market chose ProviderID, under the buyer's
	// MaxRates: the job is placed again when that provider does not
	// start it in time (placement.go).
	Placed   bool
	MaxRates channels.RateCard
}

// ParseNodeKey reads a node's public key in hex (33 bytes, compressed) and
// checks it is on the curve. Errors wrap ErrInvalidRefund.
func ParseNodeKey(s string) (route.Vertex, error) {
	raw, err := hex.DecodeString(s)
	if err != nil || len(raw) != 33 {
		return route.Vertex{}, fmt.Errorf("%w: node key %q is not 66 "+
			"hex characters", ErrInvalidRefund, s)
	}
	if _, err := btcec.ParsePubKey(raw); err != nil {
		return route.Vertex{}, fmt.Errorf("%w: node key %s: %v",
			ErrInvalidRefund, s, err)
	}
	return route.Vertex(raw), nil
}

// CreateJob checks the request, copies the provider's current rate card
// into a new job awaiting funding, stores its workload if it has one, and
// makes the hub's funding invoice for the budget. Errors: ErrInvalidJob
// (naming the field), ErrWorkloadTooLarge, ErrInvalidWorkload,
// ErrBuyerNotFound, ErrProviderNotFound, or lnd's.
func (m *Manager) CreateJob(ctx context.Context, req CreateJobRequest) (
	Status, error) {

	bad := func(format string, args ...any) (Status, error) {
		return Status{}, fmt.Errorf("%w: "+format,
			append([]any{ErrInvalidJob}, args...)...)
	}
	expiry := req.InvoiceExpiry
	if expiry == 0 {
		expiry = m.cfg.InvoiceExpiry
	}
	switch {
	case req.ProviderID == "":
		return bad("provider_id is empty")
	case req.Budget <= 0:
		return bad("budget_msat %d must be above zero", req.Budget)
	case req.Budget > MaxBudget:
		return bad("budget_msat %d is above %d", req.Budget, MaxBudget)
	case req.BufferSeconds < 0 || req.BufferSeconds > MaxBufferSeconds:
		return bad("buffer_seconds %d is outside 0 to %d",
			req.BufferSeconds, MaxBufferSeconds)
	case expiry < MinInvoiceExpiry || expiry > MaxInvoiceExpiry:
		return bad("invoice expiry %v is outside %v to %v", expiry,
			MinInvoiceExpiry, MaxInvoiceExpiry)
	case req.HasRefundNode && req.RefundNode == m.cfg.HubNode:
		return bad("refund node is the hub itself")
	}
	if err := req.Spec.Validate(); err != nil {
		return Status{}, err
	}
	if req.Workload != nil {
		if err := req.Workload.Validate(); err != nil {
			return Status{}, err
		}
	}

	err := m.execTx(ctx, true, func(tx TxStore) error {
		_, err := tx.BuyerByID(ctx, req.BuyerID)
		return err
	})
	switch {
	case errors.Is(err, ErrBuyerNotFound):
		return Status{}, fmt.Errorf("%w: %q", ErrBuyerNotFound,
			req.BuyerID)
	case err != nil:
		return Status{}, err
	}

	prov, err := m.cfg.Providers.LookupProvider(ctx, req.ProviderID)
	if err != nil {
		return Status{}, fmt.Errorf("provider %q: %w", req.ProviderID,
			err)
	}
	price, err := PricePerSecond(req.Spec, prov.Rates)
	if err != nil {
		return Status{}, fmt.Errorf("provider %s: %w", prov.ID, err)
	}
	if !price.IsPositive() {
		return bad("the job costs nothing per second at provider %s's "+
			"rates; nothing to fund", prov.ID)
	}
	if decimal.NewFromInt(int64(req.Budget)).LessThan(price) {
		return bad("budget_msat %d covers less than one second at %s "+
			"msat per second", req.Budget, price)
	}

	id, err := randomID("job-", 8)
	if err != nil {
		return Status{}, err
	}
	inv, err := m.cfg.Invoices.AddInvoice(ctx,
		lnwire.MilliSatoshi(req.Budget),
		fmt.Sprintf("Sluice job %s: funding", id), expiry)
	if err != nil {
		return Status{}, fmt.Errorf("funding invoice of job %s: %w", id,
			err)
	}

	now := m.now()
	row := StoredJob{
		ID: id, BuyerID: req.BuyerID, ProviderID: prov.ID,
		State: StateAwaitingFunding, Budget: req.Budget,
		BufferSeconds: req.BufferSeconds, PricePerSecond: price.String(),
		CreatedAt: now, UpdatedAt: now,
	}
	if req.HasRefundNode {
		row.RefundPubkey = hex.EncodeToString(req.RefundNode[:])
	}
	for _, r := range req.Spec.sorted() {
		row.Resources = append(row.Resources, StoredResource{
			Resource: r, MaxPerSecond: req.Spec[r],
			Rate: rateOrZero(prov.Rates, r).String(),
		})
	}
	err = m.execTx(ctx, false, func(tx TxStore) error {
		if err := tx.InsertJob(ctx, row); err != nil {
			return err
		}
		if req.Workload != nil {
			err := tx.InsertJobWorkload(ctx, id, *req.Workload)
			if err != nil {
				return err
			}
		}
		if req.Placed {
			err := tx.InsertJobPlacement(ctx, StoredPlacement{
				JobID: id, Seq: 1, ProviderID: prov.ID,
				MaxRates: FormatMaxRates(req.MaxRates), PlacedAt: now,
			})
			if err != nil {
				return err
			}
		}
		err := tx.InsertJobEvent(ctx, StoredEvent{
			JobID: id, To: row.State, Cause: CauseCreated,
			Detail: fmt.Sprintf("budget %d msat at %s msat/s",
				req.Budget, price),
			At: now,
		})
		if err != nil {
			return err
		}
		return tx.InsertJobInvoice(ctx, StoredInvoice{
			PaymentHash: inv.Hash.String(), JobID: id,
			Purpose: PurposeFunding, Amount: req.Budget,
			PaymentRequest: inv.PaymentRequest, State: InvoiceOpen,
			CreatedAt: inv.CreatedAt, ExpiresAt: inv.ExpiresAt,
		})
	})
	if err != nil {
		// Nobody can pay an invoice nobody was told of; cancel it
		// anyway so that lnd does not keep it open.
		if cErr := m.cfg.Invoices.CancelInvoice(ctx, inv.Hash); cErr != nil {
			log.Warnf("Canceling the invoice of unrecorded job %s: "+
				"%v", id, cErr)
		}
		return Status{}, fmt.Errorf("record job %s: %w", id, err)
	}
	log.Infof("Created job %s for buyer %s on provider %s: budget %d "+
		"msat, %s msat/s", id, req.BuyerID, prov.ID, req.Budget, price)

	return m.GetJob(ctx, id)
}

// rateOrZero is the card's rate for r, zero when it has none (for a
// resource the spec does not use).
func rateOrZero(card channels.RateCard, r channels.Resource) ledger.Rate {
	if rate, ok := card[r]; ok {
		return rate
	}
	return ledger.Rate{}
}

// parsePrice reads a stored price per second.
func parsePrice(s string) (decimal.Decimal, error) {
	d, err := decimal.NewFromString(s)
	if err != nil {
		return decimal.Zero, fmt.Errorf("stored price %q: %w", s, err)
	}
	return d, nil
}

// jobFromRow converts a stored job.
func jobFromRow(row StoredJob) (Job, error) {
	price, err := parsePrice(row.PricePerSecond)
	if err != nil {
		return Job{}, fmt.Errorf("job %s: %w", row.ID, err)
	}
	j := Job{
		ID: row.ID, BuyerID: row.BuyerID, ProviderID: row.ProviderID,
		State: row.State, Spec: Spec{}, Rates: channels.RateCard{},
		PricePerSecond: price, Budget: row.Budget,
		BufferSeconds: row.BufferSeconds, CreatedAt: row.CreatedAt,
		UpdatedAt: row.UpdatedAt, StartedAt: row.StartedAt,
		EndedAt: row.EndedAt,
	}
	if row.RefundPubkey != "" {
		node, err := ParseNodeKey(row.RefundPubkey)
		if err != nil {
			return Job{}, fmt.Errorf("job %s: %w", row.ID, err)
		}
		j.RefundNode, j.HasRefundNode = node, true
	}
	for _, r := range row.Resources {
		rate, err := ledger.ParseRate(r.Rate)
		if err != nil {
			return Job{}, fmt.Errorf("job %s: %w", row.ID, err)
		}
		j.Spec[r.Resource] = r.MaxPerSecond
		j.Rates[r.Resource] = rate
	}
	return j, nil
}

// invoiceFromRow converts a stored invoice.
func invoiceFromRow(r StoredInvoice) Invoice {
	return Invoice{
		PaymentHash: r.PaymentHash, Purpose: r.Purpose,
		Amount: r.Amount, PaymentRequest: r.PaymentRequest,
		State: r.State, AmountPaid: r.AmountPaid,
		CreatedAt: r.CreatedAt, ExpiresAt: r.ExpiresAt,
		SettledAt: r.SettledAt,
	}
}

// readStatus reads a job's status in tx; full adds invoices, refunds and
// events.
func (m *Manager) readStatus(ctx context.Context, tx TxStore, row StoredJob,
	full bool) (Status, error) {

	job, err := jobFromRow(row)
	if err != nil {
		return Status{}, err
	}
	st := Status{Job: job, AsOf: m.now()}

	escrow, err := tx.Balance(ctx, ledger.BuyerEscrow(job.ID))
	if err != nil {
		return Status{}, err
	}
	st.Solvency = Evaluate(escrow, job.PricePerSecond, job.BufferSeconds)
	if job.State.Chargeable() {
		st.DepletionTime = st.Solvency.DepletionTime(st.AsOf)
	}
	st.Refunded, err = tx.Balance(ctx, ledger.Refunded(job.ID))
	if err != nil {
		return Status{}, err
	}
	if err := readEarnings(ctx, tx, &st); err != nil {
		return Status{}, err
	}
	if err := readWorkload(ctx, tx, &st); err != nil {
		return Status{}, err
	}

	invoices, err := tx.JobInvoices(ctx, job.ID)
	if err != nil {
		return Status{}, err
	}
	for _, r := range invoices {
		inv := invoiceFromRow(r)
		if inv.Purpose == PurposeTopUp && inv.State == InvoiceOpen &&
			inv.ExpiresAt.After(st.AsOf) {

			top := inv
			st.TopUp = &top
		}
		if full {
			st.Invoices = append(st.Invoices, inv)
		}
	}
	if !full {
		return st, nil
	}

	refunds, err := tx.JobRefunds(ctx, job.ID)
	if err != nil {
		return Status{}, err
	}
	for _, r := range refunds {
		st.Refunds = append(st.Refunds, refundFromRow(r))
	}
	events, err := tx.JobEvents(ctx, job.ID)
	if err != nil {
		return Status{}, err
	}
	for _, e := range events {
		st.Events = append(st.Events, Event{
			From: e.From, To: e.To, Cause: e.Cause,
			Detail: e.Detail, At: e.At,
		})
		if e.To == StateFunded && st.FundedAt.IsZero() {
			st.FundedAt = e.At
		}
	}
	return st, nil
}

// GetJob returns a job's status: its solvency (escrow, price per second,
// runway, depletion time), invoices, refunds and events. It only reads:
// it never calls lnd. The top-up invoice of a job low on balance or
// suspended is made where the job moved there (the sweeper, woken by the
// move) or on request (TopUpJob); until then TopUp is nil.
// ErrJobNotFound for an unknown id.
func (m *Manager) GetJob(ctx context.Context, id string) (Status, error) {
	return m.getJob(ctx, id)
}

// needsTopUp reports whether a job should have a top-up invoice ready and
// has none.
func needsTopUp(st Status) bool {
	return (st.State == StateLowBalance || st.State == StateSuspended) &&
		st.TopUp == nil
}

// getJob reads a job's full status.
func (m *Manager) getJob(ctx context.Context, id string) (Status, error) {
	var st Status
	err := m.execTx(ctx, true, func(tx TxStore) error {
		row, err := tx.JobByID(ctx, id)
		if err != nil {
			return err
		}
		st, err = m.readStatus(ctx, tx, row, true)
		return err
	})
	if errors.Is(err, ErrJobNotFound) {
		return Status{}, fmt.Errorf("%w: %q", ErrJobNotFound, id)
	}
	return st, err
}

// ListFilter selects jobs for ListJobs; empty fields select all.
type ListFilter struct {
	BuyerID    string
	ProviderID string
	States     []State
	Limit      int
	Offset     int
}

// ListJobs returns the jobs the filter selects, newest first, with their
// solvency and ready top-up invoice but without invoices, refunds and
// events.
func (m *Manager) ListJobs(ctx context.Context, f ListFilter) ([]Status,
	error) {

	if f.Limit < 0 || f.Offset < 0 {
		return nil, fmt.Errorf("%w: limit and offset may not be "+
			"negative", ErrInvalidJob)
	}
	for _, s := range f.States {
		if !s.Known() {
			return nil, fmt.Errorf("%w: state %q is not a job state",
				ErrInvalidJob, s)
		}
	}

	var out []Status
	err := m.execTx(ctx, true, func(tx TxStore) error {
		rows, err := tx.ListJobs(ctx, f)
		if err != nil {
			return err
		}
		for _, row := range rows {
			st, err := m.readStatus(ctx, tx, row, false)
			if err != nil {
				return err
			}
			out = append(out, st)
		}
		return nil
	})
	return out, err
}

// TopUpJob makes a further invoice for a funded job that has not ended;
// zero amount means the job's budget. When it settles, the amount joins
// the escrow and may resume the job. Errors: ErrJobNotFound, ErrNotFunded
// (pay the funding invoice first), ErrJobEnded, ErrInvalidJob.
func (m *Manager) TopUpJob(ctx context.Context, id string,
	amount ledger.MilliSatoshi) (Invoice, error) {

	if amount < 0 || amount > MaxBudget {
		return Invoice{}, fmt.Errorf("%w: amount_msat %d is outside 0 "+
			"to %d", ErrInvalidJob, amount, MaxBudget)
	}
	st, err := m.getJob(ctx, id)
	if err != nil {
		return Invoice{}, err
	}
	if err := checkTopUp(st.Job); err != nil {
		return Invoice{}, err
	}
	if amount == 0 {
		amount = st.Budget
	}
	return m.addTopUp(ctx, st.Job, amount)
}

// checkTopUp refuses top-ups of jobs that cannot take them.
func checkTopUp(j Job) error {
	switch {
	case j.State == StateAwaitingFunding:
		return fmt.Errorf("%w: job %s awaits its funding invoice; pay "+
			"that one first", ErrNotFunded, j.ID)
	case j.State.Terminal():
		return fmt.Errorf("%w: job %s is %s", ErrJobEnded, j.ID,
			j.State)
	}
	return nil
}

// addTopUp makes and records a top-up invoice.
func (m *Manager) addTopUp(ctx context.Context, j Job,
	amount ledger.MilliSatoshi) (Invoice, error) {

	inv, err := m.cfg.Invoices.AddInvoice(ctx, lnwire.MilliSatoshi(amount),
		fmt.Sprintf("Sluice job %s: top-up", j.ID), m.cfg.InvoiceExpiry)
	if err != nil {
		return Invoice{}, fmt.Errorf("top-up invoice of job %s: %w",
			j.ID, err)
	}
	row := StoredInvoice{
		PaymentHash: inv.Hash.String(), JobID: j.ID,
		Purpose: PurposeTopUp, Amount: amount,
		PaymentRequest: inv.PaymentRequest, State: InvoiceOpen,
		CreatedAt: inv.CreatedAt, ExpiresAt: inv.ExpiresAt,
	}
	err = m.execTx(ctx, false, func(tx TxStore) error {
		return tx.InsertJobInvoice(ctx, row)
	})
	if err != nil {
		return Invoice{}, fmt.Errorf("record top-up invoice of job %s: "+
			"%w", j.ID, err)
	}
	log.Infof("Job %s: top-up invoice %s for %d msat", j.ID,
		inv.Hash, amount)
	return invoiceFromRow(row), nil
}

// ensureTopUp makes a top-up invoice for the budget if the job is low on
// balance or suspended and has no open one.
func (m *Manager) ensureTopUp(ctx context.Context, id string) error {
	m.topUpMu.Lock()
	defer m.topUpMu.Unlock()

	st, err := m.getJob(ctx, id)
	if err != nil {
		return err
	}
	if !needsTopUp(st) {
		return nil
	}
	_, err = m.addTopUp(ctx, st.Job, st.Budget)
	return err
}

// JobInTx reads a job in the caller's transaction, with the time it was
// first funded (zero if never): metering reads the job it meters this way,
// inside its group commit. ErrJobNotFound for an unknown id.
func (m *Manager) JobInTx(ctx context.Context, tx TxStore, id string) (Job,
	error) {

	row, err := tx.JobByID(ctx, id)
	if errors.Is(err, ErrJobNotFound) {
		return Job{}, fmt.Errorf("%w: %q", ErrJobNotFound, id)
	}
	if err != nil {
		return Job{}, err
	}
	job, err := jobFromRow(row)
	if err != nil {
		return Job{}, err
	}
	events, err := tx.JobEvents(ctx, id)
	if err != nil {
		return Job{}, err
	}
	for _, e := range events {
		if e.To == StateFunded {
			job.FundedAt = e.At
			break
		}
	}
	return job, nil
}

// JobFromStored is the job JobInTx returns for a row read by other means
// and the time it was first funded (zero if never): metering's store
// reads both with the rest of what a group commit needs of the job in
// one statement, and has settlement make the job of them.
func JobFromStored(row StoredJob, fundedAt time.Time) (Job, error) {
	job, err := jobFromRow(row)
	if err != nil {
		return Job{}, err
	}
	job.FundedAt = fundedAt
	return job, nil
}

// StartJob marks a funded job running when its agent first reports:
// funded → running, or low on balance (not started yet) → running and back
// to low on balance by solvency. at is when it started (the start of its
// first metered second); zero means now. It runs in the caller's
// transaction (metering's), so that the first usage and the start commit
// together. It is a no-op for a job that started already and has not
// ended, and returns the job's state. Errors: ErrJobNotFound, ErrJobEnded,
// or a *TransitionError for a job that is not funded.
func (m *Manager) StartJob(ctx context.Context, tx TxStore, id string,
	at time.Time) (State, error) {

	row, err := tx.JobByID(ctx, id)
	if errors.Is(err, ErrJobNotFound) {
		return "", fmt.Errorf("%w: %q", ErrJobNotFound, id)
	}
	if err != nil {
		return "", err
	}
	state := row.State
	switch {
	case state.Terminal():
		return state, fmt.Errorf("%w: job %s is %s", ErrJobEnded, id,
			state)
	case state.Funded() && !row.StartedAt.IsZero():
		return state, nil
	case state == StateSuspended:
		// Funded once but drained before the agent's first second:
		// no work may start until a top-up resumes the job.
		return state, fmt.Errorf("%w: job %s is suspended until a "+
			"top-up settles", ErrJobNotRunning, id)
	}

	detail := ""
	if !at.IsZero() {
		detail = "first second at " +
			at.UTC().Format(time.RFC3339Nano)
	}
	err = m.transitionAt(ctx, tx, &row, StateRunning, CauseAgentStarted,
		detail, at)
	if err != nil {
		return state, err
	}
	if _, err := m.evaluate(ctx, tx, &row); err != nil {
		return row.State, err
	}
	return row.State, nil
}

// UsageCharged re-evaluates a job's solvency in the caller's transaction
// after usage was posted from its escrow under key (by metering's group
// commit), which may mark it low on balance or suspend it. It returns the
// job's state and solvency.
func (m *Manager) UsageCharged(ctx context.Context, tx TxStore, id,
	key string) (State, Solvency, error) {

	row, err := tx.JobByID(ctx, id)
	if errors.Is(err, ErrJobNotFound) {
		return "", Solvency{}, fmt.Errorf("%w: %q", ErrJobNotFound, id)
	}
	if err != nil {
		return "", Solvency{}, err
	}
	s, err := m.evaluate(ctx, tx, &row)
	if err != nil {
		return "", Solvency{}, fmt.Errorf("job %s after %s: %w", id,
			key, err)
	}
	return row.State, s, nil
}

// readEarnings reads in tx what the job metered, earned and auto-staked,
// and its provider's payout balances.
func readEarnings(ctx context.Context, tx TxStore, st *Status) error {
	m, err := tx.JobMetered(ctx, st.ID)
	if err != nil {
		return err
	}
	st.SecondsMetered = m.LastSeq
	st.Spent, st.Fees = m.Charged, m.Fees
	st.Earned = m.Charged - m.Fees
	if st.AutoStaked, err = tx.JobAutoStaked(ctx, st.ID); err != nil {
		return err
	}
	for _, b := range []struct {
		account ledger.Account
		into    *ledger.MilliSatoshi
	}{
		{ledger.PaidOut(st.ProviderID), &st.ProviderPaidOut},
		{ledger.PayoutInFlight(st.ProviderID), &st.ProviderInFlight},
		{ledger.ProviderPayable(st.ProviderID), &st.ProviderPayable},
	} {
		if *b.into, err = tx.Balance(ctx, b.account); err != nil {
			return err
		}
	}
	return nil
}
