//go:build itest

package itest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/sluice-ln/sluice/outputtest"
	"github.com/sluice-ln/sluice/rpc/sluicerpc"
)

// Timeouts of sluiced.
const (
	// sluicedStartTimeout bounds how long sluiced may take until its API
	// answers.
	sluicedStartTimeout = 30 * time.Second

	// sluicedStopTimeout bounds a clean shutdown after SIGTERM.
	sluicedStopTimeout = 30 * time.Second

	// cliTimeout bounds one run of the sluice CLI.
	cliTimeout = 60 * time.Second
)

// sluicedOutputLog receives sluiced's stdout and stderr in its data
// directory; sluiced's own log is under logs/.
const sluicedOutputLog = "output.log"

// sluiced is a sluiced process run against the network's hub, with its
// data directory (embedded SQLite) and config inside the network's
// directory.
type sluiced struct {
	t   testing.TB
	net *network

	// confPath is its sluice.conf; dir its data directory; rpcListen
	// its API address.
	confPath  string
	dir       string
	rpcListen string

	// binary is the sluiced it runs; empty is binaries.sluiced.
	binary string

	// credDir, when set, holds the TLS certificate and macaroons this
	// sluiced shares with another instance (TestRollingUpgrade); dir
	// otherwise.
	credDir string

	cmd    *exec.Cmd
	exited chan struct{}
	err    error // exit status, valid once exited is closed
}

// newSluiced writes a sluice.conf for the network's hub and returns a
// sluiced that is not started yet. It is killed, if still running, when
// the test ends.
func (n *network) newSluiced() *sluiced {
	n.t.Helper()
	path, err := n.profile.WriteSluicedConf()
	if err != nil {
		n.t.Fatal(err)
	}
	s := &sluiced{
		t:         n.t,
		net:       n,
		confPath:  path,
		dir:       n.profile.Sluiced.Dir,
		rpcListen: n.profile.Sluiced.RPCListen,
	}
	n.t.Cleanup(func() {
		if s.running() {
			s.t.Logf("sluiced still running at the end of the " +
				"test; killing it")
			_ = s.cmd.Process.Kill()
			<-s.exited
		}
	})
	return s
}

// addConf appends options under a section of sluiced's conf; they take
// effect at its next start.
func (s *sluiced) addConf(section string, options ...string) {
	s.t.Helper()
	conf, err := os.OpenFile(s.confPath, os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		s.t.Fatal(err)
	}
	_, err = fmt.Fprintf(conf, "\n[%s]\n%s\n", section,
		strings.Join(options, "\n"))
	if cerr := conf.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		s.t.Fatalf("add to %s: %v", s.confPath, err)
	}
}

// logPath is where sluiced's stdout and stderr go.
func (s *sluiced) logPath() string {
	return filepath.Join(s.dir, sluicedOutputLog)
}

// running reports whether the process was started and has not exited.
func (s *sluiced) running() bool {
	if s.cmd == nil {
		return false
	}
	select {
	case <-s.exited:
		return false
	default:
		return true
	}
}

// start runs sluiced with its conf and waits until its API answers
// getinfo. It fails the test when sluiced exits or does not answer in
// time, showing the end of its output.
func (s *sluiced) start() {
	s.t.Helper()
	cmd := s.launch()
	start := time.Now()
	eventually(s.t, sluicedStartTimeout, "sluiced's API to answer",
		func() error {
			if !s.running() {
				return permanent(fmt.Errorf("sluiced exited: "+
					"%v\n%s", s.err, s.tail()))
			}
			_, err := s.getInfo()
			return err
		})
	s.t.Logf("sluiced (pid %d) answers on %s after %s", cmd.Process.Pid,
		s.rpcListen, time.Since(start).Round(10*time.Millisecond))
}

// launch runs sluiced with its conf and returns at once, for a start that
// may die at an armed failpoint before its API answers (crashAt waits for
// that).
func (s *sluiced) launch() *exec.Cmd {
	s.t.Helper()
	if s.running() {
		s.t.Fatal("sluiced already running")
	}
	if err := os.MkdirAll(s.dir, 0o700); err != nil {
		s.t.Fatal(err)
	}
	out, err := os.OpenFile(s.logPath(),
		os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		s.t.Fatal(err)
	}
	bin := binaries.sluiced
	if s.binary != "" {
		bin = s.binary
	}
	cmd := exec.Command(bin, "--configfile="+s.confPath)
	cmd.Stdout = out
	cmd.Stderr = out
	if err := cmd.Start(); err != nil {
		out.Close()
		s.t.Fatalf("start sluiced: %v", err)
	}
	s.cmd = cmd
	s.exited = make(chan struct{})
	go func() {
		s.err = cmd.Wait()
		out.Close()
		close(s.exited)
	}()

	return cmd
}

// stop sends SIGTERM and waits for a clean exit (status 0).
func (s *sluiced) stop() {
	s.t.Helper()
	if !s.running() {
		s.t.Fatal("sluiced is not running")
	}
	if err := s.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		s.t.Fatalf("SIGTERM sluiced: %v", err)
	}
	select {
	case <-s.exited:
	case <-time.After(sluicedStopTimeout):
		_ = s.cmd.Process.Kill()
		<-s.exited
		s.t.Fatalf("sluiced did not stop within %v of SIGTERM\n%s",
			sluicedStopTimeout, s.tail())
	}
	if s.err != nil {
		s.t.Fatalf("sluiced exited with %v after SIGTERM\n%s", s.err,
			s.tail())
	}
}

// kill stops sluiced with SIGKILL, as a crash would.
func (s *sluiced) kill() {
	s.t.Helper()
	if !s.running() {
		s.t.Fatal("sluiced is not running")
	}
	if err := s.cmd.Process.Kill(); err != nil {
		s.t.Fatalf("kill -9 sluiced: %v", err)
	}
	<-s.exited
	var exitErr *exec.ExitError
	if !errors.As(s.err, &exitErr) || exitErr.Sys().(syscall.WaitStatus).
		Signal() != syscall.SIGKILL {

		s.t.Fatalf("sluiced exit after SIGKILL: %v", s.err)
	}
}

// restart stops sluiced cleanly and starts it again on the same data.
func (s *sluiced) restart() {
	s.t.Helper()
	s.stop()
	s.start()
}

// tail returns the last lines of sluiced's output for failure messages.
func (s *sluiced) tail() string {
	raw, err := os.ReadFile(s.logPath())
	if err != nil {
		return fmt.Sprintf("(no output: %v)", err)
	}
	lines := strings.Split(strings.TrimRight(string(raw), "\n"), "\n")
	if len(lines) > 30 {
		lines = lines[len(lines)-30:]
	}
	return fmt.Sprintf("--- end of %s ---\n%s", s.logPath(),
		strings.Join(lines, "\n"))
}

// cliArgs are the global flags that point the CLI at this sluiced.
func (s *sluiced) cliArgs() []string {
	return []string{
		"--rpcserver=" + s.rpcListen,
		"--sluicedir=" + s.sluiceDir(),
		"--network=" + s.net.profile.Network,
	}
}

// sluiceDir is where the CLI finds this sluiced's TLS certificate and
// macaroons.
func (s *sluiced) sluiceDir() string {
	if s.credDir != "" {
		return s.credDir
	}
	return s.dir
}

// cli runs `sluice` against this sluiced and returns its stdout; the error
// holds its stderr.
func (s *sluiced) cli(args ...string) (string, error) {
	return runSluice(append(s.cliArgs(), args...)...)
}

// getInfo runs `sluice getinfo --json` and decodes the answer.
func (s *sluiced) getInfo() (*sluicerpc.GetInfoResponse, error) {
	out, err := s.cli("getinfo", "--json")
	if err != nil {
		return nil, err
	}
	var info sluicerpc.GetInfoResponse
	if err := sluicerpc.JSONUnmarshalOptions.Unmarshal(
		[]byte(out), &info); err != nil {

		return nil, fmt.Errorf("getinfo --json: %w\n%s", err, out)
	}
	return &info, nil
}

// runSluice runs the sluice CLI with args and returns its stdout. A
// non-zero exit is an error holding stderr.
func runSluice(args ...string) (string, error) {
	stdout, _, err := runSluiceStderr(args...)
	return stdout, err
}

// runSluiceStderr is runSluice also returning stderr.
func runSluiceStderr(args ...string) (string, string, error) {
	return runSluiceStderrTo(&outputtest.Buffer{}, args...)
}

// runSluiceStderrTo is runSluiceStderr writing stderr to stderr as the
// command runs, for a test to watch.
func runSluiceStderrTo(stderr *outputtest.Buffer, args ...string) (string,
	string, error) {

	ctx, cancel := context.WithTimeout(context.Background(), cliTimeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, binaries.sluice, args...)
	var stdout bytes.Buffer
	cmd.Stdout = &stdout
	cmd.Stderr = stderr
	cmd.WaitDelay = time.Second
	if err := cmd.Run(); err != nil {
		return stdout.String(), stderr.String(), fmt.Errorf(
			"sluice %s: %w: %s", strings.Join(args, " "), err,
			strings.TrimSpace(stderr.String()))
	}
	return stdout.String(), stderr.String(), nil
}

// cliStderr is cli also returning stderr.
func (s *sluiced) cliStderr(args ...string) (string, string, error) {
	return runSluiceStderr(append(s.cliArgs(), args...)...)
}

// cliStderrTo is cliStderr writing stderr to stderr as the command runs.
func (s *sluiced) cliStderrTo(stderr *outputtest.Buffer, args ...string) (
	string, string, error) {

	return runSluiceStderrTo(stderr, append(s.cliArgs(), args...)...)
}
