// Package outbound owns the one lifecycle of every call that leaves the
// process and moves value: a Lightning payout or refund today, a tapd mint
// or asset send, or a channel open tomorrow.
//
// The shape is lnd's routing/control_tower.go. The caller writes an intent
// durably first, with everything needed to find the call again at the
// other side (a payment hash and its preimage), in Status StatusPending.
// Then Drive makes the call and follows it to a final Outcome: it sends a
// fresh intent, or, for an intent found pending on start, tracks it at the
// other side first and sends only when the other side never saw it
// (ErrNotSeen). While the outcome is unknown (a stream broke, the other
// side is unreachable) Drive tracks again, waiting longer each time
// (cenkalti/backoff, on an lnd clock), until ctx ends; it never sends
// blindly a second time. The caller then records the outcome once, after
// Transition allowed the move from pending to succeeded or failed; a
// second resolution is refused, which is what makes "resolved once" hold
// when two goroutines, or two daemons, race to record it.
//
// Status and its transitions are checked in one place, like lnd's
// payments/db/payment_status.go; the values are the strings the store
// keeps, so rows written before this package read the same.
//
// Failpoints (package failpoint) sit at the same three places of every
// kind: after the intent is written, once the other side has recorded the
// call, and after a success before it is recorded. Each kind names its
// own (Failpoints); Driver.Hook fires them, failpoint.Hit unless a test
// puts its own crash there.
//
// Keysend and Payment make Lightning's payments the first kind: a call
// over the hub's router with lnd's answers mapped onto ErrNotSeen and
// ErrExists, and lnd's refusals onto a failed Outcome.
package outbound
