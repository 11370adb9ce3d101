// Package lndtest runs a fake lnd for unit tests of code that connects to
// lnd with lndclient. It answers, over TLS with a fresh self-signed
// certificate, the calls lndclient makes while it connects (the State
// service, GetInfo and GetVersion) and lets a test choose the answers: the
// wallet state, the network, the version and build tags, a refused
// macaroon. Everything else is unimplemented. Integration tests use a real
// lnd from devnet instead.
package lndtest
