package main

import (
	"bufio"
	"bytes"
	"errors"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/sluice-ln/sluice/daemon/lndtest"
	"github.com/sluice-ln/sluice/metering"
)

// startBound is how long sluiced may take to give up on an lnd that is not
// there; the bound, checked generously as a behaviour, not a
// benchmark.
const startBound = 10 * time.Second

var (
	buildOnce sync.Once
	binPath   string
	buildErr  error
)

// sluicedBinary builds this command once per test run and returns its
// path.
func sluicedBinary(t *testing.T) string {
	t.Helper()

	buildOnce.Do(func() {
		dir, err := os.MkdirTemp("", "sluiced-test-")
		if err != nil {
			buildErr = err
			return
		}
		binPath = filepath.Join(dir, "sluiced")
		// go test puts the go tool that runs it first on PATH.
		out, err := exec.Command("go", "build", "-tags", buildTags,
			"-o", binPath, ".").CombinedOutput()
		if err != nil {
			buildErr = errors.New(string(out))
		}
	})
	if buildErr != nil {
		t.Fatalf("build sluiced: %v", buildErr)
	}

	return binPath
}

func TestMain(m *testing.M) {
	code := m.Run()
	if binPath != "" {
		_ = os.RemoveAll(filepath.Dir(binPath))
	}
	os.Exit(code)
}

// runSluiced runs sluiced with args to completion within limit and returns
// its exit code, stdout, stderr and how long it ran.
func runSluiced(t *testing.T, limit time.Duration, args ...string) (int,
	string, string, time.Duration) {

	t.Helper()

	cmd := exec.Command(sluicedBinary(t), args...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	start := time.Now()
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()

	var err error
	select {
	case err = <-done:
	case <-time.After(limit):
		_ = cmd.Process.Kill()
		<-done
		t.Fatalf("sluiced %q still running after %v\nstdout:\n%s\n"+
			"stderr:\n%s", args, limit, stdout.String(),
			stderr.String())
	}
	elapsed := time.Since(start)

	code := 0
	var exitErr *exec.ExitError
	switch {
	case errors.As(err, &exitErr):
		code = exitErr.ExitCode()
	case err != nil:
		t.Fatalf("sluiced: %v", err)
	}

	return code, stdout.String(), stderr.String(), elapsed
}

// TestSluicedWithoutLnd checks the promise: sluiced started without
// a reachable lnd exits non-zero within 10 seconds, naming the host.
func TestSluicedWithoutLnd(t *testing.T) {
	host := lndtest.FreeAddr(t)
	dir := t.TempDir()
	conf := filepath.Join(dir, "sluice.conf")
	err := os.WriteFile(conf, []byte("[lnd]\nlnd.host="+host+"\n"), 0o600)
	if err != nil {
		t.Fatal(err)
	}

	// Build first so that the build does not count against the bound.
	sluicedBinary(t)

	code, stdout, stderr, elapsed := runSluiced(
		t, 2*startBound, "--datadir", dir,
	)
	if code == 0 {
		t.Errorf("exit code 0, want non-zero")
	}
	if elapsed >= startBound {
		t.Errorf("took %v, want under %v", elapsed, startBound)
	}
	if !strings.Contains(stderr, host) {
		t.Errorf("stderr does not name the lnd host %s:\n%s", host,
			stderr)
	}
	if !strings.Contains(stderr, "lnd is unreachable") {
		t.Errorf("stderr does not say lnd is unreachable:\n%s", stderr)
	}
	if !strings.Contains(stdout, host) {
		t.Errorf("the log on stdout does not name the host:\n%s",
			stdout)
	}
	// Built with this test binary's tags, sluiced verifies with the
	// same library as the test binary, and says which at start.
	want := "Usage signatures verified with " + metering.Verifier()
	if !strings.Contains(stdout, want) {
		t.Errorf("the log on stdout lacks %q:\n%s", want, stdout)
	}
}

// TestSluicedOptions checks help, version and a bad option: exit codes and
// where the text goes.
func TestSluicedOptions(t *testing.T) {
	tests := []struct {
		name       string
		args       []string
		wantCode   int
		wantStdout string
		wantStderr string
	}{
		{"help", []string{"--help"}, 0, "--lnd.macaroonpath", ""},
		{"version", []string{"--version"}, 0, "sluiced version", ""},
		{"bad network", []string{"--network=moon"}, 1, "",
			"--network"},
		{"bad debuglevel", []string{"--debuglevel=NOPE=debug"}, 1, "",
			"NOPE"},
		{"positional", []string{"start"}, 1, "", "start"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			args := append([]string{"--datadir", t.TempDir()},
				tc.args...)
			code, stdout, stderr, _ := runSluiced(
				t, startBound, args...,
			)
			if code != tc.wantCode {
				t.Errorf("exit code %d, want %d\nstderr: %s",
					code, tc.wantCode, stderr)
			}
			if !strings.Contains(stdout, tc.wantStdout) {
				t.Errorf("stdout lacks %q:\n%s", tc.wantStdout,
					stdout)
			}
			if !strings.Contains(stderr, tc.wantStderr) {
				t.Errorf("stderr lacks %q:\n%s", tc.wantStderr,
					stderr)
			}
		})
	}
}

// TestSluicedSignals runs sluiced against a fake lnd and checks that
// SIGINT and SIGTERM each stop it cleanly with exit code 0.
func TestSluicedSignals(t *testing.T) {
	for _, sig := range []syscall.Signal{syscall.SIGINT, syscall.SIGTERM} {
		t.Run(sig.String(), func(t *testing.T) {
			fake := lndtest.Start(t, lndtest.Options{})
			cmd := exec.Command(sluicedBinary(t),
				"--datadir", t.TempDir(),
				"--rpclisten", lndtest.FreeAddr(t),
				"--lnd.host", fake.Host,
				"--lnd.tlspath", fake.TLSCertPath,
				"--lnd.macaroonpath", fake.MacaroonPath,
			)
			stdoutPipe, err := cmd.StdoutPipe()
			if err != nil {
				t.Fatal(err)
			}
			var stderr bytes.Buffer
			cmd.Stderr = &stderr
			if err := cmd.Start(); err != nil {
				t.Fatal(err)
			}
			done := make(chan error, 1)
			lines := make(chan string, 100)
			var stdout bytes.Buffer
			go func() {
				scanner := bufio.NewScanner(stdoutPipe)
				for scanner.Scan() {
					lines <- scanner.Text()
				}
				close(lines)
			}()

			// Wait for the started line.
			started := waitForLine(lines, &stdout, "sluiced started",
				startBound)
			if !started {
				_ = cmd.Process.Kill()
				_ = cmd.Wait()
				t.Fatalf("sluiced did not start within %v\n"+
					"stdout:\n%s\nstderr:\n%s", startBound,
					stdout.String(), stderr.String())
			}

			if err := cmd.Process.Signal(sig); err != nil {
				t.Fatal(err)
			}
			waitForLine(lines, &stdout, "no such line", startBound)
			go func() { done <- cmd.Wait() }()
			select {
			case err := <-done:
				if err != nil {
					t.Errorf("sluiced exited with %v after "+
						"%v\nstderr:\n%s", err, sig,
						stderr.String())
				}
			case <-time.After(startBound):
				_ = cmd.Process.Kill()
				t.Fatalf("sluiced still running %v after %v",
					startBound, sig)
			}
			if !strings.Contains(stdout.String(), "sluiced stopped") {
				t.Errorf("stdout lacks the stop line:\n%s",
					stdout.String())
			}
		})
	}
}

// waitForLine copies lines into out until one contains want (true), the
// lines end (false) or the limit passes (false).
func waitForLine(lines <-chan string, out io.Writer, want string,
	limit time.Duration) bool {

	timeout := time.After(limit)
	for {
		select {
		case line, ok := <-lines:
			if !ok {
				return false
			}
			_, _ = io.WriteString(out, line+"\n")
			if strings.Contains(line, want) {
				return true
			}
		case <-timeout:
			return false
		}
	}
}
