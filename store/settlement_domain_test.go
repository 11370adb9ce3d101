package store_test

import (
	"context"
	"errors"
	"reflect"
	"testing"
	"time"

	"github.com/sluice-ln/sluice/channels"
	"github.com/sluice-ln/sluice/outbound"
	"github.com/sluice-ln/sluice/settlement"
	"github.com/sluice-ln/sluice/store"
	"github.com/sluice-ln/sluice/store/storetest"
)

// TestSettlementDomain checks, on each backend, that settlement's view of
// a transaction keeps settlement.TxStore's contract: rows read back as
// written, the store's errors come back as settlement's sentinels (or the
// outbound lifecycle's, for a refund resolved twice), and a job never
// metered reads as zero.
func TestSettlementDomain(t *testing.T) {
	t.Parallel()

	storetest.ForEachBackend(t, func(t *testing.T, cfg store.Config) {
		t.Parallel()
		db := storetest.Open(t, cfg)
		ctx := context.Background()
		exec := func(fn func(tx settlement.TxStore) error) error {
			return db.ExecSettlement(ctx, false, fn)
		}

		at := utcMicro(setAt)
		job := settlement.StoredJob{
			ID: "job-1", BuyerID: "b1", ProviderID: "p1",
			State: settlement.StateAwaitingFunding, Budget: 123_456,
			BufferSeconds: 30, PricePerSecond: "12.5",
			CreatedAt: at, UpdatedAt: at,
			Resources: []settlement.StoredResource{
				{Resource: channels.ResourceCPU,
					MaxPerSecond: 2000, Rate: "0.005"},
			},
		}
		inv := settlement.StoredInvoice{
			PaymentHash: hashOf("a"), JobID: "job-1",
			Purpose: settlement.PurposeFunding, Amount: 123_456,
			PaymentRequest: "lnbcrt1", State: settlement.InvoiceOpen,
			CreatedAt: at, ExpiresAt: at.Add(time.Hour),
		}
		refund := settlement.StoredRefund{
			PaymentHash: hashOf("1"), JobID: "job-1",
			Method:     settlement.RefundByKeysend,
			DestPubkey: "02" + hashOf("e"), Preimage: hashOf("9"),
			Amount: 4000, FeeLimit: 10,
			State: settlement.RefundPending, CreatedAt: at,
		}
		settled := settlement.InvoiceOutcome{PaymentHash: inv.PaymentHash,
			State: settlement.InvoiceSettled, AmountPaid: 123_456,
			SettleIndex: 1, SettledAt: at}
		failed := settlement.RefundOutcome{
			PaymentHash: refund.PaymentHash,
			State:       settlement.RefundFailed, Failure: "no route",
			ResolvedAt: at,
		}

		tests := []struct {
			name string
			fn   func(tx settlement.TxStore) error
			want error
		}{{
			name: "a buyer, a job, its invoice and a refund",
			fn: func(tx settlement.TxStore) error {
				err := tx.InsertBuyer(ctx, settlement.Buyer{
					ID: "b1", Name: "alice", CreatedAt: at})
				if err != nil {
					return err
				}
				if err := tx.InsertJob(ctx, job); err != nil {
					return err
				}
				if err := tx.InsertJobInvoice(ctx, inv); err != nil {
					return err
				}
				return tx.InsertRefund(ctx, refund)
			},
		}, {
			name: "a name taken",
			fn: func(tx settlement.TxStore) error {
				return tx.InsertBuyer(ctx, settlement.Buyer{
					ID: "b2", Name: "alice", CreatedAt: at})
			},
			want: settlement.ErrBuyerExists,
		}, {
			name: "unknown buyer",
			fn: func(tx settlement.TxStore) error {
				_, err := tx.BuyerByID(ctx, "nobody")
				return err
			},
			want: settlement.ErrBuyerNotFound,
		}, {
			name: "unknown job",
			fn: func(tx settlement.TxStore) error {
				_, err := tx.JobByID(ctx, "job-nope")
				return err
			},
			want: settlement.ErrJobNotFound,
		}, {
			name: "refund key of an unknown job",
			fn: func(tx settlement.TxStore) error {
				return tx.SetJobRefundPubkey(ctx, "job-nope",
					"02"+hashOf("e"), at)
			},
			want: settlement.ErrJobNotFound,
		}, {
			name: "a job not in the state it was read in",
			fn: func(tx settlement.TxStore) error {
				return tx.UpdateJobState(ctx,
					settlement.StateChange{ID: "job-1",
						From: settlement.StateFunded,
						To:   settlement.StateRunning, At: at})
			},
			want: settlement.ErrStale,
		}, {
			name: "unknown invoice",
			fn: func(tx settlement.TxStore) error {
				_, err := tx.JobInvoiceByHash(ctx, hashOf("b"))
				return err
			},
			want: settlement.ErrInvoiceNotFound,
		}, {
			name: "the invoice settles",
			fn: func(tx settlement.TxStore) error {
				return tx.UpdateJobInvoice(ctx, settled)
			},
		}, {
			name: "a settled invoice is final",
			fn: func(tx settlement.TxStore) error {
				return tx.UpdateJobInvoice(ctx,
					settlement.InvoiceOutcome{
						PaymentHash: inv.PaymentHash,
						State:       settlement.InvoiceExpired})
			},
			want: settlement.ErrStale,
		}, {
			name: "a second pending refund",
			fn: func(tx settlement.TxStore) error {
				r := refund
				r.PaymentHash = hashOf("2")
				return tx.InsertRefund(ctx, r)
			},
			want: settlement.ErrRefundInFlight,
		}, {
			name: "the refund fails",
			fn: func(tx settlement.TxStore) error {
				return tx.ResolveRefund(ctx, failed)
			},
		}, {
			name: "its outcome is recorded once",
			fn: func(tx settlement.TxStore) error {
				return tx.ResolveRefund(ctx, failed)
			},
			want: outbound.ErrInvalidTransition,
		}}
		for _, tc := range tests {
			err := exec(tc.fn)
			if tc.want == nil && err != nil ||
				tc.want != nil && !errors.Is(err, tc.want) {

				t.Fatalf("%s: err = %v, want %v", tc.name, err,
					tc.want)
			}
		}

		err := db.ExecSettlement(ctx, true, func(tx settlement.TxStore) error {
			got, err := tx.JobByID(ctx, "job-1")
			if err != nil {
				return err
			}
			if !reflect.DeepEqual(got, job) {
				t.Errorf("job\n got %+v\nwant %+v", got, job)
			}
			gotInv, err := tx.JobInvoiceByHash(ctx, inv.PaymentHash)
			if err != nil {
				return err
			}
			if gotInv.State != settlement.InvoiceSettled ||
				gotInv.Purpose != settlement.PurposeFunding ||
				gotInv.AmountPaid != 123_456 {

				t.Errorf("invoice %+v", gotInv)
			}
			refunds, err := tx.JobRefunds(ctx, "job-1")
			if err != nil {
				return err
			}
			if len(refunds) != 1 ||
				refunds[0].State != settlement.RefundFailed ||
				refunds[0].Method != settlement.RefundByKeysend {

				t.Errorf("refunds %+v", refunds)
			}
			m, err := tx.JobMetered(ctx, "job-1")
			if err != nil || m != (settlement.Metered{}) {
				t.Errorf("never metered: %+v, %v", m, err)
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
	})
}
