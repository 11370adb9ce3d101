package main

import (
	"bytes"
	"context"
	"encoding/hex"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/sluice-ln/sluice/daemon/lndtest"
	"github.com/sluice-ln/sluice/rpc"
	"github.com/urfave/cli"
)

// fixedInfo answers GetInfo with a fixed Info.
type fixedInfo rpc.Info

func (f fixedInfo) Info(context.Context) (rpc.Info, error) { return rpc.Info(f), nil }

// startSluiced starts an API server laid out as sluiced lays out its data
// directory: tls.cert at the top, macaroons under <network>/.
func startSluiced(t *testing.T) (dir, addr string) {
	t.Helper()
	dir = t.TempDir()
	var pub [33]byte
	pub[0] = 0x03
	pub[32] = 0xff
	srv := startServer(t, dir, rpc.Config{
		Info: fixedInfo{
			Version:   "9.9.9-test",
			Network:   "regtest",
			HubPubkey: pub,
			DBBackend: "sqlite",
			StartTime: time.Now().Add(-time.Hour),

			LeaderRole:    "follower",
			LeaderAddress: "127.0.0.1:10091",
		},
	})
	// Buyer macaroons are minted per buyer; lay one out where a buyer
	// would keep it.
	buyerMac, err := srv.BakeBuyerMacaroon("buyer-test")
	if err != nil {
		t.Fatal(err)
	}
	err = os.WriteFile(filepath.Join(dir, "regtest", "buyer.macaroon"),
		buyerMac, 0o600)
	if err != nil {
		t.Fatal(err)
	}
	return dir, srv.Addr()
}

// runSluice runs the CLI with args and returns what it printed.
func runSluice(args ...string) (string, error) {
	var out bytes.Buffer
	app := cli.NewApp()
	app.Name = "sluice"
	app.Flags = globalFlags
	app.Commands = []cli.Command{getInfoCommand}
	app.Writer = &out
	err := app.Run(append([]string{"sluice"}, args...))
	return out.String(), err
}

func TestGetInfoCommand(t *testing.T) {
	dir, addr := startSluiced(t)
	_, otherAddr := startSluiced(t) // another server, another cert

	buyer := filepath.Join(dir, "regtest", "buyer.macaroon")
	garbage := filepath.Join(t.TempDir(), "garbage.macaroon")
	if err := os.WriteFile(garbage, []byte("not a macaroon"), 0o600); err != nil {
		t.Fatal(err)
	}
	down := lndtest.FreeAddr(t)

	tests := []struct {
		name    string
		args    []string
		want    []string // substrings of the output
		wantErr string   // substring of the error; "" for success
	}{
		{
			name: "summary",
			args: []string{"--rpcserver", addr, "--sluicedir", dir,
				"getinfo"},
			want: []string{"9.9.9-test", "regtest", "03000000",
				"sqlite", "up 1h0m", "operator",
				"leader role:    follower of 127.0.0.1:10091"},
		},
		{
			name: "json before the command",
			args: []string{"--rpcserver", addr, "--sluicedir", dir,
				"--json", "getinfo"},
			want: []string{`"hub_pubkey": "0300`, `"role": "operator"`,
				`"leader_role": "follower"`,
				`"leader_address": "127.0.0.1:10091"`},
		},
		{
			name: "json after the command",
			args: []string{"--rpcserver", addr, "--sluicedir", dir,
				"getinfo", "--json"},
			want: []string{`"db_backend": "sqlite"`},
		},
		{
			name: "buyer macaroon",
			args: []string{"--rpcserver", addr, "--sluicedir", dir,
				"--macaroonpath", buyer, "getinfo"},
			want: []string{"buyer for buyer buyer-test"},
		},
		{
			name: "server down",
			args: []string{"--rpcserver", down, "--sluicedir", dir,
				"getinfo"},
			wantErr: "cannot reach sluiced at " + down,
		},
		{
			name: "certificate of another server",
			args: []string{"--rpcserver", otherAddr, "--sluicedir",
				dir, "getinfo"},
			wantErr: "is --tlscertpath the certificate",
		},
		{
			name: "garbage macaroon",
			args: []string{"--rpcserver", addr, "--sluicedir", dir,
				"--macaroonpath", garbage, "getinfo"},
			wantErr: "refused the macaroon",
		},
		{
			name: "no certificate",
			args: []string{"--rpcserver", addr, "--sluicedir",
				t.TempDir(), "getinfo"},
			wantErr: "cannot read sluiced's TLS certificate",
		},
		{
			name: "wrong network directory",
			args: []string{"--rpcserver", addr, "--sluicedir", dir,
				"--network", "mainnet", "getinfo"},
			wantErr: "cannot read the macaroon",
		},
		{
			name: "bad rpcserver",
			args: []string{"--rpcserver", "nowhere", "--sluicedir",
				dir, "getinfo"},
			wantErr: "--rpcserver",
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			out, err := runSluice(tc.args...)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(),
					tc.wantErr) {

					t.Fatalf("err %v, want one saying %q", err,
						tc.wantErr)
				}
				t.Logf("error: %v", err)
				return
			}
			if err != nil {
				t.Fatalf("getinfo: %v", err)
			}
			for _, w := range tc.want {
				if !strings.Contains(out, w) {
					t.Errorf("output lacks %q:\n%s", w, out)
				}
			}
		})
	}
}

// TestGetInfoJSONIsTheAPIsJSON checks that --json prints what the API's JSON
// holds: snake_case names and hex bytes that decode to the pubkey.
func TestGetInfoJSONIsTheAPIsJSON(t *testing.T) {
	dir, addr := startSluiced(t)
	out, err := runSluice("--rpcserver", addr, "--sluicedir", dir,
		"getinfo", "--json")
	if err != nil {
		t.Fatal(err)
	}
	var got map[string]any
	if err := json.Unmarshal([]byte(out), &got); err != nil {
		t.Fatalf("not JSON: %v\n%s", err, out)
	}
	pub, err := hex.DecodeString(got["hub_pubkey"].(string))
	if err != nil || len(pub) != 33 || pub[0] != 0x03 || pub[32] != 0xff {
		t.Errorf("hub_pubkey %v does not decode to the pubkey",
			got["hub_pubkey"])
	}
	for _, k := range []string{"version", "network", "db_backend",
		"start_time", "uptime_seconds", "role", "provider_id"} {

		if _, ok := got[k]; !ok {
			t.Errorf("JSON lacks %s: %s", k, out)
		}
	}
}

// startServer starts an API server with cfg, its listener, TLS files and
// macaroons in dir as the CLI expects them (regtest), and stops it when the
// test ends.
func startServer(t *testing.T, dir string, cfg rpc.Config) *rpc.Server {
	t.Helper()
	cfg.ListenAddr = "127.0.0.1:0"
	cfg.TLSCertPath = filepath.Join(dir, "tls.cert")
	cfg.TLSKeyPath = filepath.Join(dir, "tls.key")
	cfg.MacaroonDir = filepath.Join(dir, "regtest")
	srv, err := rpc.NewServer(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if err := srv.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(),
			5*time.Second)
		defer cancel()
		_ = srv.Stop(ctx)
	})
	return srv
}
