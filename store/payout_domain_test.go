package store_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/sluice-ln/sluice/ledger"
	"github.com/sluice-ln/sluice/outbound"
	"github.com/sluice-ln/sluice/payout"
	"github.com/sluice-ln/sluice/store"
	"github.com/sluice-ln/sluice/store/storetest"
)

// TestPayoutDomainErrors checks, on each backend, that payouts' view of a
// transaction keeps payout.TxStore's contract: the store's errors come
// back as payout's sentinels, and rows that are not there as false.
func TestPayoutDomainErrors(t *testing.T) {
	t.Parallel()

	storetest.ForEachBackend(t, func(t *testing.T, cfg store.Config) {
		t.Parallel()
		db := storetest.Open(t, cfg)
		ctx := context.Background()
		addProvider(t, db, "pa", nodeA)

		exec := func(fn func(tx payout.TxStore) error) error {
			return db.ExecPayouts(ctx, false, fn)
		}
		sp := func(provider string, n int) payout.StoredPayout {
			p := testPayout(provider, nodeA, n)
			return payout.StoredPayout{
				ID: p.ID, ProviderID: p.ProviderID,
				DestPubkey: p.DestPubkey, Amount: p.Amount,
				FeeBudget: p.FeeBudget, FeePayer: "provider",
				PaymentHash: p.PaymentHash, Preimage: p.Preimage,
				State: payout.StatePending, CreatedAt: p.CreatedAt,
			}
		}
		first := sp("pa", 1)

		tests := []struct {
			name string
			fn   func(tx payout.TxStore) error
			want error
		}{{
			name: "first intent",
			fn: func(tx payout.TxStore) error {
				return tx.InsertPayout(ctx, first)
			},
		}, {
			name: "second pending of a provider",
			fn: func(tx payout.TxStore) error {
				return tx.InsertPayout(ctx, sp("pa", 2))
			},
			want: payout.ErrProviderBusy,
		}, {
			name: "unknown provider",
			fn: func(tx payout.TxStore) error {
				return tx.InsertPayout(ctx, sp("nobody", 3))
			},
			want: payout.ErrProviderNotFound,
		}, {
			name: "unknown payout",
			fn: func(tx payout.TxStore) error {
				_, err := tx.Payout(ctx, sp("pa", 4).ID)
				return err
			},
			want: payout.ErrPayoutNotFound,
		}, {
			name: "resolved once",
			fn: func(tx payout.TxStore) error {
				return tx.ResolvePayout(ctx, payout.StoredOutcome{
					ID: first.ID, State: payout.StateFailed,
					Failure: "no route", ResolvedAt: payoutAt,
				})
			},
		}, {
			name: "resolved twice",
			fn: func(tx payout.TxStore) error {
				return tx.ResolvePayout(ctx, payout.StoredOutcome{
					ID: first.ID, State: payout.StateSucceeded,
					ResolvedAt: payoutAt,
				})
			},
			want: outbound.ErrInvalidTransition,
		}, {
			name: "policy of an unknown provider",
			fn: func(tx payout.TxStore) error {
				return tx.SetPayoutPolicy(ctx, "nobody",
					payout.Override{}, payoutAt)
			},
			want: payout.ErrProviderNotFound,
		}}
		for _, tc := range tests {
			err := exec(tc.fn)
			if tc.want == nil && err != nil ||
				tc.want != nil && !errors.Is(err, tc.want) {

				t.Fatalf("%s: err = %v, want %v", tc.name, err,
					tc.want)
			}
		}

		// What was never written reads as absent, not as an error.
		err := db.ExecPayouts(ctx, true, func(tx payout.TxStore) error {
			if ok, err := tx.ProviderExists(ctx, "nobody"); ok ||
				err != nil {

				t.Errorf("unknown provider exists: %v, %v", ok,
					err)
			}
			if ok, err := tx.ProviderExists(ctx, "pa"); !ok ||
				err != nil {

				t.Errorf("provider pa exists: %v, %v", ok, err)
			}
			if _, ok, err := tx.PayoutPolicy(ctx, "pa"); ok ||
				err != nil {

				t.Errorf("policy of pa: %v, %v", ok, err)
			}
			if _, ok, err := tx.PayoutStatus(ctx, "pa"); ok ||
				err != nil {

				t.Errorf("status of pa: %v, %v", ok, err)
			}
			got, err := tx.Payout(ctx, first.ID)
			if err != nil || got.State != payout.StateFailed ||
				got.Failure != "no route" {

				t.Errorf("resolved payout %+v, %v", got, err)
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}

		// An override and a status read back as written.
		minimum, payer := ledger.MilliSatoshi(10_000),
			payout.FeePayerPlatform
		status := payout.StoredStatus{ProviderID: "pa",
			Status: payout.Status{State: payout.StatusRetrying,
				Reason: "failed", Since: payoutAt.UTC(),
				RetryAt:  payoutAt.UTC().Add(time.Second),
				Failures: 2},
			UpdatedAt: payoutAt.UTC(),
		}
		err = exec(func(tx payout.TxStore) error {
			err := tx.SetPayoutPolicy(ctx, "pa", payout.Override{
				Minimum: &minimum, FeePayer: &payer}, payoutAt)
			if err != nil {
				return err
			}
			return tx.SetPayoutStatus(ctx, status)
		})
		if err != nil {
			t.Fatal(err)
		}
		err = db.ExecPayouts(ctx, true, func(tx payout.TxStore) error {
			o, ok, err := tx.PayoutPolicy(ctx, "pa")
			if err != nil || !ok || o.Minimum == nil ||
				*o.Minimum != minimum || o.FeePayer == nil ||
				*o.FeePayer != payer || o.Interval != nil {

				t.Errorf("override %+v, %v, %v", o, ok, err)
			}
			st, ok, err := tx.PayoutStatus(ctx, "pa")
			at := payoutAt.Truncate(time.Microsecond)
			if err != nil || !ok || st.ProviderID != "pa" ||
				st.State != status.State ||
				st.Reason != status.Reason ||
				st.Failures != status.Failures ||
				!st.Since.Equal(at) ||
				!st.RetryAt.Equal(at.Add(time.Second)) ||
				!st.UpdatedAt.Equal(at) {

				t.Errorf("status %+v, %v, %v", st, ok, err)
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
	})
}
