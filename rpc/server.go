package rpc

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	stdlog "log"
	"net"
	"net/http"
	"strings"
	"sync"
	"time"

	"connectrpc.com/connect"
	"github.com/sluice-ln/sluice/channels"
	"github.com/sluice-ln/sluice/rpc/sluicerpc"
	"github.com/sluice-ln/sluice/rpc/sluicerpc/sluicerpcconnect"
)

var (
	// ErrAlreadyStarted is returned by Start on a server that was started
	// before.
	ErrAlreadyStarted = errors.New("rpc server already started")
)

// readHeaderTimeout bounds how long a client may take to send its request
// headers, so idle half-open connections do not pile up.
const readHeaderTimeout = 10 * time.Second

// Server is Sluice's API server: the connect handlers of every service
// behind macaroon auth, on one TLS listener.
type Server struct {
	cfg       Config
	tlsConf   *tls.Config
	macaroons *macaroonService
	handler   http.Handler
	mux       *http.ServeMux

	mu        sync.Mutex
	started   bool
	startedAt time.Time
	listener  net.Listener
	httpSrv   *http.Server
	served    chan struct{}

	// onShutdown are called when Stop begins (OnShutdown).
	onShutdown []func()
}

// NewServer checks cfg and prepares everything the server needs on disk:
// the TLS certificate and key, the macaroon root key and the operator
// macaroon are made on first use and reused afterwards. It does not
// listen yet; Start does.
func NewServer(cfg Config) (*Server, error) {
	cfg, err := cfg.withDefaults()
	if err != nil {
		return nil, err
	}
	tlsConf, err := loadOrCreateTLS(tlsFiles{
		certPath:     cfg.TLSCertPath,
		keyPath:      cfg.TLSKeyPath,
		extraIPs:     cfg.TLSExtraIPs,
		extraDomains: cfg.TLSExtraDomains,
	}, time.Now())
	if err != nil {
		return nil, err
	}
	macaroons, err := newMacaroonService(cfg.MacaroonDir)
	if err != nil {
		return nil, err
	}

	s := &Server{
		cfg:       cfg,
		tlsConf:   tlsConf,
		macaroons: macaroons,
	}
	auth := &authInterceptor{
		macaroons:   macaroons,
		permissions: permissions,
		now:         time.Now,
	}
	if cfg.ProviderLinks != nil {
		auth.links = newLinkCache(cfg.ProviderLinks, time.Now)
	}
	sluice := &sluiceService{
		info:    cfg.Info,
		started: s.startTime,
		now:     time.Now,
	}
	var providers sluicerpcconnect.ProviderServiceHandler = &sluicerpcconnect.UnimplementedProviderServiceHandler{}
	if cfg.Providers != nil {
		providers = &providerService{
			backend: cfg.Providers,
			payouts: cfg.Payouts,
			bake:    macaroons.bakeProvider,
			linked:  auth.forgetLink,
		}
	}
	var meter sluicerpcconnect.MeteringServiceHandler = &sluicerpcconnect.UnimplementedMeteringServiceHandler{}
	if cfg.Metering != nil {
		meter = &meteringService{backend: cfg.Metering}
	}
	var jobs sluicerpcconnect.JobServiceHandler = &sluicerpcconnect.UnimplementedJobServiceHandler{}
	var operator sluicerpcconnect.OperatorServiceHandler = &sluicerpcconnect.UnimplementedOperatorServiceHandler{}
	if cfg.Jobs != nil {
		jobs = &jobService{backend: cfg.Jobs, market: cfg.Market}
		operator = &operatorService{
			backend:    cfg.Jobs,
			reconciler: cfg.Reconciler,
			bake:       macaroons.bakeBuyer,
			dashboard:  cfg.Dashboard,
		}
	}
	vault := &vaultService{backend: cfg.Vault}
	yieldSvc := &yieldService{backend: cfg.Yield}
	shareSvc := &sharesService{backend: cfg.Shares}
	leases := &leaseService{backend: cfg.Leases}
	marketSvc := &marketService{backend: cfg.Market}
	s.mux = newHandler(auth,
		func(opts ...connect.HandlerOption) (string, http.Handler) {
			return sluicerpcconnect.NewSluiceHandler(sluice, opts...)
		},
		func(opts ...connect.HandlerOption) (string, http.Handler) {
			return sluicerpcconnect.NewProviderServiceHandler(
				providers, opts...,
			)
		},
		func(opts ...connect.HandlerOption) (string, http.Handler) {
			return sluicerpcconnect.NewMeteringServiceHandler(
				meter, opts...,
			)
		},
		func(opts ...connect.HandlerOption) (string, http.Handler) {
			return sluicerpcconnect.NewJobServiceHandler(
				jobs, opts...,
			)
		},
		func(opts ...connect.HandlerOption) (string, http.Handler) {
			return sluicerpcconnect.NewOperatorServiceHandler(
				operator, opts...,
			)
		},
		func(opts ...connect.HandlerOption) (string, http.Handler) {
			return sluicerpcconnect.NewVaultServiceHandler(
				vault, opts...,
			)
		},
		func(opts ...connect.HandlerOption) (string, http.Handler) {
			return sluicerpcconnect.NewYieldServiceHandler(
				yieldSvc, opts...,
			)
		},
		func(opts ...connect.HandlerOption) (string, http.Handler) {
			return sluicerpcconnect.NewSharesServiceHandler(
				shareSvc, opts...,
			)
		},
		func(opts ...connect.HandlerOption) (string, http.Handler) {
			return sluicerpcconnect.NewLeaseServiceHandler(
				leases, opts...,
			)
		},
		func(opts ...connect.HandlerOption) (string, http.Handler) {
			return sluicerpcconnect.NewMarketServiceHandler(
				marketSvc, opts...,
			)
		},
	)
	s.handler = s.mux
	return s, nil
}

// serviceHandler mounts one service's connect handler with the given
// options, returning its path prefix and handler, as the generated
// New<Service>Handler functions do.
type serviceHandler func(opts ...connect.HandlerOption) (string, http.Handler)

// The JSON codec is written without importing connect; check it fits.
var _ connect.Codec = sluicerpc.JSONCodec{}

// compressMinBytes is the smallest answer the API compresses, for a client
// that accepts gzip. connect's default, 0, compresses every answer: an
// agent's SubmitUsage answer is a few bytes, which gzip makes longer, and
// resetting a gzip writer for each cost 3 % of sluiced's CPU in a CPU
// profile of BenchmarkPayouts' rounds at eight providers (docs/payouts.md).
const compressMinBytes = 1024

// newHandler routes every service to its handler through the auth
// interceptor, with the hex JSON codec, compressing only answers of at
// least compressMinBytes.
func newHandler(auth connect.Interceptor,
	services ...serviceHandler) *http.ServeMux {

	opts := []connect.HandlerOption{
		connect.WithInterceptors(auth, leaderInterceptor{}),
		connect.WithCompressMinBytes(compressMinBytes),
	}
	for _, c := range sluicerpc.JSONCodecs() {
		opts = append(opts, connect.WithCodec(c))
	}

	mux := http.NewServeMux()
	for _, svc := range services {
		mux.Handle(svc(opts...))
	}
	return mux
}

// Start listens on Config.ListenAddr and serves in the background until
// Stop.
func (s *Server) Start() error {
	s.mu.Lock()
	defer s.mu.Unlock()

	if s.started {
		return ErrAlreadyStarted
	}
	ln, err := net.Listen("tcp", s.cfg.ListenAddr)
	if err != nil {
		return fmt.Errorf("listen on %s: %w", s.cfg.ListenAddr, err)
	}
	s.started = true
	s.startedAt = time.Now()
	s.listener = ln
	s.served = make(chan struct{})
	s.httpSrv = &http.Server{
		Handler:           s.handler,
		TLSConfig:         s.tlsConf,
		ReadHeaderTimeout: readHeaderTimeout,
		ErrorLog:          stdlog.New(debugWriter{}, "", 0),
		BaseContext: func(net.Listener) context.Context {
			return context.Background()
		},
	}
	for _, f := range s.onShutdown {
		s.httpSrv.RegisterOnShutdown(f)
	}
	log.Infof("API listening on %s (gRPC, gRPC-Web and JSON over "+
		"HTTPS)", ln.Addr())
	if !isLoopback(ln.Addr()) {
		log.Warnf("The API listens on %s, which other machines can "+
			"reach: every call needs a macaroon, so guard "+
			"operator.macaroon; remote clients verify %s, which "+
			"must name the address they dial (--tlsextraip, "+
			"--tlsextradomain)", ln.Addr(), s.cfg.TLSCertPath)
	}

	go func(srv *http.Server, served chan struct{}) {
		defer close(served)
		// The certificate is in TLSConfig already.
		err := srv.ServeTLS(ln, "", "")
		if err != nil && !errors.Is(err, http.ErrServerClosed) {
			log.Errorf("API server stopped: %v", err)
		}
	}(s.httpSrv, s.served)
	return nil
}

// isLoopback says whether a listener's address is on a loopback interface
// only; an unspecified address (every interface) is not.
func isLoopback(addr net.Addr) bool {
	tcp, ok := addr.(*net.TCPAddr)

	return ok && tcp.IP.IsLoopback()
}

// Stop stops accepting calls and waits for running calls to finish until
// ctx is done; then it closes the connections that are left. Stopping a
// server that never started does nothing.
func (s *Server) Stop(ctx context.Context) error {
	s.mu.Lock()
	srv, served := s.httpSrv, s.served
	s.mu.Unlock()
	if srv == nil {
		return nil
	}

	err := srv.Shutdown(ctx)
	if err != nil {
		log.Warnf("API server did not drain in time, closing: %v", err)
		if closeErr := srv.Close(); closeErr != nil {
			err = errors.Join(err, closeErr)
		}
	}
	<-served
	if err != nil {
		return fmt.Errorf("stop API server: %w", err)
	}
	log.Infof("API server stopped")
	return nil
}

// Addr is the address the server listens on: after Start, the bound
// address (the real port when Config.ListenAddr asked for port 0); before,
// the configured one.
func (s *Server) Addr() string {
	s.mu.Lock()
	defer s.mu.Unlock()

	if s.listener != nil {
		return s.listener.Addr().String()
	}
	return s.cfg.ListenAddr
}

// BakeProviderMacaroon mints a provider macaroon bound to providerID and to
// the link whose agent key is agent, in macaroon v2 binary form: its
// holder may call the provider methods for that provider only, until the
// provider links again. Nothing is stored; the provider keeps the
// macaroon, and replacing the root key revokes it.
func (s *Server) BakeProviderMacaroon(providerID string,
	agent channels.AgentKey) ([]byte, error) {

	return s.macaroons.bakeProvider(providerID, agent)
}

// BakeBuyerMacaroon mints a buyer macaroon bound to buyerID, in macaroon v2
// binary form: its holder may create and fund jobs for that buyer and sees
// only that buyer's jobs. Nothing is stored.
func (s *Server) BakeBuyerMacaroon(buyerID string) ([]byte, error) {
	return s.macaroons.bakeBuyer(buyerID)
}

// startTime is when Start was called; zero before.
func (s *Server) startTime() time.Time {
	s.mu.Lock()
	defer s.mu.Unlock()

	return s.startedAt
}

// debugWriter sends net/http's own messages (TLS handshake failures from
// clients that do not trust the certificate, for example) to the debug
// log: they are the peer's trouble, not ours.
type debugWriter struct{}

// Write logs p at debug level.
func (debugWriter) Write(p []byte) (int, error) {
	log.Debugf("http: %s", strings.TrimSpace(string(p)))
	return len(p), nil
}
