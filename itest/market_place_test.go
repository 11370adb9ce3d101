//go:build itest

package itest

import (
	"crypto/sha256"
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"connectrpc.com/connect"
	"github.com/sluice-ln/sluice/devnet"
	"github.com/sluice-ln/sluice/rpc/sluicerpc"
)

// TestMarketTwoProviders is the market on the devnet with two providers
// serving: provider1 (the fixture's, cheaper) and provider2 (twice its
// rates), each running `sluice agent serve`.
//   - `job create --explain` without a provider shows both candidates and
//     takes provider1; a paid job without a provider is placed on
//     provider1, run in its sandbox, metered and paid out to it, and its
//     output fetched and verified by the buyer; its result ended it and
//     refunded the buyer's node the rest.
//   - kill -9 of provider1's agent under a running job: once its last
//     heartbeat is market.lostafter old, sluiced ends the job
//     (provider_lost) and refunds the buyer's node the rest.
//   - provider1 heartbeating again without taking work (its agent has no
//     agent key) is placed a job it does not start: after
//     market.starttimeout sluiced places it again on provider2, escrow and
//     all, whose agent runs it to its result; the escrow it brought
//     along is what provider2's usage spent and the refund returned.
func TestMarketTwoProviders(t *testing.T) {
	f := newMeteredJob(t, 10_000_000, map[string]string{
		"cpu": "50", "mem": "10"}, func(s *sluiced) {
		s.addConf("market", "market.heartbeattimeout=3s",
			"market.starttimeout=10s", "market.lostafter=5s")
	})
	s, ctx := f.s, f.ctx
	hub, buyerNode := f.net.lnd(devnet.NodeHub), f.net.lnd(devnet.NodeBuyer)

	files2 := newProviderFiles(t, "provider2")
	p2 := s.linkCLI(f.net.linkArgs("provider2", files2)...).Provider.
		ProviderId
	if _, err := s.cli("--macaroonpath", files2.macaroon, "provider",
		"rates", "--cpu", "100", "--mem", "20"); err != nil {

		t.Fatalf("provider2 rates: %v", err)
	}
	p1 := f.providerID

	logDir := t.TempDir()
	serve := []string{"--interval", "1s", "--cores", "1", "--mem",
		"256", "--slots", "2", "--max-wall", "5m"}
	log1 := filepath.Join(logDir, "agent1.log")
	log2 := filepath.Join(logDir, "agent2.log")
	agent1 := startServeAgentFor(t, s, f.files, log1, t.TempDir(),
		serve...)
	startServeAgentFor(t, s, files2, log2, t.TempDir(), serve...)
	logs := func() string {
		return fmt.Sprintf("agent1:\n%s\nagent2:\n%s",
			readFile(t, log1), readFile(t, log2))
	}

	// The fixture's job (no workload) holds provider1's capacity: its
	// buyer ends it.
	if _, err := f.buyer.jobs.EndJob(ctx, connect.NewRequest(
		&sluicerpc.EndJobRequest{JobId: f.job.JobId})); err != nil {

		t.Fatalf("end the fixture's job: %v", err)
	}

	buyerMac := s.addBuyer(t, "market-buyer")
	buyer := s.clientsWith(readFile(t, buyerMac))

	// --explain shows both, provider1 taken at its price.
	eventually(t, 30*time.Second, "both providers placeable", func() error {
		out, err := s.cli("--macaroonpath", buyerMac, "job", "create",
			"--cpu", "1000", "--mem", "64", "--budget", "1000sat",
			"--explain", "--", "true")
		if err != nil {
			return fmt.Errorf("%v\n%s", err, out)
		}
		if !strings.Contains(out, "placed on provider "+p1) ||
			!strings.Contains(out, p2) {

			return fmt.Errorf("explain lacks both:\n%s", out)
		}
		return nil
	})

	// The buyer can be refunded by keysend.
	buyerNode.payInvoice(t, hub.addInvoice(t, hubLiquiditySat*1000,
		"itest: hub liquidity toward the buyer").PaymentRequest)
	refundTo := buyerNode.pubKey(t)
	create := func(w *sluicerpc.Workload) *sluicerpc.CreateJobResponse {
		t.Helper()
		resp, err := buyer.jobs.CreateJob(ctx, connect.NewRequest(
			&sluicerpc.CreateJobRequest{
				Spec:       map[string]int64{"cpu": 1000, "mem": 64},
				BudgetMsat: 10_000_000, BufferSeconds: 5,
				Workload: w, RefundNodePubkey: refundTo,
			}))
		if err != nil {
			t.Fatalf("create job: %v", err)
		}
		buyerNode.payInvoice(t, resp.Msg.Job.Invoices[0].PaymentRequest)
		return resp.Msg
	}
	get := func(id string) *sluicerpc.Job {
		t.Helper()
		got, err := buyer.jobs.GetJob(ctx, connect.NewRequest(
			&sluicerpc.GetJobRequest{JobId: id}))
		if err != nil {
			t.Fatal(err)
		}
		return got.Msg.Job
	}
	waitResult := func(id string) *sluicerpc.Job {
		t.Helper()
		eventually(t, 90*time.Second, "job "+id+"'s result",
			func() error {
				if j := get(id); j.Result == nil {
					return fmt.Errorf("job is %s on %s, no "+
						"result yet\n%s", j.State,
						j.ProviderId, logs())
				}
				return nil
			})
		return get(id)
	}

	// Placed on the cheaper provider, run, metered, paid out; the
	// output fetched and verified.
	first := create(&sluicerpc.Workload{Argv: []string{"sh", "-c",
		"echo placed; head -c 30000000 /dev/zero | sha256sum"}})
	if first.Job.ProviderId != p1 || len(first.Placement) != 2 ||
		!first.Placement[0].Taken ||
		first.Placement[0].ProviderId != p1 ||
		first.Placement[1].ProviderId != p2 {

		t.Fatalf("placement: provider %s, verdicts %v",
			first.Job.ProviderId, first.Placement)
	}
	done := waitResult(first.Job.JobId)
	if done.Result.ExitCode != 0 || done.SecondsMetered < 1 {
		t.Fatalf("first job: result %v, %d s metered\n%s", done.Result,
			done.SecondsMetered, logs())
	}
	eventually(t, time.Minute, "provider1 paid out", func() error {
		if j := get(first.Job.JobId); j.ProviderPaidOutMsat <= 0 {
			return fmt.Errorf("earned %d msat, paid out %d",
				j.EarnedMsat, j.ProviderPaidOutMsat)
		}
		return nil
	})
	zeros := sha256.Sum256(make([]byte, 30_000_000))
	want := fmt.Sprintf("placed\n%x  -\n", zeros)
	outFile := filepath.Join(t.TempDir(), "out")
	msg, err := s.cli("--macaroonpath", buyerMac, "job", "output",
		first.Job.JobId, "--out", outFile)
	if err != nil || string(readFile(t, outFile)) != want ||
		!strings.Contains(msg, "(verified)") {

		t.Fatalf("job output: %v %q, want %q\n%s", err,
			readFile(t, outFile), want, msg)
	}

	// Its result ended it: the rest refunded, provider1's capacity free
	// again, with nothing for the buyer to do.
	endedByResult := func(id string) *sluicerpc.Job {
		t.Helper()
		eventually(t, time.Minute, "job "+id+" refunded", func() error {
			return refunded(get(id))
		})
		j := get(id)
		wantKeysendRefund(t, buyerNode, wantEndedByResult(t, j, 0))
		return j
	}
	endedByResult(first.Job.JobId)

	// kill -9 of provider1's agent under a running job: ended as
	// provider_lost, the rest refunded.
	lost := create(&sluicerpc.Workload{Argv: []string{"sleep", "300"}})
	if lost.Job.ProviderId != p1 {
		t.Fatalf("long job placed on %s", lost.Job.ProviderId)
	}
	eventually(t, 90*time.Second, "the long job started", func() error {
		if j := get(lost.Job.JobId); j.StartedAt == nil {
			return fmt.Errorf("job is %s\n%s", j.State, logs())
		}
		return nil
	})
	agent1.kill()
	eventually(t, time.Minute, "the long job ended and refunded",
		func() error {
			j := get(lost.Job.JobId)
			if j.State != "ended" {
				return fmt.Errorf("job is %s", j.State)
			}
			return refunded(j)
		})
	j := get(lost.Job.JobId)
	if ev := j.Events[len(j.Events)-1]; ev.Cause != "provider_lost" {
		t.Fatalf("the long job ended by %q", ev.Cause)
	}

	// provider1 online again but taking no work: a job placed on it
	// moves to provider2 after the start timeout and runs there.
	startServeAgentFor(t, s, f.files, log1, t.TempDir(),
		append(serve, "--agentkey", filepath.Join(t.TempDir(),
			"none.key"))...)
	var moved *sluicerpc.CreateJobResponse
	eventually(t, 30*time.Second, "a job placed on provider1 again",
		func() error {
			out, err := s.cli("--macaroonpath", buyerMac, "market",
				"place", "--cpu", "1000", "--mem", "64")
			if err != nil || !strings.Contains(out, "placed on "+p1) {
				return fmt.Errorf("%v\n%s", err, out)
			}
			return nil
		})
	moved = create(&sluicerpc.Workload{Argv: []string{"echo", "moved"}})
	if moved.Job.ProviderId != p1 {
		t.Fatalf("third job placed on %s", moved.Job.ProviderId)
	}
	waitResult(moved.Job.JobId)
	done = endedByResult(moved.Job.JobId)
	if done.ProviderId != p2 || done.Result.ExitCode != 0 ||
		string(done.Result.OutputSha256) == "" {

		t.Fatalf("moved job: provider %s, result %v", done.ProviderId,
			done.Result)
	}
	placedAgain := false
	for _, ev := range done.Events {
		if ev.Cause == "placed_again" &&
			strings.Contains(ev.Detail, p1) &&
			strings.Contains(ev.Detail, p2) {

			placedAgain = true
		}
	}
	// The escrow came along: the whole budget is what provider2's
	// usage spent, the refund and its fee, and what the fee limit
	// reserved beyond the fee (wantEndedByResult checked the sum).
	r := done.Refunds[0]
	if !placedAgain || done.SpentMsat <= 0 || done.BudgetMsat !=
		done.SpentMsat+r.AmountMsat+r.FeeMsat+done.EscrowMsat {

		t.Fatalf("moved job: events %v, spent %d, refund %v, escrow "+
			"%d", done.Events, done.SpentMsat, r, done.EscrowMsat)
	}
}
