//go:build itest && !libsecp256k1

package itest

// extraTags are the build tags, besides itest, this test binary was built
// with and the binaries it builds take too: none in the pure-Go build.
var extraTags []string
