package devnet

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/lightningnetwork/lnd/clock"
	"github.com/lightningnetwork/lnd/lnwire"
)

// TestParseRate reads rates and refuses what is not one.
func TestParseRate(t *testing.T) {
	t.Parallel()
	good := []struct {
		in   string
		want Rate
	}{
		{"5/s", Rate{5, time.Second}},
		{" 1/s ", Rate{1, time.Second}},
		{"30/m", Rate{30, time.Minute}},
		{"100/h", Rate{100, time.Hour}},
	}
	for _, tc := range good {
		got, err := ParseRate(tc.in)
		if err != nil || got != tc.want {
			t.Errorf("ParseRate(%q) = %v, %v; want %v", tc.in, got,
				err, tc.want)
		}
		if got.String() != tc.want.String() {
			t.Errorf("%v prints as %q", tc.want, got.String())
		}
	}
	for _, in := range []string{
		"", "5", "5/", "/s", "0/s", "-1/s", "1.5/s", "5/d", "x/s",
	} {
		if r, err := ParseRate(in); err == nil {
			t.Errorf("ParseRate(%q) = %v, want an error", in, r)
		}
	}
}

// TestTrafficOptionsCheck fills the defaults and names the field out of
// bounds.
func TestTrafficOptionsCheck(t *testing.T) {
	t.Parallel()
	o := TrafficOptions{Rate: Rate{5, time.Second}, For: 10 * time.Second}
	if err := o.check(); err != nil {
		t.Fatal(err)
	}
	if o.Amount != DefaultTrafficAmount || o.Out == nil ||
		o.Clock == nil || o.PaymentTimeout == 0 {

		t.Errorf("defaults not filled: %+v", o)
	}
	if o.planned() != 50 {
		t.Errorf("planned %d, want 50", o.planned())
	}
	odd := TrafficOptions{Rate: Rate{3, time.Second}, For: time.Second +
		time.Millisecond}
	if odd.planned() != 4 {
		t.Errorf("planned %d, want 4 (at 0, 1/3, 2/3 and 1 s)",
			odd.planned())
	}
	// A third of a second is 333,333,333 ns: 15 of them fit in 5 s
	// with room for a sixteenth, which the rate does not ask for.
	third := TrafficOptions{Rate: Rate{3, time.Second},
		For: 5 * time.Second}
	if third.planned() != 15 {
		t.Errorf("planned %d, want 15", third.planned())
	}

	bad := []TrafficOptions{
		{Rate: Rate{}, For: time.Second},
		{Rate: Rate{1, 2 * time.Hour}, For: time.Second},
		{Rate: Rate{MaxTrafficRate + 1, time.Second}, For: time.Second},
		{Rate: Rate{1, time.Second}},
		{Rate: Rate{1, time.Second}, For: MaxTrafficDuration + 1},
		{Rate: Rate{1, time.Second}, For: time.Second, Amount: -1},
		{Rate: Rate{1, time.Second}, For: time.Second,
			Amount: MaxTrafficAmount + 1},
		{Rate: Rate{1, time.Second}, For: time.Second,
			PaymentTimeout: time.Millisecond},
	}
	for _, o := range bad {
		if err := o.check(); !errors.Is(err, ErrTrafficOptions) {
			t.Errorf("check(%+v) = %v, want ErrTrafficOptions", o,
				err)
		}
	}
}

// node is a traffic node holding local and remote msat on its channel
// with the hub, each side keeping floor.
func node(name string, local, remote,
	floor lnwire.MilliSatoshi) *trafficNode {

	return &trafficNode{
		name: name, local: local, remote: remote,
		localFloor: floor, remoteFloor: floor,
	}
}

// TestBookTake sends only where the balances allow, in turn, and follows
// the balances a payment moves.
func TestBookTake(t *testing.T) {
	t.Parallel()
	const (
		amt   = lnwire.MilliSatoshi(1_000_000)
		limit = lnwire.MilliSatoshi(20_000)
		floor = lnwire.MilliSatoshi(100_000)
	)
	buyer := node("buyer", 10*amt, 0, floor)
	p1 := node("provider1", 0, 10*amt, floor)
	p2 := node("provider2", 0, 10*amt, floor)
	b := newBook([]*trafficNode{buyer, p1, p2})
	if len(b.flows) != 6 {
		t.Fatalf("%d flows, want 6", len(b.flows))
	}

	// Only the buyer can send: to provider1, then provider2, in turn.
	f, ok := b.take(amt, limit)
	if !ok || f.from != buyer || f.to != p1 {
		t.Fatalf("first take: %v %v", f, ok)
	}
	b.settle(f, amt, limit, payResult{ok: true, amount: amt, fee: 1001})
	f, ok = b.take(amt, limit)
	if !ok || f.from != buyer || f.to != p2 {
		t.Fatalf("second take: %v %v", f, ok)
	}
	b.settle(f, amt, limit, payResult{failure: "FAILURE_REASON_NO_ROUTE"})

	if buyer.local != 9*amt-1001 || buyer.remote != amt+1001 {
		t.Errorf("buyer local %v remote %v", buyer.local, buyer.remote)
	}
	if p1.local != amt || p1.remote != 9*amt {
		t.Errorf("provider1 local %v remote %v", p1.local, p1.remote)
	}
	if p2.local != 0 || p2.remote != 10*amt {
		t.Errorf("provider2 local %v remote %v", p2.local, p2.remote)
	}

	// provider1 now holds amt, not amt above its floor and the fee
	// limit: it cannot send back yet, and the buyer's turn comes again.
	f, ok = b.take(amt, limit)
	if !ok || f.from != buyer || f.to != p1 {
		t.Fatalf("third take: %v %v", f, ok)
	}
	b.settle(f, amt, limit, payResult{ok: true, amount: amt, fee: 1001})

	// With 2 amt, provider1 sends back to the buyer, next in turn.
	f, ok = b.take(amt, limit)
	if !ok || f.from != p1 || f.to != buyer {
		t.Fatalf("fourth take: %v %v", f, ok)
	}
	if p1.local != amt-limit || buyer.remote != 2*amt+2002-amt {
		t.Errorf("set aside: provider1 local %v, buyer remote %v",
			p1.local, buyer.remote)
	}

	// A sender left with nothing above its floor sends nothing.
	dry := newBook([]*trafficNode{
		node("a", floor, 10*amt, floor),
		node("b", floor, 10*amt, floor),
	})
	if f, ok := dry.take(amt, limit); ok {
		t.Errorf("took %v from nodes at their floor", f)
	}
}

// fakePayer succeeds with a fee of 1000 msat + 1 ppm, except every
// failEvery-th payment, which fails for want of a route; it cancels
// after cancelAfter payments when set.
type fakePayer struct {
	mu          sync.Mutex
	n           int
	failEvery   int
	cancelAfter int
	cancel      context.CancelFunc
}

func (p *fakePayer) pay(_ context.Context, _ flow, amt,
	_ lnwire.MilliSatoshi) payResult {

	p.mu.Lock()
	defer p.mu.Unlock()
	p.n++
	if p.cancelAfter > 0 && p.n == p.cancelAfter {
		p.cancel()
	}
	if p.failEvery > 0 && p.n%p.failEvery == 0 {
		return payResult{failure: "FAILURE_REASON_NO_ROUTE"}
	}
	return payResult{ok: true, amount: amt, fee: 1000 + amt/1_000_000}
}

// testClock is a test clock that moves on by itself to each tick asked
// for, until stop.
func testClock(t *testing.T) *clock.TestClock {
	sig := make(chan time.Duration)
	clk := clock.NewTestClockWithTickSignal(time.Unix(1_000_000, 0), sig)
	done := make(chan struct{})
	t.Cleanup(func() { close(done) })
	go func() {
		for {
			select {
			case d := <-sig:
				clk.SetTime(clk.Now().Add(d))
			case <-done:
				return
			}
		}
	}()
	return clk
}

// bigBook is a buyer and two providers with room for thousands of
// payments each way.
func bigBook() *book {
	const big = lnwire.MilliSatoshi(1) << 40
	return newBook([]*trafficNode{
		node("buyer", big, big, 0),
		node("provider1", big, big, 0),
		node("provider2", big, big, 0),
	})
}

// TestRunTraffic sends the planned count at the rate, stops by itself, and
// adds up what the payer reported.
func TestRunTraffic(t *testing.T) {
	t.Parallel()
	opts := TrafficOptions{
		Rate: Rate{4, time.Second}, For: 5 * time.Second,
		Amount: 1000, Clock: testClock(t),
	}
	if err := opts.check(); err != nil {
		t.Fatal(err)
	}
	p := &fakePayer{failEvery: 5}
	rep := runTraffic(context.Background(), opts, bigBook(), p)

	if rep.Planned != 20 || rep.Sent != 20 || p.n != 20 {
		t.Fatalf("planned %d sent %d paid %d, want 20", rep.Planned,
			rep.Sent, p.n)
	}
	if rep.Succeeded != 16 || rep.Failed != 4 ||
		rep.Failures["FAILURE_REASON_NO_ROUTE"] != 4 {

		t.Errorf("succeeded %d failed %d (%v)", rep.Succeeded,
			rep.Failed, rep.Failures)
	}
	// 1000 sat each; fee 1000 msat + 1 msat (1 ppm of 1,000,000 msat).
	if rep.Amount != 16*1_000_000 || rep.Fees != 16*1001 {
		t.Errorf("amount %v fees %v", rep.Amount, rep.Fees)
	}
	// The last payment starts at 4.75 s.
	if rep.Elapsed != 4750*time.Millisecond {
		t.Errorf("elapsed %v, want 4.75s", rep.Elapsed)
	}

	var sent, ok, failed int
	var amount, fees lnwire.MilliSatoshi
	for _, f := range rep.Flows {
		sent += f.Sent
		ok += f.Succeeded
		failed += f.Failed
		amount += f.Amount
		fees += f.Fees
	}
	if len(rep.Flows) != 6 || sent != rep.Sent || ok != rep.Succeeded ||
		failed != rep.Failed || amount != rep.Amount ||
		fees != rep.Fees {

		t.Errorf("flows %+v do not add up to %+v", rep.Flows, rep)
	}
}

// TestRunTrafficCancel stops sending when ctx ends and still counts the
// payments started.
func TestRunTrafficCancel(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	opts := TrafficOptions{
		Rate: Rate{10, time.Second}, For: time.Minute,
		Clock: testClock(t),
	}
	if err := opts.check(); err != nil {
		t.Fatal(err)
	}
	p := &fakePayer{cancelAfter: 7, cancel: cancel}
	rep := runTraffic(ctx, opts, bigBook(), p)
	// The seventh payment cancels; at most those already started
	// besides it complete.
	if rep.Sent < 7 || rep.Sent > 7+MaxTrafficInFlight ||
		rep.Sent != p.n || rep.Succeeded != rep.Sent {

		t.Errorf("sent %d, paid %d, succeeded %d", rep.Sent, p.n,
			rep.Succeeded)
	}
	if rep.Planned != 600 {
		t.Errorf("planned %d, want 600", rep.Planned)
	}
}

// TestRunTrafficNoBalance counts the turns no flow could carry a payment
// and sends nothing.
func TestRunTrafficNoBalance(t *testing.T) {
	t.Parallel()
	opts := TrafficOptions{
		Rate: Rate{2, time.Second}, For: 3 * time.Second,
		Clock: testClock(t),
	}
	if err := opts.check(); err != nil {
		t.Fatal(err)
	}
	b := newBook([]*trafficNode{
		node("buyer", 0, 0, 0), node("provider1", 0, 0, 0),
	})
	p := &fakePayer{}
	rep := runTraffic(context.Background(), opts, b, p)
	if rep.Sent != 0 || p.n != 0 || rep.NoBalance != 6 {
		t.Errorf("sent %d paid %d no balance %d", rep.Sent, p.n,
			rep.NoBalance)
	}
}
