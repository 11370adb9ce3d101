package payout_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/sluice-ln/sluice/ledger"
	"github.com/sluice-ln/sluice/payout"
	"github.com/sluice-ln/sluice/payout/payouttest"
)

// TestManagePolicy sets, reads and clears a provider's override, and
// refuses an override that makes a bad policy or names no provider.
func TestManagePolicy(t *testing.T) {
	e := newEnv(t, "")
	s := e.newScheduler(nil, 0)
	ctx := context.Background()

	minimum := ledger.MilliSatoshi(10_000)
	payer := payout.FeePayerPlatform
	pol, err := s.SetPolicy(ctx, "pa", payout.Override{Minimum: &minimum,
		FeePayer: &payer})
	if err != nil {
		t.Fatal(err)
	}
	want := payout.TestPolicy()
	want.Minimum, want.FeePayer = minimum, payer
	if pol != want {
		t.Fatalf("policy %+v, want %+v", pol, want)
	}
	v, err := s.Provider(ctx, "pa", 0)
	if err != nil {
		t.Fatal(err)
	}
	if v.Policy != want || v.Override.Minimum == nil ||
		*v.Override.Minimum != minimum || v.Override.Interval != nil {

		t.Fatalf("view %+v", v)
	}

	zero := time.Duration(0)
	if _, err := s.SetPolicy(ctx, "pa", payout.Override{Interval: &zero}); !errors.Is(
		err, payout.ErrInvalidPolicy) {

		t.Fatalf("zero interval: %v, want ErrInvalidPolicy", err)
	}
	if _, err := s.SetPolicy(ctx, "nobody", payout.Override{}); !errors.Is(err,
		payout.ErrProviderNotFound) {

		t.Fatalf("unknown provider: %v, want ErrProviderNotFound", err)
	}
	if _, err := s.Provider(ctx, "nobody", 0); !errors.Is(err,
		payout.ErrProviderNotFound) {

		t.Fatalf("unknown provider view: %v, want ErrProviderNotFound",
			err)
	}

	if err := s.ClearPolicy(ctx, "pa"); err != nil {
		t.Fatal(err)
	}
	v, err = s.Provider(ctx, "pa", 0)
	if err != nil || v.Policy != payout.TestPolicy() {
		t.Fatalf("after clearing: %+v, %v", v.Policy, err)
	}
}

// TestManageProviderView shows balances, status and recent payouts.
func TestManageProviderView(t *testing.T) {
	e := newEnv(t, "")
	s := e.newScheduler(nil, 0)
	ctx := context.Background()

	v, err := s.Provider(ctx, "pa", 5)
	if err != nil {
		t.Fatal(err)
	}
	if v.Status.State != payout.StatusOK || v.Payable != 0 || len(v.Recent) != 0 {
		t.Fatalf("fresh provider %+v", v)
	}

	e.earn("pa", "j1", 100_000)
	e.lnd.Script(payouttest.Fail)
	roundAndWait(s)
	e.clock.Advance(time.Second)
	roundAndWait(s)

	v, err = s.Provider(ctx, "pa", 5)
	if err != nil {
		t.Fatal(err)
	}
	if len(v.Recent) != 2 || v.Recent[0].State != payout.StateSucceeded ||
		v.Recent[1].State != payout.StateFailed {

		t.Fatalf("recent %+v, want the success then the failure",
			v.Recent)
	}
	if v.PaidOut != v.Recent[0].Amount || v.InFlight != 0 ||
		v.Payable != 100_000-v.PaidOut {

		t.Fatalf("balances %v payable, %v in flight, %v paid",
			v.Payable, v.InFlight, v.PaidOut)
	}
	if v.Status.State != payout.StatusOK || v.Status.Failures != 0 {
		t.Fatalf("status %+v after the success", v.Status)
	}
	if one, _ := s.Provider(ctx, "pa", 1); len(one.Recent) != 1 {
		t.Fatalf("%d recent with a limit of 1", len(one.Recent))
	}
}
