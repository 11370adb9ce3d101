package payout_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/sluice-ln/sluice/ledger"
	"github.com/sluice-ln/sluice/payout"
	"github.com/sluice-ln/sluice/payout/payouttest"
	"github.com/sluice-ln/sluice/store"
)

// addJob stores a job of the provider in state with a meter of seconds
// metered, charged and fees.
func (e *env) addJob(provider, job, state string, seconds int64,
	charged, fees ledger.MilliSatoshi) {

	e.t.Helper()
	ctx := context.Background()
	now := e.clock.Now()
	err := e.db.ExecTx(ctx, store.TxOptions{}, func(tx *store.Tx) error {
		if _, err := tx.BuyerByID(ctx, "b1"); errors.Is(err,
			store.ErrNotFound) {

			err := tx.InsertBuyer(ctx, store.Buyer{ID: "b1",
				Name: "b1", CreatedAt: now})
			if err != nil {
				return err
			}
		}
		err := tx.InsertJob(ctx, store.Job{
			ID: job, BuyerID: "b1", ProviderID: provider,
			State: state, Budget: 1_000_000, BufferSeconds: 10,
			PricePerSecond: "1", CreatedAt: now, UpdatedAt: now,
			Resources: []store.JobResource{{Resource: "cpu",
				MaxPerSecond: 1000, Rate: "0.001"}},
		})
		if err != nil || seconds == 0 {
			return err
		}
		return tx.PutUsageMeter(ctx, store.UsageMeter{JobID: job,
			LastSeq: seconds, LastSecond: now.Unix(), Carry: "0",
			Charged: charged, Fees: fees, UpdatedAt: now})
	})
	if err != nil {
		e.t.Fatal(err)
	}
}

// TestProviderStatus reads balances, payout counts, the last payout and
// each job's metering in one snapshot.
func TestProviderStatus(t *testing.T) {
	e := newEnv(t, "")
	s := e.newScheduler(nil, 0)
	ctx := context.Background()

	e.addJob("pa", "j1", "running", 12, 1200, 120)
	e.addJob("pa", "j2", "ended", 5, 500, 50)
	e.addJob("pb", "j3", "running", 7, 700, 70)

	st, err := s.ProviderStatus(ctx, "pa", false)
	if err != nil {
		t.Fatal(err)
	}
	if st.Payouts != 0 || !st.LastPayoutAt.IsZero() ||
		st.Status.State != payout.StatusOK {

		t.Fatalf("fresh status %+v", st)
	}

	e.earn("pa", "j1", 100_000)
	e.lnd.Script(payouttest.Fail)
	roundAndWait(s)
	e.clock.Advance(time.Second)
	roundAndWait(s)

	tests := []struct {
		name    string
		all     bool
		wantJob []payout.JobEarnings
	}{{
		name: "live jobs",
		wantJob: []payout.JobEarnings{{JobID: "j1", State: "running",
			SecondsMetered: 12, Earned: 1080}},
	}, {
		name: "all jobs",
		all:  true,
		wantJob: []payout.JobEarnings{
			{JobID: "j1", State: "running", SecondsMetered: 12,
				Earned: 1080},
			{JobID: "j2", State: "ended", SecondsMetered: 5,
				Earned: 450},
		},
	}}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			st, err := s.ProviderStatus(ctx, "pa", tc.all)
			if err != nil {
				t.Fatal(err)
			}
			if st.Payouts != 2 || st.Succeeded != 1 ||
				st.LastPayoutAt.IsZero() {

				t.Fatalf("%d payouts, %d succeeded, last at %v",
					st.Payouts, st.Succeeded, st.LastPayoutAt)
			}
			if st.PaidOut == 0 || st.PaidOut+st.Payable != 100_000 {
				t.Fatalf("paid %v, payable %v", st.PaidOut,
					st.Payable)
			}
			if len(st.Jobs) != len(tc.wantJob) {
				t.Fatalf("jobs %+v, want %+v", st.Jobs,
					tc.wantJob)
			}
			got := map[string]payout.JobEarnings{}
			for _, j := range st.Jobs {
				j.Escrow = 0
				got[j.JobID] = j
			}
			for _, w := range tc.wantJob {
				if got[w.JobID] != w {
					t.Fatalf("job %+v, want %+v",
						got[w.JobID], w)
				}
			}
		})
	}

	if _, err := s.ProviderStatus(ctx, "nobody", false); !errors.Is(err,
		payout.ErrProviderNotFound) {

		t.Fatalf("unknown provider: %v, want ErrProviderNotFound", err)
	}
}
