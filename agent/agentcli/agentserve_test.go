package agentcli

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"connectrpc.com/connect"
)

func TestParseMemTotal(t *testing.T) {
	t.Parallel()
	cases := []struct {
		in   string
		want uint64
		err  string
	}{
		{"MemTotal:       16318220 kB\nMemFree: 1 kB\n", 15935, ""},
		{"MemFree: 1 kB\nMemTotal: 2048 kB\n", 2, ""},
		{"MemFree: 1 kB\n", 0, "no MemTotal"},
		{"MemTotal: 12 MB\n", 0, "not"},
		{"MemTotal: x kB\n", 0, "invalid syntax"},
	}
	for _, tc := range cases {
		got, err := parseMemTotal(strings.NewReader(tc.in))
		if tc.err != "" {
			if err == nil || !strings.Contains(err.Error(), tc.err) {
				t.Errorf("%q: %v, want %q", tc.in, err, tc.err)
			}
			continue
		}
		if err != nil || got != tc.want {
			t.Errorf("%q: %d, %v, want %d", tc.in, got, err, tc.want)
		}
	}
	// This machine's own.
	m, err := readMachine("/proc/meminfo")
	if err != nil || m.cores < 1 || m.memMiB == 0 {
		t.Fatalf("this machine: %+v, %v", m, err)
	}
}

func TestOfferFor(t *testing.T) {
	t.Parallel()
	m := machine{cores: 2, memMiB: 4096}
	cases := []struct {
		name     string
		set      bool
		cores    float64
		mem      uint64
		slots    uint
		cpu, got uint64
		err      string
	}{
		{"all of it", false, 0, 0, 1, 2000, 4096, ""},
		{"less", true, 1.5, 1024, 2, 1500, 1024, ""},
		{"more cores than it has", true, 3, 0, 1, 0, 0, "--cores"},
		{"no cores", true, 0, 0, 1, 0, 0, "--cores"},
		{"more memory than it has", false, 0, 8192, 1, 0, 0, "--mem"},
		{"no slots", false, 0, 0, 0, 0, 0, "--slots"},
		{"a sliver of a core", true, 0.05, 0, 1, 0, 0, "invalid offer"},
	}
	for _, tc := range cases {
		o, err := offerFor(m, tc.set, tc.cores, tc.mem, tc.slots, "v")
		if tc.err != "" {
			if err == nil || !strings.Contains(err.Error(), tc.err) {
				t.Errorf("%s: %v, want %q", tc.name, err, tc.err)
			}
			continue
		}
		if err != nil || o.CpuCoreMs != tc.cpu || o.MemMib != tc.got ||
			o.Slots != uint32(tc.slots) {

			t.Errorf("%s: %+v, %v", tc.name, o, err)
		}
	}
}

// TestHeartbeatLoop checks the loop's rules: the first beat's error ends
// it, a later transient one is retried, a later permanent one ends it, and
// the context's end is a clean stop.
func TestHeartbeatLoop(t *testing.T) {
	t.Parallel()
	transient := connect.NewError(connect.CodeUnavailable,
		errors.New("down"))
	notLinked := connect.NewError(connect.CodeFailedPrecondition,
		errors.New("not linked"))
	cases := []struct {
		name    string
		errs    []error // the beats' answers in turn; then cancel
		want    error
		retried int
	}{
		{"first fails", []error{notLinked}, notLinked, 0},
		{"first transient fails too", []error{transient}, transient, 0},
		{"transient later", []error{nil, transient, transient, nil}, nil,
			2},
		{"permanent later", []error{nil, transient, notLinked, nil},
			notLinked, 1},
	}
	for _, tc := range cases {
		ctx, cancel := context.WithCancel(context.Background())
		calls, retried := 0, 0
		beat := func(context.Context) error {
			if calls == len(tc.errs)-1 {
				cancel()
			}
			err := tc.errs[min(calls, len(tc.errs)-1)]
			calls++
			return err
		}
		err := heartbeatLoop(ctx, beat, time.Millisecond,
			func(error) { retried++ })
		cancel()
		if !errors.Is(err, tc.want) || retried != tc.retried {
			t.Errorf("%s: %v after %d retries, want %v after %d",
				tc.name, err, retried, tc.want, tc.retried)
		}
	}
}
