// Package payout streams what providers earn to their Lightning nodes,
// exactly once.
//
// DESIGN.md lists payouts under settlement; they live here because they are
// a concept of their own, with their own state machine, store rows and
// failure handling, that shares nothing with jobs but the ledger: usage
// (metering) moves escrow into a provider's payable, and this package moves
// payable out over Lightning.
//
// The Scheduler decides when: per provider, payable is one ledger account
// netted across all the provider's jobs, and it is paid when the provider's
// policy interval has passed and the amount reaches its minimum, with at
// most one payout in flight per provider and a global cap on concurrent
// payouts (HTLC slots). A Policy has operator defaults and per-provider
// overrides; its fee cap is max(floor, amount × ppm / 1e6), and its fee
// payer says whether the provider's payable or the platform's fees bear
// the routing fee.
//
// The Executor decides how. A payout is first written durably, in one
// store transaction: its row (id, provider, amount, fee budget, a fresh
// preimage and its hash, state pending) and the ledger move payable → in
// flight. Only then is it sent, as a keysend through the hub's router with
// the preimage in record 5482373484 and the payout id in 5482373485. A
// success moves in flight → paid out plus the actual routing fee; a
// definite failure moves the money back and the provider's status records
// why and when to retry; an unknown outcome is tracked, never resent
// blindly. Sending, tracking and the retry rule are package outbound's one
// lifecycle, which refunds share; a payout's State is its Status. On start every pending payout is resumed with TrackPaymentV2: a
// hash lnd never saw is sent with the same preimage, any other is followed
// to its end. lnd refuses a second payment to a hash it has, so a payout is
// paid at most once whatever crashes when.
//
// Amounts are millisatoshi end to end: lnd pays msat amounts, so nothing is
// rounded to whole satoshis and nothing stays behind as a fraction.
// docs/payouts.md explains the states, the ledger postings and the
// settings.
package payout
