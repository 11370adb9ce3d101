package main

import (
	"encoding/json"
	"fmt"
	"io"
	"os"
	"sort"
	"text/tabwriter"
	"time"

	"github.com/btcsuite/btcd/btcutil"
	"github.com/lightningnetwork/lnd/lnwire"
	"github.com/sluice-ln/sluice/devnet"
	"github.com/urfave/cli"
)

// devnetTrafficCommand sends payments through the hub so that it routes.
var devnetTrafficCommand = cli.Command{
	Name: "traffic",
	Usage: "send real payments between the buyer and providers " +
		"through the hub",
	Description: "Sends payments at about --rate for --for between the " +
		"running network's buyer and provider nodes, every one " +
		"through the hub (buyer -> hub -> provider, and back, and " +
		"provider to provider, where the channels' balances " +
		"allow), then waits for those in flight and prints what " +
		"was sent, what succeeded and failed, and the fees the " +
		"senders paid: the hub's routing income, as the nodes' lnd " +
		"reported it. The receiving node adds each invoice; the " +
		"sending node pays it. The hub charges the fee policy its " +
		"lnd has on its channels (lnd's default on a fresh " +
		"network), printed at the end.",
	Flags: []cli.Flag{
		devnetDirFlag, devnetRepoFlag, jsonFlag,
		cli.StringFlag{
			Name: "rate",
			Usage: fmt.Sprintf("payments per second (N/s), "+
				"minute (N/m) or hour (N/h), at most %d/s",
				devnet.MaxTrafficRate),
			Value: "2/s",
		},
		cli.DurationFlag{
			Name: "for",
			Usage: fmt.Sprintf("how long to send, at most %v",
				devnet.MaxTrafficDuration),
			Value: time.Minute,
		},
		cli.Int64Flag{
			Name: "amount",
			Usage: fmt.Sprintf("sat each payment delivers, 1 to %d",
				int64(devnet.MaxTrafficAmount)),
			Value: int64(devnet.DefaultTrafficAmount),
		},
	},
	Action: devnetTraffic,
}

func devnetTraffic(c *cli.Context) error {
	rate, err := devnet.ParseRate(c.String("rate"))
	if err != nil {
		return fmt.Errorf("--rate: %w", err)
	}
	dir, err := devnetDir(c)
	if err != nil {
		return err
	}
	st, err := devnet.Status(dir)
	if err != nil {
		return err
	}
	if !st.Running || st.Profile == nil {
		return fmt.Errorf("no devnet runs in %s (run `sluice devnet "+
			"up`)", dir)
	}

	ctx, stop := signalContext()
	defer stop()
	out := io.Writer(os.Stdout)
	if wantJSON(c) {
		out = os.Stderr
	}
	fmt.Fprintf(out, "traffic at %v for %v, %d sat a payment; ctrl-c "+
		"stops sending\n", rate, c.Duration("for"), c.Int64("amount"))
	rep, err := devnet.Traffic(ctx, st.Profile, devnet.TrafficOptions{
		Rate:   rate,
		For:    c.Duration("for"),
		Amount: btcutil.Amount(c.Int64("amount")),
		Out:    out,
	})
	if err != nil {
		return err
	}
	if wantJSON(c) {
		enc := json.NewEncoder(os.Stdout)
		enc.SetIndent("", "    ")
		return enc.Encode(rep)
	}
	printTraffic(os.Stdout, rep)
	return nil
}

// printTraffic prints a traffic report: totals, flows, failures and the
// hub's fee policies.
func printTraffic(w io.Writer, r *devnet.TrafficReport) {
	fmt.Fprintf(w, "\nplanned %d, sent %d, succeeded %d, failed %d",
		r.Planned, r.Sent, r.Succeeded, r.Failed)
	if r.NoBalance > 0 {
		fmt.Fprintf(w, ", not sent for want of balance %d", r.NoBalance)
	}
	fmt.Fprintf(w, " in %v\ndelivered %s; fees paid to the hub %s\n\n",
		r.Elapsed.Round(100*time.Millisecond), sat(r.Amount),
		sat(r.Fees))

	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "FROM\tTO\tSENT\tSUCCEEDED\tFAILED\tDELIVERED\tFEES")
	for _, f := range r.Flows {
		fmt.Fprintf(tw, "%s\t%s\t%d\t%d\t%d\t%s\t%s\n", f.From, f.To,
			f.Sent, f.Succeeded, f.Failed, sat(f.Amount),
			sat(f.Fees))
	}
	tw.Flush()

	if len(r.Failures) > 0 {
		reasons := make([]string, 0, len(r.Failures))
		for k := range r.Failures {
			reasons = append(reasons, k)
		}
		sort.Strings(reasons)
		fmt.Fprintln(w, "\nfailures:")
		for _, k := range reasons {
			fmt.Fprintf(w, "  %s: %d\n", k, r.Failures[k])
		}
	}
	fmt.Fprintln(w, "\nthe hub's fee policies:")
	for _, p := range r.HubPolicies {
		fmt.Fprintf(w, "  channel %d: %d msat + %d ppm\n", p.ChanID,
			p.BaseFeeMsat, p.FeePPM)
	}
}

// sat writes msat as sat with three decimals.
func sat(m lnwire.MilliSatoshi) string {
	return fmt.Sprintf("%d.%03d sat", m/1000, m%1000)
}
