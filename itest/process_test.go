//go:build itest

package itest

import (
	"os/exec"
	"testing"

	"github.com/sluice-ln/sluice/outputtest"
)

// testProcess is a command a test started (an agent, say): its output is
// collected, it is waited for in the background, and it is killed when
// the test ends if it still runs.
type testProcess struct {
	cmd *exec.Cmd

	// exited is closed when the command has exited; err is then what
	// Wait returned.
	exited chan struct{}
	err    error

	// out is the command's output.
	out outputtest.Buffer
}

// startProcess starts name with args, its stdout and stderr together.
func startProcess(t testing.TB, name string, args ...string) *testProcess {
	t.Helper()
	p := &testProcess{exited: make(chan struct{})}
	p.cmd = exec.Command(name, args...)
	p.cmd.Stdout, p.cmd.Stderr = &p.out, &p.out
	if err := p.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() {
		p.err = p.cmd.Wait()
		close(p.exited)
	}()
	t.Cleanup(func() {
		select {
		case <-p.exited:
		default:
			_ = p.cmd.Process.Kill()
			<-p.exited
		}
	})

	return p
}

// output returns the command's output so far.
func (p *testProcess) output() string {
	return p.out.String()
}
