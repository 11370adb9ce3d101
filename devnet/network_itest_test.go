//go:build itest

package devnet

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/lightningnetwork/lnd/lnrpc"
)

// testBinaries returns the daemons from $SLUICE_DEVNET_BINDIR or builds
// them (about 7 minutes from a cold Go cache).
func testBinaries(t *testing.T) Binaries {
	t.Helper()
	wd, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	root, err := FindRepoRoot(wd)
	if err != nil {
		t.Fatal(err)
	}
	bins, err := FindBinaries(t.Context(), BuildOptions{
		RepoRoot: root,
		Out:      testWriter{t},
	})
	if err != nil {
		t.Fatal(err)
	}
	return bins
}

// testWriter sends progress lines to the test log.
type testWriter struct{ t *testing.T }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimRight(string(p), "\n"))
	return len(p), nil
}

// processesUnder returns the live (non-zombie) processes whose command line
// mentions dir: any process of the network, whatever its pid file says.
func processesUnder(t *testing.T, dir string) []string {
	t.Helper()
	entries, err := os.ReadDir("/proc")
	if err != nil {
		t.Fatal(err)
	}
	var found []string
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil || pid == os.Getpid() {
			continue
		}
		info, err := readProc(pid)
		if err != nil || info.zombie {
			continue
		}
		cmd := strings.Join(info.cmdline, " ")
		if strings.Contains(cmd, dir+string(filepath.Separator)) {
			found = append(found, fmt.Sprintf("%d %s", pid, cmd))
		}
	}
	return found
}

// TestUpDown brings a network up, checks that it works and that a second
// Up is refused, brings it down, and checks that no process of it is left.
func TestUpDown(t *testing.T) {
	bins := testBinaries(t)
	dir := t.TempDir()
	t.Cleanup(func() {
		if err := Down(dir, false); err != nil {
			t.Errorf("cleanup down: %v", err)
		}
	})

	ctx, cancel := context.WithTimeout(t.Context(), 5*time.Minute)
	defer cancel()
	prof, err := Up(ctx, Options{Dir: dir, Binaries: bins,
		Out: testWriter{t}})
	if err != nil {
		t.Fatalf("up: %v", err)
	}

	loaded, err := LoadProfile(dir)
	if err != nil {
		t.Fatal(err)
	}
	hub, err := loaded.Hub()
	if err != nil {
		t.Fatal(err)
	}
	if hub.PubKey == "" || hub.PubKey != prof.Nodes[0].PubKey {
		t.Fatalf("profile hub pubkey %q, Up returned %q", hub.PubKey,
			prof.Nodes[0].PubKey)
	}
	if _, err := os.Stat(loaded.Sluiced.ConfigPath); err != nil {
		t.Fatalf("sluice.conf not written: %v", err)
	}
	if hub.Tapd == nil || len(loaded.NodesWithRole(RoleProvider)) != 2 {
		t.Fatalf("profile lacks the hub tapd or a provider: %+v",
			loaded)
	}

	// The profile's paths work for a client.
	conn, err := hub.Dial()
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	info, err := lnrpc.NewLightningClient(conn).GetInfo(
		ctx, &lnrpc.GetInfoRequest{},
	)
	if err != nil {
		t.Fatalf("hub getinfo: %v", err)
	}
	if info.IdentityPubkey != hub.PubKey || info.NumActiveChannels != 3 {
		t.Fatalf("hub getinfo: pubkey %s, %d active channels",
			info.IdentityPubkey, info.NumActiveChannels)
	}
	before := info.BlockHeight
	if _, err := loaded.MineBlocks(ctx, 2); err != nil {
		t.Fatalf("mine: %v", err)
	}
	c, err := loaded.Chain()
	if err != nil {
		t.Fatal(err)
	}
	height, err := c.Height()
	c.Close()
	if err != nil || height != int64(before)+2 {
		t.Fatalf("height %d after mining 2 on %d (err %v)", height,
			before, err)
	}

	st, err := Status(dir)
	if err != nil {
		t.Fatal(err)
	}
	if !st.Running || st.Profile == nil {
		t.Fatalf("status after up: %+v", st)
	}
	pids := map[string]int{}
	for _, p := range st.Processes {
		pids[p.Name] = p.PID
	}

	// A second Up in the same directory is refused and changes nothing.
	_, err = Up(ctx, Options{Dir: dir, Binaries: bins})
	if !errors.Is(err, ErrRunning) {
		t.Fatalf("second up: error %v, want ErrRunning", err)
	}
	st, err = Status(dir)
	if err != nil || !st.Running {
		t.Fatalf("status after refused up: %+v, %v", st, err)
	}

	var out bytes.Buffer
	if err := DownVerbose(dir, false, &out); err != nil {
		t.Fatalf("down: %v", err)
	}
	t.Logf("down:\n%s", out.String())

	for name, pid := range pids {
		if info, err := readProc(pid); err == nil && !info.zombie {
			t.Errorf("%s (pid %d) still running after down: %v",
				name, pid, info.cmdline)
		}
	}
	if left := processesUnder(t, dir); len(left) > 0 {
		t.Errorf("processes of the network left after down:\n%s",
			strings.Join(left, "\n"))
	}
	st, err = Status(dir)
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range st.Processes {
		if p.Running {
			t.Errorf("status after down: %s running", p.Name)
		}
	}
	// The logs stay until purge.
	if _, err := os.Stat(hub.LogPath); err != nil {
		t.Errorf("hub log gone after down: %v", err)
	}
	if err := Down(dir, true); err != nil {
		t.Fatalf("purge: %v", err)
	}
	if _, err := os.Stat(dir); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("dir after purge: %v", err)
	}
}

// TestUpFailureNamesNode gives the network an lnd that dies at start: Up
// must fail with a NodeError naming an lnd node and showing its log, stop
// btcd, and leave the logs on disk.
func TestUpFailureNamesNode(t *testing.T) {
	real := testBinaries(t)
	bins := Binaries{Dir: t.TempDir()}
	for _, d := range daemons {
		err := os.Symlink(real.Path(d.name), bins.Path(d.name))
		if err != nil {
			t.Fatal(err)
		}
	}
	if err := os.Remove(bins.Path(BinLnd)); err != nil {
		t.Fatal(err)
	}
	script := "#!/bin/sh\necho 'lnd: simulated start-up failure' >&2\nexit 3\n"
	if err := os.WriteFile(bins.Path(BinLnd), []byte(script),
		0o755); err != nil {

		t.Fatal(err)
	}

	dir := t.TempDir()
	t.Cleanup(func() { _ = Down(dir, false) })
	_, err := Up(t.Context(), Options{Dir: dir, Binaries: bins,
		Out: testWriter{t}, StartTimeout: 30 * time.Second})

	var nerr *NodeError
	if !errors.As(err, &nerr) {
		t.Fatalf("error %v, want a NodeError", err)
	}
	isLnd := false
	for _, s := range lndSpecs {
		isLnd = isLnd || s.name == nerr.Node
	}
	if !isLnd {
		t.Fatalf("failing node %q is not an lnd node", nerr.Node)
	}
	if !errors.Is(err, ErrExited) ||
		!strings.Contains(err.Error(), "simulated start-up failure") {

		t.Fatalf("error does not show the exit and the log:\n%v", err)
	}
	if _, err := os.Stat(nerr.LogPath); err != nil {
		t.Fatalf("log removed: %v", err)
	}
	if left := processesUnder(t, dir); len(left) > 0 {
		t.Fatalf("processes left after failed up:\n%s",
			strings.Join(left, "\n"))
	}
}

// TestTwoNetworksSideBySide brings two networks up at once in two
// directories: they get disjoint ports, each answers on its own, and
// stopping one leaves the other running.
func TestTwoNetworksSideBySide(t *testing.T) {
	bins := testBinaries(t)
	dirs := []string{t.TempDir(), t.TempDir()}
	for _, dir := range dirs {
		t.Cleanup(func() { _ = Down(dir, false) })
	}

	ctx, cancel := context.WithTimeout(t.Context(), 5*time.Minute)
	defer cancel()
	profs := make([]*Profile, len(dirs))
	errs := make([]error, len(dirs))
	done := make(chan int)
	for i, dir := range dirs {
		go func() {
			profs[i], errs[i] = Up(ctx, Options{Dir: dir,
				Binaries: bins})
			done <- i
		}()
	}
	for range dirs {
		<-done
	}
	for i, err := range errs {
		if err != nil {
			t.Fatalf("up %s: %v", dirs[i], err)
		}
	}
	a, b := profs[0].PortBase, profs[1].PortBase
	if a == b || (a < b && a+blockSize > b) || (b < a && b+blockSize > a) {
		t.Fatalf("port blocks overlap: %d and %d", a, b)
	}

	hubKey := func(p *Profile) string {
		t.Helper()
		hub, err := p.Hub()
		if err != nil {
			t.Fatal(err)
		}
		conn, err := hub.Dial()
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close()
		info, err := lnrpc.NewLightningClient(conn).GetInfo(
			ctx, &lnrpc.GetInfoRequest{},
		)
		if err != nil {
			t.Fatalf("hub of %s: %v", p.Dir, err)
		}
		return info.IdentityPubkey
	}
	if hubKey(profs[0]) == hubKey(profs[1]) {
		t.Fatal("both profiles reach the same hub")
	}

	if err := Down(dirs[0], false); err != nil {
		t.Fatal(err)
	}
	if left := processesUnder(t, dirs[0]); len(left) > 0 {
		t.Fatalf("first network left processes:\n%s",
			strings.Join(left, "\n"))
	}
	st, err := Status(dirs[1])
	if err != nil || !st.Running {
		t.Fatalf("second network after the first went down: %+v, %v",
			st, err)
	}
	hubKey(profs[1])
}
