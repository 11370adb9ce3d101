//go:build itest

package itest

import (
	"context"
	"fmt"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/sluice-ln/sluice/demo"
)

// demoWork is the agent's work in the shortened story.
const demoWork = 10 * time.Second

// TestDemoStory plays the main story (`make run`) in short on a fresh
// network: sluiced started by the story, provider1 linked by its lnd's
// signature, a buyer minted, the job funded by the buyer node, ten seconds
// of a CPU-bound command metered, payouts to provider1's node, the job
// ended and the buyer refunded. The summary's books must balance and
// reconcile with the hub's lnd. The last act: the share asset's genesis at
// the first rewarded epoch (3s epochs for 10s of work), at least one
// tranche after it, provider1's shares withdrawn to its tapd, which holds
// exactly them, its reward verified, and tapd's supply the ledger's. The
// yield act: provider1 staked 90 % of its earnings; a plan opens a routing
// channel of demo.StoryChanSat from that capital, payments forward through
// it, and the report's income and cost equal the hub's lnd's records.
func TestDemoStory(t *testing.T) {
	net := newNetwork(t)
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Minute)
	defer cancel()

	steps := &stepTimer{w: testWriter{t}}
	sum, err := demo.Run(ctx, demo.Config{
		Profile: net.profile,
		Sluice:  binaries.sluice,
		Sluiced: binaries.sluiced,
		Work:    demoWork,
		Out:     steps,
	})
	steps.log(t)
	if sum != nil {
		sum.Print(testWriter{t})
	}
	if err != nil {
		t.Fatalf("demo: %v", err)
	}
	if err := sum.Check(); err != nil {
		t.Fatalf("summary: %v", err)
	}

	switch {
	case sum.Seconds < 5:
		t.Errorf("%d seconds metered of %v of work", sum.Seconds,
			demoWork)
	case sum.Funded != demo.Budget(demoWork):
		t.Errorf("funded %v, the budget is %v", sum.Funded,
			demo.Budget(demoWork))
	case sum.Usage <= 0:
		t.Errorf("usage %v", sum.Usage)
	case sum.Payouts == 0 || sum.Received <= 0:
		t.Errorf("provider1 got %d payouts, %v", sum.Payouts,
			sum.Received)
	case sum.Refunded <= 0 || sum.EscrowLeft != 0:
		t.Errorf("refunded %v, %v left in escrow", sum.Refunded,
			sum.EscrowLeft)
	case sum.PlatformFees <= 0:
		t.Errorf("platform fees %v at %d bps", sum.PlatformFees,
			demo.DefaultPlatformFee)
	case sum.Reconcile == nil || sum.Reconcile.Invoices == 0 ||
		sum.Reconcile.Payouts == 0 || sum.Reconcile.Refunds == 0:

		t.Errorf("reconcile saw too little: %+v", sum.Reconcile)
	case sum.SluicedRunning:
		t.Error("the story left the sluiced it started running")
	}

	// The last act: Check saw tapd's supply equal the ledger's,
	// provider1's tapd gain what it withdrew, and the reward verify;
	// here the figures themselves.
	sh, check := sum.Shares, sum.Reconcile.GetShareAsset()
	switch {
	case len(sh.GroupKey) != 33 || sh.Genesis <= 0:
		t.Errorf("share asset %q, group key %x, genesis %v", sh.Asset,
			sh.GroupKey, sh.Genesis)
	case len(sh.Tranches) == 0 || sh.TrancheUnits <= 0:
		t.Errorf("no tranche after the genesis: %v, %v", sh.Tranches,
			sh.TrancheUnits)
	case sh.Withdrawn <= 0 || sh.ProviderTapdBefore != 0 ||
		sh.ProviderTapd != sh.Withdrawn:

		t.Errorf("provider1 withdrew %v, its tapd holds %v (%v "+
			"before)", sh.Withdrawn, sh.ProviderTapd,
			sh.ProviderTapdBefore)
	case sh.Verify == nil || !sh.Verify.OK() || sh.Verify.Meta == nil ||
		sh.Verify.Epoch != sh.Tranches[len(sh.Tranches)-1] ||
		sh.Verify.ProviderID != sum.ProviderID:

		t.Errorf("verify: %+v", sh.Verify)
	case check == nil || !check.Matches || check.LedgerSupplyUnits !=
		int64(sh.Genesis+sh.TrancheUnits) ||
		check.TapdHeldUnits != uint64(sh.Genesis+sh.TrancheUnits-
			sh.Withdrawn):

		t.Errorf("reconcile's share check %+v, minted %v + %v, "+
			"withdrawn %v", check, sh.Genesis, sh.TrancheUnits,
			sh.Withdrawn)
	}

	// The yield act: Check saw the report equal lnd's records; here
	// that there was something to compare.
	y := sum.Yield
	switch {
	case sum.Staked <= 0:
		t.Errorf("provider1 staked %v", sum.Staked)
	case y.Skipped != "":
		t.Errorf("the yield act opened nothing: %s", y.Skipped)
	case y.Capital != demo.StoryChanSat*1000 || y.ChanID == 0:
		t.Errorf("the plan opened %d with %v", y.ChanID, y.Capital)
	case y.Forwards == 0 || y.Income <= 0:
		t.Errorf("%d forwards out of the routing channel, income %v "+
			"(traffic %+v)", y.Forwards, y.Income, y.Traffic)
	case y.OpenFee <= 0 || y.Net != y.Income-y.OpenFee:
		t.Errorf("open fee %v, net %v", y.OpenFee, y.Net)
	}
}

// stepTimer passes the story's output on and notes when each step
// ("==> name") began, so that the test log shows what each step took.
type stepTimer struct {
	w     io.Writer
	names []string
	began []time.Time
}

func (s *stepTimer) Write(p []byte) (int, error) {
	if name, ok := strings.CutPrefix(string(p), "==> "); ok {
		s.names = append(s.names, strings.TrimSpace(name))
		s.began = append(s.began, time.Now())
	}
	return s.w.Write(p)
}

// log logs each step's duration, the last one's up to now.
func (s *stepTimer) log(t *testing.T) {
	t.Helper()
	var b strings.Builder
	for i, name := range s.names {
		end := time.Now()
		if i+1 < len(s.began) {
			end = s.began[i+1]
		}
		fmt.Fprintf(&b, "\n  %6.1fs  %s", end.Sub(s.began[i]).Seconds(),
			name)
	}
	if len(s.began) > 0 {
		fmt.Fprintf(&b, "\n  %6.1fs  in all",
			time.Since(s.began[0]).Seconds())
	}
	t.Logf("the story's steps took:%s", b.String())
}
