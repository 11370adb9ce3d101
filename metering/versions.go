package metering

import "slices"

// versions are the batch encoding versions this build reads and writes, in
// increasing order. Version 1 is every build's; a build with the
// upgradetest tag adds version 2 (versions_upgradetest.go), so that the
// rolling-upgrade test has a newer build to upgrade to.
var versions = []uint8{Version}

// Versions returns the batch encoding versions this build reads and
// writes, in increasing order. The server announces them; an agent sends
// the newest that both it and the server know (Negotiate).
func Versions() []uint8 {
	return slices.Clone(versions)
}

// Supports reports whether this build reads and writes version v.
func Supports(v uint8) bool {
	return slices.Contains(versions, v)
}

// Negotiate returns the newest version that this build and a server
// announcing theirs both know. A server that announces none predates
// versioning and reads version 1 only.
func Negotiate(theirs []uint8) uint8 {
	if len(theirs) == 0 {
		return Version
	}
	best := uint8(0)
	for _, v := range theirs {
		if v > best && Supports(v) {
			best = v
		}
	}
	if best == 0 {
		// No common version: send version 1, which every server
		// reads, and let the server say if it does not.
		return Version
	}

	return best
}
