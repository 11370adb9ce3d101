package failpoint

import (
	"errors"
	"fmt"
	"os"
	"sort"
	"strconv"
	"strings"
	"sync"
)

// EnvVar names the environment variable that arms failpoints.
const EnvVar = "SLUICE_FAILPOINTS"

// ErrInvalidSpec is returned for a SLUICE_FAILPOINTS value that cannot be
// read: an empty name, a name with characters outside [a-z0-9-], or a hit
// count that is not a positive integer.
var ErrInvalidSpec = errors.New("invalid failpoint spec")

// point is one armed failpoint: it fires on hit number at.
type point struct {
	at   int
	hits int
}

var (
	// mu guards the hit counters of armed points; it is taken only when
	// armed is not nil.
	mu sync.Mutex

	// armed holds the armed points by name; nil when none are, which is
	// what keeps Hit free.
	armed map[string]*point

	// specErr is what reading SLUICE_FAILPOINTS found wrong.
	specErr error

	// kill ends the process; tests replace it.
	kill = killSelf
)

func init() {
	armed, specErr = parse(os.Getenv(EnvVar))
}

// parse reads a failpoint spec: comma-separated names of [a-z0-9-], each
// optionally followed by @N (N ≥ 1) to fire on the N-th hit; spaces around
// entries are ignored. It returns the points by name with the hit each
// fires on, nil for an empty spec, or an error wrapping ErrInvalidSpec.
func parse(spec string) (map[string]*point, error) {
	if strings.TrimSpace(spec) == "" {
		return nil, nil
	}

	points := make(map[string]*point)
	for _, entry := range strings.Split(spec, ",") {
		entry = strings.TrimSpace(entry)
		name, count, hasCount := strings.Cut(entry, "@")
		if !validName(name) {
			return nil, fmt.Errorf("%w: %s: name %q must be 1 to "+
				"64 characters of [a-z0-9-]", ErrInvalidSpec,
				EnvVar, name)
		}
		at := 1
		if hasCount {
			n, err := strconv.Atoi(count)
			if err != nil || n < 1 {
				return nil, fmt.Errorf("%w: %s: %q: the hit "+
					"after @ must be a whole number ≥ 1",
					ErrInvalidSpec, EnvVar, entry)
			}
			at = n
		}
		points[name] = &point{at: at}
	}

	return points, nil
}

// validName reports whether name may name a failpoint.
func validName(name string) bool {
	if name == "" || len(name) > 64 {
		return false
	}
	for _, r := range name {
		if (r < 'a' || r > 'z') && (r < '0' || r > '9') && r != '-' {
			return false
		}
	}
	return true
}

// Hit marks that the code reached the point named. When the point is armed
// and this is the hit it waits for, the process is killed with SIGKILL and
// Hit does not return.
func Hit(name string) {
	if armed == nil {
		return
	}

	mu.Lock()
	p, ok := armed[name]
	fire := false
	if ok {
		p.hits++
		fire = p.hits == p.at
	}
	mu.Unlock()

	if fire {
		fmt.Fprintf(os.Stderr, "failpoint %s: hit %d, killing "+
			"process %d with SIGKILL\n", name, p.at, os.Getpid())
		kill()
	}
}

// Armed returns the armed points as name@hit, sorted, for the daemon to log
// at start; none when SLUICE_FAILPOINTS is unset.
func Armed() []string {
	mu.Lock()
	defer mu.Unlock()

	out := make([]string, 0, len(armed))
	for name, p := range armed {
		out = append(out, fmt.Sprintf("%s@%d", name, p.at))
	}
	sort.Strings(out)
	return out
}

// Err returns what was wrong with SLUICE_FAILPOINTS, or nil. A daemon
// refuses to start with a spec it cannot read, rather than run a crash test
// that never crashes.
func Err() error {
	return specErr
}

// killSelf sends SIGKILL to the process itself and waits for it to land.
func killSelf() {
	p, err := os.FindProcess(os.Getpid())
	if err == nil {
		err = p.Kill()
	}
	if err != nil {
		// Without a way to signal ourselves, exiting at once is the
		// nearest thing to a crash.
		os.Exit(137)
	}
	select {}
}
