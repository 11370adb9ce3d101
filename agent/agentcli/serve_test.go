package agentcli

import (
	"bytes"
	"context"
	"crypto/sha256"
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"connectrpc.com/connect"
	"github.com/btcsuite/btclog/v2"
	"github.com/sluice-ln/sluice/agent"
	"github.com/sluice-ln/sluice/agent/sandbox"
	"github.com/sluice-ln/sluice/rpc/sluicerpc"
	"google.golang.org/protobuf/types/known/timestamppb"
)

// withWorkload is a job with a workload in state, started or not.
func withWorkload(id, state string, started bool) *sluicerpc.Job {
	j := &sluicerpc.Job{JobId: id, State: state,
		Workload: &sluicerpc.WorkloadInfo{Argv: []string{"true"}}}
	if started {
		j.StartedAt = timestamppb.Now()
		j.SecondsMetered = 3
	}
	return j
}

func ids(jobs []*sluicerpc.Job) []string {
	out := []string{}
	for _, j := range jobs {
		out = append(out, j.JobId)
	}
	return out
}

func TestPickJobs(t *testing.T) {
	done := withWorkload("done", "running", true)
	done.Result = &sluicerpc.JobResult{}
	// Newest first, as ListJobs returns them.
	jobs := []*sluicerpc.Job{
		withWorkload("new", "funded", false),
		{JobId: "bare", State: "funded"},
		withWorkload("mine", "running", true),
		done,
		withWorkload("orphan", "low_balance", true),
		withWorkload("drained", "suspended", false),
		withWorkload("lean", "low_balance", false),
		withWorkload("waiting", "awaiting_funding", false),
		withWorkload("ended", "ended", true),
		withWorkload("old", "funded", false),
	}
	taken := map[string]bool{"mine": true}

	tests := []struct {
		free        int
		start, orph []string
	}{
		{free: 0, start: []string{}, orph: []string{"orphan"}},
		{free: 1, start: []string{"old"}, orph: []string{"orphan"}},
		{free: 2, start: []string{"old", "lean"},
			orph: []string{"orphan"}},
		{free: 5, start: []string{"old", "lean", "new"},
			orph: []string{"orphan"}},
	}
	for _, tc := range tests {
		start, orph := pickJobs(jobs, taken, tc.free)
		if got := ids(start); !reflect.DeepEqual(got, tc.start) {
			t.Errorf("free %d: start %v, want %v", tc.free, got,
				tc.start)
		}
		if got := ids(orph); !reflect.DeepEqual(got, tc.orph) {
			t.Errorf("free %d: orphans %v, want %v", tc.free, got,
				tc.orph)
		}
	}
}

// fakeServeAPI lists jobs and records ends and results.
type fakeServeAPI struct {
	mu      sync.Mutex
	jobs    []*sluicerpc.Job
	listErr error
	ended   []string
	results []*sluicerpc.SubmitJobResultRequest
	wl      *sluicerpc.GetJobWorkloadResponse
	endErr  error
}

func (f *fakeServeAPI) ListJobs(context.Context) ([]*sluicerpc.Job, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]*sluicerpc.Job(nil), f.jobs...), f.listErr
}

func (f *fakeServeAPI) Workload(context.Context, string) (
	*sluicerpc.GetJobWorkloadResponse, error) {

	return f.wl, nil
}

func (f *fakeServeAPI) SubmitResult(_ context.Context,
	req *sluicerpc.SubmitJobResultRequest) error {

	f.mu.Lock()
	defer f.mu.Unlock()
	f.results = append(f.results, req)
	return nil
}

func (f *fakeServeAPI) EndJob(_ context.Context, id string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.ended = append(f.ended, id)
	return f.endErr
}

func (f *fakeServeAPI) set(jobs ...*sluicerpc.Job) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.jobs = jobs
}

// TestServerSlots polls a fake JobService: no more runs than slots at
// once, a job is never run twice, a freed slot takes the next job, and an
// orphan is ended once.
func TestServerSlots(t *testing.T) {
	api := &fakeServeAPI{}
	var mu sync.Mutex
	started := map[string]int{}
	release := map[string]chan struct{}{}
	for _, id := range []string{"a", "b", "c"} {
		release[id] = make(chan struct{})
	}
	run := func(_ context.Context, j *sluicerpc.Job) {
		mu.Lock()
		started[j.JobId]++
		mu.Unlock()
		<-release[j.JobId]
	}
	srv := newServer(api, 2, btclog.Disabled, run)
	ctx := context.Background()
	startedIDs := func() []string {
		mu.Lock()
		defer mu.Unlock()
		out := []string{}
		for id := range started {
			out = append(out, id)
		}
		sort.Strings(out)
		return out
	}

	api.set(withWorkload("c", "funded", false),
		withWorkload("b", "funded", false),
		withWorkload("a", "funded", false),
		withWorkload("z", "running", true))
	if err := srv.poll(ctx, ctx); err != nil {
		t.Fatal(err)
	}
	// Still listed as funded before their first second: not again.
	if err := srv.poll(ctx, ctx); err != nil {
		t.Fatal(err)
	}
	close(release["a"])
	waitRunning(t, srv, 1)
	if got := startedIDs(); !reflect.DeepEqual(got,
		[]string{"a", "b"}) {

		t.Fatalf("started %v, want the two oldest", got)
	}

	// a's slot is free: c is taken; a and b, running now, are not
	// orphans.
	api.set(withWorkload("c", "funded", false),
		withWorkload("b", "running", true),
		withWorkload("a", "running", true),
		withWorkload("z", "running", true))
	if err := srv.poll(ctx, ctx); err != nil {
		t.Fatal(err)
	}
	close(release["b"])
	close(release["c"])
	srv.Wait()
	if got := startedIDs(); !reflect.DeepEqual(got,
		[]string{"a", "b", "c"}) {

		t.Fatalf("started %v", got)
	}
	for id, n := range started {
		if n != 1 {
			t.Errorf("%s started %d times", id, n)
		}
	}
	if !reflect.DeepEqual(api.ended, []string{"z"}) {
		t.Fatalf("ended %v, want the orphan z once", api.ended)
	}

	api.listErr = errors.New("unreachable")
	if err := srv.poll(ctx, ctx); err == nil {
		t.Fatal("a failed listing is no error")
	}
}

// waitRunning waits until the server has n runs; the runs end on the
// test's signal, so this waits for a goroutine's bookkeeping, not time.
func waitRunning(t *testing.T, srv *server, n int) {
	t.Helper()
	for i := 0; ; i++ {
		srv.mu.Lock()
		got := srv.running
		srv.mu.Unlock()
		if got == n {
			return
		}
		if i > 5000 {
			t.Fatalf("running %d, want %d", got, n)
		}
		time.Sleep(time.Millisecond)
	}
}

// TestRunJobRefused ends, as provider, a job whose workload the sandbox
// would refuse, and one with no sandbox on the machine; neither is run.
func TestRunJobRefused(t *testing.T) {
	good := &sluicerpc.Workload{Argv: []string{"true"}}
	tests := []struct {
		name string
		wl   *sluicerpc.GetJobWorkloadResponse
	}{
		{"no spec", &sluicerpc.GetJobWorkloadResponse{Workload: good}},
		{"bad input name", &sluicerpc.GetJobWorkloadResponse{
			Workload: &sluicerpc.Workload{Argv: []string{"cat"},
				Inputs: map[string][]byte{"-rf": nil}},
			Spec: map[string]int64{"cpu": 1000, "mem": 64}}},
		{"memory below the sandbox's least", &sluicerpc.GetJobWorkloadResponse{
			Workload: good,
			Spec:     map[string]int64{"cpu": 1000, "mem": 1}}},
		{"no sandbox", &sluicerpc.GetJobWorkloadResponse{
			Workload: good,
			Spec:     map[string]int64{"cpu": 1000, "mem": 64}}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			api := &fakeServeAPI{wl: tc.wl}
			srv := newServer(api, 1, btclog.Disabled, nil)
			r := &jobRunner{srv: srv, pids: 16, wall: time.Minute,
				mgrErr: sandbox.ErrUnavailable,
				outDir: t.TempDir(),
				stream: func(string) agent.StreamConfig {
					t.Fatal("a refused job was metered")
					return agent.StreamConfig{}
				}}
			r.runJob(context.Background(),
				withWorkload("j", "funded", false))
			if !reflect.DeepEqual(api.ended, []string{"j"}) ||
				len(api.results) != 0 {

				t.Fatalf("ended %v, results %v", api.ended,
					api.results)
			}
		})
	}
}

func TestResultRequest(t *testing.T) {
	dir := t.TempDir()
	out := []byte("hello\n")
	path := filepath.Join(dir, "stdout")
	if err := os.WriteFile(path, out, 0o600); err != nil {
		t.Fatal(err)
	}
	stdout := sandbox.Output{Path: path, Kept: int64(len(out)),
		Written: int64(len(out)), SHA256: sha256.Sum256(out)}

	tests := []struct {
		name   string
		res    sandbox.Result
		stream error
		agent  bool
		code   int64
		signal string
		reason string
	}{
		{name: "exit 0", res: sandbox.Result{}},
		{name: "exit 3", res: sandbox.Result{ExitCode: 3}, code: 3},
		{name: "exit 128", res: sandbox.Result{ExitCode: 128},
			code: 128},
		{name: "SIGKILL by the memory limit",
			res:  sandbox.Result{ExitCode: 137, OOMKilled: true},
			code: -1, signal: "SIGKILL", reason: "memory limit"},
		{name: "wall", res: sandbox.Result{ExitCode: 137,
			WallKilled: true}, code: -1, signal: "SIGKILL",
			reason: "wall-clock limit"},
		{name: "job ended", res: sandbox.Result{ExitCode: 143},
			stream: agent.ErrJobEnded, code: -1,
			signal: "SIGTERM", reason: "the job ended"},
		{name: "agent stopped", res: sandbox.Result{ExitCode: 143},
			agent: true, code: -1, signal: "SIGTERM",
			reason: "the agent stopped"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			tc.res.Stdout = stdout
			req, err := resultRequest("j", tc.res, tc.stream,
				tc.agent)
			if err != nil {
				t.Fatal(err)
			}
			if req.ExitCode != tc.code || req.Signal != tc.signal ||
				req.Reason != tc.reason {

				t.Fatalf("got exit %d %q %q", req.ExitCode,
					req.Signal, req.Reason)
			}
			sum := sha256.Sum256(req.Output)
			if string(req.Output) != string(out) ||
				string(req.OutputSha256) != string(sum[:]) {

				t.Fatalf("output %q sha %x", req.Output,
					req.OutputSha256)
			}
		})
	}
}

func TestSandboxName(t *testing.T) {
	if got := sandboxName("job-1_a"); got != "job-1_a" {
		t.Fatalf("plain id: %s", got)
	}
	a, b := sandboxName("job/1"), sandboxName("job/2")
	if a == b || !validSandboxName.MatchString(a) {
		t.Fatalf("hashed names %s %s", a, b)
	}
}

// TestRefuseEndedJob refuses a job that has ended already (its result,
// sent by a try whose answer was lost, ended it): that is logged as
// information, not as an error of the agent's; a call that fails
// otherwise is an error.
func TestRefuseEndedJob(t *testing.T) {
	tests := []struct {
		name    string
		err     error
		level   string
		noLevel string
	}{
		{"ended", connect.NewError(connect.CodeFailedPrecondition,
			errors.New("end job: job j ended: job ended")),
			"[INF]", "[ERR]"},
		{"unreachable", connect.NewError(connect.CodeUnavailable,
			errors.New("connection refused")), "[ERR]", "[INF]"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var out bytes.Buffer
			logger := btclog.NewSLogger(btclog.NewDefaultHandler(
				&out))
			logger.SetLevel(btclog.LevelDebug)
			api := &fakeServeAPI{endErr: tc.err}
			srv := newServer(api, 1, logger, nil)
			srv.refuse(context.Background(), "j",
				errors.New("submitting its result: timeout"))
			if !reflect.DeepEqual(api.ended, []string{"j"}) {
				t.Fatalf("ended %v", api.ended)
			}
			log := out.String()
			if !strings.Contains(log, tc.level) ||
				strings.Contains(log, tc.noLevel) {

				t.Fatalf("log, want %s and no %s:\n%s",
					tc.level, tc.noLevel, log)
			}
		})
	}
}
