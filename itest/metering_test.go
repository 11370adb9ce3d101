//go:build itest

package itest

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"connectrpc.com/connect"
	"github.com/shopspring/decimal"
	"github.com/sluice-ln/sluice/channels"
	"github.com/sluice-ln/sluice/ledger"
	"github.com/sluice-ln/sluice/metering"
	"github.com/sluice-ln/sluice/rpc/rpcclient"
	"github.com/sluice-ln/sluice/rpc/sluicerpc"
	"github.com/sluice-ln/sluice/rpc/sluicerpc/sluicerpcconnect"
	"github.com/sluice-ln/sluice/settlement"
	"github.com/sluice-ln/sluice/store"
)

// meteringFee is the platform fee the metering test's sluiced takes, in
// basis points.
const meteringFee = 250

// apiClients are API clients of a sluiced that send one macaroon.
type apiClients struct {
	operator sluicerpcconnect.OperatorServiceClient
	jobs     sluicerpcconnect.JobServiceClient
	provider sluicerpcconnect.ProviderServiceClient
	metering sluicerpcconnect.MeteringServiceClient
	vault    sluicerpcconnect.VaultServiceClient
	shares   sluicerpcconnect.SharesServiceClient
	yield    sluicerpcconnect.YieldServiceClient
}

// clientsWith returns API clients that call with the macaroon file's
// content.
func (s *sluiced) clientsWith(macaroon []byte) apiClients {
	s.t.Helper()
	pemBytes, err := os.ReadFile(filepath.Join(s.sluiceDir(), "tls.cert"))
	if err != nil {
		s.t.Fatal(err)
	}
	cl, err := rpcclient.New(s.rpcListen, pemBytes, macaroon)
	if err != nil {
		s.t.Fatal(err)
	}
	return apiClients{
		operator: cl.Operator,
		jobs:     cl.Jobs,
		provider: cl.Providers,
		metering: cl.Metering,
		vault:    cl.Vault,
		shares:   cl.Shares,
		yield:    cl.Yield,
	}
}

// readFile reads a file or fails the test.
func readFile(t testing.TB, path string) []byte {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return data
}

// meteredJob is a sluiced on a fresh network taking a platform fee,
// provider1 linked with a rate card, and a funded job for it.
type meteredJob struct {
	net *network
	s   *sluiced
	// storeCfg opens s's store; zero for its SQLite file.
	storeCfg   store.Config
	files      providerFiles
	providerID string
	prov       apiClients
	buyer      apiClients
	rates      map[string]string
	job        *sluicerpc.Job
	ctx        context.Context
}

// newMeteredJob sets up a meteredJob whose job has the given budget and
// rate card; conf adds to sluiced's conf before its first start.
func newMeteredJob(t testing.TB, budget int64, rates map[string]string,
	conf ...func(*sluiced)) *meteredJob {

	net := newNetwork(t)
	s := net.newSluiced()
	for _, c := range conf {
		c(s)
	}

	// The platform takes a fee, so that the split is checked too.
	s.addConf("metering", fmt.Sprintf("metering.platformfee=%d",
		meteringFee))
	s.start()

	return fundMeteredJob(t, net, s, budget, rates)
}

// fundMeteredJob links provider1 to the running s with a rate card and
// funds a job for it with the given budget.
func fundMeteredJob(t testing.TB, net *network, s *sluiced, budget int64,
	rates map[string]string) *meteredJob {

	// provider1 links, with a rate card.
	files := newProviderFiles(t, "provider1")
	link := s.linkCLI(net.linkArgs("provider1", files)...)
	providerID := link.Provider.ProviderId
	prov := s.clientsWith(readFile(t, files.macaroon))
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	t.Cleanup(cancel)
	_, err := prov.provider.SetRates(ctx, connect.NewRequest(
		&sluicerpc.SetRatesRequest{ProviderId: providerID,
			Rates: rates}))
	if err != nil {
		t.Fatalf("set rates: %v", err)
	}

	// The operator adds a buyer, which creates a job for provider1.
	op := s.clientsWith(readFile(t, filepath.Join(s.sluiceDir(),
		s.net.profile.Network, "operator.macaroon")))
	added, err := op.operator.AddBuyer(ctx, connect.NewRequest(
		&sluicerpc.AddBuyerRequest{Name: "metering-buyer"}))
	if err != nil {
		t.Fatalf("add buyer: %v", err)
	}
	buyer := s.clientsWith(added.Msg.BuyerMacaroon)
	created, err := buyer.jobs.CreateJob(ctx, connect.NewRequest(
		&sluicerpc.CreateJobRequest{
			ProviderId:    providerID,
			Spec:          map[string]int64{"cpu": 2000, "mem": 1024},
			BudgetMsat:    budget,
			BufferSeconds: 5,
		}))
	if err != nil {
		t.Fatalf("create job: %v", err)
	}
	job := created.Msg.Job
	if len(job.Invoices) == 0 {
		t.Fatalf("job %s has no funding invoice", job.JobId)
	}

	// The buyer node pays the funding invoice; the job is funded.
	net.lnd("buyer").payInvoice(t, job.Invoices[0].PaymentRequest)
	f := &meteredJob{net: net, s: s, files: files,
		providerID: providerID, prov: prov, buyer: buyer,
		rates: rates, job: job, ctx: ctx}
	// A small budget is low on balance from the start.
	f.waitState(t, "funded", "low_balance")

	return f
}

// waitState waits until the job is in one of the given states (as
// settlement names them).
func (f *meteredJob) waitState(t testing.TB, states ...string) {
	t.Helper()
	eventually(t, time.Minute, fmt.Sprintf("job to be %v", states),
		func() error {
			got, err := f.buyer.jobs.GetJob(f.ctx, connect.NewRequest(
				&sluicerpc.GetJobRequest{JobId: f.job.JobId}))
			if err != nil {
				return err
			}
			for _, s := range states {
				if got.Msg.Job.State == s {
					return nil
				}
			}
			return fmt.Errorf("job is %s", got.Msg.Job.State)
		})
}

// checkLedger checks, after the agent ran, that the ledger's provider
// payable and platform fees equal the job's rate card applied to its
// stored seconds, to the millisatoshi, that its escrow (funded with
// funded msat) paid exactly that, and that GetMeter agrees. It returns the
// stored seconds and the meter.
func (f *meteredJob) checkLedger(t *testing.T, funded int64) (
	[]store.UsageRecord, *sluicerpc.GetMeterResponse) {

	t.Helper()
	s, prov, ctx, job := f.s, f.prov, f.ctx, f.job
	providerID, rates := f.providerID, f.rates
	budget := ledger.MilliSatoshi(funded)

	meter, err := prov.metering.GetMeter(ctx, connect.NewRequest(
		&sluicerpc.GetMeterRequest{JobId: job.JobId}))
	if err != nil {
		t.Fatalf("get meter: %v", err)
	}
	m := meter.Msg
	// GetMeter shows the job's state as jobs have it: a started job
	// is running, or low on balance.
	if state := settlement.State(m.State); m.LastSeq < 3 ||
		!state.TakesUsage() || state == settlement.StateFunded {
		t.Fatalf("meter after the run: %+v", m)
	}

	// What the recorded seconds cost at the rate card, from the store's
	// usage rows, against the ledger.
	cfg := f.storeCfg
	if cfg.Backend == "" {
		cfg = store.Config{Backend: store.SQLite,
			SQLitePath: filepath.Join(s.dir, s.net.profile.Network,
				"sluice.db")}
	}
	db, err := store.Open(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()

	var rows []store.UsageRecord
	var payable, fees, escrow ledger.MilliSatoshi
	err = db.ExecTx(ctx, store.TxOptions{ReadOnly: true},
		func(tx *store.Tx) error {
			var err error
			rows, err = tx.UsageRecords(ctx, job.JobId, 1,
				int64(m.LastSeq))
			if err != nil {
				return err
			}
			// What the job's usage postings credited: payouts
			// may have moved the payable on since.
			payable, err = usagePosted(ctx, tx,
				ledger.ProviderPayable(providerID), job.JobId)
			if err != nil {
				return err
			}
			fees, err = usagePosted(ctx, tx, ledger.PlatformFees(),
				job.JobId)
			if err != nil {
				return err
			}
			escrow, err = tx.Balance(ctx,
				ledger.BuyerEscrow(job.JobId))
			return err
		})
	if err != nil {
		t.Fatal(err)
	}
	if len(rows) != int(m.LastSeq) {
		t.Fatalf("%d usage rows for %d seqs", len(rows), m.LastSeq)
	}

	cpuRate := decimal.RequireFromString(rates["cpu"])
	memRate := decimal.RequireFromString(rates["mem"])
	var cpu, mem int64
	for _, r := range rows {
		cpu += r.CPU
		mem += r.Mem
	}
	if cpu == 0 {
		t.Fatalf("no CPU measured for a busy loop: %+v", rows)
	}
	exact := cpuRate.Mul(decimal.NewFromInt(cpu)).Add(
		memRate.Mul(decimal.NewFromInt(mem)))
	price := ledger.MilliSatoshi(exact.Floor().IntPart())
	fee, share, err := ledger.SplitFee(price, meteringFee)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("%d seconds: %d core-ms, %d MiB-s at %v: %v, fee %v, "+
		"provider %v", len(rows), cpu, mem, rates, price, fee, share)

	if payable != share || fees != fee {
		t.Fatalf("ledger: usage credited payable %v, fees %v; rate "+
			"card says %v and %v", payable, fees, share, fee)
	}
	if escrow != budget-price {
		t.Fatalf("escrow %v, want %v - %v", escrow,
			budget, price)
	}
	if m.ChargedMsat != int64(price) || m.FeesMsat != int64(fee) {
		t.Fatalf("meter says %d with fee %d, want %v with %v",
			m.ChargedMsat, m.FeesMsat, price, fee)
	}

	return rows, m
}

// usagePosted sums what the usage transactions of a job posted to an
// account (their keys are usage:<job>:<first seq>-<last seq>).
func usagePosted(ctx context.Context, tx *store.Tx, account ledger.Account,
	jobID string) (ledger.MilliSatoshi, error) {

	entries, err := tx.History(ctx, account, 0, 0)
	if err != nil {
		return 0, err
	}
	var sum ledger.MilliSatoshi
	for _, e := range entries {
		if strings.HasPrefix(e.IdempotencyKey, "usage:"+jobID+":") {
			sum += e.Amount
		}
	}
	return sum, nil
}

// TestAgentMetersJob funds a job for the devnet's linked provider1 from
// the buyer node, runs `sluice agent run` on a real CPU-burning command for
// a few seconds, and checks that the ledger's provider payable and platform
// fees equal the job's rate card applied to the recorded seconds, to the
// millisatoshi; that the job's escrow paid exactly that; and that
// resubmitting the usage changes nothing.
func TestAgentMetersJob(t *testing.T) {
	// 10k sat: far more than a few seconds cost.
	f := newMeteredJob(t, 10_000_000, map[string]string{
		"cpu": "0.013", "mem": "0.0007"})
	s, files, job, prov, ctx := f.s, f.files, f.job, f.prov, f.ctx
	const budget = 10_000_000

	// The provider's agent runs a busy loop for four seconds.
	out, err := s.cli("--macaroonpath", files.macaroon, "agent", "run",
		"--job", job.JobId, "--agentkey", files.agentKey,
		"--", "sh", "-c",
		`timeout 4 sh -c 'while :; do :; done'; exit 0`)
	if err != nil {
		t.Fatalf("agent run: %v\n%s\n%s", err, out, s.tail())
	}

	rows, m := f.checkLedger(t, budget)

	// The same seconds again, signed by the agent key: acknowledged as
	// duplicates, nothing moves.
	key, _, err := channels.ReadAgentKeyFile(files.agentKey)
	if err != nil {
		t.Fatal(err)
	}
	replay := &metering.Batch{JobID: job.JobId}
	for _, r := range rows {
		replay.Records = append(replay.Records, metering.Record{
			Seq: uint64(r.Seq), Second: r.Second,
			Usage: metering.Usage{CPU: uint64(r.CPU),
				Mem: uint64(r.Mem)},
		})
	}
	if err := replay.Sign(key); err != nil {
		t.Fatal(err)
	}
	enc, err := replay.Encode()
	if err != nil {
		t.Fatal(err)
	}
	res, err := prov.metering.SubmitUsage(ctx, connect.NewRequest(
		&sluicerpc.SubmitUsageRequest{Batch: enc}))
	if err != nil {
		t.Fatalf("replay: %v", err)
	}
	if res.Msg.Accepted != 0 || int(res.Msg.Duplicates) != len(rows) {
		t.Fatalf("replay answered %+v", res.Msg)
	}
	again, err := prov.metering.GetMeter(ctx, connect.NewRequest(
		&sluicerpc.GetMeterRequest{JobId: job.JobId}))
	if err != nil {
		t.Fatal(err)
	}
	if again.Msg.ChargedMsat != m.ChargedMsat ||
		again.Msg.EscrowMsat != m.EscrowMsat {

		t.Fatalf("a replay moved money: %+v, before %+v", again.Msg, m)
	}

	f.checkLiveView(t, m)
	s.wantReconciled(t)
}

// TestAgentPausesSuspendedJob funds a job for about ten seconds of a busy
// loop and runs the agent on one for longer: settlement suspends the job
// when its escrow runs out, the agent pauses the command, a top-up paid by
// the buyer node lets the job run again, the agent resumes the command and
// it finishes. The paused seconds are not billed, and the ledger matches
// the rate card over all the seconds that were.
func TestAgentPausesSuspendedJob(t *testing.T) {
	// At spec a second costs 2000 × 0.5 + 1024 × 0.01 = 1010.24 msat, at
	// one busy core about 500: 5000 msat last some eight seconds before
	// the escrow is below one second at spec and the job is suspended.
	// (Less than a satoshi would not route: channels' minimum HTLC.)
	const (
		budget = 5000
		topUp  = 10_000_000
	)
	f := newMeteredJob(t, budget, map[string]string{
		"cpu": "0.5", "mem": "0.01"})

	args := append(f.s.cliArgs(), "--macaroonpath", f.files.macaroon,
		"agent", "run", "--job", f.job.JobId,
		"--agentkey", f.files.agentKey, "--poll", "1s",
		"--", "sh", "-c", `timeout 40 sh -c 'while :; do :; done'; exit 0`)
	agent := startProcess(t, binaries.sluice, args...)

	f.waitState(t, "suspended")
	top, err := f.buyer.jobs.TopUpJob(f.ctx, connect.NewRequest(
		&sluicerpc.TopUpJobRequest{JobId: f.job.JobId,
			AmountMsat: topUp}))
	if err != nil {
		t.Fatalf("top up: %v", err)
	}
	// Let the agent find the job suspended and pause before the top-up
	// lands.
	time.Sleep(3 * time.Second)
	f.net.lnd("buyer").payInvoice(t, top.Msg.Invoice.PaymentRequest)
	f.waitState(t, "running", "low_balance")

	select {
	case <-agent.exited:
		if agent.err != nil {
			t.Fatalf("agent run: %v\n%s\n%s", agent.err,
				agent.output(), f.s.tail())
		}
	case <-time.After(2 * time.Minute):
		t.Fatalf("agent still running:\n%s", agent.output())
	}
	log := agent.output()
	for _, want := range []string{"pausing the command", "resuming"} {
		if !strings.Contains(log, want) {
			t.Fatalf("agent output lacks %q:\n%s", want, log)
		}
	}

	rows, m := f.checkLedger(t, budget+topUp)
	gap := false
	for i := 1; i < len(rows); i++ {
		if rows[i].Second-rows[i-1].Second >= 2 {
			gap = true
		}
	}
	if !gap {
		t.Fatalf("no unbilled seconds around the suspension: %+v", rows)
	}
	t.Logf("%d seconds billed, %d msat, around a suspension", len(rows),
		m.ChargedMsat)
	f.s.wantReconciled(t)
}
