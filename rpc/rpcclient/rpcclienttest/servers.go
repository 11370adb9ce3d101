// Package rpcclienttest starts fake sluiced instances for tests of clients
// that fail over between them.
package rpcclienttest

import (
	"encoding/pem"
	"net/http"
	"net/http/httptest"
	"testing"
)

// Instances starts n HTTP/2 servers over TLS on 127.0.0.1, server i
// answering with handler(i), all with one certificate as an operator copies
// it to every sluiced. It returns the servers, closed when the test ends,
// and the certificate in PEM, for a client's --tlscertpath.
func Instances(t testing.TB, n int, handler func(i int) http.Handler) (
	[]*httptest.Server, []byte) {

	t.Helper()
	var (
		servers []*httptest.Server
		cert    []byte
	)
	for i := range n {
		srv := httptest.NewUnstartedServer(handler(i))
		srv.EnableHTTP2 = true
		if i > 0 {
			srv.TLS = servers[0].TLS.Clone()
		}
		srv.StartTLS()
		t.Cleanup(srv.Close)
		if i == 0 {
			cert = pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE",
				Bytes: srv.Certificate().Raw})
		}
		servers = append(servers, srv)
	}
	return servers, cert
}
