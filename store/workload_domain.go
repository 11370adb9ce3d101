package store

import (
	"context"
	"database/sql"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/sluice-ln/sluice/settlement"
	"github.com/sluice-ln/sluice/store/sqlc"
)

// Jobs' workloads and results (migration 000018), as settlement's TxStore
// reads and writes them: argv as a JSON array of strings (both backends
// keep text alike, and argv is UTF-8: the API's strings are), inputs as
// one row each with their bytes, and the result with its output. A job
// without a workload has no rows, which settlement reads as
// settlement.ErrNoWorkload.

// InsertJobWorkload stores a job's workload and its inputs.
func (s settlementTx) InsertJobWorkload(ctx context.Context, jobID string,
	w settlement.Workload) error {

	argv, err := json.Marshal(w.Argv)
	if err != nil {
		return fmt.Errorf("workload of job %s: argv: %w", jobID, err)
	}
	err = s.q.InsertJobWorkload(ctx, sqlc.InsertJobWorkloadParams{
		JobID: jobID, Argv: string(argv),
	})
	if err != nil {
		return fmt.Errorf("insert workload of job %s: %w", jobID,
			mapError(err))
	}
	for _, name := range w.InputNames() {
		content := w.Inputs[name]
		if content == nil {
			// A nil slice is NULL to both drivers; an empty
			// input is empty bytes.
			content = []byte{}
		}
		err := s.q.InsertJobWorkloadInput(ctx,
			sqlc.InsertJobWorkloadInputParams{
				JobID: jobID, Name: name, Content: content,
				SizeBytes: int64(len(content)),
			})
		if err != nil {
			return fmt.Errorf("insert input %q of job %s: %w", name,
				jobID, mapError(err))
		}
	}
	return nil
}

// workloadArgv reads a job's argv; no workload is settlement.ErrNoWorkload.
func (s settlementTx) workloadArgv(ctx context.Context, jobID string) (
	[]string, error) {

	raw, err := s.q.GetJobWorkloadArgv(ctx, jobID)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, fmt.Errorf("%w: job %s", settlement.ErrNoWorkload,
			jobID)
	}
	if err != nil {
		return nil, fmt.Errorf("workload of job %s: %w", jobID,
			mapError(err))
	}
	var argv []string
	if err := json.Unmarshal([]byte(raw), &argv); err != nil {
		return nil, fmt.Errorf("workload of job %s: stored argv: %w",
			jobID, err)
	}
	return argv, nil
}

// JobWorkload returns a job's workload with its inputs' bytes.
func (s settlementTx) JobWorkload(ctx context.Context, jobID string) (
	settlement.Workload, error) {

	argv, err := s.workloadArgv(ctx, jobID)
	if err != nil {
		return settlement.Workload{}, err
	}
	rows, err := s.q.ListJobWorkloadInputs(ctx, jobID)
	if err != nil {
		return settlement.Workload{}, fmt.Errorf("inputs of job %s: %w",
			jobID, mapError(err))
	}
	w := settlement.Workload{Argv: argv}
	if len(rows) > 0 {
		w.Inputs = make(map[string][]byte, len(rows))
	}
	for _, r := range rows {
		content := r.Content
		if content == nil {
			content = []byte{}
		}
		w.Inputs[r.Name] = content
	}
	return w, nil
}

// JobWorkloadInfo returns a job's workload with its inputs' names and
// sizes.
func (s settlementTx) JobWorkloadInfo(ctx context.Context, jobID string) (
	settlement.WorkloadInfo, error) {

	argv, err := s.workloadArgv(ctx, jobID)
	if err != nil {
		return settlement.WorkloadInfo{}, err
	}
	rows, err := s.q.ListJobWorkloadInputSizes(ctx, jobID)
	if err != nil {
		return settlement.WorkloadInfo{}, fmt.Errorf("inputs of job "+
			"%s: %w", jobID, mapError(err))
	}
	w := settlement.WorkloadInfo{Argv: argv}
	for _, r := range rows {
		w.Inputs = append(w.Inputs, settlement.InputInfo{
			Name: r.Name, Size: int(r.SizeBytes),
		})
	}
	return w, nil
}

// InsertJobResult stores a job's result unless it has one.
func (s settlementTx) InsertJobResult(ctx context.Context,
	r settlement.StoredResult) (bool, error) {

	output := r.Output
	if output == nil {
		output = []byte{}
	}
	n, err := s.q.InsertJobResult(ctx, sqlc.InsertJobResultParams{
		JobID:        r.JobID,
		ExitCode:     int64(r.ExitCode),
		ExitSignal:   r.Signal,
		Reason:       r.Reason,
		OutputSha256: hex.EncodeToString(r.OutputSHA256[:]),
		Output:       output,
		OutputSize:   int64(len(output)),
		Truncated:    r.Truncated,
		SubmittedAt:  dbTime(r.SubmittedAt),
	})
	if err != nil {
		return false, fmt.Errorf("insert result of job %s: %w", r.JobID,
			mapError(err))
	}
	return n == 1, nil
}

// parseSHA256 reads a stored hex SHA-256.
func parseSHA256(jobID, s string) ([32]byte, error) {
	var h [32]byte
	raw, err := hex.DecodeString(s)
	if err != nil || len(raw) != len(h) {
		return h, fmt.Errorf("result of job %s: stored output hash "+
			"%q is not 64 hex characters", jobID, s)
	}
	copy(h[:], raw)
	return h, nil
}

// resultNotFound turns sql.ErrNoRows into settlement.ErrNoResult.
func resultNotFound(jobID string, err error) error {
	if errors.Is(err, sql.ErrNoRows) {
		return fmt.Errorf("%w: job %s", settlement.ErrNoResult, jobID)
	}
	return fmt.Errorf("result of job %s: %w", jobID, mapError(err))
}

// JobResult returns a job's result with its output.
func (s settlementTx) JobResult(ctx context.Context, jobID string) (
	settlement.StoredResult, error) {

	row, err := s.q.GetJobResult(ctx, jobID)
	if err != nil {
		return settlement.StoredResult{}, resultNotFound(jobID, err)
	}
	hash, err := parseSHA256(jobID, row.OutputSha256)
	if err != nil {
		return settlement.StoredResult{}, err
	}
	output := row.Output
	if output == nil {
		output = []byte{}
	}
	return settlement.StoredResult{
		JobID: row.JobID,
		Result: settlement.Result{
			ExitCode: int(row.ExitCode), Signal: row.ExitSignal,
			Reason: row.Reason, OutputSHA256: hash, Output: output,
			Truncated: row.Truncated,
		},
		SubmittedAt: row.SubmittedAt.UTC(),
	}, nil
}

// JobResultInfo returns a job's result without its output's bytes.
func (s settlementTx) JobResultInfo(ctx context.Context, jobID string) (
	settlement.ResultInfo, error) {

	row, err := s.q.GetJobResultInfo(ctx, jobID)
	if err != nil {
		return settlement.ResultInfo{}, resultNotFound(jobID, err)
	}
	hash, err := parseSHA256(jobID, row.OutputSha256)
	if err != nil {
		return settlement.ResultInfo{}, err
	}
	return settlement.ResultInfo{
		ExitCode: int(row.ExitCode), Signal: row.ExitSignal,
		Reason: row.Reason, OutputSHA256: hash,
		OutputSize: int(row.OutputSize), Truncated: row.Truncated,
		SubmittedAt: row.SubmittedAt.UTC(),
	}, nil
}
