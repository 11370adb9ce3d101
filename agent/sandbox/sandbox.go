package sandbox

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/sluice-ln/sluice/agent"
)

// nobody is the default uid and gid the workload runs as, outside its
// user namespace as well as inside.
const nobody = 65534

// Config configures a Manager. The zero value is the production default.
type Config struct {
	// CgroupRoot is where the cgroup hierarchies are mounted; empty
	// means /sys/fs/cgroup.
	CgroupRoot string

	// Parent is the cgroup (in every hierarchy) the sandboxes' cgroups
	// are made under, and the name of the state directory; empty means
	// "sluice-sandbox". Every cgroup of the package's prefix under it
	// is taken for a stale one and removed by New: one Manager per
	// Parent.
	Parent string

	// StateDir holds each sandbox's input files while it runs; empty
	// means Parent under the system's temporary directory.
	StateDir string

	// UID and GID are who the workload runs as; zero means nobody
	// (65534). Root is never used.
	UID, GID uint32

	// Bwrap, Setpriv and Shell are the programs used; empty means
	// bwrap and setpriv looked up in PATH and /bin/sh.
	Bwrap, Setpriv, Shell string

	// MaxOutputBytes caps stdout; zero means MaxOutputBytes.
	MaxOutputBytes int64
}

// Manager makes sandboxes on this machine.
type Manager struct {
	cfg Config
	h   *hierarchy
}

// New checks that this machine can run sandboxes, removes what a previous
// agent left (cgroups and work directories of the package's prefix), and
// returns a Manager. It needs root: it makes cgroups.
func New(cfg Config) (*Manager, error) {
	if cfg.CgroupRoot == "" {
		cfg.CgroupRoot = "/sys/fs/cgroup"
	}
	if cfg.Parent == "" {
		cfg.Parent = "sluice-sandbox"
	}
	if cfg.StateDir == "" {
		cfg.StateDir = filepath.Join(os.TempDir(), cfg.Parent)
	}
	if cfg.UID == 0 {
		cfg.UID = nobody
	}
	if cfg.GID == 0 {
		cfg.GID = nobody
	}
	if cfg.Shell == "" {
		cfg.Shell = "/bin/sh"
	}
	if cfg.MaxOutputBytes <= 0 {
		cfg.MaxOutputBytes = MaxOutputBytes
	}
	var err error
	if cfg.Bwrap, err = lookPath(cfg.Bwrap, "bwrap"); err != nil {
		return nil, err
	}
	if cfg.Setpriv, err = lookPath(cfg.Setpriv, "setpriv"); err != nil {
		return nil, err
	}

	h, err := detectHierarchy(cfg.CgroupRoot, cfg.Parent)
	if err != nil {
		return nil, err
	}
	m := &Manager{cfg: cfg, h: h}

	// The state directory only needs to be traversable: each sandbox's
	// own directory in it belongs to the workload's user and is closed
	// to everyone else.
	if err := os.MkdirAll(cfg.StateDir, 0o711); err != nil {
		return nil, fmt.Errorf("state directory: %w", err)
	}
	if err := m.cleanStale(); err != nil {
		return nil, fmt.Errorf("cleaning stale sandboxes: %w", err)
	}
	version := "v1"
	if h.v2 {
		version = "v2"
	}
	log.Infof("Sandboxes use bubblewrap %s and cgroup %s under %s",
		cfg.Bwrap, version, cfg.Parent)

	return m, nil
}

// lookPath finds a program: path if set, else name in PATH.
func lookPath(path, name string) (string, error) {
	if path == "" {
		path = name
	}
	found, err := exec.LookPath(path)
	if err != nil {
		return "", fmt.Errorf("%w: %v", ErrUnavailable, err)
	}

	return found, nil
}

// cleanStale removes the cgroups and work directories of sandboxes that
// an earlier agent did not close.
func (m *Manager) cleanStale() error {
	err := m.h.cleanStale()
	entries, rerr := os.ReadDir(m.cfg.StateDir)
	if rerr != nil {
		return errors.Join(err, rerr)
	}
	for _, e := range entries {
		if !e.IsDir() || !strings.HasPrefix(e.Name(), cgroupPrefix) {
			continue
		}
		log.Warnf("Removing stale sandbox directory %s", e.Name())
		err = errors.Join(err, os.RemoveAll(filepath.Join(
			m.cfg.StateDir, e.Name())))
	}

	return err
}

// Close kills every sandbox still running under the Manager's parent and
// removes their cgroups and the parent cgroups: the agent is stopping.
func (m *Manager) Close() error {
	if err := m.h.cleanStale(); err != nil {
		return err
	}

	return removeDirs(m.h.dirs())
}

// sandboxName is what a sandbox may be called: it names a cgroup and a
// directory.
var sandboxName = regexp.MustCompile(`^[A-Za-z0-9_-]{1,64}$`)

// Sandbox is one workload's sandbox: its cgroup, its input files, and,
// once started, its run.
type Sandbox struct {
	m       *Manager
	name    string
	spec    Spec
	w       Workload
	cg      *cgroup
	dir     string
	outDir  string
	argv    []string
	started atomic.Bool

	run      *agent.Run
	wall     *time.Timer
	wallHit  atomic.Bool
	capture  sync.WaitGroup
	stdout   Output
	stderr   Output
	capErr   [2]error
	closeOne sync.Once
}

// Prepare validates the workload and the spec, makes the sandbox's cgroup
// with the spec's limits and its input files, and returns it unstarted.
// Its output goes to outDir (stdout and stderr), which the caller owns.
// Close it when done, started or not.
func (m *Manager) Prepare(name string, w Workload, spec Spec,
	outDir string) (*Sandbox, error) {

	if err := w.Validate(); err != nil {
		return nil, err
	}
	if err := spec.Validate(); err != nil {
		return nil, err
	}
	if !sandboxName.MatchString(name) {
		return nil, fmt.Errorf("%w: sandbox name %q: want 1 to 64 "+
			"letters, digits, '-' or '_'", ErrBadInput, name)
	}
	full := cgroupPrefix + name

	sb := &Sandbox{m: m, name: full, spec: spec, w: w, outDir: outDir,
		dir: filepath.Join(m.cfg.StateDir, full)}
	if err := sb.writeInputs(); err != nil {
		_ = os.RemoveAll(sb.dir)
		return nil, err
	}
	cg, err := m.h.create(full, spec)
	if err != nil {
		_ = os.RemoveAll(sb.dir)
		return nil, err
	}
	sb.cg = cg
	sb.argv = sb.buildArgv()
	log.Debugf("Prepared sandbox %s: %v", full, sb.argv)

	return sb, nil
}

// writeInputs makes the sandbox's directory, readable by the workload's
// user only, and writes the inputs in it.
func (sb *Sandbox) writeInputs() error {
	uid, gid := int(sb.m.cfg.UID), int(sb.m.cfg.GID)
	if err := os.Mkdir(sb.dir, 0o700); err != nil {
		return fmt.Errorf("sandbox directory: %w", err)
	}
	if err := os.Chown(sb.dir, uid, gid); err != nil {
		return fmt.Errorf("sandbox directory: %w", err)
	}
	for _, name := range sb.w.inputNames() {
		p := filepath.Join(sb.dir, name)
		if err := os.WriteFile(p, sb.w.Inputs[name], 0o400); err != nil {
			return fmt.Errorf("input %s: %w", name, err)
		}
		if err := os.Chown(p, uid, gid); err != nil {
			return fmt.Errorf("input %s: %w", name, err)
		}
	}

	return nil
}

// joinScript is the shell wrapper that puts itself into the sandbox's
// cgroups before anything of the workload runs: it writes its own pid to
// every cgroup.procs file named before "--", then execs the rest. Being
// one process that execs, it is already in the cgroups when bubblewrap
// and the workload start, and every process they fork is born inside, so
// nothing runs outside the limits or escapes the count. A shell is in
// every Debian base system; re-executing the agent's own binary would do
// the same at the cost of a hidden command-line mode and a Go runtime
// start, and v2's clone-into-cgroup does not exist in v1.
const joinScript = `while [ "$1" != -- ]; do echo $$ > "$1" || exit 125; ` +
	`shift; done; shift; exec "$@"`

// rootDirs are the top-level entries of a Debian root that hold programs
// and libraries; each is a symlink into /usr on a merged-/usr system, or a
// directory bound read-only.
var rootDirs = []string{"bin", "sbin", "lib", "lib32", "lib64", "libx32"}

// etcFiles are the only files of /etc the sandbox sees: what the dynamic
// linker and Debian's alternatives need to run programs from /usr.
var etcFiles = []string{"/etc/alternatives", "/etc/ld.so.cache",
	"/etc/ld.so.conf", "/etc/ld.so.conf.d"}

// Argv returns the command line that runs the workload in its sandbox:
// hand it to agent.Start (Start does) or anything that runs a command.
// It must run as root, to join the cgroups; it drops to the workload's
// user before bubblewrap starts.
func (sb *Sandbox) Argv() []string {
	return append([]string(nil), sb.argv...)
}

func (sb *Sandbox) buildArgv() []string {
	cfg := sb.m.cfg
	argv := []string{cfg.Shell, "-c", joinScript, "sluice-sandbox"}
	argv = append(argv, sb.cg.procsFiles()...)
	argv = append(argv, "--",
		cfg.Setpriv,
		"--reuid="+strconv.FormatUint(uint64(cfg.UID), 10),
		"--regid="+strconv.FormatUint(uint64(cfg.GID), 10),
		"--clear-groups", "--no-new-privs", "--",
		cfg.Bwrap,
		// Every namespace: no network but a loopback of its own, its
		// own PIDs, IPC, hostname and cgroup view, and a user
		// namespace in which it cannot make another one.
		"--unshare-all", "--unshare-user", "--disable-userns",
		"--hostname", "sandbox",
		"--die-with-parent", "--new-session",
		"--clearenv", "--setenv", "PATH", "/usr/bin:/bin",
		"--setenv", "HOME", "/work", "--setenv", "TMPDIR", "/tmp",
		"--ro-bind", "/usr", "/usr",
		// The provider's own installs and configuration live here.
		"--tmpfs", "/usr/local",
	)
	for _, d := range rootDirs {
		host := "/" + d
		fi, err := os.Lstat(host)
		switch {
		case err != nil:
		case fi.Mode()&os.ModeSymlink != 0:
			target, err := os.Readlink(host)
			if err == nil {
				argv = append(argv, "--symlink", target, host)
			}
		case fi.IsDir():
			argv = append(argv, "--ro-bind", host, host)
		}
	}
	for _, f := range etcFiles {
		argv = append(argv, "--ro-bind-try", f, f)
	}
	argv = append(argv,
		"--dev", "/dev", "--proc", "/proc",
		// The only writable places, in memory: what is written
		// there is charged to the cgroup's memory limit.
		"--tmpfs", "/tmp", "--tmpfs", "/work",
	)
	for _, name := range sb.w.inputNames() {
		argv = append(argv, "--ro-bind", filepath.Join(sb.dir, name),
			"/work/"+name)
	}
	argv = append(argv, "--chdir", "/work", "--", sb.w.Command)

	return append(argv, sb.w.Args...)
}

// Sampler returns the sandbox's cgroup as a source of CPU and memory for
// agent.Start: every process of the workload counts, wherever it was
// re-parented or reaped, and memory includes what the workload keeps in
// its tmpfs.
func (sb *Sandbox) Sampler() agent.Sampler {
	return sb.cg
}

// Start runs the workload with agent.Start, measured from the cgroup,
// with its output captured, and starts its wall-clock limit. cfg's
// Stdout, Stderr and Sampler are the sandbox's own.
func (sb *Sandbox) Start(ctx context.Context,
	cfg agent.MeasureConfig) (*agent.Run, error) {

	if !sb.started.CompareAndSwap(false, true) {
		return nil, errors.New("sandbox already started")
	}

	outR, outW, err := os.Pipe()
	if err != nil {
		return nil, err
	}
	errR, errW, err := os.Pipe()
	if err != nil {
		outR.Close()
		outW.Close()
		return nil, err
	}
	cfg.Stdout, cfg.Stderr, cfg.Sampler = outW, errW, sb.cg

	run, err := agent.Start(ctx, cfg, sb.argv[0], sb.argv[1:]...)
	// The workload holds the write ends now; ours would keep the
	// pipes open after it ends.
	outW.Close()
	errW.Close()
	if err != nil {
		outR.Close()
		errR.Close()
		return nil, err
	}
	sb.run = run
	sb.wall = time.AfterFunc(sb.spec.Wall, func() {
		sb.wallHit.Store(true)
		log.Infof("Sandbox %s over its wall limit %v, killing it",
			sb.name, sb.spec.Wall)
		if err := sb.cg.kill(); err != nil {
			log.Errorf("Killing sandbox %s: %v", sb.name, err)
		}
	})

	sb.capture.Add(2)
	go func() {
		defer sb.capture.Done()
		defer outR.Close()
		sb.stdout, sb.capErr[0] = capture(outR, filepath.Join(
			sb.outDir, "stdout"), sb.m.cfg.MaxOutputBytes)
	}()
	go func() {
		defer sb.capture.Done()
		defer errR.Close()
		sb.stderr, sb.capErr[1] = capture(errR, filepath.Join(
			sb.outDir, "stderr"), MaxStderrBytes)
	}()
	log.Infof("Started sandbox %s as pid %d", sb.name, run.Pid())

	return run, nil
}

// Kill kills every process of the workload at once.
func (sb *Sandbox) Kill() error {
	return sb.cg.kill()
}

// Result is how a workload ended.
type Result struct {
	// ExitCode is the workload's exit code; a workload killed by
	// signal n reads 128+n, as bubblewrap reports it (and as a shell
	// would), and so does the sandbox when the agent killed it.
	ExitCode int

	// OOMKilled is true when the memory limit killed a process of the
	// workload (not necessarily the one whose exit is ExitCode).
	OOMKilled bool

	// WallKilled is true when the wall-clock limit ended the workload.
	WallKilled bool

	// CPU is the workload's CPU time, from its cgroup.
	CPU time.Duration

	// MemPeak is the most memory the cgroup held, in bytes; zero where
	// the kernel does not record it (v2 before Linux 5.19).
	MemPeak uint64

	// PidsRefused counts forks the pids limit refused.
	PidsRefused uint64

	// PidsPeak is the most processes the cgroup held at once, the
	// sandbox's own two included; zero where the kernel does not
	// record it.
	PidsPeak uint64

	// Throttled counts CFS periods in which the CPU limit held the
	// workload back.
	Throttled uint64

	// Stdout is the workload's output, Stderr its diagnostics.
	Stdout, Stderr Output
}

// Wait waits for the workload to end, kills anything it left, and returns
// its result. An error is the sandbox's, not the workload's: a workload
// that fails has a Result with its exit code.
func (sb *Sandbox) Wait() (Result, error) {
	if sb.run == nil {
		return Result{}, errors.New("sandbox not started")
	}
	waitErr := sb.run.Wait()
	sb.wall.Stop()
	// With bubblewrap's monitor gone the PID namespace is gone too;
	// this only makes sure.
	killErr := sb.cg.kill()
	sb.capture.Wait()

	var res Result
	var exitErr *exec.ExitError
	switch {
	case waitErr == nil:
	case errors.As(waitErr, &exitErr):
		ws, _ := exitErr.Sys().(syscall.WaitStatus)
		res.ExitCode = ws.ExitStatus()
		if ws.Signaled() {
			res.ExitCode = 128 + int(ws.Signal())
		}
	default:
		return res, fmt.Errorf("sandbox %s: %w", sb.name, waitErr)
	}
	res.WallKilled = sb.wallHit.Load()
	res.Stdout, res.Stderr = sb.stdout, sb.stderr

	st, err := sb.cg.stats()
	if err != nil {
		return res, fmt.Errorf("sandbox %s: %w", sb.name, err)
	}
	res.CPU = time.Duration(st.cpuMicros) * time.Microsecond
	res.MemPeak = st.memPeak
	res.OOMKilled = st.oomKills > 0
	res.PidsRefused = st.pidsRefused
	res.PidsPeak = st.pidsPeak
	res.Throttled = st.throttled
	log.Infof("Sandbox %s ended: exit %d, oom %v, wall %v, cpu %v, "+
		"peak %d MiB, stdout %d bytes (%v)", sb.name, res.ExitCode,
		res.OOMKilled, res.WallKilled, res.CPU, res.MemPeak>>20,
		res.Stdout.Written, res.Stdout.Truncated)

	return res, errors.Join(killErr, sb.capErr[0], sb.capErr[1])
}

// Close kills what is left of the workload and removes its cgroup and its
// directory. The output files stay.
func (sb *Sandbox) Close() error {
	var err error
	sb.closeOne.Do(func() {
		if sb.wall != nil {
			sb.wall.Stop()
		}
		err = errors.Join(sb.cg.remove(), os.RemoveAll(sb.dir))
		if sb.run != nil {
			// Killed, the run ends at once; its output is done.
			<-sb.run.Exited()
			sb.capture.Wait()
		}
	})

	return err
}
