package store_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"errors"
	"testing"
	"time"

	"github.com/sluice-ln/sluice/channels"
	"github.com/sluice-ln/sluice/settlement"
	"github.com/sluice-ln/sluice/store"
	"github.com/sluice-ln/sluice/store/storetest"
)

// TestWorkloadRows checks, on each backend, a job's workload and result
// as settlement's TxStore keeps them: bytes read back as written (an
// empty input and binary ones too), argv with what JSON must escape, the
// sizes without the bytes, a job without a workload or result read as
// settlement's sentinels, and a result recorded once.
func TestWorkloadRows(t *testing.T) {
	t.Parallel()

	storetest.ForEachBackend(t, func(t *testing.T, cfg store.Config) {
		t.Parallel()
		db := storetest.Open(t, cfg)
		ctx := context.Background()
		exec := func(fn func(tx settlement.TxStore) error) error {
			return db.ExecSettlement(ctx, false, fn)
		}
		at := time.Date(2026, 3, 4, 5, 6, 7, 123456000, time.UTC)
		job := func(id string) settlement.StoredJob {
			return settlement.StoredJob{
				ID: id, BuyerID: "b1", ProviderID: "p1",
				State:  settlement.StateAwaitingFunding,
				Budget: 1000, PricePerSecond: "10",
				CreatedAt: at, UpdatedAt: at,
				Resources: []settlement.StoredResource{{
					Resource:     channels.ResourceCPU,
					MaxPerSecond: 1000, Rate: "0.01"}},
			}
		}
		binary := make([]byte, 256)
		for i := range binary {
			binary[i] = byte(i)
		}
		w := settlement.Workload{
			Argv: []string{"sh", "-c", `echo "<a & b>" 'ü' \`},
			Inputs: map[string][]byte{"bin": binary,
				"empty": nil, "run.sh": []byte("cat bin\n")},
		}
		err := exec(func(tx settlement.TxStore) error {
			err := tx.InsertBuyer(ctx, settlement.Buyer{ID: "b1",
				Name: "alice", CreatedAt: at})
			if err != nil {
				return err
			}
			for _, id := range []string{"job-w", "job-plain"} {
				if err := tx.InsertJob(ctx, job(id)); err != nil {
					return err
				}
			}
			return tx.InsertJobWorkload(ctx, "job-w", w)
		})
		if err != nil {
			t.Fatal(err)
		}

		err = exec(func(tx settlement.TxStore) error {
			got, err := tx.JobWorkload(ctx, "job-w")
			if err != nil {
				return err
			}
			if len(got.Argv) != 3 || got.Argv[2] != w.Argv[2] ||
				len(got.Inputs) != 3 ||
				!bytes.Equal(got.Inputs["bin"], binary) ||
				got.Inputs["empty"] == nil ||
				len(got.Inputs["empty"]) != 0 ||
				string(got.Inputs["run.sh"]) != "cat bin\n" {

				t.Errorf("JobWorkload = %q", got)
			}
			info, err := tx.JobWorkloadInfo(ctx, "job-w")
			if err != nil {
				return err
			}
			want := []settlement.InputInfo{{Name: "bin", Size: 256},
				{Name: "empty", Size: 0}, {Name: "run.sh", Size: 8}}
			if len(info.Inputs) != 3 || info.Inputs[0] != want[0] ||
				info.Inputs[1] != want[1] ||
				info.Inputs[2] != want[2] ||
				info.Size() != w.Size() {

				t.Errorf("JobWorkloadInfo = %+v", info)
			}
			_, err = tx.JobWorkload(ctx, "job-plain")
			if !errors.Is(err, settlement.ErrNoWorkload) {
				t.Errorf("JobWorkload of a plain job: %v", err)
			}
			_, err = tx.JobWorkloadInfo(ctx, "job-plain")
			if !errors.Is(err, settlement.ErrNoWorkload) {
				t.Errorf("JobWorkloadInfo of a plain job: %v",
					err)
			}
			_, err = tx.JobResult(ctx, "job-w")
			if !errors.Is(err, settlement.ErrNoResult) {
				t.Errorf("JobResult before one: %v", err)
			}
			_, err = tx.JobResultInfo(ctx, "job-w")
			if !errors.Is(err, settlement.ErrNoResult) {
				t.Errorf("JobResultInfo before one: %v", err)
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}

		// A workload of a job that is not there, a second workload
		// of a job: refused by the schema.
		err = exec(func(tx settlement.TxStore) error {
			return tx.InsertJobWorkload(ctx, "job-none", w)
		})
		if !errors.Is(err, store.ErrForeignKeyViolation) {
			t.Errorf("workload of no job: %v", err)
		}
		err = exec(func(tx settlement.TxStore) error {
			return tx.InsertJobWorkload(ctx, "job-w", w)
		})
		if !errors.Is(err, store.ErrUniqueViolation) {
			t.Errorf("second workload: %v", err)
		}

		out := []byte{0, 'h', 'i', 0xff}
		r := settlement.StoredResult{JobID: "job-w",
			Result: settlement.Result{ExitCode: -1,
				Signal: "SIGKILL", Reason: "the job ended",
				Output: out, OutputSHA256: sha256.Sum256(out)},
			SubmittedAt: at}
		second := r
		second.ExitCode, second.Signal = 0, ""
		err = exec(func(tx settlement.TxStore) error {
			for i, rr := range []settlement.StoredResult{r, second} {
				ok, err := tx.InsertJobResult(ctx, rr)
				if err != nil {
					return err
				}
				if ok != (i == 0) {
					t.Errorf("insert %d: inserted %v", i, ok)
				}
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
		err = exec(func(tx settlement.TxStore) error {
			got, err := tx.JobResult(ctx, "job-w")
			if err != nil {
				return err
			}
			if !got.Result.Equal(r.Result) || got.JobID != "job-w" ||
				!got.SubmittedAt.Equal(at) {

				t.Errorf("JobResult = %+v, want %+v", got, r)
			}
			info, err := tx.JobResultInfo(ctx, "job-w")
			if err != nil {
				return err
			}
			if info != r.Info() {
				t.Errorf("JobResultInfo = %+v, want %+v", info,
					r.Info())
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}

		// An empty output reads back as empty bytes; a result of
		// a job without a workload is refused by the schema.
		empty := settlement.StoredResult{JobID: "job-plain",
			Result: settlement.Result{
				OutputSHA256: sha256.Sum256(nil)},
			SubmittedAt: at}
		err = exec(func(tx settlement.TxStore) error {
			_, err := tx.InsertJobResult(ctx, empty)
			return err
		})
		if !errors.Is(err, store.ErrForeignKeyViolation) {
			t.Errorf("result of a plain job: %v", err)
		}
	})
}
