// Package lndtest runs a fake lnd for unit tests of code that connects to
// lnd with lndclient. It answers, over TLS with a fresh self-signed
// certificate, the calls lndclient makes while it connects (the State
// service, GetInfo and GetVersion) and lets a test choose the answers: the
// wallet state, the network, the version and build tags, a refused
// macaroon. Everything else is unimplemented unless the caller passes its
// own Lightning server and registers more services (Options.Lightning,
// Options.Register): itest's simulated hub for BenchmarkScale does. Other
// integration tests use a real lnd from devnet.
package lndtest
