package routing

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strings"

	"github.com/btcsuite/btcd/btcutil"
	"github.com/lightningnetwork/lnd/clock"
	"github.com/lightningnetwork/lnd/routing/route"
	"github.com/sluice-ln/sluice/failpoint"
	"github.com/sluice-ln/sluice/ledger"
	"github.com/sluice-ln/sluice/lightning"
	"github.com/sluice-ln/sluice/yield"
)

// Name is the routing strategy's name: the reference of its ledger
// accounts and the key of its cap.
const Name = "routing"

// Compile-time check that the strategy is an allocator.
var _ yield.Allocator = (*Strategy)(nil)

// Strategy is the routing-liquidity strategy: hub channels opened from
// vault capital to the peers the operator lists, earning the fees of the
// forwards out of them. Any number of goroutines may call Observe and
// Propose; the vault calls Execute and Harvest of one strategy one at a
// time.
type Strategy struct {
	cfg   Config
	node  Node
	store Store
	clock clock.Clock

	// listed holds cfg.Peers.
	listed map[route.Vertex]bool
}

// New returns the strategy over the hub's lnd and its rows; clk nil is
// the wall clock. A Config it cannot run with gives an error wrapping
// ErrInvalidConfig.
func New(cfg Config, node Node, store Store, clk clock.Clock) (*Strategy,
	error) {

	if err := cfg.validate(); err != nil {
		return nil, err
	}
	if node == nil || store == nil {
		return nil, fmt.Errorf("%w: a node and a store are needed",
			ErrInvalidConfig)
	}
	if clk == nil {
		clk = clock.NewDefaultClock()
	}
	s := &Strategy{cfg: cfg, node: node, store: store, clock: clk,
		listed: make(map[route.Vertex]bool, len(cfg.Peers))}
	s.cfg.Peers = append([]route.Vertex(nil), cfg.Peers...)
	for _, p := range cfg.Peers {
		s.listed[p] = true
	}
	return s, nil
}

// Name is Name.
func (s *Strategy) Name() string { return Name }

// hit fires the failpoint name.
func (s *Strategy) hit(name string) {
	if s.cfg.Hook != nil {
		s.cfg.Hook(name)
		return
	}
	failpoint.Hit(name)
}

// Fact names of the observation.
const (
	factPeer     = "peer"
	factChanSize = "chansize"
	factPolicy   = "policy"
	factKnown    = "known"

	// policyUnknown is the policy fact of a channel lnd's graph has no
	// policy of yet.
	policyUnknown = "unknown"
)

// Observe returns the strategy's channels that still hold capital (every
// row but failed opens and closed channels whose capital returned) and the
// facts a plan depends on: the peers listed, the channel size and policy
// configured, lnd's policy of each open channel and whether lnd's graph
// knows each listed peer.
func (s *Strategy) Observe(ctx context.Context) (yield.Observation, error) {
	rows, err := s.store.RoutingChannels(ctx)
	if err != nil {
		return yield.Observation{}, fmt.Errorf("routing channels: %w",
			err)
	}

	var obs yield.Observation
	obs.Facts = append(obs.Facts,
		fmt.Sprintf("%s=%d", factChanSize, int64(s.cfg.ChannelSize)),
		fmt.Sprintf("%s=%s", factPolicy, policyText(s.cfg.Policy)))
	for _, ch := range rows {
		if !holdsCapital(ch) {
			continue
		}
		obs.Positions = append(obs.Positions, yield.Position{
			ID:        ch.ID(),
			Peer:      ch.Peer.String(),
			Principal: ch.Capacity,
			Status:    string(ch.Status),
		})
		if ch.Status != StatusOpen || ch.ShortChanID == 0 {
			continue
		}
		policy, err := s.node.Policy(ctx, ch.ShortChanID)
		text := policyUnknown
		switch {
		case err == nil:
			text = policyText(policy)

		case unreachable(err):
			return yield.Observation{}, fmt.Errorf("policy of "+
				"%s: %w", ch.ChanPoint, err)

		default:
			log.Debugf("Policy of %s not known: %v", ch.ChanPoint,
				err)
		}
		obs.Facts = append(obs.Facts, fmt.Sprintf("%s:%s=%s",
			factPolicy, ch.ChanPoint, text))
	}

	for _, p := range s.cfg.Peers {
		_, err := s.node.NodeInfo(ctx, p)
		known := err == nil
		if err != nil && !errors.Is(err, lightning.ErrNodeNotFound) {
			return yield.Observation{}, fmt.Errorf("graph node %v: "+
				"%w", p, err)
		}
		obs.Facts = append(obs.Facts,
			fmt.Sprintf("%s=%s", factPeer, p),
			fmt.Sprintf("%s:%s=%t", factKnown, p, known))
	}

	sort.Slice(obs.Positions, func(i, j int) bool {
		return obs.Positions[i].ID < obs.Positions[j].ID
	})
	sort.Strings(obs.Facts)
	return obs, nil
}

// holdsCapital says whether the channel's capital is still the
// strategy's: not a failed open, not closed and returned.
func holdsCapital(ch Channel) bool {
	return ch.Status != StatusFailed &&
		(ch.Status != StatusClosed || !ch.Returned)
}

// facts reads the "name=value" facts into a map.
func facts(obs yield.Observation) map[string]string {
	out := make(map[string]string, len(obs.Facts))
	for _, f := range obs.Facts {
		name, value, _ := strings.Cut(f, "=")
		out[name] = value
	}
	return out
}

// Propose plans on obs within room.
//
// With the kill switch on it closes every open channel and does nothing
// else. Otherwise it closes the open channels to peers no longer listed,
// opens a channel of ChannelSize to each listed peer that has none
// opening or open (while room.New and the budget allow, and lnd's graph
// knows the peer), and restores the configured policy on each open
// channel whose lnd policy differs. Closes come first, then opens, then
// policy changes, each in the order of its target.
//
// An open's expected cost is lnd's estimate of its funding transaction's
// fee; a close's is lnd's estimate for an open of the channel's capacity,
// a stand-in of the same size (a cooperative close spends one input to
// two outputs, about what a funding transaction weighs). Every action's
// expected cost fits in the budget left (the vault refuses a plan over
// it): closes take from it first, then opens; one that does not fit is
// left out, a close with the reason it was wanted for. The closes of a
// killed strategy are the exception: winding down does not wait for the
// budget (the vault does not count them either).
func (s *Strategy) Propose(ctx context.Context, obs yield.Observation,
	room yield.Room) (yield.Proposal, error) {

	known := facts(obs)
	var (
		prop     yield.Proposal
		opens    []yield.Action
		policies []yield.Action
		newLeft  = room.New
		budget   = room.Budget
	)

	// spend takes cost from the budget left, down to zero.
	spend := func(cost ledger.MilliSatoshi) {
		budget -= min(budget, cost)
	}

	// has maps a listed peer to the first of its channels opening or
	// open.
	has := make(map[string]string)
	for _, pos := range obs.Positions {
		status := ChannelStatus(pos.Status)
		peer, err := route.NewVertexFromStr(pos.Peer)
		if err != nil {
			return yield.Proposal{}, fmt.Errorf("position %s: "+
				"peer: %w", pos.ID, err)
		}
		if (status == StatusOpening || status == StatusOpen) &&
			has[pos.Peer] == "" {

			has[pos.Peer] = pos.ID
		}
		if status != StatusOpen {
			continue
		}

		var reason string
		switch {
		case room.Killed:
			reason = "kill switch"

		case !s.listed[peer]:
			reason = "peer no longer listed"
		}
		if reason != "" {
			cost, err := s.estimate(ctx, pos.Principal)
			if err != nil {
				return yield.Proposal{}, err
			}
			// The kill switch winds down whatever the budget
			// says: the operator stopped the strategy.
			if !room.Unlimited && !room.Killed && cost > budget {
				prop.LeftOut = append(prop.LeftOut,
					yield.LeftOut{Strategy: Name,
						Target: pos.ID,
						Reason: overBudget(cost,
							budget) + " (" +
							reason + ")"})
				continue
			}
			spend(cost)
			prop.Actions = append(prop.Actions, yield.Action{
				Strategy: Name, Kind: yield.ActionClose,
				Target: pos.ID, Reason: reason,
				ExpectedCost: cost,
			})
			continue
		}

		want := policyText(s.cfg.Policy)
		got := known[factPolicy+":"+pos.ID]
		switch got {
		case want:

		case policyUnknown, "":
			prop.LeftOut = append(prop.LeftOut, yield.LeftOut{
				Strategy: Name, Target: pos.ID,
				Reason: "lnd's graph has no policy of the " +
					"channel yet",
			})

		default:
			policies = append(policies, yield.Action{
				Strategy: Name, Kind: yield.ActionPolicy,
				Target: pos.ID, Params: s.policyParams(),
				Reason: fmt.Sprintf("lnd's policy %s "+
					"differs from the configured %s",
					got, want),
			})
		}
	}
	if room.Killed {
		sortActions(prop.Actions)
		return prop, nil
	}

	size, err := ledger.FromSatoshis(int64(s.cfg.ChannelSize))
	if err != nil {
		return yield.Proposal{}, fmt.Errorf("channel size: %w", err)
	}
	peers := make([]string, 0, len(s.cfg.Peers))
	for _, p := range s.cfg.Peers {
		peers = append(peers, p.String())
	}
	sort.Strings(peers)
	for _, peer := range peers {
		leftOut := func(reason string) {
			prop.LeftOut = append(prop.LeftOut, yield.LeftOut{
				Strategy: Name, Target: peer, Reason: reason,
			})
		}
		if id := has[peer]; id != "" {
			leftOut("already has channel " + id)
			continue
		}
		if known[factKnown+":"+peer] != "true" {
			leftOut("unknown to lnd's graph")
			continue
		}
		if newLeft < size {
			leftOut(fmt.Sprintf("room %d sat below the channel "+
				"size %d sat", newLeft.ToSatoshisFloor(),
				int64(s.cfg.ChannelSize)))
			continue
		}
		cost, err := s.estimate(ctx, size)
		if err != nil {
			return yield.Proposal{}, err
		}
		if !room.Unlimited && cost > budget {
			leftOut(overBudget(cost, budget))
			continue
		}
		newLeft -= size
		spend(cost)
		opens = append(opens, yield.Action{
			Strategy: Name, Kind: yield.ActionOpen, Target: peer,
			Amount: size, Params: s.policyParams(),
			Reason: "listed peer without a channel of the " +
				"strategy", ExpectedCost: cost,
		})
	}

	sortActions(prop.Actions)
	prop.Actions = append(prop.Actions, opens...)
	sortActions(policies)
	prop.Actions = append(prop.Actions, policies...)
	return prop, nil
}

// overBudget says that cost does not fit in the budget left.
func overBudget(cost, budget ledger.MilliSatoshi) string {
	return fmt.Sprintf("expected cost %d msat over the budget left %d "+
		"msat", int64(cost), int64(budget))
}

// sortActions orders actions of one kind by target.
func sortActions(actions []yield.Action) {
	sort.SliceStable(actions, func(i, j int) bool {
		return actions[i].Target < actions[j].Target
	})
}

// estimate is lnd's estimate of the chain fee of an open of amt, in msat.
func (s *Strategy) estimate(ctx context.Context, amt ledger.MilliSatoshi) (
	ledger.MilliSatoshi, error) {

	fee, err := s.node.EstimateOpenFee(ctx,
		btcutil.Amount(amt.ToSatoshisFloor()), s.cfg.TargetConf)
	if err != nil {
		return 0, fmt.Errorf("estimate the fee of an open of %d "+
			"sat: %w", amt.ToSatoshisFloor(), err)
	}
	cost, err := ledger.FromSatoshis(int64(fee))
	if err != nil {
		return 0, fmt.Errorf("fee estimate %d sat: %w", int64(fee),
			err)
	}
	return cost, nil
}

// Parameter names of a policy action.
const (
	paramBaseFee = "base_fee_msat"
	paramFeeRate = "fee_rate_ppm"
	paramDelta   = "time_lock_delta"
)

// policyParams are the configured policy as an action's params.
func (s *Strategy) policyParams() []string {
	return []string{
		fmt.Sprintf("%s=%d", paramBaseFee,
			uint64(s.cfg.Policy.BaseFeeMsat)),
		fmt.Sprintf("%s=%d", paramFeeRate, s.cfg.Policy.FeeRatePPM),
		fmt.Sprintf("%s=%d", paramDelta, s.cfg.Policy.TimeLockDelta),
	}
}
