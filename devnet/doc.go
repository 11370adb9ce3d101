// Package devnet builds the pinned btcd, lnd and tapd binaries and runs a
// local regtest network of real processes on 127.0.0.1: a miner, the hub
// lnd that sluiced uses, provider and buyer nodes, and tapd on the hub and a
// provider. It writes a profile that sluiced, the CLI and the tests read.
package devnet
