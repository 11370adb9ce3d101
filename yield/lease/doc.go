// Package lease is the liquidity-lease strategy of the yield vault: any node
// buys inbound capacity from the hub for a number of blocks, LSPS1-shaped,
// and the hub opens the channel from vault capital.
//
// A request (Strategy.Request) is quoted from the operator's rate in parts
// per billion of the capacity per block, with a floor, within the limits
// of Config and the room the vault leaves the strategy; the lease is stored
// with a fresh preimage before the hub's hold invoice for the premium is
// made, so a crash never leaves an invoice whose preimage is lost. The
// buyer pays the hold invoice; the payment stays held.
//
// The vault's harvest (Strategy.Harvest) sees the payment accepted and
// marks the lease paid; a plan then proposes a lease_accept for it, whose
// execution (Strategy.Execute) opens the channel under the memo
// "sluice-lease-<id>" — looked up first, so it is never opened twice — and
// cancels the hold invoice when lnd refuses the open, so the buyer gets its
// payment back. Once the channel's funding confirms, the harvest settles
// the invoice, posts the open's chain fee, and from then on recognises the
// premium linearly over the lease's blocks (income keyed by lease and
// height, with the height as the strategy's cursor, so nothing is posted
// twice); at the expiry height the lease is marked expired and the channel
// is closed cooperatively, and when the close confirms its fee is posted
// and the capacity returns to the idle vault.
//
// States and their moves are in state.go; the lease is enforced by policy
// (the hub never closes before the expiry height), not by script: see
// docs/leases.md for why.
package lease
