package settlement_test

import (
	"bytes"
	"crypto/sha256"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/sluice-ln/sluice/channels"
	"github.com/sluice-ln/sluice/settlement"
)

// TestWorkloadValidate checks the workload's rules: the size cap is its
// own error, the rest ErrInvalidWorkload naming the part at fault.
func TestWorkloadValidate(t *testing.T) {
	t.Parallel()
	many := map[string][]byte{}
	for i := range settlement.MaxWorkloadInputs + 1 {
		many[strings.Repeat("f", i+1)] = nil
	}
	atCap := map[string][]byte{
		"in": make([]byte, settlement.MaxWorkloadBytes-len("cat")-
			len("in")),
	}
	overCap := map[string][]byte{
		"in": make([]byte, settlement.MaxWorkloadBytes-len("cat")-
			len("in")+1),
	}
	tests := []struct {
		name string
		w    settlement.Workload
		want error
		says string
	}{
		{"command alone", settlement.Workload{Argv: []string{"true"}},
			nil, ""},
		{"with inputs", settlement.Workload{
			Argv: []string{"sh", "run.sh", "--flag=a b"},
			Inputs: map[string][]byte{"run.sh": []byte("echo"),
				"empty": nil, "data_1.bin": {0, 1}},
		}, nil, ""},
		{"at the cap", settlement.Workload{Argv: []string{"cat"},
			Inputs: atCap}, nil, ""},
		{"one byte over the cap", settlement.Workload{
			Argv: []string{"cat"}, Inputs: overCap},
			settlement.ErrWorkloadTooLarge, "65537 bytes"},
		{"argv alone over the cap", settlement.Workload{
			Argv: []string{strings.Repeat("a",
				settlement.MaxWorkloadBytes+1)}},
			settlement.ErrWorkloadTooLarge, "above 65536"},
		{"no argv", settlement.Workload{},
			settlement.ErrInvalidWorkload, "argv is empty"},
		{"empty argument", settlement.Workload{
			Argv: []string{"echo", ""}},
			settlement.ErrInvalidWorkload, "argv[1] is empty"},
		{"NUL in argument", settlement.Workload{
			Argv: []string{"echo", "a\x00b"}},
			settlement.ErrInvalidWorkload, "argv[1] holds a NUL"},
		{"argument not UTF-8", settlement.Workload{
			Argv: []string{"echo\xff"}},
			settlement.ErrInvalidWorkload, "argv[0] is not UTF-8"},
		{"too many inputs", settlement.Workload{
			Argv: []string{"ls"}, Inputs: many},
			settlement.ErrInvalidWorkload, "65 inputs"},
		{"empty name", settlement.Workload{Argv: []string{"ls"},
			Inputs: map[string][]byte{"": {1}}},
			settlement.ErrInvalidWorkload, "name is empty"},
		{"dot", settlement.Workload{Argv: []string{"ls"},
			Inputs: map[string][]byte{".": {1}}},
			settlement.ErrInvalidWorkload, "a directory"},
		{"dot dot", settlement.Workload{Argv: []string{"ls"},
			Inputs: map[string][]byte{"..": {1}}},
			settlement.ErrInvalidWorkload, "a directory"},
		{"a path", settlement.Workload{Argv: []string{"ls"},
			Inputs: map[string][]byte{"../etc/passwd": {1}}},
			settlement.ErrInvalidWorkload, "single path element"},
		{"absolute", settlement.Workload{Argv: []string{"ls"},
			Inputs: map[string][]byte{"/x": {1}}},
			settlement.ErrInvalidWorkload, "single path element"},
		{"NUL in name", settlement.Workload{Argv: []string{"ls"},
			Inputs: map[string][]byte{"a\x00": {1}}},
			settlement.ErrInvalidWorkload, "NUL"},
		{"long name", settlement.Workload{Argv: []string{"ls"},
			Inputs: map[string][]byte{strings.Repeat("n", 256): {}}},
			settlement.ErrInvalidWorkload, "256 bytes"},
		// The sandbox's rule: what it would refuse, job creation
		// refuses.
		{"hidden", settlement.Workload{Argv: []string{"ls"},
			Inputs: map[string][]byte{".hidden": {1}}},
			settlement.ErrInvalidWorkload, "plain file name"},
		{"option-like", settlement.Workload{Argv: []string{"ls"},
			Inputs: map[string][]byte{"-rf": {1}}},
			settlement.ErrInvalidWorkload, "plain file name"},
		{"a space", settlement.Workload{Argv: []string{"ls"},
			Inputs: map[string][]byte{"a b": {1}}},
			settlement.ErrInvalidWorkload, "plain file name"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.w.Validate()
			if tc.want == nil {
				if err != nil {
					t.Fatalf("refused: %v", err)
				}
				return
			}
			if !errors.Is(err, tc.want) ||
				!strings.Contains(err.Error(), tc.says) {

				t.Fatalf("err = %v, want %v saying %q", err,
					tc.want, tc.says)
			}
		})
	}
}

// TestResultValidate checks a result's rules.
func TestResultValidate(t *testing.T) {
	t.Parallel()
	out := []byte("hello\n")
	sum := sha256.Sum256(out)
	big := make([]byte, settlement.MaxOutputBytes+1)
	tests := []struct {
		name string
		r    settlement.Result
		want error
	}{
		{"exit 0", settlement.Result{Output: out, OutputSHA256: sum},
			nil},
		{"no output", settlement.Result{ExitCode: 255,
			OutputSHA256: sha256.Sum256(nil)}, nil},
		{"killed", settlement.Result{ExitCode: -1, Signal: "SIGKILL",
			Reason: "job ended", Output: out, OutputSHA256: sum},
			nil},
		{"truncated: the whole output's hash", settlement.Result{
			Output:       big[:settlement.MaxOutputBytes],
			OutputSHA256: sha256.Sum256(big), Truncated: true}, nil},
		{"output over the cap", settlement.Result{Output: big,
			OutputSHA256: sha256.Sum256(big)},
			settlement.ErrOutputTooLarge},
		{"truncated and still over the cap", settlement.Result{
			Output: big, Truncated: true},
			settlement.ErrOutputTooLarge},
		{"wrong hash", settlement.Result{Output: out,
			OutputSHA256: sha256.Sum256([]byte("other"))},
			settlement.ErrInvalidResult},
		{"exit 256", settlement.Result{ExitCode: 256,
			OutputSHA256: sha256.Sum256(nil)},
			settlement.ErrInvalidResult},
		{"exit -1 without a signal", settlement.Result{ExitCode: -1,
			OutputSHA256: sha256.Sum256(nil)},
			settlement.ErrInvalidResult},
		{"a signal with an exit code", settlement.Result{ExitCode: 9,
			Signal: "SIGKILL", OutputSHA256: sha256.Sum256(nil)},
			settlement.ErrInvalidResult},
		{"long reason", settlement.Result{Reason: strings.Repeat("r",
			settlement.MaxReasonBytes+1),
			OutputSHA256: sha256.Sum256(nil)},
			settlement.ErrInvalidResult},
		{"long signal", settlement.Result{ExitCode: -1,
			Signal:       strings.Repeat("S", 33),
			OutputSHA256: sha256.Sum256(nil)},
			settlement.ErrInvalidResult},
		{"reason not UTF-8", settlement.Result{Reason: "\xff",
			OutputSHA256: sha256.Sum256(nil)},
			settlement.ErrInvalidResult},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.r.Validate()
			if (tc.want == nil) != (err == nil) ||
				tc.want != nil && !errors.Is(err, tc.want) {

				t.Fatalf("err = %v, want %v", err, tc.want)
			}
		})
	}
}

// createWith makes a job of 10 msat/s with the workload.
func (e *env) createWith(w *settlement.Workload) (settlement.Status, error) {
	return e.m.CreateJob(e.ctx, settlement.CreateJobRequest{
		BuyerID: e.buyer, ProviderID: e.prov.ID,
		Spec:   settlement.Spec{channels.ResourceCPU: 1000},
		Budget: 100_000, BufferSeconds: 1, Workload: w,
	})
}

// TestCreateJobWithWorkload checks that a workload is stored with its
// job, shown without its bytes, fetched with them, and that a job
// refused for its workload leaves nothing behind.
func TestCreateJobWithWorkload(t *testing.T) {
	e := newEnv(t)
	w := settlement.Workload{
		Argv: []string{"sh", "run.sh", "a b"},
		Inputs: map[string][]byte{"run.sh": []byte("cat data\n"),
			"data": {0, 1, 2, 255}, "empty": {}},
	}
	st, err := e.createWith(&w)
	if err != nil {
		t.Fatal(err)
	}
	want := settlement.WorkloadInfo{Argv: w.Argv,
		Inputs: []settlement.InputInfo{{Name: "data", Size: 4}, {Name: "empty", Size: 0},
			{Name: "run.sh", Size: 9}}}
	for _, got := range []settlement.Status{st, e.get(st.ID)} {
		if got.Workload == nil || !sameInfo(*got.Workload, want) ||
			got.Result != nil {

			t.Fatalf("status: workload %+v, result %+v",
				got.Workload, got.Result)
		}
		if got.Workload.Size() != w.Size() {
			t.Fatalf("size %d, want %d", got.Workload.Size(),
				w.Size())
		}
	}
	list, err := e.m.ListJobs(e.ctx, settlement.ListFilter{})
	if err != nil || len(list) != 1 || list[0].Workload == nil {
		t.Fatalf("ListJobs: %+v, %v", list, err)
	}
	got, err := e.m.GetJobWorkload(e.ctx, st.ID)
	if err != nil || !sameWorkload(got, w) {
		t.Fatalf("GetJobWorkload = %+v, %v", got, err)
	}

	// Refused for its workload: no job, no invoice.
	invoices := e.hub.Calls("AddInvoice")
	big := settlement.Workload{Argv: []string{"cat"},
		Inputs: map[string][]byte{"x": make([]byte,
			settlement.MaxWorkloadBytes)}}
	_, err = e.createWith(&big)
	wantErr(t, "too large", err, settlement.ErrWorkloadTooLarge)
	_, err = e.createWith(&settlement.Workload{})
	wantErr(t, "no argv", err, settlement.ErrInvalidWorkload)
	if list, _ := e.m.ListJobs(e.ctx, settlement.ListFilter{}); len(list) != 1 ||
		e.hub.Calls("AddInvoice") != invoices {

		t.Fatalf("refused jobs left %d jobs, %d invoices", len(list),
			e.hub.Calls("AddInvoice")-invoices)
	}

	// A job without a workload: as before.
	plain, err := e.createWith(nil)
	if err != nil || plain.Workload != nil {
		t.Fatalf("plain job: %+v, %v", plain.Workload, err)
	}
	_, err = e.m.GetJobWorkload(e.ctx, plain.ID)
	wantErr(t, "workload of a plain job", err, settlement.ErrNoWorkload)
	_, err = e.m.GetJobWorkload(e.ctx, "job-none")
	wantErr(t, "workload of no job", err, settlement.ErrJobNotFound)
}

// sameInfo compares workload infos.
func sameInfo(a, b settlement.WorkloadInfo) bool {
	if strings.Join(a.Argv, "\x00") != strings.Join(b.Argv, "\x00") ||
		len(a.Inputs) != len(b.Inputs) {

		return false
	}
	for i := range a.Inputs {
		if a.Inputs[i] != b.Inputs[i] {
			return false
		}
	}
	return true
}

// sameWorkload compares workloads, an empty input equal to a nil one.
func sameWorkload(a, b settlement.Workload) bool {
	if !sameInfo(a.Info(), b.Info()) {
		return false
	}
	for name, content := range a.Inputs {
		if !bytes.Equal(content, b.Inputs[name]) {
			return false
		}
	}
	return true
}

// result is a result with out as its whole output.
func result(code int, out string) settlement.Result {
	return settlement.Result{ExitCode: code, Output: []byte(out),
		OutputSHA256: sha256.Sum256([]byte(out))}
}

// TestSubmitResult checks who may submit a job's result and when: its
// provider, for a job with a workload its agent started, once: the same
// result again is taken, a different one refused. The buyer reads it
// back whole.
func TestSubmitResult(t *testing.T) {
	e := newEnv(t)
	e.start(e.m)
	w := settlement.Workload{Argv: []string{"echo", "hi"}}
	st, err := e.createWith(&w)
	if err != nil {
		t.Fatal(err)
	}
	r := result(0, "hi\n")

	_, err = e.m.SubmitResult(e.ctx, st.ID, e.prov.ID, r)
	wantErr(t, "before funding", err, settlement.ErrJobNotStarted)
	e.fund(st, 0)
	_, err = e.m.SubmitResult(e.ctx, st.ID, e.prov.ID, r)
	wantErr(t, "funded, not started", err, settlement.ErrJobNotStarted)
	if _, err := e.startJob(st.ID); err != nil {
		t.Fatal(err)
	}
	_, err = e.m.SubmitResult(e.ctx, st.ID, "prov-other", r)
	wantErr(t, "another provider", err, settlement.ErrNotAllowed)
	_, err = e.m.SubmitResult(e.ctx, st.ID, e.prov.ID,
		withHash(result(0, "hi\n"), "bye\n"))
	wantErr(t, "hash of other bytes", err, settlement.ErrInvalidResult)
	_, err = e.m.GetJobOutput(e.ctx, st.ID)
	wantErr(t, "output before a result", err, settlement.ErrNoResult)

	info, err := e.m.SubmitResult(e.ctx, st.ID, e.prov.ID, r)
	if err != nil || info.ExitCode != 0 || info.OutputSize != 3 ||
		info.OutputSHA256 != r.OutputSHA256 || info.SubmittedAt.IsZero() {

		t.Fatalf("SubmitResult = %+v, %v", info, err)
	}
	e.clock.Advance(time.Second)
	again, err := e.m.SubmitResult(e.ctx, st.ID, e.prov.ID, r)
	if err != nil || again != info {
		t.Fatalf("the same result again = %+v, %v; want %+v", again,
			err, info)
	}
	for name, other := range map[string]settlement.Result{
		"exit code": result(1, "hi\n"),
		"output":    result(0, "ho\n"),
		"signal": {ExitCode: -1, Signal: "SIGTERM",
			Output: r.Output, OutputSHA256: r.OutputSHA256},
		"truncated": {Output: r.Output, Truncated: true,
			OutputSHA256: r.OutputSHA256},
	} {
		_, err := e.m.SubmitResult(e.ctx, st.ID, e.prov.ID, other)
		wantErr(t, "a different "+name, err,
			settlement.ErrResultConflict)
	}
	got := e.get(st.ID)
	if got.Result == nil || *got.Result != info {
		t.Fatalf("GetJob result = %+v, want %+v", got.Result, info)
	}
	out, err := e.m.GetJobOutput(e.ctx, st.ID)
	if err != nil || string(out.Output) != "hi\n" ||
		out.Info() != info {

		t.Fatalf("GetJobOutput = %+v, %v", out, err)
	}

	// A job without a workload takes no result, started or not.
	plain, err := e.createWith(nil)
	if err != nil {
		t.Fatal(err)
	}
	e.fund(plain, 0)
	if _, err := e.startJob(plain.ID); err != nil {
		t.Fatal(err)
	}
	_, err = e.m.SubmitResult(e.ctx, plain.ID, e.prov.ID, r)
	wantErr(t, "plain job", err, settlement.ErrNoWorkload)
	_, err = e.m.GetJobOutput(e.ctx, plain.ID)
	wantErr(t, "output of a plain job", err, settlement.ErrNoWorkload)
	_, err = e.m.SubmitResult(e.ctx, "job-none", e.prov.ID, r)
	wantErr(t, "no job", err, settlement.ErrJobNotFound)
}

// withHash is r claiming the hash of other bytes.
func withHash(r settlement.Result, s string) settlement.Result {
	r.OutputSHA256 = sha256.Sum256([]byte(s))
	return r
}

// TestSubmitResultAfterEnd checks that a run the agent stopped when its
// job ended still reports, and that a job ended before it started takes
// no result.
func TestSubmitResultAfterEnd(t *testing.T) {
	e := newEnv(t)
	e.start(e.m)
	w := settlement.Workload{Argv: []string{"sleep", "600"}}
	started, err := e.createWith(&w)
	if err != nil {
		t.Fatal(err)
	}
	never, err := e.createWith(&w)
	if err != nil {
		t.Fatal(err)
	}
	e.fund(started, 0)
	e.fund(never, 0)
	if _, err := e.startJob(started.ID); err != nil {
		t.Fatal(err)
	}
	for _, id := range []string{started.ID, never.ID} {
		_, err := e.m.EndJob(e.ctx, settlement.EndJobRequest{JobID: id,
			By: settlement.CauseEndedByBuyer})
		if err != nil {
			t.Fatal(err)
		}
	}
	killed := settlement.Result{ExitCode: -1, Signal: "SIGKILL",
		Reason: "the job ended", OutputSHA256: sha256.Sum256(nil)}
	if _, err := e.m.SubmitResult(e.ctx, started.ID, e.prov.ID,
		killed); err != nil {

		t.Fatalf("result of an ended job: %v", err)
	}
	_, err = e.m.SubmitResult(e.ctx, never.ID, e.prov.ID, killed)
	wantErr(t, "ended before it started", err,
		settlement.ErrJobNotStarted)
}

// TestSubmitResultRace submits different results for one job at once:
// exactly one is recorded, every other submission is refused as a
// conflict.
func TestSubmitResultRace(t *testing.T) {
	e := newEnv(t)
	e.start(e.m)
	st, err := e.createWith(&settlement.Workload{Argv: []string{"true"}})
	if err != nil {
		t.Fatal(err)
	}
	e.fund(st, 0)
	if _, err := e.startJob(st.ID); err != nil {
		t.Fatal(err)
	}
	const n = 8
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, errs[i] = e.m.SubmitResult(e.ctx, st.ID, e.prov.ID,
				result(i, "out"))
		}()
	}
	wg.Wait()
	won := -1
	for i, err := range errs {
		switch {
		case err == nil && won >= 0:
			t.Fatalf("results %d and %d both recorded", won, i)
		case err == nil:
			won = i
		case !errors.Is(err, settlement.ErrResultConflict):
			t.Fatalf("result %d: %v", i, err)
		}
	}
	out, err := e.m.GetJobOutput(e.ctx, st.ID)
	if won < 0 || err != nil || out.ExitCode != won {
		t.Fatalf("recorded %+v, %v; winner %d", out.Info(), err, won)
	}
}
