package daemon

import (
	"runtime/debug"
)

// Version is sluiced's release version, semantic versioning.
const Version = "0.1.0-alpha"

// VersionString is Version with the commit it was built from, when the
// Go toolchain recorded one: "0.1.0-alpha commit=1a2b3c4d5e6f".
func VersionString() string {
	info, ok := debug.ReadBuildInfo()
	if !ok {
		return Version
	}

	var commit, dirty string
	for _, s := range info.Settings {
		switch s.Key {
		case "vcs.revision":
			commit = s.Value
		case "vcs.modified":
			if s.Value == "true" {
				dirty = "-dirty"
			}
		}
	}
	if commit == "" {
		return Version
	}
	if len(commit) > 12 {
		commit = commit[:12]
	}

	return Version + " commit=" + commit + dirty
}
