package rpc

import (
	"context"
	"fmt"

	"connectrpc.com/connect"
	"github.com/sluice-ln/sluice/rpc/sluicerpc"
	"github.com/sluice-ln/sluice/settlement"
)

// The JobService's workload calls: the provider's serving agent fetches
// what a job runs and submits how the run ended; the buyer reads the
// output. The permission table keeps each call to its roles; the handlers
// keep each caller to its own jobs.

// GetJobWorkload returns a job's workload to its provider or the operator.
func (s *jobService) GetJobWorkload(ctx context.Context,
	req *connect.Request[sluicerpc.GetJobWorkloadRequest]) (
	*connect.Response[sluicerpc.GetJobWorkloadResponse], error) {

	c, err := caller(ctx)
	if err != nil {
		return nil, err
	}
	st, err := s.ownJob(ctx, c, req.Msg.JobId, "get job workload")
	if err != nil {
		return nil, err
	}
	w, err := s.backend.GetJobWorkload(ctx, st.ID)
	if err != nil {
		return nil, jobError("get job workload", err)
	}
	resp := &sluicerpc.GetJobWorkloadResponse{
		Workload: &sluicerpc.Workload{Argv: w.Argv, Inputs: w.Inputs},
		Spec:     map[string]int64{},
	}
	for r, n := range st.Spec {
		resp.Spec[string(r)] = n
	}
	return connect.NewResponse(resp), nil
}

// SubmitJobResult records the result of a job's workload, from the job's
// provider.
func (s *jobService) SubmitJobResult(ctx context.Context,
	req *connect.Request[sluicerpc.SubmitJobResultRequest]) (
	*connect.Response[sluicerpc.SubmitJobResultResponse], error) {

	c, err := caller(ctx)
	if err != nil {
		return nil, err
	}
	m := req.Msg
	st, err := s.ownJob(ctx, c, m.JobId, "submit job result")
	if err != nil {
		return nil, err
	}
	r := settlement.Result{
		ExitCode: int(m.ExitCode), Signal: m.Signal, Reason: m.Reason,
		Output: m.Output, Truncated: m.Truncated,
	}
	if int64(r.ExitCode) != m.ExitCode {
		return nil, connect.NewError(connect.CodeInvalidArgument,
			fmt.Errorf("exit_code %d is out of range", m.ExitCode))
	}
	if len(m.OutputSha256) != len(r.OutputSHA256) {
		return nil, connect.NewError(connect.CodeInvalidArgument,
			fmt.Errorf("output_sha256 is %d bytes, not %d",
				len(m.OutputSha256), len(r.OutputSHA256)))
	}
	copy(r.OutputSHA256[:], m.OutputSha256)
	info, err := s.backend.SubmitResult(ctx, st.ID, c.ProviderID, r)
	if err != nil {
		return nil, jobError("submit job result", err)
	}
	return connect.NewResponse(&sluicerpc.SubmitJobResultResponse{
		Result: resultProto(info),
	}), nil
}

// GetJobOutput returns a job's output to its buyer or the operator.
func (s *jobService) GetJobOutput(ctx context.Context,
	req *connect.Request[sluicerpc.GetJobOutputRequest]) (
	*connect.Response[sluicerpc.GetJobOutputResponse], error) {

	c, err := caller(ctx)
	if err != nil {
		return nil, err
	}
	st, err := s.ownJob(ctx, c, req.Msg.JobId, "get job output")
	if err != nil {
		return nil, err
	}
	r, err := s.backend.GetJobOutput(ctx, st.ID)
	if err != nil {
		return nil, jobError("get job output", err)
	}
	return connect.NewResponse(&sluicerpc.GetJobOutputResponse{
		Result: resultProto(r.Info()), Output: r.Output,
	}), nil
}

// resultProto is a job's result as the API shows it.
func resultProto(r settlement.ResultInfo) *sluicerpc.JobResult {
	return &sluicerpc.JobResult{
		ExitCode: int64(r.ExitCode), Signal: r.Signal, Reason: r.Reason,
		OutputSha256:    r.OutputSHA256[:],
		OutputSizeBytes: int64(r.OutputSize), Truncated: r.Truncated,
		SubmittedAt: ts(r.SubmittedAt),
	}
}
