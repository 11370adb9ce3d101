package payout

import (
	"fmt"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/cockroachdb/datadriven"
	"github.com/sluice-ln/sluice/ledger"
)

// planBase is "now" in the scenario files; times there are offsets from it
// (+1s, -500ms).
var planBase = time.Date(2026, 6, 1, 12, 0, 0, 0, time.UTC)

// TestPlanScenarios runs the scenario files in testdata/plan: each sets up a
// snapshot and checks what plan starts. Commands:
//
//	reset                              an empty snapshot, default policy
//	defaults [interval=] [minimum=] [feepayer=] [maxinflight=]
//	provider ID payable=MSAT [node=KEY] [retry=OFFSET] [interval=]
//	         [minimum=] [feepayer=] [feeppm=]
//	pending ID provider=P              a payout left pending
//	busy P...                          payouts in progress in the process
//	done P...                          those payouts ended
//	due P OFFSET                       the provider's interval ends then
//	plan [now=OFFSET] [apply]          plan; apply marks the starts busy
//	                                   and records their next due time
func TestPlanScenarios(t *testing.T) {
	datadriven.Walk(t, "testdata/plan", func(t *testing.T, path string) {
		snap := newPlanSnapshot()
		datadriven.RunTest(t, path, func(t *testing.T,
			d *datadriven.TestData) string {

			out, err := runPlanCmd(t, &snap, d)
			if err != nil {
				d.Fatalf(t, "%v", err)
			}
			return out
		})
	})
}

func newPlanSnapshot() snapshot {
	return snapshot{
		defaults:    DefaultPolicy(),
		maxInFlight: DefaultMaxInFlight,
		busy:        map[string]bool{},
		nextDue:     map[string]time.Time{},
	}
}

// offset parses "+1s" or "-200ms" as a time relative to planBase.
func offset(s string) (time.Time, error) {
	d, err := time.ParseDuration(strings.TrimPrefix(s, "+"))
	if err != nil {
		return time.Time{}, fmt.Errorf("offset %q: %w", s, err)
	}
	return planBase.Add(d), nil
}

// fmtOffset prints t relative to planBase.
func fmtOffset(t time.Time) string {
	if t.IsZero() {
		return "none"
	}
	d := t.Sub(planBase)
	if d >= 0 {
		return "+" + d.String()
	}
	return d.String()
}

// planNode is a valid node key for the scenario's i-th provider.
func planNode(i int) string {
	return fmt.Sprintf("02%064x", i+1)
}

// overrideArgs reads the policy fields of a command into o; it reports
// whether any was set.
func overrideArgs(d *datadriven.TestData, o *Override) (bool, error) {
	set := false
	for _, a := range d.CmdArgs {
		if len(a.Vals) != 1 {
			continue
		}
		v := a.Vals[0]
		switch a.Key {
		case "interval":
			iv, err := time.ParseDuration(v)
			if err != nil {
				return false, err
			}
			o.Interval, set = &iv, true
		case "minimum":
			n, err := strconv.ParseInt(v, 10, 64)
			if err != nil {
				return false, err
			}
			m := ledger.MilliSatoshi(n)
			o.Minimum, set = &m, true
		case "feeppm":
			n, err := strconv.ParseInt(v, 10, 64)
			if err != nil {
				return false, err
			}
			o.FeePPM, set = &n, true
		case "feepayer":
			p := FeePayer(v)
			o.FeePayer, set = &p, true
		}
	}
	return set, nil
}

func runPlanCmd(t *testing.T, snap *snapshot, d *datadriven.TestData) (string, error) {
	switch d.Cmd {
	case "reset":
		*snap = newPlanSnapshot()
		return "ok", nil

	case "defaults":
		var o Override
		if _, err := overrideArgs(d, &o); err != nil {
			return "", err
		}
		snap.defaults = snap.defaults.Apply(o)
		if d.HasArg("maxinflight") {
			d.ScanArgs(t, "maxinflight", &snap.maxInFlight)
		}
		return "ok", nil

	case "provider":
		if len(d.CmdArgs) == 0 {
			return "", fmt.Errorf("provider needs an id")
		}
		ps := providerState{id: d.CmdArgs[0].Key,
			node: planNode(len(snap.providers))}
		var payable int64
		d.ScanArgs(t, "payable", &payable)
		ps.payable = ledger.MilliSatoshi(payable)
		if d.HasArg("node") {
			d.ScanArgs(t, "node", &ps.node)
		}
		if d.HasArg("retry") {
			var r string
			d.ScanArgs(t, "retry", &r)
			at, err := offset(r)
			if err != nil {
				return "", err
			}
			ps.retryAt = at
		}
		var o Override
		set, err := overrideArgs(d, &o)
		if err != nil {
			return "", err
		}
		if set {
			ps.override = &o
		}
		snap.providers = append(snap.providers, ps)
		slices.SortFunc(snap.providers, func(a, b providerState) int {
			return strings.Compare(a.id, b.id)
		})
		return "ok", nil

	case "pending":
		var provider string
		d.ScanArgs(t, "provider", &provider)
		snap.pending = append(snap.pending, pendingPayout{
			id: d.CmdArgs[0].Key, providerID: provider,
		})
		return "ok", nil

	case "busy", "done":
		for _, a := range d.CmdArgs {
			if d.Cmd == "busy" {
				snap.busy[a.Key] = true
			} else {
				delete(snap.busy, a.Key)
			}
		}
		return "ok", nil

	case "due":
		if len(d.CmdArgs) != 2 {
			return "", fmt.Errorf("due PROVIDER OFFSET")
		}
		at, err := offset(d.CmdArgs[1].Key)
		if err != nil {
			return "", err
		}
		snap.nextDue[d.CmdArgs[0].Key] = at
		return "ok", nil

	case "plan":
		now := planBase
		if d.HasArg("now") {
			var s string
			d.ScanArgs(t, "now", &s)
			var err error
			if now, err = offset(s); err != nil {
				return "", err
			}
		}
		dec := plan(*snap, now)
		if d.HasArg("apply") {
			for _, st := range dec.starts {
				snap.busy[st.providerID] = true
				if st.resume == "" {
					snap.nextDue[st.providerID] = st.nextDue
				}
			}
		}
		return fmtDecision(dec), nil
	}
	return "", fmt.Errorf("unknown command %q", d.Cmd)
}

// fmtDecision prints a decision one line a start.
func fmtDecision(d decision) string {
	var b strings.Builder
	for _, st := range d.starts {
		if st.resume != "" {
			fmt.Fprintf(&b, "resume %s of %s\n", st.resume,
				st.providerID)
			continue
		}
		fmt.Fprintf(&b, "pay %s %d msat: interval %v, minimum %d, "+
			"fees by %s, due again %s\n", st.providerID,
			int64(st.candidate.Payable), st.policy.Interval,
			int64(st.policy.Minimum), st.policy.FeePayer,
			fmtOffset(st.nextDue))
	}
	for _, p := range d.waiting {
		fmt.Fprintf(&b, "wait %s for a slot\n", p)
	}
	for _, sk := range d.skipped {
		fmt.Fprintf(&b, "skip %s: %v\n", sk.providerID, sk.err)
	}
	fmt.Fprintf(&b, "next %s", fmtOffset(d.next))
	return b.String()
}
