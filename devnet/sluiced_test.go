package devnet

import (
	"errors"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/sluice-ln/sluice/daemon"
)

// sluicedProfile is a profile with every field SluicedConf reads.
func sluicedProfile(dir string) *Profile {
	return &Profile{
		Dir:     dir,
		Network: Network,
		Nodes: []LndNode{{
			Name:              NodeHub,
			Role:              RoleHub,
			RPCHost:           "127.0.0.1:20010",
			TLSCertPath:       filepath.Join(dir, "hub", "tls.cert"),
			AdminMacaroonPath: filepath.Join(dir, "hub", "admin.macaroon"),
			Tapd: &TapdNode{
				Name:        "hub-tapd",
				RPCHost:     "127.0.0.1:20060",
				TLSCertPath: filepath.Join(dir, "hub-tapd", "tls.cert"),
				AdminMacaroonPath: filepath.Join(
					dir, "hub-tapd", "admin.macaroon",
				),
			},
		}},
		Sluiced: SluicedConfig{
			Dir:        filepath.Join(dir, sluicedDirName),
			ConfigPath: filepath.Join(dir, sluicedDirName, "sluice.conf"),
			RPCListen:  "127.0.0.1:20080",
		},
	}
}

// TestSluicedConfLoads checks that sluiced reads the written conf as meant:
// every value lands in the option it names.
func TestSluicedConfLoads(t *testing.T) {
	dir := t.TempDir()
	p := sluicedProfile(dir)
	path, err := p.WriteSluicedConf()
	if err != nil {
		t.Fatal(err)
	}
	if path != p.Sluiced.ConfigPath {
		t.Fatalf("written to %s, want %s", path, p.Sluiced.ConfigPath)
	}
	cfg, err := daemon.LoadConfig([]string{"--configfile", path})
	if err != nil {
		t.Fatalf("sluiced refuses the conf: %v", err)
	}
	hub := p.Nodes[0]
	checks := []struct {
		name, got, want string
	}{
		{"datadir", cfg.DataDir, p.Sluiced.Dir},
		{"network", cfg.Network, Network},
		{"rpclisten", cfg.RPCListen, p.Sluiced.RPCListen},
		{"lnd.host", cfg.Lnd.Host, hub.RPCHost},
		{"lnd.tlspath", cfg.Lnd.TLSPath, hub.TLSCertPath},
		{"lnd.macaroonpath", cfg.Lnd.MacaroonPath, hub.AdminMacaroonPath},
		{"tapd.host", cfg.Tapd.Host, hub.Tapd.RPCHost},
		{"tapd.tlspath", cfg.Tapd.TLSPath, hub.Tapd.TLSCertPath},
		{"tapd.macaroonpath", cfg.Tapd.MacaroonPath,
			hub.Tapd.AdminMacaroonPath},
		{"db.backend", cfg.DB.Backend, daemon.DBBackendSQLite},
		{"sqlite path", cfg.DB.SQLite.Path, filepath.Join(
			p.Sluiced.Dir, Network, daemon.SQLiteFilename)},
		{"yield.epoch", cfg.Yield.Epoch.String(),
			YieldEpoch.String()},
	}
	for _, c := range checks {
		if c.got != c.want {
			t.Errorf("%s = %q, want %q", c.name, c.got, c.want)
		}
	}

	// A test sets a shorter epoch by adding a section, as itests do.
	f, err := os.OpenFile(path, os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	_, err = f.WriteString("\n[yield]\nyield.epoch=3s\n")
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		t.Fatal(err)
	}
	cfg, err = daemon.LoadConfig([]string{"--configfile", path})
	if err != nil {
		t.Fatalf("sluiced refuses the conf with a second [yield]: %v",
			err)
	}
	if cfg.Yield.Epoch != 3*time.Second {
		t.Errorf("yield.epoch after a second [yield] = %v, want 3s",
			cfg.Yield.Epoch)
	}
}

// TestSluicedConfRefuses checks the profiles no conf can be made from.
func TestSluicedConfRefuses(t *testing.T) {
	tests := []struct {
		name   string
		change func(p *Profile)
		err    error
	}{{
		name:   "no hub",
		change: func(p *Profile) { p.Nodes[0].Name = NodeBuyer },
		err:    ErrUnknownNode,
	}, {
		name:   "hub without tapd",
		change: func(p *Profile) { p.Nodes[0].Tapd = nil },
		err:    ErrNoTapd,
	}, {
		name:   "no sluiced listen address",
		change: func(p *Profile) { p.Sluiced.RPCListen = "" },
	}, {
		name:   "no conf path",
		change: func(p *Profile) { p.Sluiced.ConfigPath = "" },
	}}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			p := sluicedProfile(t.TempDir())
			tc.change(p)
			_, err := p.WriteSluicedConf()
			if err == nil {
				t.Fatal("conf written, want an error")
			}
			if tc.err != nil && !errors.Is(err, tc.err) {
				t.Fatalf("error %v, want %v", err, tc.err)
			}
		})
	}
}
