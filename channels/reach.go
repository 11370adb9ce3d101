package channels

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/btcsuite/btcd/btcutil"
	"github.com/lightningnetwork/lnd/lnwire"
	"github.com/lightningnetwork/lnd/routing/route"
	"github.com/sluice-ln/sluice/lightning"
)

// minReachFeeLimit is the least fee the reachability probe allows: a
// route through one ordinary hop.
const minReachFeeLimit = lnwire.MilliSatoshi(10_000)

// CheckReach checks whether the hub can pay the provider's node now and
// records the result: reachable over an active channel of the hub's with
// enough to send, or over a route the hub's path finding finds for
// Config.ReachProbe; otherwise unreachable, with the reason. When lnd cannot
// answer, the state is unknown and the reason says what failed. The
// returned error is only about the provider or the store.
func (m *Manager) CheckReach(ctx context.Context, providerID string) (Reach,
	error) {

	p, err := m.Provider(ctx, providerID)
	if err != nil {
		return Reach{}, err
	}

	checkCtx, cancel := context.WithTimeout(ctx, m.cfg.ReachTimeout)
	reach := m.probeReach(checkCtx, p.Node)
	cancel()
	reach.CheckedAt = m.cfg.Clock.Now().UTC().Truncate(time.Microsecond)

	err = m.cfg.Store.ExecChannels(ctx, readWrite, func(tx StoreTx) error {
		return tx.SetProviderReach(ctx, providerID, reach.State,
			reach.Reason, reach.CheckedAt)
	})
	if err != nil {
		return Reach{}, fmt.Errorf("record reach of provider %s: %w",
			providerID, err)
	}
	log.Infof("Provider %s (node %v) is %s: %s", providerID, p.Node,
		reach.State, reach.Reason)
	return reach, nil
}

// probeReach asks the hub how it would pay node.
func (m *Manager) probeReach(ctx context.Context, node route.Vertex) Reach {
	probe := m.cfg.ReachProbe
	chans, err := m.cfg.Hub.ChannelsWith(ctx, node)
	if err != nil {
		return Reach{State: ReachUnknown, Reason: fmt.Sprintf(
			"cannot list the hub's channels: %v", err)}
	}
	for _, c := range chans {
		if c.Active && lnwire.NewMSatFromSatoshis(c.LocalBalance) >= probe {
			return Reach{State: ReachReachable, Reason: fmt.Sprintf(
				"the hub has an active channel with the node "+
					"(%v, %d sat to send)",
				lnwire.NewShortChanIDFromInt(c.ChanID),
				int64(c.LocalBalance))}
		}
	}

	feeLimit := max(probe/20, minReachFeeLimit)
	r, err := m.cfg.Hub.QueryRoute(ctx, node, probe, feeLimit)
	if err == nil {
		return Reach{State: ReachReachable, Reason: fmt.Sprintf(
			"the hub finds a route for %s: %d hops, %d msat in fees",
			satString(probe), r.Hops, int64(r.Fee))}
	}
	if !errors.Is(err, lightning.ErrNoRoute) {
		return Reach{State: ReachUnknown, Reason: fmt.Sprintf(
			"the hub's route query failed: %v", err)}
	}

	// Unreachable: say what is missing.
	var why []string
	switch active, balance := summarise(chans); {
	case len(chans) == 0:
		why = append(why, "the hub has no channel with the node")
	case active == 0:
		why = append(why, fmt.Sprintf("the hub's %d channel(s) with "+
			"the node are inactive (is the node online?)",
			len(chans)))
	default:
		why = append(why, fmt.Sprintf("the hub's active channel(s) "+
			"with the node hold only %d sat to send", int64(balance)))
	}
	_, err = m.cfg.Hub.NodeInfo(ctx, node)
	if errors.Is(err, lightning.ErrNodeNotFound) {
		why = append(why, "the node is not in the hub's graph (it has "+
			"no public channel the hub knows)")
	}
	why = append(why, fmt.Sprintf("no route for %s", satString(probe)))
	return Reach{State: ReachUnreachable, Reason: strings.Join(why, "; ") +
		"; open a channel from the hub to the node, or to a node " +
		"connected to it"}
}

// summarise counts the active channels and their spendable balance.
func summarise(chans []lightning.Channel) (int, btcutil.Amount) {
	var (
		active  int
		balance btcutil.Amount
	)
	for _, c := range chans {
		if c.Active {
			active++
			balance += c.LocalBalance
		}
	}
	return active, balance
}

// satString writes an amount in sat, with msat when it has any.
func satString(m lnwire.MilliSatoshi) string {
	if m%1000 == 0 {
		return fmt.Sprintf("%d sat", int64(m/1000))
	}
	return fmt.Sprintf("%d msat", int64(m))
}
