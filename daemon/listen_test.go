package daemon

import (
	"bytes"
	"context"
	"crypto/x509"
	"encoding/pem"
	"net"
	"os"
	"slices"
	"strings"
	"testing"

	"github.com/sluice-ln/sluice/daemon/lndtest"
)

// TestStartListenAnywhere starts the daemon on every interface and on
// loopback: only the first logs that other machines can reach the API,
// and the certificate carries the extra IP and domain asked for.
func TestStartListenAnywhere(t *testing.T) {
	const publicWarning = "other machines can reach"
	fake := lndtest.Start(t, lndtest.Options{})

	tests := []struct {
		name       string
		host       string
		wantPublic bool
	}{
		{"every interface", "0.0.0.0", true},
		{"loopback", "127.0.0.1", false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, port, err := net.SplitHostPort(lndtest.FreeAddr(t))
			if err != nil {
				t.Fatal(err)
			}
			cfg, err := LoadConfig([]string{
				"--datadir", t.TempDir(),
				"--rpclisten", net.JoinHostPort(tc.host, port),
				"--tlsextraip", "192.0.2.44",
				"--tlsextradomain", "hub.example.com",
				"--lnd.host", fake.Host,
				"--lnd.tlspath", fake.TLSCertPath,
				"--lnd.macaroonpath", fake.MacaroonDir,
			})
			if err != nil {
				t.Fatal(err)
			}
			var console bytes.Buffer
			d, err := newDaemon(cfg, &console)
			if err != nil {
				t.Fatal(err)
			}
			err = d.Start(context.Background())
			if stopErr := d.Stop(); stopErr != nil {
				t.Errorf("Stop: %v", stopErr)
			}
			if err != nil {
				t.Fatalf("Start: %v\n%s", err, console.String())
			}

			public := strings.Contains(console.String(),
				publicWarning)
			if public != tc.wantPublic {
				t.Errorf("logged %q: %v, want %v:\n%s",
					publicWarning, public, tc.wantPublic,
					console.String())
			}

			raw, err := os.ReadFile(cfg.TLSCertPath)
			if err != nil {
				t.Fatal(err)
			}
			block, _ := pem.Decode(raw)
			if block == nil {
				t.Fatal("no certificate")
			}
			c, err := x509.ParseCertificate(block.Bytes)
			if err != nil {
				t.Fatal(err)
			}
			if !slices.ContainsFunc(c.IPAddresses,
				func(ip net.IP) bool {
					return ip.Equal(net.ParseIP(
						"192.0.2.44"))
				}) ||
				!slices.Contains(c.DNSNames, "hub.example.com") {

				t.Errorf("certificate names %v %v, want the "+
					"extras", c.IPAddresses, c.DNSNames)
			}
		})
	}
}
