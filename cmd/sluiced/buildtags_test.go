//go:build !libsecp256k1

package main

// buildTags are the build tags the sluiced under test is built with: this
// test binary's own, none in the pure-Go build.
const buildTags = ""
