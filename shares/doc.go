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
// After each reward epoch closes, Sync (tranche.go, docs/shares.md "One
// tranche and one burn per epoch") mints the shares the ledger issued up
// to the close as one reissuance into the group, named by the epoch and
// carrying its usage Merkle root in its metadata, and burns the shares
// redemptions burned, each another outbound call (a share_epoch_ops row
// first), so that tapd's supply equals the ledger's at every close;
// CheckSupply (check.go) compares the two for reconcile.
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
// Deposits (deposit.go, docs/shares.md "Deposit back") bring shares back:
// each provider's address of the group on the hub's tapd, made once, and a
// scan of tapd's complete receives that credits each output at one of them
// to its provider once it is 6 deep, in one transaction keyed by the
// outpoint (shares_deposited → provider_shares).
//
// Verify (verify.go) is the other side: anyone with a provider's reward
// proof and their own tapd checks, step by step, that the reward is in the
// usage root of the epoch's tranche as the chain anchors it, through
// VerifyHub (sluiced's API) and ProofTapd (hubnode.TapdProofs).
//
// The package talks to tapd only through Minter, Burner and Sender
// (interfaces.go), whose adapters are hubnode.TapdMinter and
// hubnode.TapdSender, Receiver (hubnode.TapdWallet) for deposits, and
// ProofTapd (hubnode.TapdProofs) for Verify; to the store only through
// Store, EpochStore, WithdrawStore and DepositStore (store.go,
// withdrawstore.go, deposit.go), which store.DB implements.
package shares
