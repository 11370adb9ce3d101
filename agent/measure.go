package agent

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/sluice-ln/sluice/metering"
)

// mib is a mebibyte in bytes.
const mib = 1 << 20

// Measurement is what a command's process tree used in one second.
type Measurement struct {
	// Second is the start of the second, in Unix seconds. The first
	// measurement covers the rest of the second the command started in,
	// the last one the part of the second it ended in.
	Second int64

	// Usage is CPU in core-milliseconds and memory in MiB-seconds.
	metering.Usage
}

// integrator turns cumulative samples into per-interval usage. It keeps
// remainders, so that the usage of consecutive intervals adds up exactly to
// the usage of the whole: no core-millisecond or MiB-second is lost or
// invented by rounding.
type integrator struct {
	clkTck uint64

	// lastTicks is the tree's CPU total at the last sample.
	lastTicks uint64
	// tickRem is the remainder of ticks × 1000 not yet a whole
	// core-millisecond, in units of 1/clkTck ms.
	tickRem uint64

	// lastRSS and lastAt are the memory and time of the last sample.
	lastRSS uint64
	lastAt  time.Time
	// memRem is the remainder of byte-milliseconds not yet a whole
	// MiB-second.
	memRem uint64
}

// newIntegrator starts integrating from the first sample.
func newIntegrator(clkTck uint64, first treeSample,
	at time.Time) *integrator {

	return &integrator{
		clkTck:    clkTck,
		lastTicks: first.cpuTicks,
		lastRSS:   first.rssBytes,
		lastAt:    at,
	}
}

// step accounts the interval from the last sample to s, taken at at.
//
// CPU is the growth of the tree's total. A total that drops (a member was
// reaped outside the tree and took its time with it) counts as none, and
// the next interval counts from the lower total: usage is under-reported
// in that case, never over-reported.
//
// Memory is the trapezoid of the resident size at both ends over the
// interval's length, in byte-milliseconds, then whole MiB-seconds.
func (g *integrator) step(s treeSample, at time.Time) metering.Usage {
	var u metering.Usage

	if s.cpuTicks > g.lastTicks {
		// ticks × 1000 / clkTck, keeping the remainder.
		ms := (s.cpuTicks-g.lastTicks)*1000 + g.tickRem
		u.CPU = ms / g.clkTck
		g.tickRem = ms % g.clkTck
	}
	g.lastTicks = s.cpuTicks

	elapsed := at.Sub(g.lastAt).Milliseconds()
	if elapsed > 0 {
		avg := (g.lastRSS + s.rssBytes) / 2
		byteMs := avg*uint64(elapsed) + g.memRem
		u.Mem = byteMs / (mib * 1000)
		g.memRem = byteMs % (mib * 1000)
	}
	g.lastRSS = s.rssBytes
	g.lastAt = at

	return u
}

// MeasureConfig configures Start.
type MeasureConfig struct {
	// ProcRoot is where procfs is mounted; empty means /proc.
	ProcRoot string

	// Buffer is how many measurements may wait for the reader before
	// measuring blocks (and the seconds waiting are merged into one);
	// 0 means an hour's worth.
	Buffer int

	// Stdout and Stderr receive the command's output; nil discards it.
	Stdout, Stderr *os.File

	// Sampler, when set, replaces /proc as the source of the command's
	// CPU and memory: a sandbox's cgroup counts every process in it,
	// wherever it was re-parented or reaped.
	Sampler Sampler
}

// Sampler reads what a command has used so far.
type Sampler interface {
	// Sample returns the command's CPU time since it started, in
	// microseconds and never decreasing, and the memory it holds now,
	// in bytes.
	Sample() (cpuMicros, memBytes uint64, err error)
}

// samplerTick is the clock tick of a Sampler's CPU time: microseconds.
const samplerTick = 1_000_000

// Run is a command being measured.
type Run struct {
	cmd      *exec.Cmd
	procRoot string
	sampler  Sampler
	clkTck   uint64
	pageSize uint64

	out chan Measurement

	// exited is closed when the command has exited; waitErr is then its
	// exit error and state its final state.
	exited  chan struct{}
	waitErr error
	state   *os.ProcessState

	stopOnce sync.Once

	// paused is set while the process group is stopped (Pause): the
	// seconds it spends so are measured but not reported.
	paused atomic.Bool
}

// Start starts the command name args in its own process group and measures
// its process tree every second, from /proc, until it exits. Read the
// measurements from Measurements; call Wait for the exit status.
func Start(ctx context.Context, cfg MeasureConfig, name string,
	args ...string) (*Run, error) {

	if cfg.ProcRoot == "" {
		cfg.ProcRoot = DefaultProcRoot
	}
	if cfg.Buffer <= 0 {
		cfg.Buffer = 3600
	}

	cmd := exec.Command(name, args...)
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if cfg.Stdout != nil {
		cmd.Stdout = cfg.Stdout
	}
	if cfg.Stderr != nil {
		cmd.Stderr = cfg.Stderr
	}

	r := &Run{
		cmd:      cmd,
		procRoot: cfg.ProcRoot,
		sampler:  cfg.Sampler,
		clkTck:   clockTick(cfg.ProcRoot),
		pageSize: uint64(os.Getpagesize()),
		out:      make(chan Measurement, cfg.Buffer),
		exited:   make(chan struct{}),
	}
	if r.sampler != nil {
		r.clkTck = samplerTick
	}

	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("starting %s: %w", name, err)
	}
	start := time.Now()
	log.Infof("Started %s as pid %d", name, cmd.Process.Pid)

	go func() {
		r.waitErr = cmd.Wait()
		r.state = cmd.ProcessState
		// The job is the command: what it left running in its
		// process group would work unmetered, so it goes too.
		_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
		close(r.exited)
	}()
	go r.measure(ctx, start)

	return r, nil
}

// Pid returns the command's process id, which is also its process group.
func (r *Run) Pid() int {
	return r.cmd.Process.Pid
}

// Measurements returns the per-second measurements, in order of their
// seconds, each second at most once. The channel is closed after the
// command has exited and its last measurement is sent.
func (r *Run) Measurements() <-chan Measurement {
	return r.out
}

// Wait waits for the command to exit and returns its exit error.
func (r *Run) Wait() error {
	<-r.exited
	return r.waitErr
}

// Exited is closed when the command has exited.
func (r *Run) Exited() <-chan struct{} {
	return r.exited
}

// Stop asks the command's process group to terminate (SIGTERM) and kills
// it (SIGKILL) if it has not exited after grace. It returns when the
// command has exited.
func (r *Run) Stop(grace time.Duration) {
	r.stopOnce.Do(func() {
		pgid := r.cmd.Process.Pid
		log.Infof("Stopping process group %d", pgid)
		_ = syscall.Kill(-pgid, syscall.SIGTERM)
		// A stopped process acts on SIGTERM only once continued.
		_ = syscall.Kill(-pgid, syscall.SIGCONT)

		timer := time.NewTimer(grace)
		defer timer.Stop()
		select {
		case <-r.exited:
		case <-timer.C:
			log.Warnf("Process group %d still running after %v, "+
				"killing it", pgid, grace)
			_ = syscall.Kill(-pgid, syscall.SIGKILL)
		}
	})
	<-r.exited
}

// Pause stops the command's process group (SIGSTOP) without ending it, as
// when Sluice suspends the job: it uses no CPU while paused, and the
// seconds it is paused for are not reported, although the memory it holds
// stays held.
func (r *Run) Pause() error {
	r.paused.Store(true)
	if err := syscall.Kill(-r.cmd.Process.Pid, syscall.SIGSTOP); err != nil {
		return fmt.Errorf("pausing process group %d: %w",
			r.cmd.Process.Pid, err)
	}
	log.Infof("Paused process group %d", r.cmd.Process.Pid)

	return nil
}

// Resume continues a paused process group (SIGCONT); its seconds are
// reported again from the next whole second.
func (r *Run) Resume() error {
	if err := syscall.Kill(-r.cmd.Process.Pid, syscall.SIGCONT); err != nil {
		return fmt.Errorf("resuming process group %d: %w",
			r.cmd.Process.Pid, err)
	}
	r.paused.Store(false)
	log.Infof("Resumed process group %d", r.cmd.Process.Pid)

	return nil
}

// sample reads the tree's totals now.
func (r *Run) sample() (treeSample, error) {
	if r.sampler != nil {
		cpu, mem, err := r.sampler.Sample()
		if err != nil {
			return treeSample{}, err
		}
		// The sampler's source outlives the command; its exit
		// status is what ends the measuring.
		return treeSample{cpuTicks: cpu, rssBytes: mem,
			rootSeen: true}, nil
	}

	procs, err := listProcs(r.procRoot)
	if err != nil {
		return treeSample{}, err
	}

	return sampleTree(procs, r.cmd.Process.Pid, r.pageSize), nil
}

// measure samples the tree at every whole second and sends what each second
// used, until the command exits.
func (r *Run) measure(ctx context.Context, start time.Time) {
	defer close(r.out)

	first, err := r.sample()
	if err != nil {
		log.Errorf("Measuring pid %d: %v", r.Pid(), err)
	}
	g := newIntegrator(r.clkTck, first, start)

	// pending holds usage measured but not yet sent, for the second
	// starting at pendingSecond.
	pendingSecond := start.Unix()
	var pending metering.Usage

	emit := func(at time.Time, u metering.Usage) {
		pending.CPU += u.CPU
		pending.Mem += u.Mem
		// A sample taken inside the second it should close (a timer
		// that fired early) keeps accumulating into that second.
		if at.Unix() <= pendingSecond {
			return
		}
		m := Measurement{Second: pendingSecond, Usage: pending}
		switch {
		case r.paused.Load():
			log.Debugf("Second %d not reported: paused", m.Second)
		default:
			select {
			case r.out <- m:
			case <-ctx.Done():
			}
		}
		pendingSecond = at.Unix()
		pending = metering.Usage{}
	}

	for {
		next := time.Unix(pendingSecond+1, 0)
		timer := time.NewTimer(time.Until(next))
		select {
		case <-timer.C:
			s, err := r.sample()
			if err != nil {
				log.Errorf("Measuring pid %d: %v", r.Pid(), err)
				continue
			}
			// The command may have exited and been reaped between
			// the timer and the sample; then its exit status has
			// the last word, not a sample without it.
			if !s.rootSeen {
				<-r.exited
				r.final(g, emit)
				return
			}
			now := time.Now()
			emit(now, g.step(s, now))

		case <-r.exited:
			timer.Stop()
			r.final(g, emit)
			return

		case <-ctx.Done():
			timer.Stop()
			return
		}
	}
}

// final accounts the command's last, partial second from its exit status:
// the CPU time of the command and every child it reaped, as wait4 reports
// it, which is what the tree's total had become by then.
func (r *Run) final(g *integrator, emit func(time.Time, metering.Usage)) {
	now := time.Now()
	s := treeSample{cpuTicks: g.lastTicks}
	switch {
	case r.sampler != nil:
		// The sampler counts what wait4 would miss: processes
		// reaped outside the command's tree.
		if cpu, _, err := r.sampler.Sample(); err == nil {
			s.cpuTicks = max(cpu, g.lastTicks)
		}
	case r.state != nil:
		cpu := r.state.UserTime() + r.state.SystemTime()
		ticks := uint64(cpu.Milliseconds()) * r.clkTck / 1000
		s.cpuTicks = max(ticks, g.lastTicks)
	}
	u := g.step(s, now)

	// The last second is sent now even though it has not ended.
	emit(time.Unix(now.Unix()+1, 0), u)
}
