package agent

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
)

// DefaultProcRoot is where Linux mounts procfs.
const DefaultProcRoot = "/proc"

// defaultClockTick is USER_HZ, the unit of /proc's CPU times, on every
// architecture Linux runs Sluice on; clockTick reads the real value.
const defaultClockTick = 100

// atClkTck is the auxiliary vector entry that holds USER_HZ.
const atClkTck = 17

// clockTick returns the kernel's USER_HZ from the process's auxiliary
// vector (what sysconf(_SC_CLK_TCK) reads, without cgo), or 100 when it
// cannot be read.
func clockTick(procRoot string) uint64 {
	data, err := os.ReadFile(filepath.Join(procRoot, "self", "auxv"))
	if err != nil {
		return defaultClockTick
	}
	// Pairs of native-endian machine words; Sluice runs on 64-bit
	// little-endian Linux (amd64, arm64).
	for len(data) >= 16 {
		key := binary.LittleEndian.Uint64(data)
		val := binary.LittleEndian.Uint64(data[8:])
		if key == atClkTck && val > 0 {
			return val
		}
		if key == 0 {
			break
		}
		data = data[16:]
	}

	return defaultClockTick
}

// procStat is what the agent reads from /proc/<pid>/stat.
type procStat struct {
	pid   int
	state byte
	ppid  int
	pgrp  int

	// cpu is utime + stime + cutime + cstime, in clock ticks: the
	// process's own CPU time and that of its children it has reaped.
	cpu uint64

	// rssPages is the resident set size, in pages.
	rssPages uint64
}

// errNoProcess is returned when a process vanished between listing /proc
// and reading it.
var errNoProcess = errors.New("process gone")

// parseStat parses the content of /proc/<pid>/stat. The command name, in
// parentheses, may itself hold spaces and parentheses, so fields are
// counted from the last ")".
func parseStat(data []byte) (procStat, error) {
	open := bytes.IndexByte(data, '(')
	closing := bytes.LastIndexByte(data, ')')
	if open < 1 || closing < open {
		return procStat{}, fmt.Errorf("stat %q: no command name",
			truncate(data))
	}
	pid, err := strconv.Atoi(string(bytes.TrimSpace(data[:open])))
	if err != nil {
		return procStat{}, fmt.Errorf("stat %q: pid: %w",
			truncate(data), err)
	}

	// Fields from 3 (state) on; fields[0] is field 3.
	fields := bytes.Fields(data[closing+1:])
	const (
		fPPID   = 4 - 3
		fPGRP   = 5 - 3
		fUTime  = 14 - 3
		fSTime  = 15 - 3
		fCUTime = 16 - 3
		fCSTime = 17 - 3
		fRSS    = 24 - 3
	)
	if len(fields) <= fRSS {
		return procStat{}, fmt.Errorf("stat of %d: %d fields, want "+
			"at least %d", pid, len(fields)+2, fRSS+3)
	}

	num := func(i int) (uint64, error) {
		return strconv.ParseUint(string(fields[i]), 10, 64)
	}
	st := procStat{pid: pid, state: fields[0][0]}
	var vals [7]uint64
	for j, i := range []int{fPPID, fPGRP, fUTime, fSTime, fCUTime,
		fCSTime, fRSS} {

		// rss is signed in the kernel's format; a negative value
		// cannot happen for a live process, and reads as unparsable.
		v, err := num(i)
		if err != nil {
			return procStat{}, fmt.Errorf("stat of %d: field %d: "+
				"%w", pid, i+3, err)
		}
		vals[j] = v
	}
	st.ppid, st.pgrp = int(vals[0]), int(vals[1])
	st.cpu = vals[2] + vals[3] + vals[4] + vals[5]
	st.rssPages = vals[6]

	return st, nil
}

// truncate shortens data for an error message.
func truncate(data []byte) []byte {
	if len(data) > 64 {
		return data[:64]
	}
	return data
}

// readStat reads one process's stat.
func readStat(procRoot string, pid int) (procStat, error) {
	data, err := os.ReadFile(filepath.Join(procRoot, strconv.Itoa(pid),
		"stat"))
	if errors.Is(err, os.ErrNotExist) || errors.Is(err, os.ErrPermission) {
		return procStat{}, errNoProcess
	}
	if err != nil {
		// ESRCH and friends: the process went away while being read.
		return procStat{}, fmt.Errorf("%w: %v", errNoProcess, err)
	}

	return parseStat(data)
}

// listProcs reads the stat of every process in procRoot.
func listProcs(procRoot string) ([]procStat, error) {
	entries, err := os.ReadDir(procRoot)
	if err != nil {
		return nil, fmt.Errorf("listing %s: %w", procRoot, err)
	}

	procs := make([]procStat, 0, len(entries))
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil || pid <= 0 {
			continue
		}
		st, err := readStat(procRoot, pid)
		if errors.Is(err, errNoProcess) {
			continue
		}
		if err != nil {
			return nil, err
		}
		procs = append(procs, st)
	}

	return procs, nil
}

// treeSample is a process tree's totals at one moment.
type treeSample struct {
	// cpuTicks is the tree's CPU time in clock ticks: each member's own
	// time and the time of the children it reaped.
	cpuTicks uint64

	// rssBytes is the tree's resident memory.
	rssBytes uint64

	// procs is the number of processes in the tree.
	procs int

	// rootSeen is true when the root process itself (live or a zombie
	// not yet reaped) was among them.
	rootSeen bool
}

// sampleTree sums the processes that descend from root (by parent pid) or
// are in root's process group, which also catches a descendant whose
// parent exited and which was re-parented elsewhere.
//
// A child that exits and is reaped by a member of the tree leaves the sum
// with its whole time at the same moment as that time appears in its
// parent's cutime and cstime, so the sum does not jump. A member that is
// reaped outside the tree takes its time with it; the sum drops, which the
// integrator treats as no usage, never as negative usage.
func sampleTree(procs []procStat, root int, pageSize uint64) treeSample {
	children := make(map[int][]int, len(procs))
	byPID := make(map[int]procStat, len(procs))
	for _, p := range procs {
		children[p.ppid] = append(children[p.ppid], p.pid)
		byPID[p.pid] = p
	}

	in := make(map[int]bool)
	queue := []int{root}
	for _, p := range procs {
		if p.pgrp == root {
			queue = append(queue, p.pid)
		}
	}
	for len(queue) > 0 {
		pid := queue[0]
		queue = queue[1:]
		if in[pid] {
			continue
		}
		if _, ok := byPID[pid]; !ok {
			continue
		}
		in[pid] = true
		queue = append(queue, children[pid]...)
	}

	s := treeSample{rootSeen: in[root]}
	for pid := range in {
		p := byPID[pid]
		s.cpuTicks += p.cpu
		s.rssBytes += p.rssPages * pageSize
		s.procs++
	}

	return s
}
