// Package failpoint lets integration tests crash sluiced at named points in
// its code, to prove that what was stored before the crash is enough to
// finish the work after a restart.
//
// A point is a call to Hit with a name ("payout-after-intent"). Points are
// armed only by the environment variable SLUICE_FAILPOINTS, read once when
// the process starts: a comma-separated list of names, each optionally
// followed by @N to fire on the N-th hit instead of the first. An armed
// point that fires writes one line to stderr and kills its own process
// with SIGKILL, as a crash would: no deferred function runs, no file is
// flushed, no transaction is rolled back. Without the variable, Hit is a
// check of a nil map and does nothing; release builds keep the calls.
//
// docs/operations.md explains how to arm them; docs/payouts.md lists the
// payout points.
package failpoint
