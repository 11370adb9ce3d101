package sandbox

import (
	"errors"
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/sluice-ln/sluice/settlement"
)

const (
	// MaxWorkloadBytes caps a workload: its command, arguments, input
	// names and input contents together. A workload is stored with its
	// job and sent to the provider, so it is small; real data is fetched
	// by the workload itself in a later version, or not at all.
	MaxWorkloadBytes = 64 << 10

	// MaxInputs caps the number of input files.
	MaxInputs = 64

	// MaxArgs caps the number of arguments.
	MaxArgs = 256
)

var (
	// ErrWorkloadTooLarge is returned for a workload over
	// MaxWorkloadBytes (or over MaxInputs or MaxArgs).
	ErrWorkloadTooLarge = errors.New("workload too large")

	// ErrBadInput is returned for a workload that cannot be run as
	// given: no command, a NUL byte, an input name that is not a plain
	// file name.
	ErrBadInput = errors.New("bad workload")

	// ErrBadSpec is returned for a resource spec the sandbox cannot
	// enforce: a limit missing, too small or too large.
	ErrBadSpec = errors.New("bad resource spec")
)

// Workload is what a buyer asks to run: a command with arguments, and
// small input files placed in the sandbox's work directory.
type Workload struct {
	// Command is an absolute path inside the sandbox or a name looked
	// up in the sandbox's PATH (/usr/bin:/bin).
	Command string

	// Args are the command's arguments, without the command itself.
	Args []string

	// Inputs are files placed read-only in the work directory, by file
	// name (see ValidInputName).
	Inputs map[string][]byte
}

// ValidInputName reports whether name may name an input file: the job's
// rule (settlement.CheckInputName), so that the sandbox takes every
// workload job creation accepted.
func ValidInputName(name string) bool {
	return settlement.CheckInputName(name) == nil
}

// Size is the workload's size as MaxWorkloadBytes counts it.
func (w Workload) Size() int {
	n := len(w.Command)
	for _, a := range w.Args {
		n += len(a)
	}
	for name, data := range w.Inputs {
		n += len(name) + len(data)
	}

	return n
}

// Validate checks the workload against the caps and the naming rules.
func (w Workload) Validate() error {
	if size := w.Size(); size > MaxWorkloadBytes {
		return fmt.Errorf("%w: %d bytes, at most %d", ErrWorkloadTooLarge,
			size, MaxWorkloadBytes)
	}
	if len(w.Inputs) > MaxInputs {
		return fmt.Errorf("%w: %d inputs, at most %d",
			ErrWorkloadTooLarge, len(w.Inputs), MaxInputs)
	}
	if len(w.Args) > MaxArgs {
		return fmt.Errorf("%w: %d arguments, at most %d",
			ErrWorkloadTooLarge, len(w.Args), MaxArgs)
	}
	if w.Command == "" {
		return fmt.Errorf("%w: command: empty", ErrBadInput)
	}
	// exec takes C strings: a NUL would cut them short.
	if strings.ContainsRune(w.Command, 0) {
		return fmt.Errorf("%w: command: NUL byte", ErrBadInput)
	}
	for i, a := range w.Args {
		if strings.ContainsRune(a, 0) {
			return fmt.Errorf("%w: argument %d: NUL byte", ErrBadInput,
				i)
		}
	}
	for _, name := range w.inputNames() {
		if !ValidInputName(name) {
			return fmt.Errorf("%w: input name %q: want 1 to 128 "+
				"letters, digits, '.', '-' or '_', not starting "+
				"with '.' or '-'", ErrBadInput, name)
		}
	}

	return nil
}

// inputNames returns the input names in order, so that errors and mounts
// do not depend on map order.
func (w Workload) inputNames() []string {
	names := make([]string, 0, len(w.Inputs))
	for name := range w.Inputs {
		names = append(names, name)
	}
	sort.Strings(names)

	return names
}

const (
	// MinCPU is the smallest CPU limit, in core-milliseconds per second:
	// one CFS period's smallest quota (1 ms) per 100 ms period.
	MinCPU = 10

	// MaxCPU is the largest CPU limit: 1024 cores.
	MaxCPU = 1024 * 1000

	// MinMemMiB is the smallest memory limit: bubblewrap and a shell
	// need a few MiB of it before the workload starts.
	MinMemMiB = 8

	// MaxMemMiB is the largest memory limit: 1 TiB.
	MaxMemMiB = 1 << 20

	// MaxPids is the largest process limit.
	MaxPids = 1 << 16

	// MaxWall is the longest wall-clock limit.
	MaxWall = 7 * 24 * time.Hour

	// sandboxPids is how many processes the sandbox itself keeps in the
	// workload's cgroup: bubblewrap's monitor outside the new PID
	// namespace and its init inside it. The pids limit is raised by
	// that much so that Spec.Pids counts the workload's processes.
	sandboxPids = 2
)

// Spec is the resources a workload is held to.
type Spec struct {
	// CPU is the CPU bandwidth in core-milliseconds per second (1000 is
	// one core), as metering counts CPU.
	CPU uint64

	// MemMiB is the memory limit in MiB: resident memory, page cache
	// and the files the workload writes in its tmpfs, with no swap.
	MemMiB uint64

	// Pids is the most processes (and threads) the workload may have
	// at once.
	Pids uint64

	// Wall is how long the workload may run before it is killed.
	Wall time.Duration
}

// Validate checks that every limit is set and within range.
func (s Spec) Validate() error {
	switch {
	case s.CPU < MinCPU || s.CPU > MaxCPU:
		return fmt.Errorf("%w: cpu %d core-ms/s, want %d to %d",
			ErrBadSpec, s.CPU, MinCPU, MaxCPU)
	case s.MemMiB < MinMemMiB || s.MemMiB > MaxMemMiB:
		return fmt.Errorf("%w: memory %d MiB, want %d to %d",
			ErrBadSpec, s.MemMiB, MinMemMiB, MaxMemMiB)
	case s.Pids < 1 || s.Pids > MaxPids:
		return fmt.Errorf("%w: pids %d, want 1 to %d", ErrBadSpec,
			s.Pids, MaxPids)
	case s.Wall <= 0 || s.Wall > MaxWall:
		return fmt.Errorf("%w: wall %v, want up to %v", ErrBadSpec,
			s.Wall, MaxWall)
	}

	return nil
}
