package daemon

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/hex"
	"errors"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"connectrpc.com/connect"
	"github.com/sluice-ln/sluice/daemon/lndtest"
	"github.com/sluice-ln/sluice/rpc"
	"github.com/sluice-ln/sluice/rpc/sluicerpc"
	"github.com/sluice-ln/sluice/rpc/sluicerpc/sluicerpcconnect"
)

// startBound is how long sluiced may take to give up on an lnd that is not
// there: the bound.
const startBound = 10 * time.Second

// TestStartUnreachableLnd checks that Start fails within the bound, naming
// the lnd host, when nothing listens there.
func TestStartUnreachableLnd(t *testing.T) {
	host := lndtest.FreeAddr(t)
	cfg, err := LoadConfig([]string{
		"--datadir", t.TempDir(), "--lnd.host", host,
	})
	if err != nil {
		t.Fatal(err)
	}
	var console bytes.Buffer
	d, err := newDaemon(cfg, &console)
	if err != nil {
		t.Fatalf("New: %v", err)
	}

	start := time.Now()
	err = d.Start(context.Background())
	elapsed := time.Since(start)
	if stopErr := d.Stop(); stopErr != nil {
		t.Errorf("Stop after a failed Start: %v", stopErr)
	}

	if err == nil {
		t.Fatal("Start succeeded without an lnd")
	}
	if elapsed >= startBound {
		t.Errorf("Start took %v, want under %v", elapsed, startBound)
	}
	if !errors.Is(err, ErrLndUnreachable) {
		t.Errorf("error %q is not ErrLndUnreachable", err)
	}
	if !strings.Contains(err.Error(), host) {
		t.Errorf("error %q does not name the lnd host %s", err, host)
	}
	if _, statErr := os.Stat(cfg.DB.SQLite.Path); statErr == nil {
		t.Errorf("a failed start created the database %s",
			cfg.DB.SQLite.Path)
	}
}

// testDaemonConfig is a config for a daemon against the fake lnd, with
// everything under a temporary directory.
func testDaemonConfig(t *testing.T, fake *lndtest.Server) *Config {
	t.Helper()

	cfg, err := LoadConfig([]string{
		"--datadir", t.TempDir(),
		"--rpclisten", lndtest.FreeAddr(t),
		"--lnd.host", fake.Host,
		"--lnd.tlspath", fake.TLSCertPath,
		"--lnd.macaroonpath", fake.MacaroonDir,
		"--debuglevel", "debug",
	})
	if err != nil {
		t.Fatal(err)
	}

	return cfg
}

// apiClient is a Sluice API client that trusts the daemon's certificate
// and sends its operator macaroon.
func apiClient(t *testing.T, cfg *Config, addr string) (
	sluicerpcconnect.SluiceClient, string) {

	t.Helper()

	certPEM, err := os.ReadFile(cfg.TLSCertPath)
	if err != nil {
		t.Fatalf("API certificate: %v", err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(certPEM) {
		t.Fatalf("no certificate in %s", cfg.TLSCertPath)
	}
	mac, err := os.ReadFile(filepath.Join(cfg.MacaroonDir,
		rpc.OperatorMacaroonFile))
	if err != nil {
		t.Fatalf("operator macaroon: %v", err)
	}
	httpClient := &http.Client{
		Timeout: 5 * time.Second,
		Transport: &http.Transport{
			TLSClientConfig: &tls.Config{RootCAs: pool},
		},
	}
	t.Cleanup(httpClient.CloseIdleConnections)

	return sluicerpcconnect.NewSluiceClient(httpClient, "https://"+addr),
		hex.EncodeToString(mac)
}

// TestStartStop runs the daemon against a fake lnd: the API answers
// GetInfo with the hub's key, and Stop releases the port and the store.
func TestStartStop(t *testing.T) {
	fake := lndtest.Start(t, lndtest.Options{})
	cfg := testDaemonConfig(t, fake)

	var console bytes.Buffer
	d, err := newDaemon(cfg, &console)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	if err := d.Start(context.Background()); err != nil {
		_ = d.Stop()
		t.Fatalf("Start: %v", err)
	}
	if err := d.Start(context.Background()); !errors.Is(err,
		ErrAlreadyStarted) {

		t.Errorf("second Start = %v, want ErrAlreadyStarted", err)
	}

	info, err := d.Info(context.Background())
	if err != nil {
		t.Fatalf("Info: %v", err)
	}
	if info.HubPubkey != fake.Pubkey {
		t.Errorf("Info hub = %x, want %x", info.HubPubkey, fake.Pubkey)
	}
	if info.Network != "regtest" || info.DBBackend != "sqlite" ||
		info.Version != Version || info.StartTime.IsZero() {

		t.Errorf("Info = %+v", info)
	}

	client, mac := apiClient(t, cfg, d.RPCAddr())
	req := connect.NewRequest(&sluicerpc.GetInfoRequest{})
	req.Header().Set(sluicerpc.MacaroonHeader, mac)
	resp, err := client.GetInfo(context.Background(), req)
	if err != nil {
		t.Fatalf("GetInfo: %v", err)
	}
	if !bytes.Equal(resp.Msg.HubPubkey, fake.Pubkey[:]) {
		t.Errorf("GetInfo hub = %x, want %x", resp.Msg.HubPubkey,
			fake.Pubkey)
	}
	if resp.Msg.Network != "regtest" || resp.Msg.DbBackend != "sqlite" {
		t.Errorf("GetInfo = %v", resp.Msg)
	}

	start := time.Now()
	if err := d.Stop(); err != nil {
		t.Errorf("Stop: %v", err)
	}
	if elapsed := time.Since(start); elapsed > StopTimeout {
		t.Errorf("Stop took %v", elapsed)
	}
	if err := d.Stop(); err != nil {
		t.Errorf("second Stop: %v", err)
	}

	// The API is gone.
	_, err = client.GetInfo(context.Background(), req)
	if err == nil {
		t.Error("GetInfo answered after Stop")
	}

	// The store was created, and the log file has the start and stop.
	if _, err := os.Stat(cfg.DB.SQLite.Path); err != nil {
		t.Errorf("store: %v", err)
	}
	logFile, err := os.ReadFile(cfg.LogFile())
	if err != nil {
		t.Fatalf("log file: %v", err)
	}
	for _, want := range []string{"sluiced started", "sluiced stopped"} {
		if !strings.Contains(string(logFile), want) {
			t.Errorf("log file lacks %q:\n%s", want, logFile)
		}
	}
}

// TestRunStopsOnCancel checks that Run returns cleanly when its context
// ends, as it does on SIGINT or SIGTERM.
func TestRunStopsOnCancel(t *testing.T) {
	fake := lndtest.Start(t, lndtest.Options{})
	cfg := testDaemonConfig(t, fake)

	var console bytes.Buffer
	d, err := newDaemon(cfg, &console)
	if err != nil {
		t.Fatalf("New: %v", err)
	}

	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- d.Run(ctx) }()

	// Wait until the API server runs, then cancel.
	deadline := time.Now().Add(startBound)
	for !d.serving() {
		if time.Now().After(deadline) {
			cancel()
			t.Fatalf("daemon did not start within %v:\n%s",
				startBound, console.String())
		}
		time.Sleep(20 * time.Millisecond)
	}
	cancel()

	select {
	case err := <-done:
		if err != nil {
			t.Errorf("Run = %v, want nil after cancel", err)
		}
	case <-time.After(3 * StopTimeout):
		t.Fatal("Run did not return after cancel")
	}
}

// serving says whether Start has started the API server.
func (d *Daemon) serving() bool {
	d.mu.Lock()
	defer d.mu.Unlock()

	return d.server != nil
}

// TestRunStartFailure checks that Run returns the start error.
func TestRunStartFailure(t *testing.T) {
	fake := lndtest.Start(t, lndtest.Options{Network: "mainnet"})
	cfg := testDaemonConfig(t, fake)

	var console bytes.Buffer
	d, err := newDaemon(cfg, &console)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	err = d.Run(context.Background())
	if !errors.Is(err, ErrLndWrongNetwork) {
		t.Errorf("Run = %v, want ErrLndWrongNetwork", err)
	}
	if !strings.Contains(console.String(), "cannot start") {
		t.Errorf("console lacks the start failure:\n%s",
			console.String())
	}
}
