package settlement_test

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/lightningnetwork/lnd/lnwire"
	"github.com/sluice-ln/sluice/channels"
	"github.com/sluice-ln/sluice/ledger"
	"github.com/sluice-ln/sluice/settlement"
)

// fakePlacer takes the first of its providers not excluded and tells the
// last heartbeat it was given for each.
type fakePlacer struct {
	mu        sync.Mutex
	order     []settlement.Provider
	lastSeen  map[string]time.Time
	asked     [][]string
	askedMax  []string
	askedSpec []settlement.Spec
}

func (f *fakePlacer) Replace(_ context.Context, spec settlement.Spec,
	max channels.RateCard, exclude []string) (string, channels.RateCard,
	error) {

	f.mu.Lock()
	defer f.mu.Unlock()
	f.asked = append(f.asked, slices.Clone(exclude))
	f.askedMax = append(f.askedMax, settlement.FormatMaxRates(max))
	f.askedSpec = append(f.askedSpec, spec)
	for _, p := range f.order {
		if !slices.Contains(exclude, p.ID) {
			return p.ID, p.Rates, nil
		}
	}
	return "", nil, fmt.Errorf("%w: all excluded",
		settlement.ErrNoPlacement)
}

// calls returns what the placer was asked so far: the exclusions, the
// max rates and the specs.
func (f *fakePlacer) calls() ([][]string, []string, []settlement.Spec) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return slices.Clone(f.asked), slices.Clone(f.askedMax),
		slices.Clone(f.askedSpec)
}

func (f *fakePlacer) LastSeen(_ context.Context, id string) (time.Time,
	bool, error) {

	f.mu.Lock()
	defer f.mu.Unlock()
	t, ok := f.lastSeen[id]
	return t, ok, nil
}

// placementEnv is an env whose manager places jobs again through a fake
// placer offering a second provider at twice the first one's cpu rate.
func placementEnv(t *testing.T) (*env, *fakePlacer, settlement.Provider) {
	e := newEnv(t)
	prov2 := settlement.Provider{
		ID: "prov-2", Node: newKey(t).node,
		Rates: channels.RateCard{
			channels.ResourceCPU: rate(t, "0.02"),
			channels.ResourceMem: rate(t, "0.001"),
		},
	}
	e.provs.Set(prov2)
	f := &fakePlacer{order: []settlement.Provider{prov2},
		lastSeen: map[string]time.Time{}}
	e.cfg.Placer = f
	e.cfg.StartTimeout = time.Minute
	e.cfg.LostAfter = 30 * time.Second
	e.m = e.newManager()
	e.start(e.m)
	return e, f, prov2
}

// placements reads a job's placements.
func (e *env) placements(id string) []settlement.StoredPlacement {
	e.t.Helper()
	var out []settlement.StoredPlacement
	err := e.inTx(func(tx settlement.TxStore) error {
		var err error
		out, err = tx.JobPlacements(e.ctx, id)
		return err
	})
	if err != nil {
		e.t.Fatal(err)
	}
	return out
}

// TestReplaceLapsed checks that a placed job its provider does not start
// within the start timeout of its funding moves, escrow and all, to the
// provider the placer takes (asked with the job's spec and max rates and
// without the provider that let it lapse), at that provider's rates; that
// it stays when no other provider fits; and that a started job and a job
// whose buyer named its provider never move.
func TestReplaceLapsed(t *testing.T) {
	e, f, prov2 := placementEnv(t)
	max := channels.RateCard{channels.ResourceCPU: rate(t, "0.05")}
	create := func(placed bool) settlement.Status {
		t.Helper()
		req := settlement.CreateJobRequest{
			BuyerID: e.buyer, ProviderID: e.prov.ID,
			Spec:   settlement.Spec{channels.ResourceCPU: 1000},
			Budget: 100_000, BufferSeconds: 1,
		}
		if placed {
			req.Placed, req.MaxRates = true, max
		}
		st, err := e.m.CreateJob(e.ctx, req)
		if err != nil {
			t.Fatal(err)
		}
		e.fund(st, 0)
		return st
	}
	lapsing := create(true)
	started := create(true)
	named := create(false)
	if _, err := e.startJob(started.ID); err != nil {
		t.Fatal(err)
	}
	if p := e.placements(named.ID); len(p) != 0 {
		t.Fatalf("a named provider's job has placements %+v", p)
	}
	if p := e.placements(lapsing.ID); len(p) != 1 ||
		p[0].ProviderID != e.prov.ID || p[0].MaxRates != "cpu=0.05" ||
		!p[0].LapsedAt.IsZero() {

		t.Fatalf("first placement %+v", p)
	}

	// Within the timeout nothing moves, and the placer is not asked.
	e.clock.Advance(59 * time.Second)
	e.m.SweepNow(e.ctx, t)
	if st := e.get(lapsing.ID); st.ProviderID != e.prov.ID {
		t.Fatalf("moved to %s before the timeout", st.ProviderID)
	}
	if asked, _, _ := f.calls(); len(asked) != 0 {
		t.Fatalf("placer asked %v before the timeout", asked)
	}

	escrow := e.balance(ledger.BuyerEscrow(lapsing.ID))
	e.clock.Advance(2 * time.Second)
	e.m.SweepNow(e.ctx, t)
	st := e.get(lapsing.ID)
	if st.ProviderID != prov2.ID || st.State != settlement.StateFunded ||
		!st.PricePerSecond.Equal(rate(t, "20").Decimal()) ||
		!st.Rates[channels.ResourceCPU].Decimal().Equal(
			rate(t, "0.02").Decimal()) {

		t.Fatalf("after the timeout: provider %s, state %s, price %s, "+
			"rates %v", st.ProviderID, st.State, st.PricePerSecond,
			st.Rates)
	}
	if got := e.balance(ledger.BuyerEscrow(lapsing.ID)); got != escrow {
		t.Fatalf("escrow %d after the move, was %d", got, escrow)
	}
	last := st.Events[len(st.Events)-1]
	if last.Cause != settlement.CausePlacedAgain ||
		last.From != settlement.StateFunded ||
		last.To != settlement.StateFunded {

		t.Fatalf("last event %+v", last)
	}
	asked, askedMax, askedSpec := f.calls()
	if len(asked) != 1 || !slices.Equal(asked[0], []string{e.prov.ID}) ||
		askedMax[0] != "cpu=0.05" ||
		askedSpec[0][channels.ResourceCPU] != 1000 {

		t.Fatalf("placer asked %v, max %v, spec %v", asked, askedMax,
			askedSpec)
	}
	p := e.placements(lapsing.ID)
	if len(p) != 2 || p[0].LapsedAt.IsZero() || !p[1].LapsedAt.IsZero() ||
		p[1].ProviderID != prov2.ID || p[1].Seq != 2 ||
		p[1].MaxRates != "cpu=0.05" {

		t.Fatalf("placements after the move %+v", p)
	}
	for _, id := range []string{started.ID, named.ID} {
		if st := e.get(id); st.ProviderID != e.prov.ID {
			t.Fatalf("job %s moved to %s", id, st.ProviderID)
		}
	}

	// prov-2 lets it lapse too: both are excluded and nothing fits,
	// so the job stays where it is (the sweeper asks again at each of
	// its rounds).
	e.clock.Advance(2 * time.Minute)
	e.m.SweepNow(e.ctx, t)
	if st := e.get(lapsing.ID); st.ProviderID != prov2.ID {
		t.Fatalf("moved to %s with nothing to fit", st.ProviderID)
	}
	asked, _, _ = f.calls()
	if len(asked) < 2 {
		t.Fatalf("placer asked %v", asked)
	}
	for _, a := range asked[1:] {
		if !slices.Equal(a, []string{e.prov.ID, prov2.ID}) {
			t.Fatalf("placer asked %v", asked)
		}
	}
	if p := e.placements(lapsing.ID); len(p) != 2 ||
		!p[1].LapsedAt.IsZero() {

		t.Fatalf("placements with nothing to fit %+v", p)
	}

	// Once started, it is not asked about again: a round that began
	// before the start has ended when SweepNow returns.
	if _, err := e.startJob(lapsing.ID); err != nil {
		t.Fatal(err)
	}
	e.m.SweepNow(e.ctx, t)
	before, _, _ := f.calls()
	e.clock.Advance(2 * time.Minute)
	e.m.SweepNow(e.ctx, t)
	if after, _, _ := f.calls(); len(after) != len(before) {
		t.Fatalf("placer asked %v after the start", after[len(before):])
	}
}

// TestEndLost checks that a started job with a workload is ended as
// provider_lost once its provider's last heartbeat is more than LostAfter
// old, and not before, nor when the provider never heartbeated, nor when
// it has no workload.
func TestEndLost(t *testing.T) {
	e, f, _ := placementEnv(t)
	w := &settlement.Workload{Argv: []string{"sleep", "600"}}
	served, err := e.createWith(w)
	if err != nil {
		t.Fatal(err)
	}
	plain := e.create(100_000, 1)
	for _, st := range []settlement.Status{served, plain} {
		e.fund(st, 0)
		if _, err := e.startJob(st.ID); err != nil {
			t.Fatal(err)
		}
	}

	// Never heartbeated: an `agent run` provider, not ended.
	e.clock.Advance(time.Hour)
	e.m.SweepNow(e.ctx, t)
	if st := e.get(served.ID); st.State.Terminal() {
		t.Fatalf("ended without heartbeats: %s", st.State)
	}

	f.mu.Lock()
	f.lastSeen[e.prov.ID] = e.clock.Now().Add(-29 * time.Second)
	f.mu.Unlock()
	e.m.SweepNow(e.ctx, t)
	if st := e.get(served.ID); st.State.Terminal() {
		t.Fatalf("ended within LostAfter: %s", st.State)
	}

	e.clock.Advance(2 * time.Second)
	e.m.SweepNow(e.ctx, t)
	st := e.get(served.ID)
	last := st.Events[len(st.Events)-1]
	if st.State != settlement.StateEnded ||
		last.Cause != settlement.CauseProviderLost {

		t.Fatalf("after LostAfter: state %s, last event %+v", st.State,
			last)
	}
	if st := e.get(plain.ID); st.State.Terminal() {
		t.Fatalf("a job without a workload ended: %s", st.State)
	}
}

// TestReplaceLapsedLowBalance checks the rule for a placed job that fell
// low on balance before its agent started it (its budget pays fewer
// seconds than its buffer): it is startable, so it is placed again like a
// funded one when its provider does not start it in time, and a cheaper
// provider's price lifts it to funded, by its placement. A suspended one
// (its escrow does not pay one second) waits for a top-up where it is.
func TestReplaceLapsedLowBalance(t *testing.T) {
	e, f, _ := placementEnv(t)
	cheap := settlement.Provider{
		ID: "prov-3", Node: newKey(t).node,
		Rates: channels.RateCard{
			channels.ResourceCPU: rate(t, "0.005"),
			channels.ResourceMem: rate(t, "0.001"),
		},
	}
	e.provs.Set(cheap)
	f.mu.Lock()
	f.order = []settlement.Provider{cheap}
	f.mu.Unlock()

	// At 10 msat/s, 50 msat is 5 s against a buffer of 8: low on
	// balance; 5 msat (an invoice paid short) is not one second:
	// suspended.
	create := func(budget ledger.MilliSatoshi,
		paid lnwire.MilliSatoshi) settlement.Status {

		t.Helper()
		st, err := e.m.CreateJob(e.ctx, settlement.CreateJobRequest{
			BuyerID: e.buyer, ProviderID: e.prov.ID,
			Spec:   settlement.Spec{channels.ResourceCPU: 1000},
			Budget: budget, BufferSeconds: 8, Placed: true,
		})
		if err != nil {
			t.Fatal(err)
		}
		e.fund(st, paid)
		return e.get(st.ID)
	}
	low := create(50, 0)
	drained := create(20, 5)
	if low.State != settlement.StateLowBalance ||
		drained.State != settlement.StateSuspended {

		t.Fatalf("funded as %s and %s", low.State, drained.State)
	}
	if !low.State.Startable() || drained.State.Startable() {
		t.Fatal("low_balance must be startable, suspended not")
	}

	e.clock.Advance(61 * time.Second)
	e.m.SweepNow(e.ctx, t)
	st := e.get(low.ID)
	if st.ProviderID != cheap.ID || st.State != settlement.StateFunded ||
		e.balance(ledger.BuyerEscrow(low.ID)) != 50 {

		t.Fatalf("after the timeout: provider %s, state %s",
			st.ProviderID, st.State)
	}
	moves := st.Events[len(st.Events)-2:]
	if moves[0].Cause != settlement.CausePlacedAgain ||
		moves[0].From != settlement.StateLowBalance ||
		moves[0].To != settlement.StateLowBalance ||
		moves[1].Cause != settlement.CausePlacedAgain ||
		moves[1].From != settlement.StateLowBalance ||
		moves[1].To != settlement.StateFunded {

		t.Fatalf("events of the move %+v", moves)
	}
	if got := e.get(drained.ID); got.ProviderID != e.prov.ID ||
		got.State != settlement.StateSuspended {

		t.Fatalf("suspended job: provider %s, state %s",
			got.ProviderID, got.State)
	}
	if asked, _, _ := f.calls(); len(asked) != 1 {
		t.Fatalf("placer asked %v, want once (the low job)", asked)
	}
}

// TestStartLowBalance starts a job that fell low on balance before its
// agent started it: it runs, still low on balance.
func TestStartLowBalance(t *testing.T) {
	e := newEnv(t)
	e.start(e.m)
	st := e.create(50, 8)
	e.fund(st, 0)
	if got := e.get(st.ID); got.State != settlement.StateLowBalance {
		t.Fatalf("funded as %s", got.State)
	}
	state, err := e.startJob(st.ID)
	if err != nil || state != settlement.StateLowBalance {
		t.Fatalf("start: %s, %v", state, err)
	}
	if got := e.get(st.ID); got.StartedAt.IsZero() {
		t.Fatal("not started")
	}
}
