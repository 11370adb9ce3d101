package store_test

import (
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/lightningnetwork/lnd/lntypes"
	"github.com/lightningnetwork/lnd/routing/route"
	"github.com/sluice-ln/sluice/channels"
	"github.com/sluice-ln/sluice/clocktest"
	"github.com/sluice-ln/sluice/ledger"
	"github.com/sluice-ln/sluice/metering"
	"github.com/sluice-ln/sluice/payout"
	"github.com/sluice-ln/sluice/payout/payouttest"
	"github.com/sluice-ln/sluice/settlement"
	"github.com/sluice-ln/sluice/settlement/settlementtest"
	"github.com/sluice-ln/sluice/store"
	"github.com/sluice-ln/sluice/store/storetest"
	"github.com/sluice-ln/sluice/yield"
)

// The most statements the hot paths may run on SQLite, counted by
// TestStatementsPerCharge: metering's group commit of one batch (one job,
// its provider auto-staking, the epoch open), each batch of a group of
// three, one batch of a provider that stakes nothing, and one payout from
// intent to success. The payout benchmark (itest) divides the same
// counter by the payouts it made.
const (
	maxStatementsPerBatch      = 15
	maxStatementsPerGroupBatch = 9
	maxStatementsPerPlainBatch = 9
	maxStatementsPerPayout     = 12
)

// chargeEnv is the production charge path on a real SQLite store:
// settlement's manager owns the jobs, metering's store reads them through
// SettlementJobs and tells a vault of each charge, whose provider
// auto-stakes.
type chargeEnv struct {
	ctx   context.Context
	db    *store.DB
	lg    *ledger.Ledger
	m     *settlement.Manager
	vault *yield.Vault
	ms    *store.MeteringStore

	// nodes are the providers' node keys by id; jobs the funded jobs'
	// ids, one for each provider in order.
	nodes map[string]route.Vertex
	jobs  []string
}

// newChargeEnv opens the store with the providers, linked with the
// fixtures' agent key and auto-staking half of what they earn, each with
// one funded job of budget. The
// settlement manager runs only while the jobs are funded: its background
// work would add statements of its own to the counts.
func newChargeEnv(t testing.TB, providers []string,
	budget ledger.MilliSatoshi) *chargeEnv {

	t.Helper()
	ctx := context.Background()
	clock := func() time.Time { return jobStart }
	e := &chargeEnv{ctx: ctx, nodes: make(map[string]route.Vertex)}
	e.db = storetest.Open(t, storetest.Config(t, store.SQLite))
	e.lg = ledger.New(store.NewLedgerStore(e.db), clock)

	cpu, err := ledger.ParseRate("1")
	if err != nil {
		t.Fatal(err)
	}
	card := channels.RateCard{channels.ResourceCPU: cpu,
		channels.ResourceMem: cpu}
	provs := settlementtest.NewProviders()
	pub := agentKey().PubKey().SerializeCompressed()
	for i, id := range providers {
		node := fmt.Sprintf("02%064x", i+1)
		v, err := route.NewVertexFromStr(node)
		if err != nil {
			t.Fatal(err)
		}
		e.nodes[id] = v
		provs.Set(settlement.Provider{ID: id, Node: v, Rates: card})
		err = e.db.ExecTx(ctx, store.TxOptions{},
			func(tx *store.Tx) error {
				return tx.InsertProvider(ctx, store.Provider{
					ID: id, NodePubkey: node,
					AgentPubkey: hex.EncodeToString(
						pub[1:]),
					Status:   "active",
					LinkedAt: jobStart, CreatedAt: jobStart,
				})
			})
		if err != nil {
			t.Fatal(err)
		}
	}

	hub := settlementtest.NewHub(t, clock)
	e.m, err = settlement.New(settlement.Config{
		DB: e.db, Ledger: e.lg, Invoices: hub, Payments: hub,
		Routes: hub, Providers: provs, Network: "regtest",
		Clock: clocktest.New(jobStart),
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := e.m.Start(); err != nil {
		t.Fatal(err)
	}
	buyer, err := e.m.AddBuyer(ctx, "bench")
	if err != nil {
		t.Fatal(err)
	}
	for _, prov := range providers {
		st, err := e.m.CreateJob(ctx, settlement.CreateJobRequest{
			BuyerID: buyer.ID, ProviderID: prov,
			Spec: settlement.Spec{channels.ResourceCPU: 4000,
				channels.ResourceMem: 8192},
			Budget: budget, BufferSeconds: 10,
		})
		if err != nil {
			t.Fatal(err)
		}
		hash, err := lntypes.MakeHashFromStr(
			st.Invoices[0].PaymentHash)
		if err != nil {
			t.Fatal(err)
		}
		hub.Settle(hash, 0)
		e.jobs = append(e.jobs, st.ID)
	}
	for _, job := range e.jobs {
		e.waitEscrow(t, job, budget)
	}
	e.m.Stop()

	e.vault, err = yield.New(e.db, e.lg, yield.Config{
		Epoch: time.Hour, RewardPPM: yield.DefaultRewardPPM,
		Clock: clocktest.New(jobStart),
	})
	if err != nil {
		t.Fatal(err)
	}
	for _, id := range providers {
		if err := e.vault.SetAutoStake(ctx, id, 50); err != nil {
			t.Fatal(err)
		}
	}

	e.ms = store.NewMeteringStore(e.db, e.lg,
		&store.SettlementJobs{Jobs: e.m}, clock)
	e.ms.SetVault(e.vault)

	return e
}

// waitEscrow waits until settlement has credited the job's escrow with
// want.
func (e *chargeEnv) waitEscrow(t testing.TB, job string,
	want ledger.MilliSatoshi) {

	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		got, err := e.lg.Balance(e.ctx, ledger.BuyerEscrow(job))
		if err != nil {
			t.Fatal(err)
		}
		if got == want {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("escrow of %s is %v, want %v", job, got, want)
		}
		time.Sleep(2 * time.Millisecond)
	}
}

// ingestor returns a started Ingestor on the env's store: linger < 0
// commits each batch alone when batches come one at a time; flush records
// make a commit go at once.
func (e *chargeEnv) ingestor(t testing.TB, linger time.Duration,
	flush int) *metering.Ingestor {

	t.Helper()
	in, err := metering.NewIngestor(e.ms, metering.IngestConfig{
		FeeRate: 250, Policy: metering.DefaultPolicy(),
		Clock:  func() time.Time { return ingestNow },
		Linger: linger, FlushRecords: flush,
	})
	if err != nil {
		t.Fatal(err)
	}
	in.Start()
	t.Cleanup(in.Stop)
	return in
}

// submit submits a batch of seqs from..to of the job and checks that
// all of it was accepted.
func submit(t testing.TB, in *metering.Ingestor, prov, job string, from,
	to uint64) {

	t.Helper()
	res, err := in.Submit(context.Background(), prov,
		signed(t, job, from, to))
	if err != nil || res.Accepted != int(to-from+1) {
		t.Errorf("batch %d-%d of %s: %+v, %v", from, to, job, res, err)
	}
}

// TestStatementsPerCharge counts the statements of the hot paths on
// SQLite (store.Statements): metering's group commit of one batch on the
// production path (settlement's jobs, the vault's epoch contribution and
// the provider's auto-stake in the same transaction), the batches of a
// group of several jobs, and one payout of what they earned from intent
// to success; each must stay within its budget. It checks the money too,
// so that a cut that skipped work would not pass for a saving.
func TestStatementsPerCharge(t *testing.T) {
	const (
		batches = 20
		perJob  = 10
	)
	ctx := context.Background()
	providers := []string{"prov-1", "prov-2", "prov-3", "prov-4"}
	e := newChargeEnv(t, providers, 10_000_000)

	// The first batch of every job starts it, and the first of all
	// opens the epoch; then batches come one at a time, one commit
	// each, as the agents of a few providers send them.
	in := e.ingestor(t, -1, 0)
	for i, job := range e.jobs {
		submit(t, in, providers[i], job, 1, perJob)
	}
	before := store.Statements()
	for b := 1; b <= batches; b++ {
		from := uint64(b*perJob + 1)
		submit(t, in, "prov-1", e.jobs[0], from, from+perJob-1)
	}
	perBatch := float64(store.Statements()-before) / batches
	t.Logf("statements per batch committed alone: %.2f", perBatch)
	in.Stop()

	// Groups of one batch of each job, committed together.
	in = e.ingestor(t, time.Minute, (len(e.jobs)-1)*perJob)
	before = store.Statements()
	const groups = 5
	for g := 0; g < groups; g++ {
		from := uint64((g+1)*perJob + 1)
		var wg sync.WaitGroup
		for i, job := range e.jobs {
			if i == 0 {
				continue
			}
			wg.Add(1)
			go func() {
				defer wg.Done()
				submit(t, in, providers[i], job, from,
					from+perJob-1)
			}()
		}
		wg.Wait()
	}
	n := groups * (len(e.jobs) - 1)
	perGroupBatch := float64(store.Statements()-before) / float64(n)
	t.Logf("statements per batch in groups of %d: %.2f", len(e.jobs)-1,
		perGroupBatch)
	in.Stop()

	// Batches alone of a provider that stakes nothing, as in the payout
	// benchmark (itest).
	if err := e.vault.SetAutoStake(ctx, "prov-2", 0); err != nil {
		t.Fatal(err)
	}
	in = e.ingestor(t, -1, 0)
	before = store.Statements()
	for b := 0; b < batches; b++ {
		from := uint64((groups+1+b)*perJob + 1)
		submit(t, in, "prov-2", e.jobs[1], from, from+perJob-1)
	}
	perPlainBatch := float64(store.Statements()-before) / batches
	t.Logf("statements per batch committed alone, no auto-stake: %.2f",
		perPlainBatch)
	in.Stop()

	// What was charged is in escrow's place: the payable, the vault
	// (half of each charge's earnings, staked) and the fees.
	var escrow, payable, fees ledger.MilliSatoshi
	for i, job := range e.jobs {
		esc, err := e.lg.Balance(ctx, ledger.BuyerEscrow(job))
		if err != nil {
			t.Fatal(err)
		}
		escrow += esc
		pay, err := e.lg.Balance(ctx,
			ledger.ProviderPayable(providers[i]))
		if err != nil {
			t.Fatal(err)
		}
		payable += pay
	}
	fees, err := e.lg.Balance(ctx, ledger.PlatformFees())
	if err != nil {
		t.Fatal(err)
	}
	vs, err := e.vault.State(ctx)
	if err != nil {
		t.Fatal(err)
	}
	spent := 4*10_000_000 - escrow
	if spent <= 0 || payable+vs.Idle+fees != spent {
		t.Fatalf("spent %v, payable %v + staked %v + fees %v", spent,
			payable, vs.Idle, fees)
	}

	// One payout of prov-1's payable, from intent to success.
	pay1, err := e.lg.Balance(ctx, ledger.ProviderPayable("prov-1"))
	if err != nil {
		t.Fatal(err)
	}
	lnd := payouttest.New(t)
	ex, err := payout.NewExecutor(payout.ExecutorConfig{
		DB: e.db, Ledger: e.lg, Payments: lnd, Routes: lnd,
		Clock: clocktest.New(ingestNow),
	})
	if err != nil {
		t.Fatal(err)
	}
	before = store.Statements()
	p, err := ex.Pay(ctx, payout.Candidate{ProviderID: "prov-1",
		Node: e.nodes["prov-1"], Payable: pay1},
		payout.DefaultPolicy())
	perPayout := store.Statements() - before
	if err != nil || p.State != payout.StateSucceeded {
		t.Fatalf("payout: %+v, %v", p, err)
	}
	t.Logf("statements per payout (intent to success): %d", perPayout)

	switch {
	case perBatch > maxStatementsPerBatch:
		t.Errorf("%.2f statements per batch, budget %d", perBatch,
			maxStatementsPerBatch)
	case perPlainBatch > maxStatementsPerPlainBatch:
		t.Errorf("%.2f statements per batch without auto-stake, "+
			"budget %d", perPlainBatch, maxStatementsPerPlainBatch)
	case perGroupBatch > maxStatementsPerGroupBatch:
		t.Errorf("%.2f statements per batch in a group, budget %d",
			perGroupBatch, maxStatementsPerGroupBatch)
	case perPayout > maxStatementsPerPayout:
		t.Errorf("%d statements per payout, budget %d", perPayout,
			maxStatementsPerPayout)
	}
}

// BenchmarkChargeBatch measures metering's group commit of one batch of
// ten records on the production path of TestStatementsPerCharge (SQLite,
// settlement's jobs, the vault's contribution and auto-stake), each batch
// committed alone as the agents' batches mostly are: time and allocations
// per batch, the process's CPU time per batch (user and system, every
// goroutine: the part of sluiced's CPU that metering costs), and the
// statements each ran.
//
//	go test ./store -run '^$' -bench BenchmarkChargeBatch -count 5
func BenchmarkChargeBatch(b *testing.B) {
	const perBatch = 10
	// A job's records are seconds after its start and before the
	// ingest clock: an hour of them.
	perJob := int(ingestNow.Sub(jobStart)/time.Second)/perBatch - 1
	jobs := (b.N + perJob - 1) / perJob
	providers := make([]string, jobs)
	for i := range providers {
		providers[i] = fmt.Sprintf("prov-%d", i+1)
	}
	e := newChargeEnv(b, providers, 100_000_000)
	in := e.ingestor(b, -1, 0)

	// The agents sign before the clock starts: signing is their work,
	// verifying is Sluice's.
	batches := make([]*metering.Batch, b.N)
	for i := range batches {
		from := uint64((i%perJob)*perBatch + 1)
		batches[i] = signed(b, e.jobs[i/perJob], from,
			from+perBatch-1)
	}

	b.ReportAllocs()
	b.ResetTimer()
	before := store.Statements()
	cpu0 := cpuTime(b)
	for i, batch := range batches {
		j := i / perJob
		res, err := in.Submit(e.ctx, providers[j], batch)
		if err != nil || res.Accepted != perBatch {
			b.Fatalf("batch %d: %+v, %v", i, res, err)
		}
	}
	b.StopTimer()
	b.ReportMetric(float64(cpuTime(b)-cpu0)/float64(b.N), "cpu-ns/batch")
	b.ReportMetric(float64(store.Statements()-before)/float64(b.N),
		"statements/batch")
}

// cpuTime is the CPU time the process has used, user and system.
func cpuTime(b *testing.B) time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		b.Fatal(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// TestSettlementJobsView checks the job metering reads through
// SettlementJobs in one statement: as settlement and channels keep it
// (funded at its invoice's settlement, started by its first batch, the
// rate card and limits of its spec, the agent key, the meter), an unknown
// job as metering.ErrUnknownJob, and a job whose provider is not stored
// as channels' not found.
func TestSettlementJobsView(t *testing.T) {
	ctx := context.Background()
	e := newChargeEnv(t, []string{"prov-1"}, 10_000_000)
	job := e.jobs[0]

	view, err := e.ms.JobStatus(ctx, job)
	var key [32]byte
	copy(key[:], agentKey().PubKey().SerializeCompressed()[1:])
	switch {
	case err != nil:
		t.Fatal(err)
	case view.ID != job || view.ProviderID != "prov-1" ||
		view.State != settlement.StateFunded ||
		!view.Started.Equal(jobStart) || !view.StartedAt.IsZero() ||
		view.AgentKey != key || view.Escrow != 10_000_000 ||
		view.Max != (metering.Usage{CPU: 4000, Mem: 8192}) ||
		len(view.Rates) != 2 || view.Meter.LastSeq != 0:

		t.Fatalf("funded job's view %+v", view)
	}

	in := e.ingestor(t, -1, 0)
	submit(t, in, "prov-1", job, 1, 10)
	view, err = e.ms.JobStatus(ctx, job)
	switch {
	case err != nil:
		t.Fatal(err)
	case view.State != settlement.StateRunning ||
		!view.StartedAt.Equal(jobStart.Add(time.Second)) ||
		!view.Started.Equal(jobStart) || view.Meter.LastSeq != 10 ||
		view.Meter.Charged != 16_000 || view.Escrow != 10_000_000-16_000:

		t.Fatalf("running job's view %+v", view)
	}

	if _, err := e.ms.JobStatus(ctx, "nope"); !errors.Is(err,
		metering.ErrUnknownJob) {

		t.Fatalf("unknown job: %v", err)
	}

	err = e.db.ExecTx(ctx, store.TxOptions{}, func(tx *store.Tx) error {
		j, err := tx.JobByID(ctx, job)
		if err != nil {
			return err
		}
		return tx.InsertJob(ctx, store.Job{ID: "ghost-job",
			BuyerID: j.BuyerID, ProviderID: "ghost", State: "funded",
			Budget: 1, PricePerSecond: "1", CreatedAt: jobStart,
			UpdatedAt: jobStart})
	})
	if err != nil {
		t.Fatal(err)
	}
	_, err = e.ms.JobStatus(ctx, "ghost-job")
	if !errors.Is(err, store.ErrProviderNotFound) {
		t.Fatalf("job of an unstored provider: %v", err)
	}
}
