package routing

import (
	"context"
	"errors"

	"github.com/sluice-ln/sluice/hubnode"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// refusals are lnd's answers, as package lightning names them, that say a
// call was refused for good: nothing was done, and asking again the same
// way would be refused again.
var refusals = []error{
	hubnode.ErrChannelRequest,
	hubnode.ErrUnknownPeer,
	hubnode.ErrPeerUnreachable,
	hubnode.ErrInsufficientFunds,
	hubnode.ErrChannelSize,
	hubnode.ErrOpenRefused,
	hubnode.ErrChannelNotFound,
	hubnode.ErrChannelPending,
	hubnode.ErrPolicyRefused,
}

// refused reports whether err is lnd's refusal of a call rather than a
// failure to get its answer. Besides package lightning's sentinels, an
// answer lnd sent (a gRPC status with a code that is not about transport
// or deadlines: lnd sends most refusals as Unknown) counts; an error with
// no gRPC status, a context's end, or a status of Unavailable,
// DeadlineExceeded, Canceled, Aborted, ResourceExhausted or Internal
// leaves the outcome unknown.
func refused(err error) bool {
	for _, r := range refusals {
		if errors.Is(err, r) {
			return true
		}
	}
	if errors.Is(err, context.Canceled) ||
		errors.Is(err, context.DeadlineExceeded) {

		return false
	}
	st, ok := status.FromError(err)
	if !ok {
		return false
	}
	switch st.Code() {
	case codes.Unknown, codes.InvalidArgument, codes.FailedPrecondition,
		codes.NotFound, codes.AlreadyExists, codes.OutOfRange,
		codes.PermissionDenied, codes.Unimplemented:

		return true
	}
	return false
}

// unreachable reports whether err says lnd could not be asked or did not
// answer in time (a context's end, a gRPC status of Unavailable,
// DeadlineExceeded, Canceled, Aborted, ResourceExhausted or Internal), as
// opposed to an answer of lnd's.
func unreachable(err error) bool {
	if errors.Is(err, context.Canceled) ||
		errors.Is(err, context.DeadlineExceeded) {

		return true
	}
	st, ok := status.FromError(err)
	if !ok {
		return false
	}
	switch st.Code() {
	case codes.Unavailable, codes.DeadlineExceeded, codes.Canceled,
		codes.Aborted, codes.ResourceExhausted, codes.Internal:

		return true
	}
	return false
}
