package routing_test

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/btcsuite/btcd/wire"
	"github.com/lightningnetwork/lnd/clock"
	"github.com/lightningnetwork/lnd/routing/route"
	"github.com/sluice-ln/sluice/hubnode"
	"github.com/sluice-ln/sluice/ledger"
	"github.com/sluice-ln/sluice/yield"
	"github.com/sluice-ln/sluice/yield/routing"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

var (
	peerA = vertex(0xa1)
	peerB = vertex(0xb2)
	peerC = vertex(0xc3)

	start = time.Date(2026, 9, 1, 12, 0, 0, 0, time.UTC)

	// policy is the configured policy.
	policy = hubnode.Policy{BaseFeeMsat: 1000, FeeRatePPM: 100,
		TimeLockDelta: 40}

	// size is the configured channel size in msat.
	size = ledger.MilliSatoshi(500_000_000)

	policyParams = []string{"base_fee_msat=1000", "fee_rate_ppm=100",
		"time_lock_delta=40"}
)

// vertex is a node key whose second byte is b.
func vertex(b byte) route.Vertex {
	var v route.Vertex
	v[0], v[1] = 0x02, b
	return v
}

// crash is what the test hook panics with at its failpoint.
type crash struct{ name string }

// env is a strategy over fakes.
type env struct {
	node  *fakeNode
	store *fakeStore
	books *fakeBooks
	clock *clock.TestClock
	s     *routing.Strategy

	// crashAt is the failpoint the hook panics at; "" for none.
	crashAt string
}

func newEnv(t *testing.T, peers ...route.Vertex) *env {
	t.Helper()
	e := &env{node: newFakeNode(), store: &fakeStore{},
		books: newFakeBooks(), clock: clock.NewTestClock(start)}
	for _, p := range peers {
		e.node.known[p] = true
	}
	s, err := routing.New(routing.Config{
		Peers: peers, ChannelSize: 500_000, Policy: policy,
		Hook: func(name string) {
			if name == e.crashAt {
				panic(crash{name})
			}
		},
	}, e.node, e.store, e.clock)
	mustNoErr(t, err)
	e.s = s
	return e
}

// execute runs Execute and reports a crash at the hook's failpoint as
// crashed.
func (e *env) execute(a yield.Action) (out yield.ActionOutcome, err error,
	crashed bool) {

	defer func() {
		if r := recover(); r != nil {
			if _, ok := r.(crash); !ok {
				panic(r)
			}
			crashed = true
		}
	}()
	out, err = e.s.Execute(context.Background(), a, e.books)
	return out, err, false
}

// open is an open action of the configured size to peer.
func open(id int64, peer route.Vertex) yield.Action {
	return yield.Action{ID: id, Strategy: routing.Name,
		Kind: yield.ActionOpen, Target: peer.String(), Amount: size,
		Params: policyParams}
}

// row returns the store's row of the action.
func (e *env) row(t *testing.T, actionID int64) routing.Channel {
	t.Helper()
	rows, err := e.store.RoutingChannels(context.Background())
	mustNoErr(t, err)
	for _, r := range rows {
		if r.ActionID == actionID {
			return r
		}
	}
	t.Fatalf("no row of action %d", actionID)
	return routing.Channel{}
}

// opened executes an open to peer and confirms it with scid.
func (e *env) opened(t *testing.T, id int64, peer route.Vertex,
	scid uint64) wire.OutPoint {

	t.Helper()
	out, err, _ := e.execute(open(id, peer))
	if err != nil || out.Failed {
		t.Fatalf("open %d: %+v, %v", id, out, err)
	}
	point, err := wire.NewOutPointFromString(out.Result)
	mustNoErr(t, err)
	e.node.confirm(*point, scid, policy)
	mustNoErr(t, e.s.Harvest(context.Background(), e.books))
	return *point
}

func TestNewRefusesBadConfig(t *testing.T) {
	t.Parallel()

	good := routing.Config{Peers: []route.Vertex{peerA},
		ChannelSize: 500_000, Policy: policy}
	tests := []struct {
		name  string
		edit  func(c *routing.Config)
		field string
	}{
		{"empty peer", func(c *routing.Config) {
			c.Peers = append(c.Peers, route.Vertex{})
		}, "Peers[1]"},
		{"peer twice", func(c *routing.Config) {
			c.Peers = append(c.Peers, peerA)
		}, "Peers[1]"},
		{"small channel", func(c *routing.Config) {
			c.ChannelSize = 19_999
		}, "ChannelSize"},
		{"small delta", func(c *routing.Config) {
			c.Policy.TimeLockDelta = 23
		}, "Policy.TimeLockDelta"},
		{"large rate", func(c *routing.Config) {
			c.Policy.FeeRatePPM = 1 << 32
		}, "Policy.FeeRatePPM"},
		{"negative target", func(c *routing.Config) {
			c.TargetConf = -1
		}, "TargetConf"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			cfg := good
			cfg.Peers = append([]route.Vertex(nil), good.Peers...)
			tc.edit(&cfg)
			_, err := routing.New(cfg, newFakeNode(), &fakeStore{},
				nil)
			if !errors.Is(err, routing.ErrInvalidConfig) ||
				!strings.Contains(err.Error(), tc.field) {

				t.Fatalf("got %v, want %s refused", err,
					tc.field)
			}
		})
	}
	if _, err := routing.New(good, newFakeNode(), &fakeStore{},
		nil); err != nil {

		t.Fatalf("good config: %v", err)
	}
}

func TestChannelStatusMoves(t *testing.T) {
	t.Parallel()

	tests := []struct {
		from, to routing.ChannelStatus
		ok       bool
	}{
		{routing.StatusOpening, routing.StatusOpen, true},
		{routing.StatusOpening, routing.StatusClosed, true},
		{routing.StatusOpening, routing.StatusFailed, true},
		{routing.StatusOpen, routing.StatusOpen, true},
		{routing.StatusOpen, routing.StatusClosing, true},
		{routing.StatusOpen, routing.StatusOpening, false},
		{routing.StatusOpen, routing.StatusFailed, false},
		{routing.StatusClosing, routing.StatusOpen, false},
		{routing.StatusClosed, routing.StatusClosing, false},
		{routing.StatusFailed, routing.StatusClosed, false},
		{routing.StatusFailed, routing.StatusOpen, false},
		{"bogus", routing.StatusOpen, false},
	}
	for _, tc := range tests {
		if got := tc.from.CanMoveTo(tc.to); got != tc.ok {
			t.Errorf("%s → %s: %v, want %v", tc.from, tc.to, got,
				tc.ok)
		}
	}
}

func TestObserve(t *testing.T) {
	t.Parallel()

	e := newEnv(t, peerA, peerB)
	delete(e.node.known, peerB)
	ctx := context.Background()

	pointA := e.opened(t, 1, peerA, 700<<40|1)
	e.node.policy[700<<40|1] = hubnode.Policy{BaseFeeMsat: 1,
		FeeRatePPM: 2, TimeLockDelta: 80}

	// An open not answered yet, a failed one, and one closed and
	// returned: only the first holds capital.
	_, err := e.store.InsertRoutingChannel(ctx, routing.Channel{ActionID: 2,
		Peer: peerB, Capacity: size, Memo: routing.Memo(2),
		Status: routing.StatusOpening, OpenedAt: start})
	mustNoErr(t, err)
	_, err = e.store.InsertRoutingChannel(ctx, routing.Channel{ActionID: 3,
		Peer: peerB, Capacity: size, Memo: routing.Memo(3),
		Status: routing.StatusFailed, OpenedAt: start})
	mustNoErr(t, err)
	_, err = e.store.InsertRoutingChannel(ctx, routing.Channel{ActionID: 4,
		ChanPoint: "ff:0", Peer: peerC, Capacity: size,
		Memo: routing.Memo(4), Status: routing.StatusClosed,
		Returned: true, OpenedAt: start})
	mustNoErr(t, err)

	obs, err := e.s.Observe(ctx)
	mustNoErr(t, err)
	want := yield.Observation{
		Positions: []yield.Position{
			{ID: pointA.String(), Peer: peerA.String(),
				Principal: size, Status: "open"},
			{ID: "action:2", Peer: peerB.String(),
				Principal: size, Status: "opening"},
		},
		Facts: []string{
			"chansize=500000",
			"known:" + peerA.String() + "=true",
			"known:" + peerB.String() + "=false",
			"peer=" + peerA.String(),
			"peer=" + peerB.String(),
			"policy:" + pointA.String() + "=1/2/80",
			"policy=1000/100/40",
		},
	}
	if pointA.String() > "action:2" {
		want.Positions[0], want.Positions[1] = want.Positions[1],
			want.Positions[0]
	}
	if !reflect.DeepEqual(obs, want) {
		t.Fatalf("observation\n got %+v\nwant %+v", obs, want)
	}

	// Observing changes nothing and gives the same again.
	again, err := e.s.Observe(ctx)
	if err != nil || !reflect.DeepEqual(again, obs) {
		t.Fatalf("second observation differs: %+v, %v", again, err)
	}

	// lnd unreachable: no observation rather than a wrong one.
	e.node.policyReadErr = status.Error(codes.Unavailable, "down")
	if _, err := e.s.Observe(ctx); err == nil {
		t.Fatal("observed without lnd's policy")
	}
}

// obsOf is an observation with positions and the facts of listed peers
// (all known unless in unknown), the configured size and policy, and
// lnd's policies by channel point.
func obsOf(positions []yield.Position, listed []route.Vertex,
	unknown map[route.Vertex]bool,
	policies map[string]string) yield.Observation {

	obs := yield.Observation{Positions: positions,
		Facts: []string{"chansize=500000", "policy=1000/100/40"}}
	for _, p := range listed {
		obs.Facts = append(obs.Facts, "peer="+p.String(),
			fmt.Sprintf("known:%s=%t", p, !unknown[p]))
	}
	for point, text := range policies {
		obs.Facts = append(obs.Facts, "policy:"+point+"="+text)
	}
	return obs
}

func TestPropose(t *testing.T) {
	t.Parallel()

	const (
		chA = "aa00000000000000000000000000000000000000000000000000000000000000:0"
		chC = "cc00000000000000000000000000000000000000000000000000000000000000:1"
	)
	fee := ledger.MilliSatoshi(1_500_000)
	openA := yield.Action{Strategy: routing.Name, Kind: yield.ActionOpen,
		Target: peerA.String(), Amount: size, Params: policyParams,
		Reason:       "listed peer without a channel of the strategy",
		ExpectedCost: fee}
	openB := openA
	openB.Target = peerB.String()
	posA := yield.Position{ID: chA, Peer: peerA.String(), Principal: size,
		Status: "open"}
	posC := yield.Position{ID: chC, Peer: peerC.String(), Principal: size,
		Status: "open"}
	left := func(target, reason string) yield.LeftOut {
		return yield.LeftOut{Strategy: routing.Name, Target: target,
			Reason: reason}
	}
	closeOf := func(target, reason string) yield.Action {
		return yield.Action{Strategy: routing.Name,
			Kind: yield.ActionClose, Target: target,
			Reason: reason, ExpectedCost: fee}
	}
	plenty := yield.Room{New: 10 * size, Unlimited: true}

	tests := []struct {
		name    string
		listed  []route.Vertex
		obs     yield.Observation
		room    yield.Room
		want    yield.Proposal
		unknown map[route.Vertex]bool
	}{{
		name:   "opens to each listed peer",
		listed: []route.Vertex{peerB, peerA},
		room:   plenty,
		want:   yield.Proposal{Actions: []yield.Action{openA, openB}},
	}, {
		name:   "no room",
		listed: []route.Vertex{peerA},
		room:   yield.Room{Unlimited: true},
		want: yield.Proposal{LeftOut: []yield.LeftOut{left(
			peerA.String(), "room 0 sat below the channel "+
				"size 500000 sat")}},
	}, {
		name:   "room for one",
		listed: []route.Vertex{peerA, peerB},
		room:   yield.Room{New: size * 3 / 2, Unlimited: true},
		want: yield.Proposal{Actions: []yield.Action{openA},
			LeftOut: []yield.LeftOut{left(peerB.String(),
				"room 250000 sat below the channel size "+
					"500000 sat")}},
	}, {
		name:   "over the budget",
		listed: []route.Vertex{peerA, peerB},
		room:   yield.Room{New: 10 * size, Budget: fee + 1000},
		want: yield.Proposal{Actions: []yield.Action{openA},
			LeftOut: []yield.LeftOut{left(peerB.String(),
				"expected cost 1500000 msat over the budget "+
					"left 1000 msat")}},
	}, {
		name:    "unknown peer",
		listed:  []route.Vertex{peerA, peerB},
		unknown: map[route.Vertex]bool{peerA: true},
		room:    plenty,
		want: yield.Proposal{Actions: []yield.Action{openB},
			LeftOut: []yield.LeftOut{left(peerA.String(),
				"unknown to lnd's graph")}},
	}, {
		name:   "already has a channel",
		listed: []route.Vertex{peerA, peerB},
		obs: yield.Observation{Positions: []yield.Position{posA, {
			ID: "action:7", Peer: peerB.String(),
			Principal: size, Status: "opening"}}},
		room: plenty,
		want: yield.Proposal{LeftOut: []yield.LeftOut{
			left(peerA.String(), "already has channel "+chA),
			left(peerB.String(), "already has channel action:7"),
		}},
	}, {
		name:   "closes an unlisted peer's channel",
		listed: []route.Vertex{peerA},
		obs: yield.Observation{Positions: []yield.Position{posA,
			posC}},
		room: plenty,
		want: yield.Proposal{
			Actions: []yield.Action{closeOf(chC,
				"peer no longer listed")},
			LeftOut: []yield.LeftOut{left(peerA.String(),
				"already has channel "+chA)},
		},
	}, {
		name:   "policy drift",
		listed: []route.Vertex{peerA},
		obs:    yield.Observation{Positions: []yield.Position{posA}},
		room:   plenty,
		want: yield.Proposal{
			Actions: []yield.Action{{Strategy: routing.Name,
				Kind: yield.ActionPolicy, Target: chA,
				Params: policyParams,
				Reason: "lnd's policy 1/1/40 differs " +
					"from the configured 1000/100/40"}},
			LeftOut: []yield.LeftOut{left(peerA.String(),
				"already has channel "+chA)},
		},
	}, {
		name:   "kill switch",
		listed: []route.Vertex{peerA, peerB},
		obs: yield.Observation{Positions: []yield.Position{posA,
			posC, {ID: "action:7", Peer: peerB.String(),
				Principal: size, Status: "opening"}}},
		room: yield.Room{Killed: true, Unlimited: true},
		want: yield.Proposal{Actions: []yield.Action{
			closeOf(chA, "kill switch"),
			closeOf(chC, "kill switch"),
		}},
	}, {
		// Winding down does not wait for the budget.
		name:   "kill switch over the budget",
		listed: []route.Vertex{peerA},
		obs: yield.Observation{Positions: []yield.Position{posA,
			posC}},
		room: yield.Room{Killed: true, Budget: fee + 5},
		want: yield.Proposal{Actions: []yield.Action{
			closeOf(chA, "kill switch"),
			closeOf(chC, "kill switch"),
		}},
	}, {
		name:   "closes before opens within the budget",
		listed: []route.Vertex{peerB},
		obs:    yield.Observation{Positions: []yield.Position{posC}},
		room:   yield.Room{New: 10 * size, Budget: fee},
		want: yield.Proposal{
			Actions: []yield.Action{closeOf(chC,
				"peer no longer listed")},
			LeftOut: []yield.LeftOut{left(peerB.String(),
				"expected cost 1500000 msat over the budget "+
					"left 0 msat")},
		},
	}}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			e := newEnv(t, tc.listed...)
			policies := map[string]string{chA: "1000/100/40",
				chC: "1000/100/40"}
			if tc.name == "policy drift" {
				policies[chA] = "1/1/40"
			}
			obs := obsOf(tc.obs.Positions, tc.listed, tc.unknown,
				policies)
			got, err := e.s.Propose(context.Background(), obs,
				tc.room)
			mustNoErr(t, err)
			if !reflect.DeepEqual(got, tc.want) {
				t.Fatalf("proposal\n got %+v\nwant %+v", got,
					tc.want)
			}
		})
	}
}

func TestProposeUnknownPolicy(t *testing.T) {
	t.Parallel()

	e := newEnv(t, peerA)
	ch := "aa00000000000000000000000000000000000000000000000000000000000000:0"
	obs := obsOf([]yield.Position{{ID: ch, Peer: peerA.String(),
		Principal: size, Status: "open"}}, []route.Vertex{peerA}, nil,
		map[string]string{ch: "unknown"})
	got, err := e.s.Propose(context.Background(), obs,
		yield.Room{Unlimited: true})
	mustNoErr(t, err)
	if len(got.Actions) != 0 || len(got.LeftOut) != 2 ||
		got.LeftOut[0].Target != ch {

		t.Fatalf("proposal %+v", got)
	}
}

func TestExecuteOpen(t *testing.T) {
	t.Parallel()

	t.Run("opens once", func(t *testing.T) {
		t.Parallel()
		e := newEnv(t, peerA)
		out, err, _ := e.execute(open(7, peerA))
		if err != nil || out.Failed || out.Result == "" {
			t.Fatalf("open: %+v, %v", out, err)
		}
		req := e.node.lastOpen
		if e.node.opens != 1 || req.Memo != "sluice-yield-7" ||
			req.Amount != 500_000 || req.Peer != peerA ||
			*req.BaseFeeMsat != 1000 || *req.FeeRatePPM != 100 ||
			req.TargetConf != routing.DefaultTargetConf {

			t.Fatalf("open request %+v (%d opens)", req,
				e.node.opens)
		}
		r := e.row(t, 7)
		if r.ChanPoint != out.Result || r.Status != "opening" ||
			r.OpenTxid != out.Result[:64] ||
			!r.OpenedAt.Equal(start) || r.Capacity != size {

			t.Fatalf("row %+v", r)
		}

		again, err, _ := e.execute(open(7, peerA))
		if err != nil || again != out || e.node.openCalls != 1 {
			t.Fatalf("second execution: %+v, %v, %d opens",
				again, err, e.node.opens)
		}
	})

	for _, at := range []string{routing.FailpointOpenBeforeCall,
		routing.FailpointOpenAfterCall} {

		t.Run("crash at "+at, func(t *testing.T) {
			t.Parallel()
			e := newEnv(t, peerA)
			e.crashAt = at
			if _, _, crashed := e.execute(open(7, peerA)); !crashed {
				t.Fatal("no crash")
			}
			if r := e.row(t, 7); r.ChanPoint != "" {
				t.Fatalf("point recorded before the crash: %+v",
					r)
			}
			e.crashAt = ""
			e.clock.SetTime(start.Add(time.Hour))
			out, err, _ := e.execute(open(7, peerA))
			calls := map[string]int{
				routing.FailpointOpenBeforeCall: 1,
				routing.FailpointOpenAfterCall:  1,
			}
			if err != nil || out.Failed || e.node.opens != 1 ||
				e.node.openCalls != calls[at] {

				t.Fatalf("after the crash: %+v, %v, %d opens "+
					"in %d calls", out, err, e.node.opens,
					e.node.openCalls)
			}
			r := e.row(t, 7)
			if r.ChanPoint != out.Result || !r.OpenedAt.Equal(start) {
				t.Fatalf("row %+v", r)
			}
		})
	}

	refusals := []error{
		fmt.Errorf("open: %w", hubnode.ErrInsufficientFunds),
		fmt.Errorf("connect: %w", hubnode.ErrUnknownPeer),
		status.Error(codes.Unknown, "synced to chain: false"),
		status.Error(codes.InvalidArgument, "bad request"),
	}
	for _, refusal := range refusals {
		t.Run("refused: "+refusal.Error(), func(t *testing.T) {
			t.Parallel()
			e := newEnv(t, peerA)
			e.node.openErr = refusal
			out, err, _ := e.execute(open(7, peerA))
			if err != nil || !out.Failed ||
				!strings.Contains(out.Error, refusal.Error()) {

				t.Fatalf("refused open: %+v, %v", out, err)
			}
			if r := e.row(t, 7); r.Status != "failed" {
				t.Fatalf("row %+v", r)
			}
			again, err, _ := e.execute(open(7, peerA))
			if err != nil || !again.Failed || e.node.openCalls != 1 {
				t.Fatalf("again: %+v, %v, %d opens", again,
					err, e.node.opens)
			}
			obs, err := e.s.Observe(context.Background())
			if err != nil || len(obs.Positions) != 0 {
				t.Fatalf("failed open observed: %+v, %v", obs,
					err)
			}
		})
	}

	unknowns := []error{
		status.Error(codes.Unavailable, "connection refused"),
		status.Error(codes.DeadlineExceeded, "deadline"),
		context.DeadlineExceeded,
		errors.New("stream broke"),
	}
	for _, unknown := range unknowns {
		t.Run("unknown: "+unknown.Error(), func(t *testing.T) {
			t.Parallel()
			e := newEnv(t, peerA)
			e.node.openErr = unknown
			out, err, _ := e.execute(open(7, peerA))
			if err == nil || out.Failed {
				t.Fatalf("unknown outcome: %+v, %v", out, err)
			}
			if r := e.row(t, 7); r.Status != "opening" {
				t.Fatalf("row %+v", r)
			}
			out, err, _ = e.execute(open(7, peerA))
			if err != nil || out.Failed || e.node.opens != 1 {
				t.Fatalf("retry: %+v, %v, %d opens", out, err,
					e.node.opens)
			}
		})
	}

	t.Run("lookup fails", func(t *testing.T) {
		t.Parallel()
		e := newEnv(t, peerA)
		e.node.byMemoErr = status.Error(codes.Unavailable, "down")
		if _, err, _ := e.execute(open(7, peerA)); err == nil ||
			e.node.opens != 0 {

			t.Fatalf("opened without a lookup: %v", err)
		}
	})

	bad := []yield.Action{
		{ID: 7, Strategy: routing.Name, Kind: yield.ActionOpen,
			Target: peerA.String(), Amount: size + 1},
		{ID: 7, Strategy: routing.Name, Kind: yield.ActionOpen,
			Target: "zz", Amount: size},
		{ID: 0, Strategy: routing.Name, Kind: yield.ActionOpen,
			Target: peerA.String(), Amount: size},
		{ID: 7, Strategy: "lease", Kind: yield.ActionOpen,
			Target: peerA.String(), Amount: size},
		{ID: 7, Strategy: routing.Name, Kind: yield.ActionOpen,
			Target: peerA.String(), Amount: size,
			Params: []string{"time_lock_delta=2"}},
		{ID: 7, Strategy: routing.Name,
			Kind: yield.ActionLeaseAccept, Target: "lease-1"},
	}
	for i, a := range bad {
		t.Run(fmt.Sprintf("invalid %d", i), func(t *testing.T) {
			t.Parallel()
			e := newEnv(t, peerA)
			out, err, _ := e.execute(a)
			if err != nil || !out.Failed || e.node.opens != 0 {
				t.Fatalf("%+v: %+v, %v", a, out, err)
			}
		})
	}
}

func TestExecuteCloseAndPolicy(t *testing.T) {
	t.Parallel()

	e := newEnv(t, peerA)
	point := e.opened(t, 7, peerA, 700<<40|1)
	act := func(kind yield.ActionKind, target string,
		params ...string) yield.Action {

		return yield.Action{ID: 9, Strategy: routing.Name, Kind: kind,
			Target: target, Params: params}
	}

	// Policy: refused, then set.
	e.node.policyErr = fmt.Errorf("set: %w", hubnode.ErrPolicyRefused)
	out, err, _ := e.execute(act(yield.ActionPolicy, point.String(),
		policyParams...))
	if err != nil || !out.Failed {
		t.Fatalf("refused policy: %+v, %v", out, err)
	}
	e.node.policyErr = status.Error(codes.Unavailable, "down")
	if _, err, _ := e.execute(act(yield.ActionPolicy, point.String(),
		policyParams...)); err == nil {

		t.Fatal("unknown policy outcome gave no error")
	}
	out, err, _ = e.execute(act(yield.ActionPolicy, point.String(),
		"base_fee_msat=5", "fee_rate_ppm=6", "time_lock_delta=80"))
	want := hubnode.Policy{BaseFeeMsat: 5, FeeRatePPM: 6,
		TimeLockDelta: 80}
	if err != nil || out.Failed || e.node.lastPolicy != want {
		t.Fatalf("policy: %+v, %v, %+v", out, err, e.node.lastPolicy)
	}
	for _, target := range []string{"nonsense", "ab:0"} {
		out, err, _ := e.execute(act(yield.ActionPolicy, target,
			policyParams...))
		if err != nil || !out.Failed {
			t.Fatalf("policy of %s: %+v, %v", target, out, err)
		}
	}

	// Close: not ours, refused, unknown, then closed once.
	out, err, _ = e.execute(act(yield.ActionClose, "ab:0"))
	if err != nil || !out.Failed || e.node.closes != 0 {
		t.Fatalf("close of another channel: %+v, %v", out, err)
	}
	e.node.closeErr = fmt.Errorf("close: %w", hubnode.ErrChannelPending)
	out, err, _ = e.execute(act(yield.ActionClose, point.String()))
	if err != nil || !out.Failed {
		t.Fatalf("refused close: %+v, %v", out, err)
	}
	e.node.closeErr = status.Error(codes.DeadlineExceeded, "slow")
	if _, err, _ := e.execute(act(yield.ActionClose,
		point.String())); err == nil {

		t.Fatal("unknown close outcome gave no error")
	}
	out, err, _ = e.execute(act(yield.ActionClose, point.String()))
	r := e.row(t, 7)
	if err != nil || out.Failed || r.Status != "closing" ||
		r.CloseTxid != out.Result || e.node.closes != 1 {

		t.Fatalf("close: %+v, %v, row %+v", out, err, r)
	}
	again, err, _ := e.execute(act(yield.ActionClose, point.String()))
	if err != nil || again != out || e.node.closes != 1 {
		t.Fatalf("second close: %+v, %v", again, err)
	}
}

func TestHarvest(t *testing.T) {
	t.Parallel()

	ctx := context.Background()
	e := newEnv(t, peerA)
	e.node.pageSize = 2
	const scid = 700<<40 | 3<<16 | 1
	at := func(sec int, fee hubnode.Forward) hubnode.Forward {
		fee.Time = start.Add(time.Duration(sec) * time.Second)
		return fee
	}
	fwd := func(sec int, fee uint64) hubnode.Forward {
		return at(sec, hubnode.Forward{Fee: lnwireMsat(fee)})
	}

	out, err, _ := e.execute(open(7, peerA))
	mustNoErr(t, err)
	point, err := wire.NewOutPointFromString(out.Result)
	mustNoErr(t, err)

	// Pending: the funding transaction is unconfirmed, nothing to post.
	mustNoErr(t, e.s.Harvest(ctx, e.books))
	if len(e.books.postings) != 0 {
		t.Fatalf("postings while pending: %+v", e.books.postings)
	}

	// Confirmed, with forwards out of it, one out of another channel,
	// and one out of it older than the open (another channel's that
	// had the id? it cannot be, but the query starts at the open).
	e.node.confirm(*point, scid, policy)
	e.node.forward(scid, fwd(10, 10), fwd(11, 20), fwd(12, 30))
	e.node.forward(99, fwd(13, 999))
	e.node.forward(scid, fwd(-60, 5000))
	mustNoErr(t, e.s.Harvest(ctx, e.books))
	r := e.row(t, 7)
	if r.Status != "open" || r.ShortChanID != scid ||
		r.OpenHeight != 700 || !r.OpenCostPosted {

		t.Fatalf("row %+v", r)
	}
	wantKeys := []string{
		fmt.Sprintf("yield-routing:%d:1-2", scid),
		fmt.Sprintf("yield-routing:%d:3-3", scid),
	}
	if got := e.books.keysOf("income"); !reflect.DeepEqual(got,
		wantKeys) || e.books.total("income") != 60 {

		t.Fatalf("income %v = %v", got, e.books.total("income"))
	}
	if got := e.books.keysOf("cost"); len(got) != 1 ||
		got[0] != "yield-cost:open:"+point.Hash.String() ||
		e.books.total("cost") != 900_000 {

		t.Fatalf("costs %v = %v", got, e.books.total("cost"))
	}
	if c, _ := e.books.Cursor(ctx, fmt.Sprintf("fwd:%d", scid)); c != "3" {
		t.Fatalf("cursor %q", c)
	}
	for _, p := range e.books.postings {
		want := fmt.Sprintf("fee_msat of forwards 1-2 out of %d",
			scid)
		if p.key == wantKeys[0] && p.desc != want {
			t.Fatalf("description %q, want %q", p.desc, want)
		}
	}

	// Nothing new: nothing posted.
	n := len(e.books.postings)
	mustNoErr(t, e.s.Harvest(ctx, e.books))
	if len(e.books.postings) != n {
		t.Fatalf("posted again: %+v", e.books.postings[n:])
	}

	// New forwards: only they are posted.
	e.node.forward(scid, fwd(20, 5), fwd(21, 7))
	mustNoErr(t, e.s.Harvest(ctx, e.books))
	if e.books.total("income") != 72 || len(e.books.postings) != n+1 ||
		e.books.postings[n].key != fmt.Sprintf(
			"yield-routing:%d:4-5", scid) {

		t.Fatalf("after new forwards: %+v", e.books.postings[n:])
	}

	// A crash before the posting's commit: neither the income nor the
	// cursor is kept, and the next harvest posts it once.
	e.node.forward(scid, fwd(30, 100))
	e.books.failIncome = true
	if err := e.s.Harvest(ctx, e.books); err == nil {
		t.Fatal("harvest hid the failed posting")
	}
	if e.books.total("income") != 72 {
		t.Fatalf("income %v after a failed posting",
			e.books.total("income"))
	}
	mustNoErr(t, e.s.Harvest(ctx, e.books))
	mustNoErr(t, e.s.Harvest(ctx, e.books))
	if e.books.total("income") != 172 {
		t.Fatalf("income %v", e.books.total("income"))
	}

	// Closing: a forward settles meanwhile; the capital stays until
	// lnd says closed.
	_, err, _ = e.execute(yield.Action{ID: 9, Strategy: routing.Name,
		Kind: yield.ActionClose, Target: point.String()})
	mustNoErr(t, err)
	e.node.forward(scid, fwd(40, 3))
	mustNoErr(t, e.s.Harvest(ctx, e.books))
	if e.books.total("return") != 0 {
		t.Fatal("returned while closing")
	}
	e.node.forward(scid, fwd(41, 4))
	e.node.closed(*point)
	mustNoErr(t, e.s.Harvest(ctx, e.books))
	mustNoErr(t, e.s.Harvest(ctx, e.books))

	r = e.row(t, 7)
	if r.Status != "closed" || !r.Returned || !r.CloseCostPosted {
		t.Fatalf("row %+v", r)
	}
	if e.books.total("income") != 179 ||
		e.books.total("cost") != 900_000+400_000 ||
		e.books.total("return") != size {

		t.Fatalf("income %v, cost %v, return %v",
			e.books.total("income"), e.books.total("cost"),
			e.books.total("return"))
	}
	last := e.books.postings[len(e.books.postings)-1]
	if last.kind != "return" || last.key != "yield-return:"+
		point.String() {

		t.Fatalf("last posting %+v", last)
	}
	if got := e.books.keysOf("cost"); got[0] != "yield-cost:close:"+
		r.CloseTxid {

		t.Fatalf("costs %v", got)
	}
	obs, err := e.s.Observe(ctx)
	if err != nil || len(obs.Positions) != 0 {
		t.Fatalf("closed channel observed: %+v, %v", obs, err)
	}
}

func TestHarvestPeerClose(t *testing.T) {
	t.Parallel()

	ctx := context.Background()
	e := newEnv(t, peerA)
	const scid = 700<<40 | 1
	point := e.opened(t, 7, peerA, scid)

	// The peer closed it: the hub's wallet does not know the closing
	// transaction's fee.
	e.node.closed(point)
	mustNoErr(t, e.s.Harvest(ctx, e.books))
	mustNoErr(t, e.s.Harvest(ctx, e.books))
	r := e.row(t, 7)
	if !r.Returned || r.CloseTxid == "" || !r.CloseCostPosted {
		t.Fatalf("row %+v", r)
	}
	if e.books.total("cost") != 900_000 ||
		e.books.total("return") != size {

		t.Fatalf("cost %v, return %v", e.books.total("cost"),
			e.books.total("return"))
	}
}
