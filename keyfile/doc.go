// Package keyfile writes Sluice's secrets to disk: macaroon root keys,
// macaroons and agent keys. A file is written whole or not at all (a
// temporary file in the same directory, synced, then renamed), readable by
// its owner only, so a crash never leaves half a key behind.
package keyfile
