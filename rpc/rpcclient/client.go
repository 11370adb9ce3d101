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
	"time"

	"connectrpc.com/connect"
	"github.com/sluice-ln/sluice/rpc/sluicerpc"
	"github.com/sluice-ln/sluice/rpc/sluicerpc/sluicerpcconnect"
)

// ErrNoCertificate is returned when the certificate given holds no PEM
// certificate.
var ErrNoCertificate = errors.New("no PEM certificate")

// Client is a client of every service of one sluiced. Nothing is dialed
// until the first call.
type Client struct {
	// Addr is the server's host:port.
	Addr string

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
	if _, _, err := net.SplitHostPort(addr); err != nil {
		return nil, fmt.Errorf("server address %q is not host:port: %w",
			addr, err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(certPEM) {
		return nil, ErrNoCertificate
	}

	opts := []connect.ClientOption{connect.WithGRPC()}
	if len(macaroon) > 0 {
		opts = append(opts, connect.WithInterceptors(
			macaroonInterceptor(hex.EncodeToString(macaroon)),
		))
	}

	// HTTP/2 is what gRPC needs.
	protocols := new(http.Protocols)
	protocols.SetHTTP2(true)
	httpClient := &http.Client{
		Transport: &http.Transport{
			TLSClientConfig: &tls.Config{
				RootCAs:    pool,
				MinVersion: tls.VersionTLS12,
			},
			Protocols:           protocols,
			TLSHandshakeTimeout: 10 * time.Second,
		},
	}
	url := "https://" + addr
	return &Client{
		Addr:   addr,
		Sluice: sluicerpcconnect.NewSluiceClient(httpClient, url, opts...),
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
