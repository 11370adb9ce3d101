package main

import (
	"context"
	"crypto/sha256"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/lightningnetwork/lnd/lntypes"
	"github.com/sluice-ln/sluice/rpc/sluicerpc"
	"github.com/sluice-ln/sluice/settlement"
)

// TestJobWorkloadCommands creates a job with a workload and an input
// file, shows it, has its provider's result recorded, and fetches the
// output to a file and to stdout, checked against its hash; bad inputs
// are refused before or by the server.
func TestJobWorkloadCommands(t *testing.T) {
	js := startJobServerWith(t)
	ctx := context.Background()
	base := []string{"--rpcserver", js.addr, "--sluicedir", js.dir}
	if _, err := runCLI(append(base, "operator", "buyer", "add",
		"alice")...); err != nil {

		t.Fatal(err)
	}
	buyer := append([]string{"--macaroonpath", filepath.Join(js.dir,
		"regtest", "buyer-alice.macaroon")}, base...)
	run := func(args ...string) (string, error) {
		return runCLI(append(buyer, args...)...)
	}
	dataPath := filepath.Join(t.TempDir(), "data.txt")
	if err := os.WriteFile(dataPath, []byte("hello\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	create := []string{"job", "create", "--provider", "prov-1", "--cpu",
		"1000", "--budget", "5sat"}

	out, err := run(append(create, "--input", "data=@"+dataPath,
		"--json", "--", "sh", "-c", "cat data")...)
	if err != nil {
		t.Fatal(err)
	}
	var created sluicerpc.CreateJobResponse
	if err := sluicerpc.JSONUnmarshalOptions.Unmarshal([]byte(out),
		&created); err != nil {

		t.Fatalf("create --json: %v\n%s", err, out)
	}
	job := created.Job
	if w := job.Workload; w == nil || len(w.Argv) != 3 ||
		w.Argv[2] != "cat data" || len(w.Inputs) != 1 ||
		w.Inputs[0].Name != "data" || w.Inputs[0].SizeBytes != 6 {

		t.Fatalf("created workload: %v", job.Workload)
	}

	out, err = run("job", "show", job.JobId)
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{`sh -c "cat data" (22 bytes)`,
		"data, 6 bytes", "none yet"} {

		if !strings.Contains(out, want) {
			t.Errorf("job show lacks %q:\n%s", want, out)
		}
	}
	_, err = run("job", "output", job.JobId)
	if err == nil || !strings.Contains(err.Error(), "no result yet") {
		t.Fatalf("output before a result: %v", err)
	}

	// Funded and started by its agent, the provider reports.
	hash, err := lntypes.MakeHash(job.Invoices[0].PaymentHash)
	if err != nil {
		t.Fatal(err)
	}
	js.hub.Settle(hash, 0)
	deadline := time.Now().Add(5 * time.Second)
	for {
		err := js.db.ExecSettlement(ctx, false,
			func(tx settlement.TxStore) error {
				_, err := js.m.StartJob(ctx, tx, job.JobId,
					time.Time{})
				return err
			})
		if err == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("starting the job: %v", err)
		}
		time.Sleep(20 * time.Millisecond)
	}
	printed := []byte("hello\n")
	sum := sha256.Sum256(printed)
	_, err = js.m.SubmitResult(ctx, job.JobId, "prov-1",
		settlement.Result{Output: printed, OutputSHA256: sum})
	if err != nil {
		t.Fatal(err)
	}

	outPath := filepath.Join(t.TempDir(), "out")
	out, err = run("job", "output", job.JobId, "--out", outPath)
	if err != nil {
		t.Fatal(err)
	}
	if got, err := os.ReadFile(outPath); err != nil ||
		string(got) != "hello\n" {

		t.Fatalf("output file: %q, %v", got, err)
	}
	if !strings.Contains(out, fmt.Sprintf("sha256 %x (verified)", sum)) {
		t.Errorf("output --out says:\n%s", out)
	}
	if out, err := run("job", "output", job.JobId); err != nil ||
		out != "hello\n" {

		t.Errorf("output to stdout: %q, %v", out, err)
	}
	out, err = run("job", "show", job.JobId)
	if err != nil || !strings.Contains(out, fmt.Sprintf(
		"exit 0, 6 bytes of output, sha256 %x", sum)) {

		t.Errorf("job show after the result: %v\n%s", err, out)
	}

	// Refused here: a malformed --input, a file too large, inputs
	// without a command; and by the server: an empty argument.
	big := filepath.Join(t.TempDir(), "big")
	if err := os.WriteFile(big, make([]byte,
		settlement.MaxWorkloadBytes), 0o600); err != nil {

		t.Fatal(err)
	}
	for _, tc := range []struct {
		args []string
		says string
	}{
		{[]string{"--input", "data=" + dataPath, "cat"}, "NAME=@PATH"},
		{[]string{"--input", "big=@" + big, "cat"}, "too large"},
		{[]string{"--input", "a=@" + dataPath, "--input",
			"a=@" + dataPath, "cat"}, "twice"},
		{[]string{"--input", "data=@" + dataPath}, "needs a command"},
		{[]string{"--", "ls", ""}, "argv[1] is empty"},
		{[]string{"--input", "../x=@" + dataPath, "cat"},
			"single path element"},
	} {
		_, err := run(append(create, tc.args...)...)
		if err == nil || !strings.Contains(err.Error(), tc.says) {
			t.Errorf("create %q: %v, want %q", tc.args, err,
				tc.says)
		}
	}
}
