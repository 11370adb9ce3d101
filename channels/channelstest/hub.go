// Package channelstest fakes what the channels package needs from the
// hub's lnd, for unit tests. A Hub answers only the calls a test declared
// and fails the test on any other call, and on a declared call that never
// came.
package channelstest

import (
	"context"
	"fmt"
	"sync"
	"testing"

	"github.com/lightningnetwork/lnd/lnwire"
	"github.com/lightningnetwork/lnd/routing/route"
	"github.com/sluice-ln/sluice/channels"
	"github.com/sluice-ln/sluice/lightning"
)

// The fake is what the manager needs.
var _ channels.Hub = (*Hub)(nil)

// Hub is a fake hub lnd. Declare the answers with the Expect methods;
// each answer may be given any number of times, but at least once.
type Hub struct {
	t testing.TB

	mu       sync.Mutex
	nodes    map[route.Vertex]*answer[lightning.NodeInfo]
	channels map[route.Vertex]*answer[[]lightning.Channel]
	routes   map[route.Vertex]*answer[lightning.Route]

	// Probes records the amounts and fee limits of QueryRoute calls.
	Probes []Probe
}

// Probe is one QueryRoute call.
type Probe struct {
	Dest     route.Vertex
	Amt      lnwire.MilliSatoshi
	FeeLimit lnwire.MilliSatoshi
}

// answer is a declared answer and how often it was given.
type answer[T any] struct {
	val   T
	err   error
	calls int
}

// NewHub returns a fake that checks, when the test ends, that every
// declared call came.
func NewHub(t testing.TB) *Hub {
	h := &Hub{
		t:        t,
		nodes:    make(map[route.Vertex]*answer[lightning.NodeInfo]),
		channels: make(map[route.Vertex]*answer[[]lightning.Channel]),
		routes:   make(map[route.Vertex]*answer[lightning.Route]),
	}
	t.Cleanup(h.check)
	return h
}

// ExpectNodeInfo declares NodeInfo's answer for node.
func (h *Hub) ExpectNodeInfo(node route.Vertex, info lightning.NodeInfo,
	err error) *Hub {

	h.mu.Lock()
	defer h.mu.Unlock()
	h.nodes[node] = &answer[lightning.NodeInfo]{val: info, err: err}
	return h
}

// ExpectUnknownNode declares that the graph does not know node.
func (h *Hub) ExpectUnknownNode(node route.Vertex) *Hub {
	return h.ExpectNodeInfo(node, lightning.NodeInfo{},
		fmt.Errorf("fake: %w", lightning.ErrNodeNotFound))
}

// ExpectChannels declares ChannelsWith's answer for peer.
func (h *Hub) ExpectChannels(peer route.Vertex, chans []lightning.Channel,
	err error) *Hub {

	h.mu.Lock()
	defer h.mu.Unlock()
	h.channels[peer] = &answer[[]lightning.Channel]{val: chans, err: err}
	return h
}

// ExpectRoute declares QueryRoute's answer for dest.
func (h *Hub) ExpectRoute(dest route.Vertex, r lightning.Route,
	err error) *Hub {

	h.mu.Lock()
	defer h.mu.Unlock()
	h.routes[dest] = &answer[lightning.Route]{val: r, err: err}
	return h
}

// ExpectNoRoute declares that path finding finds no route to dest.
func (h *Hub) ExpectNoRoute(dest route.Vertex) *Hub {
	return h.ExpectRoute(dest, lightning.Route{},
		fmt.Errorf("fake: %w", lightning.ErrNoRoute))
}

// NodeInfo answers as declared.
func (h *Hub) NodeInfo(_ context.Context, node route.Vertex) (
	lightning.NodeInfo, error) {

	return give(h, h.nodes, "NodeInfo", node)
}

// ChannelsWith answers as declared.
func (h *Hub) ChannelsWith(_ context.Context, peer route.Vertex) (
	[]lightning.Channel, error) {

	return give(h, h.channels, "ChannelsWith", peer)
}

// QueryRoute answers as declared and records the probe.
func (h *Hub) QueryRoute(_ context.Context, dest route.Vertex,
	amt, feeLimit lnwire.MilliSatoshi) (lightning.Route, error) {

	h.mu.Lock()
	h.Probes = append(h.Probes, Probe{dest, amt, feeLimit})
	h.mu.Unlock()
	return give(h, h.routes, "QueryRoute", dest)
}

// give returns the declared answer for key, or fails the test.
func give[T any](h *Hub, answers map[route.Vertex]*answer[T], method string,
	key route.Vertex) (T, error) {

	h.mu.Lock()
	defer h.mu.Unlock()

	a, ok := answers[key]
	if !ok {
		var zero T
		h.t.Errorf("channelstest: unexpected %s(%v)", method, key)
		return zero, fmt.Errorf("channelstest: unexpected %s(%v)",
			method, key)
	}
	a.calls++
	return a.val, a.err
}

// check fails the test for every declared answer never asked for.
func (h *Hub) check() {
	h.mu.Lock()
	defer h.mu.Unlock()

	for k, a := range h.nodes {
		if a.calls == 0 {
			h.t.Errorf("channelstest: expected NodeInfo(%v) never "+
				"came", k)
		}
	}
	for k, a := range h.channels {
		if a.calls == 0 {
			h.t.Errorf("channelstest: expected ChannelsWith(%v) "+
				"never came", k)
		}
	}
	for k, a := range h.routes {
		if a.calls == 0 {
			h.t.Errorf("channelstest: expected QueryRoute(%v) "+
				"never came", k)
		}
	}
}
