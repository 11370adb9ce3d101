package store_test

import (
	"context"
	"testing"
	"time"

	"github.com/sluice-ln/sluice/ledger"
	"github.com/sluice-ln/sluice/metering"
	"github.com/sluice-ln/sluice/settlement"
	"github.com/sluice-ln/sluice/store"
	"github.com/sluice-ln/sluice/store/storetest"
	"github.com/sluice-ln/sluice/yield"
)

// TestMeteringStoreVault checks, on each backend, metering's hook into the
// vault: a charge adds its seconds, the provider's part and the fee to the
// open epoch, and stakes the provider's auto-stake part of it in the same
// transaction, so that the payable never holds it; without a vault set
// nothing of the kind happens.
func TestMeteringStoreVault(t *testing.T) {
	t.Parallel()

	storetest.ForEachBackend(t, func(t *testing.T, cfg store.Config) {
		t.Parallel()
		ctx := context.Background()

		db := storetest.Open(t, cfg)
		lg := ledger.New(store.NewLedgerStore(db), nil)
		job := meteredJob(t, "job-1", 1000)
		job.State, job.StartedAt = settlement.StateFunded, time.Time{}
		storetest.SeedJobs(t, db, lg, jobStart, job)
		addProvider(t, db, "prov-1", nodeA)

		vault, err := yield.New(db, lg, yield.Config{
			Epoch: time.Hour, RewardPPM: yield.DefaultRewardPPM,
		})
		if err != nil {
			t.Fatal(err)
		}
		if err := vault.SetAutoStake(ctx, "prov-1", 50); err != nil {
			t.Fatal(err)
		}

		ms := store.NewMeteringStore(db, lg,
			storetest.NewMeteringJobs(job), nil)
		ms.SetVault(vault)
		in, err := metering.NewIngestor(ms, metering.IngestConfig{
			FeeRate: 250, Policy: metering.DefaultPolicy(),
			Clock: func() time.Time { return ingestNow },
		})
		if err != nil {
			t.Fatal(err)
		}
		in.Start()
		t.Cleanup(in.Stop)

		// 50 seconds at 1.6 msat: 80 msat, fee 2, the provider's 78,
		// half of it staked: 39 msat for 39 units at genesis.
		res, err := in.Submit(ctx, "prov-1", signed(t, "job-1", 1, 50))
		if err != nil || res.Price != 80 || res.Fee != 2 {
			t.Fatalf("batch: %+v, %v", res, err)
		}
		payable, err := lg.Balance(ctx, ledger.ProviderPayable("prov-1"))
		if err != nil || payable != 39 {
			t.Fatalf("payable %v, %v; want 39", payable, err)
		}
		h, err := vault.Holding(ctx, "prov-1")
		if err != nil || h.Shares != 39 || h.Value != 39 {
			t.Fatalf("holding %+v, %v; want 39 units worth 39", h,
				err)
		}
		_, cs, err := vault.Epoch(ctx, 1)
		if err != nil {
			t.Fatalf("epoch 1: %v", err)
		}
		want := []yield.Contribution{{Epoch: 1, ProviderID: "prov-1",
			Seconds: 50, Earned: 78, Fees: 2}}
		if len(cs) != 1 || cs[0] != want[0] {
			t.Fatalf("contributions %+v, want %+v", cs, want)
		}

		// Another 10 seconds: 16 msat, fee 0 (2.5 % of 96 is 2,
		// taken already), 16 earned, 8 staked.
		res, err = in.Submit(ctx, "prov-1", signed(t, "job-1", 51, 60))
		if err != nil || res.Accepted != 10 {
			t.Fatalf("second batch: %+v, %v", res, err)
		}
		_, cs, err = vault.Epoch(ctx, 1)
		if err != nil || len(cs) != 1 || cs[0].Seconds != 60 ||
			cs[0].Earned+cs[0].Fees != 96 {

			t.Fatalf("contributions %+v, %v", cs, err)
		}
		st, err := vault.State(ctx)
		if err != nil {
			t.Fatal(err)
		}
		staked := st.Idle
		payable, err = lg.Balance(ctx, ledger.ProviderPayable("prov-1"))
		if err != nil || payable+staked != cs[0].Earned ||
			staked != cs[0].Earned/2 {

			t.Fatalf("payable %v + staked %v, earned %v: %v",
				payable, staked, cs[0].Earned, err)
		}

		// The job's views read what its charges auto-staked.
		err = db.ExecSettlement(ctx, true,
			func(tx settlement.TxStore) error {
				got, err := tx.JobAutoStaked(ctx, "job-1")
				if err != nil || got != staked {
					t.Errorf("JobAutoStaked = %v, %v; want %v",
						got, err, staked)
				}
				return nil
			})
		if err != nil {
			t.Fatal(err)
		}
	})
}
