package main

import (
	"bytes"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/lightningnetwork/lnd/lntypes"
	"github.com/sluice-ln/sluice/channels"
	"github.com/sluice-ln/sluice/ledger"
	"github.com/sluice-ln/sluice/rpc"
	"github.com/sluice-ln/sluice/rpc/sluicerpc"
	"github.com/sluice-ln/sluice/settlement"
	"github.com/sluice-ln/sluice/settlement/settlementtest"
	"github.com/sluice-ln/sluice/store"
	"github.com/sluice-ln/sluice/store/storetest"
	"github.com/urfave/cli"
)

// startJobServer starts an API server whose JobService runs on a real
// settlement manager over SQLite and a fake hub, with one provider.
func startJobServer(t *testing.T) (dir, addr string,
	hub *settlementtest.Hub) {

	t.Helper()
	js := startJobServerWith(t)
	return js.dir, js.addr, js.hub
}

// jobServer is what startJobServerWith started.
type jobServer struct {
	dir, addr string
	hub       *settlementtest.Hub
	m         *settlement.Manager
	db        *store.DB
}

// startJobServerWith is startJobServer, with its manager and store.
func startJobServerWith(t *testing.T) jobServer {
	t.Helper()
	dir := t.TempDir()
	db := storetest.Open(t, storetest.Config(t, store.SQLite))
	hub := settlementtest.NewHub(t, nil)
	cpu, _ := ledger.ParseRate("0.01")
	m, err := settlement.New(settlement.Config{
		DB: db, Ledger: ledger.New(store.NewLedgerStore(db), nil),
		Invoices: hub, Payments: hub, Routes: hub,
		Providers: settlementtest.NewProviders(settlement.Provider{
			ID:    "prov-1",
			Rates: channels.RateCard{channels.ResourceCPU: cpu},
		}),
		Network: "regtest", SweepInterval: 10 * time.Millisecond,
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := m.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(m.Stop)

	srv := startServer(t, dir, rpc.Config{
		Info: fixedInfo{Network: "regtest"},
		Jobs: m,
	})
	return jobServer{dir: dir, addr: srv.Addr(), hub: hub, m: m, db: db}
}

// runCLI runs the CLI with the job and operator commands.
func runCLI(args ...string) (string, error) {
	var out bytes.Buffer
	app := cli.NewApp()
	app.Name = "sluice"
	app.Flags = globalFlags
	app.Commands = []cli.Command{jobCommand, operatorCommand}
	app.Writer = &out
	err := app.Run(append([]string{"sluice"}, args...))
	return out.String(), err
}

// TestJobCommands adds a buyer, creates a job with its macaroon, pays it
// on the fake hub, shows, lists, tops up and ends it.
func TestJobCommands(t *testing.T) {
	dir, addr, hub := startJobServer(t)
	base := []string{"--rpcserver", addr, "--sluicedir", dir}
	run := func(args ...string) string {
		t.Helper()
		out, err := runCLI(append(base, args...)...)
		if err != nil {
			t.Fatalf("sluice %s: %v", strings.Join(args, " "), err)
		}
		return out
	}

	out := run("operator", "buyer", "add", "alice")
	macPath := filepath.Join(dir, "regtest", "buyer-alice.macaroon")
	if !strings.Contains(out, macPath) {
		t.Fatalf("buyer add: %s", out)
	}
	if _, err := runCLI(append(base, "operator", "buyer", "add",
		"alice")...); err == nil || !strings.Contains(err.Error(),
		"exists") {

		t.Fatalf("second add to the same file: %v", err)
	}
	if out := run("operator", "buyer", "list"); !strings.Contains(out,
		"alice") {

		t.Fatalf("buyer list: %s", out)
	}

	buyer := append([]string{"--macaroonpath", macPath}, base...)
	out, err := runCLI(append(buyer, "job", "create", "--provider",
		"prov-1", "--cpu", "1000", "--budget", "5sat", "--buffer",
		"1000", "--json")...)
	if err != nil {
		t.Fatal(err)
	}
	var created sluicerpc.CreateJobResponse
	if err := sluicerpc.JSONUnmarshalOptions.Unmarshal([]byte(out),
		&created); err != nil {

		t.Fatalf("create --json: %v\n%s", err, out)
	}
	job := created.Job
	if job.State != "awaiting_funding" || job.BudgetMsat != 5000 ||
		job.PricePerSecondMsat != "10" ||
		job.Invoices[0].PaymentRequest == "" {

		t.Fatalf("created: %+v", job)
	}

	hash, err := lntypes.MakeHash(job.Invoices[0].PaymentHash)
	if err != nil {
		t.Fatal(err)
	}
	hub.Settle(hash, 0)
	// Funded below its buffer, the job is low on balance, and the
	// sweeper (not the read) makes its top-up invoice.
	deadline := time.Now().Add(5 * time.Second)
	for {
		out, err = runCLI(append(buyer, "job", "show", job.JobId)...)
		if err == nil && strings.Contains(out, "low_balance") &&
			strings.Contains(out, "top-up ready") {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("job show after funding: %v\n%s", err, out)
		}
		time.Sleep(20 * time.Millisecond)
	}
	for _, want := range []string{"escrow:", "5000 msat", "runway:",
		"500 s", "top-up ready", "funding_settled"} {

		if !strings.Contains(out, want) {
			t.Errorf("job show lacks %q:\n%s", want, out)
		}
	}

	if out := run("job", "list", "--state", "low_balance"); !strings.
		Contains(out, job.JobId) {

		t.Errorf("operator's list: %s", out)
	}
	out, err = runCLI(append(buyer, "job", "topup", job.JobId,
		"--amount", "2sat")...)
	if err != nil || !strings.Contains(out, "2000 msat") {
		t.Fatalf("topup: %v\n%s", err, out)
	}
	out, err = runCLI(append(buyer, "job", "end", job.JobId)...)
	if err != nil || !strings.Contains(out, "ended_by_buyer") {
		t.Fatalf("end: %v\n%s", err, out)
	}
	_, err = runCLI(append(buyer, "job", "end", job.JobId)...)
	if err == nil || !strings.Contains(err.Error(), "has ended") {
		t.Fatalf("second end: %v", err)
	}
	_, err = runCLI(append(buyer, "job", "create", "--provider",
		"prov-1")...)
	if err == nil || !strings.Contains(err.Error(), "--budget") {
		t.Fatalf("create without a budget: %v", err)
	}
}

// TestJobEarningsOutput checks that `job show` and `job list` say what the
// job earned its provider and how much of it the provider auto-staked.
func TestJobEarningsOutput(t *testing.T) {
	j := &sluicerpc.Job{
		JobId: "job-a", BuyerId: "buyer-a", ProviderId: "prov-1",
		State: "running", EscrowMsat: 4000, RunwayWholeSeconds: 40,
		SecondsMetered: 60, SpentMsat: 96, FeesMsat: 2,
		EarnedMsat: 94, AutoStakedMsat: 47, ProviderPayableMsat: 27,
	}

	var show bytes.Buffer
	if err := printJob(&show, j); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{
		"provider earned 94 msat",
		"auto-staked:",
		"47 msat of the earnings, into the vault",
		"27 msat payable",
	} {
		if !strings.Contains(show.String(), want) {
			t.Errorf("job show lacks %q:\n%s", want, show.String())
		}
	}

	var list bytes.Buffer
	if err := printJobList(&list, []*sluicerpc.Job{j}); err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSpace(list.String()), "\n")
	if len(lines) != 2 {
		t.Fatalf("job list: %d lines, want 2:\n%s", len(lines),
			list.String())
	}
	row := strings.Fields(lines[1])
	want := []string{"job-a", "running", "buyer-a", "prov-1", "4000",
		"40", "94", "47", "-"}
	if strings.Join(row, " ") != strings.Join(want, " ") {
		t.Errorf("job list row %q, want %q", row, want)
	}
	if !strings.Contains(lines[0], "EARNED (msat)  AUTO-STAKED (msat)") {
		t.Errorf("job list header: %q", lines[0])
	}
}
