// Package routing is the routing-liquidity strategy of the yield vault
// (yield.Allocator, named "routing"): it puts vault capital into channels
// the hub opens to the peers the operator lists, one channel of
// Config.ChannelSize per peer, priced with the configured forwarding
// policy, and earns the fees of what the hub forwards out of them.
//
// # Figures
//
// Every figure comes from the hub's lnd:
//
//   - principal = Σ capacity of its channels that have not closed and
//     returned their capital; a channel's capacity moves to the
//     strategy's principal when its open is applied, and back to the idle
//     vault when lnd reports it closed ("yield-return:<chanpoint>");
//   - income = Σ fee_msat of the hub's forwards out of its channels
//     (lnd's ForwardingHistory filtered on the channel's short id, from
//     the time its open was recorded), read page by page after a cursor
//     per channel ("fwd:<scid>") that is set in the transaction that
//     posts the page ("yield-routing:<scid>:<first>-<last>"), so each
//     forward is counted once across harvests and crashes;
//   - costs = the chain fees of its opens and closes, as the hub's wallet
//     reports them for the funding and closing transactions once they
//     confirmed ("yield-cost:open:<txid>", "yield-cost:close:<txid>").
//
// # Plans
//
// Observe shows the channels holding capital (a channel point, or
// "action:<id>" while lnd has not answered its open) and the facts a plan
// rests on: the peers listed and whether lnd's graph knows them, the
// channel size and policy configured, and lnd's policy of each open
// channel. Propose closes every open channel with the kill switch on and
// does nothing else; otherwise it closes channels to peers no longer
// listed, opens one to each listed peer without one while the room
// allows, and restores the configured policy where lnd reports another,
// saying why it left each other candidate out. An open's expected cost is
// lnd's fee estimate for it; a close's is the estimate for an open of the
// same capacity, a stand-in of about the same weight. The expected costs
// fit in the cost budget left, closes served first; a close that does not
// fit waits for the next period, left out with why.
//
// # Execution and crashes
//
// An open records its row (yield_channels, one per action) before lnd is
// asked, and leaves the memo "sluice-yield-<action id>" on the channel:
// executed again after a crash it finds the channel by that memo and does
// not open twice. Its failpoints are FailpointOpenBeforeCall and
// FailpointOpenAfterCall. lnd's refusals end an action failed; not
// knowing lnd's answer returns an error, and the vault executes it again.
//
// # Left out
//
// No rebalancing payments are made yet, so none are counted. A close the
// peer made (cooperative or forced) is followed to its end and the
// capacity returned, but the hub's wallet did not pay its fee and cannot
// say what it was, so no close cost is posted for it (it is logged). The
// capital returned is the channel's capacity, not the hub's balance in it
// at the close: forwards move the hub's balance between its channels,
// changing its total only by their fees, which are counted as income.
package routing
