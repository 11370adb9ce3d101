package settlement_test

import (
	"testing"

	"github.com/sluice-ln/sluice/ledger"
	"github.com/sluice-ln/sluice/store"
)

// TestStatusEarnings shows, in a job's status, what it metered and earned
// and its provider's payout balances, and nothing before the first usage.
func TestStatusEarnings(t *testing.T) {
	e := newEnv(t)
	e.start(e.m)
	st := e.create(100_000, 5)
	e.fund(st, 0)

	tests := []struct {
		name     string
		meter    *store.UsageMeter
		paid     ledger.MilliSatoshi
		seconds  int64
		spent    ledger.MilliSatoshi
		earned   ledger.MilliSatoshi
		wantPaid ledger.MilliSatoshi
	}{{
		name: "nothing metered",
	}, {
		name: "metered and paid",
		meter: &store.UsageMeter{JobID: st.ID, LastSeq: 30,
			LastSecond: 1000, Carry: "0", Charged: 300, Fees: 30},
		paid:    100,
		seconds: 30, spent: 300, earned: 270,
		wantPaid: 100,
	}}
	var wantPayable ledger.MilliSatoshi
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if tc.meter != nil {
				err := e.db.ExecTx(e.ctx, store.TxOptions{},
					func(tx *store.Tx) error {
						return tx.PutUsageMeter(e.ctx,
							*tc.meter)
					})
				if err != nil {
					t.Fatal(err)
				}
				if _, err := e.startJob(st.ID); err != nil {
					t.Fatal(err)
				}
				res, err := e.charge(st.ID, tc.spent,
					"usage:test")
				if err != nil {
					t.Fatal(err)
				}
				_, err = e.ledger.Post(e.ctx, ledger.Transfer(
					"test:paid", "test",
					ledger.ProviderPayable(e.prov.ID),
					ledger.PaidOut(e.prov.ID), tc.paid))
				if err != nil {
					t.Fatal(err)
				}
				wantPayable = res.ProviderShare - tc.paid
			}
			got := e.get(st.ID)
			if got.SecondsMetered != tc.seconds ||
				got.Spent != tc.spent ||
				got.Earned != tc.earned ||
				got.Fees != tc.spent-tc.earned {

				t.Fatalf("metered %d s, spent %v, earned %v, "+
					"fees %v", got.SecondsMetered, got.Spent,
					got.Earned, got.Fees)
			}
			if got.ProviderPaidOut != tc.wantPaid ||
				got.ProviderPayable != wantPayable ||
				got.ProviderInFlight != 0 {

				t.Fatalf("provider paid %v, payable %v, in "+
					"flight %v", got.ProviderPaidOut,
					got.ProviderPayable, got.ProviderInFlight)
			}
		})
	}
}
