//go:build itest

package itest

import (
	"crypto/sha256"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"connectrpc.com/connect"
	"github.com/sluice-ln/sluice/devnet"
	"github.com/sluice-ln/sluice/failpoint"
	"github.com/sluice-ln/sluice/rpc/sluicerpc"
	"github.com/sluice-ln/sluice/settlement"
)

// TestJobWorkloadResult runs a job's workload end to end on the local
// network, with the test standing in for the provider's serving agent: the
// buyer creates a job with a workload (a command and an input file) and
// its node pays for it; the provider fetches the workload, runs it under
// `sluice agent run` (which meters it and starts the job), and submits
// the exit status and the output's hash, which ends the job: the rest of
// its escrow is refunded to the buyer's node, to the msat of the job's
// figures. The buyer reads the output with `sluice job output`, checked
// against the hash. A second, different result is refused, the same one
// taken again without a second end or refund; a workload over the cap is
// refused at creation. sluiced killed (failpoint result-after-end) after
// a second job's result and end are committed, before its refund: after
// the restart the job is ended and its sweeper refunds it, once.
func TestJobWorkloadResult(t *testing.T) {
	f := newMeteredJob(t, 10_000_000, map[string]string{
		"cpu": "0.013", "mem": "0.0007"}, func(s *sluiced) {
		s.addConf("settlement", "settlement.refundretry=2s")
	})
	s, files, prov, ctx := f.s, f.files, f.prov, f.ctx

	// A buyer of its own, whose macaroon the CLI reads; the metering
	// job's buyer is another buyer.
	buyerMac := filepath.Join(t.TempDir(), "buyer.macaroon")
	added, err := s.clientsWith(readFile(t, filepath.Join(s.dir,
		s.net.profile.Network, "operator.macaroon"))).operator.
		AddBuyer(ctx, connect.NewRequest(
			&sluicerpc.AddBuyerRequest{Name: "workload-buyer"}))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(buyerMac, added.Msg.BuyerMacaroon,
		0o600); err != nil {

		t.Fatal(err)
	}
	buyer := s.clientsWith(added.Msg.BuyerMacaroon)

	// The buyer can be refunded by keysend.
	hub, buyerNode := f.net.lnd(devnet.NodeHub), f.net.lnd(devnet.NodeBuyer)
	buyerNode.payInvoice(t, hub.addInvoice(t, hubLiquiditySat*1000,
		"itest: hub liquidity toward the buyer").PaymentRequest)
	refundTo := buyerNode.pubKey(t)

	create := func(w *sluicerpc.Workload) (*sluicerpc.Job, error) {
		resp, err := buyer.jobs.CreateJob(ctx, connect.NewRequest(
			&sluicerpc.CreateJobRequest{
				ProviderId: f.providerID,
				Spec: map[string]int64{"cpu": 1000,
					"mem": 256},
				BudgetMsat: 10_000_000, BufferSeconds: 5,
				Workload: w, RefundNodePubkey: refundTo,
			}))
		if err != nil {
			return nil, err
		}
		return resp.Msg.Job, nil
	}
	_, err = create(&sluicerpc.Workload{Argv: []string{"cat"},
		Inputs: map[string][]byte{"big": make([]byte,
			settlement.MaxWorkloadBytes)}})
	if connect.CodeOf(err) != connect.CodeInvalidArgument ||
		!strings.Contains(err.Error(), "workload too large") {

		t.Fatalf("a workload over the cap: %v", err)
	}

	job, err := create(&sluicerpc.Workload{
		Argv: []string{"sh", "-c",
			`tr a-z A-Z < greeting.txt; exit 3`},
		Inputs: map[string][]byte{"greeting.txt": []byte("hello, " +
			"sluice\n")},
	})
	if err != nil {
		t.Fatalf("create job: %v", err)
	}
	if job.Workload == nil || len(job.Workload.Inputs) != 1 {
		t.Fatalf("created job's workload: %v", job.Workload)
	}
	f.net.lnd("buyer").payInvoice(t, job.Invoices[0].PaymentRequest)
	eventually(t, time.Minute, "the job to be funded", func() error {
		got, err := buyer.jobs.GetJob(ctx, connect.NewRequest(
			&sluicerpc.GetJobRequest{JobId: job.JobId}))
		if err != nil {
			return err
		}
		if got.Msg.Job.State != "funded" {
			return fmt.Errorf("job is %s", got.Msg.Job.State)
		}
		return nil
	})

	// The provider's side: fetch the workload, write its inputs into
	// a directory of its own, run it metered, keep its output.
	got, err := prov.jobs.GetJobWorkload(ctx, connect.NewRequest(
		&sluicerpc.GetJobWorkloadRequest{JobId: job.JobId}))
	if err != nil {
		t.Fatalf("get job workload: %v", err)
	}
	dir := t.TempDir()
	for name, content := range got.Msg.Workload.Inputs {
		err := os.WriteFile(filepath.Join(dir, name), content, 0o600)
		if err != nil {
			t.Fatal(err)
		}
	}
	outPath := filepath.Join(t.TempDir(), "output")
	args := append([]string{"--macaroonpath", files.macaroon, "agent",
		"run", "--job", job.JobId, "--agentkey", files.agentKey,
		"--", "sh", "-c",
		`cd "$1" && shift && o="$1" && shift && "$@" > "$o"`,
		"workload", dir, outPath}, got.Msg.Workload.Argv...)
	out, err := s.cli(args...)
	exit := 0
	if err != nil {
		// agent run exits with the command's status.
		if !strings.Contains(err.Error(), "exit status 3") {
			t.Fatalf("agent run: %v\n%s\n%s", err, out, s.tail())
		}
		exit = 3
	}
	printed, err := os.ReadFile(outPath)
	if err != nil {
		t.Fatal(err)
	}
	if string(printed) != "HELLO, SLUICE\n" {
		t.Fatalf("the workload printed %q", printed)
	}
	waitHubCanRefund(t, hub, buyerNode, 10_000_000)
	sum := sha256.Sum256(printed)
	submit := &sluicerpc.SubmitJobResultRequest{JobId: job.JobId,
		ExitCode: int64(exit), Output: printed, OutputSha256: sum[:]}
	res, err := prov.jobs.SubmitJobResult(ctx, connect.NewRequest(submit))
	if err != nil {
		t.Fatalf("submit job result: %v", err)
	}
	if res.Msg.Result.OutputSizeBytes != int64(len(printed)) {
		t.Fatalf("submitted: %v", res.Msg.Result)
	}
	if _, err := prov.jobs.SubmitJobResult(ctx,
		connect.NewRequest(submit)); err != nil {

		t.Fatalf("the same result again: %v", err)
	}
	other := &sluicerpc.SubmitJobResultRequest{JobId: job.JobId,
		ExitCode: 0, Output: printed, OutputSha256: sum[:]}
	_, err = prov.jobs.SubmitJobResult(ctx, connect.NewRequest(other))
	if connect.CodeOf(err) != connect.CodeAlreadyExists {
		t.Fatalf("a different result: %v", err)
	}
	_, err = buyer.jobs.SubmitJobResult(ctx, connect.NewRequest(submit))
	if connect.CodeOf(err) != connect.CodePermissionDenied {
		t.Fatalf("the buyer submitting: %v", err)
	}

	// The result ended the job; the rest of the escrow went back to
	// the buyer's node, once, for all the result was sent twice.
	var ended *sluicerpc.Job
	eventually(t, time.Minute, "the job's refund", func() error {
		got, err := buyer.jobs.GetJob(ctx, connect.NewRequest(
			&sluicerpc.GetJobRequest{JobId: job.JobId}))
		if err != nil {
			return err
		}
		ended = got.Msg.Job
		return refunded(ended)
	})
	wantKeysendRefund(t, buyerNode, wantEndedByResult(t, ended,
		int64(exit)))
	ends := 0
	for _, ev := range ended.Events {
		if ev.ToState == "ended" {
			ends++
		}
	}
	if ends != 1 {
		t.Fatalf("the job ended %d times: %v", ends, ended.Events)
	}
	_, err = buyer.jobs.EndJob(ctx, connect.NewRequest(
		&sluicerpc.EndJobRequest{JobId: job.JobId}))
	if connect.CodeOf(err) != connect.CodeFailedPrecondition {
		t.Fatalf("ending the job its result ended: %v", err)
	}

	// The buyer's side: the job shows the result; the output comes
	// back checked against its hash.
	shown, err := buyer.jobs.GetJob(ctx, connect.NewRequest(
		&sluicerpc.GetJobRequest{JobId: job.JobId}))
	if err != nil {
		t.Fatal(err)
	}
	if r := shown.Msg.Job.Result; r == nil || r.ExitCode != int64(exit) ||
		string(r.OutputSha256) != string(sum[:]) {

		t.Fatalf("job's result: %v", r)
	}
	if shown.Msg.Job.SecondsMetered < 1 {
		t.Fatalf("the workload's run was not metered: %v",
			shown.Msg.Job)
	}
	_, err = f.buyer.jobs.GetJobOutput(ctx, connect.NewRequest(
		&sluicerpc.GetJobOutputRequest{JobId: job.JobId}))
	if connect.CodeOf(err) != connect.CodePermissionDenied {
		t.Fatalf("another buyer reading the output: %v", err)
	}
	outFile := filepath.Join(t.TempDir(), "fetched")
	msg, err := s.cli("--macaroonpath", buyerMac, "job", "output",
		job.JobId, "--out", outFile)
	if err != nil {
		t.Fatalf("job output: %v\n%s", err, msg)
	}
	if fetched := readFile(t, outFile); string(fetched) !=
		string(printed) || !strings.Contains(msg,
		fmt.Sprintf("sha256 %x (verified)", sum)) {

		t.Fatalf("job output: %q\n%s", fetched, msg)
	}

	// A crash between a result's commit and its refund: the job is
	// ended and owes its buyer; after the restart the sweeper refunds
	// it by keysend, settlement.refundretry after the end.
	crashed, err := create(&sluicerpc.Workload{Argv: []string{"true"}})
	if err != nil {
		t.Fatalf("create job: %v", err)
	}
	buyerNode.payInvoice(t, crashed.Invoices[0].PaymentRequest)
	eventually(t, time.Minute, "the second job to be funded", func() error {
		got, err := buyer.jobs.GetJob(ctx, connect.NewRequest(
			&sluicerpc.GetJobRequest{JobId: crashed.JobId}))
		if err != nil {
			return err
		}
		if got.Msg.Job.State != "funded" {
			return fmt.Errorf("job is %s", got.Msg.Job.State)
		}
		return nil
	})
	if out, err := s.cli("--macaroonpath", files.macaroon, "agent",
		"run", "--job", crashed.JobId, "--agentkey", files.agentKey,
		"--", "sleep", "1"); err != nil {

		t.Fatalf("agent run: %v\n%s\n%s", err, out, s.tail())
	}
	waitHubCanRefund(t, hub, buyerNode, 2*10_000_000)
	s.stop()
	t.Setenv(failpoint.EnvVar, settlement.FailpointResultAfterEnd)
	s.start()
	empty := sha256.Sum256(nil)
	// The answer does not come back: sluiced dies first.
	_, _ = prov.jobs.SubmitJobResult(ctx, connect.NewRequest(
		&sluicerpc.SubmitJobResultRequest{JobId: crashed.JobId,
			OutputSha256: empty[:]}))
	s.crashAt(t, settlement.FailpointResultAfterEnd)
	t.Setenv(failpoint.EnvVar, "")
	s.start()
	eventually(t, time.Minute, "the sweeper's refund after the crash",
		func() error {
			got, err := buyer.jobs.GetJob(ctx, connect.NewRequest(
				&sluicerpc.GetJobRequest{JobId: crashed.JobId}))
			if err != nil {
				return err
			}
			ended = got.Msg.Job
			return refunded(ended)
		})
	wantKeysendRefund(t, buyerNode, wantEndedByResult(t, ended, 0))
}
