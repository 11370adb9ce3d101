package daemon

import (
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	flags "github.com/jessevdk/go-flags"
)

// writeConf writes a config file and returns its path.
func writeConf(t *testing.T, dir, body string) string {
	t.Helper()

	path := filepath.Join(dir, DefaultConfigFilename)
	if err := os.WriteFile(path, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}

	return path
}

// TestLoadConfigDefaults checks the defaults and the paths derived from
// the data directory and network.
func TestLoadConfigDefaults(t *testing.T) {
	dir := t.TempDir()
	cfg, err := LoadConfig([]string{"--datadir", dir})
	if err != nil {
		t.Fatalf("LoadConfig: %v", err)
	}

	home, err := os.UserHomeDir()
	if err != nil {
		t.Fatal(err)
	}
	checks := []struct {
		name, got, want string
	}{
		{"configfile", cfg.ConfigFile, ""},
		{"datadir", cfg.DataDir, dir},
		{"network", cfg.Network, "regtest"},
		{"rpclisten", cfg.RPCListen, "127.0.0.1:10090"},
		{"tlscertpath", cfg.TLSCertPath, filepath.Join(dir, "tls.cert")},
		{"tlskeypath", cfg.TLSKeyPath, filepath.Join(dir, "tls.key")},
		{"macaroondir", cfg.MacaroonDir, filepath.Join(dir, "regtest")},
		{"debuglevel", cfg.DebugLevel, "info"},
		{"logdir", cfg.LogDir, filepath.Join(dir, "logs")},
		{"logfile", cfg.LogFile(),
			filepath.Join(dir, "logs", "regtest", "sluiced.log")},
		{"lnd.host", cfg.Lnd.Host, "127.0.0.1:10009"},
		{"lnd.tlspath", cfg.Lnd.TLSPath,
			filepath.Join(home, ".lnd", "tls.cert")},
		{"lnd.macaroonpath", cfg.Lnd.MacaroonPath,
			filepath.Join(home, ".lnd", "data", "chain", "bitcoin",
				"regtest", "admin.macaroon")},
		{"tapd.host", cfg.Tapd.Host, "127.0.0.1:10029"},
		{"tapd.tlspath", cfg.Tapd.TLSPath,
			filepath.Join(home, ".tapd", "tls.cert")},
		{"tapd.macaroonpath", cfg.Tapd.MacaroonPath,
			filepath.Join(home, ".tapd", "data", "regtest",
				"admin.macaroon")},
		{"db.backend", cfg.DB.Backend, "sqlite"},
		{"db.sqlite.path", cfg.DB.SQLite.Path,
			filepath.Join(dir, "regtest", "sluice.db")},
		{"db.postgres.dsn", cfg.DB.Postgres.DSN, ""},
	}
	for _, c := range checks {
		if c.got != c.want {
			t.Errorf("%s = %q, want %q", c.name, c.got, c.want)
		}
	}
	if cfg.Lnd.DialTimeout != DefaultLndDialTimeout {
		t.Errorf("lnd.dialtimeout = %v, want %v", cfg.Lnd.DialTimeout,
			DefaultLndDialTimeout)
	}
	if cfg.Lnd.RPCTimeout != DefaultLndRPCTimeout {
		t.Errorf("lnd.rpctimeout = %v, want %v", cfg.Lnd.RPCTimeout,
			DefaultLndRPCTimeout)
	}
}

// TestLoadConfigFile checks that sluice.conf in the data directory (or
// --configfile) is read, and that flags override it.
func TestLoadConfigFile(t *testing.T) {
	const conf = `
[Application Options]
network=signet
rpclisten=127.0.0.1:20090
debuglevel=info,LDGR=debug

[lnd]
lnd.host=127.0.0.1:20009
lnd.tlspath=/etc/lnd/tls.cert
lnd.macaroonpath=/etc/lnd/admin.macaroon
lnd.dialtimeout=2s

[tapd]
tapd.host=127.0.0.1:20029

[db]
db.backend=postgres
db.postgres.dsn=postgres://sluice@127.0.0.1:5432/sluice?sslmode=disable
`

	tests := []struct {
		name string
		// args are the flags after --datadir (or --configfile).
		args       []string
		explicit   bool
		wantNet    string
		wantListen string
		wantLnd    string
		wantDial   time.Duration
		wantDB     string
	}{{
		name:       "file in datadir",
		wantNet:    "signet",
		wantListen: "127.0.0.1:20090",
		wantLnd:    "127.0.0.1:20009",
		wantDial:   2 * time.Second,
		wantDB:     "postgres",
	}, {
		name:       "explicit configfile",
		explicit:   true,
		wantNet:    "signet",
		wantListen: "127.0.0.1:20090",
		wantLnd:    "127.0.0.1:20009",
		wantDial:   2 * time.Second,
		wantDB:     "postgres",
	}, {
		name: "flags override the file",
		args: []string{
			"--network=testnet", "--rpclisten=127.0.0.1:30090",
			"--lnd.host=localhost:30009", "--lnd.dialtimeout=3s",
			"--db.backend=sqlite",
		},
		wantNet:    "testnet",
		wantListen: "127.0.0.1:30090",
		wantLnd:    "localhost:30009",
		wantDial:   3 * time.Second,
		wantDB:     "sqlite",
	}}

	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			dataDir := t.TempDir()
			var args []string
			if tc.explicit {
				path := writeConf(t, t.TempDir(), conf)
				args = []string{"--configfile", path,
					"--datadir", dataDir}
			} else {
				writeConf(t, dataDir, conf)
				args = []string{"--datadir", dataDir}
			}
			args = append(args, tc.args...)

			cfg, err := LoadConfig(args)
			if err != nil {
				t.Fatalf("LoadConfig: %v", err)
			}
			if cfg.ConfigFile == "" {
				t.Errorf("ConfigFile is empty, want the file read")
			}
			if cfg.Network != tc.wantNet {
				t.Errorf("network = %q, want %q", cfg.Network,
					tc.wantNet)
			}
			if cfg.RPCListen != tc.wantListen {
				t.Errorf("rpclisten = %q, want %q",
					cfg.RPCListen, tc.wantListen)
			}
			if cfg.Lnd.Host != tc.wantLnd {
				t.Errorf("lnd.host = %q, want %q", cfg.Lnd.Host,
					tc.wantLnd)
			}
			if cfg.Lnd.DialTimeout != tc.wantDial {
				t.Errorf("lnd.dialtimeout = %v, want %v",
					cfg.Lnd.DialTimeout, tc.wantDial)
			}
			if cfg.DB.Backend != tc.wantDB {
				t.Errorf("db.backend = %q, want %q",
					cfg.DB.Backend, tc.wantDB)
			}
			if cfg.Lnd.TLSPath != "/etc/lnd/tls.cert" {
				t.Errorf("lnd.tlspath = %q from the file, want "+
					"/etc/lnd/tls.cert", cfg.Lnd.TLSPath)
			}
			if cfg.Tapd.Host != "127.0.0.1:20029" {
				t.Errorf("tapd.host = %q", cfg.Tapd.Host)
			}
			if cfg.DebugLevel != "info,LDGR=debug" {
				t.Errorf("debuglevel = %q", cfg.DebugLevel)
			}
			// The SQLite path follows the network in force.
			wantDB := filepath.Join(dataDir, tc.wantNet, "sluice.db")
			if cfg.DB.SQLite.Path != wantDB {
				t.Errorf("db.sqlite.path = %q, want %q",
					cfg.DB.SQLite.Path, wantDB)
			}
		})
	}
}

// TestLoadConfigDataDirFromFile checks that a datadir set in an explicit
// config file moves the derived paths.
func TestLoadConfigDataDirFromFile(t *testing.T) {
	dataDir := t.TempDir()
	path := writeConf(t, t.TempDir(), "datadir="+dataDir+"\n")

	cfg, err := LoadConfig([]string{"--configfile", path})
	if err != nil {
		t.Fatalf("LoadConfig: %v", err)
	}
	want := filepath.Join(dataDir, "regtest", "sluice.db")
	if cfg.DB.SQLite.Path != want {
		t.Errorf("db.sqlite.path = %q, want %q", cfg.DB.SQLite.Path,
			want)
	}
}

// TestLoadConfigHomeExpansion checks that ~ in a path is the home
// directory.
func TestLoadConfigHomeExpansion(t *testing.T) {
	home := t.TempDir()
	t.Setenv("HOME", home)

	cfg, err := LoadConfig([]string{
		"--datadir", "~/sluice-data", "--lnd.tlspath", "~/lnd/tls.cert",
	})
	if err != nil {
		t.Fatalf("LoadConfig: %v", err)
	}
	if want := filepath.Join(home, "sluice-data"); cfg.DataDir != want {
		t.Errorf("datadir = %q, want %q", cfg.DataDir, want)
	}
	if want := filepath.Join(home, "lnd", "tls.cert"); cfg.Lnd.TLSPath != want {
		t.Errorf("lnd.tlspath = %q, want %q", cfg.Lnd.TLSPath, want)
	}
}

// TestLoadConfigRPCListen checks that --rpclisten takes any address lnd's
// rpclisten would, loopback or not, and says it as host:port.
func TestLoadConfigRPCListen(t *testing.T) {
	tests := []struct {
		listen string
		want   string
	}{
		{"127.0.0.1:10090", "127.0.0.1:10090"},
		{"0.0.0.0:10090", "0.0.0.0:10090"},
		{":10091", ":10091"},
		{"[::]:10092", "[::]:10092"},
		{"[::1]:10093", "[::1]:10093"},
		{"192.0.2.1:443", "192.0.2.1:443"},
		{"[2001:db8::1]:10090", "[2001:db8::1]:10090"},
		{"localhost:10094", "localhost:10094"},
		// Without a port, the default API port, as lnd does.
		{"0.0.0.0", "0.0.0.0:10090"},
		{"localhost", "localhost:10090"},
		{"::", "[::]:10090"},
		{"2001:db8::1", "[2001:db8::1]:10090"},
		{"[2001:db8::1]", "[2001:db8::1]:10090"},
	}
	for _, tc := range tests {
		t.Run(tc.listen, func(t *testing.T) {
			cfg, err := LoadConfig([]string{
				"--datadir", t.TempDir(),
				"--rpclisten", tc.listen,
			})
			if err != nil {
				t.Fatalf("LoadConfig: %v", err)
			}
			if cfg.RPCListen != tc.want {
				t.Errorf("rpclisten = %q, want %q",
					cfg.RPCListen, tc.want)
			}
		})
	}
}

// TestLoadConfigPrometheusListen checks that --prometheus.listen is off
// by default, and otherwise takes what --rpclisten takes, with its own
// default port.
func TestLoadConfigPrometheusListen(t *testing.T) {
	tests := []struct {
		listen string
		want   string
	}{
		{"", ""},
		{"127.0.0.1:9100", "127.0.0.1:9100"},
		{":9101", ":9101"},
		{"[::1]:9102", "[::1]:9102"},
		{"localhost:9103", "localhost:9103"},
		{"127.0.0.1", "127.0.0.1:8990"},
		{"::", "[::]:8990"},
	}
	for _, tc := range tests {
		t.Run(tc.listen, func(t *testing.T) {
			args := []string{"--datadir", t.TempDir()}
			if tc.listen != "" {
				args = append(args,
					"--prometheus.listen", tc.listen)
			}
			cfg, err := LoadConfig(args)
			if err != nil {
				t.Fatalf("LoadConfig: %v", err)
			}
			if cfg.Prometheus.Listen != tc.want {
				t.Errorf("prometheus.listen = %q, want %q",
					cfg.Prometheus.Listen, tc.want)
			}
		})
	}
}

// TestLoadConfigTLSExtras checks that tlsextraip and tlsextradomain repeat,
// in the file and as flags, as lnd's do.
func TestLoadConfigTLSExtras(t *testing.T) {
	dir := t.TempDir()
	writeConf(t, dir, "tlsextraip=192.0.2.1\ntlsextraip=2001:db8::1\n"+
		"tlsextradomain=hub.example.com\n")

	tests := []struct {
		name        string
		args        []string
		wantIPs     []string
		wantDomains []string
	}{{
		name:        "file only",
		wantIPs:     []string{"192.0.2.1", "2001:db8::1"},
		wantDomains: []string{"hub.example.com"},
	}, {
		name: "flags replace the file's",
		args: []string{"--tlsextraip=198.51.100.1",
			"--tlsextradomain=a.example.org",
			"--tlsextradomain=b.example.org"},
		wantIPs:     []string{"198.51.100.1"},
		wantDomains: []string{"a.example.org", "b.example.org"},
	}}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			cfg, err := LoadConfig(append([]string{
				"--datadir", dir,
			}, tc.args...))
			if err != nil {
				t.Fatalf("LoadConfig: %v", err)
			}
			if !slices.Equal(cfg.TLSExtraIPs, tc.wantIPs) ||
				!slices.Equal(cfg.TLSExtraDomains,
					tc.wantDomains) {

				t.Errorf("extras %v %v, want %v %v",
					cfg.TLSExtraIPs, cfg.TLSExtraDomains,
					tc.wantIPs, tc.wantDomains)
			}
		})
	}
}

// TestLoadConfigErrors checks that every bad value is refused with an
// error naming the option.
func TestLoadConfigErrors(t *testing.T) {
	tests := []struct {
		name string
		args []string
		conf string
		// want are fragments the error must contain.
		want []string
	}{{
		name: "unknown network",
		args: []string{"--network=litecoin"},
		want: []string{"--network", "litecoin"},
	}, {
		name: "unknown network in file",
		conf: "network=litecoin\n",
		want: []string{"network", "litecoin"},
	}, {
		name: "rpclisten not host:port",
		args: []string{"--rpclisten=127.0.0.1:10090:1"},
		want: []string{"--rpclisten", "host:port"},
	}, {
		name: "rpclisten empty",
		args: []string{"--rpclisten="},
		want: []string{"--rpclisten", "empty"},
	}, {
		name: "rpclisten host does not resolve",
		args: []string{"--rpclisten=no-such-host.invalid:10090"},
		want: []string{"--rpclisten", "no-such-host.invalid",
			"does not resolve"},
	}, {
		name: "rpclisten port zero",
		args: []string{"--rpclisten=0.0.0.0:0"},
		want: []string{"--rpclisten", "port"},
	}, {
		name: "tlsextraip not an ip",
		args: []string{"--tlsextraip=192.0.2.1",
			"--tlsextraip=hub.example.com"},
		want: []string{"--tlsextraip", "hub.example.com"},
	}, {
		name: "tlsextraip not an ip in file",
		conf: "tlsextraip=300.1.1.1\n",
		want: []string{"tlsextraip", "300.1.1.1"},
	}, {
		name: "tlsextradomain with a port",
		args: []string{"--tlsextradomain=hub.example.com:10090"},
		want: []string{"--tlsextradomain", "hub.example.com:10090"},
	}, {
		name: "rpclisten bad port",
		args: []string{"--rpclisten=127.0.0.1:99999"},
		want: []string{"--rpclisten", "port"},
	}, {
		name: "prometheus.listen bad port",
		args: []string{"--prometheus.listen=127.0.0.1:99999"},
		want: []string{"--prometheus.listen", "port"},
	}, {
		name: "prometheus.listen port zero",
		args: []string{"--prometheus.listen=127.0.0.1:0"},
		want: []string{"--prometheus.listen", "port"},
	}, {
		name: "prometheus.listen not host:port",
		args: []string{"--prometheus.listen=127.0.0.1:8990:1"},
		want: []string{"--prometheus.listen", "host:port"},
	}, {
		name: "prometheus.listen host does not resolve",
		conf: "[prometheus]\nprometheus.listen=no-such-host.invalid\n",
		want: []string{"prometheus.listen", "no-such-host.invalid"},
	}, {
		name: "prometheus.listen on the API's address",
		args: []string{"--rpclisten=127.0.0.1:10090",
			"--prometheus.listen=127.0.0.1:10090"},
		want: []string{"--prometheus.listen", "--rpclisten"},
	}, {
		name: "same tls cert and key",
		args: []string{"--tlscertpath=/tmp/x", "--tlskeypath=/tmp/x"},
		want: []string{"--tlskeypath", "--tlscertpath"},
	}, {
		name: "lnd.host without port",
		args: []string{"--lnd.host=127.0.0.1"},
		want: []string{"--lnd.host", "host:port"},
	}, {
		name: "lnd.host without host",
		args: []string{"--lnd.host=:10009"},
		want: []string{"--lnd.host", "no host"},
	}, {
		name: "settlement.refundretry too short",
		args: []string{"--settlement.refundretry=100ms"},
		want: []string{"settlement.refundretry", "outside 1s to 24h"},
	}, {
		name: "settlement.refundretry too long",
		conf: "[settlement]\nsettlement.refundretry=25h\n",
		want: []string{"settlement.refundretry", "25h"},
	}, {
		name: "lnd.dialtimeout zero",
		args: []string{"--lnd.dialtimeout=0s"},
		want: []string{"--lnd.dialtimeout", "not positive"},
	}, {
		name: "lnd.rpctimeout negative",
		args: []string{"--lnd.rpctimeout=-1s"},
		want: []string{"--lnd.rpctimeout", "not positive"},
	}, {
		name: "lnd.dialtimeout not a duration",
		args: []string{"--lnd.dialtimeout=soon"},
		want: []string{"lnd.dialtimeout", "soon"},
	}, {
		name: "tapd.host bad",
		args: []string{"--tapd.host=tapd"},
		want: []string{"--tapd.host", "host:port"},
	}, {
		name: "db.backend unknown",
		args: []string{"--db.backend=mysql"},
		want: []string{"--db.backend", "mysql"},
	}, {
		name: "postgres without dsn",
		args: []string{"--db.backend=postgres"},
		want: []string{"--db.postgres.dsn", "required"},
	}, {
		name: "debuglevel unknown level",
		args: []string{"--debuglevel=loud"},
		want: []string{"--debuglevel", "loud"},
	}, {
		name: "debuglevel unknown subsystem",
		args: []string{"--debuglevel=NOPE=debug"},
		want: []string{"--debuglevel", "NOPE"},
	}, {
		name: "maxlogfiles negative",
		args: []string{"--maxlogfiles=-1"},
		want: []string{"--maxlogfiles"},
	}, {
		name: "maxlogfilesize zero",
		args: []string{"--maxlogfilesize=0"},
		want: []string{"--maxlogfilesize"},
	}, {
		name: "unknown flag",
		args: []string{"--lnd.hots=127.0.0.1:10009"},
		want: []string{"lnd.hots"},
	}, {
		name: "positional argument",
		args: []string{"extra"},
		want: []string{"extra"},
	}, {
		name: "unknown option in file",
		conf: "[lnd]\nlnd.hots=127.0.0.1:10009\n",
		want: []string{"lnd.hots", DefaultConfigFilename},
	}, {
		name: "unknown section in file",
		conf: "[lightning]\nhost=127.0.0.1:10009\n",
		want: []string{"lightning", DefaultConfigFilename},
	}, {
		name: "bad value in file",
		conf: "[lnd]\nlnd.host=nowhere\n",
		want: []string{"--lnd.host", "nowhere"},
	}, {
		name: "missing explicit configfile",
		args: []string{"--configfile=/nonexistent/sluice.conf"},
		want: []string{"--configfile", "/nonexistent/sluice.conf"},
	}}

	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			dataDir := t.TempDir()
			if tc.conf != "" {
				writeConf(t, dataDir, tc.conf)
			}
			args := append([]string{"--datadir", dataDir},
				tc.args...)

			cfg, err := LoadConfig(args)
			if err == nil {
				t.Fatalf("LoadConfig(%q) = %+v, want an error",
					args, cfg)
			}
			if !errors.Is(err, ErrInvalidConfig) {
				t.Errorf("error %q does not wrap "+
					"ErrInvalidConfig", err)
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not mention %q",
						err, w)
				}
			}
		})
	}
}

// TestLoadConfigHelpAndVersion checks that -h and -V are reported to the
// caller rather than treated as errors in the configuration.
func TestLoadConfigHelpAndVersion(t *testing.T) {
	tests := []struct {
		args []string
		want error
		text string
	}{
		{[]string{"--help"}, ErrHelpRequested, "--lnd.host"},
		{[]string{"-h"}, ErrHelpRequested, "--db.sqlite.path"},
		{[]string{"-V"}, ErrVersionRequested, ""},
		{[]string{"--version", "--lnd.host=nowhere"}, ErrVersionRequested, ""},
	}
	for _, tc := range tests {
		_, err := LoadConfig(tc.args)
		if !errors.Is(err, tc.want) {
			t.Errorf("LoadConfig(%q) error = %v, want %v", tc.args,
				err, tc.want)
			continue
		}
		if errors.Is(err, ErrInvalidConfig) {
			t.Errorf("LoadConfig(%q) error %v wraps "+
				"ErrInvalidConfig", tc.args, err)
		}
		if !strings.Contains(err.Error(), tc.text) {
			t.Errorf("LoadConfig(%q) help lacks %q", tc.args,
				tc.text)
		}
	}
}

// TestSampleConfig checks that docs/sample-sluice.conf names only options
// that exist, with values that validate: every commented-out setting is
// uncommented and the result is loaded.
func TestSampleConfig(t *testing.T) {
	raw, err := os.ReadFile(filepath.Join("..", "docs",
		"sample-sluice.conf"))
	if err != nil {
		t.Fatalf("sample config: %v", err)
	}

	var out []string
	settings := 0
	for _, line := range strings.Split(string(raw), "\n") {
		rest, ok := strings.CutPrefix(line, "; ")
		name, _, isSetting := strings.Cut(rest, "=")
		if ok && isSetting && !strings.ContainsAny(name, " ,:") {
			line = rest
			settings++
		}
		out = append(out, line)
	}
	if settings < 20 {
		t.Fatalf("found %d settings in the sample, want every option",
			settings)
	}

	dir := t.TempDir()
	path := filepath.Join(dir, "sluice.conf")
	err = os.WriteFile(path, []byte(strings.Join(out, "\n")), 0o600)
	if err != nil {
		t.Fatal(err)
	}
	cfg, err := LoadConfig([]string{"--configfile", path})
	if err != nil {
		t.Fatalf("the sample with every setting uncommented: %v", err)
	}
	if cfg.Lnd.Host != DefaultLndHost || cfg.Network != DefaultNetwork {
		t.Errorf("sample defaults differ from the code's: lnd.host "+
			"%s, network %s", cfg.Lnd.Host, cfg.Network)
	}

	// Every option of the parser appears in the sample.
	cfgCopy := DefaultConfig()
	for _, opt := range allLongNames(&cfgCopy) {
		switch opt {
		case "version", "configfile":
			continue
		}
		if !strings.Contains(string(raw), "; "+opt+"=") {
			t.Errorf("sample-sluice.conf does not show %s", opt)
		}
	}
}

// allLongNames lists the long names of every option, with their
// namespaces (lnd.host, db.sqlite.path).
func allLongNames(cfg *Config) []string {
	var names []string
	var walk func(g *flags.Group)
	walk = func(g *flags.Group) {
		for _, o := range g.Options() {
			names = append(names, o.LongNameWithNamespace())
		}
		for _, sub := range g.Groups() {
			walk(sub)
		}
	}
	walk(newParser(cfg).Command.Group)

	return names
}

// TestLoadConfigHubAllowChange checks that hub.allowchange is off unless
// the file or a flag turns it on, so that no start accepts another hub by
// default.
func TestLoadConfigHubAllowChange(t *testing.T) {
	tests := []struct {
		name string
		conf string
		args []string
		want bool
	}{
		{name: "default"},
		{name: "file false", conf: "[hub]\nhub.allowchange=false\n"},
		{name: "file true", conf: "[hub]\nhub.allowchange=true\n",
			want: true},
		{name: "flag", args: []string{"--hub.allowchange"}, want: true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			if tc.conf != "" {
				writeConf(t, dir, tc.conf)
			}
			cfg, err := LoadConfig(append([]string{"--datadir", dir},
				tc.args...))
			if err != nil {
				t.Fatal(err)
			}
			if cfg.Hub.AllowChange != tc.want {
				t.Errorf("hub.allowchange = %v, want %v",
					cfg.Hub.AllowChange, tc.want)
			}
		})
	}
}
