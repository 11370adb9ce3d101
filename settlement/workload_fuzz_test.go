package settlement_test

import (
	"crypto/sha256"
	"errors"
	"path/filepath"
	"strings"
	"testing"

	"github.com/sluice-ln/sluice/settlement"
)

// FuzzWorkloadValidate feeds Validate workloads from the API's raw
// fields: it never panics, refuses with one of its two errors, and what
// it accepts keeps the rules the agent relies on: a command, within the
// cap, every input a file directly in the run's directory.
func FuzzWorkloadValidate(f *testing.F) {
	f.Add("sh\x00-c\x00echo hi", "run.sh", []byte("echo"), "data", 10)
	f.Add("", "", []byte{}, "..", 0)
	f.Add("cat", "../etc/passwd", []byte{1}, "/abs", 70000)
	f.Fuzz(func(t *testing.T, argv, name1 string, content []byte,
		name2 string, pad int) {

		if pad < 0 || pad > 2*settlement.MaxWorkloadBytes {
			pad = 0
		}
		w := settlement.Workload{Inputs: map[string][]byte{
			name1: content, name2: make([]byte, pad),
		}}
		if argv != "" {
			w.Argv = strings.Split(argv, "\x00")
		}
		err := w.Validate()
		if err != nil {
			if !errors.Is(err, settlement.ErrInvalidWorkload) &&
				!errors.Is(err, settlement.ErrWorkloadTooLarge) {

				t.Fatalf("unexpected error %v", err)
			}
			return
		}
		if len(w.Argv) == 0 || w.Size() > settlement.MaxWorkloadBytes {
			t.Fatalf("accepted %d args, %d bytes", len(w.Argv),
				w.Size())
		}
		for name := range w.Inputs {
			if filepath.Base(name) != name || name == "." ||
				name == ".." || filepath.IsAbs(name) {

				t.Fatalf("accepted input name %q", name)
			}
		}
	})
}

// FuzzResultValidate checks that an accepted result's hash is its
// output's unless it says it is truncated, and that its output is within
// the cap.
func FuzzResultValidate(f *testing.F) {
	f.Add(0, "", "", []byte("hi\n"), false, true)
	f.Add(-1, "SIGKILL", "ended", []byte{}, true, false)
	f.Fuzz(func(t *testing.T, code int, signal, reason string,
		output []byte, truncated, rightHash bool) {

		r := settlement.Result{ExitCode: code, Signal: signal,
			Reason: reason, Output: output, Truncated: truncated}
		if rightHash {
			r.OutputSHA256 = sha256.Sum256(output)
		}
		err := r.Validate()
		if err != nil {
			if !errors.Is(err, settlement.ErrInvalidResult) &&
				!errors.Is(err, settlement.ErrOutputTooLarge) {

				t.Fatalf("unexpected error %v", err)
			}
			return
		}
		if !truncated && r.OutputSHA256 != sha256.Sum256(output) ||
			len(output) > settlement.MaxOutputBytes ||
			code < -1 || code > 255 {

			t.Fatalf("accepted %+v", r)
		}
	})
}
