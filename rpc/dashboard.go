package rpc

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"time"

	"connectrpc.com/connect"
	"github.com/sluice-ln/sluice/rpc/sluicerpc"
)

// ErrNotOperator is returned by VerifyOperatorMacaroon for a valid macaroon
// of another role.
var ErrNotOperator = errors.New("not an operator macaroon")

// DashboardLinks mints one-time links to the operator's web dashboard;
// dashboard.Sessions implements it. The daemon mounts the dashboard with
// Server.Handle.
type DashboardLinks interface {
	// NewLink returns a token that works once, until the time returned.
	NewLink() (string, time.Time, error)
}

// DashboardLinkPath is the path, before the token, of a dashboard link.
const DashboardLinkPath = "/dashboard/link?token="

// VerifyOperatorMacaroon returns nil when macHex is, in hex, a macaroon of
// this server for the operator: the check every API call makes, for the
// dashboard's login. The error says why not (ErrNoMacaroon,
// ErrMalformedMacaroon, ErrInvalidMacaroon, ErrCaveatFailed,
// ErrNotOperator).
func (s *Server) VerifyOperatorMacaroon(macHex string) error {
	c, err := s.macaroons.verify(macHex, time.Now())
	if err != nil {
		return err
	}
	if c.Role != RoleOperator {
		return fmt.Errorf("%w: a %s macaroon", ErrNotOperator, c.Role)
	}
	return nil
}

// Handle serves pattern with h on the API's listener beside the services,
// outside their macaroon auth: h authenticates its own requests (the
// dashboard does, by session or operator macaroon). It must be called
// before Start.
func (s *Server) Handle(pattern string, h http.Handler) error {
	s.mu.Lock()
	defer s.mu.Unlock()

	if s.started {
		return ErrAlreadyStarted
	}
	s.mux.Handle(pattern, h)
	return nil
}

// OnShutdown has f called when Stop begins, before it waits for the
// connections to go idle: a handler mounted with Handle that holds long
// requests open (the dashboard's event streams) ends them there. It must
// be called before Start.
func (s *Server) OnShutdown(f func()) error {
	s.mu.Lock()
	defer s.mu.Unlock()

	if s.started {
		return ErrAlreadyStarted
	}
	s.onShutdown = append(s.onShutdown, f)
	return nil
}

// CreateDashboardLink mints a one-time link to the dashboard.
func (s *operatorService) CreateDashboardLink(_ context.Context,
	_ *connect.Request[sluicerpc.CreateDashboardLinkRequest]) (
	*connect.Response[sluicerpc.CreateDashboardLinkResponse], error) {

	if s.dashboard == nil {
		return nil, connect.NewError(connect.CodeUnimplemented,
			errors.New("this sluiced serves no dashboard"))
	}
	tok, expires, err := s.dashboard.NewLink()
	if err != nil {
		return nil, connect.NewError(connect.CodeInternal, err)
	}
	log.Infof("Minted a one-time dashboard link, until %v",
		expires.UTC().Format(time.RFC3339))
	return connect.NewResponse(&sluicerpc.CreateDashboardLinkResponse{
		Path: DashboardLinkPath + tok, ExpiresAt: ts(expires),
	}), nil
}
