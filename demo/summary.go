package demo

import (
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/sluice-ln/sluice/ledger"
	"github.com/sluice-ln/sluice/rpc/sluicerpc"
	"github.com/sluice-ln/sluice/shares"
)

// ErrUnbalanced is returned by Summary.Check when the books of the story do
// not add up; the message lists every equation that failed.
var ErrUnbalanced = errors.New("the ledger does not balance")

// ErrNotReconciled is returned by Summary.Check when reconciliation with
// the hub's lnd found differences.
var ErrNotReconciled = errors.New("the ledger differs from the hub's lnd")

// ErrSharesDiffer is returned by Summary.Check when the share asset on
// tapd does not show what the ledger says: tapd's supply is not the
// ledger's, provider1's tapd does not hold what it withdrew, or its
// reward did not verify against the chain.
var ErrSharesDiffer = errors.New("the share asset differs from the ledger")

// ShareSummary is the last act: the vault's shares as a Taproot Asset.
type ShareSummary struct {
	// Asset is the share asset's name in tapd, GroupKey its 33-byte
	// tweaked group key, Genesis the units its genesis minted.
	Asset    string
	GroupKey []byte
	Genesis  ledger.Shares

	// Tranches are the epochs minted as tranches during the story, and
	// TrancheUnits the units they minted.
	Tranches     []uint64
	TrancheUnits ledger.Shares

	// Withdrawn is what provider1 withdrew from the hub's custody to its
	// own tapd; ProviderTapd is what that tapd holds of the group
	// (ListBalances), ProviderTapdBefore what it held before.
	Withdrawn          ledger.Shares
	ProviderTapd       ledger.Shares
	ProviderTapdBefore ledger.Shares

	// Verify is `sluice shares verify`'s report on provider1's reward in
	// the last tranche's epoch, checked with provider1's tapd.
	Verify *shares.Report
}

// Summary is what one story moved, read from the store and the nodes after
// the job ended. Amounts of the provider's and the platform's accounts are
// what changed during the story (sluiced may have a history from earlier
// runs); the job's accounts are the job's own.
type Summary struct {
	// JobID is the story's job; ProviderID the linked provider1.
	JobID      string
	ProviderID string

	// Seconds is how many seconds the agent metered and Sluice accepted.
	Seconds uint64

	// Funded is what the buyer node paid the job's invoices;
	// EscrowCredits what the ledger credited to the job's escrow.
	Funded        ledger.MilliSatoshi
	EscrowCredits ledger.MilliSatoshi

	// Usage is what the job's metered seconds cost (escrow to provider
	// payable and platform fees); PlatformFees the platform fees
	// account's change, and Rewards what the epochs that closed during
	// the story moved from it into the vault (their rewards, which
	// bought the shares they issued).
	Usage        ledger.MilliSatoshi
	PlatformFees ledger.MilliSatoshi
	Rewards      ledger.MilliSatoshi

	// Staked is what provider1's auto-stake moved from the job's
	// earnings into the vault.
	Staked ledger.MilliSatoshi

	// PaidOut, Payable and InFlight are the provider's accounts' change;
	// PayoutFees the routing fees its payouts cost.
	PaidOut    ledger.MilliSatoshi
	Payable    ledger.MilliSatoshi
	InFlight   ledger.MilliSatoshi
	PayoutFees ledger.MilliSatoshi

	// Payouts is how many payouts to the provider succeeded; Received
	// what provider1's node's channel balance rose by.
	Payouts  int
	Received ledger.MilliSatoshi

	// Refunded is what the buyer got back, RefundFees what routing the
	// refund cost, EscrowLeft what the job's escrow still holds.
	Refunded   ledger.MilliSatoshi
	RefundFees ledger.MilliSatoshi
	EscrowLeft ledger.MilliSatoshi

	// LedgerSum is the sum of every msat account's balance, and ShareSum
	// of every share account's: each zero when every transaction
	// balanced.
	LedgerSum ledger.MilliSatoshi
	ShareSum  ledger.Shares

	// Reconcile is `sluice operator reconcile`'s comparison of the whole
	// ledger with the hub's lnd, and of the share supply with the hub's
	// tapd (ShareAsset).
	Reconcile *sluicerpc.ReconcileResponse

	// Shares is the share act: the share asset, the withdrawal to
	// provider1's tapd and the verified reward.
	Shares ShareSummary

	// Yield is the last act: a plan that opened a routing channel from
	// the vault, traffic through it, and the report beside lnd.
	Yield YieldSummary

	// SluicedRunning is whether the story left sluiced running (one it
	// reused, or one it started with Config.KeepSluiced).
	SluicedRunning bool
}

// Check returns nil when the books balance and match lnd, else an error
// wrapping ErrUnbalanced or ErrNotReconciled that lists what failed.
func (s *Summary) Check() error {
	var bad []string
	check := func(ok bool, format string, args ...any) {
		if !ok {
			bad = append(bad, fmt.Sprintf(format, args...))
		}
	}
	check(s.LedgerSum == 0, "sum of all balances is %v, not 0",
		s.LedgerSum)
	check(s.ShareSum == 0, "sum of all share balances is %v, not 0",
		s.ShareSum)
	check(s.EscrowCredits == s.Funded, "escrow credits %v != funding "+
		"paid %v", s.EscrowCredits, s.Funded)
	earned := s.earned()
	check(earned == s.Usage, "paid out %v + payable %v + in flight %v "+
		"+ payout fees %v + platform fees %v + epoch rewards %v + "+
		"staked %v = %v != usage %v", s.PaidOut, s.Payable, s.InFlight,
		s.PayoutFees, s.PlatformFees, s.Rewards, s.Staked, earned,
		s.Usage)
	spent := s.Usage + s.Refunded + s.RefundFees + s.EscrowLeft
	check(spent == s.Funded, "usage %v + refunded %v + refund fees %v "+
		"+ escrow left %v = %v != funded %v", s.Usage, s.Refunded,
		s.RefundFees, s.EscrowLeft, spent, s.Funded)
	check(s.Received == s.PaidOut, "provider1's node received %v, the "+
		"ledger paid out %v", s.Received, s.PaidOut)
	if len(bad) > 0 {
		return fmt.Errorf("%w: %s", ErrUnbalanced, strings.Join(bad,
			"; "))
	}

	switch {
	case s.Reconcile == nil:
		return fmt.Errorf("%w: not reconciled", ErrNotReconciled)
	case !s.Reconcile.Ok || len(s.Reconcile.Differences) > 0:
		diffs := make([]string, 0, len(s.Reconcile.Differences))
		for _, d := range s.Reconcile.Differences {
			diffs = append(diffs, difference(d))
		}
		return fmt.Errorf("%w: %s", ErrNotReconciled,
			strings.Join(diffs, "; "))
	}
	if err := s.Shares.check(s.Reconcile.ShareAsset); err != nil {
		return err
	}
	return s.Yield.check()
}

// check returns nil when tapd's supply is the ledger's (c, reconcile's
// share asset check), provider1's tapd gained what it withdrew and the
// reward verified; else an error wrapping ErrSharesDiffer listing what
// failed.
func (a ShareSummary) check(c *sluicerpc.ShareAssetCheck) error {
	var bad []string
	switch {
	case c == nil || !c.Genesis:
		bad = append(bad, "reconcile compared no share asset")
	case !c.Matches || c.BehindEpochs != 0:
		bad = append(bad, fmt.Sprintf("tapd's supply %d units "+
			"(issued %d, burned %d) != the ledger's %d at "+
			"epoch %d, %d epochs behind", supplyOf(c), c.TapdIssuedUnits,
			c.TapdBurnedUnits, c.LedgerSupplyUnits, c.Epoch,
			c.BehindEpochs))
	}
	if got := a.ProviderTapd - a.ProviderTapdBefore; got != a.Withdrawn {
		bad = append(bad, fmt.Sprintf("provider1's tapd gained %v, "+
			"it withdrew %v", got, a.Withdrawn))
	}
	switch {
	case a.Verify == nil:
		bad = append(bad, "provider1's reward was not verified")
	case !a.Verify.OK():
		bad = append(bad, fmt.Sprintf("provider1's reward in epoch "+
			"%d did not verify: %s", a.Verify.Epoch,
			failedStep(a.Verify)))
	}
	if len(bad) > 0 {
		return fmt.Errorf("%w: %s", ErrSharesDiffer, strings.Join(bad,
			"; "))
	}
	return nil
}

// supplyOf is tapd's supply in a share asset check: issued less burned.
func supplyOf(c *sluicerpc.ShareAssetCheck) int64 {
	return int64(c.TapdIssuedUnits) - int64(c.TapdBurnedUnits)
}

// failedStep names the step where a verification stopped.
func failedStep(r *shares.Report) string {
	if len(r.Steps) == 0 {
		return "no step ran"
	}
	last := r.Steps[len(r.Steps)-1]
	if last.OK {
		return fmt.Sprintf("stopped after step %d", last.Number)
	}
	return fmt.Sprintf("step %d (%s): %s", last.Number, last.Title,
		last.Detail)
}

// earned is where the usage went: to the provider (paid out, payable, in
// flight, the payouts' routing fees), the platform and the vault (epoch
// rewards, the provider's stake).
func (s *Summary) earned() ledger.MilliSatoshi {
	return s.PaidOut + s.Payable + s.InFlight + s.PayoutFees +
		s.PlatformFees + s.Rewards + s.Staked
}

// difference is one line of reconciliation.
func difference(d *sluicerpc.ReconcileDifference) string {
	return fmt.Sprintf("%s %s: sluice has %s, lnd has %s", d.Kind,
		d.Subject, d.Sluice, d.Lnd)
}

// sat shows an amount in sat with its msat remainder.
func sat(m ledger.MilliSatoshi) string {
	if m%1000 == 0 {
		return fmt.Sprintf("%d sat", int64(m)/1000)
	}
	sign := ""
	if m < 0 {
		sign, m = "-", -m
	}
	return fmt.Sprintf("%s%d.%03d sat", sign, int64(m)/1000,
		int64(m)%1000)
}

// mark is a check's verdict.
func mark(ok bool) string {
	if ok {
		return "ok"
	}
	return "MISMATCH"
}

// Print writes the summary as a small table: what moved, and each check
// with its verdict.
func (s *Summary) Print(w io.Writer) {
	fmt.Fprintf(w, "\n== summary: job %s, provider %s ==\n", s.JobID,
		s.ProviderID)
	fmt.Fprintf(w, "  seconds metered      %d\n", s.Seconds)
	fmt.Fprintf(w, "  funded (buyer paid)  %s\n", sat(s.Funded))
	fmt.Fprintf(w, "  usage                %s  (platform fees %s, "+
		"epoch rewards to the vault %s)\n", sat(s.Usage),
		sat(s.PlatformFees), sat(s.Rewards))
	fmt.Fprintf(w, "  staked into vault    %s\n", sat(s.Staked))
	fmt.Fprintf(w, "  payouts              %d, paid out %s, payout "+
		"fees %s\n", s.Payouts, sat(s.PaidOut), sat(s.PayoutFees))
	fmt.Fprintf(w, "  provider1 received   %s\n", sat(s.Received))
	fmt.Fprintf(w, "  still payable        %s, in flight %s\n",
		sat(s.Payable), sat(s.InFlight))
	fmt.Fprintf(w, "  refunded to buyer    %s (refund fees %s), escrow "+
		"left %s\n", sat(s.Refunded), sat(s.RefundFees),
		sat(s.EscrowLeft))

	fmt.Fprintln(w, "checks:")
	fmt.Fprintf(w, "  sum of all balances = %v: %s\n", s.LedgerSum,
		mark(s.LedgerSum == 0))
	fmt.Fprintf(w, "  sum of all share balances = %v: %s\n", s.ShareSum,
		mark(s.ShareSum == 0))
	fmt.Fprintf(w, "  escrow credits %s = funding %s: %s\n",
		sat(s.EscrowCredits), sat(s.Funded),
		mark(s.EscrowCredits == s.Funded))
	earned := s.earned()
	fmt.Fprintf(w, "  paid out + payable + in flight + fees + "+
		"rewards + staked = %s = usage %s: %s\n", sat(earned), sat(s.Usage),
		mark(earned == s.Usage))
	spent := s.Usage + s.Refunded + s.RefundFees + s.EscrowLeft
	fmt.Fprintf(w, "  usage + refund + refund fees + escrow left = %s = "+
		"funding: %s\n", sat(spent), mark(spent == s.Funded))
	fmt.Fprintf(w, "  provider1 received = paid out: %s\n",
		mark(s.Received == s.PaidOut))
	if r := s.Reconcile; r != nil {
		fmt.Fprintf(w, "  reconciled with the hub's lnd: %d invoices, "+
			"%d payouts, %d refunds, %d differences: %s\n",
			r.Invoices, r.Payouts, r.Refunds, len(r.Differences),
			mark(r.Ok && len(r.Differences) == 0))
		for _, d := range r.Differences {
			fmt.Fprintf(w, "    %s\n", difference(d))
		}
	}
	s.Shares.print(w, s.Reconcile.GetShareAsset())
	s.Yield.print(w)
}

// print writes the last act's lines of the summary: what the share asset
// is and holds, then its checks.
func (a ShareSummary) print(w io.Writer, c *sluicerpc.ShareAssetCheck) {
	epochs := make([]string, len(a.Tranches))
	for i, e := range a.Tranches {
		epochs[i] = fmt.Sprint(e)
	}
	fmt.Fprintf(w, "shares on tapd:\n")
	fmt.Fprintf(w, "  share asset          %s, group key %x\n", a.Asset,
		a.GroupKey)
	fmt.Fprintf(w, "  minted               genesis %v; %d tranches "+
		"(epochs %s), %v\n", a.Genesis, len(a.Tranches),
		strings.Join(epochs, ", "), a.TrancheUnits)
	fmt.Fprintf(w, "  provider1 withdrew   %v; its tapd holds %v of "+
		"the group\n", a.Withdrawn, a.ProviderTapd)
	if v := a.Verify; v != nil && v.Meta != nil {
		fmt.Fprintf(w, "  proof                epoch %d, tranche %s, "+
			"usage root %s\n", v.Epoch, v.AssetID, v.Meta.UsageRoot)
	}

	fmt.Fprintln(w, "share checks:")
	if c != nil && c.Genesis {
		fmt.Fprintf(w, "  tapd's supply %d units = the ledger's %d "+
			"(epoch %d): %s\n", supplyOf(c), c.LedgerSupplyUnits,
			c.Epoch, mark(c.Matches && c.BehindEpochs == 0))
	} else {
		fmt.Fprintf(w, "  tapd's supply = the ledger's: %s (not "+
			"compared)\n", mark(false))
	}
	gained := a.ProviderTapd - a.ProviderTapdBefore
	fmt.Fprintf(w, "  provider1's tapd gained %v = withdrawn %v: %s\n",
		gained, a.Withdrawn, mark(gained == a.Withdrawn))
	switch v := a.Verify; {
	case v == nil:
		fmt.Fprintf(w, "  reward proof verified: %s (not run)\n",
			mark(false))
	case v.OK():
		fmt.Fprintf(w, "  reward proof of epoch %d verified with "+
			"provider1's tapd, %d steps: %s\n", v.Epoch,
			len(v.Steps), mark(true))
	default:
		fmt.Fprintf(w, "  reward proof of epoch %d: %s: %s\n",
			v.Epoch, failedStep(v), mark(false))
	}
}
