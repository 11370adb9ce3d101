package sandbox

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// ErrUnavailable is returned when this machine cannot run a sandbox: no
// bubblewrap, or no cgroup hierarchy with the CPU, memory and pids
// controllers that this process may write.
var ErrUnavailable = errors.New("sandbox unavailable")

// cfsPeriodMicros is the CFS period the CPU limit is enforced over: the
// kernel's default, 100 ms. A workload may use its whole quota at the
// start of a period, so over any stretch of time it can be ahead of its
// limit by at most one period's quota.
const cfsPeriodMicros = 100_000

// cgroupPrefix starts the name of every cgroup and work directory the
// package makes, so that those left by a killed agent are found on start.
const cgroupPrefix = "sbx-"

// controllers are the cgroup controllers a sandbox needs: cpu for the
// limit, cpuacct (v1) for the count, memory and pids.
var controllers = []string{"cpu", "cpuacct", "memory", "pids"}

// hierarchy is where a Manager's cgroups live: under one parent
// directory in the unified (v2) hierarchy, or under one parent in each
// v1 hierarchy that holds a needed controller.
type hierarchy struct {
	v2 bool

	// parents maps each controller to the parent directory of the
	// sandboxes' cgroups in its hierarchy. In v2, and for co-mounted
	// v1 controllers (cpu,cpuacct), several map to the same one.
	parents map[string]string
}

// detectHierarchy finds the cgroup hierarchy under root (/sys/fs/cgroup):
// v2 when root itself is a cgroup2 mount (it has cgroup.controllers), v1
// otherwise. It creates parent below each and, in v2, enables the needed
// controllers for its children.
func detectHierarchy(root, parent string) (*hierarchy, error) {
	ctrlFile := filepath.Join(root, "cgroup.controllers")
	if data, err := os.ReadFile(ctrlFile); err == nil {
		return setupV2(root, parent, strings.Fields(string(data)))
	}

	// v1: one mount per controller (or per group of co-mounted ones,
	// reached through symlinks such as cpu -> cpu,cpuacct).
	probe := map[string]string{
		"cpu":     "cpu.cfs_quota_us",
		"cpuacct": "cpuacct.usage",
		"memory":  "memory.limit_in_bytes",
		"pids":    "pids.max",
	}
	h := &hierarchy{parents: make(map[string]string)}
	for _, c := range controllers {
		// A root cgroup lacks the limit files; parent has them
		// when the hierarchy holds the controller.
		dir, err := filepath.EvalSymlinks(filepath.Join(root, c))
		p := filepath.Join(dir, parent)
		if err == nil {
			err = os.MkdirAll(p, 0o755)
		}
		if err == nil {
			_, err = os.Stat(filepath.Join(p, probe[c]))
		}
		if err != nil {
			// Leave no half-made parents behind: those made here
			// are empty (rmdir fails on any other).
			for _, d := range h.parents {
				_ = syscall.Rmdir(d)
			}
			if dir != "" {
				_ = syscall.Rmdir(p)
			}
			return nil, fmt.Errorf("%w: cgroup v1 controller %s: %v",
				ErrUnavailable, c, err)
		}
		h.parents[c] = p
	}

	return h, nil
}

// setupV2 prepares parent in the unified hierarchy at root.
func setupV2(root, parent string, available []string) (*hierarchy, error) {
	have := make(map[string]bool)
	for _, c := range available {
		have[c] = true
	}
	// cpuacct is v1's; v2's cpu controller counts too.
	for _, c := range []string{"cpu", "memory", "pids"} {
		if !have[c] {
			return nil, fmt.Errorf("%w: cgroup v2 at %s lacks the %s "+
				"controller", ErrUnavailable, root, c)
		}
	}
	p := filepath.Join(root, parent)
	if err := os.MkdirAll(p, 0o755); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrUnavailable, err)
	}
	// A controller reaches a cgroup only when every ancestor enables
	// it for its children. The root is exempt from the rule that a
	// cgroup with processes cannot pass controllers on; parent holds
	// none.
	for _, dir := range []string{root, p} {
		err := writeFile(filepath.Join(dir, "cgroup.subtree_control"),
			"+cpu +memory +pids")
		if err != nil {
			return nil, fmt.Errorf("%w: %v", ErrUnavailable, err)
		}
	}
	h := &hierarchy{v2: true, parents: make(map[string]string)}
	for _, c := range controllers {
		h.parents[c] = p
	}

	return h, nil
}

// dirs returns the distinct parent directories.
func (h *hierarchy) dirs() []string {
	var out []string
	seen := make(map[string]bool)
	for _, c := range controllers {
		if p := h.parents[c]; !seen[p] {
			seen[p] = true
			out = append(out, p)
		}
	}

	return out
}

// cgroup is one sandbox's cgroup: one directory in v2, one per distinct
// hierarchy in v1.
type cgroup struct {
	v2 bool

	// dir maps each controller to the cgroup's directory in its
	// hierarchy.
	dir map[string]string
}

// create makes the cgroup name under every parent and sets spec's limits.
func (h *hierarchy) create(name string, spec Spec) (*cgroup, error) {
	cg := &cgroup{v2: h.v2, dir: make(map[string]string)}
	for _, c := range controllers {
		cg.dir[c] = filepath.Join(h.parents[c], name)
	}
	for _, d := range cg.dirs() {
		if err := os.Mkdir(d, 0o755); err != nil {
			_ = cg.remove()
			return nil, fmt.Errorf("creating cgroup: %w", err)
		}
	}
	if err := cg.limit(spec); err != nil {
		_ = cg.remove()
		return nil, err
	}

	return cg, nil
}

// dirs returns the cgroup's distinct directories.
func (cg *cgroup) dirs() []string {
	var out []string
	seen := make(map[string]bool)
	for _, c := range controllers {
		if d := cg.dir[c]; !seen[d] {
			seen[d] = true
			out = append(out, d)
		}
	}

	return out
}

// path is file in the directory of controller c.
func (cg *cgroup) path(c, file string) string {
	return filepath.Join(cg.dir[c], file)
}

// limit writes spec's limits.
func (cg *cgroup) limit(spec Spec) error {
	quota := spec.CPU * cfsPeriodMicros / 1000
	mem := spec.MemMiB << 20
	pids := spec.Pids + sandboxPids

	type setting struct {
		c, file, value string
		// optional settings are skipped where the kernel lacks them
		// (swap accounting off, or no swap compiled in).
		optional bool
	}
	var settings []setting
	if cg.v2 {
		settings = []setting{
			{"cpu", "cpu.max", fmt.Sprintf("%d %d", quota,
				cfsPeriodMicros), false},
			{"memory", "memory.max", strconv.FormatUint(mem, 10),
				false},
			{"memory", "memory.swap.max", "0", true},
			{"pids", "pids.max", strconv.FormatUint(pids, 10), false},
		}
	} else {
		settings = []setting{
			{"cpu", "cpu.cfs_period_us",
				strconv.Itoa(cfsPeriodMicros), false},
			{"cpu", "cpu.cfs_quota_us",
				strconv.FormatUint(quota, 10), false},
			// The memory limit first: memory+swap may not be
			// set below it.
			{"memory", "memory.limit_in_bytes",
				strconv.FormatUint(mem, 10), false},
			{"memory", "memory.memsw.limit_in_bytes",
				strconv.FormatUint(mem, 10), true},
			{"memory", "memory.swappiness", "0", true},
			{"pids", "pids.max", strconv.FormatUint(pids, 10), false},
		}
	}
	for _, s := range settings {
		p := cg.path(s.c, s.file)
		if s.optional {
			if _, err := os.Stat(p); err != nil {
				continue
			}
		}
		if err := writeFile(p, s.value); err != nil {
			return fmt.Errorf("limiting cgroup: %w", err)
		}
	}

	return nil
}

// procsFiles are the files a process writes its pid to, to join the
// cgroup in every hierarchy.
func (cg *cgroup) procsFiles() []string {
	var out []string
	for _, d := range cg.dirs() {
		out = append(out, filepath.Join(d, "cgroup.procs"))
	}

	return out
}

// Sample returns the cgroup's CPU time in microseconds and its memory in
// bytes; it makes cgroup an agent.Sampler.
func (cg *cgroup) Sample() (uint64, uint64, error) {
	var cpu, mem uint64
	var err error
	if cg.v2 {
		cpu, err = readKey(cg.path("cpu", "cpu.stat"), "usage_usec")
		if err == nil {
			mem, err = readUint(cg.path("memory", "memory.current"))
		}
	} else {
		var ns uint64
		ns, err = readUint(cg.path("cpuacct", "cpuacct.usage"))
		cpu = ns / 1000
		if err == nil {
			mem, err = readUint(cg.path("memory",
				"memory.usage_in_bytes"))
		}
	}
	if err != nil {
		return 0, 0, fmt.Errorf("sampling cgroup: %w", err)
	}

	return cpu, mem, nil
}

// stats is what a cgroup counted over its life.
type stats struct {
	cpuMicros   uint64
	memPeak     uint64
	oomKills    uint64
	pidsRefused uint64
	pidsPeak    uint64
	throttled   uint64
}

// stats reads the cgroup's counters; one the kernel does not keep reads
// zero.
func (cg *cgroup) stats() (stats, error) {
	var st stats
	cpu, _, err := cg.Sample()
	if err != nil {
		return st, err
	}
	st.cpuMicros = cpu

	peakFile, eventsFile, eventsKey := "memory.max_usage_in_bytes",
		"memory.oom_control", "oom_kill"
	if cg.v2 {
		peakFile, eventsFile = "memory.peak", "memory.events"
	}
	if v, err := readUint(cg.path("memory", peakFile)); err == nil {
		st.memPeak = v
	}
	if v, err := readKey(cg.path("memory", eventsFile), eventsKey); err == nil {
		st.oomKills = v
	}
	if v, err := readKey(cg.path("pids", "pids.events"), "max"); err == nil {
		st.pidsRefused = v
	}
	// pids.peak is recent in both versions; zero without.
	st.pidsPeak, _ = readUint(cg.path("pids", "pids.peak"))
	st.throttled, _ = readKey(cg.path("cpu", "cpu.stat"), "nr_throttled")

	return st, nil
}

// procs lists the processes in the cgroup.
func (cg *cgroup) procs() ([]int, error) {
	data, err := os.ReadFile(cg.path("pids", "cgroup.procs"))
	if err != nil {
		return nil, err
	}
	var pids []int
	for _, f := range strings.Fields(string(data)) {
		pid, err := strconv.Atoi(f)
		if err != nil {
			return nil, fmt.Errorf("cgroup.procs: %w", err)
		}
		pids = append(pids, pid)
	}

	return pids, nil
}

// kill kills every process in the cgroup and waits (up to a few seconds)
// until none is left. In v2 cgroup.kill does it at once; in v1 processes
// are killed one by one, again while a fork raced the listing.
func (cg *cgroup) kill() error {
	if cg.v2 {
		p := cg.path("pids", "cgroup.kill")
		if _, err := os.Stat(p); err == nil {
			if err := writeFile(p, "1"); err != nil {
				return err
			}
		}
	}
	deadline := time.Now().Add(5 * time.Second)
	for {
		pids, err := cg.procs()
		if errors.Is(err, os.ErrNotExist) {
			return nil
		}
		if err != nil {
			return err
		}
		if len(pids) == 0 {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("cgroup %s: %d processes left after "+
				"SIGKILL", cg.dir["pids"], len(pids))
		}
		for _, pid := range pids {
			_ = syscall.Kill(pid, syscall.SIGKILL)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// remove kills what is left in the cgroup and removes its directories. A
// killed process leaves its cgroup a moment after the signal, so rmdir is
// retried while the kernel says the cgroup is busy.
func (cg *cgroup) remove() error {
	if err := cg.kill(); err != nil {
		return err
	}

	return removeDirs(cg.dirs())
}

// removeDirs removes cgroup directories, retrying while they are busy.
func removeDirs(dirs []string) error {
	var errs []error
	for _, d := range dirs {
		deadline := time.Now().Add(5 * time.Second)
		for {
			err := syscall.Rmdir(d)
			if err == nil || errors.Is(err, syscall.ENOENT) {
				break
			}
			if !errors.Is(err, syscall.EBUSY) ||
				time.Now().After(deadline) {

				errs = append(errs, fmt.Errorf("removing cgroup "+
					"%s: %w", d, err))
				break
			}
			time.Sleep(10 * time.Millisecond)
		}
	}

	return errors.Join(errs...)
}

// cleanStale kills and removes every cgroup of the package's prefix under
// the hierarchy's parents: what an agent that was killed left behind.
func (h *hierarchy) cleanStale() error {
	var errs []error
	names := make(map[string]bool)
	for _, p := range h.dirs() {
		entries, err := os.ReadDir(p)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		for _, e := range entries {
			if e.IsDir() && strings.HasPrefix(e.Name(), cgroupPrefix) {
				names[e.Name()] = true
			}
		}
	}
	for name := range names {
		cg := &cgroup{v2: h.v2, dir: make(map[string]string)}
		for _, c := range controllers {
			cg.dir[c] = filepath.Join(h.parents[c], name)
		}
		log.Warnf("Removing stale sandbox cgroup %s", name)
		if err := cg.remove(); err != nil {
			errs = append(errs, err)
		}
	}

	return errors.Join(errs...)
}

// writeFile writes value to a cgroup file, which takes one write.
func writeFile(path, value string) error {
	f, err := os.OpenFile(path, os.O_WRONLY, 0)
	if err != nil {
		return err
	}
	_, err = f.WriteString(value)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("writing %q to %s: %w", value, path, err)
	}

	return nil
}

// readUint reads a file holding one number.
func readUint(path string) (uint64, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return 0, err
	}
	v, err := strconv.ParseUint(string(bytes.TrimSpace(data)), 10, 64)
	if err != nil {
		return 0, fmt.Errorf("%s: %w", path, err)
	}

	return v, nil
}

// errNoKey is returned by readKey for a key the file does not hold.
var errNoKey = errors.New("no such key")

// readKey reads the value of key from a flat-keyed file ("key value"
// lines, as cpu.stat, memory.events and pids.events are).
func readKey(path, key string) (uint64, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return 0, err
	}
	sc := bufio.NewScanner(bytes.NewReader(data))
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		if len(f) == 2 && f[0] == key {
			v, err := strconv.ParseUint(f[1], 10, 64)
			if err != nil {
				return 0, fmt.Errorf("%s: %s: %w", path, key, err)
			}
			return v, nil
		}
	}

	return 0, fmt.Errorf("%s: %s: %w", path, key, errNoKey)
}
