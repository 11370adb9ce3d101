package failpoint

import (
	"errors"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"testing"
)

// envChild marks the test binary run as a child by TestKillsProcess.
const envChild = "SLUICE_FAILPOINT_CHILD"

// TestChildHits is the child's body: it hits the armed point and must not
// get past it. In a normal test run it does nothing.
func TestChildHits(t *testing.T) {
	if os.Getenv(envChild) != "1" {
		t.Skip("run by TestKillsProcess")
	}
	Hit("child-point")
	t.Log("survived the failpoint")
}

// TestKillsProcess runs the test binary with SLUICE_FAILPOINTS armed at
// a point the child hits and checks that the child died of SIGKILL, after
// saying so on stderr. Unarmed, the same child passes.
func TestKillsProcess(t *testing.T) {
	tests := []struct {
		name   string
		spec   string
		killed bool
	}{
		{name: "armed", spec: "child-point", killed: true},
		{name: "other point", spec: "another-point", killed: false},
		{name: "unarmed", spec: "", killed: false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			cmd := exec.Command(os.Args[0],
				"-test.run=^TestChildHits$", "-test.v")
			cmd.Env = append(os.Environ(), envChild+"=1",
				EnvVar+"="+tc.spec)
			out, err := cmd.CombinedOutput()

			var exitErr *exec.ExitError
			killed := errors.As(err, &exitErr) &&
				exitErr.Sys().(syscall.WaitStatus).Signal() ==
					syscall.SIGKILL
			if killed != tc.killed {
				t.Fatalf("killed %v, want %v (err %v)\n%s",
					killed, tc.killed, err, out)
			}
			said := strings.Contains(string(out),
				"failpoint child-point: hit 1, killing")
			if said != tc.killed {
				t.Fatalf("stderr names the point: %v, want "+
					"%v\n%s", said, tc.killed, out)
			}
			if !tc.killed && err != nil {
				t.Fatalf("child failed: %v\n%s", err, out)
			}
		})
	}
}
