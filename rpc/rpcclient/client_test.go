package rpcclient_test

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"testing"

	"connectrpc.com/connect"
	"github.com/sluice-ln/sluice/rpc"
	"github.com/sluice-ln/sluice/rpc/rpcclient"
	"github.com/sluice-ln/sluice/rpc/sluicerpc"
)

// info answers GetInfo with a fixed network.
type info struct{}

func (info) Info(context.Context) (rpc.Info, error) {
	return rpc.Info{Version: "test", Network: "regtest", DBBackend: "sqlite"}, nil
}

func TestNewRefuses(t *testing.T) {
	tests := []struct {
		name string
		addr string
		cert []byte
		want error
	}{
		{"address without port", "127.0.0.1", []byte("x"), nil},
		{"no certificate", "127.0.0.1:1", []byte("not pem"),
			rpcclient.ErrNoCertificate},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := rpcclient.New(tc.addr, tc.cert, nil)
			if err == nil {
				t.Fatal("no error")
			}
			if tc.want != nil && !errors.Is(err, tc.want) {
				t.Fatalf("got %v, want %v", err, tc.want)
			}
		})
	}
}

// TestCallsCarryTheMacaroon calls a real server: with the operator
// macaroon GetInfo answers and names the role; without one it is refused
// as unauthenticated.
func TestCallsCarryTheMacaroon(t *testing.T) {
	dir := t.TempDir()
	srv, err := rpc.NewServer(rpc.Config{
		ListenAddr:  "127.0.0.1:0",
		TLSCertPath: filepath.Join(dir, "tls.cert"),
		TLSKeyPath:  filepath.Join(dir, "tls.key"),
		MacaroonDir: dir,
		Info:        info{},
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := srv.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = srv.Stop(context.Background()) })

	cert, err := os.ReadFile(filepath.Join(dir, "tls.cert"))
	if err != nil {
		t.Fatal(err)
	}
	mac, err := os.ReadFile(filepath.Join(dir, "operator.macaroon"))
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()

	cl, err := rpcclient.New(srv.Addr(), cert, mac)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := cl.Sluice.GetInfo(ctx,
		connect.NewRequest(&sluicerpc.GetInfoRequest{}))
	if err != nil {
		t.Fatal(err)
	}
	if resp.Msg.Role != "operator" || resp.Msg.Network != "regtest" {
		t.Fatalf("GetInfo: %+v", resp.Msg)
	}

	anon, err := rpcclient.New(srv.Addr(), cert, nil)
	if err != nil {
		t.Fatal(err)
	}
	// A fresh request: the first one's headers now hold the macaroon.
	_, err = anon.Sluice.GetInfo(ctx,
		connect.NewRequest(&sluicerpc.GetInfoRequest{}))
	if connect.CodeOf(err) != connect.CodeUnauthenticated {
		t.Fatalf("GetInfo without a macaroon: %v", err)
	}
}
