package store_test

import (
	"context"
	"errors"
	"testing"

	"github.com/sluice-ln/sluice/ledger"
	"github.com/sluice-ln/sluice/settlement"
	"github.com/sluice-ln/sluice/store"
	"github.com/sluice-ln/sluice/store/storetest"
)

// TestJobAutoStaked checks, on each backend, that settlement's
// JobAutoStaked sums the vault's side of the job's auto-stakes and nothing
// else: not another job's whose id extends this one's or differs in case
// or where "_" stands, not the payable's side, not a stake or a reward.
func TestJobAutoStaked(t *testing.T) {
	t.Parallel()

	vault := ledger.Vault()
	move := func(key string, from ledger.Account,
		amount ledger.MilliSatoshi) ledger.Transaction {

		return ledger.Transaction{
			IdempotencyKey: key, Description: key,
			Postings: []ledger.Posting{
				{Account: from, Amount: -amount},
				{Account: vault, Amount: amount},
			},
		}
	}
	hub := ledger.HubHoldings()
	payable := ledger.ProviderPayable("prov-1")

	storetest.ForEachBackend(t, func(t *testing.T, cfg store.Config) {
		t.Parallel()
		ctx := context.Background()
		db := storetest.Open(t, cfg)
		lg := ledger.New(store.NewLedgerStore(db), nil)

		autoStaked := func(job string) ledger.MilliSatoshi {
			t.Helper()
			var got ledger.MilliSatoshi
			err := db.ExecSettlement(ctx, true,
				func(tx settlement.TxStore) error {
					var err error
					got, err = tx.JobAutoStaked(ctx, job)
					return err
				})
			if err != nil {
				t.Fatalf("JobAutoStaked(%q): %v", job, err)
			}
			return got
		}
		if got := autoStaked("job_1"); got != 0 {
			t.Fatalf("before any posting: %v, want 0", got)
		}

		for _, tx := range []ledger.Transaction{
			move("fund:payable", hub, 100_000),
			{
				IdempotencyKey: "fund:payable-2",
				Description:    "payable",
				Postings: []ledger.Posting{
					{Account: hub, Amount: -50_000},
					{Account: payable, Amount: 50_000},
				},
			},
			move("autostake:usage:job_1:1-10", payable, 39),
			move("autostake:usage:job_1:11-20", payable, 8),
			move("autostake:usage:job_10:1-5", payable, 1000),
			move("autostake:usage:JOB_1:1-5", payable, 2000),
			move("autostake:usage:jobx1:1-5", payable, 4000),
			move("stake:prov-1:usage:job_1:1-5", payable, 8000),
			move("usage:job_1:21-30", hub, 16_000),
		} {
			if _, err := lg.Post(ctx, tx); err != nil {
				t.Fatalf("%s: %v", tx.IdempotencyKey, err)
			}
		}

		for job, want := range map[string]ledger.MilliSatoshi{
			"job_1": 47, "job_10": 1000, "JOB_1": 2000,
			"jobx1": 4000, "job": 0, "job_2": 0,
		} {
			if got := autoStaked(job); got != want {
				t.Errorf("JobAutoStaked(%q) = %v, want %v", job,
					got, want)
			}
		}

		err := db.ExecTx(ctx, store.TxOptions{ReadOnly: true},
			func(tx *store.Tx) error {
				_, err := tx.PostedByKeyPrefix(ctx, vault, "")
				if !errors.Is(err, ledger.ErrEmptyKey) {
					t.Errorf("empty prefix: %v, want %v", err,
						ledger.ErrEmptyKey)
				}
				_, err = tx.PostedByKeyPrefix(ctx,
					ledger.ProviderShares("prov-1"), "a")
				if !errors.Is(err, ledger.ErrWrongUnit) {
					t.Errorf("share account: %v, want %v", err,
						ledger.ErrWrongUnit)
				}
				got, err := tx.PostedByKeyPrefix(ctx, payable,
					"autostake:usage:job_1:")
				if err != nil || got != -47 {
					t.Errorf("payable's side: %v, %v; want -47",
						got, err)
				}
				return nil
			})
		if err != nil {
			t.Fatal(err)
		}
	})
}
