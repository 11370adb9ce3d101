//go:build itest

package itest

import (
	"fmt"
	"path/filepath"
	"strings"
	"testing"

	"github.com/sluice-ln/sluice/ledger"
	"github.com/sluice-ln/sluice/rpc/sluicerpc"
	"github.com/sluice-ln/sluice/store"
)

// reconcileCLI runs `sluice operator reconcile --json` against a running
// sluiced and returns its report, failing the test when the exit status
// does not follow the report (0 exactly when there is no difference).
func (s *sluiced) reconcileCLI(t testing.TB) *sluicerpc.ReconcileResponse {
	t.Helper()
	out, err := s.cli("operator", "reconcile", "--json")
	var r sluicerpc.ReconcileResponse
	if uerr := sluicerpc.JSONUnmarshalOptions.Unmarshal([]byte(out),
		&r); uerr != nil {

		t.Fatalf("sluice operator reconcile: %v, %v\n%s", err, uerr,
			out)
	}
	if (err == nil) != r.Ok {
		t.Fatalf("sluice operator reconcile: exit %v with ok %v",
			err, r.Ok)
	}
	return &r
}

// wantReconciled runs `sluice operator reconcile` and wants no
// difference: the ledger equals what the hub's lnd did.
func (s *sluiced) wantReconciled(t testing.TB) {
	t.Helper()
	r := s.reconcileCLI(t)
	for _, d := range r.Differences {
		t.Errorf("sluice operator reconcile: %s %s: sluice has %s, "+
			"lnd has %s", d.Kind, d.Subject, d.Sluice, d.Lnd)
	}
	if !r.Ok {
		t.FailNow()
	}
	t.Logf("sluice operator reconcile: %d invoices (%d msat), %d "+
		"payouts (%d msat, fees %d msat), %d refunds (%d msat): no "+
		"difference", r.Invoices, r.Lnd.GetFundedMsat(), r.Payouts,
		r.Lnd.GetPaidOutMsat(), r.Lnd.GetRoutingFeesMsat(), r.Refunds,
		r.Lnd.GetRefundedMsat())
	if a := r.ShareAsset; a.GetGenesis() {
		t.Logf("sluice operator reconcile: share asset supply %d = "+
			"ledger %d; hub's tapd holds %d, custody %d (compared "+
			"%v, in flight %q)", a.TapdIssuedUnits-a.TapdBurnedUnits,
			a.LedgerSupplyUnits, a.TapdHeldUnits, a.HeldWantUnits,
			a.HeldCompared, a.InFlight)
	}
}

// providerStatusCLI runs `sluice provider status --json` for a provider
// with the operator macaroon.
func (s *sluiced) providerStatusCLI(t testing.TB,
	providerID string) *sluicerpc.GetProviderStatusResponse {

	t.Helper()
	out, err := s.cli("provider", "status", "--json", "--all", providerID)
	if err != nil {
		t.Fatalf("sluice provider status: %v", err)
	}
	var st sluicerpc.GetProviderStatusResponse
	if err := sluicerpc.JSONUnmarshalOptions.Unmarshal([]byte(out),
		&st); err != nil {

		t.Fatalf("sluice provider status: %v\n%s", err, out)
	}
	return &st
}

// statusMatchesLedger wants a provider's status to show its ledger
// balances, given by balance.
func statusMatchesLedger(st *sluicerpc.GetProviderStatusResponse,
	balance func(ledger.Account) ledger.MilliSatoshi) error {

	var diffs []string
	for _, c := range []struct {
		name    string
		shown   int64
		account ledger.Account
	}{
		{"payable", st.PayableMsat,
			ledger.ProviderPayable(st.ProviderId)},
		{"in flight", st.InFlightMsat,
			ledger.PayoutInFlight(st.ProviderId)},
		{"paid out", st.PaidOutMsat, ledger.PaidOut(st.ProviderId)},
	} {
		if want := balance(c.account); c.shown != int64(want) {
			diffs = append(diffs, fmt.Sprintf("%s shows %d msat, "+
				"the ledger has %v", c.name, c.shown, want))
		}
	}
	if len(diffs) > 0 {
		return fmt.Errorf("provider %s: %s", st.ProviderId,
			strings.Join(diffs, "; "))
	}
	return nil
}

// checkLiveView wants `sluice job show --json` and `sluice provider
// status --json` to show what the meter m says of the job, and the
// provider's status, once payouts settle down, to show the ledger's
// balances read at the same moment.
func (f *meteredJob) checkLiveView(t *testing.T,
	m *sluicerpc.GetMeterResponse) {

	t.Helper()
	s := f.s
	out, err := s.cli("job", "show", "--json", f.job.JobId)
	if err != nil {
		t.Fatalf("sluice job show: %v", err)
	}
	var resp sluicerpc.GetJobResponse
	if err := sluicerpc.JSONUnmarshalOptions.Unmarshal([]byte(out),
		&resp); err != nil {

		t.Fatalf("sluice job show: %v\n%s", err, out)
	}
	j := resp.Job
	if j.SecondsMetered != int64(m.LastSeq) ||
		j.SpentMsat != m.ChargedMsat || j.FeesMsat != m.FeesMsat ||
		j.EarnedMsat != m.ChargedMsat-m.FeesMsat ||
		j.EscrowMsat != m.EscrowMsat {

		t.Fatalf("job show: %d s, spent %d, fees %d, earned %d, escrow "+
			"%d; the meter says %+v", j.SecondsMetered, j.SpentMsat,
			j.FeesMsat, j.EarnedMsat, j.EscrowMsat, m)
	}

	st := s.providerStatusCLI(t, f.providerID)
	found := false
	for _, pj := range st.Jobs {
		if pj.JobId != f.job.JobId {
			continue
		}
		found = true
		if pj.SecondsMetered != int64(m.LastSeq) ||
			pj.EarnedMsat != m.ChargedMsat-m.FeesMsat {

			t.Fatalf("provider status: job %+v; the meter says %+v",
				pj, m)
		}
	}
	if !found {
		t.Fatalf("provider status lacks job %s: %+v", f.job.JobId,
			st.Jobs)
	}

	db, err := store.Open(f.ctx, store.Config{Backend: store.SQLite,
		SQLitePath: filepath.Join(s.dir, s.net.profile.Network,
			"sluice.db")})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	balance := func(a ledger.Account) ledger.MilliSatoshi {
		b, err := ledger.New(store.NewLedgerStore(db), nil).Balance(
			f.ctx, a)
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	eventually(t, waitTimeout, "provider status to show the ledger",
		func() error {
			st := s.providerStatusCLI(t, f.providerID)
			if err := statusMatchesLedger(st, balance); err != nil {
				return err
			}
			if st.PayoutStatus != "ok" {
				return fmt.Errorf("payout status %s: %s",
					st.PayoutStatus, st.PayoutStatusReason)
			}
			return nil
		})
	t.Logf("live view: %d s metered, %d msat earned; provider paid %d "+
		"msat in %d payouts", j.SecondsMetered, j.EarnedMsat,
		st.PaidOutMsat, st.PayoutsSucceeded)
}
