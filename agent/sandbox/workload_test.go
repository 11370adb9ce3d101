package sandbox

import (
	"bytes"
	"crypto/sha256"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestWorkloadValidate(t *testing.T) {
	big := make([]byte, MaxWorkloadBytes)
	tests := []struct {
		name string
		w    Workload
		want error
	}{
		{"command only", Workload{Command: "true"}, nil},
		{"args and inputs", Workload{Command: "/usr/bin/cat",
			Args: []string{"in.txt", ""}, Inputs: map[string][]byte{
				"in.txt": []byte("x"), "a_b-c.1": nil}}, nil},
		{"at the cap", Workload{Command: "x",
			Inputs: map[string][]byte{"f": big[:MaxWorkloadBytes-2]}},
			nil},
		{"over the cap by one", Workload{Command: "x",
			Inputs: map[string][]byte{"f": big[:MaxWorkloadBytes-1]}},
			ErrWorkloadTooLarge},
		{"large argument", Workload{Command: "x",
			Args: []string{string(big)}}, ErrWorkloadTooLarge},
		{"too many inputs", Workload{Command: "x",
			Inputs: manyInputs(MaxInputs + 1)}, ErrWorkloadTooLarge},
		{"too many args", Workload{Command: "x",
			Args: make([]string, MaxArgs+1)}, ErrWorkloadTooLarge},
		{"no command", Workload{}, ErrBadInput},
		{"NUL in command", Workload{Command: "a\x00b"}, ErrBadInput},
		{"NUL in argument", Workload{Command: "x",
			Args: []string{"a\x00"}}, ErrBadInput},
		{"slash", inputNamed("a/b"), ErrBadInput},
		{"dot dot", inputNamed(".."), ErrBadInput},
		{"dot", inputNamed("."), ErrBadInput},
		{"hidden", inputNamed(".bashrc"), ErrBadInput},
		{"option-like", inputNamed("-rf"), ErrBadInput},
		{"empty name", inputNamed(""), ErrBadInput},
		{"space", inputNamed("a b"), ErrBadInput},
		{"newline", inputNamed("a\n"), ErrBadInput},
		{"long name", inputNamed(strings.Repeat("a", 129)),
			ErrBadInput},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.w.Validate()
			if !errors.Is(err, tc.want) || (tc.want == nil) !=
				(err == nil) {

				t.Fatalf("err = %v, want %v", err, tc.want)
			}
		})
	}
}

func inputNamed(name string) Workload {
	return Workload{Command: "x", Inputs: map[string][]byte{name: nil}}
}

func manyInputs(n int) map[string][]byte {
	in := make(map[string][]byte, n)
	for i := range n {
		in[string(rune('a'+i/26))+string(rune('a'+i%26))] = nil
	}

	return in
}

// FuzzWorkloadValidate checks that what Validate accepts is within the
// caps and names no path outside the work directory.
func FuzzWorkloadValidate(f *testing.F) {
	f.Add("cat", "in.txt", "in.txt", []byte("data"))
	f.Add("", "", "../x", []byte{})
	f.Add("sh", "-c", ".", []byte{0})
	f.Fuzz(func(t *testing.T, cmd, arg, name string, data []byte) {
		w := Workload{Command: cmd, Args: []string{arg},
			Inputs: map[string][]byte{name: data}}
		if w.Validate() != nil {
			return
		}
		if w.Size() > MaxWorkloadBytes {
			t.Fatalf("accepted %d bytes", w.Size())
		}
		if filepath.Base(name) != name || name == ".." ||
			strings.HasPrefix(name, ".") ||
			filepath.Clean("/work/"+name) != "/work/"+name {

			t.Fatalf("accepted input name %q", name)
		}
	})
}

func TestSpecValidate(t *testing.T) {
	ok := Spec{CPU: 1000, MemMiB: 64, Pids: 8, Wall: time.Minute}
	tests := []struct {
		name   string
		mutate func(*Spec)
		bad    bool
	}{
		{"ok", func(*Spec) {}, false},
		{"smallest", func(s *Spec) {
			*s = Spec{CPU: MinCPU, MemMiB: MinMemMiB, Pids: 1,
				Wall: time.Nanosecond}
		}, false},
		{"no cpu", func(s *Spec) { s.CPU = 0 }, true},
		{"cpu below a quota's minimum", func(s *Spec) { s.CPU = 9 }, true},
		{"cpu over", func(s *Spec) { s.CPU = MaxCPU + 1 }, true},
		{"no memory", func(s *Spec) { s.MemMiB = 0 }, true},
		{"memory too small", func(s *Spec) { s.MemMiB = 7 }, true},
		{"memory over", func(s *Spec) { s.MemMiB = MaxMemMiB + 1 }, true},
		{"no pids", func(s *Spec) { s.Pids = 0 }, true},
		{"pids over", func(s *Spec) { s.Pids = MaxPids + 1 }, true},
		{"no wall", func(s *Spec) { s.Wall = 0 }, true},
		{"negative wall", func(s *Spec) { s.Wall = -time.Second }, true},
		{"wall over", func(s *Spec) { s.Wall = MaxWall + 1 }, true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s := ok
			tc.mutate(&s)
			err := s.Validate()
			if tc.bad != errors.Is(err, ErrBadSpec) ||
				(!tc.bad && err != nil) {

				t.Fatalf("err = %v, want bad %v", err, tc.bad)
			}
		})
	}
}

// TestCapture checks the capped copy: the file and the hash hold exactly
// the first limit bytes, the count holds all of them.
func TestCapture(t *testing.T) {
	data := bytes.Repeat([]byte("0123456789"), 1000)
	for _, tc := range []struct {
		name  string
		limit int64
	}{
		{"under", 20000}, {"at", 10000}, {"over", 1234}, {"zero", 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "out")
			// A reader that returns odd-sized pieces.
			r := io.MultiReader(bytes.NewReader(data[:777]),
				bytes.NewReader(data[777:]))
			out, err := capture(r, path, tc.limit)
			if err != nil {
				t.Fatal(err)
			}
			want := data[:min(int64(len(data)), tc.limit)]
			got, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(got, want) {
				t.Fatalf("file holds %d bytes, want %d", len(got),
					len(want))
			}
			if out.SHA256 != sha256.Sum256(want) ||
				out.Kept != int64(len(want)) ||
				out.Written != int64(len(data)) ||
				out.Truncated != (len(want) < len(data)) {

				t.Fatalf("output %+v", out)
			}
		})
	}
}

func TestReadKey(t *testing.T) {
	path := filepath.Join(t.TempDir(), "memory.events")
	err := os.WriteFile(path, []byte("low 0\nhigh 0\nmax 12\noom 1\n"+
		"oom_kill 3\nbad x\n"), 0o600)
	if err != nil {
		t.Fatal(err)
	}
	if v, err := readKey(path, "oom_kill"); err != nil || v != 3 {
		t.Fatalf("oom_kill = %d, %v", v, err)
	}
	if _, err := readKey(path, "oom_group_kill"); !errors.Is(err, errNoKey) {
		t.Fatalf("missing key: %v", err)
	}
	if _, err := readKey(path, "bad"); err == nil {
		t.Fatal("no error for a bad value")
	}
}
