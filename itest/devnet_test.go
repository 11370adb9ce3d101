//go:build itest

package itest

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/sluice-ln/sluice/devnet"
)

// TestDevnetDownLeavesNoProcess: through the CLI, as a user runs it, a
// second `sluice devnet up` on a running network is refused and leaves it
// running; `sluice devnet down` then stops every process the network
// started, and no process anywhere still runs with the network's directory
// in its command line. (devnet's own TestUpDown checks the same of the
// library calls.)
func TestDevnetDownLeavesNoProcess(t *testing.T) {
	net := newNetwork(t)
	st, err := devnet.Status(net.dir)
	if err != nil {
		t.Fatal(err)
	}
	if !st.Running {
		t.Fatalf("fresh network not running: %+v", st.Processes)
	}
	pids := map[int]string{}
	for _, p := range st.Processes {
		pids[p.PID] = p.Name
	}
	// Every process of the network shows in a /proc scan, so the scan
	// below would see one that survived.
	if found := networkProcesses(t, net.dir); len(found) != len(pids) {
		t.Fatalf("/proc shows %d processes of the network, status "+
			"%d: %v", len(found), len(pids), found)
	}

	out, err := runSluice("devnet", "up", "--dir", net.dir,
		"--bindir", binaries.daemons.Dir)
	if err == nil || !strings.Contains(err.Error(), "already running") {
		t.Fatalf("second `sluice devnet up`: error %v, output:\n%s",
			err, out)
	}
	st, err = devnet.Status(net.dir)
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range st.Processes {
		if !p.Running || pids[p.PID] != p.Name {
			t.Fatalf("refused up disturbed %s: running %v pid %d",
				p.Name, p.Running, p.PID)
		}
	}

	if out, err := runSluice("devnet", "down", "--dir", net.dir); err != nil {
		t.Fatalf("sluice devnet down: %v\n%s", err, out)
	}

	// The processes are children of this test process; give the
	// reapers a moment, then none may be left, not even as a zombie.
	eventually(t, 10*time.Second, "every process of the network to be "+
		"gone", func() error {
		var alive []string
		for pid, name := range pids {
			if _, err := os.Stat(fmt.Sprintf("/proc/%d",
				pid)); err == nil {

				alive = append(alive, fmt.Sprintf(
					"%s (pid %d)", name, pid))
			}
		}
		if len(alive) > 0 {
			return fmt.Errorf("still in /proc: %s",
				strings.Join(alive, ", "))
		}
		return nil
	})
	if found := networkProcesses(t, net.dir); len(found) > 0 {
		t.Fatalf("processes of the network still run after down: %v",
			found)
	}
	st, err = devnet.Status(net.dir)
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range st.Processes {
		if p.Running {
			t.Fatalf("status says %s (pid %d) runs after down",
				p.Name, p.PID)
		}
	}
}

// networkProcesses scans /proc for processes, other than this one, that
// have the network's directory anywhere in their command line (every
// daemon of the network gets its data directory there, whatever binary it
// runs) and are not zombies. It returns "pid: cmdline" of each.
func networkProcesses(t testing.TB, dir string) []string {
	t.Helper()
	entries, err := os.ReadDir("/proc")
	if err != nil {
		t.Fatal(err)
	}
	self := os.Getpid()
	var found []string
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil || pid == self {
			continue
		}
		raw, err := os.ReadFile(filepath.Join("/proc", e.Name(),
			"cmdline"))
		if err != nil || len(raw) == 0 {
			// Gone meanwhile, or a kernel thread or zombie (no
			// command line).
			continue
		}
		args := strings.Split(string(bytes.TrimRight(raw, "\x00")),
			"\x00")
		ours := false
		for _, a := range args {
			if strings.Contains(a, dir) {
				ours = true
				break
			}
		}
		if ours {
			found = append(found, fmt.Sprintf("%d: %s", pid,
				strings.Join(args, " ")))
		}
	}
	return found
}
