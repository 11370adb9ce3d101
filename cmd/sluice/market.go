package main

import (
	"errors"
	"fmt"
	"io"
	"maps"
	"slices"
	"strings"
	"text/tabwriter"
	"time"

	"connectrpc.com/connect"
	"github.com/sluice-ln/sluice/rpc/sluicerpc"
	"github.com/urfave/cli"
)

var marketCommand = cli.Command{
	Name:     "market",
	Category: "Buyer",
	Usage:    "see providers' offers and where a job would be placed",
	Subcommands: []cli.Command{
		marketOffersCommand,
		marketPlaceCommand,
	},
}

var marketOffersCommand = cli.Command{
	Name:  "offers",
	Usage: "list the providers' offers, online state, rates and records",
	Description: "Every provider whose agent ever sent a heartbeat " +
		"(--all: every linked provider). CPU is in cores, FREE is the " +
		"offer less what active jobs reserve. Operator or buyer " +
		"macaroon.",
	Flags: []cli.Flag{
		cli.BoolFlag{Name: "all", Usage: "also providers that never " +
			"offered"},
		jsonFlag,
	},
	Action: marketOffers,
}

func marketOffers(c *cli.Context) error {
	client, err := newAPIClient(c)
	if err != nil {
		return err
	}
	ctx, cancel := callContext()
	defer cancel()
	resp, err := client.market.ListOffers(ctx, connect.NewRequest(
		&sluicerpc.ListOffersRequest{IncludeSilent: c.Bool("all")}))
	if err != nil {
		return client.callError("market offers", err)
	}
	if wantJSON(c) {
		return printJSON(c.App.Writer, resp.Msg)
	}
	if len(resp.Msg.Offers) == 0 {
		fmt.Fprintln(c.App.Writer, "no provider has offered capacity "+
			"(sluice agent serve)")
		return nil
	}
	w := tabwriter.NewWriter(c.App.Writer, 0, 4, 2, ' ', 0)
	fmt.Fprintln(w, "PROVIDER\tONLINE\tCPU\tMEM MiB\tSLOTS\tFREE\tRATES\t"+
		"REACH\tDONE/FAILED/ABANDONED\tUPTIME")
	for _, o := range resp.Msg.Offers {
		cpu, mem, slots := "-", "-", "-"
		if o.Offer != nil {
			cpu = cores(o.Offer.CpuCoreMs)
			mem = fmt.Sprint(o.Offer.MemMib)
			slots = fmt.Sprint(o.Offer.Slots)
		}
		r := o.Record
		fmt.Fprintf(w, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%d/%d/%d\t%s\n",
			o.ProviderId, yesNo(o.Online), cpu, mem, slots,
			capacityString(o.Free), ratesString(o.Rates), o.Reach,
			r.GetCompleted(), r.GetFailed(), r.GetAbandoned(),
			ppm(r.GetUptimePpm()))
	}
	return w.Flush()
}

var marketPlaceCommand = cli.Command{
	Name:  "place",
	Usage: "say which provider a job with this spec would be placed on",
	Description: "A dry run: no job is made. Keeps the providers online, " +
		"reachable, with free capacity for the spec, whose rates are " +
		"at or below --max-rate; ranks them by the spec's price, then " +
		"record; breaks ties at random (docs/market.md). --explain " +
		"shows every provider and why it was taken or left out. No " +
		"fit is an error naming the constraint that excluded the most.",
	Flags: []cli.Flag{
		cli.Uint64Flag{Name: "cpu", Usage: "most core-milliseconds " +
			"per second (1000 = one core)"},
		cli.Uint64Flag{Name: "mem", Usage: "most MiB of memory"},
		cli.StringFlag{Name: "max-rate", Usage: "most msat per unit, " +
			"per resource: cpu=0.001,mem=0.002"},
		cli.BoolFlag{Name: "explain", Usage: "show every provider " +
			"and why"},
		jsonFlag,
	},
	Action: marketPlace,
}

func marketPlace(c *cli.Context) error {
	maxRates, err := parseMaxRates(c.String("max-rate"))
	if err != nil {
		return err
	}
	client, err := newAPIClient(c)
	if err != nil {
		return err
	}
	ctx, cancel := callContext()
	defer cancel()
	resp, err := client.market.PlaceDryRun(ctx, connect.NewRequest(
		&sluicerpc.PlaceDryRunRequest{
			CpuCoreMs: c.Uint64("cpu"), MemMib: c.Uint64("mem"),
			MaxRates: maxRates,
		}))
	if err != nil {
		return client.callError("market place", err)
	}
	p := resp.Msg
	if wantJSON(c) {
		if err := printJSON(c.App.Writer, p); err != nil {
			return err
		}
	} else {
		if p.ProviderId != "" {
			fmt.Fprintf(c.App.Writer, "placed on %s at %s msat per "+
				"second\n", p.ProviderId, p.PriceMsatPerSecond)
		}
		if c.Bool("explain") {
			if err := printVerdicts(c.App.Writer,
				p.Verdicts); err != nil {

				return err
			}
		}
	}
	if p.ProviderId == "" {
		return errors.New(p.NoFit)
	}
	return nil
}

// printVerdicts prints one line per provider.
func printVerdicts(out io.Writer, vs []*sluicerpc.Verdict) error {
	w := tabwriter.NewWriter(out, 0, 4, 2, ' ', 0)
	fmt.Fprintln(w, "RANK\tPROVIDER\tMSAT/S\tDONE/FAILED/ABANDONED\t"+
		"UPTIME\tVERDICT")
	for _, v := range vs {
		rank, verdict := "-", "eligible"
		if v.Rank > 0 {
			rank = fmt.Sprint(v.Rank)
		}
		if v.Taken {
			verdict = "taken"
		}
		if len(v.Reasons) > 0 {
			var parts []string
			for i, r := range v.Reasons {
				parts = append(parts, r+": "+v.Details[i])
			}
			verdict = "left out: " + strings.Join(parts, "; ")
		}
		price := v.PriceMsatPerSecond
		if price == "" {
			price = "-"
		}
		r := v.Record
		fmt.Fprintf(w, "%s\t%s\t%s\t%d/%d/%d\t%s\t%s\n", rank,
			v.ProviderId, price, r.GetCompleted(), r.GetFailed(),
			r.GetAbandoned(), ppm(r.GetUptimePpm()), verdict)
	}
	return w.Flush()
}

// parseMaxRates reads "cpu=0.001,mem=0.002"; the server checks the names
// and the numbers.
func parseMaxRates(s string) (map[string]string, error) {
	out := map[string]string{}
	if s == "" {
		return out, nil
	}
	for _, part := range strings.Split(s, ",") {
		k, v, ok := strings.Cut(strings.TrimSpace(part), "=")
		if !ok || k == "" || v == "" {
			return nil, fmt.Errorf("--max-rate %q: want resource="+
				"rate, comma separated (cpu=0.001,mem=0.002)", s)
		}
		if _, dup := out[k]; dup {
			return nil, fmt.Errorf("--max-rate: %s given twice", k)
		}
		out[k] = v
	}
	return out, nil
}

// printMarketRecord adds a provider's offer, online state and record to
// `provider show`.
func printMarketRecord(out io.Writer, o *sluicerpc.ProviderOffer) error {
	w := tabwriter.NewWriter(out, 0, 4, 2, ' ', 0)
	row := func(name, value string) {
		fmt.Fprintf(w, "%s:\t%s\n", name, value)
	}
	if o.Offer == nil {
		row("offer", "none (no heartbeat: sluice agent serve)")
	} else {
		row("offer", fmt.Sprintf("%s cores, %d MiB, %d slot(s), "+
			"agent %s", cores(o.Offer.CpuCoreMs), o.Offer.MemMib,
			o.Offer.Slots, o.Offer.AgentVersion))
		online := "no"
		if o.Online {
			online = "yes, free " + capacityString(o.Free)
		}
		row("online", online)
		row("last heartbeat", localTime(o.LastSeen.AsTime()))
	}
	r := o.Record
	row("jobs", fmt.Sprintf("%d completed, %d failed, %d abandoned, %d "+
		"active", r.GetCompleted(), r.GetFailed(), r.GetAbandoned(),
		r.GetActive()))
	row("metered", (time.Duration(r.GetMeteredSeconds()) *
		time.Second).String())
	row("payout failures", fmt.Sprint(r.GetPayoutFailures()))
	uptime := ppm(r.GetUptimePpm())
	if r.GetSince() != nil {
		uptime += " since " + localTime(r.Since.AsTime())
	}
	row("heartbeat uptime", uptime)
	return w.Flush()
}

// cores shows core-ms per second as cores.
func cores(coreMs uint64) string {
	s := fmt.Sprintf("%d.%03d", coreMs/1000, coreMs%1000)
	s = strings.TrimRight(strings.TrimRight(s, "0"), ".")
	return s
}

// capacityString shows a capacity.
func capacityString(c *sluicerpc.Capacity) string {
	return fmt.Sprintf("%s cores, %d MiB, %d job(s)",
		cores(c.GetCpuCoreMs()), c.GetMemMib(), c.GetJobs())
}

// ratesString shows a rate card on one line.
func ratesString(rates map[string]string) string {
	if len(rates) == 0 {
		return "-"
	}
	var parts []string
	for _, k := range slices.Sorted(maps.Keys(rates)) {
		parts = append(parts, k+"="+rates[k])
	}
	return strings.Join(parts, ",")
}

// ppm shows millionths as a percentage.
func ppm(v uint32) string {
	return fmt.Sprintf("%d.%d%%", v/10_000, v%10_000/1000)
}

// yesNo is "yes" or "no".
func yesNo(b bool) string {
	if b {
		return "yes"
	}
	return "no"
}
