package metrics

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// Path is where the server serves the metrics.
const Path = "/metrics"

// readHeaderTimeout bounds how long a scraper may take to send its request
// headers.
const readHeaderTimeout = 10 * time.Second

// Server serves a Metrics' registry at Path over plain HTTP, as lnd's
// --prometheus.listen does: metrics carry no secrets beyond totals, and a
// Prometheus server scrapes without credentials. Listen on loopback, or
// put it behind a firewall.
type Server struct {
	addr    string
	handler http.Handler

	mu       sync.Mutex
	listener net.Listener
	srv      *http.Server
	served   chan struct{}
}

// NewServer returns a server for m's registry on addr (host:port).
func NewServer(addr string, m *Metrics) *Server {
	mux := http.NewServeMux()
	mux.Handle(Path, promhttp.InstrumentMetricHandler(m.Registry(),
		promhttp.HandlerFor(m.Registry(), promhttp.HandlerOpts{
			// A part of the state that cannot be read is left
			// out; the rest is still served.
			ErrorHandling: promhttp.ContinueOnError,
			ErrorLog:      promLogger{},
		})))
	return &Server{addr: addr, handler: mux}
}

// Start listens and serves in the background.
func (s *Server) Start() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.srv != nil {
		return errors.New("metrics server already started")
	}
	ln, err := net.Listen("tcp", s.addr)
	if err != nil {
		return fmt.Errorf("listen on %s: %w", s.addr, err)
	}
	s.listener = ln
	s.served = make(chan struct{})
	s.srv = &http.Server{
		Handler:           s.handler,
		ReadHeaderTimeout: readHeaderTimeout,
	}
	log.Infof("Prometheus metrics on http://%s%s", ln.Addr(), Path)
	go func() {
		defer close(s.served)
		err := s.srv.Serve(ln)
		if err != nil && !errors.Is(err, http.ErrServerClosed) {
			log.Errorf("Metrics server: %v", err)
		}
	}()
	return nil
}

// Stop stops serving, waiting for scrapes in progress until ctx ends.
func (s *Server) Stop(ctx context.Context) error {
	s.mu.Lock()
	srv, served := s.srv, s.served
	s.mu.Unlock()
	if srv == nil {
		return nil
	}
	err := srv.Shutdown(ctx)
	if err != nil {
		err = errors.Join(err, srv.Close())
	}
	<-served
	return err
}

// Addr is the address the server listens on: the bound one after Start.
func (s *Server) Addr() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.listener != nil {
		return s.listener.Addr().String()
	}
	return s.addr
}

// promLogger writes promhttp's errors to the package log.
type promLogger struct{}

// Println logs at warning level: a scrape that lost a part.
func (promLogger) Println(v ...any) {
	log.Warnf("Metrics: %s", fmt.Sprint(v...))
}
