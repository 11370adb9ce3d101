package store_test

import (
	"context"
	"errors"
	"reflect"
	"testing"
	"time"

	"github.com/sluice-ln/sluice/store"
	"github.com/sluice-ln/sluice/store/storetest"
)

// meteredJobs stores buyer b1 and the jobs usage can refer to.
func meteredJobs(t *testing.T, db *store.DB, ids ...string) {
	t.Helper()

	mustTx(t, db, func(ctx context.Context, tx *store.Tx) error {
		err := tx.InsertBuyer(ctx, store.Buyer{ID: "b1", Name: "alice",
			CreatedAt: setAt})
		if err != nil {
			return err
		}
		for _, id := range ids {
			if err := tx.InsertJob(ctx, testJob(id, setAt)); err != nil {
				return err
			}
		}
		return nil
	})
}

// usageRows returns records seq from..to of a job.
func usageRows(job string, from, to int64) []store.UsageRecord {
	var recs []store.UsageRecord
	for s := from; s <= to; s++ {
		recs = append(recs, store.UsageRecord{
			JobID: job, Seq: s, Second: 1_767_225_600 + s,
			CPU: 1000 + s, Mem: 64, Price: 3, Fee: 1,
			BatchHash: hashOf("a"),
		})
	}

	return recs
}

// TestMeteringUsageRecords inserts usage in chunks, reads ranges back and
// has the schema refuse duplicates, unknown jobs and impossible rows.
func TestMeteringUsageRecords(t *testing.T) {
	t.Parallel()

	storetest.ForEachBackend(t, func(t *testing.T, cfg store.Config) {
		t.Parallel()
		db := storetest.Open(t, cfg)
		meteredJobs(t, db, "job-1", "job-2")

		// More rows than one statement carries.
		all := usageRows("job-1", 1, 1234)
		mustTx(t, db, func(ctx context.Context, tx *store.Tx) error {
			if err := tx.InsertUsageRecords(ctx, all); err != nil {
				return err
			}
			return tx.InsertUsageRecords(ctx,
				usageRows("job-2", 1, 3))
		})

		tests := []struct {
			name     string
			job      string
			from, to int64
			want     []store.UsageRecord
		}{
			{"range", "job-1", 499, 502, all[498:502]},
			{"all", "job-1", 1, 1234, all},
			{"past the end", "job-1", 1230, 2000, all[1229:]},
			{"other job", "job-2", 1, 9, usageRows("job-2", 1, 3)},
			{"none", "job-1", 2000, 3000, nil},
			{"unknown job", "job-9", 1, 9, nil},
		}
		for _, tc := range tests {
			var got []store.UsageRecord
			mustTx(t, db, func(ctx context.Context,
				tx *store.Tx) error {

				var err error
				got, err = tx.UsageRecords(ctx, tc.job, tc.from,
					tc.to)
				return err
			})
			if !reflect.DeepEqual(got, tc.want) {
				t.Fatalf("%s: got %d records, want %d", tc.name,
					len(got), len(tc.want))
			}
		}

		bad := func(mutate func(r *store.UsageRecord)) []store.UsageRecord {
			r := usageRows("job-2", 10, 10)
			mutate(&r[0])
			return r
		}
		refused := []struct {
			name string
			recs []store.UsageRecord
			want error
		}{
			{"duplicate seq", usageRows("job-2", 3, 4),
				store.ErrUniqueViolation},
			{"unknown job", usageRows("job-9", 1, 1),
				store.ErrForeignKeyViolation},
			{"seq 0", bad(func(r *store.UsageRecord) { r.Seq = 0 }),
				store.ErrCheckViolation},
			{"negative cpu", bad(func(r *store.UsageRecord) {
				r.CPU = -1
			}), store.ErrCheckViolation},
			{"fee above price", bad(func(r *store.UsageRecord) {
				r.Fee = r.Price + 1
			}), store.ErrCheckViolation},
			{"short hash", bad(func(r *store.UsageRecord) {
				r.BatchHash = "ab"
			}), store.ErrCheckViolation},
		}
		for _, tc := range refused {
			err := inTx(t, db, func(ctx context.Context,
				tx *store.Tx) error {

				return tx.InsertUsageRecords(ctx, tc.recs)
			})
			if !errors.Is(err, tc.want) {
				t.Fatalf("%s: err = %v, want %v", tc.name, err,
					tc.want)
			}
		}

		// The refused inserts left nothing behind.
		mustTx(t, db, func(ctx context.Context, tx *store.Tx) error {
			got, err := tx.UsageRecords(ctx, "job-2", 1, 100)
			if err == nil && len(got) != 3 {
				t.Fatalf("job-2 has %d records", len(got))
			}
			return err
		})
	})
}

// TestMeteringUsageMeter creates, reads and updates a job's meter state.
func TestMeteringUsageMeter(t *testing.T) {
	t.Parallel()

	storetest.ForEachBackend(t, func(t *testing.T, cfg store.Config) {
		t.Parallel()
		db := storetest.Open(t, cfg)
		meteredJobs(t, db, "job-1")

		err := inTx(t, db, func(ctx context.Context, tx *store.Tx) error {
			_, err := tx.UsageMeter(ctx, "job-1")
			return err
		})
		if !errors.Is(err, store.ErrNotFound) {
			t.Fatalf("unmetered job: err = %v", err)
		}

		m := store.UsageMeter{
			JobID: "job-1", LastSeq: 10, LastSecond: 1_767_225_610,
			Carry: "0.000000000000000001", Charged: 1234, Fees: 30,
			FeeRate: 250, UpdatedAt: setAt,
		}
		later := m
		later.LastSeq, later.Carry, later.Charged = 11, "0.5", 1300
		later.UpdatedAt = setAt.Add(time.Second)

		for _, want := range []store.UsageMeter{m, later} {
			mustTx(t, db, func(ctx context.Context,
				tx *store.Tx) error {

				return tx.PutUsageMeter(ctx, want)
			})
			var got store.UsageMeter
			mustTx(t, db, func(ctx context.Context,
				tx *store.Tx) error {

				var err error
				got, err = tx.UsageMeter(ctx, "job-1")
				return err
			})
			want.UpdatedAt = utcMicro(want.UpdatedAt)
			if got != want {
				t.Fatalf("meter %+v, want %+v", got, want)
			}
		}

		refused := []struct {
			name   string
			mutate func(m *store.UsageMeter)
			want   error
		}{
			{"unknown job", func(m *store.UsageMeter) {
				m.JobID = "job-9"
			}, store.ErrForeignKeyViolation},
			{"fee rate over 100%", func(m *store.UsageMeter) {
				m.FeeRate = 10001
			}, store.ErrCheckViolation},
			{"fees above charged", func(m *store.UsageMeter) {
				m.Fees = m.Charged + 1
			}, store.ErrCheckViolation},
			{"empty carry", func(m *store.UsageMeter) {
				m.Carry = ""
			}, store.ErrCheckViolation},
		}
		for _, tc := range refused {
			bad := m
			tc.mutate(&bad)
			err := inTx(t, db, func(ctx context.Context,
				tx *store.Tx) error {

				return tx.PutUsageMeter(ctx, bad)
			})
			if !errors.Is(err, tc.want) {
				t.Fatalf("%s: err = %v, want %v", tc.name, err,
					tc.want)
			}
		}
	})
}
