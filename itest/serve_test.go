//go:build itest

package itest

import (
	"crypto/sha256"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"connectrpc.com/connect"
	"github.com/sluice-ln/sluice/devnet"
	"github.com/sluice-ln/sluice/rpc/sluicerpc"
)

// TestServeWorkload runs `sluice-agent serve` for the devnet's linked
// provider1 as a process of its own; a buyer creates a job with a workload
// (a script reading an input file) and pays it; the agent takes the job,
// runs it in its sandbox, meters it and submits its result, which ends
// the job: the rest of its escrow goes back to the buyer's node. The job
// is metered, its earnings are paid out to provider1, and the output the
// buyer reads with `sluice job output` hashes to what the script prints.
// The metering job of the fixture, which carries no workload, is not
// taken. A job whose run the agent was killed under (kill -9) is ended as
// provider by the restarted agent, not started again.
func TestServeWorkload(t *testing.T) {
	// Rates high enough that a fraction of a second of CPU earns more
	// than the smallest payout.
	f := newMeteredJob(t, 10_000_000, map[string]string{
		"cpu": "50", "mem": "10"})
	s, ctx := f.s, f.ctx

	op := s.clientsWith(readFile(t, filepath.Join(s.dir,
		s.net.profile.Network, "operator.macaroon")))
	added, err := op.operator.AddBuyer(ctx, connect.NewRequest(
		&sluicerpc.AddBuyerRequest{Name: "serve-buyer"}))
	if err != nil {
		t.Fatal(err)
	}
	buyerMac := filepath.Join(t.TempDir(), "buyer.macaroon")
	if err := os.WriteFile(buyerMac, added.Msg.BuyerMacaroon,
		0o600); err != nil {

		t.Fatal(err)
	}
	buyer := s.clientsWith(added.Msg.BuyerMacaroon)

	// startAgent starts `agent serve` logging to a file of its own and
	// returns a kill -9 of it.
	logPath := filepath.Join(t.TempDir(), "agent.log")
	workdir := t.TempDir()
	startAgent := func() func() {
		return f.startServeAgent(t, logPath, workdir, "--interval",
			"1s", "--cores", "1", "--mem", "256", "--slots", "1",
			"--max-wall", "2m").kill
	}
	kill := startAgent()
	agentLog := func() string {
		return string(readFile(t, logPath))
	}

	// The buyer can be refunded by keysend.
	hub, buyerNode := f.net.lnd(devnet.NodeHub), f.net.lnd(devnet.NodeBuyer)
	buyerNode.payInvoice(t, hub.addInvoice(t, hubLiquiditySat*1000,
		"itest: hub liquidity toward the buyer").PaymentRequest)
	waitHubCanRefund(t, hub, buyerNode, workloadBudget)
	refundTo := buyerNode.pubKey(t)

	input := []byte("the serving agent's input\n")
	// createJob creates and pays a job running w.
	createJob := func(w *sluicerpc.Workload) *sluicerpc.Job {
		return f.createRefundedWorkloadJob(t, buyer, w, refundTo)
	}
	getJob := func(id string) *sluicerpc.Job {
		got, err := buyer.jobs.GetJob(ctx, connect.NewRequest(
			&sluicerpc.GetJobRequest{JobId: id}))
		if err != nil {
			t.Fatal(err)
		}
		return got.Msg.Job
	}
	job := createJob(&sluicerpc.Workload{
		Argv: []string{"sh", "-c",
			"sha256sum /work/in.txt; " +
				"head -c 100000 /dev/zero | wc -c; " +
				"head -c 50000000 /dev/zero | " +
				"sha256sum > /dev/null"},
		Inputs: map[string][]byte{"in.txt": input},
	})
	get := func() *sluicerpc.Job {
		return getJob(job.JobId)
	}
	eventually(t, 90*time.Second, "the agent's result", func() error {
		if j := get(); j.Result == nil {
			return fmt.Errorf("job is %s, no result yet\nagent:\n%s",
				j.State, agentLog())
		}
		return nil
	})
	got := get()
	if r := got.Result; r.ExitCode != 0 || r.Signal != "" ||
		r.Reason != "" || r.Truncated {

		t.Fatalf("result: %v\nagent:\n%s", r, agentLog())
	}
	if got.SecondsMetered < 1 || got.StartedAt == nil {
		t.Fatalf("the run was not metered: %v", got)
	}
	eventually(t, time.Minute, "the job's refund", func() error {
		return refunded(get())
	})
	wantKeysendRefund(t, buyerNode, wantEndedByResult(t, get(), 0))
	if strings.Contains(agentLog(), "[ERR]") ||
		strings.Contains(agentLog(), "ending it as provider") {

		t.Fatalf("the agent took its own result's end for a fault:\n%s",
			agentLog())
	}
	eventually(t, time.Minute, "provider1 paid out", func() error {
		if j := get(); j.ProviderPaidOutMsat <= 0 {
			return fmt.Errorf("earned %d msat, paid out %d, in "+
				"flight %d", j.EarnedMsat, j.ProviderPaidOutMsat,
				j.ProviderInFlightMsat)
		}
		return nil
	})

	inSum := sha256.Sum256(input)
	want := fmt.Sprintf("%x  /work/in.txt\n100000\n", inSum)
	wantSum := sha256.Sum256([]byte(want))
	outFile := filepath.Join(t.TempDir(), "fetched")
	msg, err := s.cli("--macaroonpath", buyerMac, "job", "output",
		job.JobId, "--out", outFile)
	if err != nil {
		t.Fatalf("job output: %v\n%s", err, msg)
	}
	if fetched := readFile(t, outFile); string(fetched) != want ||
		!strings.Contains(msg, fmt.Sprintf("sha256 %x (verified)",
			wantSum)) {

		t.Fatalf("job output: %q, want %q\n%s", fetched, want, msg)
	}

	// The fixture's job carries no workload: the agent leaves it.
	other, err := f.buyer.jobs.GetJob(ctx, connect.NewRequest(
		&sluicerpc.GetJobRequest{JobId: f.job.JobId}))
	if err != nil {
		t.Fatal(err)
	}
	if other.Msg.Job.StartedAt != nil || other.Msg.Job.State == "ended" {
		t.Fatalf("the agent took a job without a workload: %v",
			other.Msg.Job)
	}

	// A long run, and the agent killed under it: the restarted agent
	// cannot resume it and does not start it again; it ends the job as
	// provider, and the buyer is refunded the rest.
	long := createJob(&sluicerpc.Workload{
		Argv: []string{"sleep", "300"}})
	eventually(t, 90*time.Second, "the long job started", func() error {
		if j := getJob(long.JobId); j.StartedAt == nil {
			return fmt.Errorf("job is %s, not started\nagent:\n%s",
				j.State, agentLog())
		}
		return nil
	})
	kill()
	startAgent()
	eventually(t, time.Minute, "the orphan ended", func() error {
		if j := getJob(long.JobId); j.State != "ended" {
			return fmt.Errorf("job is %s\nagent:\n%s", j.State,
				agentLog())
		}
		return nil
	})
	if j := getJob(long.JobId); j.Result != nil {
		t.Fatalf("the orphan has a result: %v", j.Result)
	}
	if !strings.Contains(agentLog(), "started by an earlier agent") {
		t.Fatalf("the orphan's end was not logged:\n%s", agentLog())
	}
}

// serveAgent is a `sluice-agent serve` process.
type serveAgent struct {
	cmd *exec.Cmd

	// exited is closed once the process has exited.
	exited chan struct{}
}

// startServeAgent starts `sluice-agent serve` (the slim agent binary; the
// same command as `sluice agent serve`, which TestMarketServe runs) for the
// fixture's provider
// with its agent key, keeping workloads' output in workdir, and the flags
// in args; it appends its output to logPath. The test's cleanup kills it.
func (f *meteredJob) startServeAgent(t testing.TB, logPath, workdir string,
	args ...string) *serveAgent {

	t.Helper()
	return startServeAgentFor(t, f.s, f.files, logPath, workdir, args...)
}

// startServeAgentFor is startServeAgent for the provider whose files are
// given.
func startServeAgentFor(t testing.TB, s *sluiced, files providerFiles,
	logPath, workdir string, args ...string) *serveAgent {

	t.Helper()
	logFile, err := os.OpenFile(logPath,
		os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		t.Fatal(err)
	}
	// The child holds its own descriptor once started.
	defer logFile.Close()
	full := append(s.cliArgs(), "--macaroonpath", files.macaroon,
		"serve", "--agentkey", files.agentKey, "--workdir", workdir)
	cmd := exec.Command(binaries.agent, append(full, args...)...)
	cmd.Stdout, cmd.Stderr = logFile, logFile
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	a := &serveAgent{cmd: cmd, exited: make(chan struct{})}
	go func() {
		_ = cmd.Wait()
		close(a.exited)
	}()
	t.Cleanup(a.kill)
	return a
}

// kill kills the agent with SIGKILL and waits for it to exit.
func (a *serveAgent) kill() {
	_ = a.cmd.Process.Kill()
	<-a.exited
}

// workloadBudget is the budget of createWorkloadJob's jobs.
const workloadBudget = 10_000_000

// createWorkloadJob creates a job for the fixture's provider running w,
// of 1000 core-ms and 64 MiB a second and a 10 000 sat budget, as buyer,
// and pays its funding invoice from the buyer node.
func (f *meteredJob) createWorkloadJob(t testing.TB, buyer apiClients,
	w *sluicerpc.Workload) *sluicerpc.Job {

	t.Helper()
	return f.createRefundedWorkloadJob(t, buyer, w, nil)
}

// createRefundedWorkloadJob is createWorkloadJob with refundTo, when not
// nil, as the job's refund node.
func (f *meteredJob) createRefundedWorkloadJob(t testing.TB,
	buyer apiClients, w *sluicerpc.Workload,
	refundTo []byte) *sluicerpc.Job {

	t.Helper()
	created, err := buyer.jobs.CreateJob(f.ctx, connect.NewRequest(
		&sluicerpc.CreateJobRequest{
			ProviderId: f.providerID,
			Spec:       map[string]int64{"cpu": 1000, "mem": 64},
			BudgetMsat: workloadBudget, BufferSeconds: 5,
			Workload: w, RefundNodePubkey: refundTo,
		}))
	if err != nil {
		t.Fatalf("create job: %v", err)
	}
	job := created.Msg.Job
	if len(job.Invoices) == 0 {
		t.Fatalf("job %s has no funding invoice", job.JobId)
	}
	f.net.lnd(devnet.NodeBuyer).payInvoice(t,
		job.Invoices[0].PaymentRequest)
	return job
}

// wantEndedByResult checks a job its result ended, once its refund
// succeeded, and returns the refund: the job ended as its provider, the
// end naming the exit code and the escrow it held, which is the budget
// less what usage spent; one refund, of that escrow less the routing fee
// it reserved (its fee limit); what the limit reserved beyond the fee
// paid is all the escrow holds after.
func wantEndedByResult(t testing.TB, j *sluicerpc.Job,
	exit int64) *sluicerpc.JobRefund {

	t.Helper()
	left := j.BudgetMsat - j.SpentMsat
	end := j.Events[len(j.Events)-1]
	detail := fmt.Sprintf("result: exit %d; escrow %d msat", exit, left)
	if j.State != "ended" || end.ToState != "ended" ||
		end.Cause != "ended_by_provider" || end.Detail != detail {

		t.Fatalf("job %s is %s, its last event %v; want ended by "+
			"provider, %q", j.JobId, j.State, end, detail)
	}
	if len(j.Refunds) != 1 {
		t.Fatalf("job %s has %d refunds: %v", j.JobId, len(j.Refunds),
			j.Refunds)
	}
	r := j.Refunds[0]
	if r.State != "succeeded" || r.Method != "keysend" ||
		r.AmountMsat != left-r.FeeLimitMsat ||
		j.RefundedMsat != r.AmountMsat ||
		j.EscrowMsat != r.FeeLimitMsat-r.FeeMsat {

		t.Fatalf("job %s: escrow %d msat at the end, refund %v, "+
			"refunded %d msat, escrow now %d msat", j.JobId, left,
			r, j.RefundedMsat, j.EscrowMsat)
	}
	return r
}
