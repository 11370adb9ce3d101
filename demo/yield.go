package demo

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os/exec"
	"strings"
	"time"

	"github.com/lightningnetwork/lnd/lnrpc"
	"github.com/sluice-ln/sluice/devnet"
	"github.com/sluice-ln/sluice/ledger"
	"github.com/sluice-ln/sluice/rpc/sluicerpc"
	"github.com/sluice-ln/sluice/yield/routing"
)

// The yield act: the vault's capital, staked from provider1's earnings,
// opens a routing channel of the hub through a plan the operator applies;
// payments between the buyer and the providers forward through it, and the
// report's income and cost are compared with the hub's lnd.

// StoryChanSat is the capacity of the routing channel the yield act opens,
// given to a sluiced the story starts as routing.chansize: lnd's least
// channel (funding.MinChanFundingSize), so that ten seconds of staked
// earnings open it.
const StoryChanSat = 20_000

// The yield act's traffic: payments of trafficSat, trafficRate a second
// for trafficFor, between the buyer and the providers through the hub.
const (
	trafficSat  = 500
	trafficRate = 4
	trafficFor  = 5 * time.Second
)

// confirmations is how many blocks the act mines on the channel's open:
// lnd announces a channel after six.
const confirmations = 6

// ErrYieldDiffers is returned by Summary.Check when the yield act's report
// does not show what the hub's lnd has: its income the fees of the
// forwards out of the channel, its cost the open's chain fee.
var ErrYieldDiffers = errors.New("the yield report differs from lnd")

// YieldSummary is the yield act: one plan applied, the routing channel it
// opened, the traffic through it, and the report beside lnd's records.
type YieldSummary struct {
	// Skipped says why the act opened no channel (a reused sluiced whose
	// routing strategy has no room for one); empty when it did.
	Skipped string

	// PlanID is the applied plan; Peer the node the channel goes to,
	// ChannelPoint and ChanID the channel, Capital what its open moved
	// from the vault to the routing strategy.
	PlanID       string
	Peer         string
	ChannelPoint string
	ChanID       uint64
	Capital      ledger.MilliSatoshi

	// Traffic is what the payments through the hub did.
	Traffic *devnet.TrafficReport

	// Forwards and LndFees are the forwards out of the channel in the
	// hub's ForwardingHistory and the sum of their fee_msat; OpenFee the
	// open's fee as the hub's wallet has it (GetTransactions).
	Forwards int
	LndFees  ledger.MilliSatoshi
	OpenFee  ledger.MilliSatoshi

	// Income, Cost and Net are the report's entries for the channel:
	// its forwards' fees and its open's chain fee (`sluice yield report
	// --explain`); a reused sluiced's strategy may have others.
	Income, Cost, Net ledger.MilliSatoshi
}

// check returns nil when the act was skipped or its report equals lnd's
// records, else an error wrapping ErrYieldDiffers.
func (y YieldSummary) check() error {
	if y.Skipped != "" {
		return nil
	}
	var bad []string
	if y.Income != y.LndFees {
		bad = append(bad, fmt.Sprintf("routing income %v != the "+
			"fee_msat of lnd's %d forwards out of %d, %v", y.Income,
			y.Forwards, y.ChanID, y.LndFees))
	}
	if y.Cost != y.OpenFee {
		bad = append(bad, fmt.Sprintf("routing cost %v != the open's "+
			"chain fee %v", y.Cost, y.OpenFee))
	}
	if y.Net != y.Income-y.Cost {
		bad = append(bad, fmt.Sprintf("net %v != income %v - cost %v",
			y.Net, y.Income, y.Cost))
	}
	if len(bad) > 0 {
		return fmt.Errorf("%w: %s", ErrYieldDiffers, strings.Join(bad,
			"; "))
	}
	return nil
}

// print writes the act's lines of the summary.
func (y YieldSummary) print(w io.Writer) {
	fmt.Fprintln(w, "yield:")
	if y.Skipped != "" {
		fmt.Fprintf(w, "  no channel opened: %s\n", y.Skipped)
		return
	}
	fmt.Fprintf(w, "  plan %s opened %s (%s) to %s\n", y.PlanID,
		y.ChannelPoint, sat(y.Capital), shortKey(y.Peer))
	if t := y.Traffic; t != nil {
		fmt.Fprintf(w, "  traffic              %d payments, %d "+
			"succeeded, %d failed\n", t.Sent, t.Succeeded, t.Failed)
	}
	fmt.Fprintf(w, "  routing channel      income %s, cost %s, net %s\n",
		sat(y.Income), sat(y.Cost), sat(y.Net))
	fmt.Fprintln(w, "yield checks:")
	fmt.Fprintf(w, "  income %s = fee_msat of lnd's %d forwards out of "+
		"the channel %s: %s\n", sat(y.Income), y.Forwards,
		sat(y.LndFees), mark(y.Income == y.LndFees))
	fmt.Fprintf(w, "  cost %s = the open's chain fee in lnd's wallet "+
		"%s: %s\n", sat(y.Cost), sat(y.OpenFee),
		mark(y.Cost == y.OpenFee))
}

// shortKey is a node key's first and last digits.
func shortKey(k string) string {
	if len(k) <= 16 {
		return k
	}
	return k[:8] + "…" + k[len(k)-8:]
}

// yieldAct is what the yield act carries from step to step.
type yieldAct struct {
	plan    *sluicerpc.YieldPlan
	open    *sluicerpc.PlannedAction
	applied time.Time
}

// skip ends the act without a channel, saying why.
func (s *story) skipYield(why string) {
	s.sum.Yield.Skipped = why
	fmt.Fprintf(s.out, "    the act opens nothing: %s\n", why)
}

// yieldSkipped is whether an earlier step of the act ended it.
func (s *story) yieldSkipped() bool { return s.sum.Yield.Skipped != "" }

// capRouting gives the routing strategy room for one channel of
// StoryChanSat beyond what it holds, as `sluice operator vault policy
// --cap` does.
func (s *story) capRouting(ctx context.Context) error {
	var resp sluicerpc.PlanResponse
	err := s.execCLI(ctx, append(append(s.sluiceArgs(), "--json"),
		"yield", "plan"), func(out []byte) error {
		return sluicerpc.JSONUnmarshalOptions.Unmarshal(out, &resp)
	})
	if err != nil {
		return err
	}
	var held int64
	for _, st := range resp.Plan.GetStrategies() {
		if st.Name == routing.Name {
			held = st.CurrentMsat
		}
	}
	capMsat := held + StoryChanSat*1000
	var policy sluicerpc.SetVaultPolicyResponse
	err = s.runCLI(ctx, &policy, "operator", "vault", "policy", "--cap",
		fmt.Sprintf("%s=%dmsat", routing.Name, capMsat))
	if err != nil {
		return err
	}
	fmt.Fprintf(s.out, "    routing holds %s; its cap is now %s: room "+
		"for one channel of %d sat\n", sat(ledger.MilliSatoshi(held)),
		sat(ledger.MilliSatoshi(capMsat)), StoryChanSat)
	return nil
}

// planYield makes a plan and shows it as `sluice yield plan` prints it.
func (s *story) planYield(ctx context.Context) error {
	var resp sluicerpc.PlanResponse
	if err := s.runCLI(ctx, &resp, "yield", "plan"); err != nil {
		return err
	}
	p := resp.Plan
	s.yield.plan = p
	if err := s.showText(ctx, "yield", "plan", "--id", p.Id); err != nil {
		return err
	}
	for _, a := range p.Actions {
		if a.Strategy == routing.Name && a.Kind == "open" {
			s.yield.open = a
			return nil
		}
	}
	why := "the plan has no routing open"
	for _, l := range p.LeftOut {
		if l.Strategy == routing.Name {
			why += fmt.Sprintf("; %s: %s", shortKey(l.Target),
				l.Reason)
		}
	}
	s.skipYield(why)
	return nil
}

// applyYield applies the plan and follows its open until lnd has it.
func (s *story) applyYield(ctx context.Context) error {
	if s.yieldSkipped() {
		return nil
	}
	var resp sluicerpc.ApplyResponse
	if err := s.runCLI(ctx, &resp, "yield", "apply",
		s.yield.plan.Id); err != nil {
		return err
	}
	s.yield.applied = time.Now()
	var open *sluicerpc.AppliedAction
	err := poll(ctx, "the plan's open", time.Second, func() error {
		var acts sluicerpc.ListActionsResponse
		err := s.execCLI(ctx, append(append(s.sluiceArgs(), "--json"),
			"yield", "actions", "--plan", s.yield.plan.Id),
			func(out []byte) error {
				return sluicerpc.JSONUnmarshalOptions.Unmarshal(
					out, &acts)
			})
		if err != nil {
			return err
		}
		for _, a := range acts.Actions {
			if a.Kind != "open" {
				continue
			}
			switch a.Status {
			case "succeeded":
				open = a
				return nil
			case "pending":
				return fmt.Errorf("action %d pending", a.Id)
			default:
				return fmt.Errorf("%w: action %d %s: %s",
					errGiveUp, a.Id, a.Status, a.Error)
			}
		}
		return fmt.Errorf("%w: the applied plan has no open", errGiveUp)
	})
	if err != nil {
		return err
	}
	y := &s.sum.Yield
	y.PlanID, y.Peer = s.yield.plan.Id, open.Target
	y.ChannelPoint, y.Capital = open.Result,
		ledger.MilliSatoshi(open.AmountMsat)
	fmt.Fprintf(s.out, "    the hub opened %s: %s of vault capital to "+
		"%s\n", y.ChannelPoint, sat(y.Capital), shortKey(y.Peer))
	return nil
}

// confirmYield mines the open's confirmations and waits until the channel
// is active at the hub and the buyer's graph has the hub's policy of it, so
// that the buyer's payments can take it.
func (s *story) confirmYield(ctx context.Context) error {
	if s.yieldSkipped() {
		return nil
	}
	y := &s.sum.Yield
	for range confirmations {
		if err := s.mine(ctx); err != nil {
			return err
		}
	}
	hub, err := s.lightning(devnet.NodeHub)
	if err != nil {
		return err
	}
	err = poll(ctx, "the channel to be active", 500*time.Millisecond,
		func() error {
			resp, err := hub.ListChannels(ctx,
				&lnrpc.ListChannelsRequest{ActiveOnly: true})
			if err != nil {
				return err
			}
			for _, c := range resp.Channels {
				if c.ChannelPoint == y.ChannelPoint {
					y.ChanID = c.ChanId
					return nil
				}
			}
			return errors.New("not active yet")
		})
	if err != nil {
		return err
	}
	buyer, err := s.lightning(devnet.NodeBuyer)
	if err != nil {
		return err
	}
	err = poll(ctx, "the buyer's graph to have the channel",
		500*time.Millisecond, func() error {
			e, err := buyer.GetChanInfo(ctx,
				&lnrpc.ChanInfoRequest{ChanId: y.ChanID})
			if err != nil {
				return err
			}
			if e.Node1Policy == nil || e.Node2Policy == nil {
				return errors.New("a policy is missing")
			}
			return nil
		})
	if err != nil {
		return err
	}
	fmt.Fprintf(s.out, "    %d blocks mined; channel %d is active and "+
		"announced\n", confirmations, y.ChanID)
	return nil
}

// lightning is a client of the named node's lnd.
func (s *story) lightning(name string) (lnrpc.LightningClient, error) {
	conn, err := s.conn(name)
	if err != nil {
		return nil, err
	}
	return lnrpc.NewLightningClient(conn), nil
}

// routeTraffic sends payments between the buyer and the providers through
// the hub, as `sluice devnet traffic` does.
func (s *story) routeTraffic(ctx context.Context) error {
	if s.yieldSkipped() {
		return nil
	}
	fmt.Fprintf(s.out, "    $ sluice devnet traffic --rate %d/s --for %v "+
		"--amount %d\n", trafficRate, trafficFor, trafficSat)
	rep, err := devnet.Traffic(ctx, s.prof, devnet.TrafficOptions{
		Rate:   devnet.Rate{Count: trafficRate, Per: time.Second},
		For:    trafficFor,
		Amount: trafficSat,
	})
	if err != nil {
		return err
	}
	s.sum.Yield.Traffic = rep
	fmt.Fprintf(s.out, "    %d payments, %d succeeded, %d failed; their "+
		"senders paid the hub %s in fees\n", rep.Sent, rep.Succeeded,
		rep.Failed, sat(ledger.MilliSatoshi(rep.Fees)))
	return nil
}

// reportYield waits until the report has read what lnd holds of the
// channel (the harvest runs every yield.harvest) and shows it. Income is
// the report's entries from the channel's forwards, cost its open's entry:
// a reused sluiced may have others.
func (s *story) reportYield(ctx context.Context) error {
	if s.yieldSkipped() {
		return nil
	}
	y := &s.sum.Yield
	hub, err := s.lightning(devnet.NodeHub)
	if err != nil {
		return err
	}
	txid, _, _ := strings.Cut(y.ChannelPoint, ":")
	incomeKey := fmt.Sprintf("yield-routing:%d:", y.ChanID)
	costKey := "yield-cost:open:" + txid
	err = poll(ctx, "the report to read lnd's records", time.Second,
		func() error {
			if err := s.lndYield(ctx, hub, txid); err != nil {
				return err
			}
			var rep sluicerpc.ReportResponse
			err := s.execCLI(ctx, append(append(s.sluiceArgs(),
				"--json"), "yield", "report", "--explain"),
				func(out []byte) error {
					return sluicerpc.JSONUnmarshalOptions.
						Unmarshal(out, &rep)
				})
			if err != nil {
				return err
			}
			y.Income, y.Cost = 0, 0
			for _, st := range rep.Strategies {
				if st.Name != routing.Name {
					continue
				}
				for _, e := range st.Entries {
					switch {
					case strings.HasPrefix(e.Key, incomeKey):
						y.Income += ledger.MilliSatoshi(
							e.AmountMsat)
					case e.Key == costKey:
						y.Cost -= ledger.MilliSatoshi(
							e.AmountMsat)
					}
				}
			}
			y.Net = y.Income - y.Cost
			if y.Income != y.LndFees || y.Cost != y.OpenFee {
				return fmt.Errorf("report: income %s, cost %s; "+
					"lnd: fees %s, open fee %s", sat(y.Income),
					sat(y.Cost), sat(y.LndFees), sat(y.OpenFee))
			}
			return nil
		})
	if err != nil {
		// The summary shows what the report and lnd said last.
		fmt.Fprintf(s.out, "    %v\n", err)
	}
	return s.showText(ctx, "yield", "report")
}

// lndYield reads the hub's records of the channel: the forwards out of it
// and their fees, and its open's chain fee.
func (s *story) lndYield(ctx context.Context, hub lnrpc.LightningClient,
	txid string) error {

	y := &s.sum.Yield
	var fees int64
	forwards := 0
	for offset := uint32(0); ; {
		resp, err := hub.ForwardingHistory(ctx,
			&lnrpc.ForwardingHistoryRequest{
				StartTime:       1,
				IndexOffset:     offset,
				NumMaxEvents:    50_000,
				OutgoingChanIds: []uint64{y.ChanID},
			})
		if err != nil {
			return fmt.Errorf("hub's forwarding history: %w", err)
		}
		for _, ev := range resp.ForwardingEvents {
			fees += int64(ev.FeeMsat)
		}
		forwards += len(resp.ForwardingEvents)
		if len(resp.ForwardingEvents) == 0 ||
			resp.LastOffsetIndex <= offset {

			break
		}
		offset = resp.LastOffsetIndex
	}
	y.Forwards, y.LndFees = forwards, ledger.MilliSatoshi(fees)

	txs, err := hub.GetTransactions(ctx, &lnrpc.GetTransactionsRequest{})
	if err != nil {
		return fmt.Errorf("hub's transactions: %w", err)
	}
	for _, tx := range txs.Transactions {
		if tx.TxHash == txid {
			y.OpenFee = ledger.MilliSatoshi(tx.TotalFees * 1000)
			return nil
		}
	}
	return fmt.Errorf("the hub's wallet has no transaction %s", txid)
}

// showText runs the sluice binary as a user would, without --json, and
// prints the command and its output.
func (s *story) showText(ctx context.Context, args ...string) error {
	fmt.Fprintf(s.out, "    $ sluice %s\n", strings.Join(args, " "))
	cmd := exec.CommandContext(ctx, s.cfg.Sluice,
		append(s.sluiceArgs(), args...)...)
	out, err := cmd.CombinedOutput()
	for _, l := range strings.Split(strings.TrimRight(string(out), "\n"),
		"\n") {
		fmt.Fprintf(s.out, "      %s\n", l)
	}
	if err != nil {
		return fmt.Errorf("sluice %s: %w", strings.Join(args, " "), err)
	}
	return nil
}
