package store_test

import (
	"context"
	"errors"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/sluice-ln/sluice/ledger"
	"github.com/sluice-ln/sluice/store"
	"github.com/sluice-ln/sluice/store/storetest"
)

// setAt is a time in another zone and with nanoseconds, which the store
// must turn into UTC microseconds.
var setAt = time.Date(2026, 6, 1, 8, 0, 0, 987654321,
	time.FixedZone("EDT", -4*3600))

// hashOf returns a 64-character hex string made of c.
func hashOf(c string) string { return strings.Repeat(c, 64) }

// utcMicro is what the store gives back for setAt-like times.
func utcMicro(t time.Time) time.Time {
	return t.UTC().Truncate(time.Microsecond)
}

// testJob is a job for buyer b1 and provider p1.
func testJob(id string, created time.Time) store.Job {
	return store.Job{
		ID: id, BuyerID: "b1", ProviderID: "p1",
		State: "awaiting_funding", Budget: 123_456, BufferSeconds: 30,
		PricePerSecond: "12.5", CreatedAt: created, UpdatedAt: created,
		Resources: []store.JobResource{
			{Resource: "cpu", MaxPerSecond: 2000, Rate: "0.005"},
			{Resource: "mem", MaxPerSecond: 512, Rate: "0.0048828125"},
		},
	}
}

// TestSettlementBuyersAndJobs stores buyers and jobs, reads them back,
// filters lists, moves a job's state with compare-and-set and records its
// events.
func TestSettlementBuyersAndJobs(t *testing.T) {
	t.Parallel()

	storetest.ForEachBackend(t, func(t *testing.T, cfg store.Config) {
		t.Parallel()
		db := storetest.Open(t, cfg)

		mustTx(t, db, func(ctx context.Context, tx *store.Tx) error {
			for _, b := range []store.Buyer{
				{ID: "b1", Name: "alice", CreatedAt: setAt},
				{ID: "b2", Name: "bob", CreatedAt: setAt},
			} {
				if err := tx.InsertBuyer(ctx, b); err != nil {
					return err
				}
			}
			return nil
		})

		// A taken name and an unknown buyer.
		err := inTx(t, db, func(ctx context.Context, tx *store.Tx) error {
			return tx.InsertBuyer(ctx, store.Buyer{ID: "b3",
				Name: "alice", CreatedAt: setAt})
		})
		if !errors.Is(err, store.ErrUniqueViolation) {
			t.Fatalf("second alice: %v, want ErrUniqueViolation", err)
		}
		err = inTx(t, db, func(ctx context.Context, tx *store.Tx) error {
			_, err := tx.BuyerByID(ctx, "nobody")
			return err
		})
		if !errors.Is(err, store.ErrNotFound) {
			t.Fatalf("unknown buyer: %v, want ErrNotFound", err)
		}

		j1 := testJob("job-1", setAt)
		j2 := testJob("job-2", setAt.Add(time.Second))
		j2.ProviderID = "p2"
		j3 := testJob("job-3", setAt.Add(2*time.Second))
		j3.BuyerID = "b2"
		j3.RefundPubkey = "02" + hashOf("c")[:64]
		mustTx(t, db, func(ctx context.Context, tx *store.Tx) error {
			for _, j := range []store.Job{j1, j2, j3} {
				if err := tx.InsertJob(ctx, j); err != nil {
					return err
				}
			}
			return nil
		})

		// A job of a buyer that does not exist is refused.
		err = inTx(t, db, func(ctx context.Context, tx *store.Tx) error {
			j := testJob("job-x", setAt)
			j.BuyerID = "nobody"
			return tx.InsertJob(ctx, j)
		})
		if !errors.Is(err, store.ErrForeignKeyViolation) {
			t.Fatalf("job of unknown buyer: %v", err)
		}

		var got store.Job
		mustTx(t, db, func(ctx context.Context, tx *store.Tx) error {
			var err error
			got, err = tx.JobByID(ctx, "job-1")
			return err
		})
		want := j1
		want.CreatedAt, want.UpdatedAt = utcMicro(setAt), utcMicro(setAt)
		if !reflect.DeepEqual(got, want) {
			t.Fatalf("job-1 read back\n got %+v\nwant %+v", got, want)
		}

		list := func(f store.JobFilter) []string {
			t.Helper()
			var ids []string
			mustTx(t, db, func(ctx context.Context,
				tx *store.Tx) error {

				jobs, err := tx.ListJobs(ctx, f)
				for _, j := range jobs {
					if len(j.Resources) != 2 {
						t.Errorf("%s: %d resources", j.ID,
							len(j.Resources))
					}
					ids = append(ids, j.ID)
				}
				return err
			})
			return ids
		}
		lists := []struct {
			f    store.JobFilter
			want []string
		}{
			{store.JobFilter{}, []string{"job-3", "job-2", "job-1"}},
			{store.JobFilter{BuyerID: "b1"},
				[]string{"job-2", "job-1"}},
			{store.JobFilter{ProviderID: "p2"}, []string{"job-2"}},
			{store.JobFilter{BuyerID: "b2", ProviderID: "p2"}, nil},
			{store.JobFilter{States: []string{"running", "ended"}},
				nil},
			{store.JobFilter{Limit: 2}, []string{"job-3", "job-2"}},
			{store.JobFilter{Offset: 1}, []string{"job-2", "job-1"}},
			{store.JobFilter{Limit: 1, Offset: 1},
				[]string{"job-2"}},
		}
		for _, l := range lists {
			if got := list(l.f); !reflect.DeepEqual(got, l.want) {
				t.Errorf("ListJobs(%+v) = %v, want %v", l.f, got,
					l.want)
			}
		}

		// Compare-and-set: the right from state moves it, a stale
		// one does not, an unknown job is not found.
		started := setAt.Add(time.Minute)
		mustTx(t, db, func(ctx context.Context, tx *store.Tx) error {
			return tx.UpdateJobState(ctx, store.JobUpdate{
				ID: "job-1", From: "awaiting_funding",
				To: "running", At: started, StartedAt: started,
			})
		})
		err = inTx(t, db, func(ctx context.Context, tx *store.Tx) error {
			return tx.UpdateJobState(ctx, store.JobUpdate{
				ID: "job-1", From: "awaiting_funding",
				To: "funded", At: started,
			})
		})
		if !errors.Is(err, store.ErrStale) ||
			!strings.Contains(err.Error(), "is running") {

			t.Fatalf("stale update: %v, want ErrStale", err)
		}
		err = inTx(t, db, func(ctx context.Context, tx *store.Tx) error {
			return tx.UpdateJobState(ctx, store.JobUpdate{
				ID: "nope", From: "a", To: "b", At: started,
			})
		})
		if !errors.Is(err, store.ErrNotFound) {
			t.Fatalf("update of unknown job: %v", err)
		}
		ended := started.Add(time.Hour)
		mustTx(t, db, func(ctx context.Context, tx *store.Tx) error {
			err := tx.UpdateJobState(ctx, store.JobUpdate{
				ID: "job-1", From: "running", To: "ended",
				At: ended, EndedAt: ended,
			})
			if err != nil {
				return err
			}
			err = tx.SetJobRefundPubkey(ctx, "job-1",
				"03"+hashOf("d"), ended)
			if err != nil {
				return err
			}
			got, err = tx.JobByID(ctx, "job-1")
			return err
		})
		if got.State != "ended" ||
			!got.StartedAt.Equal(utcMicro(started)) ||
			!got.EndedAt.Equal(utcMicro(ended)) ||
			!got.UpdatedAt.Equal(utcMicro(ended)) ||
			got.RefundPubkey != "03"+hashOf("d") {

			t.Fatalf("after updates: %+v", got)
		}
		if list(store.JobFilter{States: []string{"ended"}})[0] !=
			"job-1" {

			t.Errorf("ended jobs")
		}

		// Events come back in order.
		var events []store.JobEvent
		mustTx(t, db, func(ctx context.Context, tx *store.Tx) error {
			for i, to := range []string{"awaiting_funding",
				"funded", "running"} {

				_, err := tx.InsertJobEvent(ctx, store.JobEvent{
					JobID: "job-2", To: to, Cause: "c",
					Detail: to, At: setAt.Add(
						time.Duration(i) * time.Second),
				})
				if err != nil {
					return err
				}
			}
			var err error
			events, err = tx.JobEvents(ctx, "job-2")
			return err
		})
		if len(events) != 3 || events[2].To != "running" ||
			events[1].Detail != "funded" ||
			!events[2].At.Equal(utcMicro(setAt.Add(2*time.Second))) ||
			events[0].ID >= events[1].ID {

			t.Fatalf("events: %+v", events)
		}
	})
}

// TestSettlementInvoicesAndCursor stores a job's invoices, settles one with
// compare-and-set, lists the open ones and moves the settle-index cursor
// forward only.
func TestSettlementInvoicesAndCursor(t *testing.T) {
	t.Parallel()

	storetest.ForEachBackend(t, func(t *testing.T, cfg store.Config) {
		t.Parallel()
		db := storetest.Open(t, cfg)

		fund := store.JobInvoice{
			PaymentHash: hashOf("a"), JobID: "job-1",
			Purpose: "funding", Amount: 5000,
			PaymentRequest: "lnbcrt50n1...", State: "open",
			CreatedAt: setAt, ExpiresAt: setAt.Add(time.Hour),
		}
		top := fund
		top.PaymentHash, top.Purpose = hashOf("b"), "top_up"
		top.ExpiresAt = setAt.Add(time.Minute)
		mustTx(t, db, func(ctx context.Context, tx *store.Tx) error {
			err := tx.InsertBuyer(ctx, store.Buyer{ID: "b1",
				Name: "b", CreatedAt: setAt})
			if err != nil {
				return err
			}
			if err := tx.InsertJob(ctx, testJob("job-1",
				setAt)); err != nil {
				return err
			}
			if err := tx.InsertJobInvoice(ctx, fund); err != nil {
				return err
			}
			return tx.InsertJobInvoice(ctx, top)
		})

		var open []store.JobInvoice
		mustTx(t, db, func(ctx context.Context, tx *store.Tx) error {
			var err error
			open, err = tx.OpenJobInvoices(ctx)
			return err
		})
		if len(open) != 2 || open[0].PaymentHash != top.PaymentHash {
			t.Fatalf("open invoices, soonest first: %+v", open)
		}

		settled := setAt.Add(10 * time.Second)
		upd := store.InvoiceUpdate{PaymentHash: fund.PaymentHash,
			State: "settled", AmountPaid: 5001, SettleIndex: 7,
			SettledAt: settled}
		mustTx(t, db, func(ctx context.Context, tx *store.Tx) error {
			return tx.UpdateJobInvoice(ctx, upd)
		})
		err := inTx(t, db, func(ctx context.Context, tx *store.Tx) error {
			return tx.UpdateJobInvoice(ctx, upd)
		})
		if !errors.Is(err, store.ErrStale) {
			t.Fatalf("second settle: %v, want ErrStale", err)
		}
		err = inTx(t, db, func(ctx context.Context, tx *store.Tx) error {
			_, err := tx.JobInvoiceByHash(ctx, hashOf("f"))
			return err
		})
		if !errors.Is(err, store.ErrNotFound) {
			t.Fatalf("unknown invoice: %v", err)
		}

		var got store.JobInvoice
		var all []store.JobInvoice
		mustTx(t, db, func(ctx context.Context, tx *store.Tx) error {
			var err error
			got, err = tx.JobInvoiceByHash(ctx, fund.PaymentHash)
			if err != nil {
				return err
			}
			all, err = tx.JobInvoices(ctx, "job-1")
			return err
		})
		want := fund
		want.State, want.AmountPaid, want.SettleIndex = "settled", 5001, 7
		want.SettledAt = utcMicro(settled)
		want.CreatedAt = utcMicro(fund.CreatedAt)
		want.ExpiresAt = utcMicro(fund.ExpiresAt)
		if !reflect.DeepEqual(got, want) {
			t.Fatalf("settled invoice\n got %+v\nwant %+v", got, want)
		}
		if len(all) != 2 {
			t.Fatalf("invoices of job-1: %d", len(all))
		}

		// The cursor starts at zero and only moves forward.
		steps := []struct {
			to    uint64
			moved bool
			now   uint64
		}{
			{5, true, 5}, {5, false, 5}, {3, false, 5}, {9, true, 9},
		}
		for _, s := range steps {
			var (
				moved bool
				now   uint64
			)
			mustTx(t, db, func(ctx context.Context,
				tx *store.Tx) error {

				var err error
				moved, err = tx.AdvanceCursor(ctx, "settle", s.to)
				if err != nil {
					return err
				}
				now, err = tx.Cursor(ctx, "settle")
				return err
			})
			if moved != s.moved || now != s.now {
				t.Errorf("advance to %d: moved %v, now %d; want "+
					"%v, %d", s.to, moved, now, s.moved, s.now)
			}
		}
	})
}

// TestSettlementRefunds stores refunds, refuses a second pending one of the
// same job, resolves one with compare-and-set and lists pending ones.
func TestSettlementRefunds(t *testing.T) {
	t.Parallel()

	storetest.ForEachBackend(t, func(t *testing.T, cfg store.Config) {
		t.Parallel()
		db := storetest.Open(t, cfg)

		r1 := store.Refund{
			PaymentHash: hashOf("1"), JobID: "job-1",
			Method: "keysend", DestPubkey: "02" + hashOf("e"),
			Preimage: hashOf("9"), Amount: 4000, FeeLimit: 10,
			State: "pending", CreatedAt: setAt,
		}
		mustTx(t, db, func(ctx context.Context, tx *store.Tx) error {
			err := tx.InsertBuyer(ctx, store.Buyer{ID: "b1",
				Name: "b", CreatedAt: setAt})
			if err != nil {
				return err
			}
			if err := tx.InsertJob(ctx, testJob("job-1",
				setAt)); err != nil {
				return err
			}
			return tx.InsertRefund(ctx, r1)
		})

		r2 := r1
		r2.PaymentHash = hashOf("2")
		err := inTx(t, db, func(ctx context.Context, tx *store.Tx) error {
			return tx.InsertRefund(ctx, r2)
		})
		if !errors.Is(err, store.ErrUniqueViolation) {
			t.Fatalf("second pending refund: %v, want "+
				"ErrUniqueViolation", err)
		}

		resolved := setAt.Add(time.Minute)
		upd := store.RefundUpdate{PaymentHash: r1.PaymentHash,
			State: "failed", Failure: "no route",
			ResolvedAt: resolved}
		mustTx(t, db, func(ctx context.Context, tx *store.Tx) error {
			return tx.ResolveRefund(ctx, upd)
		})
		err = inTx(t, db, func(ctx context.Context, tx *store.Tx) error {
			return tx.ResolveRefund(ctx, upd)
		})
		if !errors.Is(err, store.ErrStale) {
			t.Fatalf("second resolve: %v, want ErrStale", err)
		}

		// With the first one failed, another may be pending.
		var pending, all []store.Refund
		var got store.Refund
		mustTx(t, db, func(ctx context.Context, tx *store.Tx) error {
			if err := tx.InsertRefund(ctx, r2); err != nil {
				return err
			}
			var err error
			pending, err = tx.PendingRefunds(ctx)
			if err != nil {
				return err
			}
			all, err = tx.JobRefunds(ctx, "job-1")
			if err != nil {
				return err
			}
			got, err = tx.RefundByHash(ctx, r1.PaymentHash)
			return err
		})
		if len(pending) != 1 || pending[0].PaymentHash != r2.PaymentHash {
			t.Fatalf("pending: %+v", pending)
		}
		if len(all) != 2 {
			t.Fatalf("refunds of job-1: %+v", all)
		}
		want := r1
		want.State, want.Failure = "failed", "no route"
		want.CreatedAt, want.ResolvedAt = utcMicro(setAt),
			utcMicro(resolved)
		if !reflect.DeepEqual(got, want) {
			t.Fatalf("resolved refund\n got %+v\nwant %+v", got, want)
		}
		err = inTx(t, db, func(ctx context.Context, tx *store.Tx) error {
			_, err := tx.RefundByHash(ctx, hashOf("3"))
			return err
		})
		if !errors.Is(err, store.ErrNotFound) {
			t.Fatalf("unknown refund: %v", err)
		}
	})
}

// TestOwedEndedJobs lists only the ended jobs with a refund node and money
// in escrow, and says which have a refund pending.
func TestOwedEndedJobs(t *testing.T) {
	t.Parallel()

	storetest.ForEachBackend(t, func(t *testing.T, cfg store.Config) {
		t.Parallel()
		db := storetest.Open(t, cfg)
		l := ledger.New(store.NewLedgerStore(db), nil)
		node := "02" + hashOf("e")

		jobs := map[string]struct {
			state, node string
			escrow      ledger.MilliSatoshi
		}{
			"owed":       {"ended", node, 5000},
			"owed-too":   {"ended", node, 1},
			"no-node":    {"ended", "", 5000},
			"refunded":   {"ended", node, 0},
			"running":    {"running", node, 5000},
			"in-flight":  {"ended", node, 5000},
			"never-paid": {"ended", node, -1},
		}
		mustTx(t, db, func(ctx context.Context, tx *store.Tx) error {
			err := tx.InsertBuyer(ctx, store.Buyer{ID: "b1",
				Name: "b", CreatedAt: setAt})
			if err != nil {
				return err
			}
			for id, j := range jobs {
				row := testJob(id, setAt)
				row.State, row.RefundPubkey = j.state, j.node
				if err := tx.InsertJob(ctx, row); err != nil {
					return err
				}
			}
			return tx.InsertRefund(ctx, store.Refund{
				PaymentHash: hashOf("1"), JobID: "in-flight",
				Method: "keysend", DestPubkey: node,
				Preimage: hashOf("9"), Amount: 4000,
				State: "pending", CreatedAt: setAt,
			})
		})
		for id, j := range jobs {
			if j.escrow < 0 {
				continue
			}
			fund := j.escrow
			if fund == 0 {
				fund = 700
			}
			_, err := l.Post(context.Background(), ledger.Transfer(
				id+":fund", "fund", ledger.HubHoldings(),
				ledger.BuyerEscrow(id), fund))
			if err == nil && j.escrow == 0 {
				_, err = l.Post(context.Background(),
					ledger.Transfer(id+":refund", "refund",
						ledger.BuyerEscrow(id),
						ledger.Refunded(id), fund))
			}
			if err != nil {
				t.Fatalf("fund %s: %v", id, err)
			}
		}

		var got []store.OwedJob
		mustTx(t, db, func(ctx context.Context, tx *store.Tx) error {
			var err error
			got, err = tx.OwedEndedJobs(ctx)
			return err
		})
		want := []store.OwedJob{{ID: "in-flight", RefundPending: true},
			{ID: "owed"}, {ID: "owed-too"}}
		if !reflect.DeepEqual(got, want) {

			t.Fatalf("owed ended jobs %v, want %v", got, want)
		}
	})
}
