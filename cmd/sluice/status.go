package main

import (
	"context"
	"fmt"
	"io"
	"text/tabwriter"

	"connectrpc.com/connect"
	"github.com/sluice-ln/sluice/rpc/sluicerpc"
	"github.com/urfave/cli"
)

var providerStatusCommand = cli.Command{
	Name:      "status",
	Usage:     "watch what a provider metered, earned, was paid and has in flight",
	ArgsUsage: "[provider-id]",
	Description: `Shows, refreshed once a second until Ctrl-C, the provider's jobs that
have not ended (--all: every job) with the seconds each metered and what
the provider earned on it, and the provider's payouts: payable, in
flight, paid out, how many payouts, the last one, and whether payouts
flow (ok), are capped by the route (limited), wait after a failure
(retrying) or cannot be made (blocked), with the reason. --once or
--json prints one snapshot. The provider is the one the macaroon is
bound to, or the named one (operator); the macaroon is as for
'provider show'.`,
	Flags: []cli.Flag{
		cli.BoolFlag{Name: "once", Usage: "print one snapshot and exit"},
		cli.BoolFlag{Name: "all", Usage: "list ended jobs too"},
		jsonFlag,
	},
	Action: providerStatus,
}

func providerStatus(c *cli.Context) error {
	client, id, err := providerTarget(c)
	if err != nil {
		return err
	}
	req := &sluicerpc.GetProviderStatusRequest{ProviderId: id,
		AllJobs: c.Bool("all")}
	get := func(ctx context.Context) (*sluicerpc.GetProviderStatusResponse,
		*sluicerpc.Holding, error) {

		ctx, cancel := context.WithTimeout(ctx, callTimeout)
		defer cancel()
		resp, err := client.provider.GetProviderStatus(ctx,
			connect.NewRequest(req))
		if err != nil {
			return nil, nil, client.frameError("provider status",
				err)
		}
		h, err := holding(ctx, client, id)
		if err != nil {
			return nil, nil, err
		}
		return resp.Msg, h, nil
	}

	if wantJSON(c) {
		// The API's status message, as before the vault: scripts
		// read the holding with `provider autostake --json`.
		ctx, cancel := callContext()
		defer cancel()
		resp, err := client.provider.GetProviderStatus(ctx,
			connect.NewRequest(req))
		if err != nil {
			return client.callError("provider status", err)
		}
		return printJSON(c.App.Writer, resp.Msg)
	}
	if c.Bool("once") {
		st, h, err := get(context.Background())
		if err != nil {
			return err
		}
		return printProviderStatus(c.App.Writer, st, h)
	}
	return follow(context.Background(), c.App.Writer, followInterval,
		func(ctx context.Context, w io.Writer) error {
			st, h, err := get(ctx)
			if err != nil {
				return err
			}
			return printProviderStatus(w, st, h)
		})
}

// holding returns the provider's part of the vault, or nil when sluiced
// serves no vault.
func holding(ctx context.Context, client *apiClient,
	id string) (*sluicerpc.Holding, error) {

	resp, err := client.vault.GetHolding(ctx, connect.NewRequest(
		&sluicerpc.GetHoldingRequest{ProviderId: id}))
	if connect.CodeOf(err) == connect.CodeUnimplemented {
		return nil, nil
	}
	if err != nil {
		return nil, client.frameError("provider status", err)
	}
	return resp.Msg.Holding, nil
}

// printProviderStatus prints a provider's status, and its holding in the
// vault when there is one, for a person.
func printProviderStatus(out io.Writer,
	st *sluicerpc.GetProviderStatusResponse, h *sluicerpc.Holding) error {

	asOf := st.AsOf.AsTime()
	w := tabwriter.NewWriter(out, 0, 4, 2, ' ', 0)
	row := func(name, format string, args ...any) {
		fmt.Fprintf(w, "%s:\t"+format+"\n", append([]any{name},
			args...)...)
	}
	row("provider", "%s", st.ProviderId)
	row("as of", "%s", showTime(st.AsOf))
	payouts := st.PayoutStatus
	if st.PayoutStatusReason != "" {
		payouts += ": " + st.PayoutStatusReason
	}
	if st.PayoutRetryAt != nil {
		payouts += " (next try " + showTime(st.PayoutRetryAt) + ")"
	}
	row("payouts", "%s", payouts)
	row("payable", "%s", msat(st.PayableMsat))
	row("in flight", "%s", msat(st.InFlightMsat))
	row("paid out", "%s in %d payouts (%d tried)", msat(st.PaidOutMsat),
		st.PayoutsSucceeded, st.Payouts)
	last := "none yet"
	if st.LastPayoutAt != nil {
		last = fmt.Sprintf("%s (%s)", showTime(st.LastPayoutAt),
			since(st.LastPayoutAt.AsTime(), asOf))
	}
	row("last payout", "%s", last)
	if h != nil {
		printHolding(w, h)
	}
	if err := w.Flush(); err != nil {
		return err
	}

	fmt.Fprintln(out)
	if len(st.Jobs) == 0 {
		fmt.Fprintln(out, "no jobs")
		return nil
	}
	w = tabwriter.NewWriter(out, 0, 4, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(w, "JOB\tSTATE\tSECONDS\tEARNED (msat)\tESCROW (msat)\t")
	var seconds, earned int64
	for _, j := range st.Jobs {
		fmt.Fprintf(w, "%s\t%s\t%d\t%d\t%d\t\n", j.JobId, j.State,
			j.SecondsMetered, j.EarnedMsat, j.EscrowMsat)
		seconds += j.SecondsMetered
		earned += j.EarnedMsat
	}
	fmt.Fprintf(w, "total\t\t%d\t%d\t\t\n", seconds, earned)
	return w.Flush()
}

// msat formats an amount in msat with its value in sats.
func msat(v int64) string {
	sign := ""
	if v < 0 {
		sign = "-"
	}
	return fmt.Sprintf("%d msat (%s%d.%03d sat)", v, sign, abs(v/1000),
		abs(v%1000))
}

// abs is |v|.
func abs(v int64) int64 {
	if v < 0 {
		return -v
	}
	return v
}

// jobFollowStop reports whether a followed job will change no more: it
// ended or expired and no refund is pending.
func jobFollowStop(j *sluicerpc.Job) bool {
	if j.State != "ended" && j.State != "expired" {
		return false
	}
	for _, r := range j.Refunds {
		if r.State == "pending" {
			return false
		}
	}
	return true
}

// printJobLive prints what a followed job shows each second.
func printJobLive(out io.Writer, j *sluicerpc.Job) error {
	w := tabwriter.NewWriter(out, 0, 4, 2, ' ', 0)
	row := func(name, format string, args ...any) {
		fmt.Fprintf(w, "%s:\t"+format+"\n", append([]any{name},
			args...)...)
	}
	row("job", "%s (provider %s)", j.JobId, j.ProviderId)
	row("as of", "%s", showTime(j.AsOf))
	row("state", "%s", j.State)
	row("metered", "%d s", j.SecondsMetered)
	row("escrow", "%s (%s)", msat(j.EscrowMsat), j.Health)
	row("spent", "%s, of which fees %s", msat(j.SpentMsat),
		msat(j.FeesMsat))
	row("earned", "%s by the provider", msat(j.EarnedMsat))
	runway := j.RunwaySeconds + " s at " + j.PricePerSecondMsat +
		" msat/s"
	if j.DepletionTime != nil {
		runway += ", depletes " + showTime(j.DepletionTime)
	}
	row("runway", "%s", runway)
	row("provider paid", "%s, %s in flight, %s payable (all its jobs)",
		msat(j.ProviderPaidOutMsat), msat(j.ProviderInFlightMsat),
		msat(j.ProviderPayableMsat))
	if j.RefundedMsat > 0 {
		row("refunded", "%s", msat(j.RefundedMsat))
	}
	for _, r := range j.Refunds {
		if r.State == "pending" {
			row("refund", "%s pending", msat(r.AmountMsat))
		}
	}
	if j.TopUpInvoice != nil {
		printInvoice(w, "top-up ready", j.TopUpInvoice)
	}
	return w.Flush()
}

// followJob refreshes a job's live view once a second until Ctrl-C or
// the job will change no more.
func followJob(c *cli.Context, client *apiClient, id string) error {
	return follow(context.Background(), c.App.Writer, followInterval,
		func(ctx context.Context, w io.Writer) error {
			ctx, cancel := context.WithTimeout(ctx, callTimeout)
			defer cancel()
			resp, err := client.jobs.GetJob(ctx, connect.NewRequest(
				&sluicerpc.GetJobRequest{JobId: id}))
			if err != nil {
				return client.frameError("job show", err)
			}
			if err := printJobLive(w, resp.Msg.Job); err != nil {
				return err
			}
			if jobFollowStop(resp.Msg.Job) {
				return errFollowDone
			}
			return nil
		})
}
