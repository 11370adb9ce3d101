package rpc

import (
	"context"
	"errors"
	"fmt"

	"connectrpc.com/connect"
	"github.com/sluice-ln/sluice/leader"
)

// errorCode pairs a domain package's sentinel error with the status code
// the API answers it with.
type errorCode struct {
	err  error
	code connect.Code
}

// errorCodes is one domain's table of status codes, first match wins.
type errorCodes []errorCode

// connectError turns err into a connect error with the code of the first
// sentinel it wraps, keeping the domain's message, which names the field or
// state at fault. A cancelled or timed-out call is Canceled; an error the
// table does not know is a fault of ours: Internal, logged, prefixed with
// what was being done.
func (t errorCodes) connectError(what string, err error) error {
	if errors.Is(err, leader.ErrNotLeader) {
		return notLeaderError(err)
	}
	for _, c := range t {
		if errors.Is(err, c.err) {
			return connect.NewError(c.code, err)
		}
	}
	if errors.Is(err, context.Canceled) ||
		errors.Is(err, context.DeadlineExceeded) {

		return connect.NewError(connect.CodeCanceled, err)
	}
	log.Errorf("%s: %v", what, err)
	return connect.NewError(connect.CodeInternal, fmt.Errorf("%s: %w",
		what, err))
}

// notLeaderError is the answer to a call that needed leader-only work on an
// instance that does not lead (several sluiced on one PostgreSQL
// database): FailedPrecondition, saying which instance leads when the
// error knows.
func notLeaderError(err error) error {
	var fenced *leader.Fenced
	if errors.As(err, &fenced) {
		return connect.NewError(connect.CodeFailedPrecondition, fenced)
	}

	return connect.NewError(connect.CodeFailedPrecondition, err)
}

// leaderInterceptor answers a unary call whose error wraps
// leader.ErrNotLeader with FailedPrecondition, whatever code the service
// gave it, so that a client sent to a follower is told to call the leader.
type leaderInterceptor struct{}

var _ connect.Interceptor = leaderInterceptor{}

// WrapUnary maps the error of a server-side unary call.
func (leaderInterceptor) WrapUnary(next connect.UnaryFunc) connect.UnaryFunc {
	return func(ctx context.Context, req connect.AnyRequest) (
		connect.AnyResponse, error) {

		resp, err := next(ctx, req)
		if err != nil && !req.Spec().IsClient &&
			errors.Is(err, leader.ErrNotLeader) &&
			connect.CodeOf(err) != connect.CodeFailedPrecondition {

			return nil, notLeaderError(err)
		}
		return resp, err
	}
}

// WrapStreamingClient leaves client streams alone.
func (leaderInterceptor) WrapStreamingClient(
	next connect.StreamingClientFunc) connect.StreamingClientFunc {

	return next
}

// WrapStreamingHandler leaves streams alone: usage ingest runs on every
// instance.
func (leaderInterceptor) WrapStreamingHandler(
	next connect.StreamingHandlerFunc) connect.StreamingHandlerFunc {

	return next
}
