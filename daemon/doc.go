// Package daemon is sluiced's wiring: it reads sluice.conf and flags, sets up
// per-subsystem logging, connects to the hub lnd (and tapd), opens the store,
// starts the API server and the subsystems, and stops them cleanly on a
// signal.
package daemon
