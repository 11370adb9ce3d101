// Package rpcclient is the Go client of sluiced's API: one HTTP/2 TLS
// connection pool trusting sluiced's self-signed certificate, a client of
// every service on it, speaking gRPC, and the macaroon header on every
// call. The CLI, the demo and the integration tests all use it.
package rpcclient

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"net/http"
	"slices"
	"strings"
	"time"

	"connectrpc.com/connect"
	"github.com/sluice-ln/sluice/rpc/sluicerpc"
	"github.com/sluice-ln/sluice/rpc/sluicerpc/sluicerpcconnect"
)

// ErrNoCertificate is returned when the certificate given holds no PEM
// certificate.
var ErrNoCertificate = errors.New("no PEM certificate")

// Client is a client of every service of sluiced, at one address or at
// several (instances sharing one database, certificate and macaroons: see
// failover.go for which call goes where). Nothing is dialed until the
// first call.
type Client struct {
	// Addr is the server's host:port; with several, they are joined by
	// commas, for messages.
	Addr string

	// Addrs are the server's addresses, in the order they are tried.
	Addrs []string

	servers *servers

	Sluice    sluicerpcconnect.SluiceClient
	Providers sluicerpcconnect.ProviderServiceClient
	Metering  sluicerpcconnect.MeteringServiceClient
	Jobs      sluicerpcconnect.JobServiceClient
	Operator  sluicerpcconnect.OperatorServiceClient
	Vault     sluicerpcconnect.VaultServiceClient
	Yield     sluicerpcconnect.YieldServiceClient
	Shares    sluicerpcconnect.SharesServiceClient
	Leases    sluicerpcconnect.LeaseServiceClient
	Market    sluicerpcconnect.MarketServiceClient
}

// New returns a client of the sluiced at addr (host:port) whose TLS
// certificate is certPEM, the only root it trusts. Every call carries
// macaroon (the raw bytes of a macaroon file); with macaroon empty, calls
// carry none, as the open linking calls need.
func New(addr string, certPEM, macaroon []byte) (*Client, error) {
	return NewServers([]string{addr}, certPEM, macaroon)
}

// NewServers is New for the sluiced instances at addrs, tried in order: a
// call goes to the next address by the rule of failover.go.
func NewServers(addrs []string, certPEM, macaroon []byte) (*Client, error) {
	if len(addrs) == 0 {
		return nil, errors.New("no server address")
	}
	for _, addr := range addrs {
		if _, _, err := net.SplitHostPort(addr); err != nil {
			return nil, fmt.Errorf("server address %q is not "+
				"host:port: %w", addr, err)
		}
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(certPEM) {
		return nil, ErrNoCertificate
	}

	// The failover interceptor is the outer one: each try at an address
	// carries the macaroon.
	srvs := &servers{addrs: slices.Clone(addrs)}
	interceptors := []connect.Interceptor{srvs}
	if len(macaroon) > 0 {
		interceptors = append(interceptors,
			macaroonInterceptor(hex.EncodeToString(macaroon)))
	}
	opts := []connect.ClientOption{connect.WithGRPC(),
		connect.WithInterceptors(interceptors...)}

	// HTTP/2 is what gRPC needs.
	protocols := new(http.Protocols)
	protocols.SetHTTP2(true)
	httpClient := &http.Client{
		Transport: routeTransport{base: &http.Transport{
			TLSClientConfig: &tls.Config{
				RootCAs:    pool,
				MinVersion: tls.VersionTLS12,
			},
			Protocols:           protocols,
			TLSHandshakeTimeout: 10 * time.Second,
		}},
	}
	url := "https://" + addrs[0]
	return &Client{
		Addr:    strings.Join(addrs, ","),
		Addrs:   srvs.addrs,
		servers: srvs,
		Sluice:  sluicerpcconnect.NewSluiceClient(httpClient, url, opts...),
		Providers: sluicerpcconnect.NewProviderServiceClient(
			httpClient, url, opts...,
		),
		Metering: sluicerpcconnect.NewMeteringServiceClient(
			httpClient, url, opts...,
		),
		Jobs: sluicerpcconnect.NewJobServiceClient(
			httpClient, url, opts...,
		),
		Operator: sluicerpcconnect.NewOperatorServiceClient(
			httpClient, url, opts...,
		),
		Vault: sluicerpcconnect.NewVaultServiceClient(
			httpClient, url, opts...,
		),
		Yield: sluicerpcconnect.NewYieldServiceClient(
			httpClient, url, opts...,
		),
		Shares: sluicerpcconnect.NewSharesServiceClient(
			httpClient, url, opts...,
		),
		Leases: sluicerpcconnect.NewLeaseServiceClient(
			httpClient, url, opts...,
		),
		Market: sluicerpcconnect.NewMarketServiceClient(
			httpClient, url, opts...,
		),
	}, nil
}

// Current is the address calls go to first: the last that answered.
func (c *Client) Current() string {
	return c.servers.Current()
}

// macaroonInterceptor adds the hex macaroon header to every call.
type macaroonInterceptor string

var _ connect.Interceptor = macaroonInterceptor("")

// WrapUnary sets the macaroon header on a unary call.
func (m macaroonInterceptor) WrapUnary(next connect.UnaryFunc) connect.UnaryFunc {
	return func(ctx context.Context, req connect.AnyRequest) (
		connect.AnyResponse, error) {

		req.Header().Set(sluicerpc.MacaroonHeader, string(m))
		return next(ctx, req)
	}
}

// WrapStreamingClient sets the macaroon header on a stream.
func (m macaroonInterceptor) WrapStreamingClient(
	next connect.StreamingClientFunc) connect.StreamingClientFunc {

	return func(ctx context.Context,
		spec connect.Spec) connect.StreamingClientConn {

		conn := next(ctx, spec)
		conn.RequestHeader().Set(sluicerpc.MacaroonHeader, string(m))
		return conn
	}
}

// WrapStreamingHandler is unused on a client.
func (m macaroonInterceptor) WrapStreamingHandler(
	next connect.StreamingHandlerFunc) connect.StreamingHandlerFunc {

	return next
}
