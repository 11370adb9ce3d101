package channels_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/btcsuite/btcd/btcec/v2"
	"github.com/lightningnetwork/lnd/clock"
	"github.com/lightningnetwork/lnd/routing/route"
	"github.com/sluice-ln/sluice/channels"
	"github.com/sluice-ln/sluice/channels/channelstest"
	"github.com/sluice-ln/sluice/lightning"
	"github.com/sluice-ln/sluice/store"
	"github.com/sluice-ln/sluice/store/storetest"
)

// harness is a Manager on a fresh SQLite store with a fake hub.
type harness struct {
	t     *testing.T
	ctx   context.Context
	db    *store.DB
	hub   *channelstest.Hub
	clock *clock.TestClock
	mgr   *channels.Manager

	hubNode route.Vertex
}

// harnessStart is when a harness's clock starts.
var harnessStart = time.Date(2026, 5, 4, 10, 0, 0, 0, time.UTC)

func newHarness(t *testing.T) *harness {
	t.Helper()

	db := storetest.Open(t, storetest.Config(t, store.SQLite))
	h := &harness{
		t:     t,
		ctx:   context.Background(),
		db:    db,
		hub:   channelstest.NewHub(t),
		clock: clock.NewTestClock(harnessStart),
	}
	_, h.hubNode = keyOf(0x99)
	mgr, err := channels.NewManager(channels.Config{
		Store:   db,
		Hub:     h.hub,
		HubNode: h.hubNode,
		Network: "regtest",
		Clock:   h.clock,
	})
	if err != nil {
		t.Fatal(err)
	}
	h.mgr = mgr
	return h
}

// advance moves the harness's clock d forward.
func (h *harness) advance(d time.Duration) {
	h.clock.SetTime(h.clock.Now().Add(d))
}

// node is a provider node for tests: its key and an agent key.
type node struct {
	priv  *btcec.PrivateKey
	pub   route.Vertex
	agent channels.AgentKey
}

// newNode returns the node whose private key is all b, with the agent key
// all b+1.
func newNode(t *testing.T, b byte) node {
	t.Helper()
	priv, pub := keyOf(b)
	return node{priv: priv, pub: pub, agent: agentKey(t, b+1)}
}

// agentKey returns the x-only key of the private key all b.
func agentKey(t *testing.T, b byte) channels.AgentKey {
	t.Helper()
	priv, _ := keyOf(b)
	k, err := channels.ParseAgentKey(priv.PubKey().SerializeCompressed()[1:])
	if err != nil {
		t.Fatal(err)
	}
	return k
}

// reachable declares a hub with an active, funded channel to n.
func (h *harness) reachable(n node) {
	h.hub.ExpectChannels(n.pub, []lightning.Channel{{
		ChanID: 123 << 40, Peer: n.pub, Active: true,
		Capacity: 1_000_000, LocalBalance: 900_000,
	}}, nil)
}

// challenge asks for a challenge for n with its agent key.
func (h *harness) challenge(n node, agent channels.AgentKey) channels.Challenge {
	h.t.Helper()
	ch, err := h.mgr.CreateChallenge(h.ctx, channels.ChallengeRequest{
		Node: n.pub, Agent: agent, Alias: "from-request",
	})
	if err != nil {
		h.t.Fatalf("CreateChallenge: %v", err)
	}
	return ch
}

// link runs a whole link of n with agent, the graph knowing the node by
// alias, and fails the test if it does not succeed.
func (h *harness) link(n node, agent channels.AgentKey) channels.Link {
	h.t.Helper()
	h.hub.ExpectNodeInfo(n.pub, lightning.NodeInfo{Alias: "graph-alias"},
		nil)
	h.reachable(n)
	ch := h.challenge(n, agent)
	link, err := h.mgr.CompleteLink(h.ctx, ch.ID,
		channels.SignNodeMessage(n.priv, []byte(ch.Message)))
	if err != nil {
		h.t.Fatalf("CompleteLink: %v", err)
	}
	return link
}

// TestLink links a new node: the challenge names everything, the provider
// gets a derived id, the graph's alias, the agent key and a reach check.
func TestLink(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	n := newNode(t, 0x21)

	h.hub.ExpectNodeInfo(n.pub, lightning.NodeInfo{Alias: "graph-alias"},
		nil)
	h.reachable(n)
	ch := h.challenge(n, n.agent)

	fields, err := channels.ParseChallengeMessage(ch.Message)
	if err != nil {
		t.Fatalf("challenge message does not parse: %v", err)
	}
	want := channels.ChallengeFields{
		Network: "regtest", Hub: h.hubNode, Node: n.pub,
		Agent: n.agent, Nonce: ch.Nonce,
		Expires: h.clock.Now().Add(channels.DefaultChallengeTTL),
	}
	if fields != want || ch.ChallengeFields != want {
		t.Errorf("challenge fields %+v, message states %+v, want %+v",
			ch.ChallengeFields, fields, want)
	}
	if len(ch.ID) != 32 || len(ch.Nonce) != 64 {
		t.Errorf("challenge id %q, nonce %q", ch.ID, ch.Nonce)
	}

	link, err := h.mgr.CompleteLink(h.ctx, ch.ID,
		channels.SignNodeMessage(n.priv, []byte(ch.Message)))
	if err != nil {
		t.Fatal(err)
	}
	p := link.Provider
	switch {
	case link.Relinked || link.Revoked != nil:
		t.Errorf("a first link: %+v", link)
	case p.ID != channels.ProviderID(n.pub) ||
		!strings.HasPrefix(p.ID, "prov-"):
		t.Errorf("provider id %q, want %q", p.ID,
			channels.ProviderID(n.pub))
	case p.Node != n.pub || p.Agent != n.agent:
		t.Errorf("provider node %v agent %v", p.Node, p.Agent)
	case p.Alias != "graph-alias":
		t.Errorf("alias %q, want the graph's", p.Alias)
	case p.Status != channels.StatusLinked:
		t.Errorf("status %q", p.Status)
	case !p.LinkedAt.Equal(h.clock.Now()) || !p.CreatedAt.Equal(p.LinkedAt):
		t.Errorf("linked at %v, created at %v", p.LinkedAt, p.CreatedAt)
	case p.Reach.State != channels.ReachReachable ||
		!strings.Contains(p.Reach.Reason, "active channel") ||
		!p.Reach.CheckedAt.Equal(h.clock.Now()):
		t.Errorf("reach %+v", p.Reach)
	case len(p.Rates) != 0:
		t.Errorf("a new provider has rates %v", p.Rates)
	}

	// The stored provider is what the link returned.
	got, err := h.mgr.Provider(h.ctx, p.ID)
	if err != nil {
		t.Fatal(err)
	}
	if got.Alias != p.Alias || got.Reach != p.Reach || got.Agent != p.Agent {
		t.Errorf("stored %+v, link returned %+v", got, p)
	}
	if err := h.mgr.VerifyAgent(h.ctx, p.ID, n.agent); err != nil {
		t.Errorf("VerifyAgent of the linked key: %v", err)
	}
	if k, err := h.mgr.AgentKey(h.ctx, p.ID); err != nil || k != n.agent {
		t.Errorf("AgentKey = %v, %v", k, err)
	}
}

// TestLinkAliasFromRequest uses the request's alias when the hub's graph
// does not know the node.
func TestLinkAliasFromRequest(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	n := newNode(t, 0x22)

	h.hub.ExpectUnknownNode(n.pub)
	h.reachable(n)
	ch := h.challenge(n, n.agent)
	link, err := h.mgr.CompleteLink(h.ctx, ch.ID,
		channels.SignNodeMessage(n.priv, []byte(ch.Message)))
	if err != nil {
		t.Fatal(err)
	}
	if link.Provider.Alias != "from-request" {
		t.Errorf("alias %q, want the request's", link.Provider.Alias)
	}
}

// TestCompleteLinkRefusals refuses each bad completion with its own error,
// and leaves no provider behind.
func TestCompleteLinkRefusals(t *testing.T) {
	t.Parallel()

	tests := []struct {
		name string
		// run completes a challenge for n wrongly.
		run  func(h *harness, n node, ch channels.Challenge) error
		want error
	}{{
		name: "unknown challenge",
		run: func(h *harness, n node, ch channels.Challenge) error {
			_, err := h.mgr.CompleteLink(h.ctx, "feed",
				channels.SignNodeMessage(n.priv,
					[]byte(ch.Message)))
			return err
		},
		want: channels.ErrChallengeNotFound,
	}, {
		name: "expired",
		run: func(h *harness, n node, ch channels.Challenge) error {
			h.advance(channels.DefaultChallengeTTL)
			_, err := h.mgr.CompleteLink(h.ctx, ch.ID,
				channels.SignNodeMessage(n.priv,
					[]byte(ch.Message)))
			return err
		},
		want: channels.ErrChallengeExpired,
	}, {
		name: "malformed signature",
		run: func(h *harness, n node, ch channels.Challenge) error {
			_, err := h.mgr.CompleteLink(h.ctx, ch.ID, "not-a-sig")
			return err
		},
		want: channels.ErrMalformedSignature,
	}, {
		name: "other message",
		run: func(h *harness, n node, ch channels.Challenge) error {
			// Over another message the signature recovers some
			// key the graph does not know.
			h.hub.ExpectNodeInfo(anyVertex(t, n, ch), lightning.NodeInfo{},
				lightning.ErrNodeNotFound)
			_, err := h.mgr.CompleteLink(h.ctx, ch.ID,
				channels.SignNodeMessage(n.priv,
					[]byte(ch.Message+"x")))
			return err
		},
		want: channels.ErrForgedSignature,
	}, {
		name: "unknown key",
		run: func(h *harness, n node, ch channels.Challenge) error {
			forger := newNode(t, 0x41)
			h.hub.ExpectUnknownNode(forger.pub)
			_, err := h.mgr.CompleteLink(h.ctx, ch.ID,
				channels.SignNodeMessage(forger.priv,
					[]byte(ch.Message)))
			return err
		},
		want: channels.ErrForgedSignature,
	}, {
		name: "another node",
		run: func(h *harness, n node, ch channels.Challenge) error {
			other := newNode(t, 0x42)
			h.hub.ExpectNodeInfo(other.pub,
				lightning.NodeInfo{Alias: "other"}, nil)
			_, err := h.mgr.CompleteLink(h.ctx, ch.ID,
				channels.SignNodeMessage(other.priv,
					[]byte(ch.Message)))
			return err
		},
		want: channels.ErrWrongNode,
	}}

	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			h := newHarness(t)
			n := newNode(t, 0x23)
			ch := h.challenge(n, n.agent)

			err := tc.run(h, n, ch)
			if !errors.Is(err, tc.want) {
				t.Fatalf("CompleteLink: %v, want %v", err,
					tc.want)
			}
			_, err = h.mgr.Provider(h.ctx, channels.ProviderID(n.pub))
			if !errors.Is(err, channels.ErrProviderNotFound) {
				t.Errorf("after a refused link: provider %v",
					err)
			}
		})
	}
}

// anyVertex is the key the signature of ch's message plus "x" by n
// recovers.
func anyVertex(t *testing.T, n node, ch channels.Challenge) route.Vertex {
	t.Helper()
	msg := []byte(ch.Message + "x")
	v, err := channels.RecoverNodeKey([]byte(ch.Message),
		channels.SignNodeMessage(n.priv, msg))
	if err != nil {
		t.Fatal(err)
	}
	return v
}

// TestChallengeSingleUse replays a completed challenge: refused, even with
// the same good signature, and the provider is unchanged.
func TestChallengeSingleUse(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	n := newNode(t, 0x24)

	h.hub.ExpectNodeInfo(n.pub, lightning.NodeInfo{}, nil)
	h.reachable(n)
	ch := h.challenge(n, n.agent)
	sig := channels.SignNodeMessage(n.priv, []byte(ch.Message))
	if _, err := h.mgr.CompleteLink(h.ctx, ch.ID, sig); err != nil {
		t.Fatal(err)
	}
	_, err := h.mgr.CompleteLink(h.ctx, ch.ID, sig)
	if !errors.Is(err, channels.ErrChallengeUsed) {
		t.Fatalf("replay: %v, want ErrChallengeUsed", err)
	}
}

// TestChallengeRace completes one challenge from several goroutines: one
// link, the rest ErrChallengeUsed.
func TestChallengeRace(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	n := newNode(t, 0x25)

	h.hub.ExpectNodeInfo(n.pub, lightning.NodeInfo{}, nil)
	h.reachable(n)
	ch := h.challenge(n, n.agent)
	sig := channels.SignNodeMessage(n.priv, []byte(ch.Message))

	const racers = 5
	errs := make(chan error, racers)
	for range racers {
		go func() {
			_, err := h.mgr.CompleteLink(h.ctx, ch.ID, sig)
			errs <- err
		}()
	}
	wins := 0
	for range racers {
		err := <-errs
		switch {
		case err == nil:
			wins++
		case !errors.Is(err, channels.ErrChallengeUsed):
			t.Errorf("loser: %v, want ErrChallengeUsed", err)
		}
	}
	if wins != 1 {
		t.Errorf("%d links from one challenge, want 1", wins)
	}
}

// TestRelinkRotatesAgentKey re-links a node with a new agent key: same id
// and rates, the old key revoked for good, the new one current.
func TestRelinkRotatesAgentKey(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	n := newNode(t, 0x26)
	first := h.link(n, n.agent)
	id := first.Provider.ID

	card, err := channels.ParseRateCard(map[string]string{"cpu": "0.5"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := h.mgr.SetRates(h.ctx, id, card); err != nil {
		t.Fatal(err)
	}

	// The same key again: a re-link without rotation.
	h.advance(time.Minute)
	same := h.link(n, n.agent)
	if !same.Relinked || same.Revoked != nil || same.Provider.ID != id {
		t.Errorf("re-link with the same key: %+v", same)
	}

	h.advance(time.Minute)
	newAgent := agentKey(t, 0x77)
	second := h.link(n, newAgent)
	switch {
	case !second.Relinked || second.Provider.ID != id:
		t.Errorf("re-link: %+v", second)
	case second.Revoked == nil || *second.Revoked != n.agent:
		t.Errorf("revoked %v, want %v", second.Revoked, n.agent)
	case second.Provider.Agent != newAgent:
		t.Errorf("agent %v, want %v", second.Provider.Agent, newAgent)
	case second.Provider.Rates.Strings()["cpu"] != "0.5":
		t.Errorf("rates after re-link: %v", second.Provider.Rates)
	case !second.Provider.CreatedAt.Equal(first.Provider.CreatedAt) ||
		!second.Provider.LinkedAt.Equal(h.clock.Now()):
		t.Errorf("times after re-link: %+v", second.Provider)
	}

	if err := h.mgr.VerifyAgent(h.ctx, id, newAgent); err != nil {
		t.Errorf("VerifyAgent(new): %v", err)
	}
	if err := h.mgr.VerifyAgent(h.ctx, id, n.agent); !errors.Is(err,
		channels.ErrAgentKeyRevoked) {

		t.Errorf("VerifyAgent(old): %v, want ErrAgentKeyRevoked", err)
	}
	if err := h.mgr.VerifyAgent(h.ctx, id, agentKey(t, 0x78)); !errors.Is(
		err, channels.ErrUnknownAgentKey) {

		t.Errorf("VerifyAgent(never linked): %v, want "+
			"ErrUnknownAgentKey", err)
	}
	if err := h.mgr.VerifyAgent(h.ctx, "prov-nope", newAgent); !errors.Is(
		err, channels.ErrProviderNotFound) {

		t.Errorf("VerifyAgent(unknown provider): %v", err)
	}
	if k, err := h.mgr.AgentKey(h.ctx, id); err != nil || k != newAgent {
		t.Errorf("AgentKey = %v, %v, want %v", k, err, newAgent)
	}

	// The revoked key never comes back.
	_, err = h.mgr.CreateChallenge(h.ctx, channels.ChallengeRequest{
		Node: n.pub, Agent: n.agent,
	})
	if !errors.Is(err, channels.ErrAgentKeyRevoked) {
		t.Errorf("challenge with the revoked key: %v, want "+
			"ErrAgentKeyRevoked", err)
	}
}

// TestAgentKeyOfAnotherProvider refuses to link a key another provider
// uses, both when asking and, if the other link came in between, when
// completing.
func TestAgentKeyOfAnotherProvider(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	a, b := newNode(t, 0x27), newNode(t, 0x29)
	shared := agentKey(t, 0x55)

	// b asks first, then a links the key: b's completion is refused.
	chB := h.challenge(b, shared)
	h.link(a, shared)
	h.hub.ExpectUnknownNode(b.pub)
	_, err := h.mgr.CompleteLink(h.ctx, chB.ID,
		channels.SignNodeMessage(b.priv, []byte(chB.Message)))
	if !errors.Is(err, channels.ErrAgentKeyInUse) {
		t.Errorf("completing with a taken key: %v, want "+
			"ErrAgentKeyInUse", err)
	}
	_, err = h.mgr.CreateChallenge(h.ctx, channels.ChallengeRequest{
		Node: b.pub, Agent: shared,
	})
	if !errors.Is(err, channels.ErrAgentKeyInUse) {
		t.Errorf("asking with a taken key: %v, want ErrAgentKeyInUse",
			err)
	}
}

// TestCreateChallengeRefusals refuses the hub's node and bad aliases.
func TestCreateChallengeRefusals(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	n := newNode(t, 0x2a)

	_, err := h.mgr.CreateChallenge(h.ctx, channels.ChallengeRequest{
		Node: h.hubNode, Agent: n.agent,
	})
	if !errors.Is(err, channels.ErrHubNode) {
		t.Errorf("hub node: %v, want ErrHubNode", err)
	}
	_, err = h.mgr.CreateChallenge(h.ctx, channels.ChallengeRequest{
		Node: n.pub, Agent: n.agent, Alias: strings.Repeat("x", 33),
	})
	if !errors.Is(err, channels.ErrInvalidAlias) {
		t.Errorf("long alias: %v, want ErrInvalidAlias", err)
	}
}

// TestChallengesBounded checks that one node gets at most
// MaxOpenChallengesPerNode open challenges, that another node is not held
// back by it, and that the node gets more once they expire or one is used.
func TestChallengesBounded(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	n := newNode(t, 0x2b)
	other := newNode(t, 0x2c)

	var first channels.Challenge
	for i := range channels.MaxOpenChallengesPerNode {
		ch := h.challenge(n, n.agent)
		if i == 0 {
			first = ch
		}
	}
	_, err := h.mgr.CreateChallenge(h.ctx, channels.ChallengeRequest{
		Node: n.pub, Agent: n.agent})
	if !errors.Is(err, channels.ErrTooManyChallenges) ||
		!strings.Contains(err.Error(), "has 5 open") {

		t.Fatalf("challenge over the bound: %v, want "+
			"ErrTooManyChallenges", err)
	}
	h.challenge(other, other.agent)

	// Using one frees a place.
	h.hub.ExpectNodeInfo(n.pub, lightning.NodeInfo{Alias: "n"}, nil)
	h.reachable(n)
	_, err = h.mgr.CompleteLink(h.ctx, first.ID,
		channels.SignNodeMessage(n.priv, []byte(first.Message)))
	if err != nil {
		t.Fatalf("CompleteLink: %v", err)
	}
	h.challenge(n, n.agent)

	// Expired ones do not count against the node.
	h.advance(channels.DefaultChallengeTTL + time.Second)
	for range channels.MaxOpenChallengesPerNode {
		h.challenge(n, n.agent)
	}
}

// TestReach checks each way the hub can or cannot reach a node.
func TestReach(t *testing.T) {
	t.Parallel()

	tests := []struct {
		name   string
		expect func(h *harness, n node)
		state  channels.ReachState
		reason string
	}{{
		name: "active channel",
		expect: func(h *harness, n node) {
			h.reachable(n)
		},
		state:  channels.ReachReachable,
		reason: "active channel with the node (123:0:0, 900000 sat",
	}, {
		name: "inactive channel, route",
		expect: func(h *harness, n node) {
			h.hub.ExpectChannels(n.pub, []lightning.Channel{{
				Active: false, LocalBalance: 900_000,
			}}, nil)
			h.hub.ExpectRoute(n.pub, lightning.Route{Hops: 2,
				Fee: 1001}, nil)
		},
		state:  channels.ReachReachable,
		reason: "route for 1000 sat: 2 hops, 1001 msat in fees",
	}, {
		name: "nothing",
		expect: func(h *harness, n node) {
			h.hub.ExpectChannels(n.pub, nil, nil)
			h.hub.ExpectNoRoute(n.pub)
			h.hub.ExpectUnknownNode(n.pub)
		},
		state: channels.ReachUnreachable,
		reason: "the hub has no channel with the node; the node is " +
			"not in the hub's graph",
	}, {
		name: "inactive channel, no route",
		expect: func(h *harness, n node) {
			h.hub.ExpectChannels(n.pub, []lightning.Channel{{
				Active: false, LocalBalance: 900_000,
			}}, nil)
			h.hub.ExpectNoRoute(n.pub)
			h.hub.ExpectNodeInfo(n.pub, lightning.NodeInfo{}, nil)
		},
		state:  channels.ReachUnreachable,
		reason: "channel(s) with the node are inactive",
	}, {
		name: "empty channel, no route",
		expect: func(h *harness, n node) {
			h.hub.ExpectChannels(n.pub, []lightning.Channel{{
				Active: true, LocalBalance: 0,
			}}, nil)
			h.hub.ExpectNoRoute(n.pub)
			h.hub.ExpectNodeInfo(n.pub, lightning.NodeInfo{}, nil)
		},
		state:  channels.ReachUnreachable,
		reason: "hold only 0 sat to send",
	}, {
		name: "lnd fails",
		expect: func(h *harness, n node) {
			h.hub.ExpectChannels(n.pub, nil,
				errors.New("lnd is down"))
		},
		state:  channels.ReachUnknown,
		reason: "cannot list the hub's channels: lnd is down",
	}, {
		name: "route query fails",
		expect: func(h *harness, n node) {
			h.hub.ExpectChannels(n.pub, nil, nil)
			h.hub.ExpectRoute(n.pub, lightning.Route{},
				errors.New("timeout"))
		},
		state:  channels.ReachUnknown,
		reason: "route query failed: timeout",
	}}

	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			h := newHarness(t)
			n := newNode(t, 0x2b)
			id := h.link(n, n.agent).Provider.ID

			h.advance(time.Hour)
			tc.expect(h, n)
			reach, err := h.mgr.CheckReach(h.ctx, id)
			if err != nil {
				t.Fatal(err)
			}
			if reach.State != tc.state ||
				!strings.Contains(reach.Reason, tc.reason) {

				t.Errorf("reach %+v, want %s containing %q",
					reach, tc.state, tc.reason)
			}
			p, err := h.mgr.Provider(h.ctx, id)
			if err != nil {
				t.Fatal(err)
			}
			if p.Reach != reach || !reach.CheckedAt.Equal(
				h.clock.Now()) {

				t.Errorf("stored reach %+v, checked %+v",
					p.Reach, reach)
			}
			for _, probe := range h.hub.Probes {
				if probe.Amt != channels.DefaultReachProbe ||
					probe.FeeLimit < probe.Amt/20 {

					t.Errorf("probe %+v", probe)
				}
			}
		})
	}

	h := newHarness(t)
	if _, err := h.mgr.CheckReach(h.ctx, "prov-nope"); !errors.Is(err,
		channels.ErrProviderNotFound) {

		t.Errorf("CheckReach(unknown): %v", err)
	}
}

// TestRatesAndListing sets and reads rate cards and lists providers.
func TestRatesAndListing(t *testing.T) {
	t.Parallel()
	h := newHarness(t)

	list, err := h.mgr.Providers(h.ctx)
	if err != nil || len(list) != 0 {
		t.Fatalf("Providers of an empty store = %v, %v", list, err)
	}

	a := h.link(newNode(t, 0x2c), agentKey(t, 0x60)).Provider
	h.advance(time.Second)
	b := h.link(newNode(t, 0x2d), agentKey(t, 0x61)).Provider

	card, err := channels.ParseRateCard(map[string]string{
		"cpu": "0.000125", "mem": "0.002",
	})
	if err != nil {
		t.Fatal(err)
	}
	p, err := h.mgr.SetRates(h.ctx, b.ID, card)
	if err != nil {
		t.Fatal(err)
	}
	if got := p.Rates.Strings(); got["cpu"] != "0.000125" ||
		got["mem"] != "0.002" || len(got) != 2 {

		t.Errorf("rates %v", got)
	}
	_, err = h.mgr.SetRates(h.ctx, "prov-nope", card)
	if !errors.Is(err, channels.ErrProviderNotFound) {
		t.Errorf("SetRates(unknown): %v, want ErrProviderNotFound", err)
	}

	list, err = h.mgr.Providers(h.ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(list) != 2 || list[0].ID != a.ID || list[1].ID != b.ID ||
		len(list[1].Rates) != 2 || len(list[0].Rates) != 0 {

		t.Errorf("Providers = %+v", list)
	}
	if _, err := h.mgr.Provider(h.ctx, "prov-nope"); !errors.Is(err,
		channels.ErrProviderNotFound) {

		t.Errorf("Provider(unknown): %v", err)
	}
}

// TestNewManagerConfig refuses incomplete configs, naming the field.
func TestNewManagerConfig(t *testing.T) {
	t.Parallel()

	db := storetest.Open(t, storetest.Config(t, store.SQLite))
	_, hubNode := keyOf(0x99)
	good := channels.Config{
		Store: db, Hub: channelstest.NewHub(t), HubNode: hubNode,
		Network: "regtest",
	}
	if _, err := channels.NewManager(good); err != nil {
		t.Fatalf("good config: %v", err)
	}
	tests := []struct {
		field  string
		mutate func(c *channels.Config)
	}{
		{"Store", func(c *channels.Config) { c.Store = nil }},
		{"Hub", func(c *channels.Config) { c.Hub = nil }},
		{"HubNode", func(c *channels.Config) { c.HubNode = route.Vertex{} }},
		{"Network", func(c *channels.Config) { c.Network = "" }},
		{"ChallengeTTL", func(c *channels.Config) { c.ChallengeTTL = -1 }},
		{"ReachTimeout", func(c *channels.Config) { c.ReachTimeout = -1 }},
	}
	for _, tc := range tests {
		cfg := good
		tc.mutate(&cfg)
		_, err := channels.NewManager(cfg)
		if !errors.Is(err, channels.ErrInvalidConfig) ||
			!strings.Contains(err.Error(), tc.field) {

			t.Errorf("%s: %v", tc.field, err)
		}
	}
}
