package dashboard

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"time"

	"github.com/sluice-ln/sluice/payout"
	"github.com/sluice-ln/sluice/settlement"
)

// Sizes of the lists the views show.
const (
	// recentPayouts is how many payouts the now page and a provider's
	// page show, newest first.
	recentPayouts = 10

	// recentRefundJobs is how many of the newest jobs the now page reads
	// for their refunds.
	recentRefundJobs = 20

	// providerPayouts is how many payouts a provider's page reads for
	// its chart and table.
	providerPayouts = 200
)

// errNotFound is returned by a view asked for a job or provider that does
// not exist.
var errNotFound = errors.New("not found")

// liveStates are the jobs the now page shows: funded and not ended.
var liveStates = []settlement.State{
	settlement.StateFunded, settlement.StateRunning,
	settlement.StateLowBalance, settlement.StateSuspended,
}

// JobRow is a job as the views show it. Money is in millisatoshi.
type JobRow struct {
	ID             string    `json:"id"`
	BuyerID        string    `json:"buyer_id"`
	ProviderID     string    `json:"provider_id"`
	State          string    `json:"state"`
	SecondsMetered int64     `json:"seconds_metered"`
	SpentMsat      int64     `json:"spent_msat"`
	EarnedMsat     int64     `json:"earned_msat"`
	FeesMsat       int64     `json:"fees_msat"`
	EscrowMsat     int64     `json:"escrow_msat"`
	RefundedMsat   int64     `json:"refunded_msat"`
	PricePerSecond string    `json:"price_msat_per_second"`
	RunwaySeconds  int64     `json:"runway_seconds"`
	Health         string    `json:"health"`
	DepletionTime  time.Time `json:"depletion_time,omitzero"`
	CreatedAt      time.Time `json:"created_at"`
	StartedAt      time.Time `json:"started_at,omitzero"`
	EndedAt        time.Time `json:"ended_at,omitzero"`
}

// ProviderRow is a provider's payout balances and status.
type ProviderRow struct {
	ID           string    `json:"id"`
	Alias        string    `json:"alias"`
	PayableMsat  int64     `json:"payable_msat"`
	InFlightMsat int64     `json:"in_flight_msat"`
	PaidOutMsat  int64     `json:"paid_out_msat"`
	PayoutStatus string    `json:"payout_status"`
	StatusReason string    `json:"payout_status_reason,omitempty"`
	RetryAt      time.Time `json:"retry_at,omitzero"`
	Payouts      int64     `json:"payouts"`
	Succeeded    int64     `json:"payouts_succeeded"`
	LastPayoutAt time.Time `json:"last_payout_at,omitzero"`
}

// PayoutRow is one payout.
type PayoutRow struct {
	ID         string    `json:"id"`
	ProviderID string    `json:"provider_id"`
	AmountMsat int64     `json:"amount_msat"`
	FeeMsat    int64     `json:"fee_msat"`
	State      string    `json:"state"`
	Failure    string    `json:"failure,omitempty"`
	CreatedAt  time.Time `json:"created_at"`
	ResolvedAt time.Time `json:"resolved_at,omitzero"`
}

// RefundRow is one refund.
type RefundRow struct {
	JobID      string    `json:"job_id"`
	Method     string    `json:"method"`
	AmountMsat int64     `json:"amount_msat"`
	FeeMsat    int64     `json:"fee_msat"`
	State      string    `json:"state"`
	Failure    string    `json:"failure,omitempty"`
	CreatedAt  time.Time `json:"created_at"`
	ResolvedAt time.Time `json:"resolved_at,omitzero"`
}

// ReconcileRow is the last reconciliation, if one ran.
type ReconcileRow struct {
	Ran         bool      `json:"ran"`
	At          time.Time `json:"at,omitzero"`
	OK          bool      `json:"ok"`
	Differences int       `json:"differences"`
	Err         string    `json:"error,omitempty"`
}

// NowView is the now page's data.
type NowView struct {
	AsOf      time.Time     `json:"as_of"`
	Jobs      []JobRow      `json:"jobs"`
	Providers []ProviderRow `json:"providers"`
	Payouts   []PayoutRow   `json:"payouts"`
	Refunds   []RefundRow   `json:"refunds"`
	Reconcile ReconcileRow  `json:"reconcile"`
}

// EventRow is one of a job's state changes.
type EventRow struct {
	From   string    `json:"from"`
	To     string    `json:"to"`
	Cause  string    `json:"cause"`
	Detail string    `json:"detail,omitempty"`
	At     time.Time `json:"at"`
}

// JobView is a job's page data.
type JobView struct {
	AsOf    time.Time   `json:"as_of"`
	Job     JobRow      `json:"job"`
	Events  []EventRow  `json:"events"`
	Refunds []RefundRow `json:"refunds"`

	// Provider and Payouts are the job's provider's balances and
	// payouts: payouts are netted per provider, so none belongs to one
	// job.
	Provider ProviderRow `json:"provider"`
	Payouts  []PayoutRow `json:"payouts"`
}

// ProviderPage is a provider's page data.
type ProviderPage struct {
	AsOf     time.Time   `json:"as_of"`
	Provider ProviderRow `json:"provider"`
	Jobs     []JobRow    `json:"jobs"`
	Payouts  []PayoutRow `json:"payouts"`
}

// jobRow converts a job's status.
func jobRow(st settlement.Status) JobRow {
	return JobRow{
		ID: st.ID, BuyerID: st.BuyerID, ProviderID: st.ProviderID,
		State:          string(st.State),
		SecondsMetered: st.SecondsMetered,
		SpentMsat:      int64(st.Spent),
		EarnedMsat:     int64(st.Earned),
		FeesMsat:       int64(st.Fees),
		EscrowMsat:     int64(st.Solvency.Escrow),
		RefundedMsat:   int64(st.Refunded),
		PricePerSecond: st.PricePerSecond.String(),
		RunwaySeconds:  st.Solvency.RunwaySeconds,
		Health:         st.Solvency.Health.String(),
		DepletionTime:  st.DepletionTime,
		CreatedAt:      st.CreatedAt,
		StartedAt:      st.StartedAt,
		EndedAt:        st.EndedAt,
	}
}

// providerRow converts payouts' view of a provider.
func providerRow(v payout.ProviderView, alias string) ProviderRow {
	return ProviderRow{
		ID: v.ProviderID, Alias: alias,
		PayableMsat:  int64(v.Payable),
		InFlightMsat: int64(v.InFlight),
		PaidOutMsat:  int64(v.PaidOut),
		PayoutStatus: string(v.Status.State),
		StatusReason: v.Status.Reason,
		RetryAt:      v.Status.RetryAt,
	}
}

// payoutRows converts payouts.
func payoutRows(ps []payout.Payout) []PayoutRow {
	out := make([]PayoutRow, 0, len(ps))
	for _, p := range ps {
		out = append(out, PayoutRow{
			ID: p.ID, ProviderID: p.ProviderID,
			AmountMsat: int64(p.Amount), FeeMsat: int64(p.Fee),
			State: string(p.State), Failure: p.Failure,
			CreatedAt: p.CreatedAt, ResolvedAt: p.ResolvedAt,
		})
	}
	return out
}

// refundRows converts a job's refunds.
func refundRows(jobID string, rs []settlement.Refund) []RefundRow {
	out := make([]RefundRow, 0, len(rs))
	for _, r := range rs {
		out = append(out, RefundRow{
			JobID: jobID, Method: string(r.Method),
			AmountMsat: int64(r.Amount), FeeMsat: int64(r.Fee),
			State: string(r.State), Failure: r.Failure,
			CreatedAt: r.CreatedAt, ResolvedAt: r.ResolvedAt,
		})
	}
	return out
}

// views builds the views from the domain packages' reads.
type views struct {
	jobs      Jobs
	providers Providers
	payouts   Payouts
	reconcile Reconciliations
	vault     Vault
	shareOps  ShareOps
	now       func() time.Time
}

// nowView reads the now page.
func (v *views) nowView(ctx context.Context) (NowView, error) {
	out := NowView{AsOf: v.now().UTC(), Jobs: []JobRow{},
		Providers: []ProviderRow{}, Payouts: []PayoutRow{},
		Refunds: []RefundRow{}}

	live, err := v.jobs.ListJobs(ctx, settlement.ListFilter{
		States: liveStates,
	})
	if err != nil {
		return NowView{}, fmt.Errorf("jobs: %w", err)
	}
	for _, st := range live {
		out.Jobs = append(out.Jobs, jobRow(st))
	}

	provs, err := v.providers.Providers(ctx)
	if err != nil {
		return NowView{}, err
	}
	for _, p := range provs {
		st, err := v.payouts.ProviderStatus(ctx, p.ID, false)
		if err != nil {
			return NowView{}, fmt.Errorf("provider %s: %w", p.ID,
				err)
		}
		row := providerRow(st.ProviderView, p.Alias)
		row.Payouts, row.Succeeded = st.Payouts, st.Succeeded
		row.LastPayoutAt = st.LastPayoutAt
		out.Providers = append(out.Providers, row)

		view, err := v.payouts.Provider(ctx, p.ID, recentPayouts)
		if err != nil {
			return NowView{}, fmt.Errorf("provider %s: %w", p.ID,
				err)
		}
		out.Payouts = append(out.Payouts, payoutRows(view.Recent)...)
	}
	sort.SliceStable(out.Payouts, func(i, j int) bool {
		return out.Payouts[i].CreatedAt.After(out.Payouts[j].CreatedAt)
	})
	if len(out.Payouts) > recentPayouts {
		out.Payouts = out.Payouts[:recentPayouts]
	}

	// Refunds are kept per job: the newest jobs' refunds, newest first.
	recent, err := v.jobs.ListJobs(ctx, settlement.ListFilter{
		Limit: recentRefundJobs,
	})
	if err != nil {
		return NowView{}, fmt.Errorf("jobs: %w", err)
	}
	for _, st := range recent {
		if st.Refunded == 0 && st.State != settlement.StateEnded &&
			st.State != settlement.StateExpired {

			continue
		}
		full, err := v.jobs.GetJob(ctx, st.ID)
		if err != nil {
			return NowView{}, fmt.Errorf("job %s: %w", st.ID, err)
		}
		out.Refunds = append(out.Refunds,
			refundRows(st.ID, full.Refunds)...)
	}
	sort.SliceStable(out.Refunds, func(i, j int) bool {
		return out.Refunds[i].CreatedAt.After(out.Refunds[j].CreatedAt)
	})
	if len(out.Refunds) > recentPayouts {
		out.Refunds = out.Refunds[:recentPayouts]
	}

	if v.reconcile != nil {
		if r, ok := v.reconcile.LastReconcile(); ok {
			out.Reconcile = ReconcileRow{Ran: true, At: r.At,
				OK: r.OK, Differences: r.Differences,
				Err: r.Err}
		}
	}
	return out, nil
}

// jobView reads a job's page.
func (v *views) jobView(ctx context.Context, id string) (JobView, error) {
	st, err := v.jobs.GetJob(ctx, id)
	if errors.Is(err, settlement.ErrJobNotFound) {
		return JobView{}, fmt.Errorf("job %q: %w", id, errNotFound)
	}
	if err != nil {
		return JobView{}, err
	}
	out := JobView{AsOf: st.AsOf.UTC(), Job: jobRow(st),
		Events:  []EventRow{},
		Refunds: refundRows(st.ID, st.Refunds)}
	for _, e := range st.Events {
		out.Events = append(out.Events, EventRow{From: string(e.From),
			To: string(e.To), Cause: string(e.Cause),
			Detail: e.Detail, At: e.At})
	}
	view, err := v.payouts.Provider(ctx, st.ProviderID, providerPayouts)
	if err != nil {
		return JobView{}, fmt.Errorf("provider %s: %w", st.ProviderID,
			err)
	}
	out.Provider = providerRow(view, "")
	out.Payouts = payoutRows(view.Recent)
	return out, nil
}

// providerPage reads a provider's page.
func (v *views) providerPage(ctx context.Context, id string) (
	ProviderPage, error) {

	st, err := v.payouts.ProviderStatus(ctx, id, true)
	if errors.Is(err, payout.ErrProviderNotFound) {
		return ProviderPage{}, fmt.Errorf("provider %q: %w", id,
			errNotFound)
	}
	if err != nil {
		return ProviderPage{}, err
	}
	view, err := v.payouts.Provider(ctx, id, providerPayouts)
	if err != nil {
		return ProviderPage{}, err
	}
	alias := ""
	provs, err := v.providers.Providers(ctx)
	if err != nil {
		return ProviderPage{}, err
	}
	for _, p := range provs {
		if p.ID == id {
			alias = p.Alias
		}
	}
	row := providerRow(st.ProviderView, alias)
	row.Payouts, row.Succeeded = st.Payouts, st.Succeeded
	row.LastPayoutAt = st.LastPayoutAt
	out := ProviderPage{AsOf: st.AsOf, Provider: row, Jobs: []JobRow{},
		Payouts: payoutRows(view.Recent)}
	for _, j := range st.Jobs {
		out.Jobs = append(out.Jobs, JobRow{ID: j.JobID, ProviderID: id,
			State: j.State, SecondsMetered: j.SecondsMetered,
			EarnedMsat: int64(j.Earned),
			EscrowMsat: int64(j.Escrow)})
	}
	return out, nil
}
