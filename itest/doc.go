// Package itest holds Sluice's integration tests. They run against real
// btcd, lnd and tapd processes started by devnet, behind the itest build
// tag: go test -tags itest ./itest/...
package itest
