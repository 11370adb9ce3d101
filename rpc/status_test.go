package rpc

import (
	"context"
	"errors"
	"testing"
	"time"

	"connectrpc.com/connect"
	"github.com/sluice-ln/sluice/payout"
	"github.com/sluice-ln/sluice/reconcile"
	"github.com/sluice-ln/sluice/rpc/sluicerpc"
	"github.com/sluice-ln/sluice/rpc/sluicerpc/sluicerpcconnect"
)

// fakePayouts answers ProviderStatus with a set status, and fails a test
// whose expected call never came.
type fakePayouts struct {
	status payout.ProviderStatus
	err    error

	// asked records the provider ids asked about and allJobs.
	asked []string
	all   []bool
}

var _ PayoutBackend = (*fakePayouts)(nil)

func (f *fakePayouts) ProviderStatus(_ context.Context, id string,
	allJobs bool) (payout.ProviderStatus, error) {

	f.asked = append(f.asked, id)
	f.all = append(f.all, allJobs)
	if f.err != nil {
		return payout.ProviderStatus{}, f.err
	}
	st := f.status
	st.ProviderID = id
	return st, nil
}

// startStatusDaemon serves the provider and operator services over the
// fakes.
func startStatusDaemon(t *testing.T, pays *fakePayouts,
	rec Reconciler) (*testDaemon, sluicerpcconnect.ProviderServiceClient,
	sluicerpcconnect.OperatorServiceClient) {

	t.Helper()
	dir := t.TempDir()
	cfg := testConfig(dir, &fakeInfo{})
	cfg.Providers = &fakeProviders{}
	cfg.Jobs = newFakeJobs()
	cfg.Payouts = pays
	cfg.Reconciler = rec
	d := startServer(t, dir, cfg)
	hc := httpClient(t, d.certPath(), true)
	return d, sluicerpcconnect.NewProviderServiceClient(hc, d.url(),
			connect.WithGRPC()),
		sluicerpcconnect.NewOperatorServiceClient(hc, d.url(),
			connect.WithGRPC())
}

// TestGetProviderStatus checks who may ask about whom and that the
// snapshot comes back whole.
func TestGetProviderStatus(t *testing.T) {
	t.Parallel()
	at := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	pays := &fakePayouts{status: payout.ProviderStatus{
		ProviderView: payout.ProviderView{
			Payable: 10, InFlight: 20, PaidOut: 30,
			Status: payout.Status{State: payout.StatusLimited,
				Reason: "route carries 5 msat"},
		},
		AsOf: at, Payouts: 4, Succeeded: 3, LastPayoutAt: at,
		Jobs: []payout.JobEarnings{{JobID: "j1", State: "running",
			SecondsMetered: 7, Earned: 70, Escrow: 900}},
	}}
	d, client, _ := startStatusDaemon(t, pays, nil)
	op := d.macaroonHex(t, "operator.macaroon")

	tests := []struct {
		name     string
		mac      string
		provider string
		all      bool
		want     connect.Code
	}{
		{"operator on anyone", op, "prov-2", true, 0},
		{"provider on itself", d.providerHex(t, "prov-1"), "prov-1",
			false, 0},
		{"provider on another", d.providerHex(t, "prov-1"), "prov-2",
			false, connect.CodePermissionDenied},
		{"buyer", d.buyerHex(t, "buyer-1"), "prov-1", false,
			connect.CodePermissionDenied},
		{"no macaroon", "", "prov-1", false,
			connect.CodeUnauthenticated},
		{"no provider", op, "", false, connect.CodeInvalidArgument},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			before := len(pays.asked)
			resp, err := client.GetProviderStatus(context.Background(),
				withMac(&sluicerpc.GetProviderStatusRequest{
					ProviderId: tc.provider, AllJobs: tc.all,
				}, tc.mac))
			if tc.want != 0 {
				if connect.CodeOf(err) != tc.want {
					t.Fatalf("error %v, want %v", err, tc.want)
				}
				if len(pays.asked) != before {
					t.Fatal("backend asked on a refused call")
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if len(pays.asked) != before+1 ||
				pays.all[before] != tc.all {

				t.Fatalf("backend asked %v %v", pays.asked,
					pays.all)
			}
			m := resp.Msg
			if m.ProviderId != tc.provider || m.PayableMsat != 10 ||
				m.InFlightMsat != 20 || m.PaidOutMsat != 30 ||
				m.Payouts != 4 || m.PayoutsSucceeded != 3 ||
				!m.LastPayoutAt.AsTime().Equal(at) ||
				m.PayoutStatus != "limited" ||
				m.PayoutStatusReason == "" {

				t.Fatalf("status %v", m)
			}
			if len(m.Jobs) != 1 || m.Jobs[0].SecondsMetered != 7 ||
				m.Jobs[0].EarnedMsat != 70 ||
				m.Jobs[0].EscrowMsat != 900 {

				t.Fatalf("jobs %v", m.Jobs)
			}
		})
	}

	pays.err = payout.ErrProviderNotFound
	_, err := client.GetProviderStatus(context.Background(),
		withMac(&sluicerpc.GetProviderStatusRequest{ProviderId: "x"},
			op))
	if connect.CodeOf(err) != connect.CodeNotFound {
		t.Fatalf("unknown provider: %v, want not found", err)
	}
}

// TestReconcile checks that only the operator reconciles, that the
// report comes back whole, and that a failed comparison is an error.
func TestReconcile(t *testing.T) {
	t.Parallel()
	report := &reconcile.Report{
		At: time.Now(), Invoices: 2, Payouts: 5, Refunds: 1,
		Ledger: reconcile.Totals{Funded: 100, PaidOut: 60,
			Refunded: 30, RoutingFees: 2, Held: 8},
		Lnd: reconcile.Totals{Funded: 100, PaidOut: 61,
			Refunded: 30, RoutingFees: 2, Held: 7},
		Vault: 5,
		Differences: []reconcile.Difference{{
			Kind: reconcile.KindTotal, Subject: "paid_out",
			Sluice: "60 msat", Lnd: "61 msat",
		}},
	}
	var failure error
	calls := 0
	rec := ReconcilerFunc(func(context.Context) (*reconcile.Report,
		error) {

		calls++
		return report, failure
	})
	d, _, op := startStatusDaemon(t, &fakePayouts{}, rec)
	opMac := d.macaroonHex(t, "operator.macaroon")

	for _, mac := range []string{d.providerHex(t, "prov-1"),
		d.buyerHex(t, "buyer-1")} {

		_, err := op.Reconcile(context.Background(),
			withMac(&sluicerpc.ReconcileRequest{}, mac))
		if connect.CodeOf(err) != connect.CodePermissionDenied {
			t.Fatalf("non-operator: %v, want permission denied", err)
		}
	}
	if calls != 0 {
		t.Fatal("reconciled for a non-operator")
	}

	resp, err := op.Reconcile(context.Background(),
		withMac(&sluicerpc.ReconcileRequest{}, opMac))
	if err != nil {
		t.Fatal(err)
	}
	m := resp.Msg
	if m.Ok || len(m.Differences) != 1 ||
		m.Differences[0].Subject != "paid_out" ||
		m.Differences[0].Kind != "total" || m.Invoices != 2 ||
		m.Payouts != 5 || m.Refunds != 1 ||
		m.Ledger.PaidOutMsat != 60 || m.Lnd.PaidOutMsat != 61 ||
		m.Ledger.HeldMsat != 8 || m.Lnd.HeldMsat != 7 ||
		m.VaultMsat != 5 {

		t.Fatalf("report %v", m)
	}

	report.Differences = nil
	resp, err = op.Reconcile(context.Background(),
		withMac(&sluicerpc.ReconcileRequest{}, opMac))
	if err != nil || !resp.Msg.Ok {
		t.Fatalf("clean report: %v, %v", resp, err)
	}

	failure = errors.New("lnd away")
	_, err = op.Reconcile(context.Background(),
		withMac(&sluicerpc.ReconcileRequest{}, opMac))
	if connect.CodeOf(err) != connect.CodeUnavailable {
		t.Fatalf("failed comparison: %v, want unavailable", err)
	}
}
