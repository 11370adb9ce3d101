package devnet

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// Files every process leaves in its node directory.
const (
	// outputLogName receives the process's stdout and stderr: the
	// daemons log there as well as to their own files, and start-up
	// failures (bad flags, panics) only show there.
	outputLogName = "output.log"

	// pidFileName holds the process id while it runs.
	pidFileName = "pid"
)

// TailLines is how many lines of a node's log an error shows.
const TailLines = 30

// NodeError is a failure of one node of the network. Its message names the
// node and ends with the last lines of the node's log; the log stays on disk.
type NodeError struct {
	// Node is the node's name, e.g. "hub", "hub-tapd", "miner".
	Node string

	// LogPath is the node's output log.
	LogPath string

	// Err is what went wrong.
	Err error

	// Tail holds the log's last lines as they were when the failure was
	// seen; when nil, Error reads them from LogPath. Taken early, they
	// show the node's state at the failure rather than its shutdown.
	Tail []string
}

// Error names the node and shows the end of its log.
func (e *NodeError) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "node %s: %v", e.Node, e.Err)
	if e.LogPath == "" {
		return b.String()
	}
	lines := e.Tail
	if lines == nil {
		var err error
		lines, err = tailFile(e.LogPath, TailLines)
		if err != nil {
			fmt.Fprintf(&b, "\n(log %s unreadable: %v)", e.LogPath,
				err)
			return b.String()
		}
	}
	fmt.Fprintf(&b, "\n--- last %d lines of %s ---\n", len(lines), e.LogPath)
	for _, l := range lines {
		b.WriteString(l)
		b.WriteByte('\n')
	}
	fmt.Fprintf(&b, "--- end of %s ---", e.LogPath)
	return b.String()
}

// Unwrap returns the underlying error.
func (e *NodeError) Unwrap() error { return e.Err }

// ErrExited is returned when a process of the network stopped on its own.
var ErrExited = errors.New("process exited")

// process is one daemon started by this package.
type process struct {
	name string
	dir  string // node directory: pid file and output log
	bin  string
	args []string

	// marker is an argument that only this process of this network has
	// (its data dir flag); Down checks it before signalling a pid.
	marker string

	cmd    *exec.Cmd
	exited chan struct{} // closed when the process was reaped
	err    error         // exit status, valid after exited is closed
}

func (p *process) logPath() string { return filepath.Join(p.dir, outputLogName) }
func (p *process) pidPath() string { return filepath.Join(p.dir, pidFileName) }

// nodeErr wraps err as a NodeError for this process, with the end of its
// log as it is now: the network is stopped before the error is shown.
func (p *process) nodeErr(err error) error {
	tail, _ := tailFile(p.logPath(), TailLines)
	return &NodeError{Node: p.name, LogPath: p.logPath(), Err: err,
		Tail: tail}
}

// start launches the process in its own process group, with stdin from
// /dev/null and stdout and stderr appended to its output log, and writes its
// pid file. A goroutine reaps it when it ends, so a process of a network
// that runs inside a test never lingers as a zombie.
func (p *process) start() error {
	if err := os.MkdirAll(p.dir, 0o700); err != nil {
		return p.nodeErr(err)
	}
	logFile, err := os.OpenFile(
		p.logPath(), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600,
	)
	if err != nil {
		return p.nodeErr(err)
	}
	cmd := exec.Command(p.bin, p.args...)
	cmd.Dir = p.dir
	cmd.Stdout = logFile
	cmd.Stderr = logFile
	// Its own process group: a Ctrl-C at the terminal that ran `up` does
	// not reach it, and Down can signal exactly this group.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	log.Debugf("starting %s: %s %s", p.name, p.bin,
		strings.Join(p.args, " "))
	if err := cmd.Start(); err != nil {
		logFile.Close()
		return p.nodeErr(fmt.Errorf("start %s: %w", p.bin, err))
	}
	p.cmd = cmd
	p.exited = make(chan struct{})
	go func() {
		p.err = cmd.Wait()
		logFile.Close()
		close(p.exited)
	}()

	pid := []byte(strconv.Itoa(cmd.Process.Pid) + "\n")
	if err := os.WriteFile(p.pidPath(), pid, 0o600); err != nil {
		_ = cmd.Process.Kill()
		return p.nodeErr(fmt.Errorf("write pid file: %w", err))
	}
	return nil
}

// alive returns a NodeError wrapping ErrExited when the process has ended.
func (p *process) alive() error {
	if p.exited == nil {
		return nil
	}
	select {
	case <-p.exited:
		return p.nodeErr(fmt.Errorf("%w: %v", ErrExited, p.err))
	default:
		return nil
	}
}

// procInfo is what /proc says about a pid.
type procInfo struct {
	pid     int
	pgid    int
	zombie  bool
	cmdline []string
}

// readProc reads /proc/<pid>. It returns os.ErrNotExist when no such
// process exists.
func readProc(pid int) (procInfo, error) {
	info := procInfo{pid: pid}
	stat, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return info, err
	}
	// The command name in parentheses may hold spaces; fields after the
	// last ')' are: state ppid pgrp ...
	end := bytes.LastIndexByte(stat, ')')
	if end < 0 {
		return info, fmt.Errorf("parse /proc/%d/stat", pid)
	}
	fields := strings.Fields(string(stat[end+1:]))
	if len(fields) < 3 {
		return info, fmt.Errorf("parse /proc/%d/stat", pid)
	}
	info.zombie = fields[0] == "Z" || fields[0] == "X"
	info.pgid, err = strconv.Atoi(fields[2])
	if err != nil {
		return info, fmt.Errorf("parse /proc/%d/stat: %w", pid, err)
	}
	raw, err := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", pid))
	if err != nil {
		return info, err
	}
	raw = bytes.TrimRight(raw, "\x00")
	if len(raw) > 0 {
		info.cmdline = strings.Split(string(raw), "\x00")
	}
	return info, nil
}

// matches reports whether the process is the named binary started with the
// marker argument: the pid file's pid has not been reused by another
// program since.
func (i procInfo) matches(bin, marker string) bool {
	if len(i.cmdline) == 0 || filepath.Base(i.cmdline[0]) != bin {
		return false
	}
	for _, arg := range i.cmdline[1:] {
		if arg == marker {
			return true
		}
	}
	return false
}

// runningPID returns the pid recorded in dir's pid file when that process is
// alive and is the binary bin started with the marker argument. It returns 0
// when the node is not running (no pid file, process gone or a zombie, or
// the pid now belongs to something else).
func runningPID(dir, bin, marker string) (int, error) {
	raw, err := os.ReadFile(filepath.Join(dir, pidFileName))
	if errors.Is(err, os.ErrNotExist) {
		return 0, nil
	}
	if err != nil {
		return 0, fmt.Errorf("read pid file: %w", err)
	}
	pid, err := strconv.Atoi(strings.TrimSpace(string(raw)))
	if err != nil || pid <= 0 {
		return 0, fmt.Errorf("pid file %s: bad pid %q",
			filepath.Join(dir, pidFileName), raw)
	}
	info, err := readProc(pid)
	if errors.Is(err, os.ErrNotExist) {
		return 0, nil
	}
	if err != nil {
		return 0, err
	}
	if info.zombie || !info.matches(bin, marker) {
		return 0, nil
	}
	return pid, nil
}

// stopPID asks the verified process to stop with SIGTERM, waits up to grace
// for it to go, then sends SIGKILL. The signal goes to the process group
// when the process leads its own group (as start arranges), else to the pid
// alone. The process is checked again before each signal, so a pid that
// was reused meanwhile is never signalled.
func stopPID(pid int, bin, marker string, grace time.Duration) error {
	signal := func(sig syscall.Signal) (bool, error) {
		info, err := readProc(pid)
		if errors.Is(err, os.ErrNotExist) {
			return false, nil
		}
		if err != nil {
			return false, err
		}
		if info.zombie || !info.matches(bin, marker) {
			return false, nil
		}
		target := pid
		if info.pgid == pid {
			target = -pid
		}
		err = syscall.Kill(target, sig)
		if errors.Is(err, syscall.ESRCH) {
			return false, nil
		}
		return err == nil, err
	}

	sent, err := signal(syscall.SIGTERM)
	if err != nil || !sent {
		return err
	}
	deadline := time.Now().Add(grace)
	for time.Now().Before(deadline) {
		time.Sleep(100 * time.Millisecond)
		if gone(pid, bin, marker) {
			return nil
		}
	}
	log.Warnf("pid %d (%s) ignored SIGTERM for %v, sending SIGKILL",
		pid, bin, grace)
	if _, err := signal(syscall.SIGKILL); err != nil {
		return err
	}
	for i := 0; i < 50; i++ {
		if gone(pid, bin, marker) {
			return nil
		}
		time.Sleep(100 * time.Millisecond)
	}
	return fmt.Errorf("pid %d (%s) still running after SIGKILL", pid, bin)
}

// gone reports whether the verified process no longer runs: its pid is
// free, a zombie, or another program's. A process whose command line
// reads empty is still exiting (the kernel has released its memory, not
// yet its files and sockets), so it is not gone yet: taking it for gone let
// Down return while a port could still be held, and TestUpDown see the
// process after Down.
func gone(pid int, bin, marker string) bool {
	info, err := readProc(pid)
	if err != nil || info.zombie {
		return true
	}
	return len(info.cmdline) > 0 && !info.matches(bin, marker)
}

// tailFile returns up to n last lines of a file.
func tailFile(path string, n int) ([]string, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()

	// Read at most the last 64 KiB: enough for 30 log lines.
	const window = 64 << 10
	if fi, err := f.Stat(); err == nil && fi.Size() > window {
		if _, err := f.Seek(fi.Size()-window, 0); err != nil {
			return nil, err
		}
	}
	var lines []string
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 0, 64<<10), 1<<20)
	for sc.Scan() {
		lines = append(lines, sc.Text())
		if len(lines) > n {
			lines = lines[1:]
		}
	}
	return lines, sc.Err()
}
