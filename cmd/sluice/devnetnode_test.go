package main

import (
	"encoding/json"
	"errors"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/sluice-ln/sluice/devnet"
	"github.com/urfave/cli"
)

// writeTestProfile writes a local network's profile, with a hub (and its
// tapd), a provider without a tapd and one with, into a new directory.
func writeTestProfile(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	prof := devnet.Profile{
		Dir:     dir,
		Network: "regtest",
		Nodes: []devnet.LndNode{
			{Name: devnet.NodeHub, Role: devnet.RoleHub,
				RPCHost: "127.0.0.1:1", Tapd: &devnet.TapdNode{
					RPCHost: "127.0.0.1:2"}},
			{Name: "provider1", Role: devnet.RoleProvider,
				RPCHost: "127.0.0.1:3", TLSCertPath: "p1.cert",
				AdminMacaroonPath: "p1.macaroon"},
			{Name: "provider2", Role: devnet.RoleProvider,
				RPCHost: "127.0.0.1:4", Tapd: &devnet.TapdNode{
					RPCHost: "127.0.0.1:5", TLSCertPath: "t2.cert",
					AdminMacaroonPath: "t2.macaroon"}},
		},
		Sluiced: devnet.SluicedConfig{Dir: "/sluiced",
			RPCListen: "127.0.0.1:6"},
	}
	raw, err := json.Marshal(prof)
	if err != nil {
		t.Fatal(err)
	}
	err = os.WriteFile(filepath.Join(dir, devnet.ProfileName), raw, 0o600)
	if err != nil {
		t.Fatal(err)
	}
	return dir
}

// devnetContext is a command's context with --devnet dir and --node node
// (none when empty), under global flags --rpcserver (set when rpcserver is
// not empty) and --sluicedir.
func devnetContext(t *testing.T, dir, node, rpcserver string) *cli.Context {
	t.Helper()
	global := flag.NewFlagSet("global", flag.ContinueOnError)
	global.String("rpcserver", "", "")
	global.String("sluicedir", "", "")
	global.String("network", "regtest", "")
	if rpcserver != "" {
		if err := global.Set("rpcserver", rpcserver); err != nil {
			t.Fatal(err)
		}
	}
	set := flag.NewFlagSet("cmd", flag.ContinueOnError)
	for _, name := range []string{"devnet", "node", "lnd.host",
		"lnd.tlspath", "lnd.macaroonpath", "tapd.host", "tapd.tlspath",
		"tapd.macaroonpath", "universe"} {

		set.String(name, "", "")
	}
	if err := set.Set("devnet", dir); err != nil {
		t.Fatal(err)
	}
	if node != "" {
		if err := set.Set("node", node); err != nil {
			t.Fatal(err)
		}
	}
	app := cli.NewApp()
	return cli.NewContext(app, set, cli.NewContext(app, global, nil))
}

// TestDevnetProvider checks that --devnet and --node name a provider of the
// local network, and that the node's lnd and tapd and the network's
// sluiced become the defaults.
func TestDevnetProvider(t *testing.T) {
	dir := writeTestProfile(t)

	bad := []struct {
		name, dir, node string
		want            string
	}{
		{"no node", dir, "", "--devnet needs --node"},
		{"unknown node", dir, "provider9", "--node: "},
		{"the hub", dir, devnet.NodeHub, "is the network's hub, not " +
			"a provider"},
		{"no profile", t.TempDir(), "provider1", "sluice devnet up"},
	}
	for _, tc := range bad {
		_, _, err := devnetProvider(devnetContext(t, tc.dir, tc.node,
			""), tc.dir)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: %v, want %q", tc.name, err, tc.want)
		}
	}
	_, _, err := devnetProvider(devnetContext(t, dir, "provider9", ""),
		dir)
	if !errors.Is(err, devnet.ErrUnknownNode) {
		t.Errorf("unknown node: %v, want ErrUnknownNode", err)
	}

	c := devnetContext(t, dir, "provider1", "")
	lnd, err := resolveLnd(c)
	if err != nil {
		t.Fatal(err)
	}
	want := lndFlags{host: "127.0.0.1:3", tlsPath: "p1.cert",
		macaroonPath: "p1.macaroon"}
	if lnd != want {
		t.Errorf("lnd flags %+v, want %+v", lnd, want)
	}
	if got := c.GlobalString("rpcserver"); got != "127.0.0.1:6" {
		t.Errorf("--rpcserver %q, want the network's sluiced", got)
	}
	if got := c.GlobalString("sluicedir"); got != "/sluiced" {
		t.Errorf("--sluicedir %q, want the network's sluiced", got)
	}
	_, err = resolveTapd(devnetContext(t, dir, "provider1", ""))
	if err == nil || !strings.Contains(err.Error(), "runs no tapd") {
		t.Errorf("provider without tapd: %v", err)
	}

	// A given --rpcserver stands.
	c = devnetContext(t, dir, "provider2", "127.0.0.1:7")
	tapd, err := resolveTapd(c)
	if err != nil {
		t.Fatal(err)
	}
	wantTapd := tapdFlags{host: "127.0.0.1:5", tlsPath: "t2.cert",
		macaroonPath: "t2.macaroon", universe: "127.0.0.1:2"}
	if tapd != wantTapd {
		t.Errorf("tapd flags %+v, want %+v", tapd, wantTapd)
	}
	if got := c.GlobalString("rpcserver"); got != "127.0.0.1:7" {
		t.Errorf("--rpcserver %q, want the one given", got)
	}
}
