package store_test

import (
	"context"
	"errors"
	"slices"
	"testing"
	"time"

	"github.com/sluice-ln/sluice/channels"
	"github.com/sluice-ln/sluice/settlement"
	"github.com/sluice-ln/sluice/store"
	"github.com/sluice-ln/sluice/store/storetest"
)

// TestUnstartedPlacements checks, on each backend, which placed jobs the
// sweeper may place again: those in a startable state (funded, low on
// balance) that their agent has not started, funding settled; MoveJob
// moves exactly those.
func TestUnstartedPlacements(t *testing.T) {
	t.Parallel()

	storetest.ForEachBackend(t, func(t *testing.T, cfg store.Config) {
		t.Parallel()
		db := storetest.Open(t, cfg)
		ctx := context.Background()
		exec := func(fn func(tx settlement.TxStore) error) error {
			return db.ExecSettlement(ctx, false, fn)
		}
		at := utcMicro(setAt)
		jobs := []struct {
			id      string
			state   settlement.State
			started bool
		}{
			{"job-funded", settlement.StateFunded, false},
			{"job-low", settlement.StateLowBalance, false},
			{"job-suspended", settlement.StateSuspended, false},
			{"job-low-started", settlement.StateLowBalance, true},
			{"job-running", settlement.StateRunning, true},
		}
		err := exec(func(tx settlement.TxStore) error {
			err := tx.InsertBuyer(ctx, settlement.Buyer{ID: "b1",
				Name: "alice", CreatedAt: at})
			if err != nil {
				return err
			}
			for i, j := range jobs {
				job := settlement.StoredJob{
					ID: j.id, BuyerID: "b1", ProviderID: "p1",
					State:  settlement.StateAwaitingFunding,
					Budget: 1000, BufferSeconds: 8,
					PricePerSecond: "10",
					CreatedAt:      at, UpdatedAt: at,
					Resources: []settlement.StoredResource{{
						Resource:     channels.ResourceCPU,
						MaxPerSecond: 1000, Rate: "0.01",
					}},
				}
				if err := tx.InsertJob(ctx, job); err != nil {
					return err
				}
				hash := hashOf(string(rune('a' + i)))
				err := tx.InsertJobInvoice(ctx, settlement.StoredInvoice{
					PaymentHash: hash, JobID: j.id,
					Purpose: settlement.PurposeFunding,
					Amount:  1000, PaymentRequest: "lnbcrt1",
					State:     settlement.InvoiceOpen,
					CreatedAt: at, ExpiresAt: at.Add(time.Hour),
				})
				if err != nil {
					return err
				}
				err = tx.UpdateJobInvoice(ctx, settlement.InvoiceOutcome{
					PaymentHash: hash,
					State:       settlement.InvoiceSettled,
					AmountPaid:  1000, SettleIndex: uint64(i + 1),
					SettledAt: at,
				})
				if err != nil {
					return err
				}
				upd := settlement.StateChange{ID: j.id,
					From: settlement.StateAwaitingFunding,
					To:   j.state, At: at}
				if j.started {
					upd.StartedAt = at
				}
				if err := tx.UpdateJobState(ctx, upd); err != nil {
					return err
				}
				err = tx.InsertJobPlacement(ctx, settlement.StoredPlacement{
					JobID: j.id, Seq: 1, ProviderID: "p1",
					PlacedAt: at,
				})
				if err != nil {
					return err
				}
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}

		var got []string
		err = exec(func(tx settlement.TxStore) error {
			rows, err := tx.UnstartedPlacements(ctx)
			for _, r := range rows {
				got = append(got, r.JobID)
			}
			return err
		})
		slices.Sort(got)
		if err != nil || !slices.Equal(got, []string{"job-funded",
			"job-low"}) {

			t.Fatalf("UnstartedPlacements = %v, %v", got, err)
		}
		for _, j := range jobs {
			err := exec(func(tx settlement.TxStore) error {
				return tx.MoveJob(ctx, settlement.JobMove{
					ID: j.id, From: "p1", To: "p2",
					PricePerSecond: "5", At: at,
					Rates: map[channels.Resource]string{
						channels.ResourceCPU: "0.005"},
				})
			})
			movable := j.id == "job-funded" || j.id == "job-low"
			switch {
			case movable && err != nil:
				t.Errorf("move %s: %v", j.id, err)
			case !movable && !errors.Is(err, settlement.ErrStale):
				t.Errorf("move %s: err = %v, want ErrStale",
					j.id, err)
			}
		}
	})
}
