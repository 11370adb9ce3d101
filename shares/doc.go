// Package shares makes the vault's shares a Taproot Asset on the hub's
// tapd: one asset group, minted once at genesis with its terms in JSON
// metadata, whose on-chain supply follows the ledger's share supply
// (ledger.ShareSupply, issued by package yield).
//
// Every mint is an outbound call (package outbound): its intent, a
// share_mints row with the asset's name and amount, is written first;
// then tapd's MintAsset and FinalizeBatch make it, and tapd's ListBatches,
// searched by the asset's name, tracks it until the batch is FINALIZED
// (one confirmation). A mint found pending after a crash is tracked by
// name first and made only when no batch of tapd holds the name, so it is
// never made twice. The genesis records the tweaked group key, the asset
// id and the anchor outpoint that later tranches and proofs need.
//
// Withdrawals (withdraw.go, docs/shares.md "Custody and withdrawal") take
// a provider's shares out of the hub's custody to its own tapd: a V2 group
// key address checked with the hub's tapd, requests that move
// provider_shares → shares_withdrawing at once, and rounds that send every
// queued withdrawal in one SendAsset labelled "sluice-withdraw-<round>-…",
// another outbound call: its intent written first, found again by label in
// tapd's transfers, and followed until the proofs are delivered and the
// anchor is 6 blocks deep, when the shares become shares_withdrawn (or go
// back to custody when tapd refused the send).
//
// The package talks to tapd only through Minter and Sender
// (interfaces.go), whose adapters are lightning.TapdMinter and
// lightning.TapdSender, and to the store only through Store and
// WithdrawStore (store.go, withdrawstore.go), which store.DB implements.
package shares
