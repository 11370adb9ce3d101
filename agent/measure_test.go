package agent

import (
	"context"
	"encoding/binary"
	"os"
	"path/filepath"
	"runtime"
	"sync"
	"testing"
	"time"
)

func TestParseStat(t *testing.T) {
	tail := " 0 -1 4194304 99 0 0 0 7 3 2 1 20 0 1 0 202181 3133440 389 " +
		"18446744073709551615 94406539632640"
	tests := []struct {
		name    string
		line    string
		want    procStat
		wantErr bool
	}{
		{"plain", "11854 (cat) R 11852 11850 28980" + tail,
			procStat{pid: 11854, state: 'R', ppid: 11852, pgrp: 11850, cpu: 13,
				rssPages: 389}, false},
		{"name with spaces and parens",
			"42 (a) b (c)) S 1 42 42" + tail,
			procStat{pid: 42, state: 'S', ppid: 1, pgrp: 42, cpu: 13,
				rssPages: 389}, false},
		{"no name", "42 cat S 1 42 42" + tail, procStat{}, true},
		{"bad pid", "x (cat) S 1 42 42" + tail, procStat{}, true},
		{"too few fields", "42 (cat) S 1 42 42 0 -1", procStat{},
			true},
		{"bad number", "42 (cat) S 1 42 42 0 -1 4194304 99 0 0 0 " +
			"x 3 2 1 20 0 1 0 202181 3133440 389", procStat{}, true},
		{"empty", "", procStat{}, true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := parseStat([]byte(tc.line))
			if (err != nil) != tc.wantErr {
				t.Fatalf("err = %v, want error %v", err,
					tc.wantErr)
			}
			if got != tc.want {
				t.Fatalf("got %+v, want %+v", got, tc.want)
			}
		})
	}
}

func TestSampleTree(t *testing.T) {
	procs := []procStat{
		{pid: 1, ppid: 0, pgrp: 1, cpu: 1000, rssPages: 1000},
		{pid: 100, ppid: 50, pgrp: 100, cpu: 10, rssPages: 1},
		{pid: 101, ppid: 100, pgrp: 100, cpu: 20, rssPages: 2},
		// A grandchild in a process group of its own.
		{pid: 102, ppid: 101, pgrp: 102, cpu: 40, rssPages: 4},
		// Re-parented to init after its parent exited.
		{pid: 103, ppid: 1, pgrp: 100, cpu: 80, rssPages: 8},
		// Its child.
		{pid: 104, ppid: 103, pgrp: 100, cpu: 160, rssPages: 16},
		// Strangers.
		{pid: 200, ppid: 1, pgrp: 200, cpu: 320, rssPages: 32},
		{pid: 201, ppid: 200, pgrp: 200, cpu: 640, rssPages: 64},
	}
	tests := []struct {
		name string
		root int
		want treeSample
	}{
		{"tree and group", 100, treeSample{cpuTicks: 310,
			rssBytes: 31 * 4096, procs: 5, rootSeen: true}},
		{"leaf", 102, treeSample{cpuTicks: 40, rssBytes: 4 * 4096,
			procs: 1, rootSeen: true}},
		{"root gone, group left", 999, treeSample{}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got := sampleTree(procs, tc.root, 4096)
			if got != tc.want {
				t.Fatalf("got %+v, want %+v", got, tc.want)
			}
		})
	}
}

func TestIntegrator(t *testing.T) {
	t0 := time.Unix(1000, 0)
	at := func(ms int) time.Time {
		return t0.Add(time.Duration(ms) * time.Millisecond)
	}

	// CPU: 7 ticks of 1/300 s each step. The exact total after n steps
	// is n × 7000 / 300 ms; the steps must add up to its floor.
	g := newIntegrator(300, treeSample{cpuTicks: 50}, t0)
	var cpu uint64
	for i := 1; i <= 30; i++ {
		u := g.step(treeSample{cpuTicks: 50 + uint64(7*i)}, at(1000*i))
		cpu += u.CPU
		if want := uint64(7*i) * 1000 / 300; cpu != want {
			t.Fatalf("step %d: %d ms in all, want %d", i, cpu, want)
		}
	}

	// A total that drops counts as nothing; growth after it counts.
	if u := g.step(treeSample{cpuTicks: 10}, at(31000)); u.CPU != 0 {
		t.Fatalf("drop gave %d ms", u.CPU)
	}
	if u := g.step(treeSample{cpuTicks: 40}, at(32000)); u.CPU != 100 {
		t.Fatalf("after a drop: %d ms, want 100", u.CPU)
	}

	// Memory: 1.5 MiB held steadily is 1.5 MiB-s per second; the seconds
	// alternate 1 and 2 and add up exactly.
	g = newIntegrator(100, treeSample{rssBytes: 3 * mib / 2}, t0)
	var mem uint64
	for i := 1; i <= 10; i++ {
		u := g.step(treeSample{rssBytes: 3 * mib / 2}, at(1000*i))
		mem += u.Mem
		if want := uint64(3*i) / 2; mem != want {
			t.Fatalf("second %d: %d MiB-s in all, want %d", i, mem,
				want)
		}
	}

	// Growing from 0 to 2 MiB over one second is 1 MiB-s.
	g = newIntegrator(100, treeSample{}, t0)
	if u := g.step(treeSample{rssBytes: 2 * mib}, at(1000)); u.Mem != 1 {
		t.Fatalf("ramp: %d MiB-s, want 1", u.Mem)
	}
	// No time passing adds no memory.
	if u := g.step(treeSample{rssBytes: 2 * mib}, at(1000)); u.Mem != 0 {
		t.Fatalf("zero interval: %d MiB-s", u.Mem)
	}
}

func TestClockTick(t *testing.T) {
	dir := t.TempDir()
	if got := clockTick(dir); got != defaultClockTick {
		t.Fatalf("no auxv: %d", got)
	}

	// An auxv with AT_PAGESZ, AT_CLKTCK = 250 and AT_NULL.
	var auxv []byte
	for _, kv := range [][2]uint64{{6, 4096}, {atClkTck, 250}, {0, 0}} {
		auxv = binary.LittleEndian.AppendUint64(auxv, kv[0])
		auxv = binary.LittleEndian.AppendUint64(auxv, kv[1])
	}
	if err := os.MkdirAll(filepath.Join(dir, "self"), 0o755); err != nil {
		t.Fatal(err)
	}
	err := os.WriteFile(filepath.Join(dir, "self", "auxv"), auxv, 0o644)
	if err != nil {
		t.Fatal(err)
	}
	if got := clockTick(dir); got != 250 {
		t.Fatalf("auxv says 250, got %d", got)
	}

	if got := clockTick(DefaultProcRoot); got == 0 {
		t.Fatal("zero clock tick from /proc")
	}
}

// runFor starts a shell command, lets it run for d, stops it and returns
// its measurements and the time it ran.
func runFor(t *testing.T, script string, d time.Duration) ([]Measurement,
	time.Duration, int) {

	t.Helper()
	if _, err := os.Stat("/proc/self/stat"); err != nil {
		t.Skip("no /proc")
	}

	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()

	start := time.Now()
	run, err := Start(ctx, MeasureConfig{}, "sh", "-c", script)
	if err != nil {
		t.Fatal(err)
	}
	time.Sleep(d)
	run.Stop(2 * time.Second)
	elapsed := time.Since(start)

	var ms []Measurement
	for m := range run.Measurements() {
		ms = append(ms, m)
	}

	return ms, elapsed, run.Pid()
}

// checkMeasurements checks what holds for any measured run: seconds in
// order, once each, within the run, and CPU within what the machine's
// cores could have done in the time.
func checkMeasurements(t *testing.T, ms []Measurement,
	elapsed time.Duration) (cpu, mem uint64) {

	t.Helper()

	if len(ms) < 2 {
		t.Fatalf("%d measurements in %v", len(ms), elapsed)
	}
	for i, m := range ms {
		if i > 0 && m.Second <= ms[i-1].Second {
			t.Fatalf("second %d after %d", m.Second, ms[i-1].Second)
		}
		cpu += m.CPU
		mem += m.Mem
	}
	first, last := ms[0].Second, ms[len(ms)-1].Second
	// The first and last seconds are partial.
	span := time.Duration(last-first) * time.Second
	if span > elapsed+time.Second {
		t.Fatalf("seconds span %v, the run took %v", span, elapsed)
	}

	// One clock tick of slack per process and sample is far more than
	// rounding can add; the bound is the cores' capacity.
	limit := uint64(elapsed.Milliseconds()+100) * uint64(runtime.NumCPU())
	if cpu == 0 || cpu > limit {
		t.Fatalf("%d core-ms measured in %v on %d cores", cpu, elapsed,
			runtime.NumCPU())
	}

	return cpu, mem
}

func TestMeasureBusyLoop(t *testing.T) {
	ms, elapsed, _ := runFor(t, "while :; do :; done", 2500*time.Millisecond)
	cpu, mem := checkMeasurements(t, ms, elapsed)
	if mem == 0 {
		t.Fatal("no memory measured for a live shell")
	}
	t.Logf("%d seconds: %d core-ms, %d MiB-s in %v", len(ms), cpu, mem,
		elapsed)
}

// TestMeasureChildren runs the busy loop in a grandchild while the
// command itself only waits: what is measured is the children's CPU, and
// stopping the command stops them too.
func TestMeasureChildren(t *testing.T) {
	script := `sh -c 'sh -c "while :; do :; done" & wait' & wait`
	ms, elapsed, pgid := runFor(t, script, 2500*time.Millisecond)
	cpu, _ := checkMeasurements(t, ms, elapsed)

	// The waiting shells use next to nothing; a tenth of a core-second
	// over the run can only be the grandchild's loop.
	if cpu < 100 {
		t.Fatalf("%d core-ms: the children's CPU was not counted", cpu)
	}

	// A killed process leaves a zombie until its parent (here init)
	// reaps it, which may be never in a container; it runs no more.
	var left []procStat
	for deadline := time.Now().Add(5 * time.Second); ; {
		procs, err := listProcs(DefaultProcRoot)
		if err != nil {
			t.Fatal(err)
		}
		left = left[:0]
		for _, p := range procs {
			if p.pgrp == pgid && p.state != 'Z' {
				left = append(left, p)
			}
		}
		if len(left) == 0 || time.Now().After(deadline) {
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	if len(left) > 0 {
		t.Fatalf("processes of the stopped group still run: %+v",
			left)
	}
	t.Logf("%d seconds: %d core-ms in %v", len(ms), cpu, elapsed)
}

func TestMeasureExit(t *testing.T) {
	if _, err := os.Stat("/proc/self/stat"); err != nil {
		t.Skip("no /proc")
	}
	run, err := Start(context.Background(), MeasureConfig{}, "sh", "-c",
		"exit 3")
	if err != nil {
		t.Fatal(err)
	}
	var n int
	for range run.Measurements() {
		n++
	}
	if err := run.Wait(); err == nil {
		t.Fatal("exit 3 gave no error")
	}
	if n > 2 {
		t.Fatalf("%d measurements of a command that exits at once", n)
	}

	if _, err := Start(context.Background(), MeasureConfig{},
		"/nonexistent/command"); err == nil {

		t.Fatal("started a command that does not exist")
	}
}

// TestMeasurePause pauses a busy command for two seconds: those seconds
// are not reported, and it runs on after Resume.
func TestMeasurePause(t *testing.T) {
	if _, err := os.Stat("/proc/self/stat"); err != nil {
		t.Skip("no /proc")
	}
	run, err := Start(context.Background(), MeasureConfig{}, "sh", "-c",
		"while :; do :; done")
	if err != nil {
		t.Fatal(err)
	}
	time.Sleep(1200 * time.Millisecond)
	if err := run.Pause(); err != nil {
		t.Fatal(err)
	}
	time.Sleep(2500 * time.Millisecond)
	if err := run.Resume(); err != nil {
		t.Fatal(err)
	}
	time.Sleep(1500 * time.Millisecond)
	run.Stop(2 * time.Second)

	var ms []Measurement
	for m := range run.Measurements() {
		ms = append(ms, m)
	}
	gap := false
	for i := 1; i < len(ms); i++ {
		if ms[i].Second-ms[i-1].Second >= 2 {
			gap = true
		}
	}
	if !gap {
		t.Fatalf("no unreported seconds around the pause: %+v", ms)
	}
	if last := ms[len(ms)-1]; last.CPU == 0 && len(ms) < 3 {
		t.Fatalf("nothing measured after Resume: %+v", ms)
	}
}

// countingSampler is a Sampler whose CPU total grows by step on every
// call, with a fixed memory.
type countingSampler struct {
	mu    sync.Mutex
	calls int
	cpu   uint64
	step  uint64
	mem   uint64
}

func (s *countingSampler) Sample() (uint64, uint64, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.calls++
	s.cpu += s.step

	return s.cpu, s.mem, nil
}

// TestMeasureSampler measures from a Sampler instead of /proc: every
// microsecond it reports after the first sample is reported once, in
// whole core-milliseconds, and the command's own exit ends the run.
func TestMeasureSampler(t *testing.T) {
	sampler := &countingSampler{step: 123_457, mem: 64 << 20}
	run, err := Start(context.Background(), MeasureConfig{
		Sampler: sampler,
	}, "sleep", "2.2")
	if err != nil {
		t.Fatal(err)
	}
	var cpu, mem uint64
	for m := range run.Measurements() {
		cpu += m.CPU
		mem += m.Mem
	}
	if err := run.Wait(); err != nil {
		t.Fatal(err)
	}

	sampler.mu.Lock()
	defer sampler.mu.Unlock()
	if sampler.calls < 3 {
		t.Fatalf("sampled %d times over 2.2 s", sampler.calls)
	}
	// The first sample is the baseline; the integrator keeps the
	// sub-millisecond remainder.
	want := (sampler.cpu - sampler.step) / 1000
	if cpu != want {
		t.Fatalf("%d core-ms measured, the sampler counted %d", cpu,
			want)
	}
	if mem == 0 {
		t.Fatal("the sampler's memory was not measured")
	}
}
