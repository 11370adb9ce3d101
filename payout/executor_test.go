package payout_test

import (
	"context"
	"errors"
	"slices"
	"testing"
	"time"

	"github.com/btcsuite/btcd/btcutil"
	"github.com/lightningnetwork/lnd/lnwire"
	"github.com/sluice-ln/sluice/ledger"
	"github.com/sluice-ln/sluice/lightning"
	"github.com/sluice-ln/sluice/payout"
	"github.com/sluice-ln/sluice/payout/payouttest"
	"github.com/sluice-ln/sluice/store"
)

// TestPaySucceeds pays a provider's payable for each fee payer and checks
// the keysend lnd got and the ledger after it.
func TestPaySucceeds(t *testing.T) {
	tests := []struct {
		name     string
		payer    payout.FeePayer
		platform ledger.MilliSatoshi
		fee      lnwire.MilliSatoshi
		amount   ledger.MilliSatoshi
		budget   ledger.MilliSatoshi
		want     balances
	}{{
		name:   "provider pays, direct channel",
		payer:  payout.FeePayerProvider,
		amount: 990_000, budget: 9_900,
		want: balances{Payable: 10_000, PaidOut: 990_000},
	}, {
		name:   "provider pays a fee",
		payer:  payout.FeePayerProvider,
		fee:    1_234,
		amount: 990_000, budget: 9_900,
		want: balances{Payable: 10_000 - 1_234, PaidOut: 990_000,
			Routing: 1_234},
	}, {
		name:     "platform pays a fee",
		payer:    payout.FeePayerPlatform,
		platform: 50_000,
		fee:      1_234,
		amount:   1_000_000, budget: 10_000,
		want: balances{PaidOut: 1_000_000, Routing: 1_234,
			Platform: 50_000 - 1_234},
	}, {
		name:     "platform short of fees",
		payer:    payout.FeePayerPlatform,
		platform: 700,
		fee:      5_000,
		amount:   1_000_000, budget: 700,
		want: balances{PaidOut: 1_000_000, Routing: 700},
	}}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t, "")
			e.earn("pa", "j1", 1_000_000)
			if tc.platform > 0 {
				e.fees(tc.platform)
			}
			e.lnd.SetFee(tc.fee)
			pol := payout.TestPolicy()
			pol.FeePayer = tc.payer

			p, err := e.exec.Pay(context.Background(),
				e.candidate("pa"), pol)
			if err != nil {
				t.Fatal(err)
			}
			if p.State != payout.StateSucceeded || p.Amount != tc.amount ||
				p.FeeBudget != tc.budget {

				t.Fatalf("payout %+v, want succeeded %v with "+
					"budget %v", p, tc.amount, tc.budget)
			}

			pays := e.lnd.Payments()
			if len(pays) != 1 {
				t.Fatalf("lnd has %d payments, want 1",
					len(pays))
			}
			k := pays[0].Keysend
			switch {
			case k.Dest != nodeA:
				t.Errorf("paid %v, want provider pa's node",
					k.Dest)
			case ledger.MilliSatoshi(k.Amount) != tc.amount:
				t.Errorf("lnd paid %v, want %v", k.Amount,
					tc.amount)
			case ledger.MilliSatoshi(k.FeeLimit) != tc.budget:
				t.Errorf("fee limit %v, want %v", k.FeeLimit,
					tc.budget)
			case string(k.Records[lightning.PayoutIDRecord]) != p.ID:
				t.Errorf("payout id record %q, want %q",
					k.Records[lightning.PayoutIDRecord], p.ID)
			case k.Preimage.Hash() != p.Hash:
				t.Errorf("preimage does not match hash")
			case k.Timeout != payout.DefaultPaymentTimeout:
				t.Errorf("timeout %v", k.Timeout)
			}

			if got := e.balances("pa"); got != tc.want {
				t.Fatalf("balances %+v, want %+v", got, tc.want)
			}
			stored := e.payouts()
			if len(stored) != 1 || stored[0].State !=
				store.PayoutSucceeded || stored[0].Fee !=
				ledger.MilliSatoshi(min(tc.fee,
					lnwire.MilliSatoshi(tc.budget))) {

				t.Fatalf("stored %+v", stored)
			}
		})
	}
}

// TestPayFails: a payment lnd fails, or refuses before recording it,
// returns the money to payable, and the provider's status backs off more
// with each failure in a row until a success clears it.
func TestPayFails(t *testing.T) {
	for _, step := range []payouttest.Step{payouttest.Fail,
		payouttest.Refuse} {

		t.Run(step.String(), func(t *testing.T) {
			e := newEnv(t, "")
			e.earn("pa", "j1", 100_000)
			e.lnd.Script(step, step)
			ctx := context.Background()

			for i, wait := range []time.Duration{time.Second,
				2 * time.Second} {

				p, err := e.exec.Pay(ctx, e.candidate("pa"),
					payout.TestPolicy())
				if err != nil {
					t.Fatal(err)
				}
				if p.State != payout.StateFailed || p.Failure == "" {
					t.Fatalf("payout %+v, want failed "+
						"with a reason", p)
				}
				want := balances{Payable: 100_000}
				if got := e.balances("pa"); got != want {
					t.Fatalf("balances %+v, want %+v",
						got, want)
				}
				st := e.status("pa")
				if st.State != string(payout.StatusRetrying) ||
					st.Failures != int64(i+1) ||
					!st.RetryAt.Equal(e.clock.Now().Add(
						wait)) {

					t.Fatalf("status after %d failures: "+
						"%+v", i+1, st)
				}
			}

			p, err := e.exec.Pay(ctx, e.candidate("pa"),
				payout.TestPolicy())
			if err != nil || p.State != payout.StateSucceeded {
				t.Fatalf("third payout %+v: %v", p, err)
			}
			st := e.status("pa")
			if st.State != string(payout.StatusOK) || st.Failures != 0 ||
				!st.RetryAt.IsZero() {

				t.Fatalf("status after a success: %+v", st)
			}
		})
	}
}

// TestPayUnknownOutcome: when the stream breaks, the payout is tracked and
// never sent again under a hash lnd has; when lnd never got it, it is sent
// again with the same hash.
func TestPayUnknownOutcome(t *testing.T) {
	tests := []struct {
		name        string
		steps       []payouttest.Step
		trackBreaks int
		state       payout.State
		sends       int
		tracks      int
	}{
		{"hang then succeed", []payouttest.Step{
			payouttest.HangSucceed}, 0, payout.StateSucceeded, 1, 1},
		{"hang then fail", []payouttest.Step{payouttest.HangFail}, 0,
			payout.StateFailed, 1, 1},
		{"tracking breaks too", []payouttest.Step{
			payouttest.HangSucceed}, 3, payout.StateSucceeded, 1, 4},
		{"dropped before lnd: sent again", []payouttest.Step{
			payouttest.Drop}, 0, payout.StateSucceeded, 2, 1},
		{"dropped twice", []payouttest.Step{payouttest.Drop,
			payouttest.Drop, payouttest.HangSucceed}, 0,
			payout.StateSucceeded, 3, 3},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t, "")
			e.earn("pa", "j1", 100_000)
			e.lnd.Script(tc.steps...)
			e.lnd.BreakTracks(tc.trackBreaks)

			p, err := e.exec.Pay(context.Background(),
				e.candidate("pa"), payout.TestPolicy())
			if err != nil {
				t.Fatal(err)
			}
			if p.State != tc.state {
				t.Fatalf("payout %+v, want %s", p, tc.state)
			}
			if got := e.lnd.Sends(); got != tc.sends {
				t.Fatalf("%d sends, want %d", got, tc.sends)
			}
			if got := e.lnd.Tracks(); got != tc.tracks {
				t.Fatalf("%d tracks, want %d", got, tc.tracks)
			}
			if n := len(e.lnd.Payments()); n != 1 {
				t.Fatalf("lnd has %d payments, want 1", n)
			}
			paid, _ := e.lnd.Paid()
			if got := e.balance(ledger.PaidOut("pa")); got !=
				ledger.MilliSatoshi(paid) {

				t.Fatalf("paid out %v, lnd paid %v", got, paid)
			}
		})
	}
}

// TestResume: a payout left pending by a crash is finished after a
// restart for each answer lnd gives about its hash: never seen (sent now),
// in flight (followed), succeeded, failed (recorded, never sent again).
func TestResume(t *testing.T) {
	tests := []struct {
		name    string
		point   string
		step    payouttest.Step
		resolve bool // lnd resolves the payment before the restart
		state   payout.State
		sends   int
	}{
		{"not found", payout.FailpointAfterIntent, payouttest.Succeed, false,
			payout.StateSucceeded, 1},
		{"not found, then fails", payout.FailpointAfterIntent,
			payouttest.Fail, false, payout.StateFailed, 1},
		{"in flight, succeeds", payout.FailpointAfterSend,
			payouttest.Succeed, false, payout.StateSucceeded, 1},
		{"in flight, fails", payout.FailpointAfterSend, payouttest.Fail,
			false, payout.StateFailed, 1},
		{"succeeded", payout.FailpointAfterSend, payouttest.Succeed, true,
			payout.StateSucceeded, 1},
		{"failed", payout.FailpointAfterSend, payouttest.Fail, true,
			payout.StateFailed, 1},
		{"succeeded before the ledger", payout.FailpointAfterSuccess,
			payouttest.Succeed, false, payout.StateSucceeded, 1},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t, "")
			e.earn("pa", "j1", 100_000)
			e.lnd.SetFee(300)
			e.lnd.Script(tc.step)

			ctx, cancel := context.WithCancel(context.Background())
			crashAt(e.exec, tc.point, cancel)
			p, err := e.exec.Pay(ctx, e.candidate("pa"),
				payout.TestPolicy())
			if err == nil || p.State != payout.StatePending {
				t.Fatalf("crashed payout %+v, %v; want pending "+
					"and an error", p, err)
			}
			pend := e.pending()
			if len(pend) != 1 || pend[0] != p.ID {
				t.Fatalf("pending %v, want %s", pend, p.ID)
			}
			// The money waits in flight meanwhile.
			mid := e.balances("pa")
			if mid.InFlight != p.Amount+p.FeeBudget ||
				mid.PaidOut != 0 {

				t.Fatalf("balances after the crash %+v", mid)
			}
			if tc.resolve {
				e.lnd.ResolveAll()
			}

			// A restarted sluiced resumes it.
			got, err := e.newExecutor().Resume(
				context.Background(), p.ID)
			if err != nil {
				t.Fatal(err)
			}
			if got.State != tc.state {
				t.Fatalf("resumed payout %+v, want %s", got,
					tc.state)
			}
			if s := e.lnd.Sends(); s != tc.sends {
				t.Fatalf("%d sends, want %d", s, tc.sends)
			}

			paid, fees := e.lnd.Paid()
			want := balances{Payable: 100_000}
			if tc.state == payout.StateSucceeded {
				want = balances{
					Payable: 100_000 - p.Amount -
						ledger.MilliSatoshi(fees),
					PaidOut: ledger.MilliSatoshi(paid),
					Routing: ledger.MilliSatoshi(fees),
				}
			}
			if b := e.balances("pa"); b != want {
				t.Fatalf("balances %+v, want %+v", b, want)
			}

			// Resuming a final payout changes nothing.
			again, err := e.newExecutor().Resume(
				context.Background(), p.ID)
			if err != nil || again.State != tc.state {
				t.Fatalf("second resume %+v: %v", again, err)
			}
			if s := e.lnd.Sends(); s != tc.sends {
				t.Fatalf("%d sends after a second resume", s)
			}
		})
	}
}

// TestResumeUnknown refuses an id that names no payout.
func TestResumeUnknown(t *testing.T) {
	e := newEnv(t, "")
	_, err := e.exec.Resume(context.Background(),
		"00000000000000000000000000000000")
	if !errors.Is(err, payout.ErrPayoutNotFound) {
		t.Fatalf("got %v, want ErrPayoutNotFound", err)
	}
}

// TestOnePendingPerProvider: while a provider has a payout pending no
// second one is written or sent; another provider is not held up.
func TestOnePendingPerProvider(t *testing.T) {
	e := newEnv(t, "")
	e.earn("pa", "j1", 100_000)
	e.earn("pb", "j2", 100_000)

	ctx, cancel := context.WithCancel(context.Background())
	crashAt(e.exec, payout.FailpointAfterIntent, cancel)
	if _, err := e.exec.Pay(ctx, e.candidate("pa"),
		payout.TestPolicy()); err == nil {

		t.Fatal("crashed payout returned no error")
	}
	e.earn("pa", "j1", 50_000)

	ex := e.newExecutor()
	_, err := ex.Pay(context.Background(), e.candidate("pa"), payout.TestPolicy())
	if !errors.Is(err, payout.ErrProviderBusy) {
		t.Fatalf("second payout to pa: %v, want ErrProviderBusy", err)
	}
	if e.lnd.Sends() != 0 {
		t.Fatalf("%d sends, want none", e.lnd.Sends())
	}
	if p, err := ex.Pay(context.Background(), e.candidate("pb"),
		payout.TestPolicy()); err != nil || p.State != payout.StateSucceeded {

		t.Fatalf("payout to pb %+v: %v", p, err)
	}
}

// TestNothingToPay: below the minimum nothing is written and nothing is
// lost; the amount stays payable.
func TestNothingToPay(t *testing.T) {
	e := newEnv(t, "")
	e.earn("pa", "j1", 1_999) // less the 1 sat fee cap: below 1 sat

	_, err := e.exec.Pay(context.Background(), e.candidate("pa"),
		payout.TestPolicy())
	if !errors.Is(err, payout.ErrNothingToPay) {
		t.Fatalf("got %v, want ErrNothingToPay", err)
	}
	if len(e.payouts()) != 0 || e.lnd.Sends() != 0 {
		t.Fatal("a payout was written or sent")
	}
	if got := e.balance(ledger.ProviderPayable("pa")); got != 1_999 {
		t.Fatalf("payable %v, want 1999 msat", got)
	}

	// The scheduler's view may be stale: the fresh balance decides.
	c := e.candidate("pa")
	c.Payable = 1_000_000
	_, err = e.exec.Pay(context.Background(), c, payout.TestPolicy())
	if !errors.Is(err, payout.ErrNothingToPay) {
		t.Fatalf("stale candidate: %v, want ErrNothingToPay", err)
	}
}

// TestRouteLimits: an amount the route cannot carry is capped to what it
// can (status limited), or not sent at all (status blocked, checked again
// only after BlockedRetry); an amount known to go through is not checked
// again.
func TestRouteLimits(t *testing.T) {
	ctx := context.Background()

	t.Run("known route not checked again", func(t *testing.T) {
		e := newEnv(t, "")
		e.earn("pa", "j1", 100_000)
		if _, err := e.exec.Pay(ctx, e.candidate("pa"),
			payout.TestPolicy()); err != nil {

			t.Fatal(err)
		}
		e.earn("pa", "j1", 50_000)
		if _, err := e.exec.Pay(ctx, e.candidate("pa"),
			payout.TestPolicy()); err != nil {

			t.Fatal(err)
		}
		if q := e.lnd.Queries(); q != 1 {
			t.Fatalf("%d route queries, want 1", q)
		}
		if st := e.status("pa"); st.State != "" {
			t.Fatalf("status %+v for a provider always paid", st)
		}
	})

	t.Run("limited by the channel", func(t *testing.T) {
		e := newEnv(t, "")
		e.earn("pa", "j1", 1_000_000)
		e.lnd.SetRouteMax(nodeA, 250_000)
		e.lnd.SetChannels(nodeA, []lightning.Channel{
			{Active: false, LocalBalance: btcutil.Amount(900)},
			{Active: true, LocalBalance: btcutil.Amount(300)},
		})

		p, err := e.exec.Pay(ctx, e.candidate("pa"), payout.TestPolicy())
		if err != nil {
			t.Fatal(err)
		}
		// 300 sat is refused, its half goes through.
		if p.Amount != 150_000 || p.State != payout.StateSucceeded {
			t.Fatalf("payout %+v, want 150000 msat paid", p)
		}
		st := e.status("pa")
		if st.State != string(payout.StatusLimited) || st.Reason == "" {
			t.Fatalf("status %+v, want limited", st)
		}

		// Until the recheck the cap holds without queries.
		q := e.lnd.Queries()
		p, err = e.exec.Pay(ctx, e.candidate("pa"), payout.TestPolicy())
		if err != nil || p.Amount != 150_000 {
			t.Fatalf("second payout %+v: %v", p, err)
		}
		if e.lnd.Queries() != q {
			t.Fatal("route queried again before the recheck")
		}

		// Then the route carries all of it again.
		e.lnd.SetRouteMax(nodeA, 10_000_000)
		e.clock.Advance(payout.DefaultBlockedRetry)
		p, err = e.exec.Pay(ctx, e.candidate("pa"), payout.TestPolicy())
		if err != nil || p.Amount <= 150_000 {
			t.Fatalf("payout after the recheck %+v: %v", p, err)
		}
		if st := e.status("pa"); st.State != string(payout.StatusOK) {
			t.Fatalf("status %+v, want ok", st)
		}
	})

	t.Run("blocked", func(t *testing.T) {
		e := newEnv(t, "")
		e.earn("pa", "j1", 1_000_000)
		e.lnd.SetRouteMax(nodeA, 0)

		_, err := e.exec.Pay(ctx, e.candidate("pa"), payout.TestPolicy())
		if !errors.Is(err, payout.ErrRouteBlocked) {
			t.Fatalf("got %v, want ErrRouteBlocked", err)
		}
		st := e.status("pa")
		if st.State != string(payout.StatusBlocked) || st.Reason == "" ||
			!st.RetryAt.Equal(e.clock.Now().Add(
				payout.DefaultBlockedRetry)) {

			t.Fatalf("status %+v, want blocked until the retry",
				st)
		}
		if len(e.payouts()) != 0 || e.lnd.Sends() != 0 {
			t.Fatal("a blocked payout was written or sent")
		}
		if got := e.balance(ledger.ProviderPayable("pa")); got !=
			1_000_000 {

			t.Fatalf("payable %v, want all of it", got)
		}

		q := e.lnd.Queries()
		_, err = e.exec.Pay(ctx, e.candidate("pa"), payout.TestPolicy())
		if !errors.Is(err, payout.ErrRouteBlocked) || e.lnd.Queries() != q {
			t.Fatalf("before the recheck: %v, %d new queries", err,
				e.lnd.Queries()-q)
		}

		e.lnd.SetRouteMax(nodeA, 10_000_000)
		e.clock.Advance(payout.DefaultBlockedRetry)
		p, err := e.exec.Pay(ctx, e.candidate("pa"), payout.TestPolicy())
		if err != nil || p.State != payout.StateSucceeded {
			t.Fatalf("after the recheck %+v: %v", p, err)
		}
	})

	t.Run("lnd finds no route for a known amount", func(t *testing.T) {
		e := newEnv(t, "")
		e.earn("pa", "j1", 100_000)
		e.lnd.Script(payouttest.Fail)
		if p, err := e.exec.Pay(ctx, e.candidate("pa"),
			payout.TestPolicy()); err != nil || p.State != payout.StateFailed {

			t.Fatalf("payout %+v: %v", p, err)
		}
		// No route: what was known of it is forgotten, and the
		// next payout checks it again.
		q := e.lnd.Queries()
		if _, err := e.exec.Pay(ctx, e.candidate("pa"),
			payout.TestPolicy()); err != nil {

			t.Fatal(err)
		}
		if e.lnd.Queries() != q+1 {
			t.Fatalf("%d queries, want one more", e.lnd.Queries()-q)
		}
	})
}

// TestNewExecutorConfig refuses a config without its parts.
func TestNewExecutorConfig(t *testing.T) {
	e := newEnv(t, "")
	good := payout.ExecutorConfig{DB: e.db, Ledger: e.ledger, Payments: e.lnd,
		Routes: e.lnd}
	tests := []struct {
		name   string
		change func(*payout.ExecutorConfig)
	}{
		{"no db", func(c *payout.ExecutorConfig) { c.DB = nil }},
		{"no ledger", func(c *payout.ExecutorConfig) { c.Ledger = nil }},
		{"no payments", func(c *payout.ExecutorConfig) { c.Payments = nil }},
		{"no routes", func(c *payout.ExecutorConfig) { c.Routes = nil }},
		{"negative timeout", func(c *payout.ExecutorConfig) {
			c.PaymentTimeout = -time.Second
		}},
		{"sub-second timeout", func(c *payout.ExecutorConfig) {
			c.PaymentTimeout = 500 * time.Millisecond
		}},
		{"negative retry", func(c *payout.ExecutorConfig) {
			c.BlockedRetry = -1
		}},
		{"negative backoff", func(c *payout.ExecutorConfig) {
			c.MaxBackoff = -1
		}},
	}
	if _, err := payout.NewExecutor(good); err != nil {
		t.Fatalf("good config refused: %v", err)
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			cfg := good
			tc.change(&cfg)
			if _, err := payout.NewExecutor(cfg); !errors.Is(err,
				payout.ErrInvalidConfig) {

				t.Fatalf("got %v, want ErrInvalidConfig", err)
			}
		})
	}
}

// TestPayDirect: over the hub's direct channel at no fee, all of the
// payable goes and no fee budget is held back, for either fee payer.
func TestPayDirect(t *testing.T) {
	for _, payer := range []payout.FeePayer{payout.FeePayerProvider, payout.FeePayerPlatform} {
		t.Run(string(payer), func(t *testing.T) {
			e := newEnv(t, "")
			e.lnd.SetDirect(nodeA)
			e.earn("pa", "j1", 100_000)
			pol := payout.TestPolicy()
			pol.FeePayer = payer

			p, err := e.exec.Pay(context.Background(),
				e.candidate("pa"), pol)
			if err != nil {
				t.Fatal(err)
			}
			if p.State != payout.StateSucceeded || p.Amount != 100_000 ||
				p.FeeBudget != 0 {

				t.Fatalf("payout %+v, want all 100000 msat "+
					"without a budget", p)
			}
			if k := e.lnd.Payments()[0].Keysend; k.FeeLimit != 0 {
				t.Fatalf("fee limit %v, want 0", k.FeeLimit)
			}
			want := balances{PaidOut: 100_000}
			if got := e.balances("pa"); got != want {
				t.Fatalf("balances %+v, want %+v", got, want)
			}

			// Below the minimum nothing goes, direct or not.
			e.earn("pa", "j1", 999)
			_, err = e.exec.Pay(context.Background(),
				e.candidate("pa"), pol)
			if !errors.Is(err, payout.ErrNothingToPay) {
				t.Fatalf("999 msat: %v, want ErrNothingToPay",
					err)
			}
		})
	}
}

// observed records what an executor's Observer is told.
type observed struct {
	calls []string
}

func (o *observed) PayoutPending(p payout.Payout) {
	o.calls = append(o.calls, "pending "+p.ID+" "+string(p.State))
}

func (o *observed) PayoutResolved(p payout.Payout) {
	o.calls = append(o.calls, "resolved "+p.ID+" "+string(p.State))
}

// TestPayObserved checks that the Observer is told of a payout once its
// intent is written and once its outcome is recorded, failed or
// succeeded, and of nothing when there is nothing to pay.
func TestPayObserved(t *testing.T) {
	e := newEnv(t, "")
	obs := &observed{}
	ex, err := payout.NewExecutor(payout.ExecutorConfig{
		DB: e.db, Ledger: e.ledger, Payments: e.lnd, Routes: e.lnd,
		Clock: e.clock, Observer: obs,
	})
	if err != nil {
		t.Fatal(err)
	}
	e.earn("pa", "j1", 100_000)
	e.lnd.Script(payouttest.Fail)
	ctx := context.Background()

	failed, err := ex.Pay(ctx, e.candidate("pa"), payout.TestPolicy())
	if err != nil || failed.State != payout.StateFailed {
		t.Fatalf("first payout %+v: %v", failed, err)
	}
	paid, err := ex.Pay(ctx, e.candidate("pa"), payout.TestPolicy())
	if err != nil || paid.State != payout.StateSucceeded {
		t.Fatalf("second payout %+v: %v", paid, err)
	}
	if _, err := ex.Pay(ctx, e.candidate("pa"),
		payout.TestPolicy()); !errors.Is(err, payout.ErrNothingToPay) {

		t.Fatalf("third payout: %v, want nothing to pay", err)
	}

	want := []string{
		"pending " + failed.ID + " pending",
		"resolved " + failed.ID + " failed",
		"pending " + paid.ID + " pending",
		"resolved " + paid.ID + " succeeded",
	}
	if !slices.Equal(obs.calls, want) {
		t.Fatalf("observed %q, want %q", obs.calls, want)
	}
}
