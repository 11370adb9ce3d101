package rpc

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"connectrpc.com/connect"
	"github.com/sluice-ln/sluice/ledger"
	"github.com/sluice-ln/sluice/rpc/sluicerpc"
	"github.com/sluice-ln/sluice/rpc/sluicerpc/sluicerpcconnect"
	"github.com/sluice-ln/sluice/rpc/yieldtest"
	"github.com/sluice-ln/sluice/yield"
)

// yieldDaemon is a server whose YieldService uses a vault, and the
// macaroons of each role.
type yieldDaemon struct {
	*testDaemon
	client sluicerpcconnect.YieldServiceClient

	operator, provider, buyer string
}

// startYieldDaemon serves the YieldService over backend (none when nil).
func startYieldDaemon(t *testing.T, backend YieldBackend) yieldDaemon {
	t.Helper()
	dir := t.TempDir()
	cfg := testConfig(dir, &fakeInfo{})
	if backend != nil {
		cfg.Yield = backend
	}
	d := startServer(t, dir, cfg)
	return yieldDaemon{
		testDaemon: d,
		client: sluicerpcconnect.NewYieldServiceClient(
			httpClient(t, d.certPath(), true), d.url(),
			connect.WithGRPC(),
		),
		operator: d.macaroonHex(t, OperatorMacaroonFile),
		provider: d.providerHex(t, "prov-1"),
		buyer:    d.buyerHex(t, "buyer-1"),
	}
}

// yieldEnv is a vault with the test allocator and 1,000,000 msat idle: a
// floor of 20 % and a cap of 600,000 msat for routing, whose candidates
// are three peers, each for a channel of 250,000 msat whose open costs
// 1,000 msat.
func yieldEnv(t *testing.T) *yieldtest.Env {
	t.Helper()
	e := yieldtest.New(t, 1_000_000)
	e.Policy(2_000, 600_000)
	e.Alloc.SetPeers(250_000, 1_000, "02aa", "02bb", "02cc")
	return e
}

// yieldMethods calls each YieldService method with a macaroon.
var yieldMethods = map[string]func(ctx context.Context,
	c sluicerpcconnect.YieldServiceClient, mac string) error{

	"Plan": func(ctx context.Context, c sluicerpcconnect.YieldServiceClient,
		mac string) error {

		_, err := c.Plan(ctx, withMac(&sluicerpc.PlanRequest{}, mac))
		return err
	},
	"GetPlan": func(ctx context.Context,
		c sluicerpcconnect.YieldServiceClient, mac string) error {

		_, err := c.GetPlan(ctx, withMac(&sluicerpc.GetPlanRequest{
			PlanId: "00"}, mac))
		return err
	},
	"Apply": func(ctx context.Context,
		c sluicerpcconnect.YieldServiceClient, mac string) error {

		_, err := c.Apply(ctx, withMac(&sluicerpc.ApplyRequest{
			PlanId: "00"}, mac))
		return err
	},
	"ListActions": func(ctx context.Context,
		c sluicerpcconnect.YieldServiceClient, mac string) error {

		_, err := c.ListActions(ctx, withMac(
			&sluicerpc.ListActionsRequest{}, mac))
		return err
	},
	"Report": func(ctx context.Context,
		c sluicerpcconnect.YieldServiceClient, mac string) error {

		_, err := c.Report(ctx, withMac(&sluicerpc.ReportRequest{}, mac))
		return err
	},
	"SetStrategy": func(ctx context.Context,
		c sluicerpcconnect.YieldServiceClient, mac string) error {

		_, err := c.SetStrategy(ctx, withMac(
			&sluicerpc.SetStrategyRequest{Name: yieldtest.Name},
			mac))
		return err
	},
	"ListStrategies": func(ctx context.Context,
		c sluicerpcconnect.YieldServiceClient, mac string) error {

		_, err := c.ListStrategies(ctx, withMac(
			&sluicerpc.ListStrategiesRequest{}, mac))
		return err
	},
}

// TestYieldRoles calls every method with every role: the operator's
// calls reach the vault (a plan id never stored is not_found there), every
// other role is refused before it.
func TestYieldRoles(t *testing.T) {
	t.Parallel()
	d := startYieldDaemon(t, yieldEnv(t).Vault)
	ctx := context.Background()
	for method, do := range yieldMethods {
		t.Run(method, func(t *testing.T) {
			err := do(ctx, d.client, d.operator)
			if c := connect.CodeOf(err); err != nil &&
				c != connect.CodeNotFound {

				t.Errorf("operator: %v", err)
			}
			for role, mac := range map[string]string{
				"provider": d.provider, "buyer": d.buyer,
			} {
				err := do(ctx, d.client, mac)
				if connect.CodeOf(err) !=
					connect.CodePermissionDenied {

					t.Errorf("%s: %v, want permission "+
						"denied", role, err)
				}
			}
			err = do(ctx, d.client, "")
			if connect.CodeOf(err) != connect.CodeUnauthenticated {
				t.Errorf("no macaroon: %v", err)
			}
		})
	}
}

// TestYieldNotServed checks that a server without strategies answers
// every method unimplemented, saying so.
func TestYieldNotServed(t *testing.T) {
	t.Parallel()
	d := startYieldDaemon(t, nil)
	for method, do := range yieldMethods {
		err := do(context.Background(), d.client, d.operator)
		if connect.CodeOf(err) != connect.CodeUnimplemented ||
			!strings.Contains(err.Error(), "serves no yield") {

			t.Errorf("%s: %v, want unimplemented", method, err)
		}
	}
}

// TestYieldPlanApplyReport plans within the cap and the floor, applies
// the plan, lists its actions, harvests an income and a cost, and reports
// them over a window and since the start, with and without the ledger
// entries.
func TestYieldPlanApplyReport(t *testing.T) {
	t.Parallel()
	e := yieldEnv(t)
	d := startYieldDaemon(t, e.Vault)
	ctx := context.Background()
	c, op := d.client, d.operator

	// Room is the cap, 600,000: two channels, the third left out.
	pr, err := c.Plan(ctx, withMac(&sluicerpc.PlanRequest{}, op))
	if err != nil {
		t.Fatal(err)
	}
	p := pr.Msg.Plan
	if len(p.Id) != 32 || len(p.StateHash) != 64 ||
		!p.CreatedAt.AsTime().Equal(yieldtest.Start) ||
		!p.ExpiresAt.AsTime().Equal(yieldtest.Start.Add(
			yield.DefaultPlanTTL)) {

		t.Errorf("plan %v", p)
	}
	if p.AssetsMsat != 1_000_000 || p.IdleMsat != 1_000_000 ||
		p.FloorMsat != 200_000 || p.FreeMsat != 800_000 || p.Shutdown {

		t.Errorf("plan's vault: %v", p)
	}
	if len(p.Strategies) != 2 {
		t.Fatalf("strategies %v", p.Strategies)
	}
	if r := p.Strategies[0]; r.Name != yield.ReserveName ||
		r.CurrentMsat != 1_000_000 || r.TargetMsat != 500_000 ||
		r.HasCap {

		t.Errorf("reserve %v", r)
	}
	if s := p.Strategies[1]; s.Name != yieldtest.Name ||
		s.CurrentMsat != 0 || s.TargetMsat != 500_000 ||
		s.CapMsat != 600_000 || !s.HasCap || s.Killed ||
		s.ExpectedCostMsat != 2_000 || s.BudgetPeriodSeconds != 0 {

		t.Errorf("routing %v", s)
	}
	if len(p.Actions) != 2 {
		t.Fatalf("actions %v", p.Actions)
	}
	if a := p.Actions[0]; a.Strategy != yieldtest.Name ||
		a.Kind != "open" || a.Target != "02aa" ||
		a.AmountMsat != 250_000 || a.ExpectedCostMsat != 1_000 ||
		a.Reason == "" || len(a.Params) != 2 {

		t.Errorf("action %v", a)
	}
	if len(p.LeftOut) != 1 || p.LeftOut[0].Target != "02cc" ||
		p.LeftOut[0].Strategy != yieldtest.Name ||
		!strings.Contains(p.LeftOut[0].Reason, "100000 msat") {

		t.Errorf("left out %v", p.LeftOut)
	}

	gp, err := c.GetPlan(ctx, withMac(&sluicerpc.GetPlanRequest{
		PlanId: p.Id}, op))
	if err != nil || gp.Msg.AppliedAt != nil ||
		gp.Msg.Plan.StateHash != p.StateHash ||
		len(gp.Msg.Plan.Actions) != 2 {

		t.Fatalf("get plan before apply: %v, %v", gp, err)
	}

	ar, err := c.Apply(ctx, withMac(&sluicerpc.ApplyRequest{PlanId: p.Id},
		op))
	if err != nil {
		t.Fatal(err)
	}
	if ar.Msg.PlanId != p.Id || len(ar.Msg.Actions) != 2 {
		t.Fatalf("applied %v", ar.Msg)
	}
	for i, a := range ar.Msg.Actions {
		if a.Id <= 0 || a.PlanId != p.Id || a.Status != "succeeded" ||
			a.Result != fmt.Sprintf("chan%d", a.Id) ||
			a.Target != p.Actions[i].Target ||
			a.AmountMsat != 250_000 || a.Kind != "open" ||
			!a.CreatedAt.AsTime().Equal(yieldtest.Start) ||
			a.ResolvedAt == nil {

			t.Errorf("applied action %d: %v", i, a)
		}
	}
	if got := e.Balance(ledger.StrategyPrincipal(yieldtest.Name)); got !=
		500_000 {

		t.Fatalf("principal %v", got)
	}
	gp, err = c.GetPlan(ctx, withMac(&sluicerpc.GetPlanRequest{
		PlanId: p.Id}, op))
	if err != nil || !gp.Msg.AppliedAt.AsTime().Equal(yieldtest.Start) {
		t.Fatalf("get plan after apply: %v, %v", gp, err)
	}

	// Actions by plan and by status.
	list := func(plan, status string) []*sluicerpc.AppliedAction {
		t.Helper()
		r, err := c.ListActions(ctx, withMac(
			&sluicerpc.ListActionsRequest{PlanId: plan,
				Status: status}, op))
		if err != nil {
			t.Fatal(err)
		}
		return r.Msg.Actions
	}
	if got := list(p.Id, ""); len(got) != 2 ||
		got[0].Id != ar.Msg.Actions[0].Id {

		t.Errorf("the plan's actions: %v", got)
	}
	if got := list("", "succeeded"); len(got) != 2 {
		t.Errorf("succeeded: %v", got)
	}
	if got := list("", "pending"); len(got) != 0 {
		t.Errorf("pending: %v", got)
	}
	if got := list("another", ""); len(got) != 0 {
		t.Errorf("another plan's: %v", got)
	}

	// A day on, a day's fees and the opens' chain fees; a day later
	// the report over two days.
	e.Advance(24 * time.Hour)
	e.Alloc.Earn("yield-routing:1x1x0:1-5", "forwards 1-5", 3_000)
	e.Alloc.Spend("yield-cost:open:ab01", "open chain fee", 2_000)
	e.Harvest()
	e.Advance(24 * time.Hour)

	rr, err := c.Report(ctx, withMac(&sluicerpc.ReportRequest{
		WindowSeconds: 2 * 24 * 3600}, op))
	if err != nil {
		t.Fatal(err)
	}
	r := rr.Msg
	if r.SinceStart || r.WindowSeconds != 2*24*3600 ||
		!r.Start.AsTime().Equal(yieldtest.Start) ||
		!r.End.AsTime().Equal(yieldtest.Start.Add(48*time.Hour)) {

		t.Errorf("window %v – %v (%d s, since start %v)", r.Start,
			r.End, r.WindowSeconds, r.SinceStart)
	}
	if len(r.Strategies) != 1 {
		t.Fatalf("strategies %v", r.Strategies)
	}
	s := r.Strategies[0]
	// 500,000 in place over the window; net 1,000: r = 0.002, APR =
	// 0.002 × 365 / 2.
	if s.Name != yieldtest.Name || s.CapitalMsat != 500_000 ||
		s.CapitalEndMsat != 500_000 || s.IncomeTotalMsat != 3_000 ||
		s.CostTotalMsat != 2_000 || s.NetMsat != 1_000 ||
		!s.HasReturn || s.Return != "0.002" || s.Apr != "0.365" ||
		s.AprLabel != "APR over 2d" {

		t.Errorf("strategy report %v", s)
	}
	if len(s.Income) != 1 || s.Income[0].Name != "routing fees" ||
		s.Income[0].AmountMsat != 3_000 || s.Income[0].Entries != 1 ||
		len(s.Costs) != 1 || s.Costs[0].Name != "open chain fees" ||
		s.Costs[0].AmountMsat != 2_000 {

		t.Errorf("lines %v %v", s.Income, s.Costs)
	}
	if len(s.Entries) != 0 {
		t.Errorf("entries without explain: %v", s.Entries)
	}
	v := r.Vault
	// No shares were issued: one share's value is (A + 1) × 1000.
	if v.NetMsat != 1_000 || v.ValueStartMsat != "1000001000" ||
		v.ValueEndMsat != "1001001000" || !v.HasApy || v.Apy == "" ||
		!strings.HasPrefix(v.Return, "0.000999") ||
		v.ApyLabel != "APY over 2d (value per share)" {

		t.Errorf("vault %v", v)
	}
	if _, places, _ := strings.Cut(v.Apy, "."); len(places) > 18 {
		t.Errorf("APY %s has more than 18 places", v.Apy)
	}

	// Since the start, explained: income positive, costs negative.
	rr, err = c.Report(ctx, withMac(&sluicerpc.ReportRequest{
		Explain: true}, op))
	if err != nil {
		t.Fatal(err)
	}
	s = rr.Msg.Strategies[0]
	if !rr.Msg.SinceStart || s.AprLabel !=
		"APR since 2026-06-01T12:00Z (2d)" {

		t.Errorf("since start: %v, %q", rr.Msg.SinceStart, s.AprLabel)
	}
	if len(s.Entries) != 2 {
		t.Fatalf("entries %v", s.Entries)
	}
	in, out := s.Entries[0], s.Entries[1]
	if in.Key != "yield-routing:1x1x0:1-5" || in.AmountMsat != 3_000 ||
		in.Description != "forwards 1-5" || in.TxId <= 0 ||
		!in.Time.AsTime().Equal(yieldtest.Start.Add(24*time.Hour)) ||
		out.Key != "yield-cost:open:ab01" || out.AmountMsat != -2_000 {

		t.Errorf("entries %v %v", in, out)
	}
}

// TestYieldReportJSON checks that rates arrive as decimal strings and a
// negative net as a negative number over plain JSON.
func TestYieldReportJSON(t *testing.T) {
	t.Parallel()
	e := yieldEnv(t)
	d := startYieldDaemon(t, e.Vault)
	ctx := context.Background()
	p, err := e.Vault.Plan(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := e.Vault.Apply(ctx, p.ID); err != nil {
		t.Fatal(err)
	}
	e.Advance(time.Hour)
	e.Alloc.Spend("yield-cost:open:ab02", "open chain fee", 5_000)
	e.Harvest()
	e.Advance(time.Hour)

	req, err := http.NewRequest(http.MethodPost,
		d.url()+"/sluicerpc.YieldService/Report",
		strings.NewReader(`{"window_seconds": 7200}`))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("macaroon", d.operator)
	hr, err := httpClient(t, d.certPath(), false).Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer hr.Body.Close()
	raw, err := io.ReadAll(hr.Body)
	if err != nil || hr.StatusCode != http.StatusOK {
		t.Fatalf("status %d: %s (%v)", hr.StatusCode, raw, err)
	}
	var body struct {
		Strategies []struct {
			NetMsat  string `json:"net_msat"`
			Return   string `json:"return"`
			Apr      string `json:"apr"`
			AprLabel string `json:"apr_label"`
		} `json:"strategies"`
	}
	if err := json.Unmarshal(raw, &body); err != nil {
		t.Fatal(err)
	}
	// −5,000 on 500,000 over 2 hours: r = −0.01, APR = −0.01 × 4380.
	if len(body.Strategies) != 1 || body.Strategies[0].NetMsat != "-5000" ||
		body.Strategies[0].Return != "-0.01" ||
		body.Strategies[0].Apr != "-43.8" ||
		body.Strategies[0].AprLabel != "APR over 2h" {

		t.Errorf("JSON report: %s", raw)
	}
}

// failingApply is a vault whose Apply fails with err.
type failingApply struct {
	YieldBackend
	err error
}

// Apply fails.
func (f failingApply) Apply(context.Context, string) (yield.Applied, error) {
	return yield.Applied{}, f.err
}

// TestYieldErrorCodes checks the code and message each refusal reaches
// the caller with: those a real vault can be brought to by the API and
// the clock, then every sentinel through a vault that answers with it.
func TestYieldErrorCodes(t *testing.T) {
	t.Parallel()
	e := yieldEnv(t)
	d := startYieldDaemon(t, e.Vault)
	ctx := context.Background()
	c, op := d.client, d.operator

	plan := func() string {
		t.Helper()
		p, err := e.Vault.Plan(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if len(p.Actions) == 0 {
			t.Fatalf("plan without actions: %+v", p)
		}
		return p.ID
	}
	apply := func(id string) error {
		_, err := c.Apply(ctx, withMac(&sluicerpc.ApplyRequest{
			PlanId: id}, op))
		return err
	}
	want := func(what string, err error, code connect.Code,
		msg string) {

		t.Helper()
		if connect.CodeOf(err) != code ||
			!strings.Contains(err.Error(), msg) {

			t.Errorf("%s: %v, want %v with %q", what, err, code,
				msg)
		}
	}

	// Unknown plan, for GetPlan and Apply.
	_, err := c.GetPlan(ctx, withMac(&sluicerpc.GetPlanRequest{
		PlanId: "feed"}, op))
	want("get unknown", err, connect.CodeNotFound, "plan not found")
	want("apply unknown", apply("feed"), connect.CodeNotFound,
		"plan not found")

	// Expired.
	id := plan()
	e.Advance(yield.DefaultPlanTTL)
	want("expired", apply(id), connect.CodeFailedPrecondition,
		"plan expired")

	// Stale: a position appeared since.
	id = plan()
	e.Alloc.AddPosition(yield.Position{ID: "chanX", Peer: "02ff",
		Principal: 0, Status: "opening"})
	want("stale", apply(id), connect.CodeFailedPrecondition,
		"state changed since the plan was made")

	// Over budget: 2,500 per day; the plan expects 2,000, then a cost
	// of 1,000 is harvested.
	_, err = c.SetStrategy(ctx, withMac(&sluicerpc.SetStrategyRequest{
		Name: yieldtest.Name, BudgetMsat: 2_500,
		BudgetPeriodSeconds: 86_400}, op))
	if err != nil {
		t.Fatal(err)
	}
	id = plan()
	e.Alloc.Spend("yield-cost:rebalance:01", "rebalance", 1_000)
	e.Harvest()
	want("over budget", apply(id), connect.CodeFailedPrecondition,
		"strategy over its cost budget")

	// The floor: 400,000 leaves the vault after the plan; of the
	// 599,000 left (the cost took 1,000) 20 % stays, 479,200 is free,
	// the plan wants 500,000.
	e.Advance(25 * time.Hour)
	id = plan()
	e.Post("withdrawal", ledger.Vault(), ledger.StrategyYield("seed"),
		400_000)
	want("floor", apply(id), connect.CodeFailedPrecondition,
		"vault limit: liquid floor allows 479200 msat, asked 500000 "+
			"(20800 over)")

	// Applied twice.
	e.Post("deposit", ledger.StrategyYield("seed"), ledger.Vault(),
		400_000)
	id = plan()
	if err := apply(id); err != nil {
		t.Fatal(err)
	}
	want("applied twice", apply(id), connect.CodeFailedPrecondition,
		"plan was applied already")
	if n := len(e.Alloc.Executed()); n != 2 {
		t.Errorf("executed %d actions, want the applied plan's 2", n)
	}

	// Strategy settings and report windows.
	for _, tc := range []struct {
		name string
		req  *sluicerpc.SetStrategyRequest
		msg  string
	}{
		{"unknown", &sluicerpc.SetStrategyRequest{Name: "lease"},
			"unknown strategy"},
		{"reserve", &sluicerpc.SetStrategyRequest{
			Name: yield.ReserveName}, "unknown strategy"},
		{"negative budget", &sluicerpc.SetStrategyRequest{
			Name: yieldtest.Name, BudgetMsat: -1,
			BudgetPeriodSeconds: 60}, "invalid vault policy"},
		{"negative period", &sluicerpc.SetStrategyRequest{
			Name: yieldtest.Name, BudgetPeriodSeconds: -60},
			"invalid vault policy"},
	} {
		_, err := c.SetStrategy(ctx, withMac(tc.req, op))
		want(tc.name, err, connect.CodeInvalidArgument, tc.msg)
	}
	_, err = c.Report(ctx, withMac(&sluicerpc.ReportRequest{
		WindowSeconds: -1}, op))
	want("negative window", err, connect.CodeInvalidArgument,
		"invalid report window")

	// Every sentinel, as a vault's Apply would wrap it.
	limit := &yield.LimitError{Limit: "cap of routing", Unit: "msat",
		Have: 600_000, Want: 750_000}
	fv := &failingApply{YieldBackend: e.Vault}
	fd := startYieldDaemon(t, fv)
	for _, tc := range []struct {
		err  error
		code connect.Code
		msg  string
	}{
		{yield.ErrPlanNotFound, connect.CodeNotFound,
			"plan not found"},
		{yield.ErrActionNotFound, connect.CodeNotFound,
			"action not found"},
		{yield.ErrPlanExpired, connect.CodeFailedPrecondition,
			"plan expired"},
		{yield.ErrPlanApplied, connect.CodeFailedPrecondition,
			"plan was applied already"},
		{yield.ErrPlanStale, connect.CodeFailedPrecondition,
			"state changed since the plan was made"},
		{yield.ErrStrategyKilled, connect.CodeFailedPrecondition,
			"strategy's kill switch is on"},
		{yield.ErrOverBudget, connect.CodeFailedPrecondition,
			"strategy over its cost budget"},
		{yield.ErrShutdown, connect.CodeFailedPrecondition,
			"vault is shut down"},
		{limit, connect.CodeFailedPrecondition,
			"cap of routing allows 600000 msat, asked 750000 " +
				"(150000 over)"},
		{yield.ErrActionResolved, connect.CodeFailedPrecondition,
			"action was resolved already"},
		{yield.ErrUnknownStrategy, connect.CodeInvalidArgument,
			"unknown strategy"},
		{yield.ErrInvalidWindow, connect.CodeInvalidArgument,
			"invalid report window"},
		{yield.ErrInvalidPolicy, connect.CodeInvalidArgument,
			"invalid vault policy"},
		{yield.ErrInvalidAmount, connect.CodeInvalidArgument,
			"invalid amount"},
		{yield.ErrOverflow, connect.CodeOutOfRange, "overflow"},
		{errors.New("disk on fire"), connect.CodeInternal,
			"apply: apply p1: disk on fire"},
		{context.DeadlineExceeded, connect.CodeCanceled, "deadline"},
	} {
		fv.err = fmt.Errorf("apply p1: %w", tc.err)
		_, err := fd.client.Apply(ctx, withMac(&sluicerpc.ApplyRequest{
			PlanId: "p1"}, fd.operator))
		want(tc.err.Error(), err, tc.code, tc.msg)
	}
}

// TestYieldBadRequests checks what the handlers refuse before the vault
// is asked.
func TestYieldBadRequests(t *testing.T) {
	t.Parallel()
	e := yieldEnv(t)
	d := startYieldDaemon(t, e.Vault)
	ctx := context.Background()
	c, op := d.client, d.operator

	tests := []struct {
		name string
		do   func() error
		msg  string
	}{
		{"apply without a plan", func() error {
			_, err := c.Apply(ctx, withMac(&sluicerpc.ApplyRequest{},
				op))
			return err
		}, "plan_id is empty"},
		{"get without a plan", func() error {
			_, err := c.GetPlan(ctx, withMac(
				&sluicerpc.GetPlanRequest{}, op))
			return err
		}, "plan_id is empty"},
		{"plan id too long", func() error {
			_, err := c.Apply(ctx, withMac(&sluicerpc.ApplyRequest{
				PlanId: strings.Repeat("a", 65)}, op))
			return err
		}, "plan_id is 65 bytes"},
		{"unknown status", func() error {
			_, err := c.ListActions(ctx, withMac(
				&sluicerpc.ListActionsRequest{Status: "lost"},
				op))
			return err
		}, `"lost" is not pending, succeeded or failed`},
		{"window too long", func() error {
			_, err := c.Report(ctx, withMac(&sluicerpc.ReportRequest{
				WindowSeconds: maxWindowSeconds + 1}, op))
			return err
		}, "window_seconds"},
		{"strategy without a name", func() error {
			_, err := c.SetStrategy(ctx, withMac(
				&sluicerpc.SetStrategyRequest{}, op))
			return err
		}, "name is empty"},
		{"budget without a period", func() error {
			_, err := c.SetStrategy(ctx, withMac(
				&sluicerpc.SetStrategyRequest{
					Name: yieldtest.Name, BudgetMsat: 5,
				}, op))
			return err
		}, "without budget_period_seconds"},
		{"period too long", func() error {
			_, err := c.SetStrategy(ctx, withMac(
				&sluicerpc.SetStrategyRequest{
					Name:                yieldtest.Name,
					BudgetPeriodSeconds: maxWindowSeconds + 1,
				}, op))
			return err
		}, "budget_period_seconds"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.do()
			if connect.CodeOf(err) != connect.CodeInvalidArgument ||
				!strings.Contains(err.Error(), tc.msg) {

				t.Fatalf("%v, want invalid argument with %q",
					err, tc.msg)
			}
		})
	}
	if n := len(e.Alloc.Executed()); n != 0 {
		t.Errorf("a refused request executed %d actions", n)
	}
}

// TestYieldStrategies sets and lists a strategy's settings; a killed
// strategy's plan winds it down and opens nothing.
func TestYieldStrategies(t *testing.T) {
	t.Parallel()
	e := yieldEnv(t)
	d := startYieldDaemon(t, e.Vault)
	ctx := context.Background()
	c, op := d.client, d.operator

	ls, err := c.ListStrategies(ctx, withMac(
		&sluicerpc.ListStrategiesRequest{}, op))
	if err != nil || len(ls.Msg.Strategies) != 1 ||
		ls.Msg.Strategies[0].Name != yieldtest.Name ||
		ls.Msg.Strategies[0].Killed ||
		ls.Msg.Strategies[0].UpdatedAt != nil {

		t.Fatalf("strategies before: %v, %v", ls, err)
	}

	// Open one channel, then kill the strategy.
	e.Alloc.SetPeers(250_000, 1_000, "02aa")
	p, err := e.Vault.Plan(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := e.Vault.Apply(ctx, p.ID); err != nil {
		t.Fatal(err)
	}
	e.Advance(time.Minute)
	sr, err := c.SetStrategy(ctx, withMac(&sluicerpc.SetStrategyRequest{
		Name: yieldtest.Name, Killed: true, BudgetMsat: 10_000,
		BudgetPeriodSeconds: 3_600}, op))
	if err != nil {
		t.Fatal(err)
	}
	set := sr.Msg.Settings
	if set.Name != yieldtest.Name || !set.Killed ||
		set.BudgetMsat != 10_000 || set.BudgetPeriodSeconds != 3_600 ||
		!set.UpdatedAt.AsTime().Equal(yieldtest.Start.Add(
			time.Minute)) {

		t.Errorf("settings %v", set)
	}
	ls, err = c.ListStrategies(ctx, withMac(
		&sluicerpc.ListStrategiesRequest{}, op))
	if err != nil || len(ls.Msg.Strategies) != 1 ||
		!ls.Msg.Strategies[0].Killed {

		t.Fatalf("strategies after: %v, %v", ls, err)
	}

	pr, err := c.Plan(ctx, withMac(&sluicerpc.PlanRequest{}, op))
	if err != nil {
		t.Fatal(err)
	}
	plan := pr.Msg.Plan
	s := plan.Strategies[1]
	if !s.Killed || s.BudgetMsat != 10_000 ||
		s.BudgetPeriodSeconds != 3_600 || len(s.Positions) != 1 ||
		s.Positions[0].PrincipalMsat != 250_000 ||
		s.Positions[0].Peer != "02aa" {

		t.Errorf("killed strategy's plan %v", s)
	}
	if len(plan.Actions) != 1 || plan.Actions[0].Kind != "close" ||
		plan.Actions[0].AmountMsat != 0 {

		t.Fatalf("killed strategy's actions %v", plan.Actions)
	}
	ar, err := c.Apply(ctx, withMac(&sluicerpc.ApplyRequest{
		PlanId: plan.Id}, op))
	if err != nil || len(ar.Msg.Actions) != 1 ||
		ar.Msg.Actions[0].Status != "succeeded" {

		t.Fatalf("apply the wind-down: %v, %v", ar, err)
	}
	if got := e.Balance(ledger.StrategyPrincipal(yieldtest.Name)); got !=
		0 {

		t.Errorf("principal after the close %v", got)
	}
}
