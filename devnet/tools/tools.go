//go:build tools

// Package tools records the daemons the local network builds, so that go.mod
// pins their versions. Nothing imports it.
package tools

import (
	_ "github.com/btcsuite/btcd"
	_ "github.com/lightninglabs/taproot-assets/cmd/tapcli"
	_ "github.com/lightninglabs/taproot-assets/cmd/tapd"
	_ "github.com/lightningnetwork/lnd/cmd/lncli"
	_ "github.com/lightningnetwork/lnd/cmd/lnd"
)
