package main

import (
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"sort"
	"strings"
	"text/tabwriter"
	"time"

	"connectrpc.com/connect"
	"github.com/sluice-ln/sluice/ledger"
	"github.com/sluice-ln/sluice/rpc/sluicerpc"
	"github.com/urfave/cli"
	"google.golang.org/protobuf/types/known/timestamppb"
)

var jobCommand = cli.Command{
	Name:  "job",
	Usage: "create, fund, watch and end jobs",
	Description: `Jobs are created by buyers (a buyer macaroon from ` +
		"`sluice operator buyer add`" + `, given
with --macaroonpath) or by the operator on a buyer's behalf. A buyer sees
its own jobs, a provider the jobs assigned to it, the operator all of them.
docs/jobs.md explains the states, funding, solvency and refunds.`,
	Subcommands: []cli.Command{
		jobCreateCommand,
		jobShowCommand,
		jobListCommand,
		jobTopUpCommand,
		jobEndCommand,
		jobOutputCommand,
	},
}

var jobCreateCommand = cli.Command{
	Name:      "create",
	Usage:     "create a job and print the invoice that funds it",
	ArgsUsage: "[-- PROG [ARGS...]]",
	Description: `Creates a job on --provider using at most --cpu core-milliseconds
per second (1000 per core) and --mem MiB, with --budget as the funding
invoice's amount (msat, or "5000sat"). Pay the printed invoice with any
Lightning wallet; the job is funded when the hub sees it settled.

Without --provider the market places the job (docs/market.md): on an
online provider whose free capacity covers --cpu and --mem, whose rates
are at or below --max-rate (cpu=0.001,mem=0.002: msat per core-ms and per
MiB-second; a resource not named has no maximum) and whose node Sluice
can pay, the cheapest for the spec, then the best record. --explain shows
every provider with why it was taken or left out; when none fits, the
error names the constraint that excluded the most.

A command after the flags (after "--" when its arguments start with a
dash) is the job's workload: the provider's serving agent runs it in a
sandbox held to the spec, with each --input NAME=@PATH written as the file
NAME into its working directory. The command, its arguments, the inputs'
names and contents may be 64 KiB in all. ` + "`sluice job output`" + ` fetches
what it printed. Without a command, the provider decides what runs.`,
	Flags: []cli.Flag{
		cli.StringFlag{Name: "provider", Usage: "the provider's id"},
		cli.Int64Flag{Name: "cpu", Usage: "most core-milliseconds " +
			"per second (1000 per core)"},
		cli.Int64Flag{Name: "mem", Usage: "most MiB of memory"},
		cli.StringFlag{Name: "budget", Usage: "the funding invoice's " +
			"amount: 123456 (msat), 123456msat or 123.456sat"},
		cli.Int64Flag{Name: "buffer", Value: 60, Usage: "seconds of " +
			"runway below which the job is low on balance"},
		cli.StringFlag{Name: "refund-node", Usage: "your node's " +
			"public key (hex), for keysend refunds"},
		cli.DurationFlag{Name: "expiry", Usage: "how long the " +
			"invoice may be paid (default: the server's, 1h)"},
		cli.StringFlag{Name: "buyer", Usage: "operator only: the " +
			"buyer the job is for"},
		cli.StringSliceFlag{Name: "input", Usage: "NAME=@PATH: the " +
			"file PATH as the workload's input NAME (repeatable)"},
		cli.StringFlag{Name: "max-rate", Usage: "placement: the most " +
			"msat per unit of each resource, cpu=...,mem=..."},
		cli.BoolFlag{Name: "explain", Usage: "placement: show every " +
			"provider with why it was taken or left out"},
		jsonFlag,
		waitFlags[0], waitFlags[1],
	},
	Action: jobCreate,
}

func jobCreate(c *cli.Context) error {
	placing := c.String("provider") == ""
	if !placing && (c.IsSet("max-rate") || c.Bool("explain")) {
		return errors.New("--max-rate and --explain are for " +
			"placement: leave --provider out")
	}
	maxRates, err := parseMaxRates(c.String("max-rate"))
	if err != nil {
		return err
	}
	if c.String("budget") == "" {
		return errors.New("--budget is required")
	}
	budget, err := ledger.ParseMilliSatoshi(c.String("budget"))
	if err != nil {
		return fmt.Errorf("--budget: %w", err)
	}
	spec := map[string]int64{}
	for _, r := range []string{"cpu", "mem"} {
		if c.IsSet(r) {
			spec[r] = c.Int64(r)
		}
	}
	req := &sluicerpc.CreateJobRequest{
		ProviderId:           c.String("provider"),
		Spec:                 spec,
		BudgetMsat:           int64(budget),
		BufferSeconds:        c.Int64("buffer"),
		InvoiceExpirySeconds: int64(c.Duration("expiry") / time.Second),
		BuyerId:              c.String("buyer"),
		MaxRates:             maxRates,
	}
	req.RefundNodePubkey, err = refundNode(c)
	if err != nil {
		return err
	}
	req.Workload, err = workloadArgs(c.Args(), c.StringSlice("input"))
	if err != nil {
		return err
	}

	client, err := newAPIClient(c)
	if err != nil {
		return err
	}
	ctx, cancel := callContext()
	defer cancel()
	resp, err := client.jobs.CreateJob(ctx, connect.NewRequest(req))
	if err != nil {
		if placing && c.Bool("explain") && !wantJSON(c) {
			// No fit: the dry run shows why, provider by
			// provider.
			explainNoFit(ctx, c, client, spec, maxRates)
		}
		return client.callError("job create", err)
	}
	if wantJSON(c) {
		if err := printJSON(c.App.Writer, resp.Msg); err != nil {
			return err
		}
		return waitJob(c, client, resp.Msg.Job.JobId, fundingWait)
	}
	if placing {
		fmt.Fprintf(c.App.Writer, "placed on provider %s\n",
			resp.Msg.Job.GetProviderId())
		if c.Bool("explain") {
			if err := printVerdicts(c.App.Writer,
				resp.Msg.Placement); err != nil {

				return err
			}
		}
	}
	if err := printJob(c.App.Writer, resp.Msg.Job); err != nil {
		return err
	}
	return waitJob(c, client, resp.Msg.Job.JobId, fundingWait)
}

// waitJob waits, with --wait, until look says job id is done, showing
// what it waits for on stderr.
func waitJob(c *cli.Context, client *apiClient, id string,
	look func(*sluicerpc.Job) waitState) error {

	if !c.Bool("wait") {
		return nil
	}
	w := newWaiter(c, "sluice job show "+id)
	return w.wait(context.Background(), func(ctx context.Context) (
		waitState, error) {

		resp, err := client.jobs.GetJob(ctx, connect.NewRequest(
			&sluicerpc.GetJobRequest{JobId: id}))
		if err != nil {
			return waitState{}, client.frameError("job show", err)
		}
		return look(resp.Msg.Job), nil
	})
}

// explainNoFit prints the market's dry run of a placement that failed;
// its own failure is only noted, the creation's error is what matters.
func explainNoFit(ctx context.Context, c *cli.Context, client *apiClient,
	spec map[string]int64, maxRates map[string]string) {

	resp, err := client.market.PlaceDryRun(ctx, connect.NewRequest(
		&sluicerpc.PlaceDryRunRequest{
			CpuCoreMs: uint64(max(spec["cpu"], 0)),
			MemMib:    uint64(max(spec["mem"], 0)),
			MaxRates:  maxRates,
		}))
	if err != nil {
		fmt.Fprintf(c.App.ErrWriter, "(no explanation: %v)\n", err)
		return
	}
	_ = printVerdicts(c.App.Writer, resp.Msg.Verdicts)
}

var jobShowCommand = cli.Command{
	Name:      "show",
	Usage:     "show a job: state, escrow, runway, invoices, refunds, events",
	ArgsUsage: "JOB_ID",
	Description: `Shows the job once; --follow refreshes what it metered, spent and
earned, its escrow and runway and what its provider was paid, once a
second, until Ctrl-C or until the job has ended and its refund is final.`,
	Flags: []cli.Flag{
		cli.BoolFlag{Name: "follow, f", Usage: "refresh once a " +
			"second until Ctrl-C or the job is over"},
		jsonFlag,
	},
	Action: jobShow,
}

// jobArg returns the one JOB_ID argument.
func jobArg(c *cli.Context, cmd string) (string, error) {
	if c.NArg() != 1 {
		return "", fmt.Errorf("job %s takes one JOB_ID, got %d "+
			"arguments", cmd, c.NArg())
	}
	return c.Args().First(), nil
}

func jobShow(c *cli.Context) error {
	id, err := jobArg(c, "show")
	if err != nil {
		return err
	}
	client, err := newAPIClient(c)
	if err != nil {
		return err
	}
	if c.Bool("follow") && !wantJSON(c) {
		return followJob(c, client, id)
	}
	ctx, cancel := callContext()
	defer cancel()
	resp, err := client.jobs.GetJob(ctx, connect.NewRequest(
		&sluicerpc.GetJobRequest{JobId: id}))
	if err != nil {
		return client.callError("job show", err)
	}
	if wantJSON(c) {
		return printJSON(c.App.Writer, resp.Msg)
	}
	return printJob(c.App.Writer, resp.Msg.Job)
}

var jobListCommand = cli.Command{
	Name:  "list",
	Usage: "list the jobs you may see, newest first",
	Flags: []cli.Flag{
		cli.StringFlag{Name: "buyer", Usage: "only this buyer's jobs"},
		cli.StringFlag{Name: "provider", Usage: "only this " +
			"provider's jobs"},
		cli.StringSliceFlag{Name: "state", Usage: "only jobs in this " +
			"state (repeatable)"},
		cli.UintFlag{Name: "limit", Usage: "at most this many"},
		cli.UintFlag{Name: "offset", Usage: "skip this many first"},
		jsonFlag,
	},
	Action: jobList,
}

func jobList(c *cli.Context) error {
	client, err := newAPIClient(c)
	if err != nil {
		return err
	}
	ctx, cancel := callContext()
	defer cancel()
	resp, err := client.jobs.ListJobs(ctx, connect.NewRequest(
		&sluicerpc.ListJobsRequest{
			FilterBuyerId:    c.String("buyer"),
			FilterProviderId: c.String("provider"),
			States:           c.StringSlice("state"),
			Limit:            uint32(c.Uint("limit")),
			Offset:           uint32(c.Uint("offset")),
		}))
	if err != nil {
		return client.callError("job list", err)
	}
	if wantJSON(c) {
		return printJSON(c.App.Writer, resp.Msg)
	}
	return printJobList(c.App.Writer, resp.Msg.Jobs)
}

// printJobList prints jobs as a table for a person: what each one holds
// and earned, and how much of that its provider auto-staked.
func printJobList(out io.Writer, jobs []*sluicerpc.Job) error {
	w := tabwriter.NewWriter(out, 0, 4, 2, ' ', 0)
	fmt.Fprintln(w, "JOB\tSTATE\tBUYER\tPROVIDER\tESCROW (msat)\t"+
		"RUNWAY (s)\tEARNED (msat)\tAUTO-STAKED (msat)\tCREATED")
	for _, j := range jobs {
		fmt.Fprintf(w, "%s\t%s\t%s\t%s\t%d\t%d\t%d\t%d\t%s\n",
			j.JobId, j.State, j.BuyerId, j.ProviderId, j.EscrowMsat,
			j.RunwayWholeSeconds, j.EarnedMsat, j.AutoStakedMsat,
			showTime(j.CreatedAt))
	}
	return w.Flush()
}

var jobTopUpCommand = cli.Command{
	Name:      "topup",
	Usage:     "make a further invoice for a funded job",
	ArgsUsage: "JOB_ID",
	Flags: []cli.Flag{
		cli.StringFlag{Name: "amount", Usage: "the top-up (msat, or " +
			"\"5000sat\"); default: the job's budget"},
		jsonFlag,
		waitFlags[0], waitFlags[1],
	},
	Action: jobTopUp,
}

func jobTopUp(c *cli.Context) error {
	id, err := jobArg(c, "topup")
	if err != nil {
		return err
	}
	var amount ledger.MilliSatoshi
	if a := c.String("amount"); a != "" {
		amount, err = ledger.ParseMilliSatoshi(a)
		if err != nil {
			return fmt.Errorf("--amount: %w", err)
		}
	}
	client, err := newAPIClient(c)
	if err != nil {
		return err
	}
	ctx, cancel := callContext()
	defer cancel()
	resp, err := client.jobs.TopUpJob(ctx, connect.NewRequest(
		&sluicerpc.TopUpJobRequest{JobId: id,
			AmountMsat: int64(amount)}))
	if err != nil {
		return client.callError("job topup", err)
	}
	if wantJSON(c) {
		err = printJSON(c.App.Writer, resp.Msg)
	} else {
		w := tabwriter.NewWriter(c.App.Writer, 0, 4, 2, ' ', 0)
		printInvoice(w, "top-up invoice", resp.Msg.Invoice)
		err = w.Flush()
	}
	if err != nil {
		return err
	}
	hash := resp.Msg.Invoice.GetPaymentHash()
	return waitJob(c, client, id, func(j *sluicerpc.Job) waitState {
		return topUpWait(j, hash)
	})
}

var jobEndCommand = cli.Command{
	Name:      "end",
	Usage:     "end a job and refund what is left in its escrow",
	ArgsUsage: "JOB_ID",
	Description: `Ends the job at once: no more usage is taken. What is left in escrow
goes back to the buyer: to --refund-invoice (a BOLT11 invoice of yours,
zero-amount or for exactly the refund), or by keysend to --refund-node
(or the node given at creation). Without either, the job ends and the
escrow waits until ` + "`job end`" + ` is called again with one. The buyer pays
the routing fee out of the escrow. A provider may end its jobs but not
name a refund destination.`,
	Flags: []cli.Flag{
		cli.StringFlag{Name: "refund-invoice", Usage: "a BOLT11 " +
			"invoice to refund to"},
		cli.StringFlag{Name: "refund-node", Usage: "a node's public " +
			"key (hex) to refund to by keysend"},
		jsonFlag,
		waitFlags[0], waitFlags[1],
	},
	Action: jobEnd,
}

func jobEnd(c *cli.Context) error {
	id, err := jobArg(c, "end")
	if err != nil {
		return err
	}
	req := &sluicerpc.EndJobRequest{JobId: id,
		RefundInvoice: c.String("refund-invoice")}
	req.RefundNodePubkey, err = refundNode(c)
	if err != nil {
		return err
	}
	client, err := newAPIClient(c)
	if err != nil {
		return err
	}
	ctx, cancel := callContext()
	defer cancel()
	resp, err := client.jobs.EndJob(ctx, connect.NewRequest(req))
	if err != nil {
		return client.callError("job end", err)
	}
	if wantJSON(c) {
		err = printJSON(c.App.Writer, resp.Msg)
	} else {
		err = printJob(c.App.Writer, resp.Msg.Job)
	}
	if err != nil {
		return err
	}
	return waitJob(c, client, id, refundWait)
}

// showTime formats a timestamp for a person; "-" when unset.
func showTime(t *timestamppb.Timestamp) string {
	if t == nil {
		return "-"
	}
	return t.AsTime().Local().Format(time.RFC3339)
}

// printInvoice prints an invoice's rows.
func printInvoice(w io.Writer, name string, inv *sluicerpc.JobInvoice) {
	fmt.Fprintf(w, "%s:\t%s, %d msat, %s (expires %s)\n", name,
		inv.State, inv.AmountMsat, hex.EncodeToString(inv.PaymentHash),
		showTime(inv.ExpiresAt))
	fmt.Fprintf(w, "  pay:\t%s\n", inv.PaymentRequest)
}

// printJob prints a job for a person.
func printJob(out io.Writer, j *sluicerpc.Job) error {
	w := tabwriter.NewWriter(out, 0, 4, 2, ' ', 0)
	row := func(name, format string, args ...any) {
		fmt.Fprintf(w, "%s:\t"+format+"\n", append([]any{name},
			args...)...)
	}
	row("job", "%s", j.JobId)
	row("state", "%s", j.State)
	row("buyer", "%s", j.BuyerId)
	row("provider", "%s", j.ProviderId)

	var spec []string
	for r, n := range j.Spec {
		spec = append(spec, fmt.Sprintf("%s %d at %s msat", r, n,
			j.Rates[r]))
	}
	sort.Strings(spec)
	row("spec", "%s", strings.Join(spec, ", "))
	row("price", "%s msat/s", j.PricePerSecondMsat)
	row("budget", "%d msat, buffer %d s", j.BudgetMsat, j.BufferSeconds)
	row("escrow", "%d msat (%s)", j.EscrowMsat, j.Health)
	row("runway", "%s s", j.RunwaySeconds)
	if j.DepletionTime != nil {
		row("depletes", "%s at the full spec", showTime(j.DepletionTime))
	}
	row("metered", "%d s: spent %d msat, fees %d msat, provider "+
		"earned %d msat", j.SecondsMetered, j.SpentMsat, j.FeesMsat,
		j.EarnedMsat)
	row("auto-staked", "%d msat of the earnings, into the vault",
		j.AutoStakedMsat)
	row("provider paid", "%d msat, %d msat in flight, %d msat payable "+
		"(all its jobs)", j.ProviderPaidOutMsat, j.ProviderInFlightMsat,
		j.ProviderPayableMsat)
	if j.RefundedMsat > 0 {
		row("refunded", "%d msat", j.RefundedMsat)
	}
	if len(j.RefundNodePubkey) > 0 {
		row("refund node", "%x", j.RefundNodePubkey)
	}
	if j.TopUpInvoice != nil {
		printInvoice(w, "top-up ready", j.TopUpInvoice)
	}
	for _, inv := range j.Invoices {
		printInvoice(w, inv.Purpose+" invoice", inv)
	}
	for _, r := range j.Refunds {
		row("refund", "%s by %s: %d msat, fee %d msat (limit %d) %s",
			r.State, r.Method, r.AmountMsat, r.FeeMsat,
			r.FeeLimitMsat, r.Failure)
	}
	printWorkload(row, j)
	for _, e := range j.Events {
		from := e.FromState
		if from == "" {
			from = "·"
		}
		row("event", "%s  %s → %s (%s) %s", showTime(e.At), from,
			e.ToState, e.Cause, e.Detail)
	}
	return w.Flush()
}

// refundNode is the --refund-node flag decoded; nil when it is not set.
func refundNode(c *cli.Context) ([]byte, error) {
	n := c.String("refund-node")
	if n == "" {
		return nil, nil
	}
	node, err := hex.DecodeString(n)
	if err != nil {
		return nil, fmt.Errorf("--refund-node: %w", err)
	}
	return node, nil
}
