package rpc

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/hex"
	"encoding/json"
	"errors"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"connectrpc.com/connect"
	"github.com/sluice-ln/sluice/rpc/sluicerpc"
	"github.com/sluice-ln/sluice/rpc/sluicerpc/sluicerpcconnect"
	"gopkg.in/macaroon.v2"
)

// testPubkey is a hub pubkey for fakeInfo: 0x02 then 1..32.
var testPubkey = func() [33]byte {
	var k [33]byte
	k[0] = 0x02
	for i := 1; i < 33; i++ {
		k[i] = byte(i)
	}
	return k
}()

// fakeInfo is an InfoSource with fixed answers.
type fakeInfo struct {
	info Info
	err  error
}

func (f *fakeInfo) Info(context.Context) (Info, error) { return f.info, f.err }

// testDaemon is a started server in its own directory.
type testDaemon struct {
	srv *Server
	dir string
}

func (d *testDaemon) certPath() string { return filepath.Join(d.dir, "tls.cert") }

func (d *testDaemon) url() string { return "https://" + d.srv.Addr() }

// macaroonHex reads a baked macaroon file as the header wants it.
func (d *testDaemon) macaroonHex(t *testing.T, file string) string {
	t.Helper()
	raw, err := os.ReadFile(filepath.Join(d.dir, file))
	if err != nil {
		t.Fatalf("read %s: %v", file, err)
	}
	return hex.EncodeToString(raw)
}

// buyerHex mints a buyer macaroon for id, hex-encoded.
func (d *testDaemon) buyerHex(t *testing.T, id string) string {
	t.Helper()
	raw, err := d.srv.BakeBuyerMacaroon(id)
	if err != nil {
		t.Fatalf("BakeBuyerMacaroon(%q): %v", id, err)
	}
	return hex.EncodeToString(raw)
}

// providerHex mints a provider macaroon for id, hex-encoded.
func (d *testDaemon) providerHex(t *testing.T, id string) string {
	t.Helper()
	_, agent := testKeys(t)
	raw, err := d.srv.BakeProviderMacaroon(id, agent)
	if err != nil {
		t.Fatalf("BakeProviderMacaroon(%q): %v", id, err)
	}
	return hex.EncodeToString(raw)
}

func testConfig(dir string, info InfoSource) Config {
	return Config{
		ListenAddr:  "127.0.0.1:0",
		TLSCertPath: filepath.Join(dir, "tls.cert"),
		TLSKeyPath:  filepath.Join(dir, "tls.key"),
		MacaroonDir: dir,
		Info:        info,
	}
}

// startDaemon starts a server in dir (a new temp dir when empty) and stops
// it when the test ends.
func startDaemon(t *testing.T, dir string, info InfoSource) *testDaemon {
	t.Helper()
	if dir == "" {
		dir = t.TempDir()
	}
	return startServer(t, dir, testConfig(dir, info))
}

// startServer starts a server with cfg, whose files are in dir (as
// testConfig puts them), and stops it when the test ends.
func startServer(t *testing.T, dir string, cfg Config) *testDaemon {
	t.Helper()
	srv, err := NewServer(cfg)
	if err != nil {
		t.Fatalf("NewServer: %v", err)
	}
	if err := srv.Start(); err != nil {
		t.Fatalf("Start: %v", err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(),
			5*time.Second)
		defer cancel()
		if err := srv.Stop(ctx); err != nil {
			t.Errorf("Stop: %v", err)
		}
	})
	return &testDaemon{srv: srv, dir: dir}
}

// httpClient trusts only certPath and speaks only HTTP/2 or only HTTP/1.1.
func httpClient(t *testing.T, certPath string, http2 bool) *http.Client {
	t.Helper()
	pemBytes, err := os.ReadFile(certPath)
	if err != nil {
		t.Fatalf("read cert: %v", err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(pemBytes) {
		t.Fatalf("no certificate in %s", certPath)
	}
	protocols := new(http.Protocols)
	if http2 {
		protocols.SetHTTP2(true)
	} else {
		protocols.SetHTTP1(true)
	}
	return &http.Client{
		Timeout: 10 * time.Second,
		Transport: &http.Transport{
			TLSClientConfig: &tls.Config{RootCAs: pool},
			Protocols:       protocols,
		},
	}
}

func getInfo(client sluicerpcconnect.SluiceClient, mac string) (
	*sluicerpc.GetInfoResponse, error) {

	req := connect.NewRequest(&sluicerpc.GetInfoRequest{})
	if mac != "" {
		req.Header().Set(sluicerpc.MacaroonHeader, mac)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	resp, err := client.GetInfo(ctx, req)
	if err != nil {
		return nil, err
	}
	return resp.Msg, nil
}

// TestGetInfoEveryProtocol calls GetInfo with the generated client over
// gRPC (HTTP/2), gRPC-Web and the Connect protocol (HTTP/1.1), with each
// role's macaroon.
func TestGetInfoEveryProtocol(t *testing.T) {
	start := time.Now().Add(-90 * time.Second).Truncate(time.Second)
	d := startDaemon(t, "", &fakeInfo{info: Info{
		Version:   "0.1.0-test",
		Network:   "regtest",
		HubPubkey: testPubkey,
		DBBackend: "sqlite",
		StartTime: start,
	}})

	protocols := []struct {
		name  string
		http2 bool
		opts  []connect.ClientOption
	}{
		{"grpc", true, []connect.ClientOption{connect.WithGRPC()}},
		{"grpc-web", false, []connect.ClientOption{connect.WithGRPCWeb()}},
		{"connect-json", false, []connect.ClientOption{
			connect.WithCodec(sluicerpc.JSONCodec{}),
		}},
	}
	roles := []struct {
		role       Role
		mac        string
		providerID string
	}{
		{RoleOperator, d.macaroonHex(t, OperatorMacaroonFile), ""},
		{RoleBuyer, d.buyerHex(t, "buyer-a"), ""},
		{RoleProvider, d.providerHex(t, "prov-a"), "prov-a"},
	}
	for _, p := range protocols {
		client := sluicerpcconnect.NewSluiceClient(
			httpClient(t, d.certPath(), p.http2), d.url(), p.opts...,
		)
		for _, r := range roles {
			t.Run(p.name+"/"+string(r.role), func(t *testing.T) {
				got, err := getInfo(client, r.mac)
				if err != nil {
					t.Fatalf("GetInfo: %v", err)
				}
				if got.Version != "0.1.0-test" ||
					got.Network != "regtest" ||
					got.DbBackend != "sqlite" {
					t.Errorf("got %v", got)
				}
				if !bytes.Equal(got.HubPubkey, testPubkey[:]) {
					t.Errorf("hub pubkey %x, want %x",
						got.HubPubkey, testPubkey)
				}
				if !got.StartTime.AsTime().Equal(start) {
					t.Errorf("start time %v, want %v",
						got.StartTime.AsTime(), start)
				}
				if got.UptimeSeconds < 90 || got.UptimeSeconds > 120 {
					t.Errorf("uptime %d s, want about 90",
						got.UptimeSeconds)
				}
				if got.Role != string(r.role) ||
					got.ProviderId != r.providerID {
					t.Errorf("caller %q/%q, want %q/%q",
						got.Role, got.ProviderId, r.role,
						r.providerID)
				}
			})
		}
	}
}

// TestGetInfoPlainJSON posts JSON as curl would, over HTTP/1.1, and checks
// the hex and snake_case output.
func TestGetInfoPlainJSON(t *testing.T) {
	d := startDaemon(t, "", &fakeInfo{info: Info{
		Version:   "0.1.0-test",
		Network:   "regtest",
		HubPubkey: testPubkey,
		DBBackend: "postgres",
	}})
	client := httpClient(t, d.certPath(), false)

	tests := []struct {
		name     string
		mac      string
		wantCode int
	}{
		{"operator", d.macaroonHex(t, OperatorMacaroonFile), 200},
		{"no macaroon", "", 401},
		{"garbage", "not-hex", 401},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			req, err := http.NewRequest(http.MethodPost,
				d.url()+"/sluicerpc.Sluice/GetInfo",
				strings.NewReader("{}"))
			if err != nil {
				t.Fatal(err)
			}
			req.Header.Set("Content-Type", "application/json")
			if tc.mac != "" {
				req.Header.Set("macaroon", tc.mac)
			}
			resp, err := client.Do(req)
			if err != nil {
				t.Fatalf("POST: %v", err)
			}
			defer resp.Body.Close()
			if resp.ProtoMajor != 1 {
				t.Errorf("protocol %s, want HTTP/1.1", resp.Proto)
			}
			if resp.StatusCode != tc.wantCode {
				t.Fatalf("status %d, want %d", resp.StatusCode,
					tc.wantCode)
			}
			var body map[string]any
			if err := json.NewDecoder(resp.Body).Decode(&body); err != nil {
				t.Fatalf("decode: %v", err)
			}
			if tc.wantCode != 200 {
				if body["code"] != "unauthenticated" {
					t.Errorf("error body %v", body)
				}
				return
			}
			want := map[string]any{
				"version":    "0.1.0-test",
				"network":    "regtest",
				"hub_pubkey": hex.EncodeToString(testPubkey[:]),
				"db_backend": "postgres",
				"role":       "operator",
				// Zero values are shown, not left out.
				"provider_id": "",
			}
			for k, v := range want {
				if body[k] != v {
					t.Errorf("%s = %v, want %v", k, body[k], v)
				}
			}
			if _, ok := body["uptime_seconds"]; !ok {
				t.Errorf("uptime_seconds missing: %v", body)
			}
		})
	}
}

// TestGetInfoSourceError checks that the InfoSource's failure reaches the
// caller as an internal error.
func TestGetInfoSourceError(t *testing.T) {
	d := startDaemon(t, "", &fakeInfo{err: errors.New("lnd went away")})
	client := sluicerpcconnect.NewSluiceClient(
		httpClient(t, d.certPath(), true), d.url(), connect.WithGRPC(),
	)
	_, err := getInfo(client, d.macaroonHex(t, OperatorMacaroonFile))
	if connect.CodeOf(err) != connect.CodeInternal ||
		!strings.Contains(err.Error(), "lnd went away") {

		t.Fatalf("err %v, want internal error naming the cause", err)
	}
}

// TestAuthRefusals sends GetInfo over gRPC with macaroons that must be
// refused.
func TestAuthRefusals(t *testing.T) {
	d := startDaemon(t, "", &fakeInfo{})
	other := startDaemon(t, "", &fakeInfo{})
	client := sluicerpcconnect.NewSluiceClient(
		httpClient(t, d.certPath(), true), d.url(), connect.WithGRPC(),
	)

	operator := d.macaroonHex(t, OperatorMacaroonFile)
	attenuate := func(macHex string, caveat string) string {
		raw, _ := hex.DecodeString(macHex)
		var m macaroon.Macaroon
		if err := m.UnmarshalBinary(raw); err != nil {
			t.Fatal(err)
		}
		if err := m.AddFirstPartyCaveat([]byte(caveat)); err != nil {
			t.Fatal(err)
		}
		out, err := m.MarshalBinary()
		if err != nil {
			t.Fatal(err)
		}
		return hex.EncodeToString(out)
	}
	// forged has a valid format and a role but a made-up signature.
	forged := func() string {
		m, err := macaroon.New(make([]byte, 32),
			[]byte("sluice-v1/0/operator/00"), "sluice",
			macaroon.LatestVersion)
		if err != nil {
			t.Fatal(err)
		}
		raw, _ := m.MarshalBinary()
		return hex.EncodeToString(raw)
	}()

	tests := []struct {
		name     string
		mac      string
		wantCode connect.Code
		wantMsg  string
	}{
		{"none", "", connect.CodeUnauthenticated, "no macaroon"},
		{"not hex", "xyz", connect.CodeUnauthenticated, "not hex"},
		{"hex but not a macaroon", "deadbeef",
			connect.CodeUnauthenticated, "malformed macaroon"},
		{"other root key",
			other.macaroonHex(t, OperatorMacaroonFile),
			connect.CodeUnauthenticated, "not valid for this server"},
		{"forged signature", forged,
			connect.CodeUnauthenticated, "not valid for this server"},
		{"expired", attenuate(operator, "time-before "+
			time.Now().Add(-time.Minute).UTC().Format(time.RFC3339Nano)),
			connect.CodeUnauthenticated, "expired"},
		{"unknown caveat", attenuate(operator, "ipaddr 10.0.0.1"),
			connect.CodeUnauthenticated, "unknown condition"},
		{"provider bound twice",
			attenuate(d.providerHex(t, "a"), "provider_id b"),
			connect.CodeUnauthenticated, "name both"},
		// Positive controls: the same paths accept good macaroons.
		{"operator", operator, 0, ""},
		{"not yet expired", attenuate(operator, "time-before "+
			time.Now().Add(time.Hour).UTC().Format(time.RFC3339Nano)),
			0, ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := getInfo(client, tc.mac)
			if tc.wantCode == 0 {
				if err != nil {
					t.Fatalf("GetInfo: %v", err)
				}
				return
			}
			if got := connect.CodeOf(err); got != tc.wantCode {
				t.Fatalf("code %v (%v), want %v", got, err,
					tc.wantCode)
			}
			if !strings.Contains(err.Error(), tc.wantMsg) {
				t.Errorf("message %q lacks %q", err, tc.wantMsg)
			}
		})
	}
}

// TestFilesMadeOnceAndReused checks that the first start makes the TLS pair,
// root key and role macaroons with private permissions, and that a second
// start in the same directory serves the same certificate and accepts the
// old macaroons.
func TestFilesMadeOnceAndReused(t *testing.T) {
	dir := t.TempDir()
	first := startDaemon(t, dir, &fakeInfo{})

	private := []string{"tls.key", RootKeyFile, OperatorMacaroonFile}
	contents := map[string][]byte{}
	for _, f := range append([]string{"tls.cert"}, private...) {
		raw, err := os.ReadFile(filepath.Join(dir, f))
		if err != nil {
			t.Fatalf("first start did not make %s: %v", f, err)
		}
		contents[f] = raw
	}
	for _, f := range private {
		st, err := os.Stat(filepath.Join(dir, f))
		if err != nil {
			t.Fatal(err)
		}
		if perm := st.Mode().Perm(); perm != 0o600 {
			t.Errorf("%s has mode %o, want 600", f, perm)
		}
	}
	provider := first.providerHex(t, "p1")
	buyer := first.buyerHex(t, "b1")
	stopCtx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := first.srv.Stop(stopCtx); err != nil {
		t.Fatal(err)
	}

	second := startDaemon(t, dir, &fakeInfo{})
	for f, old := range contents {
		raw, err := os.ReadFile(filepath.Join(dir, f))
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(raw, old) {
			t.Errorf("second start changed %s", f)
		}
	}

	// The served certificate is the one on disk: a client trusting only
	// the file connects, and the old macaroons still work.
	client := sluicerpcconnect.NewSluiceClient(
		httpClient(t, second.certPath(), true), second.url(),
		connect.WithGRPC(),
	)
	for _, mac := range []string{
		hex.EncodeToString(contents[OperatorMacaroonFile]),
		buyer,
		provider,
	} {
		if _, err := getInfo(client, mac); err != nil {
			t.Errorf("old macaroon refused after restart: %v", err)
		}
	}
}

// TestNewRootKeyRevokes checks that deleting the root key revokes the old
// macaroons and bakes new role macaroons on the next start.
func TestNewRootKeyRevokes(t *testing.T) {
	dir := t.TempDir()
	first := startDaemon(t, dir, &fakeInfo{})
	oldOperator := first.macaroonHex(t, OperatorMacaroonFile)
	oldProvider := first.providerHex(t, "p1")
	if err := os.Remove(filepath.Join(dir, RootKeyFile)); err != nil {
		t.Fatal(err)
	}

	second := startDaemon(t, dir, &fakeInfo{})
	client := sluicerpcconnect.NewSluiceClient(
		httpClient(t, second.certPath(), true), second.url(),
		connect.WithGRPC(),
	)
	for name, mac := range map[string]string{
		"old operator": oldOperator, "old provider": oldProvider,
	} {
		_, err := getInfo(client, mac)
		if connect.CodeOf(err) != connect.CodeUnauthenticated {
			t.Errorf("%s: err %v, want unauthenticated", name, err)
		}
	}
	newOperator := second.macaroonHex(t, OperatorMacaroonFile)
	if newOperator == oldOperator {
		t.Fatal("operator macaroon not baked anew")
	}
	if _, err := getInfo(client, newOperator); err != nil {
		t.Errorf("new operator macaroon refused: %v", err)
	}
}

// TestServerLifecycle checks Start and Stop edge cases.
func TestServerLifecycle(t *testing.T) {
	srv, err := NewServer(testConfig(t.TempDir(), &fakeInfo{}))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := srv.Stop(ctx); err != nil {
		t.Errorf("Stop before Start: %v", err)
	}
	if srv.Addr() != "127.0.0.1:0" {
		t.Errorf("Addr before Start = %q", srv.Addr())
	}
	if err := srv.Start(); err != nil {
		t.Fatal(err)
	}
	if strings.HasSuffix(srv.Addr(), ":0") {
		t.Errorf("Addr after Start = %q, want the bound port", srv.Addr())
	}
	if err := srv.Start(); !errors.Is(err, ErrAlreadyStarted) {
		t.Errorf("second Start: %v, want ErrAlreadyStarted", err)
	}
	if err := srv.Stop(ctx); err != nil {
		t.Errorf("Stop: %v", err)
	}
}

// TestNewServerConfig checks that bad configs are refused with the field
// named.
func TestNewServerConfig(t *testing.T) {
	dir := t.TempDir()
	tests := []struct {
		name    string
		edit    func(*Config)
		wantErr string
	}{
		{"valid", func(*Config) {}, ""},
		{"default listen", func(c *Config) { c.ListenAddr = "" }, ""},
		{"ipv6 loopback", func(c *Config) { c.ListenAddr = "[::1]:0" }, ""},
		{"localhost", func(c *Config) { c.ListenAddr = "localhost:0" }, ""},
		{"all interfaces", func(c *Config) { c.ListenAddr = ":10090" },
			""},
		{"ipv4 any", func(c *Config) { c.ListenAddr = "0.0.0.0:0" }, ""},
		{"ipv6 any", func(c *Config) { c.ListenAddr = "[::]:0" }, ""},
		{"public ip", func(c *Config) { c.ListenAddr = "8.8.8.8:10090" },
			""},
		{"no port", func(c *Config) { c.ListenAddr = "127.0.0.1" },
			"ListenAddr"},
		{"extra ip", func(c *Config) {
			c.TLSExtraIPs = []string{"192.0.2.1", "2001:db8::1"}
		}, ""},
		{"bad extra ip", func(c *Config) {
			c.TLSExtraIPs = []string{"192.0.2.300"}
		}, "TLSExtraIPs"},
		{"no cert path", func(c *Config) { c.TLSCertPath = "" },
			"TLSCertPath"},
		{"no key path", func(c *Config) { c.TLSKeyPath = "" },
			"TLSKeyPath"},
		{"same paths", func(c *Config) { c.TLSKeyPath = c.TLSCertPath },
			"TLSCertPath and TLSKeyPath"},
		{"no macaroon dir", func(c *Config) { c.MacaroonDir = "" },
			"MacaroonDir"},
		{"no info", func(c *Config) { c.Info = nil }, "Info"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			cfg := testConfig(dir, &fakeInfo{})
			tc.edit(&cfg)
			_, err := NewServer(cfg)
			if tc.wantErr == "" {
				if err != nil {
					t.Fatalf("NewServer: %v", err)
				}
				return
			}
			if !errors.Is(err, ErrInvalidConfig) ||
				!strings.Contains(err.Error(), tc.wantErr) {

				t.Fatalf("err %v, want ErrInvalidConfig naming %s",
					err, tc.wantErr)
			}
		})
	}
}
