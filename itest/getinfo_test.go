//go:build itest

package itest

import (
	"encoding/hex"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/sluice-ln/sluice/devnet"
)

// TestSluicedGetInfo: sluiced started against the hub with the generated
// conf answers `sluice getinfo` with the hub's pubkey, regtest and the
// embedded store; it survives a clean restart and a kill -9 on the same
// data directory, and the CLI refuses to talk without a macaroon.
func TestSluicedGetInfo(t *testing.T) {
	net := newNetwork(t)
	hub := net.lnd(devnet.NodeHub)

	s := net.newSluiced()
	s.start()
	checkInfo := func(when string) {
		t.Helper()
		info, err := s.getInfo()
		if err != nil {
			t.Fatalf("%s: %v", when, err)
		}
		if got := hex.EncodeToString(info.HubPubkey); got != hub.PubKey {
			t.Fatalf("%s: hub pubkey %s, want %s", when, got,
				hub.PubKey)
		}
		if info.Network != devnet.Network {
			t.Fatalf("%s: network %q, want %q", when, info.Network,
				devnet.Network)
		}
		if info.DbBackend != "sqlite" {
			t.Fatalf("%s: db backend %q, want sqlite", when,
				info.DbBackend)
		}
		if info.Role != "operator" {
			t.Fatalf("%s: macaroon role %q, want operator", when,
				info.Role)
		}
	}
	checkInfo("first start")

	// The text output names the same hub.
	out, err := s.cli("getinfo")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out, hub.PubKey) || !strings.Contains(out,
		"regtest") {

		t.Fatalf("getinfo text lacks the hub pubkey or network:\n%s",
			out)
	}

	// Its data lives where the profile said: SQLite in the data dir.
	db := filepath.Join(s.dir, devnet.Network, "sluice.db")
	if _, err := os.Stat(db); err != nil {
		t.Fatalf("no SQLite store in the data dir: %v", err)
	}

	// Without a macaroon the CLI gets nowhere.
	_, err = s.cli("--macaroonpath="+filepath.Join(t.TempDir(), "none"),
		"getinfo")
	if err == nil {
		t.Fatal("getinfo without a macaroon succeeded")
	}

	s.restart()
	checkInfo("after a clean restart")

	s.kill()
	if _, err := s.getInfo(); err == nil {
		t.Fatal("getinfo answered after sluiced was killed")
	}
	s.start()
	checkInfo("after kill -9 and start")
	s.stop()
}
