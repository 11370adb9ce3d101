package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"connectrpc.com/connect"
	"github.com/shopspring/decimal"
	"github.com/sluice-ln/sluice/ledger"
	"github.com/sluice-ln/sluice/rpc/sluicerpc"
	"github.com/urfave/cli"
)

// The yield strategies' commands, the operator's: plan, apply, follow
// the actions, report, and set each strategy's kill switch and budget.

var yieldCommand = cli.Command{
	Name:  "yield",
	Usage: "plan, apply and report the vault's yield strategies (operator)",
	Description: `The vault's idle sats go to strategies (routing channels, leases)
within the caps and the liquid floor of 'operator vault policy'. 'plan'
shows what the strategies would do and why, and stores it; 'apply' does
it, once, if nothing it depends on changed; 'actions' follows what was
started; 'report' shows what each strategy earned and cost, every
figure from the ledger and traceable to lnd with --explain; 'strategy'
sets a strategy's kill switch and cost budget. Every command needs the
operator macaroon.`,
	Subcommands: []cli.Command{
		yieldPlanCommand,
		yieldApplyCommand,
		yieldActionsCommand,
		yieldReportCommand,
		yieldStrategyCommand,
	},
}

var yieldPlanCommand = cli.Command{
	Name:  "plan",
	Usage: "make a plan (a dry run) of the strategies, or show one",
	Description: `Asks every strategy what it would do now, within its cap, the liquid
floor and its budget, and prints, per strategy, where it stands and
where the plan takes it (current → target), its cap, kill switch and
budget; each action with its reason and expected cost; and the
candidates left out, each with why. Nothing moves. The plan is stored
under its id until it expires: 'sluice yield apply ID' carries it out.
--id ID shows a stored plan instead, and whether it was applied.`,
	Flags: []cli.Flag{
		cli.StringFlag{Name: "id", Usage: "show this stored plan " +
			"rather than make a new one"},
		jsonFlag,
	},
	Action: yieldPlan,
}

func yieldPlan(c *cli.Context) error {
	client, err := newAPIClient(c)
	if err != nil {
		return err
	}
	ctx, cancel := callContext()
	defer cancel()
	if id := c.String("id"); id != "" {
		resp, err := client.yield.GetPlan(ctx, connect.NewRequest(
			&sluicerpc.GetPlanRequest{PlanId: id}))
		if err != nil {
			return vaultError(client, "yield plan", err)
		}
		if wantJSON(c) {
			return printJSON(c.App.Writer, resp.Msg)
		}
		return printYieldPlan(c.App.Writer, resp.Msg.Plan,
			resp.Msg.AppliedAt.AsTime(), resp.Msg.AppliedAt != nil)
	}
	resp, err := client.yield.Plan(ctx, connect.NewRequest(
		&sluicerpc.PlanRequest{}))
	if err != nil {
		return vaultError(client, "yield plan", err)
	}
	if wantJSON(c) {
		return printJSON(c.App.Writer, resp.Msg)
	}
	return printYieldPlan(c.App.Writer, resp.Msg.Plan, time.Time{}, false)
}

// printYieldPlan prints a plan for a person; applied says it was applied
// at appliedAt.
func printYieldPlan(out io.Writer, p *sluicerpc.YieldPlan,
	appliedAt time.Time, applied bool) error {

	w := tabwriter.NewWriter(out, 0, 4, 2, ' ', 0)
	fmt.Fprintf(w, "vault:\tNAV %s, idle %s, floor %s, free for "+
		"strategies %s\n", msat(p.AssetsMsat), msat(p.IdleMsat),
		msat(p.FloorMsat), msat(p.FreeMsat))
	if p.Shutdown {
		fmt.Fprintf(w, "\tthe vault is SHUT DOWN: the plan opens "+
			"nothing\n")
	}
	for _, s := range p.Strategies {
		fmt.Fprintf(w, "%s:\t%s → %s\n", s.Name, msat(s.CurrentMsat),
			msat(s.TargetMsat))
		if s.Name == "reserve" {
			fmt.Fprintf(w, "\tthe idle vault; the floor keeps %s of "+
				"it\n", msat(p.FloorMsat))
			continue
		}
		capText := "none: it may take nothing"
		if s.HasCap {
			capText = msat(s.CapMsat)
		}
		fmt.Fprintf(w, "\tcap %s\n", capText)
		if s.Killed {
			fmt.Fprintf(w, "\tkill switch ON: it opens nothing "+
				"and winds down\n")
		}
		fmt.Fprintf(w, "\t%s\n", budgetText(s))
		for _, pos := range s.Positions {
			fmt.Fprintf(w, "\tposition %s to %s: %s, %s\n", pos.Id,
				pos.Peer, msat(pos.PrincipalMsat), pos.Status)
		}
	}
	if err := w.Flush(); err != nil {
		return err
	}

	if len(p.Actions) == 0 {
		fmt.Fprintln(out, "actions: none")
	} else {
		fmt.Fprintln(out, "actions:")
	}
	for i, a := range p.Actions {
		fmt.Fprintf(out, "  %d. %s %s %s", i+1, a.Strategy, a.Kind,
			a.Target)
		if a.AmountMsat != 0 {
			fmt.Fprintf(out, " with %s", msat(a.AmountMsat))
		}
		if len(a.Params) > 0 {
			fmt.Fprintf(out, " [%s]", strings.Join(a.Params, " "))
		}
		fmt.Fprintf(out, ", expected cost %s\n", msat(a.ExpectedCostMsat))
		fmt.Fprintf(out, "     why: %s\n", a.Reason)
	}
	for _, l := range p.LeftOut {
		fmt.Fprintf(out, "left out: %s: %s\n", l.Target, l.Reason)
	}

	created, expires := p.CreatedAt.AsTime(), p.ExpiresAt.AsTime()
	fmt.Fprintf(out, "plan %s, made %s on state %s, expires %s (valid "+
		"%s)\n", p.Id, showTime(p.CreatedAt), shortHash(p.StateHash),
		showTime(p.ExpiresAt), durationText(expires.Sub(created)))
	switch {
	case applied:
		fmt.Fprintf(out, "applied at %s: see sluice yield actions "+
			"--plan %s\n", appliedAt.Local().Format(time.RFC3339),
			p.Id)

	case len(p.Actions) == 0:
		fmt.Fprintln(out, "nothing to apply")

	default:
		fmt.Fprintf(out, "apply with: sluice yield apply %s\n", p.Id)
	}
	return nil
}

// budgetText says a strategy's budget in a plan: per period, spent,
// left, and what the plan expects to spend.
func budgetText(s *sluicerpc.StrategyPlan) string {
	expected := fmt.Sprintf("this plan expects %s of costs",
		msat(s.ExpectedCostMsat))
	if s.BudgetPeriodSeconds == 0 {
		return "no cost budget; " + expected
	}
	left := max(s.BudgetMsat-s.SpentMsat, 0)
	return fmt.Sprintf("budget %s per %s: spent %s, left %s; %s",
		msat(s.BudgetMsat), durationText(time.Duration(
			s.BudgetPeriodSeconds)*time.Second), msat(s.SpentMsat),
		msat(left), expected)
}

// shortHash is a hash's first 12 hex digits.
func shortHash(h string) string {
	if len(h) > 12 {
		return h[:12]
	}
	return h
}

var yieldApplyCommand = cli.Command{
	Name:      "apply",
	Usage:     "carry out a plan, once",
	ArgsUsage: "PLAN_ID",
	Description: `Applies the plan 'sluice yield plan' stored under PLAN_ID: refused,
with nothing changed, when it expired, was applied already, when what
it was planned on changed since (plan again), or when the vault as it
stands now cannot carry it (a cap, the liquid floor, a budget, a kill
switch, shutdown). Otherwise each action is written down before it is
made, and each open's capital moves to its strategy. Prints each
action's outcome; a pending one's outcome is not known yet, and sluiced
follows it to its end ('sluice yield actions --status pending').`,
	Flags:  []cli.Flag{jsonFlag, waitFlags[0], waitFlags[1]},
	Action: yieldApply,
}

func yieldApply(c *cli.Context) error {
	if c.NArg() != 1 {
		return errors.New("give the plan's id: sluice yield apply " +
			"PLAN_ID")
	}
	client, err := newAPIClient(c)
	if err != nil {
		return err
	}
	ctx, cancel := callContext()
	defer cancel()
	resp, err := client.yield.Apply(ctx, connect.NewRequest(
		&sluicerpc.ApplyRequest{PlanId: c.Args().First()}))
	if err != nil {
		return vaultError(client, "yield apply", err)
	}
	if wantJSON(c) {
		err = printJSON(c.App.Writer, resp.Msg)
	} else {
		err = printApplied(c.App.Writer, resp.Msg, !c.Bool("wait"))
	}
	if err != nil || !c.Bool("wait") {
		return err
	}
	plan := resp.Msg.PlanId
	w := newWaiter(c, "sluice yield actions --plan "+plan)
	return w.wait(context.Background(), func(ctx context.Context) (
		waitState, error) {

		resp, err := client.yield.ListActions(ctx, connect.NewRequest(
			&sluicerpc.ListActionsRequest{PlanId: plan}))
		if err != nil {
			return waitState{}, client.frameError("yield actions",
				err)
		}
		return planWait(resp.Msg.Actions, plan), nil
	})
}

// printApplied prints an applied plan's actions; with hint, a line says
// where pending ones are followed.
func printApplied(out io.Writer, r *sluicerpc.ApplyResponse,
	hint bool) error {

	fmt.Fprintf(out, "Applied plan %s: %d actions\n", r.PlanId,
		len(r.Actions))
	if err := printActions(out, r.Actions); err != nil {
		return err
	}
	for _, a := range r.Actions {
		if hint && a.Status == "pending" {
			fmt.Fprintln(out, "Pending actions are followed by "+
				"sluiced: sluice yield actions --status pending")
			break
		}
	}
	return nil
}

// printActions prints applied actions as a table.
func printActions(out io.Writer, as []*sluicerpc.AppliedAction) error {
	if len(as) == 0 {
		fmt.Fprintln(out, "no actions")
		return nil
	}
	w := tabwriter.NewWriter(out, 0, 4, 2, ' ', 0)
	fmt.Fprintln(w, "ID\tPLAN\tSTRATEGY\tKIND\tTARGET\tAMOUNT (msat)\t"+
		"STATUS\tOUTCOME\tCREATED\tRESOLVED")
	for _, a := range as {
		outcome := a.Result
		if a.Error != "" {
			outcome = a.Error
		}
		if outcome == "" {
			outcome = "-"
		}
		fmt.Fprintf(w, "%d\t%s\t%s\t%s\t%s\t%d\t%s\t%s\t%s\t%s\n", a.Id,
			shortHash(a.PlanId), a.Strategy, a.Kind, a.Target,
			a.AmountMsat, a.Status, outcome, showTime(a.CreatedAt),
			showTime(a.ResolvedAt))
	}
	return w.Flush()
}

var yieldActionsCommand = cli.Command{
	Name:  "actions",
	Usage: "list applied actions and their outcomes",
	Description: `Lists the actions of applied plans in the order they were written:
--plan ID only that plan's, --status pending|succeeded|failed only
those. A pending action's outcome is not known yet; sluiced looks it up
at lnd and ends it.`,
	Flags: []cli.Flag{
		cli.StringFlag{Name: "plan", Usage: "only this plan's actions"},
		cli.StringFlag{Name: "status", Usage: "only actions in this " +
			"status: pending, succeeded or failed"},
		jsonFlag,
	},
	Action: yieldActions,
}

func yieldActions(c *cli.Context) error {
	client, err := newAPIClient(c)
	if err != nil {
		return err
	}
	ctx, cancel := callContext()
	defer cancel()
	resp, err := client.yield.ListActions(ctx, connect.NewRequest(
		&sluicerpc.ListActionsRequest{PlanId: c.String("plan"),
			Status: c.String("status")}))
	if err != nil {
		return vaultError(client, "yield actions", err)
	}
	if wantJSON(c) {
		return printJSON(c.App.Writer, resp.Msg)
	}
	return printActions(c.App.Writer, resp.Msg.Actions)
}

var yieldReportCommand = cli.Command{
	Name:  "report",
	Usage: "what each strategy and the vault earned and cost over a window",
	Description: `Per strategy over the window: the capital in place (averaged over the
window by time), each income and cost line, the net, the return on that
capital and the APR (the return × 365 days / window, not compounded),
labelled with its window. For the vault: one share's value at both ends,
the return and the APY (compounded: the value per share keeps what the
strategies earn). --window takes 7d, 24h, 30m, 1d12h (d is 24 hours);
without it, since the strategies' first posting. --explain lists every
ledger entry behind the figures with its key, which names the lnd
records it came from.`,
	Flags: []cli.Flag{
		cli.StringFlag{Name: "window", Usage: "the window ending now: " +
			"7d, 24h, 30m (default: since the start)"},
		cli.BoolFlag{Name: "explain", Usage: "list every ledger entry " +
			"and the lnd records it came from"},
		jsonFlag,
	},
	Action: yieldReport,
}

func yieldReport(c *cli.Context) error {
	var window time.Duration
	if s := c.String("window"); s != "" {
		d, err := parseDuration(s)
		if err != nil {
			return fmt.Errorf("--window: %w", err)
		}
		if d < time.Second {
			return fmt.Errorf("--window %s: at least 1s; leave it "+
				"out to report since the start", s)
		}
		window = d
	}
	client, err := newAPIClient(c)
	if err != nil {
		return err
	}
	ctx, cancel := callContext()
	defer cancel()
	resp, err := client.yield.Report(ctx, connect.NewRequest(
		&sluicerpc.ReportRequest{
			WindowSeconds: int64(window / time.Second),
			Explain:       c.Bool("explain"),
		}))
	if err != nil {
		return vaultError(client, "yield report", err)
	}
	if wantJSON(c) {
		return printJSON(c.App.Writer, resp.Msg)
	}
	return printYieldReport(c.App.Writer, resp.Msg, c.Bool("explain"))
}

// keyLegend says how the ledger keys of --explain name lnd's records.
const keyLegend = "keys: yield-routing:<scid>:<a>-<b> = forwards a to b " +
	"of `lncli fwdinghistory` out of channel <scid>; " +
	"yield-cost:open:<txid>, yield-cost:close:<txid> = lnd's " +
	"transaction <txid> (`lncli listchaintxns`); " +
	"yield-cost:rebalance:<hash> = lnd's payment <hash> " +
	"(`lncli listpayments`); yield-lease:<id>:... = lease <id>'s premium"

// printYieldReport prints a report for a person; explain adds the ledger
// entries and the legend of their keys.
func printYieldReport(out io.Writer, r *sluicerpc.ReportResponse,
	explain bool) error {

	window := durationText(time.Duration(r.WindowSeconds) * time.Second)
	w := tabwriter.NewWriter(out, 0, 4, 2, ' ', 0)
	since := ""
	if r.SinceStart {
		since = "since the start, "
	}
	fmt.Fprintf(w, "window:\t%s%s to %s (%s)\n", since,
		showTime(r.Start), showTime(r.End), window)
	for _, s := range r.Strategies {
		fmt.Fprintf(w, "%s:\t\n", s.Name)
		fmt.Fprintf(w, "  capital in place:\t%s averaged over the "+
			"window; %s at its end\n", msat(s.CapitalMsat),
			msat(s.CapitalEndMsat))
		for _, l := range s.Income {
			fmt.Fprintf(w, "  income, %s:\t%s (%s)\n", l.Name,
				msat(l.AmountMsat), entriesText(l.Entries))
		}
		if len(s.Income) == 0 {
			fmt.Fprintf(w, "  income:\tnone\n")
		}
		for _, l := range s.Costs {
			fmt.Fprintf(w, "  cost, %s:\t%s (%s)\n", l.Name,
				msat(-l.AmountMsat), entriesText(l.Entries))
		}
		if len(s.Costs) == 0 {
			fmt.Fprintf(w, "  costs:\tnone\n")
		}
		fmt.Fprintf(w, "  net:\t%s\n", msat(s.NetMsat))
		if s.HasReturn {
			fmt.Fprintf(w, "  return:\t%s\n", percent(s.Return))
			fmt.Fprintf(w, "  APR:\t%s, %s\n", percent(s.Apr),
				s.AprLabel)
		} else {
			fmt.Fprintf(w, "  return:\tnone: no capital was in "+
				"place\n")
		}
	}
	v := r.Vault
	fmt.Fprintf(w, "vault:\t\n")
	fmt.Fprintf(w, "  net:\t%s\n", msat(v.GetNetMsat()))
	fmt.Fprintf(w, "  value per share:\t%s msat → %s msat\n",
		v.GetValueStartMsat(), v.GetValueEndMsat())
	fmt.Fprintf(w, "  return:\t%s\n", percent(v.GetReturn()))
	if v.GetHasApy() {
		fmt.Fprintf(w, "  APY:\t%s, %s\n", percent(v.Apy), v.ApyLabel)
	} else {
		fmt.Fprintf(w, "  APY:\tnone (an empty window or a value at "+
			"zero), %s\n", v.GetApyLabel())
	}
	if err := w.Flush(); err != nil {
		return err
	}
	if !explain {
		return nil
	}

	fmt.Fprintln(out, "entries (income +, costs −):")
	w = tabwriter.NewWriter(out, 0, 4, 2, ' ', 0)
	fmt.Fprintln(w, "STRATEGY\tTX\tTIME\tAMOUNT (msat)\tKEY\tDESCRIPTION")
	n := 0
	for _, s := range r.Strategies {
		for _, e := range s.Entries {
			n++
			fmt.Fprintf(w, "%s\t%d\t%s\t%+d\t%s\t%s\n", s.Name,
				e.TxId, showTime(e.Time), e.AmountMsat, e.Key,
				e.Description)
		}
	}
	if err := w.Flush(); err != nil {
		return err
	}
	if n == 0 {
		fmt.Fprintln(out, "  none in the window")
	}
	fmt.Fprintln(out, keyLegend)
	return nil
}

// entriesText says how many ledger entries made a line.
func entriesText(n int64) string {
	if n == 1 {
		return "1 entry"
	}
	return fmt.Sprintf("%d entries", n)
}

// percent writes a decimal ratio as a percentage to two places with the
// exact ratio beside it: "0.75 % (0.0075)".
func percent(ratio string) string {
	d, err := decimal.NewFromString(ratio)
	if err != nil {
		return ratio
	}
	return fmt.Sprintf("%s %% (%s)", d.Shift(2).StringFixed(2), ratio)
}

var yieldStrategyCommand = cli.Command{
	Name:  "strategy",
	Usage: "set or list the strategies' kill switches and cost budgets",
	Subcommands: []cli.Command{
		yieldStrategySetCommand,
		yieldStrategyListCommand,
	},
}

var yieldStrategySetCommand = cli.Command{
	Name:      "set",
	Usage:     "set a strategy's kill switch or cost budget",
	ArgsUsage: "NAME",
	Description: `--kill turns the strategy's kill switch on: it opens nothing, plans
close its positions, and a plan that would open is refused; --unkill
turns it off. --budget SAT --period 24h caps what its costs (chain
fees, rebalance payments) may come to in any period that long (SAT in
sats, or "1500msat"; the period in d, h, m, s); --no-budget removes the
budget. What is not given stays as it was. The cap on its capital is
set with 'operator vault policy --cap'.`,
	Flags: []cli.Flag{
		cli.BoolFlag{Name: "kill", Usage: "turn the kill switch on"},
		cli.BoolFlag{Name: "unkill", Usage: "turn the kill switch off"},
		cli.StringFlag{Name: "budget", Usage: "the most its costs " +
			"may come to per period: sats, or 1500msat"},
		cli.StringFlag{Name: "period", Usage: "the budget's period: " +
			"1d, 24h, 30m"},
		cli.BoolFlag{Name: "no-budget", Usage: "remove the budget"},
		jsonFlag,
	},
	Action: yieldStrategySet,
}

// budgetAmount reads --budget: a bare number is sats, as the flag says;
// with a unit, as ledger.ParseMilliSatoshi reads it.
func budgetAmount(s string) (ledger.MilliSatoshi, error) {
	t := strings.TrimSpace(s)
	if t != "" && strings.Trim(t, "0123456789") == "" {
		t += "sat"
	}
	return ledger.ParseMilliSatoshi(t)
}

func yieldStrategySet(c *cli.Context) error {
	if c.NArg() != 1 {
		return errors.New("give the strategy's name: sluice yield " +
			"strategy set NAME")
	}
	name := c.Args().First()
	switch {
	case c.Bool("kill") && c.Bool("unkill"):
		return errors.New("give --kill or --unkill, not both")

	case c.Bool("no-budget") && (c.IsSet("budget") || c.IsSet("period")):
		return errors.New("give --no-budget or --budget/--period, " +
			"not both")

	case !c.Bool("kill") && !c.Bool("unkill") && !c.Bool("no-budget") &&
		!c.IsSet("budget") && !c.IsSet("period"):

		return errors.New("nothing to set: give --kill, --unkill, " +
			"--budget SAT --period 24h or --no-budget")
	}
	var (
		budget ledger.MilliSatoshi
		period time.Duration
		err    error
	)
	if c.IsSet("budget") {
		if budget, err = budgetAmount(c.String("budget")); err != nil {
			return fmt.Errorf("--budget: %w", err)
		}
	}
	if c.IsSet("period") {
		if period, err = parseDuration(c.String("period")); err != nil {
			return fmt.Errorf("--period: %w", err)
		}
		if period < time.Second {
			return fmt.Errorf("--period %s: at least 1s",
				c.String("period"))
		}
	}

	client, err := newAPIClient(c)
	if err != nil {
		return err
	}
	ctx, cancel := callContext()
	defer cancel()
	list, err := client.yield.ListStrategies(ctx, connect.NewRequest(
		&sluicerpc.ListStrategiesRequest{}))
	if err != nil {
		return vaultError(client, "yield strategy set", err)
	}
	// Start from the strategy's settings; an unknown name is the
	// server's to refuse.
	req := &sluicerpc.SetStrategyRequest{Name: name}
	for _, s := range list.Msg.Strategies {
		if s.Name == name {
			req.Killed = s.Killed
			req.BudgetMsat = s.BudgetMsat
			req.BudgetPeriodSeconds = s.BudgetPeriodSeconds
		}
	}
	switch {
	case c.Bool("kill"):
		req.Killed = true
	case c.Bool("unkill"):
		req.Killed = false
	}
	if c.Bool("no-budget") {
		req.BudgetMsat, req.BudgetPeriodSeconds = 0, 0
	}
	if c.IsSet("budget") {
		req.BudgetMsat = int64(budget)
	}
	if c.IsSet("period") {
		req.BudgetPeriodSeconds = int64(period / time.Second)
	}
	if req.BudgetMsat != 0 && req.BudgetPeriodSeconds == 0 {
		return errors.New("--budget needs --period: a budget is per " +
			"period")
	}
	resp, err := client.yield.SetStrategy(ctx, connect.NewRequest(req))
	if err != nil {
		return vaultError(client, "yield strategy set", err)
	}
	if wantJSON(c) {
		return printJSON(c.App.Writer, resp.Msg)
	}
	return printStrategies(c.App.Writer, []*sluicerpc.StrategySettings{
		resp.Msg.Settings})
}

var yieldStrategyListCommand = cli.Command{
	Name:   "list",
	Usage:  "list every strategy's kill switch and cost budget",
	Flags:  []cli.Flag{jsonFlag},
	Action: yieldStrategyList,
}

func yieldStrategyList(c *cli.Context) error {
	client, err := newAPIClient(c)
	if err != nil {
		return err
	}
	ctx, cancel := callContext()
	defer cancel()
	resp, err := client.yield.ListStrategies(ctx, connect.NewRequest(
		&sluicerpc.ListStrategiesRequest{}))
	if err != nil {
		return vaultError(client, "yield strategy list", err)
	}
	if wantJSON(c) {
		return printJSON(c.App.Writer, resp.Msg)
	}
	return printStrategies(c.App.Writer, resp.Msg.Strategies)
}

// printStrategies prints strategies' settings as a table.
func printStrategies(out io.Writer, ss []*sluicerpc.StrategySettings) error {
	if len(ss) == 0 {
		fmt.Fprintln(out, "no strategies hold positions: reserve "+
			"alone keeps the vault's sats")
		return nil
	}
	w := tabwriter.NewWriter(out, 0, 4, 2, ' ', 0)
	fmt.Fprintln(w, "STRATEGY\tKILL SWITCH\tCOST BUDGET\tSET")
	for _, s := range ss {
		kill := "off"
		if s.Killed {
			kill = "ON"
		}
		budget := "none"
		if s.BudgetPeriodSeconds > 0 {
			budget = fmt.Sprintf("%d msat per %s", s.BudgetMsat,
				durationText(time.Duration(
					s.BudgetPeriodSeconds)*time.Second))
		}
		fmt.Fprintf(w, "%s\t%s\t%s\t%s\n", s.Name, kill, budget,
			showTime(s.UpdatedAt))
	}
	return w.Flush()
}

// day is the d of durations: 24 hours.
const day = 24 * time.Hour

// parseDuration reads a positive duration as Go writes them, with days
// (d, 24 hours) in front if any: 7d, 1d12h, 24h, 30m, 90s.
func parseDuration(s string) (time.Duration, error) {
	text := strings.TrimSpace(s)
	var days int64
	if i := strings.IndexByte(text, 'd'); i >= 0 {
		n, err := strconv.ParseInt(text[:i], 10, 64)
		if err != nil || n < 0 {
			return 0, fmt.Errorf("%q: days must be a whole number "+
				"before d", s)
		}
		if n > int64(1<<63-1)/int64(day) {
			return 0, fmt.Errorf("%q is too long", s)
		}
		days, text = n, text[i+1:]
	}
	var rest time.Duration
	if text != "" {
		d, err := time.ParseDuration(text)
		if err != nil {
			return 0, fmt.Errorf("%q is not a duration such as 7d, "+
				"24h or 30m", s)
		}
		rest = d
	}
	total := time.Duration(days) * day
	if rest < 0 || total > time.Duration(1<<63-1)-rest {
		return 0, fmt.Errorf("%q is negative or too long", s)
	}
	total += rest
	if total <= 0 {
		return 0, fmt.Errorf("%q is not positive", s)
	}
	return total, nil
}

// durationText writes a duration in whole days, hours, minutes and
// seconds without zero units, as parseDuration reads it: 7d, 1d12h, 3h12m.
func durationText(d time.Duration) string {
	d = d.Truncate(time.Second)
	if d <= 0 {
		return "0s"
	}
	var b strings.Builder
	for _, u := range []struct {
		d    time.Duration
		name string
	}{
		{day, "d"}, {time.Hour, "h"}, {time.Minute, "m"},
		{time.Second, "s"},
	} {
		if n := d / u.d; n > 0 {
			fmt.Fprintf(&b, "%d%s", n, u.name)
			d -= n * u.d
		}
	}
	return b.String()
}
