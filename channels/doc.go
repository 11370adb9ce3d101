// Package channels links providers' Lightning nodes to Sluice and keeps
// what payouts need to know about them.
//
// Linking proves that a provider controls the node it names: sluiced issues
// a challenge (a human-readable message naming the service, the network,
// the hub, the node, the provider's metering agent key, a random nonce and
// an expiry), the provider's own lnd signs it with SignMessage, and this
// package recovers the signer from the signature (lnd's signed-message
// format, checked locally with btcec) and compares it with the node the
// challenge names. A challenge is single-use and expires. A successful link
// records the provider (its id is derived from the node key, so it survives
// re-links), authorises the agent key the challenge named and revokes the
// one it replaces, and checks whether the hub can reach the node.
//
// The package also holds providers' rate cards (decimal millisatoshi per
// unit-second for each resource) and answers which agent key is current,
// which metering uses to check signed usage. Later, liquidity and HTLC-slot
// planning for payouts lives here too.
//
// Resource and RateCard are defined here and only here: a rate card is what
// a provider offers, set, parsed and checked when the provider sets it.
// Settlement copies the card into a job at creation and metering applies
// the job's copy, both with this type. The other way round would not work: metering
// asks settlement for job states, and settlement asks channels for
// providers, so the lowest of the three, channels, owns the card. Likewise
// ErrProviderNotFound is channels' alone; settlement and payout use the
// same value, and so does the store (store.ErrProviderNotFound is this
// error).
//
// The Manager's store is declared here in channels' own rows (Store and
// StoreTx, store.go); store/channels_domain.go implements it, so channels
// imports no store package.
package channels
