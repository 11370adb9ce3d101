package sandbox

import (
	"bytes"
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/sluice-ln/sluice/agent"
)

// The tests below run real workloads under bubblewrap in real cgroups.
// They need root (cgroups) and bwrap, which `make unit` installs; without
// root they are skipped, without bwrap they fail.

// testParent names the cgroups and state directory of this test process,
// so that concurrent test processes do not clean each other's sandboxes.
var testParent = fmt.Sprintf("sluice-sandbox-test-%d", os.Getpid())

func testConfig() Config {
	return Config{
		Parent:   testParent,
		StateDir: filepath.Join(os.TempDir(), testParent),
	}
}

func newTestManager(t *testing.T) *Manager {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("sandboxes need root to make cgroups")
	}
	m, err := New(testConfig())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := m.Close(); err != nil {
			t.Errorf("closing manager: %v", err)
		}
		_ = os.RemoveAll(m.cfg.StateDir)
	})
	t.Logf("cgroup v2: %v", m.h.v2)

	return m
}

var sandboxSeq atomic.Int64

// runSandbox runs w under spec to its end and returns its result and the
// CPU its measurements added up to, in core-ms.
func runSandbox(t *testing.T, m *Manager, w Workload,
	spec Spec) (Result, uint64) {

	t.Helper()
	name := fmt.Sprintf("t%d", sandboxSeq.Add(1))
	sb, err := m.Prepare(name, w, spec, t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	defer func() {
		if err := sb.Close(); err != nil {
			t.Errorf("closing sandbox: %v", err)
		}
		for _, d := range sb.cg.dirs() {
			if _, err := os.Stat(d); !errors.Is(err, os.ErrNotExist) {
				t.Errorf("cgroup %s left: %v", d, err)
			}
		}
		if _, err := os.Stat(sb.dir); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("work directory %s left: %v", sb.dir, err)
		}
	}()

	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	run, err := sb.Start(ctx, agent.MeasureConfig{})
	if err != nil {
		t.Fatal(err)
	}
	var cpu uint64
	for m := range run.Measurements() {
		cpu += m.CPU
	}
	res, err := sb.Wait()
	if err != nil {
		t.Fatal(err)
	}
	stderr, _ := os.ReadFile(res.Stderr.Path)
	t.Logf("exit %d, oom %v, wall %v, cpu %v, peak %d KiB, pids peak "+
		"%d, refused %d, throttled %d; stderr: %s", res.ExitCode,
		res.OOMKilled, res.WallKilled, res.CPU, res.MemPeak>>10,
		res.PidsPeak, res.PidsRefused, res.Throttled, stderr)

	return res, cpu
}

func stdout(t *testing.T, res Result) string {
	t.Helper()
	data, err := os.ReadFile(res.Stdout.Path)
	if err != nil {
		t.Fatal(err)
	}

	return string(data)
}

var spec = Spec{CPU: 1000, MemMiB: 64, Pids: 16, Wall: 10 * time.Second}

// TestSandboxOutput runs a workload with an input: its stdout, hash and
// exit code come back, and it writes only to its own work directory.
func TestSandboxOutput(t *testing.T) {
	m := newTestManager(t)

	res, _ := runSandbox(t, m, Workload{
		Command: "sh",
		Args: []string{"-c", `cat in.txt; echo " $1" > out; cat out; ` +
			`echo to-stderr >&2; exit 3`, "sh", "world"},
		Inputs: map[string][]byte{"in.txt": []byte("hello")},
	}, spec)

	want := "hello world\n"
	if got := stdout(t, res); got != want {
		t.Fatalf("stdout %q, want %q", got, want)
	}
	if res.Stdout.SHA256 != sha256.Sum256([]byte(want)) ||
		res.Stdout.Truncated || res.Stdout.Written != int64(len(want)) {

		t.Fatalf("stdout %+v", res.Stdout)
	}
	if res.ExitCode != 3 || res.OOMKilled || res.WallKilled {
		t.Fatalf("result %+v", res)
	}
	stderr, err := os.ReadFile(res.Stderr.Path)
	if err != nil || string(stderr) != "to-stderr\n" {
		t.Fatalf("stderr %q, %v", stderr, err)
	}
}

// TestSandboxOutputTruncated writes three times the cap: the first cap's
// worth is kept and hashed, the job itself succeeds.
func TestSandboxOutputTruncated(t *testing.T) {
	m := newTestManager(t)

	res, _ := runSandbox(t, m, Workload{Command: "head",
		Args: []string{"-c", strconv.Itoa(3 * MaxOutputBytes),
			"/dev/zero"}}, spec)

	kept := make([]byte, MaxOutputBytes)
	if res.ExitCode != 0 || !res.Stdout.Truncated ||
		res.Stdout.Kept != MaxOutputBytes ||
		res.Stdout.Written != 3*MaxOutputBytes ||
		res.Stdout.SHA256 != sha256.Sum256(kept) {

		t.Fatalf("result %+v", res)
	}
	if got := stdout(t, res); got != string(kept) {
		t.Fatalf("stdout holds %d bytes", len(got))
	}
}

// TestSandboxTooLarge refuses a workload over the cap before it makes
// anything.
func TestSandboxTooLarge(t *testing.T) {
	m := newTestManager(t)

	w := Workload{Command: "cat", Inputs: map[string][]byte{
		"big": make([]byte, MaxWorkloadBytes)}}
	_, err := m.Prepare("too-large", w, spec, t.TempDir())
	if !errors.Is(err, ErrWorkloadTooLarge) {
		t.Fatalf("err = %v, want %v", err, ErrWorkloadTooLarge)
	}
	if _, err := os.Stat(filepath.Join(m.h.parents["memory"],
		cgroupPrefix+"too-large")); !errors.Is(err, os.ErrNotExist) {

		t.Fatalf("a cgroup was made: %v", err)
	}
	if _, err := m.Prepare("bad/name", Workload{Command: "true"}, spec,
		t.TempDir()); !errors.Is(err, ErrBadInput) {

		t.Fatalf("bad name: %v", err)
	}
	if _, err := m.Prepare("no-spec", Workload{Command: "true"}, Spec{},
		t.TempDir()); !errors.Is(err, ErrBadSpec) {

		t.Fatalf("no spec: %v", err)
	}
}

// readProbe tries to read the secret files directly and through /proc,
// and to write into the host's /usr and /tmp.
const readProbe = `echo probe-ran; for f in "$@"; do cat "$f"; cat "/proc/1/root$f"; ` +
	`cat "/proc/self/root$f"; done; ls /root /home; ` +
	`echo x > /usr/sluice-sandbox-probe; echo x > "$0"`

// TestSandboxCannotReadOutside puts secrets in a world-readable directory
// and in /root: the same probe that reads them outside the sandbox (the
// world-readable one as the sandbox's own user) reads neither inside, and
// writes nothing to the host.
func TestSandboxCannotReadOutside(t *testing.T) {
	m := newTestManager(t)

	// Directories anyone may read, so that only the sandbox's mount
	// namespace stands between the workload and the secret: one in the
	// test's temporary directory, one outside /tmp (which the sandbox
	// covers with a tmpfs of its own).
	open := t.TempDir()
	varTmp, err := os.MkdirTemp("/var/tmp", "sandbox-secret-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(varTmp) })
	for _, d := range []string{filepath.Dir(open), open, varTmp} {
		if err := os.Chmod(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	openSecret := filepath.Join(open, "secret")
	varSecret := filepath.Join(varTmp, "secret")
	rootSecret := filepath.Join("/root", "sluice-sandbox-secret-"+
		strconv.Itoa(os.Getpid()))
	t.Cleanup(func() { os.Remove(rootSecret) })
	for path, content := range map[string]string{
		openSecret: "open-secret-2f6b", varSecret: "var-secret-77ae",
		rootSecret: "root-secret-9c1d",
	} {
		if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	writeProbe := filepath.Join(open, "written-by-sandbox")

	// The probe works: outside, as nobody, it reads the open secret;
	// as root, the one in /root too.
	asNobody, _ := exec.Command(m.cfg.Setpriv, "--reuid=65534",
		"--regid=65534", "--clear-groups", "sh", "-c", readProbe,
		"/dev/null", openSecret, varSecret).CombinedOutput()
	asRoot, _ := exec.Command("sh", "-c", readProbe, "/dev/null",
		rootSecret).CombinedOutput()
	// As root it could write to /usr, too.
	_ = os.Remove("/usr/sluice-sandbox-probe")
	if !strings.Contains(string(asNobody), "open-secret-2f6b") ||
		!strings.Contains(string(asNobody), "var-secret-77ae") ||
		!strings.Contains(string(asRoot), "root-secret-9c1d") {

		t.Fatalf("the probe reads nothing outside the sandbox:\n%s\n%s",
			asNobody, asRoot)
	}

	res, _ := runSandbox(t, m, Workload{Command: "sh",
		Args: []string{"-c", readProbe, writeProbe, openSecret,
			varSecret, rootSecret}}, spec)
	out := stdout(t, res)
	if !strings.HasPrefix(out, "probe-ran\n") {
		t.Fatalf("the probe did not run in the sandbox: %q", out)
	}
	if strings.Contains(out, "secret-") {
		t.Fatalf("the sandbox read a secret: %q", out)
	}
	if res.ExitCode == 0 {
		t.Fatal("the probe succeeded in the sandbox")
	}
	for _, p := range []string{"/usr/sluice-sandbox-probe", writeProbe} {
		if _, err := os.Stat(p); !errors.Is(err, os.ErrNotExist) {
			os.Remove(p)
			t.Fatalf("the sandbox wrote %s: %v", p, err)
		}
	}
}

// netProbe tries a listener on the host's loopback, the outside world by
// address, and name resolution.
const netProbe = `echo probe-ran; bash -c "exec 3<>/dev/tcp/127.0.0.1/$1" && echo connected-local; ` +
	`timeout 3 bash -c "exec 3<>/dev/tcp/1.1.1.1/53" && echo connected-remote; ` +
	`timeout 3 getent hosts deb.debian.org && echo resolved; ` +
	`cat /proc/net/route`

// TestSandboxNoNetwork opens a listener on 127.0.0.1: the probe that
// connects to it from outside the sandbox cannot from inside, and reaches
// nothing else either.
func TestSandboxNoNetwork(t *testing.T) {
	m := newTestManager(t)

	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	var accepted atomic.Int64
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			accepted.Add(1)
			c.Close()
		}
	}()
	port := strconv.Itoa(ln.Addr().(*net.TCPAddr).Port)

	// Outside, as the sandbox's user, the probe connects.
	out, _ := exec.Command(m.cfg.Setpriv, "--reuid=65534",
		"--regid=65534", "--clear-groups", "sh", "-c", netProbe, "sh",
		port).CombinedOutput()
	if !strings.Contains(string(out), "connected-local") {
		t.Fatalf("the probe does not connect outside the sandbox: %s",
			out)
	}
	outside := accepted.Load()

	res, _ := runSandbox(t, m, Workload{Command: "sh",
		Args: []string{"-c", netProbe, "sh", port}}, spec)
	got := stdout(t, res)
	if !strings.HasPrefix(got, "probe-ran\n") {
		t.Fatalf("the probe did not run in the sandbox: %q", got)
	}
	got = strings.TrimPrefix(got, "probe-ran\n")
	for _, leak := range []string{"connected-local", "connected-remote",
		"resolved"} {

		if strings.Contains(got, leak) {
			t.Fatalf("%s from the sandbox: %q", leak, got)
		}
	}
	// The route table has its header line and no route.
	if lines := strings.Count(strings.TrimSpace(got), "\n"); lines != 0 {
		t.Fatalf("routes in the sandbox: %q", got)
	}
	if n := accepted.Load(); n != outside {
		t.Fatalf("the listener accepted %d connections from the "+
			"sandbox", n-outside)
	}
}

// TestSandboxMemoryLimit allocates, and fills its tmpfs, beyond its
// memory spec: the cgroup never holds more than the limit, and the
// allocation is killed by it.
func TestSandboxMemoryLimit(t *testing.T) {
	m := newTestManager(t)
	s := spec
	s.MemMiB = 32
	limit := s.MemMiB << 20

	for _, tc := range []struct {
		name   string
		script string
		oom    bool
	}{
		{"allocate", "dd if=/dev/zero of=/dev/null bs=100M count=1", true},
		{"fill tmpfs", "head -c 100M /dev/zero > /work/big; " +
			"ls -l /work/big", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			res, _ := runSandbox(t, m, Workload{Command: "sh",
				Args: []string{"-c", tc.script}}, s)
			if res.MemPeak == 0 || res.MemPeak > limit {
				t.Fatalf("memory peak %d, limit %d", res.MemPeak,
					limit)
			}
			if tc.oom && (!res.OOMKilled || res.ExitCode == 0) {
				t.Fatalf("not killed: %+v", res)
			}
			// Whatever the kernel did to the writer, the file
			// did not grow past the limit.
			if got := stdout(t, res); strings.Contains(got,
				"104857600") {

				t.Fatalf("100 MiB written: %q", got)
			}
		})
	}
}

// TestSandboxCPULimit spins on every core under a CPU limit until the wall
// limit kills it: the CPU it was given is at most its limit times its
// life, plus one CFS period and a little slack. This bounds counted CPU
// from above; it times nothing. The tenth of a core also shows the limit
// at work on a machine busy enough that half a core is all the spinners
// would get anyway: it must have held them back.
func TestSandboxCPULimit(t *testing.T) {
	m := newTestManager(t)

	for _, cpu := range []uint64{500, 100} {
		t.Run(strconv.FormatUint(cpu, 10), func(t *testing.T) {
			s := spec
			s.CPU = cpu
			s.Wall = 2 * time.Second

			spin := strings.Repeat("(while :; do :; done) & ",
				runtime.NumCPU())
			start := time.Now()
			res, metered := runSandbox(t, m, Workload{Command: "sh",
				Args: []string{"-c", spin + "wait"}}, s)
			life := time.Since(start)

			if !res.WallKilled {
				t.Fatalf("not ended by the wall limit: %+v", res)
			}
			bound := life*time.Duration(cpu)/1000 +
				cfsPeriodMicros*time.Microsecond +
				50*time.Millisecond
			if res.CPU > bound {
				t.Fatalf("%v CPU in %v under %d core-ms/s "+
					"(bound %v)", res.CPU, life, cpu, bound)
			}
			if cpu == 100 && res.Throttled == 0 {
				t.Fatal("never throttled while spinning on " +
					"every core")
			}
			// The meter counts from the cgroup: never more than
			// it holds.
			if metered == 0 ||
				metered > uint64(res.CPU.Milliseconds())+1 {

				t.Fatalf("metered %d core-ms, the cgroup "+
					"counted %v", metered, res.CPU)
			}
		})
	}
}

// TestSandboxPidsLimit forks beyond its pids spec: the forks are refused
// and the cgroup never holds more than the spec plus the sandbox's own.
func TestSandboxPidsLimit(t *testing.T) {
	m := newTestManager(t)
	s := spec
	s.Pids = 4
	s.Wall = time.Second

	res, _ := runSandbox(t, m, Workload{Command: "sh", Args: []string{
		"-c", "for i in $(seq 20); do sleep 30 & done; wait"}}, s)
	if res.PidsRefused == 0 {
		t.Fatalf("no fork refused: %+v", res)
	}
	if res.PidsPeak > s.Pids+sandboxPids {
		t.Fatalf("%d processes at once, limit %d", res.PidsPeak,
			s.Pids+sandboxPids)
	}
}

// TestSandboxStaleCleanup leaves a sandbox running, as an agent killed
// with kill -9 would: a new Manager kills it and removes its cgroup and
// directory.
func TestSandboxStaleCleanup(t *testing.T) {
	m := newTestManager(t)

	sb, err := m.Prepare("stale", Workload{Command: "sleep",
		Args: []string{"60"}, Inputs: map[string][]byte{"in": nil}},
		spec, t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	run, err := sb.Start(context.Background(), agent.MeasureConfig{})
	if err != nil {
		t.Fatal(err)
	}
	// Wait until the workload itself runs in the cgroup.
	for deadline := time.Now().Add(10 * time.Second); ; {
		pids, err := sb.cg.procs()
		if err != nil {
			t.Fatal(err)
		}
		if len(pids) >= 3 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d processes in the cgroup", len(pids))
		}
		time.Sleep(20 * time.Millisecond)
	}

	if _, err := New(testConfig()); err != nil {
		t.Fatal(err)
	}
	select {
	case <-run.Exited():
	case <-time.After(10 * time.Second):
		t.Fatal("the stale workload still runs")
	}
	for _, d := range append(sb.cg.dirs(), sb.dir) {
		if _, err := os.Stat(d); !errors.Is(err, os.ErrNotExist) {
			t.Fatalf("%s left: %v", d, err)
		}
	}
	if err := sb.Close(); err != nil {
		t.Fatalf("closing a cleaned sandbox: %v", err)
	}
}

// TestArgv checks the sandbox's command line for the mounts and
// namespaces its protection rests on.
func TestArgv(t *testing.T) {
	m := newTestManager(t)
	sb, err := m.Prepare("argv", Workload{Command: "cat",
		Args: []string{"in"}, Inputs: map[string][]byte{"in": nil}},
		spec, t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	defer sb.Close()

	argv := strings.Join(sb.Argv(), " ")
	for _, want := range []string{"--unshare-all", "--unshare-user",
		"--disable-userns", "--die-with-parent", "--new-session",
		"--clearenv", "--ro-bind /usr /usr", "--tmpfs /usr/local",
		"--tmpfs /work", "--ro-bind " + filepath.Join(sb.dir, "in") +
			" /work/in", "--reuid=65534", "-- cat in"} {

		if !strings.Contains(argv, want) {
			t.Errorf("argv lacks %q: %s", want, argv)
		}
	}
	for _, f := range sb.cg.procsFiles() {
		if !bytes.Contains([]byte(argv), []byte(f)) {
			t.Errorf("argv does not join %s", f)
		}
	}
}
