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
// Verify (verify.go) is the other side: anyone with a provider's reward
// proof and their own tapd checks, step by step, that the reward is in the
// usage root of the epoch's tranche as the chain anchors it, through
// VerifyHub (sluiced's API) and ProofTapd (lightning.TapdProofs).
//
// The package talks to tapd only through Minter (interfaces.go), whose
// adapter is lightning.TapdMinter, and to the store only through Store
// (store.go), which store.DB implements.
package shares
