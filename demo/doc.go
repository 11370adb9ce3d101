// Package demo plays Sluice's main story on a running local network
// (package devnet): sluiced on the hub with the embedded SQLite store, the
// provider1 node linked with a real SignMessage, a buyer minted by the
// operator, a job funded by the buyer node's own payment, the provider's
// agent metering a real CPU-bound command, payouts streamed to provider1's
// node every second, the job ended and the buyer refunded the rest. While
// the agent runs it prints a live line a second.
//
// The last act puts the reward shares on tapd. The sluiced the story
// starts closes reward epochs every quarter of the work (StoryEpoch) and
// runs its share loops every second or two; at the first epoch close with
// rewards the story mints the share asset's genesis (`sluice operator
// shares genesis`), mining the blocks tapd waits for, and the epochs after
// it are minted by sluiced as tranches. After the work, provider1
// registers an address of its own tapd and withdraws the shares it holds
// in the hub's custody (`sluice provider shares address`, `withdraw`), the
// story mines until the withdrawal is complete, and provider1 verifies its
// reward in the last tranche with its own tapd (`sluice shares verify`).
//
// At the end it checks the ledger (balanced, funding equals escrow
// credits, usage equals what the provider, the platform and the vault
// got), reconciles it with the hub's lnd and tapd, and checks that
// provider1's tapd holds what it withdrew and that its reward verified.
//
// `sluice devnet demo` (and so `make run`) drives Run; the integration test
// plays a shortened story and checks the Summary. The steps that a user
// would type (link, buyer add, agent run, shares genesis, shares address,
// withdraw and verify, operator reconcile) run the sluice binary, and the
// demo prints them, so the story shows the commands; the rest are Go calls
// on the API, the store, the nodes and the chain (mining).
package demo
