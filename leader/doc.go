// Package leader elects one sluiced among several that share a database, so
// that work which must happen once (payouts, invoice settlement, refunds,
// epoch closes, share mints and sends, yield plans) runs on one instance.
//
// The election is a lease: a single row naming a holder, a fencing token
// and an expiry in the database's own time. An Elector campaigns for it
// every third of its time to live; the holder renews it, a follower takes
// it over once it has expired, with the token raised by one. A leader that
// cannot renew before its own deadline (the start of its last successful
// renewal plus the time to live, on its local monotonic clock, which ends
// before the database's expiry) or that sees another holder is deposed and
// must stop: Run returns ErrDeposed.
//
// The token is the fence: every write of leader-only work checks, in its
// own transaction, that the token is still the current one (the store's
// fenced view), and fails with an error that wraps ErrNotLeader when it
// moved. So a leader paused past its lease and resumed cannot commit
// anything, whatever its goroutines were doing when it stopped.
//
// The package knows nothing of the store or of the work it guards: it
// declares the Store it needs, which store/ implements.
package leader
