package rpc

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"math"
	"slices"
	"strings"
	"time"

	"connectrpc.com/connect"
	"github.com/sluice-ln/sluice/ledger"
	"github.com/sluice-ln/sluice/rpc/sluicerpc"
	"github.com/sluice-ln/sluice/rpc/sluicerpc/sluicerpcconnect"
	"github.com/sluice-ln/sluice/yield"
)

// YieldBackend is the vault's strategies as the YieldService's handlers use
// them: exactly the methods they call. *yield.Vault implements it. Money is
// msat; every method reads or changes the vault in its own store
// transactions. Errors wrap yield's sentinels, which yieldCodes maps to
// status codes.
type YieldBackend interface {
	// Plan makes and stores a plan of every allocator's actions; nothing
	// else changes.
	Plan(ctx context.Context) (yield.Plan, error)

	// GetPlan returns a stored plan and its row (AppliedAt);
	// yield.ErrPlanNotFound.
	GetPlan(ctx context.Context, id string) (yield.Plan, yield.StoredPlan,
		error)

	// Apply carries out a stored plan once: yield.ErrPlanNotFound,
	// ErrPlanApplied, ErrPlanExpired, ErrPlanStale, ErrStrategyKilled,
	// ErrShutdown, ErrOverBudget, or a *yield.LimitError (a cap, the
	// liquid floor), each changing nothing.
	Apply(ctx context.Context, id string) (yield.Applied, error)

	// Actions returns the applied actions the filter selects, in id
	// order.
	Actions(ctx context.Context, f yield.ActionFilter) (
		[]yield.StoredAction, error)

	// Report reads every allocator's and the vault's yield over the
	// window ending now, since the start when it is zero;
	// yield.ErrInvalidWindow when it is negative.
	Report(ctx context.Context, window time.Duration) (yield.Report, error)

	// SetStrategySettings replaces a strategy's kill switch and budget:
	// yield.ErrUnknownStrategy (reserve included), ErrInvalidPolicy (a
	// negative budget or period, a period under a second).
	SetStrategySettings(ctx context.Context, s yield.StrategySettings) (
		yield.StrategySettings, error)

	// StrategySettingsAll returns every allocator's settings by name.
	StrategySettingsAll(ctx context.Context) (
		map[string]yield.StrategySettings, error)
}

var _ YieldBackend = (*yield.Vault)(nil)

// ErrYieldNotServed is the message of every YieldService method of a
// server without strategies (Config.Yield nil), answered as unimplemented.
var ErrYieldNotServed = errors.New("this sluiced serves no yield " +
	"strategies")

// maxWindowSeconds is the longest window or budget period, in seconds,
// that a time.Duration holds.
const maxWindowSeconds = math.MaxInt64 / int64(time.Second)

// yieldService implements the YieldService; the permission table gives
// every method to the operator alone.
type yieldService struct {
	sluicerpcconnect.UnimplementedYieldServiceHandler

	// backend is the vault; nil answers every method unimplemented.
	backend YieldBackend
}

var _ sluicerpcconnect.YieldServiceHandler = (*yieldService)(nil)

// served returns an unimplemented error when there is no vault.
func (s *yieldService) served() error {
	if s.backend == nil {
		return connect.NewError(connect.CodeUnimplemented,
			ErrYieldNotServed)
	}
	return nil
}

// yieldCodes maps the yield package's errors of plans, actions, reports
// and strategy settings to status codes: an id never stored is not_found;
// a plan the vault will not carry out now is failed_precondition, each
// refusal with its own message (expired, applied, stale, killed, over
// budget, shut down, a cap or the floor with by how much); a bad name,
// window or setting is invalid_argument. Errors not listed are faults of
// the server: internal.
var yieldCodes = errorCodes{
	{yield.ErrPlanNotFound, connect.CodeNotFound},
	{yield.ErrActionNotFound, connect.CodeNotFound},

	{yield.ErrPlanExpired, connect.CodeFailedPrecondition},
	{yield.ErrPlanApplied, connect.CodeFailedPrecondition},
	{yield.ErrPlanStale, connect.CodeFailedPrecondition},
	{yield.ErrStrategyKilled, connect.CodeFailedPrecondition},
	{yield.ErrOverBudget, connect.CodeFailedPrecondition},
	{yield.ErrShutdown, connect.CodeFailedPrecondition},
	{yield.ErrLimit, connect.CodeFailedPrecondition},
	{yield.ErrActionResolved, connect.CodeFailedPrecondition},

	{yield.ErrUnknownStrategy, connect.CodeInvalidArgument},
	{yield.ErrInvalidWindow, connect.CodeInvalidArgument},
	{yield.ErrInvalidPolicy, connect.CodeInvalidArgument},
	{yield.ErrInvalidAmount, connect.CodeInvalidArgument},
	{yield.ErrNegative, connect.CodeInvalidArgument},
	{yield.ErrOverflow, connect.CodeOutOfRange},
}

// Plan makes and stores a plan.
func (s *yieldService) Plan(ctx context.Context,
	_ *connect.Request[sluicerpc.PlanRequest]) (
	*connect.Response[sluicerpc.PlanResponse], error) {

	if err := s.served(); err != nil {
		return nil, err
	}
	p, err := s.backend.Plan(ctx)
	if err != nil {
		return nil, yieldCodes.connectError("plan", err)
	}
	return connect.NewResponse(&sluicerpc.PlanResponse{
		Plan: yieldPlanProto(p),
	}), nil
}

// planID checks a request's plan id: given, and no longer than an id can
// be.
func planID(id string) (string, error) {
	switch {
	case id == "":
		return "", connect.NewError(connect.CodeInvalidArgument,
			errors.New("plan_id is empty"))

	case len(id) > 64:
		return "", connect.NewError(connect.CodeInvalidArgument,
			fmt.Errorf("plan_id is %d bytes, a plan's id is 32 "+
				"hex digits", len(id)))
	}
	return id, nil
}

// GetPlan returns a stored plan and when it was applied.
func (s *yieldService) GetPlan(ctx context.Context,
	req *connect.Request[sluicerpc.GetPlanRequest]) (
	*connect.Response[sluicerpc.GetPlanResponse], error) {

	if err := s.served(); err != nil {
		return nil, err
	}
	id, err := planID(req.Msg.PlanId)
	if err != nil {
		return nil, err
	}
	p, sp, err := s.backend.GetPlan(ctx, id)
	if err != nil {
		return nil, yieldCodes.connectError("get plan", err)
	}
	return connect.NewResponse(&sluicerpc.GetPlanResponse{
		Plan:      yieldPlanProto(p),
		AppliedAt: ts(sp.AppliedAt),
	}), nil
}

// Apply carries out a plan.
func (s *yieldService) Apply(ctx context.Context,
	req *connect.Request[sluicerpc.ApplyRequest]) (
	*connect.Response[sluicerpc.ApplyResponse], error) {

	if err := s.served(); err != nil {
		return nil, err
	}
	id, err := planID(req.Msg.PlanId)
	if err != nil {
		return nil, err
	}
	applied, err := s.backend.Apply(ctx, id)
	if err != nil {
		return nil, yieldCodes.connectError("apply", err)
	}
	resp := &sluicerpc.ApplyResponse{PlanId: id}
	for _, a := range applied.Actions {
		resp.Actions = append(resp.Actions, appliedActionProto(a))
	}
	return connect.NewResponse(resp), nil
}

// actionStatuses are the statuses ListActions filters by.
var actionStatuses = map[string]yield.ActionStatus{
	string(yield.ActionPending):   yield.ActionPending,
	string(yield.ActionSucceeded): yield.ActionSucceeded,
	string(yield.ActionFailed):    yield.ActionFailed,
}

// ListActions returns applied actions.
func (s *yieldService) ListActions(ctx context.Context,
	req *connect.Request[sluicerpc.ListActionsRequest]) (
	*connect.Response[sluicerpc.ListActionsResponse], error) {

	if err := s.served(); err != nil {
		return nil, err
	}
	f := yield.ActionFilter{PlanID: req.Msg.PlanId}
	if st := req.Msg.Status; st != "" {
		status, ok := actionStatuses[st]
		if !ok {
			return nil, connect.NewError(connect.CodeInvalidArgument,
				fmt.Errorf("status: %q is not pending, "+
					"succeeded or failed", st))
		}
		f.Status = status
	}
	as, err := s.backend.Actions(ctx, f)
	if err != nil {
		return nil, yieldCodes.connectError("list actions", err)
	}
	resp := &sluicerpc.ListActionsResponse{}
	for _, a := range as {
		resp.Actions = append(resp.Actions, appliedActionProto(a))
	}
	return connect.NewResponse(resp), nil
}

// Report reads the strategies' and the vault's yield over a window.
func (s *yieldService) Report(ctx context.Context,
	req *connect.Request[sluicerpc.ReportRequest]) (
	*connect.Response[sluicerpc.ReportResponse], error) {

	if err := s.served(); err != nil {
		return nil, err
	}
	secs := req.Msg.WindowSeconds
	if secs > maxWindowSeconds {
		return nil, connect.NewError(connect.CodeInvalidArgument,
			fmt.Errorf("window_seconds %d is above %d", secs,
				maxWindowSeconds))
	}
	r, err := s.backend.Report(ctx, time.Duration(secs)*time.Second)
	if err != nil {
		return nil, yieldCodes.connectError("report", err)
	}
	return connect.NewResponse(reportProto(r, req.Msg.Explain)), nil
}

// SetStrategy replaces a strategy's settings.
func (s *yieldService) SetStrategy(ctx context.Context,
	req *connect.Request[sluicerpc.SetStrategyRequest]) (
	*connect.Response[sluicerpc.SetStrategyResponse], error) {

	if err := s.served(); err != nil {
		return nil, err
	}
	m := req.Msg
	switch {
	case m.Name == "":
		return nil, connect.NewError(connect.CodeInvalidArgument,
			errors.New("name is empty"))

	case m.BudgetPeriodSeconds > maxWindowSeconds:
		return nil, connect.NewError(connect.CodeInvalidArgument,
			fmt.Errorf("budget_period_seconds %d is above %d",
				m.BudgetPeriodSeconds, maxWindowSeconds))

	case m.BudgetMsat != 0 && m.BudgetPeriodSeconds == 0:
		return nil, connect.NewError(connect.CodeInvalidArgument,
			fmt.Errorf("budget_msat %d without "+
				"budget_period_seconds: a budget is per period",
				m.BudgetMsat))
	}
	set, err := s.backend.SetStrategySettings(ctx, yield.StrategySettings{
		Strategy: m.Name,
		Killed:   m.Killed,
		Budget:   ledger.MilliSatoshi(m.BudgetMsat),
		BudgetPeriod: time.Duration(m.BudgetPeriodSeconds) *
			time.Second,
	})
	if err != nil {
		return nil, yieldCodes.connectError("set strategy", err)
	}
	log.Infof("Strategy %s set: killed %v, budget %v per %v",
		set.Strategy, set.Killed, set.Budget, set.BudgetPeriod)
	return connect.NewResponse(&sluicerpc.SetStrategyResponse{
		Settings: strategySettingsProto(set),
	}), nil
}

// ListStrategies returns every strategy's settings.
func (s *yieldService) ListStrategies(ctx context.Context,
	_ *connect.Request[sluicerpc.ListStrategiesRequest]) (
	*connect.Response[sluicerpc.ListStrategiesResponse], error) {

	if err := s.served(); err != nil {
		return nil, err
	}
	all, err := s.backend.StrategySettingsAll(ctx)
	if err != nil {
		return nil, yieldCodes.connectError("list strategies", err)
	}
	resp := &sluicerpc.ListStrategiesResponse{}
	for name, set := range all {
		set.Strategy = name
		resp.Strategies = append(resp.Strategies,
			strategySettingsProto(set))
	}
	slices.SortFunc(resp.Strategies, func(a,
		b *sluicerpc.StrategySettings) int {

		return cmp.Compare(a.Name, b.Name)
	})
	return connect.NewResponse(resp), nil
}

// seconds is d in whole seconds, rounded down.
func seconds(d time.Duration) int64 { return int64(d / time.Second) }

// yieldPlanProto is a plan as the API shows it.
func yieldPlanProto(p yield.Plan) *sluicerpc.YieldPlan {
	out := &sluicerpc.YieldPlan{
		Id:         p.ID,
		StateHash:  p.StateHash,
		CreatedAt:  ts(p.CreatedAt),
		ExpiresAt:  ts(p.ExpiresAt),
		AssetsMsat: int64(p.Assets),
		IdleMsat:   int64(p.Idle),
		FloorMsat:  int64(p.Floor),
		FreeMsat:   int64(p.Free),
		Shutdown:   p.Shutdown,
	}
	for _, s := range p.Strategies {
		sp := &sluicerpc.StrategyPlan{
			Name:                s.Name,
			CurrentMsat:         int64(s.Current),
			TargetMsat:          int64(s.Target),
			CapMsat:             int64(s.Cap),
			HasCap:              s.HasCap,
			Killed:              s.Killed,
			BudgetMsat:          int64(s.Budget),
			BudgetPeriodSeconds: seconds(s.BudgetPeriod),
			SpentMsat:           int64(s.Spent),
			ExpectedCostMsat:    int64(s.Expected),
		}
		for _, pos := range s.Positions {
			sp.Positions = append(sp.Positions,
				&sluicerpc.YieldPosition{
					Id:            pos.ID,
					Peer:          pos.Peer,
					PrincipalMsat: int64(pos.Principal),
					Status:        pos.Status,
				})
		}
		out.Strategies = append(out.Strategies, sp)
	}
	for _, a := range p.Actions {
		out.Actions = append(out.Actions, &sluicerpc.PlannedAction{
			Strategy:         a.Strategy,
			Kind:             string(a.Kind),
			Target:           a.Target,
			AmountMsat:       int64(a.Amount),
			Params:           a.Params,
			Reason:           a.Reason,
			ExpectedCostMsat: int64(a.ExpectedCost),
		})
	}
	for _, l := range p.LeftOut {
		out.LeftOut = append(out.LeftOut, &sluicerpc.LeftOut{
			Strategy: l.Strategy,
			Target:   l.Target,
			Reason:   l.Reason,
		})
	}
	return out
}

// appliedActionProto is an applied action as the API shows it.
func appliedActionProto(a yield.StoredAction) *sluicerpc.AppliedAction {
	return &sluicerpc.AppliedAction{
		Id:               a.ID,
		PlanId:           a.PlanID,
		Strategy:         a.Strategy,
		Kind:             string(a.Kind),
		Target:           a.Target,
		AmountMsat:       int64(a.Amount),
		Params:           a.Params,
		Reason:           a.Reason,
		ExpectedCostMsat: int64(a.ExpectedCost),
		Status:           string(a.Status),
		Error:            a.Outcome.Error,
		Result:           a.Outcome.Result,
		CreatedAt:        ts(a.CreatedAt),
		ResolvedAt:       ts(a.ResolvedAt),
	}
}

// strategySettingsProto is a strategy's settings as the API shows them.
func strategySettingsProto(s yield.StrategySettings) *sluicerpc.StrategySettings {
	return &sluicerpc.StrategySettings{
		Name:                s.Strategy,
		Killed:              s.Killed,
		BudgetMsat:          int64(s.Budget),
		BudgetPeriodSeconds: seconds(s.BudgetPeriod),
		UpdatedAt:           ts(s.UpdatedAt),
	}
}

// reportProto is a report as the API shows it; the ledger entries only
// when explain.
func reportProto(r yield.Report, explain bool) *sluicerpc.ReportResponse {
	window := windowLabel(r)
	out := &sluicerpc.ReportResponse{
		Start:         ts(r.Start),
		End:           ts(r.End),
		SinceStart:    r.SinceStart,
		WindowSeconds: seconds(r.Window()),
		Vault: &sluicerpc.VaultYield{
			NetMsat:        int64(r.Vault.Net),
			ValueStartMsat: r.Vault.ValueStart.String(),
			ValueEndMsat:   r.Vault.ValueEnd.String(),
			Return:         r.Vault.Return.String(),
			HasApy:         r.Vault.HasAPY,
			ApyLabel:       "APY " + window + " (value per share)",
		},
	}
	if r.Vault.HasAPY {
		// A power's digits run on; 18 places are plenty.
		out.Vault.Apy = r.Vault.APY.Round(18).String()
	}
	for _, s := range r.Strategies {
		sr := &sluicerpc.StrategyReport{
			Name:            s.Name,
			CapitalMsat:     int64(s.Capital),
			CapitalEndMsat:  int64(s.CapitalEnd),
			Income:          reportLines(s.Income),
			Costs:           reportLines(s.Costs),
			IncomeTotalMsat: int64(s.IncomeTotal),
			CostTotalMsat:   int64(s.CostTotal),
			NetMsat:         int64(s.Net),
			HasReturn:       s.HasReturn,
			AprLabel:        "APR " + window,
		}
		if s.HasReturn {
			sr.Return = s.Return.String()
			sr.Apr = s.APR.String()
		}
		if explain {
			for _, e := range s.Entries {
				sr.Entries = append(sr.Entries,
					&sluicerpc.ReportEntry{
						TxId:        e.TxID,
						Time:        ts(e.Time),
						Key:         e.IdempotencyKey,
						Description: e.Description,
						// The yield account holds
						// income as negative.
						AmountMsat: -int64(e.Amount),
					})
			}
		}
		out.Strategies = append(out.Strategies, sr)
	}
	return out
}

// reportLines are a report's lines as the API shows them.
func reportLines(ls []yield.Line) []*sluicerpc.ReportLine {
	out := make([]*sluicerpc.ReportLine, 0, len(ls))
	for _, l := range ls {
		out = append(out, &sluicerpc.ReportLine{
			Name:       l.Name,
			AmountMsat: int64(l.Amount),
			Entries:    int64(l.Entries),
		})
	}
	return out
}

// windowLabel says which window a rate is over, as its label shows it:
// "over 7d", or "since 2026-12-02T14:30Z (3h12m)" for a report since the
// start.
func windowLabel(r yield.Report) string {
	if r.SinceStart {
		return fmt.Sprintf("since %s (%s)",
			r.Start.UTC().Format("2006-01-02T15:04Z07:00"),
			windowText(r.Window()))
	}
	return "over " + windowText(r.Window())
}

// windowText writes a window in whole days, hours, minutes and seconds,
// without zero units: 7d, 1d12h, 3h12m, 45s.
func windowText(d time.Duration) string {
	d = d.Truncate(time.Second)
	if d <= 0 {
		return "0s"
	}
	var b strings.Builder
	for _, u := range []struct {
		d    time.Duration
		name string
	}{
		{24 * time.Hour, "d"}, {time.Hour, "h"}, {time.Minute, "m"},
		{time.Second, "s"},
	} {
		if n := d / u.d; n > 0 {
			fmt.Fprintf(&b, "%d%s", n, u.name)
			d -= n * u.d
		}
	}
	return b.String()
}
