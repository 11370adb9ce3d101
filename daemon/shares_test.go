package daemon

import (
	"context"
	"errors"
	"net"
	"testing"

	"github.com/sluice-ln/sluice/daemon/lndtest"
)

// TestConnectTapd: sluiced takes the hub's tapd only when it answers on
// sluiced's network; nothing listening, an unreadable macaroon and a tapd
// of another network each give their own error (startShares then logs it
// and runs without shares).
func TestConnectTapd(t *testing.T) {
	ctx := context.Background()
	fake := lndtest.Start(t, lndtest.Options{TapdNetwork: "regtest"})
	cfg := &TapdConfig{Host: fake.Host, TLSPath: fake.TLSCertPath,
		MacaroonPath: fake.MacaroonPath}

	conn, err := ConnectTapd(ctx, cfg, "regtest")
	if err != nil {
		t.Fatalf("tapd on regtest: %v", err)
	}
	conn.Close()

	if _, err := ConnectTapd(ctx, cfg, "testnet"); !errors.Is(err,
		ErrTapdWrongNetwork) {

		t.Fatalf("tapd on regtest, sluiced on testnet: %v", err)
	}

	bad := *cfg
	bad.MacaroonPath = cfg.MacaroonPath + ".missing"
	if _, err := ConnectTapd(ctx, &bad, "regtest"); !errors.Is(err,
		ErrTapdUnreachable) {

		t.Fatalf("no macaroon: %v", err)
	}

	// A port nothing listens on.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	closed := ln.Addr().String()
	ln.Close()
	none := *cfg
	none.Host = closed
	if _, err := ConnectTapd(ctx, &none, "regtest"); !errors.Is(err,
		ErrTapdUnreachable) {

		t.Fatalf("nothing at %s: %v", closed, err)
	}

	// An lnd that is no tapd: it answers, but not taprpc.
	lnd := lndtest.Start(t, lndtest.Options{})
	notTapd := &TapdConfig{Host: lnd.Host, TLSPath: lnd.TLSCertPath,
		MacaroonPath: lnd.MacaroonPath}
	if _, err := ConnectTapd(ctx, notTapd, "regtest"); !errors.Is(err,
		ErrTapdUnreachable) {

		t.Fatalf("an lnd at --tapd.host: %v", err)
	}
}
