package rpc

import (
	"crypto/x509"
	"encoding/pem"
	"net"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/lightningnetwork/lnd/cert"
)

// readCert parses the PEM certificate at path.
func readCert(t *testing.T, path string) *x509.Certificate {
	t.Helper()
	raw, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	block, _ := pem.Decode(raw)
	if block == nil {
		t.Fatalf("no PEM block in %s", path)
	}
	c, err := x509.ParseCertificate(block.Bytes)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// certNames are a certificate's IPs (as strings) and DNS names, sorted.
func certNames(c *x509.Certificate) ([]string, []string) {
	var ips []string
	for _, ip := range c.IPAddresses {
		ips = append(ips, ip.String())
	}
	slices.Sort(ips)
	dns := slices.Clone(c.DNSNames)
	slices.Sort(dns)
	return ips, dns
}

// TestTLSExtraNames checks the names of the self-signed certificate: the
// loopback ones plus the extra IPs and domains, and nothing about the
// machine (no interface addresses, no host name). A certificate sluiced
// made is made again when the names asked for change, and kept while they
// stay the same; one made by someone else is kept whatever it names.
func TestTLSExtraNames(t *testing.T) {
	t.Parallel()
	now := time.Now()

	// lnd's cert package adds these fixed names for its own transports.
	lndFixed := []string{"bufconn", "localhost", "unix", "unixpacket"}

	tests := []struct {
		name     string
		ips      []string
		domains  []string
		wantIPs  []string
		wantDNS  []string
		wantSame bool
	}{{
		name:    "loopback only",
		wantIPs: []string{"127.0.0.1", "::1"},
		wantDNS: lndFixed,
	}, {
		name:    "extra ips and domains",
		ips:     []string{"192.0.2.7", "2001:db8::7"},
		domains: []string{"hub.example.com", "sluice.example.org"},
		wantIPs: []string{"127.0.0.1", "192.0.2.7", "2001:db8::7",
			"::1"},
		wantDNS: append([]string{"hub.example.com",
			"sluice.example.org"}, lndFixed...),
	}, {
		name:     "same names again",
		ips:      []string{"2001:db8::7", "192.0.2.7"},
		domains:  []string{"sluice.example.org", "hub.example.com"},
		wantIPs:  []string{"127.0.0.1", "192.0.2.7", "2001:db8::7", "::1"},
		wantDNS:  append([]string{"hub.example.com", "sluice.example.org"}, lndFixed...),
		wantSame: true,
	}, {
		name:    "one domain dropped",
		ips:     []string{"192.0.2.7", "2001:db8::7"},
		domains: []string{"hub.example.com"},
		wantIPs: []string{"127.0.0.1", "192.0.2.7", "2001:db8::7",
			"::1"},
		wantDNS: append([]string{"hub.example.com"}, lndFixed...),
	}, {
		name:    "back to loopback",
		wantIPs: []string{"127.0.0.1", "::1"},
		wantDNS: lndFixed,
	}}

	// The steps run in order on one pair of files.
	dir := t.TempDir()
	files := tlsFiles{
		certPath: filepath.Join(dir, "tls.cert"),
		keyPath:  filepath.Join(dir, "tls.key"),
	}
	var last []byte
	for _, tc := range tests {
		files.extraIPs, files.extraDomains = tc.ips, tc.domains
		if _, err := loadOrCreateTLS(files, now); err != nil {
			t.Fatalf("%s: %v", tc.name, err)
		}
		raw, err := os.ReadFile(files.certPath)
		if err != nil {
			t.Fatal(err)
		}
		if same := slices.Equal(raw, last); same != tc.wantSame {
			t.Errorf("%s: certificate kept = %v, want %v", tc.name,
				same, tc.wantSame)
		}
		last = raw

		ips, dns := certNames(readCert(t, files.certPath))
		wantIPs := slices.Clone(tc.wantIPs)
		slices.Sort(wantIPs)
		wantDNS := slices.Clone(tc.wantDNS)
		slices.Sort(wantDNS)
		if !slices.Equal(ips, wantIPs) || !slices.Equal(dns, wantDNS) {
			t.Errorf("%s: certificate names %v %v, want %v %v",
				tc.name, ips, dns, wantIPs, wantDNS)
		}
	}
}

// TestTLSForeignCertKept checks that a certificate sluiced did not make
// (an operator's own, from a CA say) is used as it is, though it names
// none of the configured extras.
func TestTLSForeignCertKept(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	files := tlsFiles{
		certPath:     filepath.Join(dir, "tls.cert"),
		keyPath:      filepath.Join(dir, "tls.key"),
		extraIPs:     []string{"192.0.2.9"},
		extraDomains: []string{"hub.example.com"},
	}
	certPEM, keyPEM, err := cert.GenCertPair("operator's own CA", nil, nil,
		true, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	err = cert.WriteCertPair(files.certPath, files.keyPath, certPEM, keyPEM)
	if err != nil {
		t.Fatal(err)
	}

	if _, err := loadOrCreateTLS(files, time.Now()); err != nil {
		t.Fatal(err)
	}
	raw, err := os.ReadFile(files.certPath)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(raw, certPEM) {
		t.Fatal("the operator's certificate was replaced")
	}
	c := readCert(t, files.certPath)
	if slices.ContainsFunc(c.IPAddresses, func(ip net.IP) bool {
		return ip.Equal(net.ParseIP("192.0.2.9"))
	}) {
		t.Fatal("the kept certificate names the extra IP")
	}

	// Once expired, it is replaced by one of sluiced's own, with the
	// extras.
	if _, err := loadOrCreateTLS(files, time.Now().Add(2*time.Hour)); err != nil {
		t.Fatal(err)
	}
	c = readCert(t, files.certPath)
	if !slices.Contains(c.DNSNames, "hub.example.com") {
		t.Fatalf("the new certificate names %v", c.DNSNames)
	}
}
