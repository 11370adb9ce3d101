package settlement_test

import (
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/shopspring/decimal"
	"github.com/sluice-ln/sluice/channels"
	"github.com/sluice-ln/sluice/ledger"
	"github.com/sluice-ln/sluice/settlement"
	"github.com/sluice-ln/sluice/settlement/settlementtest"
)

func TestAddBuyer(t *testing.T) {
	e := newEnv(t)
	_, err := e.m.AddBuyer(e.ctx, "alice")
	wantErr(t, "second alice", err, settlement.ErrBuyerExists)

	for _, name := range []string{"", "has space", "ü",
		strings.Repeat("x", 65)} {

		_, err := e.m.AddBuyer(e.ctx, name)
		wantErr(t, fmt.Sprintf("name %q", name), err,
			settlement.ErrInvalidBuyer)
	}
	b, err := e.m.AddBuyer(e.ctx, "bob.b-2_x")
	if err != nil || !strings.HasPrefix(b.ID, "buyer-") ||
		b.ID == e.buyer {

		t.Fatalf("AddBuyer(bob) = %+v, %v", b, err)
	}
	all, err := e.m.Buyers(e.ctx)
	if err != nil || len(all) != 2 {
		t.Fatalf("Buyers = %+v, %v", all, err)
	}
}

// TestCreateJob creates a job and checks what it holds: the rate card as
// it stood, the funding invoice for the budget, awaiting funding, and its
// creation event. A later rate change does not touch it.
func TestCreateJob(t *testing.T) {
	e := newEnv(t)
	st, err := e.m.CreateJob(e.ctx, settlement.CreateJobRequest{
		BuyerID: e.buyer, ProviderID: e.prov.ID,
		Spec: settlement.Spec{channels.ResourceCPU: 2000,
			channels.ResourceMem: 512},
		Budget: 100_000, BufferSeconds: 30,
		InvoiceExpiry: 10 * time.Minute,
	})
	if err != nil {
		t.Fatal(err)
	}
	// 2000 × 0.01 + 512 × 0.001 = 20.512 msat/s.
	if st.State != settlement.StateAwaitingFunding ||
		!st.PricePerSecond.Equal(decimal.RequireFromString("20.512")) ||
		st.Budget != 100_000 || st.BufferSeconds != 30 ||
		st.BuyerID != e.buyer || st.ProviderID != e.prov.ID ||
		!strings.HasPrefix(st.ID, "job-") {

		t.Fatalf("created job: %+v", st.Job)
	}
	if len(st.Invoices) != 1 {
		t.Fatalf("invoices: %+v", st.Invoices)
	}
	inv := st.Invoices[0]
	hubInv := e.hub.Invoice(hashOf(t, inv))
	if inv.Purpose != settlement.PurposeFunding || inv.Amount != 100_000 ||
		inv.State != settlement.InvoiceOpen ||
		hubInv.Amount != 100_000 ||
		!inv.ExpiresAt.Equal(inv.CreatedAt.Add(10*time.Minute)) ||
		inv.PaymentRequest != hubInv.PaymentRequest {

		t.Fatalf("funding invoice %+v, hub has %+v", inv, hubInv)
	}
	if len(st.Events) != 1 || st.Events[0].To !=
		settlement.StateAwaitingFunding ||
		st.Events[0].Cause != settlement.CauseCreated {

		t.Fatalf("events: %+v", st.Events)
	}
	if st.Solvency.Escrow != 0 || st.Solvency.Health != settlement.Exhausted ||
		!st.DepletionTime.IsZero() {

		t.Fatalf("solvency before funding: %+v", st.Solvency)
	}

	// The provider doubles its rates; the job keeps its copy.
	doubled := e.prov
	doubled.Rates = channels.RateCard{
		channels.ResourceCPU: rate(t, "0.02"),
		channels.ResourceMem: rate(t, "0.002"),
	}
	e.provs.Set(doubled)
	again := e.get(st.ID)
	if !again.Rates[channels.ResourceCPU].Decimal().Equal(
		decimal.RequireFromString("0.01")) ||
		!again.PricePerSecond.Equal(st.PricePerSecond) {

		t.Fatalf("rates after the provider's change: %v, %v",
			again.Rates, again.PricePerSecond)
	}
}

// TestCreateJobRefused checks each refusal of CreateJob with its error.
func TestCreateJobRefused(t *testing.T) {
	e := newEnv(t)
	e.provs.Set(settlement.Provider{ID: "cpu-only",
		Rates: channels.RateCard{channels.ResourceCPU: rate(t, "1")}})
	e.provs.Set(settlement.Provider{ID: "free",
		Rates: channels.RateCard{channels.ResourceCPU: rate(t, "0")}})

	cpu := settlement.Spec{channels.ResourceCPU: 1000}
	good := settlement.CreateJobRequest{BuyerID: e.buyer,
		ProviderID: e.prov.ID, Spec: cpu, Budget: 1000, BufferSeconds: 5}
	tests := []struct {
		name string
		edit func(r *settlement.CreateJobRequest)
		want error
		says string
	}{
		{"unknown buyer", func(r *settlement.CreateJobRequest) {
			r.BuyerID = "buyer-nobody"
		}, settlement.ErrBuyerNotFound, "buyer-nobody"},
		{"unknown provider", func(r *settlement.CreateJobRequest) {
			r.ProviderID = "prov-x"
		}, settlement.ErrProviderNotFound, "prov-x"},
		{"no provider", func(r *settlement.CreateJobRequest) {
			r.ProviderID = ""
		}, settlement.ErrInvalidJob, "provider_id"},
		{"zero budget", func(r *settlement.CreateJobRequest) {
			r.Budget = 0
		}, settlement.ErrInvalidJob, "budget_msat"},
		{"budget under a second", func(r *settlement.CreateJobRequest) {
			r.Budget = 9
		}, settlement.ErrInvalidJob, "less than one second"},
		{"negative buffer", func(r *settlement.CreateJobRequest) {
			r.BufferSeconds = -1
		}, settlement.ErrInvalidJob, "buffer_seconds"},
		{"empty spec", func(r *settlement.CreateJobRequest) {
			r.Spec = settlement.Spec{}
		}, settlement.ErrInvalidJob, "spec"},
		{"unknown resource", func(r *settlement.CreateJobRequest) {
			r.Spec = settlement.Spec{"gpu": 1}
		}, settlement.ErrInvalidJob, "gpu"},
		{"resource without a rate", func(r *settlement.CreateJobRequest) {
			r.ProviderID = "cpu-only"
			r.Spec = settlement.Spec{channels.ResourceMem: 1}
		}, settlement.ErrInvalidJob, "no rate for mem"},
		{"free", func(r *settlement.CreateJobRequest) {
			r.ProviderID = "free"
		}, settlement.ErrInvalidJob, "costs nothing"},
		{"refund to the hub", func(r *settlement.CreateJobRequest) {
			r.RefundNode, r.HasRefundNode = e.hubKey.node, true
		}, settlement.ErrInvalidJob, "hub itself"},
		{"expiry too long", func(r *settlement.CreateJobRequest) {
			r.InvoiceExpiry = 31 * 24 * time.Hour
		}, settlement.ErrInvalidJob, "expiry"},
	}
	for _, tc := range tests {
		req := good
		tc.edit(&req)
		_, err := e.m.CreateJob(e.ctx, req)
		if !errors.Is(err, tc.want) ||
			!strings.Contains(err.Error(), tc.says) {

			t.Errorf("%s: err = %v, want %v saying %q", tc.name,
				err, tc.want, tc.says)
		}
	}
	if n := e.hub.Calls("AddInvoice"); n != 0 {
		t.Errorf("refused jobs made %d invoices", n)
	}
	jobs, err := e.m.ListJobs(e.ctx, settlement.ListFilter{})
	if err != nil || len(jobs) != 0 {
		t.Fatalf("jobs after refusals: %d, %v", len(jobs), err)
	}
	if _, err := e.m.CreateJob(e.ctx, good); err != nil {
		t.Fatalf("the good request: %v", err)
	}
}

// TestFundingCreditsEscrowExactlyOnce pays a funding invoice for more than
// it asks, and checks that the escrow holds what was paid to the msat,
// once, also after the stream breaks and replays from the cursor, and after
// a restart.
func TestFundingCreditsEscrowExactlyOnce(t *testing.T) {
	e := newEnv(t)
	e.hub.Expect("SubscribeSettled", 2)
	e.start(e.m)
	e.eventually("the subscription", func() error {
		if e.hub.Calls("SubscribeSettled") < 1 {
			return errors.New("not yet")
		}
		return nil
	})
	st := e.create(10_000, 5)

	// An invoice that is not a job's moves nothing but the cursor.
	other, err := e.hub.AddInvoice(e.ctx, 777, "not a job", time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	e.hub.Settle(other.Hash, 0)

	const paid = 10_001
	e.fund(st, paid)
	got := e.get(st.ID)
	escrow := ledger.BuyerEscrow(st.ID)
	if got.State != settlement.StateFunded ||
		got.Solvency.Escrow != paid ||
		got.Invoices[0].State != settlement.InvoiceSettled ||
		got.Invoices[0].AmountPaid != paid {

		t.Fatalf("after funding: %s, %+v, %+v", got.State,
			got.Solvency, got.Invoices[0])
	}
	ev := got.Events[len(got.Events)-1]
	if ev.From != settlement.StateAwaitingFunding ||
		ev.To != settlement.StateFunded ||
		ev.Cause != settlement.CauseFundingSettled {

		t.Fatalf("funding event: %+v", ev)
	}

	// The stream breaks; resubscribing replays nothing already
	// processed, and a replay would change nothing anyway.
	e.hub.BreakStreams()
	e.eventually("a new subscription", func() error {
		if e.hub.Calls("SubscribeSettled") < 2 {
			return errors.New("not yet")
		}
		return nil
	})

	// A restart on the same store: catch-up and the stream both see
	// the settled invoice; neither credits it again.
	e.m.Stop()
	m2 := e.newManager()
	e.start(m2)
	time.Sleep(100 * time.Millisecond)

	h := e.history(escrow)
	if len(h) != 1 || h[0].Amount != paid ||
		h[0].IdempotencyKey != "fund:"+st.Invoices[0].PaymentHash {

		t.Fatalf("escrow history: %+v", h)
	}
	if b := e.balance(ledger.HubHoldings()); b != -paid {
		t.Fatalf("hub holdings %d, want %d", b, -paid)
	}
	var cursor uint64
	err = e.inTx(func(tx settlement.TxStore) error {
		var err error
		cursor, err = tx.Cursor(e.ctx, "invoice_settle_index")
		return err
	})
	if err != nil || cursor != 2 {
		t.Fatalf("settle cursor %d, %v; want 2", cursor, err)
	}
}

// TestFundingWhileDown settles invoices while no manager runs: one the
// stream replays from the cursor, one lnd does not replay (cursor zero)
// and only the catch-up finds. Each is credited once.
func TestFundingWhileDown(t *testing.T) {
	e := newEnv(t)
	first := e.create(1000, 0)
	second := e.create(2000, 0)

	// Nothing watches yet: the stream would not replay index 1 from a
	// zero cursor, so only the catch-up lookup finds it.
	e.hub.SettleQuietly(hashOf(t, first.Invoices[0]))
	e.start(e.m)
	e.waitState(first.ID, settlement.StateFunded)

	e.m.Stop()
	e.hub.SettleQuietly(hashOf(t, second.Invoices[0]))
	m2 := e.newManager()
	e.start(m2)
	e.waitState(second.ID, settlement.StateFunded)

	for _, c := range []struct {
		id   string
		want ledger.MilliSatoshi
	}{{first.ID, 1000}, {second.ID, 2000}} {
		h := e.history(ledger.BuyerEscrow(c.id))
		if len(h) != 1 || h[0].Amount != c.want {
			t.Errorf("escrow of %s: %+v", c.id, h)
		}
	}
}

// TestFundingExpiry lets a funding invoice expire unpaid: the job expires
// and the invoice is canceled in lnd. A top-up invoice that expires
// leaves its job alone.
func TestFundingExpiry(t *testing.T) {
	e := newEnv(t)
	e.hub.Expect("CancelInvoice", 1)
	st := e.create(1000, 0)
	e.start(e.m)

	e.clock.Advance(time.Hour + time.Second)
	got := e.waitState(st.ID, settlement.StateExpired)
	if got.Invoices[0].State != settlement.InvoiceExpired ||
		got.EndedAt.IsZero() {

		t.Fatalf("expired job's invoice: %+v", got.Invoices[0])
	}
	ev := got.Events[len(got.Events)-1]
	if ev.Cause != settlement.CauseFundingExpired {
		t.Fatalf("expiry event: %+v", ev)
	}
	if inv := e.hub.Invoice(hashOf(t, st.Invoices[0])); inv.State !=
		"canceled" {

		t.Fatalf("hub invoice %s", inv.State)
	}
	_, err := e.m.TopUpJob(e.ctx, st.ID, 0)
	wantErr(t, "top-up of an expired job", err, settlement.ErrJobEnded)
	_, err = e.m.EndJob(e.ctx, settlement.EndJobRequest{JobID: st.ID,
		By: settlement.CauseEndedByBuyer})
	wantErr(t, "end of an expired job", err, settlement.ErrJobEnded)

	// A funded job's top-up expires; the job stays funded.
	st2 := e.create(1000, 0)
	e.fund(st2, 0)
	top, err := e.m.TopUpJob(e.ctx, st2.ID, 500)
	if err != nil || top.Amount != 500 ||
		top.Purpose != settlement.PurposeTopUp {

		t.Fatalf("top-up: %+v, %v", top, err)
	}
	e.clock.Advance(time.Hour + time.Second)
	e.eventually("the top-up to expire", func() error {
		got := e.get(st2.ID)
		for _, inv := range got.Invoices {
			if inv.Purpose == settlement.PurposeTopUp &&
				inv.State != settlement.InvoiceExpired {

				return fmt.Errorf("top-up %s", inv.State)
			}
		}
		if got.State != settlement.StateFunded {
			return fmt.Errorf("job %s", got.State)
		}
		return nil
	})
}

// TestSolvency runs a job through its solvency thresholds: price 10
// msat/s, buffer 30 s (300 msat), budget 1000 msat.
func TestSolvency(t *testing.T) {
	e := newEnv(t)
	e.start(e.m)
	st := e.create(1000, 30)

	// Usage before funding or before the agent started is metering's
	// to refuse (metering's validate and property tests); settlement
	// refuses to start an unfunded job.
	_, err := e.startJob(st.ID)
	wantErr(t, "start before funding", err,
		settlement.ErrInvalidTransition)

	e.fund(st, 0)
	state, err := e.startJob(st.ID)
	if err != nil || state != settlement.StateRunning {
		t.Fatalf("start: %s, %v", state, err)
	}
	// Starting again is a no-op.
	if state, err := e.startJob(st.ID); err != nil ||
		state != settlement.StateRunning {

		t.Fatalf("second start: %s, %v", state, err)
	}

	got := e.get(st.ID)
	if got.Solvency.RunwaySeconds != 100 || got.DepletionTime !=
		got.AsOf.Add(100*time.Second) || got.StartedAt.IsZero() {

		t.Fatalf("running: %+v, depletion %v (as of %v)", got.Solvency,
			got.DepletionTime, got.AsOf)
	}

	steps := []struct {
		charge ledger.MilliSatoshi
		state  settlement.State
		escrow ledger.MilliSatoshi
	}{
		{700, settlement.StateRunning, 300},   // runway 30 s: not low
		{1, settlement.StateLowBalance, 299},  // 29.9 s
		{289, settlement.StateLowBalance, 10}, // exactly one second
		{1, settlement.StateSuspended, 9},     // below one second
	}
	for i, s := range steps {
		res, err := e.charge(st.ID, s.charge, fmt.Sprintf("usage:%d", i))
		if err != nil || res.State != s.state ||
			res.Solvency.Escrow != s.escrow {

			t.Fatalf("charge %d: %+v, %v; want %s with %d", s.charge,
				res, err, s.state, s.escrow)
		}
	}

	// A suspended job takes no usage: metering asks its state.
	if st := e.get(st.ID).State; st.TakesUsage() {
		t.Fatalf("suspended job %s takes usage", st)
	}

	// The fee split: 10% of 700 to the platform, the rest to the
	// provider; 1 + 289 + 1 split the same way.
	if fees := e.balance(ledger.PlatformFees()); fees != 70+0+28+0 {
		t.Errorf("platform fees %d", fees)
	}
	if pay := e.balance(ledger.ProviderPayable(e.prov.ID)); pay !=
		630+1+261+1 {

		t.Errorf("provider payable %d", pay)
	}

	// The sweeper, woken by the suspension, makes a top-up invoice;
	// paying it resumes the job.
	got = e.waitTopUp(st.ID)
	if got.TopUp == nil || got.TopUp.Amount != 1000 ||
		!got.DepletionTime.IsZero() {

		t.Fatalf("suspended job: top-up %+v, depletion %v", got.TopUp,
			got.DepletionTime)
	}
	e.hub.Settle(hashOf(t, *got.TopUp), 0)
	got = e.waitState(st.ID, settlement.StateRunning)
	if got.Solvency.Escrow != 1009 {
		t.Fatalf("after the top-up: escrow %d", got.Solvency.Escrow)
	}
	ev := got.Events[len(got.Events)-1]
	if ev.From != settlement.StateSuspended || ev.Cause !=
		settlement.CauseTopUpSettled {

		t.Fatalf("resume event %+v", ev)
	}

	// Usage the escrow cannot cover is refused whole by the ledger.
	_, err = e.charge(st.ID, 1010, "usage:too-much")
	wantErr(t, "overdraft", err, ledger.ErrOverdraft)
	if b := e.balance(ledger.BuyerEscrow(st.ID)); b != 1009 {
		t.Fatalf("escrow after a refused charge: %d", b)
	}

	// A replayed key changes nothing.
	res, err := e.charge(st.ID, 700, "usage:0")
	if err != nil || !res.Receipt.Duplicate {
		t.Fatalf("replayed charge: %+v, %v", res, err)
	}

	// The whole life in events.
	var path []string
	for _, ev := range e.get(st.ID).Events {
		path = append(path, string(ev.To))
	}
	want := "awaiting_funding funded running low_balance suspended running"
	if strings.Join(path, " ") != want {
		t.Fatalf("events: %v, want %s", path, want)
	}
}

// TestLowFromTheStart funds a job whose budget is below its buffer: it is
// low on balance before the agent starts, a start keeps it low, and a
// top-up lifts it to running.
func TestLowFromTheStart(t *testing.T) {
	e := newEnv(t)
	e.start(e.m)
	st := e.create(100, 30) // 10 s of runway, 30 s of buffer

	e.fund(st, 0)
	e.waitState(st.ID, settlement.StateLowBalance)
	got := e.waitTopUp(st.ID)
	state, err := e.startJob(st.ID)
	if err != nil || state != settlement.StateLowBalance {
		t.Fatalf("start of a low job: %s, %v", state, err)
	}
	e.hub.Settle(hashOf(t, *got.TopUp), 0)
	got = e.waitState(st.ID, settlement.StateLowBalance)
	e.eventually("a top-up of the budget", func() error {
		if e.get(st.ID).Solvency.Escrow != 200 {
			return errors.New("not yet")
		}
		return nil
	})
	// 200 msat is still 20 s: a bigger top-up lifts it.
	top, err := e.m.TopUpJob(e.ctx, st.ID, 1000)
	if err != nil {
		t.Fatal(err)
	}
	e.hub.Settle(hashOf(t, top), 0)
	e.waitState(st.ID, settlement.StateRunning)

	var path []string
	for _, ev := range e.get(st.ID).Events {
		path = append(path, string(ev.To)+"/"+string(ev.Cause))
	}
	want := "awaiting_funding/created funded/funding_settled " +
		"low_balance/runway_below_buffer running/agent_started " +
		"low_balance/runway_below_buffer running/top_up_settled"
	if strings.Join(path, " ") != want {
		t.Fatalf("events:\n got %v\nwant %s", path, want)
	}
}

func TestTopUpRefused(t *testing.T) {
	e := newEnv(t)
	st := e.create(1000, 0)
	_, err := e.m.TopUpJob(e.ctx, st.ID, 0)
	wantErr(t, "top-up before funding", err, settlement.ErrNotFunded)
	_, err = e.m.TopUpJob(e.ctx, "job-nope", 0)
	wantErr(t, "top-up of no job", err, settlement.ErrJobNotFound)
	_, err = e.m.TopUpJob(e.ctx, st.ID, -1)
	wantErr(t, "negative top-up", err, settlement.ErrInvalidJob)
}

func TestListJobs(t *testing.T) {
	e := newEnv(t)
	b2, err := e.m.AddBuyer(e.ctx, "bob")
	if err != nil {
		t.Fatal(err)
	}
	e.provs.Set(settlement.Provider{ID: "prov-2", Rates: e.prov.Rates})
	a := e.create(1000, 0)
	e.clock.Advance(time.Second)
	b, err := e.m.CreateJob(e.ctx, settlement.CreateJobRequest{
		BuyerID: b2.ID, ProviderID: "prov-2",
		Spec:   settlement.Spec{channels.ResourceCPU: 1},
		Budget: 1000,
	})
	if err != nil {
		t.Fatal(err)
	}
	ids := func(f settlement.ListFilter) string {
		jobs, err := e.m.ListJobs(e.ctx, f)
		if err != nil {
			t.Fatal(err)
		}
		var out []string
		for _, j := range jobs {
			out = append(out, j.ID)
		}
		return strings.Join(out, ",")
	}
	tests := []struct {
		f    settlement.ListFilter
		want string
	}{
		{settlement.ListFilter{}, b.ID + "," + a.ID},
		{settlement.ListFilter{BuyerID: e.buyer}, a.ID},
		{settlement.ListFilter{ProviderID: "prov-2"}, b.ID},
		{settlement.ListFilter{States: []settlement.State{
			settlement.StateRunning}}, ""},
		{settlement.ListFilter{Limit: 1}, b.ID},
	}
	for _, tc := range tests {
		if got := ids(tc.f); got != tc.want {
			t.Errorf("ListJobs(%+v) = %s, want %s", tc.f, got,
				tc.want)
		}
	}
	_, err = e.m.ListJobs(e.ctx, settlement.ListFilter{
		States: []settlement.State{"bogus"}})
	wantErr(t, "bogus state", err, settlement.ErrInvalidJob)
}

// TestMeteringHooks checks what metering uses in its own transaction:
// JobInTx with the funding time, StartJob at a given time, and
// UsageCharged after metering posted usage itself.
func TestMeteringHooks(t *testing.T) {
	e := newEnv(t)
	e.start(e.m)
	st := e.create(1000, 30)

	var job settlement.Job
	err := e.inTx(func(tx settlement.TxStore) error {
		var err error
		job, err = e.m.JobInTx(e.ctx, tx, st.ID)
		return err
	})
	if err != nil || !job.FundedAt.IsZero() ||
		job.Spec[channels.ResourceCPU] != 1000 {

		t.Fatalf("unfunded job: %+v, %v", job, err)
	}
	err = e.inTx(func(tx settlement.TxStore) error {
		_, err := e.m.JobInTx(e.ctx, tx, "job-nope")
		return err
	})
	wantErr(t, "unknown job", err, settlement.ErrJobNotFound)

	e.fund(st, 0)
	first := e.clock.Now().Add(-3 * time.Second)
	err = e.inTx(func(tx settlement.TxStore) error {
		var err error
		job, err = e.m.JobInTx(e.ctx, tx, st.ID)
		if err != nil {
			return err
		}
		_, err = e.m.StartJob(e.ctx, tx, st.ID, first)
		return err
	})
	if err != nil || job.FundedAt.IsZero() {
		t.Fatalf("funded job: %+v, %v", job, err)
	}
	if got := e.get(st.ID); !got.StartedAt.Equal(first) ||
		got.FundedAt.IsZero() {

		t.Fatalf("started at %v, want %v", got.StartedAt, first)
	}

	// Metering posts 701 msat itself, then tells settlement.
	var (
		state settlement.State
		solv  settlement.Solvency
	)
	err = e.inTx(func(tx settlement.TxStore) error {
		_, err := e.ledger.PostTx(e.ctx, tx, ledger.Transfer(
			"usage:m:1-70", "usage", ledger.BuyerEscrow(st.ID),
			ledger.ProviderPayable(e.prov.ID), 701))
		if err != nil {
			return err
		}
		state, solv, err = e.m.UsageCharged(e.ctx, tx, st.ID,
			"usage:m:1-70")
		return err
	})
	if err != nil || state != settlement.StateLowBalance ||
		solv.Escrow != 299 {

		t.Fatalf("after metering's charge: %s, %+v, %v", state, solv,
			err)
	}
}

// TestReadsCallNoLnd is the regression test of a GetJob that made a top-up
// invoice, and an EndJob of a suspended job that made one only to cancel
// it: reading a job low on balance or suspended calls no lnd method, and
// ending a suspended job makes no invoice. A second manager on the same
// store, never started (no sweeper) and on a hub of its own, does the
// reads, so that every call it makes shows on that hub.
func TestReadsCallNoLnd(t *testing.T) {
	tests := []struct {
		name  string
		used  ledger.MilliSatoshi
		state settlement.State
	}{
		{"low on balance", 800, settlement.StateLowBalance},
		{"suspended", 995, settlement.StateSuspended},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t)
			e.start(e.m)
			st := e.create(1000, 30)
			e.fund(st, 0)
			// Stop the first manager's sweeper before the job
			// needs a top-up, so that none is made behind the
			// reads' backs.
			e.m.Stop()
			if _, err := e.startJob(st.ID); err != nil {
				t.Fatal(err)
			}

			quiet := settlementtest.NewHub(t, e.clock.Now)
			cfg := e.cfg
			cfg.Invoices, cfg.Payments, cfg.Routes = quiet, quiet,
				quiet
			reader, err := settlement.New(cfg)
			if err != nil {
				t.Fatal(err)
			}
			res, err := e.chargeWith(reader, st.ID, tc.used,
				"usage:"+st.ID)
			if err != nil || res.State != tc.state {
				t.Fatalf("usage: %+v, %v; want %s", res, err,
					tc.state)
			}

			got, err := reader.GetJob(e.ctx, st.ID)
			if err != nil || got.State != tc.state ||
				got.TopUp != nil {

				t.Fatalf("GetJob: %s, top-up %+v, %v", got.State,
					got.TopUp, err)
			}
			if _, err := reader.ListJobs(e.ctx,
				settlement.ListFilter{}); err != nil {

				t.Fatal(err)
			}
			for _, method := range lndMethods {
				if n := quiet.Calls(method); n != 0 {
					t.Fatalf("reading called %s %d times",
						method, n)
				}
			}

			if tc.state != settlement.StateSuspended {
				return
			}
			_, _ = reader.EndJob(e.ctx, settlement.EndJobRequest{
				JobID: st.ID, By: settlement.CauseEndedByBuyer})
			if got := e.get(st.ID); got.State !=
				settlement.StateEnded || len(got.Invoices) != 1 {

				t.Fatalf("ended: %s with %d invoices", got.State,
					len(got.Invoices))
			}
			for _, method := range []string{"AddInvoice",
				"CancelInvoice"} {

				if n := quiet.Calls(method); n != 0 {
					t.Fatalf("ending a suspended job called "+
						"%s %d times", method, n)
				}
			}
		})
	}
}

// lndMethods are the methods of the fake hub, each a call to lnd.
var lndMethods = []string{"AddInvoice", "LookupInvoice", "CancelInvoice",
	"SubscribeSettled", "Pay", "Track", "QueryRoute"}
