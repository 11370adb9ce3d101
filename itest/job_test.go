//go:build itest

package itest

import (
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/lightningnetwork/lnd/lnrpc"
	"github.com/lightningnetwork/lnd/lntypes"
	"github.com/lightningnetwork/lnd/routing/route"
	"github.com/sluice-ln/sluice/channels"
	"github.com/sluice-ln/sluice/daemon"
	"github.com/sluice-ln/sluice/devnet"
	"github.com/sluice-ln/sluice/failpoint"
	"github.com/sluice-ln/sluice/hubnode"
	"github.com/sluice-ln/sluice/ledger"
	"github.com/sluice-ln/sluice/lightning"
	"github.com/sluice-ln/sluice/outputtest"
	"github.com/sluice-ln/sluice/rpc/sluicerpc"
	"github.com/sluice-ln/sluice/settlement"
	"github.com/sluice-ln/sluice/store"
)

// hubLiquiditySat is what the buyer pays the hub before a refund test, so
// that the hub's side of the buyer's channel (which the buyer funded)
// stays above the channel reserve (1% of 5,000,000 sat) after refunding
// everything: lnd refuses to send below it.
const hubLiquiditySat = 60_000

// waitHubCanRefund waits until the hub's side of its channel with the buyer
// holds sendMsat above the channel reserve. A job is funded as soon as the
// hub settles its invoice, but the channel's balance moves to the hub only
// when the HTLC's commitment updates finish a moment later; a refund sent
// in between finds no route.
func waitHubCanRefund(t testing.TB, hub, buyer *lndNode, sendMsat int64) {
	t.Helper()
	peer := buyer.pubKey(t)
	eventually(t, 30*time.Second, fmt.Sprintf("the hub to hold %d msat "+
		"above its reserve on the buyer's channel", sendMsat),
		func() error {
			resp, err := hub.ln.ListChannels(t.Context(),
				&lnrpc.ListChannelsRequest{ActiveOnly: true,
					Peer: peer})
			if err != nil {
				return err
			}
			if len(resp.Channels) == 0 {
				return fmt.Errorf("no active channel")
			}
			c := resp.Channels[0]
			reserve := int64(c.GetLocalConstraints().
				GetChanReserveSat())
			spendable := (c.LocalBalance - reserve) * 1000
			if len(c.PendingHtlcs) > 0 || spendable < sendMsat {
				return fmt.Errorf("%d msat spendable, %d HTLCs "+
					"pending", spendable, len(c.PendingHtlcs))
			}
			return nil
		})
}

// linkProvider links provider1 with the CLI, sets its rate card (cpu 0.01
// msat per core-millisecond, mem 0.001 msat per MiB-second) and returns its
// id.
func (s *sluiced) linkProvider(t *testing.T) string {
	t.Helper()
	f := newProviderFiles(t, "provider1")
	linked := s.linkCLI(s.net.linkArgs(devnet.NodeProvider1, f)...)
	out, err := s.cli("--macaroonpath="+f.macaroon, "provider", "rates",
		"--cpu", "0.01", "--mem", "0.001")
	if err != nil {
		t.Fatalf("provider rates: %v\n%s", err, out)
	}
	return linked.Provider.ProviderId
}

// addBuyer runs `sluice operator buyer add` and returns the path of the
// buyer macaroon it wrote.
func (s *sluiced) addBuyer(t *testing.T, name string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), name+".macaroon")
	out, err := s.cli("operator", "buyer", "add", name,
		"--macaroonout", path)
	if err != nil {
		t.Fatalf("operator buyer add: %v\n%s", err, out)
	}
	return path
}

// job runs a `sluice job` command with the macaroon and --json, and
// decodes the job in its answer.
func (s *sluiced) job(t *testing.T, mac string,
	args ...string) *sluicerpc.Job {

	t.Helper()
	job, err := s.jobErr(mac, args...)
	if err != nil {
		t.Fatalf("%v\n%s", err, s.tail())
	}
	return job
}

// jobErr is job returning the failure.
func (s *sluiced) jobErr(mac string, args ...string) (*sluicerpc.Job,
	error) {

	full := append([]string{"--macaroonpath=" + mac, "job"}, args...)
	out, err := s.cli(append(full, "--json")...)
	if err != nil {
		return nil, err
	}
	// CreateJob, GetJob and EndJob all answer {"job": ...}.
	var resp sluicerpc.GetJobResponse
	if err := sluicerpc.JSONUnmarshalOptions.Unmarshal([]byte(out),
		&resp); err != nil {

		return nil, fmt.Errorf("job %v --json: %w\n%s", args, err, out)
	}
	return resp.Job, nil
}

// waitJob polls `job show` until check passes.
func (s *sluiced) waitJob(t *testing.T, mac, id, what string,
	check func(j *sluicerpc.Job) error) *sluicerpc.Job {

	t.Helper()
	var job *sluicerpc.Job
	eventually(t, waitTimeout, what, func() error {
		var err error
		job, err = s.jobErr(mac, "show", id)
		if err != nil {
			return err
		}
		return check(job)
	})
	return job
}

// funded checks that a job is funded with exactly want msat in escrow.
func funded(want int64) func(j *sluicerpc.Job) error {
	return func(j *sluicerpc.Job) error {
		if j.State == "awaiting_funding" {
			return fmt.Errorf("still %s", j.State)
		}
		if j.EscrowMsat != want {
			return permanent(fmt.Errorf("escrow %d msat, want %d",
				j.EscrowMsat, want))
		}
		return nil
	}
}

// refunded checks that a job's last refund succeeded.
func refunded(j *sluicerpc.Job) error {
	if len(j.Refunds) == 0 {
		return fmt.Errorf("no refund yet (state %s)", j.State)
	}
	r := j.Refunds[len(j.Refunds)-1]
	switch r.State {
	case "succeeded":
		return nil
	case "failed":
		return permanent(fmt.Errorf("refund failed: %s", r.Failure))
	}
	return fmt.Errorf("refund %s", r.State)
}

// wantKeysendRefund checks that the buyer's lnd received the refund as a
// settled keysend, to the msat.
func wantKeysendRefund(t *testing.T, buyer *lndNode, r *sluicerpc.JobRefund) {
	t.Helper()
	got := buyer.lookupInvoice(t, r.PaymentHash)
	if got.State != lnrpc.Invoice_SETTLED || !got.IsKeysend ||
		got.AmtPaidMsat != r.AmountMsat {

		t.Fatalf("the buyer's lnd has the refund as %v, %d msat "+
			"(keysend %v); want %d msat", got.State,
			got.AmtPaidMsat, got.IsKeysend, r.AmountMsat)
	}
}

// TestJobFundingAndRefunds: a buyer creates two jobs with the CLI and pays
// each funding invoice with its own lnd; each escrow holds the amount paid
// to the msat. Ending the first refunds the rest by keysend to the buyer's
// node, the second to a zero-amount invoice of the buyer's; the buyer's
// lnd shows each refund received, to the msat.
func TestJobFundingAndRefunds(t *testing.T) {
	net := newNetwork(t)
	hub := net.lnd(devnet.NodeHub)
	buyer := net.lnd(devnet.NodeBuyer)
	s := net.newSluiced()
	s.start()
	provID := s.linkProvider(t)
	mac := s.addBuyer(t, "alice")

	buyer.payInvoice(t, hub.addInvoice(t, hubLiquiditySat*1000,
		"itest: hub liquidity toward the buyer").PaymentRequest)

	// Not whole sats, so that rounding anywhere would show.
	const budgetA, budgetB = 200_000_123, 100_000_456

	// Job A is created with --wait: the command returns once the
	// buyer paid its funding invoice, saying on stderr what it waited
	// for.
	type result struct {
		stdout, stderr string
		err            error
	}
	waited := make(chan result, 1)
	progress := &outputtest.Buffer{}
	go func() {
		o, e, err := s.cliStderrTo(progress, "--macaroonpath="+mac,
			"job", "create", "--provider", provID, "--cpu", "1000",
			"--budget", fmt.Sprint(budgetA), "--buffer", "10",
			"--json", "--wait", "--timeout", "50s")
		waited <- result{o, e, err}
	}()
	var jobA *sluicerpc.Job
	eventually(t, waitTimeout, "job A created", func() error {
		out, err := s.cli("--macaroonpath="+mac, "job", "list",
			"--json")
		if err != nil {
			return err
		}
		var list sluicerpc.ListJobsResponse
		if err := sluicerpc.JSONUnmarshalOptions.Unmarshal(
			[]byte(out), &list); err != nil {

			return permanent(err)
		}
		if len(list.Jobs) == 0 {
			return errors.New("no job yet")
		}
		jobA = list.Jobs[0]
		return nil
	})
	jobA = s.job(t, mac, "show", jobA.JobId)
	jobB := s.job(t, mac, "create", "--provider", provID, "--mem",
		"512", "--budget", fmt.Sprint(budgetB), "--buffer", "10")
	// Paid before the command's first look, job A would be funded
	// already and the command would never say it waits.
	ctx, cancel := context.WithTimeout(t.Context(), waitTimeout)
	defer cancel()
	if err := progress.WaitFor(ctx, "waiting for the funding "+
		"invoice"); err != nil {

		t.Fatal(err)
	}
	for _, j := range []*sluicerpc.Job{jobA, jobB} {
		if j.State != "awaiting_funding" || len(j.Invoices) != 1 {
			t.Fatalf("created %+v", j)
		}
		pay := buyer.payInvoice(t, j.Invoices[0].PaymentRequest)
		if pay.ValueMsat != j.BudgetMsat {
			t.Fatalf("buyer paid %d msat for %d", pay.ValueMsat,
				j.BudgetMsat)
		}
	}
	w := <-waited
	if w.err != nil {
		t.Fatalf("job create --wait: %v", w.err)
	}
	var created sluicerpc.CreateJobResponse
	if err := sluicerpc.JSONUnmarshalOptions.Unmarshal([]byte(w.stdout),
		&created); err != nil || created.Job.GetJobId() != jobA.JobId {

		t.Fatalf("job create --wait --json: %v\n%s", err, w.stdout)
	}
	if !strings.Contains(w.stderr, "waiting for the funding invoice "+
		"to be paid") || !strings.Contains(w.stderr, "job "+
		jobA.JobId+": funded") {

		t.Fatalf("job create --wait said:\n%s", w.stderr)
	}
	t.Logf("job create --wait said:\n%s", w.stderr)
	// Returned: the job is funded now, without waiting.
	jobA = s.job(t, mac, "show", jobA.JobId)
	if err := funded(budgetA)(jobA); err != nil {
		t.Fatalf("job A after create --wait returned: %v", err)
	}
	s.waitJob(t, mac, jobB.JobId, "job B funded", funded(budgetB))
	if jobA.State != "funded" || jobA.Invoices[0].State != "settled" ||
		jobA.Invoices[0].AmountPaidMsat != budgetA ||
		jobA.FundedAt == nil {

		t.Fatalf("funded job A: %+v", jobA)
	}

	waitHubCanRefund(t, hub, buyer, budgetA+budgetB)

	// Job A: refund by keysend to the buyer's node.
	s.job(t, mac, "end", jobA.JobId, "--refund-node", buyer.PubKey)
	jobA = s.waitJob(t, mac, jobA.JobId, "job A's refund", refunded)
	r := jobA.Refunds[0]
	if jobA.State != "ended" || r.Method != "keysend" ||
		r.AmountMsat+r.FeeMsat+jobA.EscrowMsat != budgetA ||
		jobA.RefundedMsat != r.AmountMsat {

		t.Fatalf("job A after the refund: %+v", jobA)
	}
	wantKeysendRefund(t, buyer, r)
	t.Logf("job A: refunded %d of %d msat, routing fee %d msat",
		r.AmountMsat, budgetA, r.FeeMsat)

	// Job B: refund to a zero-amount invoice of the buyer's.
	// With --wait, `job end` returns once the refund succeeded.
	inv := buyer.addInvoice(t, 0, "itest: refund of job B")
	_, stderr, err := s.cliStderr("--macaroonpath="+mac, "job", "end",
		jobB.JobId, "--refund-invoice", inv.PaymentRequest, "--wait",
		"--timeout", "50s")
	if err != nil || !strings.Contains(stderr, "job "+jobB.JobId+
		": refunded") {

		t.Fatalf("job end --wait: %v\n%s", err, stderr)
	}
	t.Logf("job end --wait said:\n%s", stderr)
	jobB = s.job(t, mac, "show", jobB.JobId)
	if err := refunded(jobB); err != nil {
		t.Fatalf("job B after end --wait returned: %v", err)
	}
	r = jobB.Refunds[0]
	if r.Method != "invoice" || hex.EncodeToString(r.PaymentHash) !=
		hex.EncodeToString(inv.RHash) {

		t.Fatalf("job B's refund %+v", r)
	}
	got := buyer.lookupInvoice(t, inv.RHash)
	if got.State != lnrpc.Invoice_SETTLED ||
		got.AmtPaidMsat != r.AmountMsat ||
		r.AmountMsat+r.FeeMsat+jobB.EscrowMsat != budgetB {

		t.Fatalf("the buyer's invoice: %v, %d msat; refund %+v",
			got.State, got.AmtPaidMsat, r)
	}

	// An ended job takes no more: a top-up is refused.
	if _, err := s.cli("--macaroonpath="+mac, "job", "topup",
		jobA.JobId); err == nil {

		t.Fatal("top-up of an ended job accepted")
	}
	s.wantReconciled(t)
}

// TestRefundRetriedAfterNoRoute ends a funded job while the hub cannot
// send to the buyer (its side of the buyer's channel is below lnd's
// reserve): EndJob says no route and the job ends owing. Once the buyer
// has paid the hub enough, sluiced's sweeper refunds the job by keysend on
// its own, and the buyer's lnd shows it, to the msat.
func TestRefundRetriedAfterNoRoute(t *testing.T) {
	net := newNetwork(t)
	hub := net.lnd(devnet.NodeHub)
	buyer := net.lnd(devnet.NodeBuyer)
	s := net.newSluiced()
	s.addConf("settlement", "settlement.refundretry=2s")
	s.start()
	provID := s.linkProvider(t)
	mac := s.addBuyer(t, "alice")

	// Below the reserve: the hub cannot send this back yet.
	const budget = 20_000_321
	job := s.job(t, mac, "create", "--provider", provID, "--cpu", "1000",
		"--budget", fmt.Sprint(budget), "--buffer", "10")
	buyer.payInvoice(t, job.Invoices[0].PaymentRequest)
	s.waitJob(t, mac, job.JobId, "the job funded", funded(budget))

	_, err := s.jobErr(mac, "end", job.JobId, "--refund-node",
		buyer.PubKey)
	if err == nil || !strings.Contains(err.Error(), "no route") {
		t.Fatalf("ending the job with the hub unable to send: %v, "+
			"want no route", err)
	}
	job = s.waitJob(t, mac, job.JobId, "the job ended owing",
		func(j *sluicerpc.Job) error {
			if j.State != "ended" || j.EscrowMsat != budget {
				return permanent(fmt.Errorf("%s with %d msat "+
					"in escrow", j.State, j.EscrowMsat))
			}
			return nil
		})

	buyer.payInvoice(t, hub.addInvoice(t, hubLiquiditySat*1000,
		"itest: hub liquidity toward the buyer").PaymentRequest)
	waitHubCanRefund(t, hub, buyer, budget)

	// No one calls EndJob again.
	job = s.waitJob(t, mac, job.JobId, "the sweeper's refund",
		func(j *sluicerpc.Job) error {
			if j.EscrowMsat != 0 {
				return fmt.Errorf("escrow %d msat, %d refunds",
					j.EscrowMsat, len(j.Refunds))
			}
			return refunded(j)
		})
	r := job.Refunds[len(job.Refunds)-1]
	if r.Method != "keysend" || r.AmountMsat+r.FeeMsat != budget ||
		job.RefundedMsat != r.AmountMsat {

		t.Fatalf("job after the sweeper's refund: %+v", job)
	}
	wantKeysendRefund(t, buyer, r)
	s.wantReconciled(t)
}

// escrowHistory opens sluiced's SQLite store (sluiced must be stopped)
// and returns the history of the job's escrow.
func (s *sluiced) escrowHistory(t *testing.T, jobID string) []ledger.Entry {
	t.Helper()
	ctx, cancel := rpcContext(t)
	defer cancel()
	path := filepath.Join(s.dir, s.net.profile.Network, "sluice.db")
	db, err := store.Open(ctx, store.Config{Backend: store.SQLite,
		SQLitePath: path})
	if err != nil {
		t.Fatalf("open sluiced's store %s: %v", path, err)
	}
	defer db.Close()
	h, err := ledger.New(store.NewLedgerStore(db), nil).History(ctx,
		ledger.BuyerEscrow(jobID), 0, 0)
	if err != nil {
		t.Fatal(err)
	}
	return h
}

// TestJobFundingSurvivesKill: one job's invoice is paid while sluiced is
// down (killed with SIGKILL), another's just before sluiced is killed.
// After restarts, each escrow is credited exactly once: its ledger
// history holds one funding posting, of the amount paid.
func TestJobFundingSurvivesKill(t *testing.T) {
	net := newNetwork(t)
	buyer := net.lnd(devnet.NodeBuyer)
	s := net.newSluiced()
	s.start()
	provID := s.linkProvider(t)
	mac := s.addBuyer(t, "bob")

	const budgetA, budgetB = 50_000_111, 70_000_222
	jobA := s.job(t, mac, "create", "--provider", provID, "--cpu",
		"100", "--budget", fmt.Sprint(budgetA))
	jobB := s.job(t, mac, "create", "--provider", provID, "--cpu",
		"100", "--budget", fmt.Sprint(budgetB))

	// A is paid while nobody watches.
	s.kill()
	buyer.payInvoice(t, jobA.Invoices[0].PaymentRequest)
	s.start()
	s.waitJob(t, mac, jobA.JobId, "job A funded after the restart",
		funded(budgetA))

	// B is paid and sluiced killed at once: whether it had credited
	// the escrow or not, the restart must end with it credited once.
	buyer.payInvoice(t, jobB.Invoices[0].PaymentRequest)
	s.kill()
	s.start()
	s.waitJob(t, mac, jobB.JobId, "job B funded after the restart",
		funded(budgetB))

	// Once more, cleanly: nothing is credited again.
	s.restart()
	time.Sleep(2 * time.Second)
	s.waitJob(t, mac, jobA.JobId, "job A still", funded(budgetA))
	s.waitJob(t, mac, jobB.JobId, "job B still", funded(budgetB))
	s.stop()

	for _, c := range []struct {
		id   string
		hash []byte
		want int64
	}{
		{jobA.JobId, jobA.Invoices[0].PaymentHash, budgetA},
		{jobB.JobId, jobB.Invoices[0].PaymentHash, budgetB},
	} {
		h := s.escrowHistory(t, c.id)
		if len(h) != 1 || int64(h[0].Amount) != c.want ||
			h[0].IdempotencyKey != "fund:"+hex.EncodeToString(
				c.hash) {

			t.Fatalf("escrow history of %s: %+v; want one "+
				"funding of %d msat", c.id, h, c.want)
		}
	}
}

// TestTopUpResumesSuspendedJob runs settlement in the test process against
// the network's real hub lnd (metering is not wired into sluiced yet, so
// the test charges usage itself with settlement's Charge): the buyer's lnd
// pays the funding invoice, usage drains the escrow below one second's
// price and the job is suspended with a top-up invoice ready; the buyer
// pays that, and the job runs again.
func TestTopUpResumesSuspendedJob(t *testing.T) {
	net := newNetwork(t)
	hubNode := net.lnd(devnet.NodeHub)
	buyer := net.lnd(devnet.NodeBuyer)
	ctx, cancel := context.WithTimeout(t.Context(), 5*time.Minute)
	defer cancel()

	services, err := daemon.ConnectLnd(ctx, &daemon.LndConfig{
		Host: hubNode.RPCHost, TLSPath: hubNode.TLSCertPath,
		MacaroonPath: hubNode.AdminMacaroonPath,
		DialTimeout:  5 * time.Second, RPCTimeout: 30 * time.Second,
	}, net.profile.Network)
	if err != nil {
		t.Fatal(err)
	}
	defer services.Close()

	db, err := store.Open(ctx, store.Config{Backend: store.SQLite,
		SQLitePath: filepath.Join(t.TempDir(), "sluice.db")})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	invoices, err := hubnode.NewHubInvoices(services.Client,
		services.Invoices, net.profile.Network)
	if err != nil {
		t.Fatal(err)
	}
	cpu, err := ledger.ParseRate("0.01")
	if err != nil {
		t.Fatal(err)
	}
	lg := ledger.New(store.NewLedgerStore(db), nil)
	m, err := settlement.New(settlement.Config{
		DB: db, Ledger: lg, Invoices: invoices,
		Payments: hubnode.NewHubPayments(services.Router),
		Routes:   hubnode.NewGraph(services.Client),
		Providers: settlement.ProviderLookupFunc(func(
			context.Context, string) (settlement.Provider, error) {

			return settlement.Provider{ID: "prov-itest",
				Rates: channels.RateCard{
					channels.ResourceCPU: cpu,
				}}, nil
		}),
		Network: net.profile.Network, HubNode: route.Vertex(
			services.NodePubkey),
		SweepInterval: 200 * time.Millisecond,
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := m.Start(); err != nil {
		t.Fatal(err)
	}
	defer m.Stop()

	b, err := m.AddBuyer(ctx, "carol")
	if err != nil {
		t.Fatal(err)
	}
	// 1000 core-ms per second at 0.01: 10 msat per second.
	const budget = 10_000_000
	st, err := m.CreateJob(ctx, settlement.CreateJobRequest{
		BuyerID: b.ID, ProviderID: "prov-itest",
		Spec:   settlement.Spec{channels.ResourceCPU: 1000},
		Budget: budget, BufferSeconds: 60,
	})
	if err != nil {
		t.Fatal(err)
	}
	buyer.payInvoice(t, st.Invoices[0].PaymentRequest)
	get := func() settlement.Status {
		t.Helper()
		st, err := m.GetJob(ctx, st.ID)
		if err != nil {
			t.Fatal(err)
		}
		return st
	}
	eventually(t, waitTimeout, "the job to be funded", func() error {
		if s := get(); s.State != settlement.StateFunded {
			return fmt.Errorf("state %s", s.State)
		}
		return nil
	})

	// The agent starts, and its usage leaves 5 msat: half a second. The
	// usage is posted as metering's store posts it, and settlement
	// re-evaluates the job.
	var state settlement.State
	err = db.ExecSettlement(ctx, false, func(tx settlement.TxStore) error {
		if _, err := m.StartJob(ctx, tx, st.ID, time.Time{}); err != nil {
			return err
		}
		key := "usage:" + st.ID + ":1-999999"
		_, err := lg.PostTx(ctx, tx, ledger.Transfer(key, "usage",
			ledger.BuyerEscrow(st.ID),
			ledger.ProviderPayable("prov-itest"), budget-5))
		if err != nil {
			return err
		}
		state, _, err = m.UsageCharged(ctx, tx, st.ID, key)
		return err
	})
	if err != nil || state != settlement.StateSuspended {
		t.Fatalf("usage: %s, %v", state, err)
	}

	// The suspension wakes the sweeper, which makes the top-up invoice;
	// reading the job makes none.
	var top *settlement.Invoice
	eventually(t, waitTimeout, "a top-up invoice for the suspended job",
		func() error {
			if top = get().TopUp; top == nil {
				return errors.New("none yet")
			}
			return nil
		})
	hash, err := lntypes.MakeHashFromStr(top.PaymentHash)
	if err != nil {
		t.Fatal(err)
	}
	onHub, err := invoices.LookupInvoice(ctx, hash)
	if err != nil || onHub.State != lightning.InvoiceOpen ||
		int64(onHub.Amount) != budget {

		t.Fatalf("the top-up on the hub: %+v, %v", onHub, err)
	}
	buyer.payInvoice(t, top.PaymentRequest)
	eventually(t, waitTimeout, "the top-up to resume the job",
		func() error {
			s := get()
			if s.State != settlement.StateRunning {
				return fmt.Errorf("state %s", s.State)
			}
			if s.Solvency.Escrow != budget+5 {
				return permanent(fmt.Errorf("escrow %d",
					s.Solvency.Escrow))
			}
			return nil
		})
	events := get().Events
	last := events[len(events)-1]
	if last.From != settlement.StateSuspended ||
		last.Cause != settlement.CauseTopUpSettled {

		t.Fatalf("last event %+v", last)
	}
}

// crashAt waits until sluiced killed itself at the failpoint.
func (s *sluiced) crashAt(t *testing.T, point string) {
	t.Helper()
	eventually(t, waitTimeout, "sluiced to kill itself at "+point,
		func() error {
			if s.running() {
				return errors.New("still running")
			}
			return nil
		})
	var exitErr *exec.ExitError
	if !errors.As(s.err, &exitErr) || exitErr.Sys().(syscall.WaitStatus).
		Signal() != syscall.SIGKILL {

		t.Fatalf("sluiced exited with %v, want SIGKILL at %s\n%s",
			s.err, point, s.tail())
	}
	if !strings.Contains(s.tail(), "failpoint "+point) {
		t.Fatalf("sluiced's output does not name %s\n%s", point,
			s.tail())
	}
}

// TestSettlementCrashAtFailpoints kills sluiced (SIGKILL, by its
// failpoints) after the hub reported a funding invoice settled but before
// the escrow was credited, after a refund's intent was stored but before
// lnd was asked, and after lnd reported a refund paid but before the store
// and ledger recorded it. After each restart the escrow is credited once,
// and each refund reaches the buyer's node exactly once and is recorded.
func TestSettlementCrashAtFailpoints(t *testing.T) {
	net := newNetwork(t)
	hub := net.lnd(devnet.NodeHub)
	buyer := net.lnd(devnet.NodeBuyer)
	s := net.newSluiced()
	s.start()
	provID := s.linkProvider(t)
	mac := s.addBuyer(t, "dave")
	buyer.payInvoice(t, hub.addInvoice(t, hubLiquiditySat*1000,
		"itest: hub liquidity toward the buyer").PaymentRequest)
	s.stop()

	// The funding invoice settles; sluiced dies before crediting it.
	t.Setenv(failpoint.EnvVar, settlement.FailpointBeforeCredit)
	s.start()
	const budget = 80_000_321
	job := s.job(t, mac, "create", "--provider", provID, "--cpu", "100",
		"--budget", fmt.Sprint(budget))
	buyer.payInvoice(t, job.Invoices[0].PaymentRequest)
	s.crashAt(t, settlement.FailpointBeforeCredit)
	t.Setenv(failpoint.EnvVar, "")
	s.start()
	s.waitJob(t, mac, job.JobId, "the funding credited after the crash",
		funded(budget))

	// Refunds: one job per failpoint.
	jobs := []*sluicerpc.Job{job}
	second := s.job(t, mac, "create", "--provider", provID, "--cpu",
		"100", "--budget", fmt.Sprint(budget+1))
	buyer.payInvoice(t, second.Invoices[0].PaymentRequest)
	s.waitJob(t, mac, second.JobId, "the second job funded",
		funded(budget+1))
	jobs = append(jobs, second)
	waitHubCanRefund(t, hub, buyer, 2*budget+1)
	s.stop()

	points := []string{
		settlement.FailpointRefundAfterIntent,
		settlement.FailpointRefundAfterSuccess,
	}
	for i, point := range points {
		j := jobs[i]
		t.Setenv(failpoint.EnvVar, point)
		s.start()
		// The answer may not come back: sluiced may die first.
		_, _ = s.cli("--macaroonpath="+mac, "job", "end", j.JobId,
			"--refund-node", buyer.PubKey)
		s.crashAt(t, point)

		t.Setenv(failpoint.EnvVar, "")
		s.start()
		got := s.waitJob(t, mac, j.JobId, "the refund after a crash at "+
			point, refunded)
		if len(got.Refunds) != 1 || got.State != "ended" {
			t.Fatalf("after %s: %+v", point, got)
		}
		r := got.Refunds[0]
		inv := buyer.lookupInvoice(t, r.PaymentHash)
		if inv.State != lnrpc.Invoice_SETTLED ||
			inv.AmtPaidMsat != r.AmountMsat ||
			len(inv.Htlcs) != 1 ||
			got.RefundedMsat != r.AmountMsat ||
			r.AmountMsat+r.FeeMsat+got.EscrowMsat != j.BudgetMsat {

			t.Fatalf("after %s: the buyer's lnd has %v, %d msat in "+
				"%d HTLCs; refund %+v, job escrow %d, refunded "+
				"%d", point, inv.State, inv.AmtPaidMsat,
				len(inv.Htlcs), r, got.EscrowMsat,
				got.RefundedMsat)
		}
		s.stop()
	}

	for _, j := range jobs {
		h := s.escrowHistory(t, j.JobId)
		if len(h) != 2 || h[0].IdempotencyKey != "fund:"+
			hex.EncodeToString(j.Invoices[0].PaymentHash) ||
			int64(h[0].Amount) != j.BudgetMsat ||
			!strings.HasPrefix(h[1].IdempotencyKey, "refund:") ||
			h[1].BalanceAfter != 0 {

			t.Fatalf("escrow history of %s: %+v; want one funding "+
				"and one refund", j.JobId, h)
		}
	}
}
