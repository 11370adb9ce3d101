// Package demo plays Sluice's main story on a running local network
// (package devnet): sluiced on the hub with the embedded SQLite store, the
// provider1 node linked with a real SignMessage, a buyer minted by the
// operator, a job funded by the buyer node's own payment, the provider's
// agent metering a real CPU-bound command, payouts streamed to provider1's
// node every second, the job ended and the buyer refunded the rest. While
// the agent runs it prints a live line a second; at the end it checks the
// ledger (balanced, funding equals escrow credits, usage equals what the
// provider and the platform got) and reconciles it with the hub's lnd.
//
// `sluice devnet demo` (and so `make run`) drives Run; the integration test
// plays a shortened story and checks the Summary. The steps that a user
// would type (link, buyer add, agent run, operator reconcile) run the
// sluice binary, and the demo prints them, so the story shows the
// commands; the rest are Go calls on the API, the store and the nodes.
package demo
