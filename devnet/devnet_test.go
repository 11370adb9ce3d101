package devnet

import (
	"errors"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"
)

func TestFindRepoRoot(t *testing.T) {
	tmp := t.TempDir()
	repo := filepath.Join(tmp, "repo")
	nested := filepath.Join(repo, "devnet", "tools")
	deep := filepath.Join(repo, "a", "b")
	other := filepath.Join(tmp, "other")
	for _, d := range []string{nested, deep, other} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	write := func(path, body string) {
		t.Helper()
		if err := os.WriteFile(path, []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write(filepath.Join(repo, "go.mod"), "// Sluice\nmodule "+
		ModulePath+"\n\ngo 1.26\n")
	write(filepath.Join(nested, "go.mod"), "module "+ModulePath+
		"/devnet/tools\n")
	write(filepath.Join(other, "go.mod"), "module example.com/other\n")

	tests := []struct {
		name  string
		start string
		want  string
		err   error
	}{
		{name: "root itself", start: repo, want: repo},
		{name: "below root", start: deep, want: repo},
		{name: "nested module skipped", start: nested, want: repo},
		{name: "other module", start: other, err: ErrNoRepoRoot},
		{name: "outside", start: tmp, err: ErrNoRepoRoot},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := FindRepoRoot(tc.start)
			if !errors.Is(err, tc.err) {
				t.Fatalf("error %v, want %v", err, tc.err)
			}
			if got != tc.want {
				t.Fatalf("root %q, want %q", got, tc.want)
			}
		})
	}
}

func TestBuildKey(t *testing.T) {
	base := buildKey([]byte("mod"), []byte("sum"), BuildTags, "go1.26 linux amd64")
	tests := []struct {
		name string
		key  string
		same bool
	}{
		{
			name: "same inputs",
			key: buildKey([]byte("mod"), []byte("sum"), BuildTags,
				"go1.26 linux amd64\n"),
			same: true,
		},
		{
			name: "go.mod changed",
			key: buildKey([]byte("mod2"), []byte("sum"), BuildTags,
				"go1.26 linux amd64"),
		},
		{
			name: "go.sum changed",
			key: buildKey([]byte("mod"), []byte("sum2"), BuildTags,
				"go1.26 linux amd64"),
		},
		{
			name: "bytes moved between files",
			key: buildKey([]byte("mods"), []byte("um"), BuildTags,
				"go1.26 linux amd64"),
		},
		{
			name: "tags changed",
			key: buildKey([]byte("mod"), []byte("sum"),
				[]string{"signrpc"}, "go1.26 linux amd64"),
		},
		{
			name: "toolchain changed",
			key: buildKey([]byte("mod"), []byte("sum"), BuildTags,
				"go1.27 linux amd64"),
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if (tc.key == base) != tc.same {
				t.Fatalf("key %s vs %s: same=%v, want %v", tc.key,
					base, tc.key == base, tc.same)
			}
		})
	}
}

func TestIsPackageLine(t *testing.T) {
	tests := []struct {
		line string
		want bool
	}{
		{"github.com/lightningnetwork/lnd/lnrpc", true},
		{"command-line-arguments", true},
		{"runtime", true},
		{"", false},
		{"# github.com/lightningnetwork/lnd", false},
		{"go: downloading github.com/x/y v1.0.0", false},
		{"./main.go:3:2: undefined: x", false},
	}
	for _, tc := range tests {
		if got := isPackageLine(tc.line); got != tc.want {
			t.Errorf("isPackageLine(%q) = %v, want %v", tc.line, got,
				tc.want)
		}
	}
}

func TestBinariesCheck(t *testing.T) {
	dir := t.TempDir()
	bins := Binaries{Dir: dir}
	if err := bins.Check(); !errors.Is(err, ErrBinaryMissing) {
		t.Fatalf("empty dir: error %v, want ErrBinaryMissing", err)
	}
	for _, d := range daemons {
		err := os.WriteFile(bins.Path(d.name), []byte("#!/bin/sh\n"),
			0o755)
		if err != nil {
			t.Fatal(err)
		}
	}
	if err := bins.Check(); err != nil {
		t.Fatalf("all present: %v", err)
	}
	// A binary without its execute bit does not count.
	if err := os.Chmod(bins.Path(BinTapd), 0o644); err != nil {
		t.Fatal(err)
	}
	err := bins.Check()
	if !errors.Is(err, ErrBinaryMissing) || !strings.Contains(err.Error(),
		BinTapd) {

		t.Fatalf("tapd not executable: error %v, want one naming tapd",
			err)
	}
}

func TestPickPorts(t *testing.T) {
	offs := offsets(len(lndSpecs), tapdCount(lndSpecs))
	dir := "/tmp/some/devnet"
	base := preferredBase(dir)

	tests := []struct {
		name  string
		taken func(port int) bool
		want  int
		errIs error
	}{
		{
			name:  "preferred block free",
			taken: func(int) bool { return false },
			want:  base,
		},
		{
			name: "one port taken moves to the next block",
			taken: func(p int) bool {
				return p == base+offBtcdP2P
			},
			want: nextBlock(base),
		},
		{
			name: "port outside the used offsets does not matter",
			taken: func(p int) bool {
				return p == base+blockSize-1
			},
			want: base,
		},
		{
			name:  "everything taken",
			taken: func(int) bool { return true },
			errIs: ErrNoFreePorts,
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			p, err := pickPorts(dir, offs, func(port int) bool {
				return !tc.taken(port)
			})
			if !errors.Is(err, tc.errIs) {
				t.Fatalf("error %v, want %v", err, tc.errIs)
			}
			if err == nil && p.base != tc.want {
				t.Fatalf("base %d, want %d", p.base, tc.want)
			}
		})
	}

	if base < portRangeStart || base+blockSize > 40000 ||
		(base-portRangeStart)%blockSize != 0 {

		t.Fatalf("preferred base %d not a block in range", base)
	}
	if preferredBase("/a/.devnet") == preferredBase("/b/.devnet") {
		t.Fatal("two directories share a block")
	}
}

func nextBlock(base int) int {
	next := base + blockSize
	if next >= portRangeStart+portBlocks*blockSize {
		next = portRangeStart
	}
	return next
}

func TestOffsetsUnique(t *testing.T) {
	specs := lndSpecsFor(MaxProviders)
	// The network's own, and the plan's room: a tapd on every node.
	for _, tapds := range []int{tapdCount(specs), len(specs)} {
		seen := map[int]bool{}
		for _, o := range offsets(len(specs), tapds) {
			if seen[o] {
				t.Fatalf("%d tapds: offset %d used twice",
					tapds, o)
			}
			if o < 0 || o >= blockSize {
				t.Fatalf("%d tapds: offset %d outside the "+
					"block", tapds, o)
			}
			seen[o] = true
		}
	}
}

func TestPortFree(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := l.Addr().(*net.TCPAddr).Port
	if portFree(port) {
		t.Fatalf("port %d reported free while listening", port)
	}
	l.Close()
	if !portFree(port) {
		t.Fatalf("port %d reported taken after close", port)
	}
}

func TestProfileRoundTrip(t *testing.T) {
	dir := t.TempDir()
	if _, err := LoadProfile(dir); !errors.Is(err, ErrNoProfile) {
		t.Fatalf("empty dir: error %v, want ErrNoProfile", err)
	}

	p := &Profile{
		Dir:     dir,
		Network: Network,
		Btcd:    BtcdNode{Name: NodeBtcd, RPCHost: "127.0.0.1:1"},
		Sluiced: SluicedConfig{RPCListen: "127.0.0.1:2"},
		Nodes: []LndNode{
			{Name: NodeHub, Role: RoleHub, PubKey: "02ab",
				RPCHost: "127.0.0.1:3",
				Tapd:    &TapdNode{Name: "hub-tapd"}},
			{Name: NodeProvider1, Role: RoleProvider},
			{Name: NodeProvider2, Role: RoleProvider},
			{Name: NodeBuyer, Role: RoleBuyer},
		},
	}
	if err := p.write(); err != nil {
		t.Fatal(err)
	}
	got, err := LoadProfile(dir)
	if err != nil {
		t.Fatal(err)
	}
	hub, err := got.Hub()
	if err != nil || hub.PubKey != "02ab" || hub.Tapd == nil {
		t.Fatalf("hub %+v, err %v", hub, err)
	}
	if provs := got.NodesWithRole(RoleProvider); len(provs) != 2 ||
		provs[0].Name != NodeProvider1 {

		t.Fatalf("providers %+v", provs)
	}
	if _, err := got.Node("nobody"); !errors.Is(err, ErrUnknownNode) {
		t.Fatalf("unknown node: error %v", err)
	}

	args, err := got.SluicedArgs()
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Contains(args, "--lnd.host="+hub.RPCHost) ||
		!slices.Contains(args, "--network=regtest") {

		t.Fatalf("sluiced args %v lack the hub or network", args)
	}
	if _, err := (&Profile{}).SluicedArgs(); !errors.Is(err,
		ErrUnknownNode) {

		t.Fatalf("sluiced args without a hub: error %v", err)
	}

	// A corrupt profile is an error, not ErrNoProfile.
	err = os.WriteFile(filepath.Join(dir, ProfileName), []byte("{"), 0o600)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := LoadProfile(dir); err == nil ||
		errors.Is(err, ErrNoProfile) {

		t.Fatalf("corrupt profile: error %v", err)
	}
}

func TestTailFile(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "log")
	var b strings.Builder
	for i := 1; i <= 100; i++ {
		b.WriteString("line " + strconv.Itoa(i) + "\n")
	}
	if err := os.WriteFile(path, []byte(b.String()), 0o600); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		n     int
		first string
		count int
	}{
		{n: 30, first: "line 71", count: 30},
		{n: 200, first: "line 1", count: 100},
	}
	for _, tc := range tests {
		lines, err := tailFile(path, tc.n)
		if err != nil {
			t.Fatal(err)
		}
		if len(lines) != tc.count || lines[0] != tc.first ||
			lines[len(lines)-1] != "line 100" {

			t.Fatalf("tail %d: got %d lines from %q", tc.n,
				len(lines), lines[0])
		}
	}
	if _, err := tailFile(filepath.Join(dir, "missing"), 3); err == nil {
		t.Fatal("missing file: no error")
	}
}

func TestNodeErrorShowsLogTail(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, outputLogName)
	err := os.WriteFile(path, []byte("starting\nunable to load config\n"),
		0o600)
	if err != nil {
		t.Fatal(err)
	}
	cause := errors.New("boom")
	nerr := &NodeError{Node: "hub", LogPath: path, Err: cause}
	msg := nerr.Error()
	for _, want := range []string{"node hub: boom", path,
		"unable to load config"} {

		if !strings.Contains(msg, want) {
			t.Errorf("message lacks %q:\n%s", want, msg)
		}
	}
	if !errors.Is(nerr, cause) {
		t.Error("NodeError does not unwrap to its cause")
	}
}

// TestNodeErrorKeepsTailFromFailure checks that a node error shows the log
// as it was when the failure was seen, not the shutdown lines written
// after it.
func TestNodeErrorKeepsTailFromFailure(t *testing.T) {
	dir := t.TempDir()
	p := &process{name: "provider2", dir: dir}
	err := os.WriteFile(p.logPath(), []byte("waiting for chain sync\n"),
		0o600)
	if err != nil {
		t.Fatal(err)
	}
	nerr := p.nodeErr(errors.New("not synced"))
	f, err := os.OpenFile(p.logPath(), os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.WriteString("Shutdown complete\n"); err != nil {
		t.Fatal(err)
	}
	f.Close()

	msg := nerr.Error()
	if !strings.Contains(msg, "waiting for chain sync") {
		t.Errorf("message lacks the log at the failure:\n%s", msg)
	}
	if strings.Contains(msg, "Shutdown complete") {
		t.Errorf("message shows lines written after the failure:\n%s",
			msg)
	}
}

// TestProcessLifecycle starts a real process the way Up does, and checks
// that the pid file and /proc checks recognise it, that a different marker
// or binary name does not match, and that stopPID ends it.
func TestProcessLifecycle(t *testing.T) {
	shell, err := exec.LookPath("sh")
	if err != nil {
		t.Skip("no sh")
	}
	dir := t.TempDir()
	// A copy of sh named like a daemon, so the binary name check is
	// exercised. It runs sleep as a child, so stopping it must reach the
	// whole process group.
	bin := filepath.Join(dir, "btcd")
	raw, err := os.ReadFile(shell)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(bin, raw, 0o755); err != nil {
		t.Fatal(err)
	}
	nodeDir := filepath.Join(dir, "node")
	marker := "--datadir=" + nodeDir
	p := &process{
		name: "node", dir: nodeDir, bin: bin,
		args:   []string{"-c", "sleep 60; :", "sh", marker},
		marker: marker,
	}
	if err := p.start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = p.cmd.Process.Kill() })

	pid := p.cmd.Process.Pid
	time.Sleep(50 * time.Millisecond)
	if err := p.alive(); err != nil {
		t.Fatalf("process ended early: %v", err)
	}

	tests := []struct {
		name    string
		bin     string
		marker  string
		wantPID int
	}{
		{name: "matching", bin: "btcd", marker: marker, wantPID: pid},
		{name: "other marker", bin: "btcd", marker: "--datadir=/x"},
		{name: "other binary", bin: "lnd", marker: marker},
	}
	for _, tc := range tests {
		got, err := runningPID(nodeDir, tc.bin, tc.marker)
		if err != nil {
			t.Fatalf("%s: %v", tc.name, err)
		}
		if got != tc.wantPID {
			t.Fatalf("%s: pid %d, want %d", tc.name, got, tc.wantPID)
		}
	}
	info, err := readProc(pid)
	if err != nil {
		t.Fatal(err)
	}
	if info.pgid != pid {
		t.Fatalf("pgid %d, want own group %d", info.pgid, pid)
	}

	// stopPID leaves a process that does not match alone.
	if err := stopPID(pid, "lnd", marker, time.Second); err != nil {
		t.Fatal(err)
	}
	if err := p.alive(); err != nil {
		t.Fatalf("non-matching stop killed the process: %v", err)
	}

	if err := stopPID(pid, "btcd", marker, 5*time.Second); err != nil {
		t.Fatal(err)
	}
	select {
	case <-p.exited:
	case <-time.After(5 * time.Second):
		t.Fatal("process still running after stopPID")
	}
	if got, err := runningPID(nodeDir, "btcd", marker); err != nil ||
		got != 0 {

		t.Fatalf("after stop: pid %d, err %v", got, err)
	}
}

func TestLockDir(t *testing.T) {
	dir := t.TempDir()
	unlock, err := lockDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	// flock locks belong to the open file, so a second open in the same
	// process conflicts as another command would.
	if _, err := lockDir(dir); !errors.Is(err, ErrBusy) {
		t.Fatalf("second lock: error %v, want ErrBusy", err)
	}
	unlock()
	unlock2, err := lockDir(dir)
	if err != nil {
		t.Fatalf("lock after unlock: %v", err)
	}
	unlock2()
}

func TestDownRefusesForeignDir(t *testing.T) {
	dir := t.TempDir()
	keep := filepath.Join(dir, "important")
	if err := os.WriteFile(keep, []byte("x"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := Down(dir, true); !errors.Is(err, ErrNotDevnetDir) {
		t.Fatalf("purge of foreign dir: error %v, want ErrNotDevnetDir",
			err)
	}
	if _, err := os.Stat(keep); err != nil {
		t.Fatalf("foreign file removed: %v", err)
	}
	// Without purge nothing runs and nothing is removed.
	if err := Down(dir, false); err != nil {
		t.Fatalf("down without purge: %v", err)
	}

	if err := os.WriteFile(filepath.Join(dir, markerName), nil,
		0o600); err != nil {

		t.Fatal(err)
	}
	if err := Down(dir, true); err != nil {
		t.Fatalf("purge of devnet dir: %v", err)
	}
	if _, err := os.Stat(dir); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("devnet dir still there: %v", err)
	}
	// Down on a missing directory is not an error.
	if err := Down(dir, false); err != nil {
		t.Fatalf("down on missing dir: %v", err)
	}
}

func TestUpValidatesOptions(t *testing.T) {
	dir := t.TempDir()
	bins := Binaries{Dir: t.TempDir()}
	for _, d := range daemons {
		err := os.WriteFile(bins.Path(d.name), []byte("#!/bin/sh\n"),
			0o755)
		if err != nil {
			t.Fatal(err)
		}
	}
	tests := []struct {
		name  string
		opts  Options
		field string
	}{
		{name: "no dir", opts: Options{Binaries: bins}, field: "Dir"},
		{name: "no binaries", opts: Options{Dir: dir},
			field: "Binaries"},
		{name: "negative channel", opts: Options{Dir: dir,
			Binaries: bins, ChannelSat: -1}, field: "ChannelSat"},
		{name: "fund below channel", opts: Options{Dir: dir,
			Binaries: bins, ChannelSat: 5_000_000,
			FundSat: 5_000_000}, field: "FundSat"},
		{name: "one provider", opts: Options{Dir: dir,
			Binaries: bins, Providers: 1}, field: "Providers"},
		{name: "too many providers", opts: Options{Dir: dir,
			Binaries: bins, Providers: MaxProviders + 1},
			field: "Providers"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Up(t.Context(), tc.opts)
			if err == nil || !strings.Contains(err.Error(), tc.field) {
				t.Fatalf("error %v, want one naming %s", err,
					tc.field)
			}
		})
	}
}

func TestMembersMarkersUnique(t *testing.T) {
	dir := "/x/.devnet"
	seen := map[string]bool{}
	names := map[string]bool{}
	for _, m := range members(dir) {
		if seen[m.marker] || names[m.name] {
			t.Fatalf("member %s repeats a marker or name", m.name)
		}
		seen[m.marker] = true
		names[m.name] = true
		if !strings.HasPrefix(m.dir, dir+"/") {
			t.Fatalf("member %s dir %s outside %s", m.name, m.dir,
				dir)
		}
	}
	if len(names) != 2+len(lndSpecs)+tapdCount(lndSpecs) {
		t.Fatalf("%d members", len(names))
	}
}

// TestMembersProviders checks that a network's extra providers are its
// members when their directories exist, and only then.
func TestMembersProviders(t *testing.T) {
	tests := []struct {
		name string
		dirs []string
		want int
	}{
		{name: "default network", want: DefaultProviders},
		{name: "eight providers", dirs: []string{"provider3",
			"provider8"}, want: MaxProviders},
		{name: "five providers", dirs: []string{"provider5"}, want: 5},
		{name: "beyond the most ignored", dirs: []string{"provider9"},
			want: DefaultProviders},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			for _, d := range tc.dirs {
				err := os.Mkdir(filepath.Join(dir, d), 0o700)
				if err != nil {
					t.Fatal(err)
				}
			}
			got := 0
			for _, m := range members(dir) {
				if strings.HasPrefix(m.name, "provider") &&
					!strings.HasSuffix(m.name, "-tapd") {

					got++
				}
			}
			if got != tc.want {
				t.Fatalf("%d providers, want %d", got, tc.want)
			}
		})
	}
}

func TestChannelSpecsFor(t *testing.T) {
	for _, n := range []int{DefaultProviders, 5, MaxProviders} {
		chans := channelSpecsFor(n)
		nodes := map[string]bool{}
		for _, s := range lndSpecsFor(n) {
			nodes[s.name] = true
		}
		toProviders := 0
		for _, c := range chans {
			if !nodes[c.from] || !nodes[c.to] {
				t.Fatalf("%d providers: channel %s -> %s to "+
					"an unknown node", n, c.from, c.to)
			}
			if c.from == NodeHub {
				toProviders++
			}
		}
		if toProviders != n || len(nodes) != n+2 {
			t.Fatalf("%d providers: %d hub channels, %d nodes", n,
				toProviders, len(nodes))
		}
	}
}
