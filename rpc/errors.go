package rpc

import (
	"context"
	"errors"
	"fmt"

	"connectrpc.com/connect"
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
