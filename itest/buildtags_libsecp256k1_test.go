//go:build itest && libsecp256k1

package itest

// extraTags are the build tags, besides itest, this test binary was built
// with and the binaries it builds take too: libsecp256k1, so that the
// sluiced under test verifies usage signatures as the make targets build
// it (metering.Verifier).
var extraTags = []string{"libsecp256k1"}
