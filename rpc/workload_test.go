package rpc

import (
	"context"
	"crypto/sha256"
	"fmt"
	"testing"
	"time"

	"connectrpc.com/connect"
	"github.com/sluice-ln/sluice/rpc/sluicerpc"
	"github.com/sluice-ln/sluice/settlement"
)

func (f *fakeJobs) GetJobWorkload(_ context.Context, id string) (
	settlement.Workload, error) {

	f.mu.Lock()
	defer f.mu.Unlock()
	if f.workErr != nil {
		return settlement.Workload{}, f.workErr
	}
	w, ok := f.workloads[id]
	if !ok {
		return settlement.Workload{}, fmt.Errorf("%w: job %s",
			settlement.ErrNoWorkload, id)
	}
	return w, nil
}

func (f *fakeJobs) SubmitResult(_ context.Context, jobID, providerID string,
	r settlement.Result) (settlement.ResultInfo, error) {

	f.mu.Lock()
	defer f.mu.Unlock()
	f.submittedBy = providerID
	if f.workErr != nil {
		return settlement.ResultInfo{}, f.workErr
	}
	if have, ok := f.results[jobID]; ok && !have.Result.Equal(r) {
		return settlement.ResultInfo{}, fmt.Errorf("%w: job %s",
			settlement.ErrResultConflict, jobID)
	}
	stored := settlement.StoredResult{JobID: jobID, Result: r,
		SubmittedAt: time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC)}
	f.results[jobID] = stored
	return stored.Info(), nil
}

func (f *fakeJobs) GetJobOutput(_ context.Context, id string) (
	settlement.StoredResult, error) {

	f.mu.Lock()
	defer f.mu.Unlock()
	if f.workErr != nil {
		return settlement.StoredResult{}, f.workErr
	}
	r, ok := f.results[id]
	if !ok {
		return settlement.StoredResult{}, fmt.Errorf("%w: job %s",
			settlement.ErrNoResult, id)
	}
	return r, nil
}

// TestJobWorkloadAccess checks who may fetch a job's workload (its
// provider and the operator), submit its result (its provider alone, as
// itself) and read its output (its buyer and the operator), and that
// GetJob shows the workload and result without their bytes.
func TestJobWorkloadAccess(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	fake := newFakeJobs(
		settlement.Job{ID: "job-a", BuyerID: "buyer-a",
			ProviderID: "prov-1", State: settlement.StateRunning,
			Spec: settlement.Spec{"cpu": 1000}},
	)
	fake.workloads["job-a"] = settlement.Workload{
		Argv:   []string{"sh", "run.sh"},
		Inputs: map[string][]byte{"run.sh": []byte("echo hi\n")},
	}
	c := startJobDaemon(t, fake)
	macs := map[string]string{
		"operator": c.d.macaroonHex(t, OperatorMacaroonFile),
		"buyer-a":  c.d.buyerHex(t, "buyer-a"),
		"buyer-b":  c.d.buyerHex(t, "buyer-b"),
		"prov-1":   c.d.providerHex(t, "prov-1"),
		"prov-3":   c.d.providerHex(t, "prov-3"),
		"none":     "",
	}
	deny, unauth := connect.CodePermissionDenied,
		connect.CodeUnauthenticated
	check := func(what, who string, err error, want connect.Code) {
		t.Helper()
		if connect.CodeOf(err) != want && !(want == 0 && err == nil) {
			t.Errorf("%s by %s: %v, want %v", what, who, err, want)
		}
	}

	// Fetching the workload.
	for who, want := range map[string]connect.Code{
		"operator": 0, "prov-1": 0, "prov-3": deny, "buyer-a": deny,
		"none": unauth,
	} {
		resp, err := c.jobs.GetJobWorkload(ctx, withMac(
			&sluicerpc.GetJobWorkloadRequest{JobId: "job-a"},
			macs[who]))
		check("GetJobWorkload", who, err, want)
		if err == nil && (len(resp.Msg.Workload.Argv) != 2 ||
			string(resp.Msg.Workload.Inputs["run.sh"]) !=
				"echo hi\n" || resp.Msg.Spec["cpu"] != 1000) {

			t.Errorf("GetJobWorkload by %s: %v", who, resp.Msg)
		}
	}

	// Submitting the result: the backend hears the macaroon's provider.
	out := []byte("hi\n")
	sum := sha256.Sum256(out)
	submit := &sluicerpc.SubmitJobResultRequest{JobId: "job-a",
		ExitCode: 3, Output: out, OutputSha256: sum[:]}
	for _, tc := range []struct {
		who  string
		want connect.Code
	}{
		{"operator", deny}, {"buyer-a", deny}, {"prov-3", deny},
		{"none", unauth}, {"prov-1", 0},
	} {
		fake.submittedBy = ""
		resp, err := c.jobs.SubmitJobResult(ctx, withMac(submit,
			macs[tc.who]))
		check("SubmitJobResult", tc.who, err, tc.want)
		if err != nil {
			if fake.submittedBy != "" {
				t.Errorf("%s reached the backend", tc.who)
			}
			continue
		}
		if fake.submittedBy != "prov-1" ||
			resp.Msg.Result.ExitCode != 3 ||
			resp.Msg.Result.OutputSizeBytes != 3 {

			t.Errorf("SubmitJobResult: %v, by %q", resp.Msg,
				fake.submittedBy)
		}
	}
	// A hash of the wrong length never reaches the backend.
	_, err := c.jobs.SubmitJobResult(ctx, withMac(
		&sluicerpc.SubmitJobResultRequest{JobId: "job-a",
			OutputSha256: sum[:5]}, macs["prov-1"]))
	check("short hash", "prov-1", err, connect.CodeInvalidArgument)

	// Reading the output.
	for who, want := range map[string]connect.Code{
		"operator": 0, "buyer-a": 0, "buyer-b": deny, "prov-1": deny,
		"none": unauth,
	} {
		resp, err := c.jobs.GetJobOutput(ctx, withMac(
			&sluicerpc.GetJobOutputRequest{JobId: "job-a"},
			macs[who]))
		check("GetJobOutput", who, err, want)
		if err == nil && (string(resp.Msg.Output) != "hi\n" ||
			string(resp.Msg.Result.OutputSha256) !=
				string(sum[:])) {

			t.Errorf("GetJobOutput by %s: %v", who, resp.Msg)
		}
	}
}

// TestJobWorkloadErrors checks the status codes of the workload's
// errors, and that CreateJob passes the workload on.
func TestJobWorkloadErrors(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	fake := newFakeJobs(settlement.Job{ID: "job-a", BuyerID: "buyer-a",
		ProviderID: "prov-1", State: settlement.StateRunning})
	c := startJobDaemon(t, fake)
	prov := c.d.providerHex(t, "prov-1")
	buyer := c.d.buyerHex(t, "buyer-a")

	_, err := c.jobs.CreateJob(ctx, withMac(&sluicerpc.CreateJobRequest{
		ProviderId: "prov-1", BudgetMsat: 1000,
		Workload: &sluicerpc.Workload{Argv: []string{"cat", "in"},
			Inputs: map[string][]byte{"in": []byte("x")}},
	}, buyer))
	if err != nil || fake.created.Workload == nil ||
		len(fake.created.Workload.Argv) != 2 ||
		string(fake.created.Workload.Inputs["in"]) != "x" {

		t.Fatalf("CreateJob with a workload: %v, %+v", err,
			fake.created.Workload)
	}

	sum := sha256.Sum256(nil)
	tests := []struct {
		err  error
		want connect.Code
	}{
		{settlement.ErrWorkloadTooLarge, connect.CodeInvalidArgument},
		{settlement.ErrInvalidWorkload, connect.CodeInvalidArgument},
		{settlement.ErrOutputTooLarge, connect.CodeInvalidArgument},
		{settlement.ErrInvalidResult, connect.CodeInvalidArgument},
		{settlement.ErrNoWorkload, connect.CodeFailedPrecondition},
		{settlement.ErrNoResult, connect.CodeFailedPrecondition},
		{settlement.ErrJobNotStarted, connect.CodeFailedPrecondition},
		{settlement.ErrResultConflict, connect.CodeAlreadyExists},
		{settlement.ErrNotAllowed, connect.CodePermissionDenied},
	}
	for _, tc := range tests {
		fake.mu.Lock()
		fake.workErr = fmt.Errorf("job job-a: %w", tc.err)
		fake.mu.Unlock()
		_, err := c.jobs.SubmitJobResult(ctx, withMac(
			&sluicerpc.SubmitJobResultRequest{JobId: "job-a",
				OutputSha256: sum[:]}, prov))
		if connect.CodeOf(err) != tc.want {
			t.Errorf("%v: %v, want %v", tc.err, err, tc.want)
		}
	}

	// Without a workload or result: the fake's own errors.
	fake.mu.Lock()
	fake.workErr = nil
	fake.mu.Unlock()
	_, err = c.jobs.GetJobWorkload(ctx, withMac(
		&sluicerpc.GetJobWorkloadRequest{JobId: "job-a"}, prov))
	if connect.CodeOf(err) != connect.CodeFailedPrecondition {
		t.Errorf("workload of a job without one: %v", err)
	}
	_, err = c.jobs.GetJobOutput(ctx, withMac(
		&sluicerpc.GetJobOutputRequest{JobId: "job-a"}, buyer))
	if connect.CodeOf(err) != connect.CodeFailedPrecondition {
		t.Errorf("output before a result: %v", err)
	}
	_, err = c.jobs.GetJobOutput(ctx, withMac(
		&sluicerpc.GetJobOutputRequest{JobId: "job-zz"}, buyer))
	if connect.CodeOf(err) != connect.CodeNotFound {
		t.Errorf("output of no job: %v", err)
	}
}

// TestJobProtoWorkload checks that a job's view shows its workload's
// argv, input names and sizes and its result, without bytes.
func TestJobProtoWorkload(t *testing.T) {
	t.Parallel()
	st := settlement.Status{
		Workload: &settlement.WorkloadInfo{Argv: []string{"cat", "a"},
			Inputs: []settlement.InputInfo{{Name: "a", Size: 10}}},
		Result: &settlement.ResultInfo{ExitCode: -1, Signal: "SIGKILL",
			Reason: "job ended", OutputSHA256: [32]byte{7},
			OutputSize: 5, Truncated: true},
	}
	j := jobProto(st)
	if j.Workload == nil || j.Workload.SizeBytes != 3+1+1+10 ||
		len(j.Workload.Inputs) != 1 ||
		j.Workload.Inputs[0].SizeBytes != 10 {

		t.Errorf("workload: %v", j.Workload)
	}
	if j.Result == nil || j.Result.ExitCode != -1 ||
		j.Result.Signal != "SIGKILL" || !j.Result.Truncated ||
		j.Result.OutputSha256[0] != 7 || j.Result.OutputSizeBytes != 5 {

		t.Errorf("result: %v", j.Result)
	}
	if j := jobProto(settlement.Status{}); j.Workload != nil ||
		j.Result != nil {

		t.Errorf("a job without a workload: %v, %v", j.Workload,
			j.Result)
	}
}
