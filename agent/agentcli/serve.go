package agentcli

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"sync"
	"time"

	"connectrpc.com/connect"
	"github.com/btcsuite/btclog/v2"
	"github.com/sluice-ln/sluice/agent"
	"github.com/sluice-ln/sluice/agent/sandbox"
	"github.com/sluice-ln/sluice/metering"
	"github.com/sluice-ln/sluice/rpc/sluicerpc"
	"github.com/sluice-ln/sluice/settlement"
	"golang.org/x/sys/unix"
)

const (
	// defaultServePids is the pids limit of a served workload: jobs
	// carry no such limit, so the provider chooses it (--pids).
	defaultServePids = 256

	// defaultServeWall is the wall-clock limit of a served workload:
	// jobs carry none either (--max-wall).
	defaultServeWall = time.Hour

	// maxReasonBytes is the most a result's reason may hold
	// (docs/jobs.md).
	maxReasonBytes = 256

	// submitTries is how often a result is sent before the agent gives
	// up on it; the wait between tries doubles from one second.
	submitTries = 6
)

// serveStates are the job states the serving agent lists: funded (or low
// on balance) jobs to start and started ones to recognise as its own or
// as orphans.
var serveStates = []string{"funded", "running", "low_balance", "suspended"}

// serveAPI is what the serving agent needs of sluiced's JobService,
// called with the provider macaroon.
type serveAPI interface {
	// ListJobs returns the provider's jobs in serveStates, newest first.
	ListJobs(ctx context.Context) ([]*sluicerpc.Job, error)

	// Workload returns a job's workload and spec.
	Workload(ctx context.Context, jobID string) (
		*sluicerpc.GetJobWorkloadResponse, error)

	// SubmitResult records how a job's workload ended.
	SubmitResult(ctx context.Context,
		req *sluicerpc.SubmitJobResultRequest) error

	// EndJob ends a job as its provider; the buyer is refunded the
	// rest of its escrow.
	EndJob(ctx context.Context, jobID string) error
}

// pickJobs splits the provider's jobs (newest first, as ListJobs returns
// them) into those to start, oldest first and at most free of them, and
// orphans. A job to start is not started, in a startable state (funded,
// or low_balance: its escrow pays for fewer seconds than its buffer, but
// metering takes its usage; settlement.State.Startable), carries a
// workload, has no result and is not taken by this agent already. A
// suspended job is not started: its escrow pays no second. An orphan was
// started, carries a workload and has no result, but this agent did not
// take it: an earlier agent's run, which cannot be resumed (its sandbox
// died with that agent).
func pickJobs(jobs []*sluicerpc.Job, taken map[string]bool,
	free int) (start, orphans []*sluicerpc.Job) {

	for i := len(jobs) - 1; i >= 0; i-- {
		j := jobs[i]
		if j.Workload == nil || j.Result != nil || taken[j.JobId] {
			continue
		}
		started := j.StartedAt != nil || j.SecondsMetered > 0
		switch {
		case started && j.State != "awaiting_funding" &&
			j.State != "ended" && j.State != "expired":
			orphans = append(orphans, j)
		case !started && settlement.State(j.State).Startable() &&
			len(start) < free:
			start = append(start, j)
		}
	}
	return start, orphans
}

// server takes the provider's jobs and runs them, up to slots at once.
type server struct {
	api    serveAPI
	slots  int
	logger btclog.Logger

	// run runs one job to its end; the production one is runJob.
	run func(ctx context.Context, job *sluicerpc.Job)

	mu      sync.Mutex
	taken   map[string]bool
	running int
	wg      sync.WaitGroup
}

func newServer(api serveAPI, slots int, logger btclog.Logger,
	run func(context.Context, *sluicerpc.Job)) *server {

	return &server{api: api, slots: slots, logger: logger, run: run,
		taken: map[string]bool{}}
}

// poll lists the provider's jobs once, ends the orphans and starts the
// jobs there are free slots for, each in a goroutine of its own that runs
// on runCtx until the job's run ends (Wait waits for them).
func (s *server) poll(ctx, runCtx context.Context) error {
	jobs, err := s.api.ListJobs(ctx)
	if err != nil {
		return err
	}
	s.mu.Lock()
	start, orphans := pickJobs(jobs, s.taken, s.slots-s.running)
	for _, j := range append(orphans, start...) {
		s.taken[j.JobId] = true
	}
	s.running += len(start)
	s.mu.Unlock()

	for _, j := range orphans {
		s.refuse(ctx, j.JobId, errors.New("started by an earlier "+
			"agent, whose run cannot be resumed"))
	}
	for _, j := range start {
		s.wg.Add(1)
		go func(j *sluicerpc.Job) {
			defer s.wg.Done()
			defer func() {
				s.mu.Lock()
				s.running--
				s.mu.Unlock()
			}()
			s.run(runCtx, j)
		}(j)
	}
	return nil
}

// release makes a job takeable again: one whose run never began for a
// reason another try may fix (sluiced not reachable).
func (s *server) release(jobID string) {
	s.mu.Lock()
	delete(s.taken, jobID)
	s.mu.Unlock()
}

// Wait waits for the runs started so far.
func (s *server) Wait() {
	s.wg.Wait()
}

// refuse ends a job the agent cannot run, as its provider, and logs why:
// EndJob carries no reason, so the log is where it is told. A job that
// has ended already is no fault: its result, sent by an earlier try whose
// answer was lost, ended it, or its buyer did.
func (s *server) refuse(ctx context.Context, jobID string, why error) {
	s.logger.Warnf("Job %s: ending it as provider: %v", jobID, why)
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx),
		callTimeout)
	defer cancel()
	err := s.api.EndJob(ctx, jobID)
	switch {
	case err == nil:
	case connect.CodeOf(err) == connect.CodeFailedPrecondition:
		s.logger.Infof("Job %s: not ended by this agent: %v", jobID,
			err)
	default:
		s.logger.Errorf("Job %s: could not end it: %v", jobID, err)
	}
}

// jobRunner runs served jobs in sandboxes.
type jobRunner struct {
	srv    *server
	mgr    *sandbox.Manager
	mgrErr error
	outDir string
	pids   uint64
	wall   time.Duration

	// stream is the metering stream of a job.
	stream func(jobID string) agent.StreamConfig

	// stopping is closed when the agent stops: runs are stopped, their
	// last seconds sent and their results submitted.
	stopping <-chan struct{}
	grace    time.Duration
}

// errCannotRun wraps why a job's workload cannot be run here.
var errCannotRun = errors.New("cannot run the workload")

// sandboxWorkload is the sandbox's workload and spec of a job's.
func sandboxWorkload(resp *sluicerpc.GetJobWorkloadResponse, pids uint64,
	wall time.Duration) (sandbox.Workload, sandbox.Spec, error) {

	w := resp.GetWorkload()
	if w == nil || len(w.Argv) == 0 {
		return sandbox.Workload{}, sandbox.Spec{}, fmt.Errorf(
			"%w: no command", errCannotRun)
	}
	cpu, mem := resp.Spec["cpu"], resp.Spec["mem"]
	if cpu <= 0 || mem <= 0 {
		return sandbox.Workload{}, sandbox.Spec{}, fmt.Errorf(
			"%w: spec %v lacks cpu or mem", errCannotRun, resp.Spec)
	}
	sw := sandbox.Workload{Command: w.Argv[0], Args: w.Argv[1:],
		Inputs: w.Inputs}
	spec := sandbox.Spec{CPU: uint64(cpu), MemMiB: uint64(mem),
		Pids: pids, Wall: wall}
	if err := sw.Validate(); err != nil {
		return sw, spec, fmt.Errorf("%w: %w", errCannotRun, err)
	}
	if err := spec.Validate(); err != nil {
		return sw, spec, fmt.Errorf("%w: %w", errCannotRun, err)
	}
	return sw, spec, nil
}

// validSandboxName is what a sandbox may be named.
var validSandboxName = regexp.MustCompile(`^[A-Za-z0-9_-]{1,60}$`)

// sandboxName names a job's sandbox: its id where that is a valid name,
// else a hash of it.
func sandboxName(jobID string) string {
	if validSandboxName.MatchString(jobID) {
		return jobID
	}
	sum := sha256.Sum256([]byte(jobID))
	return hex.EncodeToString(sum[:16])
}

// runJob fetches a job's workload, runs it in a sandbox held to the job's
// spec, meters it as `agent run` does and submits how it ended.
func (r *jobRunner) runJob(ctx context.Context, job *sluicerpc.Job) {
	s, id := r.srv, job.JobId
	callCtx, cancel := context.WithTimeout(ctx, callTimeout)
	resp, err := r.srv.api.Workload(callCtx, id)
	cancel()
	if err != nil {
		if permanent(err) {
			s.refuse(ctx, id, fmt.Errorf("fetching its workload: %w",
				err))
			return
		}
		s.logger.Warnf("Job %s: fetching its workload: %v (trying "+
			"again later)", id, err)
		s.release(id)
		return
	}
	w, spec, err := sandboxWorkload(resp, r.pids, r.wall)
	if err != nil {
		s.refuse(ctx, id, err)
		return
	}
	if r.mgr == nil {
		s.refuse(ctx, id, fmt.Errorf("%w: sandbox unavailable: %w",
			errCannotRun, r.mgrErr))
		return
	}
	outDir := filepath.Join(r.outDir, sandboxName(id))
	if err := os.MkdirAll(outDir, 0o700); err != nil {
		s.refuse(ctx, id, fmt.Errorf("%w: %w", errCannotRun, err))
		return
	}
	defer os.RemoveAll(outDir)
	sb, err := r.mgr.Prepare(sandboxName(id), w, spec, outDir)
	if err != nil {
		s.refuse(ctx, id, fmt.Errorf("%w: %w", errCannotRun, err))
		return
	}
	defer sb.Close()

	cfg := r.stream(id)
	var startErr error
	run, err := startMetered(ctx, cfg, func(ctx context.Context) (
		*agent.Run, error) {

		run, err := sb.Start(ctx, agent.MeasureConfig{})
		startErr = err
		return run, err
	})
	switch {
	case errors.Is(err, errNoUsage):
		// Ended or suspended since it was listed: nothing to do.
		s.logger.Infof("%v", err)
		return
	case err != nil && startErr == nil && !errors.Is(err,
		metering.ErrForeignJob) && !errors.Is(err,
		metering.ErrUnknownJob):

		// sluiced did not answer the metering check: the job was
		// not started, and another try may find it up.
		s.logger.Warnf("Job %s: %v (trying again later)", id, err)
		s.release(id)
		return
	case err != nil:
		s.refuse(ctx, id, fmt.Errorf("%w: %w", errCannotRun, err))
		return
	}
	s.logger.Infof("Job %s: running %q in its sandbox (cpu %d core-ms/s, "+
		"mem %d MiB, pids %d, wall %v)", id, resp.Workload.Argv,
		spec.CPU, spec.MemMiB, spec.Pids, spec.Wall)

	stopped := make(chan struct{})
	done := make(chan struct{})
	go func() {
		select {
		case <-r.stopping:
			close(stopped)
			run.Stop(r.grace)
		case <-done:
		}
	}()
	stats, streamErr := agent.Stream(ctx, cfg, run)
	res, waitErr := sb.Wait()
	close(done)
	logStreamStats(s.logger, id, stats)
	if waitErr != nil {
		s.logger.Warnf("Job %s: sandbox: %v", id, waitErr)
	}
	agentStopped := false
	select {
	case <-stopped:
		agentStopped = true
	default:
	}

	req, err := resultRequest(id, res, streamErr, agentStopped)
	if err != nil {
		s.refuse(ctx, id, fmt.Errorf("reading its output: %w", err))
		return
	}
	s.logger.Infof("Job %s: exit %d %s%s, output %d bytes sha256 %x",
		id, req.ExitCode, req.Signal, parenthesised(req.Reason),
		len(req.Output), req.OutputSha256)
	if err := r.submit(ctx, req); err != nil {
		// The job never started (no second was accepted) or sluiced
		// keeps refusing: the buyer gets the rest back.
		s.refuse(ctx, id, fmt.Errorf("submitting its result: %w",
			err))
		return
	}
	// The result ended the job (unless it had ended): sluiced refunds
	// the rest of its escrow; nothing is left for the agent to do.
	s.logger.Infof("Job %s: result submitted; the job has ended", id)
}

// parenthesised is " (s)", or "" for an empty s.
func parenthesised(s string) string {
	if s == "" {
		return ""
	}
	return " (" + s + ")"
}

// submit sends a result, again after a failure another try may fix.
func (r *jobRunner) submit(ctx context.Context,
	req *sluicerpc.SubmitJobResultRequest) error {

	// The agent may be stopping: a result is still worth sending.
	ctx = context.WithoutCancel(ctx)
	wait := time.Second
	var err error
	for try := 0; try < submitTries; try++ {
		callCtx, cancel := context.WithTimeout(ctx, callTimeout)
		err = r.srv.api.SubmitResult(callCtx, req)
		cancel()
		if err == nil || permanent(err) ||
			connect.CodeOf(err) == connect.CodeAlreadyExists {

			return err
		}
		r.srv.logger.Warnf("Job %s: submitting its result: %v "+
			"(trying again in %v)", req.JobId, err, wait)
		time.Sleep(wait)
		wait *= 2
	}
	return err
}

// resultRequest is the result of a sandboxed run: its exit code (-1 and
// the signal's name when it reads as killed by one), why the agent or a
// limit ended it, and its stdout, as kept, with its hash.
func resultRequest(jobID string, res sandbox.Result, streamErr error,
	agentStopped bool) (*sluicerpc.SubmitJobResultRequest, error) {

	req := &sluicerpc.SubmitJobResultRequest{JobId: jobID,
		ExitCode:  int64(res.ExitCode),
		Truncated: res.Stdout.Truncated,
		OutputSha256: append([]byte(nil),
			res.Stdout.SHA256[:]...)}
	// bubblewrap reports a workload killed by signal n as 128+n, as a
	// shell does: one that exits 129 to 192 by itself reads the same.
	if n := res.ExitCode - 128; n > 0 && n <= 64 {
		if name := unix.SignalName(unix.Signal(n)); name != "" {
			req.ExitCode, req.Signal = -1, name
		}
	}
	switch {
	case res.WallKilled:
		req.Reason = "wall-clock limit"
	case res.OOMKilled:
		req.Reason = "memory limit"
	case errors.Is(streamErr, agent.ErrJobEnded):
		req.Reason = "the job ended"
	case agentStopped:
		req.Reason = "the agent stopped"
	case streamErr != nil:
		req.Reason = "metering: " + streamErr.Error()
	}
	if len(req.Reason) > maxReasonBytes {
		req.Reason = req.Reason[:maxReasonBytes]
	}

	if res.Stdout.Path != "" {
		f, err := os.Open(res.Stdout.Path)
		if err != nil {
			return nil, err
		}
		defer f.Close()
		req.Output, err = io.ReadAll(io.LimitReader(f,
			sandbox.MaxOutputBytes))
		if err != nil {
			return nil, err
		}
	}
	return req, nil
}

// jobsAPI is serveAPI on sluiced's JobService.
type jobsAPI struct {
	api        *apiClient
	providerID string
}

var _ serveAPI = (*jobsAPI)(nil)

func (j *jobsAPI) ListJobs(ctx context.Context) ([]*sluicerpc.Job, error) {
	resp, err := j.api.jobs.ListJobs(ctx, connect.NewRequest(
		&sluicerpc.ListJobsRequest{FilterProviderId: j.providerID,
			States: serveStates}))
	if err != nil {
		return nil, err
	}
	return resp.Msg.Jobs, nil
}

func (j *jobsAPI) Workload(ctx context.Context, jobID string) (
	*sluicerpc.GetJobWorkloadResponse, error) {

	resp, err := j.api.jobs.GetJobWorkload(ctx, connect.NewRequest(
		&sluicerpc.GetJobWorkloadRequest{JobId: jobID}))
	if err != nil {
		return nil, err
	}
	return resp.Msg, nil
}

func (j *jobsAPI) SubmitResult(ctx context.Context,
	req *sluicerpc.SubmitJobResultRequest) error {

	_, err := j.api.jobs.SubmitJobResult(ctx, connect.NewRequest(req))
	return err
}

func (j *jobsAPI) EndJob(ctx context.Context, jobID string) error {
	_, err := j.api.jobs.EndJob(ctx, connect.NewRequest(
		&sluicerpc.EndJobRequest{JobId: jobID}))
	return err
}

// serveRunner is the production runner of `agent serve`: sandboxes from
// a Manager (or, where none can be made, the reason, and every job taken
// is ended), metering as `agent run` does.
func serveRunner(srv *server, stream func(string) agent.StreamConfig, outDir string, pids uint64,
	wall time.Duration, stopping <-chan struct{},
	grace time.Duration) *jobRunner {

	r := &jobRunner{srv: srv, outDir: outDir, pids: pids, wall: wall,
		stream: stream, stopping: stopping, grace: grace}
	r.mgr, r.mgrErr = sandbox.New(sandbox.Config{})
	if r.mgrErr != nil {
		srv.logger.Warnf("No sandbox on this machine: every job with "+
			"a workload will be ended: %v", r.mgrErr)
	}
	return r
}
