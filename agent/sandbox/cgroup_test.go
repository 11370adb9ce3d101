package sandbox

import (
	"errors"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// fakeCgroup lays out the files a cgroup directory would have (the kernel
// makes them; here they start empty or with the given content) and returns
// a cgroup that points at it, the same directory for every controller.
func fakeCgroup(t *testing.T, v2 bool, files map[string]string) *cgroup {
	t.Helper()
	dir := t.TempDir()
	for name, content := range files {
		err := os.WriteFile(filepath.Join(dir, name), []byte(content),
			0o600)
		if err != nil {
			t.Fatal(err)
		}
	}
	cg := &cgroup{v2: v2, dir: make(map[string]string)}
	for _, c := range controllers {
		cg.dir[c] = dir
	}

	return cg
}

func readFile(t *testing.T, path string) string {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}

	return string(data)
}

// TestLimitFiles checks what each version's files receive for a spec; the
// real v1 or v2 tests run the same code against the kernel.
func TestLimitFiles(t *testing.T) {
	spec := Spec{CPU: 1500, MemMiB: 48, Pids: 7, Wall: time.Second}
	tests := []struct {
		name  string
		v2    bool
		files map[string]string
		want  map[string]string
	}{
		{"v2", true, map[string]string{"cpu.max": "", "memory.max": "",
			"memory.swap.max": "", "pids.max": ""},
			map[string]string{"cpu.max": "150000 100000",
				"memory.max": "50331648", "memory.swap.max": "0",
				"pids.max": "9"}},
		{"v2 without swap", true, map[string]string{"cpu.max": "",
			"memory.max": "", "pids.max": ""},
			map[string]string{"cpu.max": "150000 100000",
				"memory.max": "50331648", "pids.max": "9"}},
		{"v1", false, map[string]string{"cpu.cfs_period_us": "",
			"cpu.cfs_quota_us": "", "memory.limit_in_bytes": "",
			"memory.memsw.limit_in_bytes": "",
			"memory.swappiness":           "", "pids.max": ""},
			map[string]string{"cpu.cfs_period_us": "100000",
				"cpu.cfs_quota_us":            "150000",
				"memory.limit_in_bytes":       "50331648",
				"memory.memsw.limit_in_bytes": "50331648",
				"memory.swappiness":           "0", "pids.max": "9"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			cg := fakeCgroup(t, tc.v2, tc.files)
			if err := cg.limit(spec); err != nil {
				t.Fatal(err)
			}
			for name, want := range tc.want {
				got := readFile(t, filepath.Join(cg.dir["cpu"],
					name))
				if got != want {
					t.Errorf("%s = %q, want %q", name, got,
						want)
				}
			}
		})
	}

	// A required file missing is an error, not a silent skip.
	cg := fakeCgroup(t, true, map[string]string{"cpu.max": ""})
	if err := cg.limit(spec); err == nil {
		t.Fatal("limited a cgroup without memory.max")
	}
}

// TestStatsFiles checks how each version's counters are read.
func TestStatsFiles(t *testing.T) {
	tests := []struct {
		name  string
		v2    bool
		files map[string]string
		want  stats
		mem   uint64
	}{
		{"v2", true, map[string]string{
			"cpu.stat": "usage_usec 2500000\nuser_usec 2000000\n" +
				"nr_periods 30\nnr_throttled 12\n",
			"memory.current": "1048576\n",
			"memory.peak":    "4194304\n",
			"memory.events":  "low 0\nhigh 0\nmax 5\noom 1\noom_kill 1\n",
			"pids.events":    "max 3\n",
			"pids.peak":      "6\n",
		}, stats{cpuMicros: 2500000, memPeak: 4194304, oomKills: 1,
			pidsRefused: 3, pidsPeak: 6, throttled: 12}, 1048576},
		{"v1", false, map[string]string{
			"cpuacct.usage":             "2500000999\n",
			"cpu.stat":                  "nr_periods 30\nnr_throttled 12\nthrottled_time 9\n",
			"memory.usage_in_bytes":     "1048576\n",
			"memory.max_usage_in_bytes": "4194304\n",
			"memory.oom_control":        "oom_kill_disable 0\nunder_oom 0\noom_kill 2\n",
			"pids.events":               "max 3\n",
		}, stats{cpuMicros: 2500000, memPeak: 4194304, oomKills: 2,
			pidsRefused: 3, throttled: 12}, 1048576},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			cg := fakeCgroup(t, tc.v2, tc.files)
			st, err := cg.stats()
			if err != nil {
				t.Fatal(err)
			}
			if st != tc.want {
				t.Fatalf("stats %+v, want %+v", st, tc.want)
			}
			cpu, mem, err := cg.Sample()
			if err != nil || cpu != tc.want.cpuMicros || mem != tc.mem {
				t.Fatalf("sample %d, %d, %v", cpu, mem, err)
			}
		})
	}
}

// TestDetectLeavesNothing points detection at a directory that looks like
// v1 mounts without being cgroups (no limit files appear in the parent it
// makes): it is refused and leaves no parent directory behind.
func TestDetectLeavesNothing(t *testing.T) {
	root := t.TempDir()
	for _, c := range controllers {
		if err := os.Mkdir(filepath.Join(root, c), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := detectHierarchy(root, "p"); !errors.Is(err,
		ErrUnavailable) {

		t.Fatalf("err = %v, want %v", err, ErrUnavailable)
	}
	for _, c := range controllers {
		if _, err := os.Stat(filepath.Join(root, c, "p")); !errors.Is(err,
			os.ErrNotExist) {

			t.Errorf("%s/p left: %v", c, err)
		}
	}
}
