// Package market is where jobs meet providers. A provider's serving agent
// announces what its machine can give (an Offer: CPU, memory, how many jobs
// at once) by heartbeat; a provider whose last heartbeat is older than the
// Timeout is offline and gets no new work. The Market keeps each provider's
// presence (first and last heartbeat, the time heartbeats covered) and
// computes its Record from what Sluice already stores: how its jobs ended,
// the seconds it metered, its failed payouts, its heartbeat uptime.
//
// Place is the placement decision, a pure function of a Request and the
// Candidates (no store, no clock), so that job creation, re-placement and
// the dry run share one rule: keep the providers that are online,
// reachable, have the capacity and price every resource of the spec at or
// below the buyer's maximum; rank them by the price of the spec, then by
// record; break ties at random with an injected source. It says for every
// candidate why it was taken or left out. docs/market.md is the long form.
//
// The package uses channels' rate cards and reach states; it does not
// import settlement, so that settlement may call Place.
package market
