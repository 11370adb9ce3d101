//go:build libsecp256k1

package main

// buildTags are the build tags the sluiced under test is built with: this
// test binary's own, so that it verifies usage signatures with
// libsecp256k1 as the test binary does.
const buildTags = "libsecp256k1"
