// Package yield owns the vault: the sats that providers stake and that
// rewards bring in, the shares issued against them at the net asset value
// (NAV) per share, each epoch's rewards and the Merkle root that commits to
// them.
//
// The Vault (vault.go) acts on the ledger and its own rows through the
// store interfaces of store.go, each operation in one store transaction
// that reads the NAV it acts on (nav.go): staking and auto-stake
// (stake.go; Earned is metering's hook, in the charge's transaction),
// epochs and their close (epoch.go), the redemption queue (redeem.go),
// the operator's policy and shutdown (policy.go) and the strategies'
// interface with the idle reserve (strategy.go); Run closes epochs and
// finalizes the queue on a tick. Beneath it is the pure part, without
// store or I/O:
//
//   - vaultmath.go: ERC-4626's conversions and previews (OpenZeppelin v5) in
//     integer msat and share units, over an exact 128-bit MulDiv, with
//     rounding always in the vault's favour and the virtual offset against
//     the donation attack (VirtualShares says why it is 1);
//   - apportion.go: an epoch's reward shares split among providers in
//     proportion to what they earned, by largest remainder, so the units
//     sum exactly;
//   - merkle.go: the tree over an epoch's contributions, its root, proofs
//     and their verification, specified byte for byte in docs/vault.md with
//     vectors in testdata/merkle.
//
// The math is written here rather than taken from a library because no Go
// library implements ERC-4626's rounding rules on fixed-width integers; it
// needs nothing beyond math/bits.
package yield
