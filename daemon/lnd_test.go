package daemon

import (
	"context"
	"errors"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/lightningnetwork/lnd/lnrpc"
	"github.com/lightningnetwork/lnd/lnrpc/verrpc"
	"github.com/sluice-ln/sluice/daemon/lndtest"
)

// silentAddr returns a 127.0.0.1 address that accepts TCP connections and
// never says a word, like a hung lnd.
func silentAddr(t *testing.T) string {
	t.Helper()

	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	t.Cleanup(func() {
		close(done)
		_ = ln.Close()
	})
	go func() {
		var conns []net.Conn
		defer func() {
			for _, c := range conns {
				_ = c.Close()
			}
		}()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			conns = append(conns, c)
			select {
			case <-done:
				return
			default:
			}
		}
	}()

	return ln.Addr().String()
}

// lndCfg is an LndConfig for a fake lnd, with short timeouts.
func lndCfg(fake *lndtest.Server) *LndConfig {
	return &LndConfig{
		Host:         fake.Host,
		TLSPath:      fake.TLSCertPath,
		MacaroonPath: fake.MacaroonPath,
		DialTimeout:  2 * time.Second,
		RPCTimeout:   3 * time.Second,
	}
}

// TestConnectLnd checks that ConnectLnd accepts a healthy lnd and refuses
// each kind of unusable one with its own error naming the host.
func TestConnectLnd(t *testing.T) {
	oldVersion := lndtest.DefaultVersion()
	oldVersion.Version, oldVersion.AppMinor = "0.20.1-beta", 20
	oldVersion.AppPatch = 1

	newerVersion := lndtest.DefaultVersion()
	newerVersion.Version, newerVersion.AppMinor = "0.22.0-beta", 22

	// lnd release builds: routerrpc is always compiled in and not
	// listed among the tags.
	releaseTags := lndtest.DefaultVersion()
	releaseTags.BuildTags = []string{
		"autopilotrpc", "signrpc", "walletrpc", "chainrpc",
		"invoicesrpc", "watchtowerrpc", "neutrinorpc", "monitoring",
		"peersrpc", "kvdb_postgres", "kvdb_etcd", "kvdb_sqlite",
	}

	noChainrpc := lndtest.DefaultVersion()
	noChainrpc.BuildTags = []string{"signrpc", "walletrpc", "routerrpc"}

	tests := []struct {
		name    string
		opts    lndtest.Options
		network string
		// edit changes the config after it points at the fake.
		edit    func(t *testing.T, cfg *LndConfig)
		wantErr error
		// want are fragments the error must contain besides the host.
		want []string
	}{{
		name: "healthy",
	}, {
		name: "newer lnd",
		opts: lndtest.Options{Version: newerVersion},
	}, {
		name: "release build tags",
		opts: lndtest.Options{Version: releaseTags},
	}, {
		name: "macaroon directory",
		edit: func(t *testing.T, cfg *LndConfig) {
			cfg.MacaroonPath = filepath.Dir(cfg.MacaroonPath)
		},
	}, {
		name: "nothing listens",
		edit: func(t *testing.T, cfg *LndConfig) {
			cfg.Host = lndtest.FreeAddr(t)
		},
		wantErr: ErrLndUnreachable,
		want:    []string{"--lnd.host", "refused"},
	}, {
		name: "silent host",
		edit: func(t *testing.T, cfg *LndConfig) {
			cfg.Host = silentAddr(t)
			cfg.DialTimeout = time.Second
			cfg.RPCTimeout = time.Second
		},
		wantErr: ErrLndUnreachable,
	}, {
		name:    "wallet locked",
		opts:    lndtest.Options{WalletState: lnrpc.WalletState_LOCKED},
		wantErr: ErrLndLocked,
		want:    []string{"unlock"},
	}, {
		name:    "no wallet",
		opts:    lndtest.Options{NoWallet: true},
		wantErr: ErrLndNoWallet,
		want:    []string{"create"},
	}, {
		name: "waiting to start",
		opts: lndtest.Options{
			WalletState: lnrpc.WalletState_WAITING_TO_START,
		},
		wantErr: ErrLndStarting,
	}, {
		name: "rpc server starting",
		opts: lndtest.Options{
			WalletState: lnrpc.WalletState_UNLOCKED,
		},
		wantErr: ErrLndStarting,
	}, {
		name:    "wrong network",
		opts:    lndtest.Options{Network: "testnet"},
		wantErr: ErrLndWrongNetwork,
		want:    []string{"testnet", "regtest", "--network"},
	}, {
		name:    "old version",
		opts:    lndtest.Options{Version: oldVersion},
		wantErr: ErrLndVersion,
		want:    []string{"0.20.1", "0.21.0"},
	}, {
		name:    "no version service",
		opts:    lndtest.Options{VersionUnimplemented: true},
		wantErr: ErrLndVersion,
	}, {
		name:    "missing sub-servers",
		opts:    lndtest.Options{Version: noChainrpc},
		wantErr: ErrLndSubServers,
		want:    []string{"chainrpc, invoicesrpc", "tags="},
	}, {
		name: "missing TLS certificate",
		edit: func(t *testing.T, cfg *LndConfig) {
			cfg.TLSPath = filepath.Join(t.TempDir(), "tls.cert")
		},
		wantErr: ErrLndTLS,
		want:    []string{"--lnd.tlspath"},
	}, {
		name: "another lnd's TLS certificate",
		edit: func(t *testing.T, cfg *LndConfig) {
			other := lndtest.Start(t, lndtest.Options{})
			cfg.TLSPath = other.TLSCertPath
		},
		wantErr: ErrLndTLS,
		want:    []string{"--lnd.tlspath"},
	}, {
		name: "missing macaroon",
		edit: func(t *testing.T, cfg *LndConfig) {
			cfg.MacaroonPath = filepath.Join(t.TempDir(),
				"admin.macaroon")
		},
		wantErr: ErrLndMacaroon,
		want:    []string{"--lnd.macaroonpath"},
	}, {
		name: "macaroon directory without admin.macaroon",
		edit: func(t *testing.T, cfg *LndConfig) {
			cfg.MacaroonPath = t.TempDir()
		},
		wantErr: ErrLndMacaroon,
		want:    []string{"--lnd.macaroonpath", "admin.macaroon"},
	}, {
		name:    "macaroon refused",
		opts:    lndtest.Options{RefuseMacaroon: true},
		wantErr: ErrLndMacaroon,
		want:    []string{"--lnd.macaroonpath"},
	}}

	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			fake := lndtest.Start(t, tc.opts)
			cfg := lndCfg(fake)
			if tc.edit != nil {
				tc.edit(t, cfg)
			}
			network := tc.network
			if network == "" {
				network = "regtest"
			}

			start := time.Now()
			services, err := ConnectLnd(
				context.Background(), cfg, network,
			)
			elapsed := time.Since(start)
			if limit := cfg.DialTimeout + cfg.RPCTimeout +
				time.Second; elapsed > limit {

				t.Errorf("ConnectLnd took %v, want under %v",
					elapsed, limit)
			}

			if tc.wantErr == nil {
				if err != nil {
					t.Fatalf("ConnectLnd: %v", err)
				}
				defer services.Close()
				if services.NodePubkey != fake.Pubkey {
					t.Errorf("NodePubkey = %x, want %x",
						services.NodePubkey, fake.Pubkey)
				}
				return
			}

			if err == nil {
				services.Close()
				t.Fatalf("ConnectLnd succeeded, want %v",
					tc.wantErr)
			}
			t.Logf("error: %v", err)
			if !errors.Is(err, tc.wantErr) {
				t.Errorf("error %q is not %q", err, tc.wantErr)
			}
			for _, w := range append(tc.want, cfg.Host) {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not mention %q",
						err, w)
				}
			}
		})
	}
}

// TestConnectLndCancel checks that cancelling the context aborts a
// connection attempt to a hung lnd well before the timeouts.
func TestConnectLndCancel(t *testing.T) {
	cfg := &LndConfig{
		Host:         silentAddr(t),
		DialTimeout:  time.Minute,
		RPCTimeout:   time.Minute,
		TLSPath:      filepath.Join(t.TempDir(), "tls.cert"),
		MacaroonPath: filepath.Join(t.TempDir(), "admin.macaroon"),
	}
	// The files must exist so that ConnectLnd reaches lnd.
	fake := lndtest.Start(t, lndtest.Options{})
	cfg.TLSPath, cfg.MacaroonPath = fake.TLSCertPath, fake.MacaroonPath

	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()

	start := time.Now()
	_, err := ConnectLnd(ctx, cfg, "regtest")
	if err == nil {
		t.Fatal("ConnectLnd to a silent host succeeded")
	}
	if elapsed := time.Since(start); elapsed > 5*time.Second {
		t.Errorf("ConnectLnd took %v after its context ended", elapsed)
	}
	if !strings.Contains(err.Error(), cfg.Host) {
		t.Errorf("error %q does not name the host %s", err, cfg.Host)
	}
}

// TestCheckLndVersion checks the version and build-tag rules alone.
func TestCheckLndVersion(t *testing.T) {
	tags := RequiredLndBuildTags
	tests := []struct {
		name    string
		v       *verrpc.Version
		wantErr error
	}{
		{"nil", nil, ErrLndVersion},
		{"exact", &verrpc.Version{AppMinor: 21, BuildTags: tags}, nil},
		{"patch newer", &verrpc.Version{AppMinor: 21, AppPatch: 3,
			BuildTags: tags}, nil},
		{"major newer", &verrpc.Version{AppMajor: 1, BuildTags: tags},
			nil},
		{"minor older", &verrpc.Version{AppMinor: 20, AppPatch: 9,
			BuildTags: tags}, ErrLndVersion},
		{"no tags", &verrpc.Version{AppMinor: 21}, ErrLndSubServers},
		{"one tag missing", &verrpc.Version{AppMinor: 21,
			BuildTags: tags[1:]}, ErrLndSubServers},
	}
	for _, tc := range tests {
		err := checkLndVersion(tc.v)
		if !errors.Is(err, tc.wantErr) || (err == nil) != (tc.wantErr == nil) {
			t.Errorf("%s: checkLndVersion = %v, want %v", tc.name,
				err, tc.wantErr)
		}
	}
}

// TestAdminMacaroonPathUnreadable checks that an unreadable macaroon file
// is refused before lnd is asked.
func TestAdminMacaroonPathUnreadable(t *testing.T) {
	if os.Geteuid() == 0 {
		t.Skip("root reads files whatever their mode")
	}
	path := filepath.Join(t.TempDir(), "admin.macaroon")
	if err := os.WriteFile(path, []byte("mac"), 0o000); err != nil {
		t.Fatal(err)
	}
	if _, err := adminMacaroonPath(path); err == nil {
		t.Errorf("adminMacaroonPath(%s) = nil error for mode 0000",
			path)
	}
}
