package rpcclient

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/http/httptrace"
	"strings"
	"sync"
	"sync/atomic"

	"connectrpc.com/connect"
	"google.golang.org/protobuf/reflect/protoreflect"
)

// Several sluiced instances on one database serve the same API with the
// same TLS certificate and macaroons, so a client given several addresses
// may send a call to any of them. The rule of which call may go to the
// next address, and when (docs/operations.md, "Several addresses"):
//
//   - An answer from a server is final (a verdict: NotFound,
//     InvalidArgument, PermissionDenied, ...), except the refusal of a
//     follower for a leader-only call (NotLeader), which went no further
//     than the refusal and is sent to the next address.
//   - A transport failure (connection refused or reset, a timeout, no
//     answer, Unavailable) moves the call to the next address when that is
//     safe: the request never reached a server (nothing was written on a
//     connection), or the call is idempotent (Idempotent).
//   - Otherwise the call stops there: it may have taken effect, and the
//     error says so.

// NotLeaderMessage is what a follower's FailedPrecondition refusal of a
// leader-only call says ("not the leader; the leader is <addr>").
const NotLeaderMessage = "not the leader"

// NotLeader reports whether err is a follower refusing a leader-only call:
// FailedPrecondition saying NotLeaderMessage. The call did nothing there,
// so the client sends it to its next address.
func NotLeader(err error) bool {
	var ce *connect.Error
	return errors.As(err, &ce) &&
		ce.Code() == connect.CodeFailedPrecondition &&
		strings.Contains(ce.Message(), NotLeaderMessage)
}

// readOnly are the procedures (by method name) that change nothing; they
// are idempotent.
var readOnly = map[string]bool{
	"GetInfo": true, "GetJob": true, "ListJobs": true,
	"GetJobWorkload": true, "GetJobOutput": true, "GetLeaseInfo": true,
	"GetLease": true, "ListLeases": true, "ListOffers": true,
	"GetRecord": true, "PlaceDryRun": true, "GetMeter": true,
	"ListBuyers": true, "GetProvider": true, "ListProviders": true,
	"GetProviderStatus": true, "GetShares": true,
	"ListWithdrawals": true, "ListDeposits": true, "GetVault": true,
	"GetHolding": true, "ListRedemptions": true, "ListEpochs": true,
	"GetEpoch": true, "GetRewardProof": true, "GetPlan": true,
	"ListActions": true, "ListStrategies": true, "Report": true,
	"Reconcile": true,
}

// idempotentByDesign are the state-changing procedures whose repetition
// changes nothing more: SubmitUsage (each record carries its seq; sluiced
// acknowledges a record it has as a duplicate) and Heartbeat (the offer
// replaces the last one and extends the same deadline).
var idempotentByDesign = map[string]bool{
	"SubmitUsage": true, "Heartbeat": true,
}

// idempotencyKeys are the state-changing procedures that take an
// idempotency key, and its field: with the key set, sluiced answers a
// repeated call with the first one's result.
var idempotencyKeys = map[string]protoreflect.Name{
	"Withdraw": "idempotency_key", "Stake": "idempotency_key",
	"Redeem": "idempotency_key", "CreateLease": "key",
}

// Idempotent reports whether sending the call of procedure (the full
// "/package.Service/Method") with msg twice has the effect of sending it
// once: read-only calls, SubmitUsage and Heartbeat, and Withdraw, Stake,
// Redeem and CreateLease when their idempotency key is set.
func Idempotent(procedure string, msg any) bool {
	method := procedure[strings.LastIndexByte(procedure, '/')+1:]
	if readOnly[method] || idempotentByDesign[method] {
		return true
	}
	field, ok := idempotencyKeys[method]
	if !ok {
		return false
	}
	pm, ok := msg.(interface {
		ProtoReflect() protoreflect.Message
	})
	if !ok {
		return false
	}
	m := pm.ProtoReflect()
	fd := m.Descriptor().Fields().ByName(field)
	return fd != nil && fd.Kind() == protoreflect.StringKind &&
		m.Get(fd).String() != ""
}

// AddrError is one address's failure of a call.
type AddrError struct {
	Addr string
	Err  error
}

// ServersError is a call that no address answered: each address tried and
// its error, in the order tried. Unsafe says the call stopped at the last
// one without trying the rest because it may have reached that server
// and is not idempotent.
type ServersError struct {
	Procedure string
	Tried     []AddrError
	Unsafe    bool
}

// Error names every address tried and why it failed.
func (e *ServersError) Error() string {
	var b strings.Builder
	method := e.Procedure[strings.LastIndexByte(e.Procedure, '/')+1:]
	if e.Unsafe {
		last := e.Tried[len(e.Tried)-1].Addr
		fmt.Fprintf(&b, "%s may have reached sluiced at %s before "+
			"the connection failed; it is not idempotent, so it was "+
			"not sent to another address (check whether it took "+
			"effect); tried ", method, last)
	} else {
		fmt.Fprintf(&b, "no sluiced answered %s at any of the %d "+
			"addresses: ", method, len(e.Tried))
	}
	for i, t := range e.Tried {
		if i > 0 {
			b.WriteString("; ")
		}
		msg := t.Err.Error()
		var ce *connect.Error
		if errors.As(t.Err, &ce) {
			msg = ce.Message()
		}
		fmt.Fprintf(&b, "%s: %s", t.Addr, msg)
	}
	return b.String()
}

// Unwrap returns the errors of every address.
func (e *ServersError) Unwrap() []error {
	errs := make([]error, len(e.Tried))
	for i, t := range e.Tried {
		errs[i] = t.Err
	}
	return errs
}

// MovedError is a call of OneServer that failed in transport (or was
// refused by a follower) at From; the client now uses To.
type MovedError struct {
	From, To string
	Err      error
}

func (e *MovedError) Error() string {
	return fmt.Sprintf("sluiced at %s: %v; moved to %s", e.From,
		e.Err, e.To)
}

func (e *MovedError) Unwrap() error { return e.Err }

// oneServerKey marks a context of OneServer.
type oneServerKey struct{}

// OneServer marks ctx for a call that is sent to the client's current
// address only: when it fails in transport (or a follower refuses it), the
// client moves its current address to the next one and returns the error
// as a *MovedError, for a caller (the agent's stream) that resumes on the
// next address in its own way.
func OneServer(ctx context.Context) context.Context {
	return context.WithValue(ctx, oneServerKey{}, true)
}

// attempt is one call's try at one address: the transport reads where to
// send it, and records how far the request got.
type attempt struct {
	addr string

	// wrote is set once the request's headers were written on a
	// connection: from then on it may have reached a server. answered
	// is set when the server's first response byte came.
	wrote, answered atomic.Bool
}

// attemptKey is the context key of an *attempt.
type attemptKey struct{}

// servers is a client's address list and the address it uses now, which
// calls start from.
type servers struct {
	addrs []string

	mu      sync.Mutex
	current int
}

// Current is the address calls go to first.
func (s *servers) Current() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.addrs[s.current]
}

// use makes addrs[i] the current address.
func (s *servers) use(i int) {
	s.mu.Lock()
	s.current = i
	s.mu.Unlock()
}

// moveFrom makes the address after addrs[i] current if addrs[i] still is
// (another call may have moved already) and returns the current address.
func (s *servers) moveFrom(i int) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.current == i {
		s.current = (i + 1) % len(s.addrs)
	}
	return s.addrs[s.current]
}

var _ connect.Interceptor = (*servers)(nil)

// WrapUnary sends each call to the addresses by the rule above, starting
// from the current one. With one address it is the plain call.
func (s *servers) WrapUnary(next connect.UnaryFunc) connect.UnaryFunc {
	return func(ctx context.Context, req connect.AnyRequest) (
		connect.AnyResponse, error) {

		if len(s.addrs) == 1 {
			return next(ctx, req)
		}
		s.mu.Lock()
		start := s.current
		s.mu.Unlock()
		if ctx.Value(oneServerKey{}) != nil {
			a := &attempt{addr: s.addrs[start]}
			resp, err := next(context.WithValue(ctx, attemptKey{}, a),
				req)
			// The call's own deadline passing is a server that
			// did not answer in time; a cancel is the caller's.
			// The server learns the deadline from the request's
			// timeout header and may answer deadline_exceeded a
			// moment before the caller's own context ends.
			timedOut := errors.Is(ctx.Err(), context.DeadlineExceeded) ||
				(hasDeadline(ctx) &&
					connect.CodeOf(err) == connect.CodeDeadlineExceeded)
			if err == nil || errors.Is(ctx.Err(), context.Canceled) ||
				!(timedOut || transportFailure(a, err) ||
					NotLeader(err)) {

				return resp, err
			}
			return nil, &MovedError{From: a.addr,
				To: s.moveFrom(start), Err: err}
		}

		procedure := req.Spec().Procedure
		failed := &ServersError{Procedure: procedure}
		for i := range s.addrs {
			idx := (start + i) % len(s.addrs)
			a := &attempt{addr: s.addrs[idx]}
			resp, err := next(context.WithValue(ctx, attemptKey{}, a),
				req)
			if err == nil {
				s.use(idx)
				return resp, nil
			}
			if ctx.Err() != nil {
				// No time left for another address.
				if len(failed.Tried) == 0 {
					return nil, err
				}
				failed.Tried = append(failed.Tried,
					AddrError{Addr: a.addr, Err: err})
				return nil, connect.NewError(
					connect.CodeOf(err), failed)
			}
			switch {
			case NotLeader(err):
			case !transportFailure(a, err):
				// A verdict: final.
				return nil, err
			case a.wrote.Load() && !Idempotent(procedure, req.Any()):
				failed.Tried = append(failed.Tried,
					AddrError{Addr: a.addr, Err: err})
				failed.Unsafe = true
				return nil, connect.NewError(
					connect.CodeUnavailable, failed)
			}
			failed.Tried = append(failed.Tried,
				AddrError{Addr: a.addr, Err: err})
		}
		return nil, connect.NewError(connect.CodeUnavailable, failed)
	}
}

// WrapStreamingClient leaves streams alone: the API has none.
func (s *servers) WrapStreamingClient(
	next connect.StreamingClientFunc) connect.StreamingClientFunc {

	return next
}

// WrapStreamingHandler is unused on a client.
func (s *servers) WrapStreamingHandler(
	next connect.StreamingHandlerFunc) connect.StreamingHandlerFunc {

	return next
}

// transportFailure reports whether the attempt failed on the way rather
// than by a server's verdict: no response came from a server (connection
// refused or reset, a TLS failure, a timeout), or it said Unavailable.
func transportFailure(a *attempt, err error) bool {
	if !a.answered.Load() {
		return true
	}
	switch connect.CodeOf(err) {
	case connect.CodeUnavailable:
		return true
	case connect.CodeUnknown, connect.CodeInternal:
		// The connection broke in the middle of the answer.
		var ne net.Error
		return errors.As(err, &ne)
	}
	return false
}

// routeTransport sends a request to the address of its attempt (the
// context's) and records how far it got; a request without an attempt
// goes where its URL says.
type routeTransport struct {
	base http.RoundTripper
}

func (t routeTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	a, ok := req.Context().Value(attemptKey{}).(*attempt)
	if !ok {
		return t.base.RoundTrip(req)
	}
	ctx := httptrace.WithClientTrace(req.Context(), &httptrace.ClientTrace{
		WroteHeaders:         func() { a.wrote.Store(true) },
		GotFirstResponseByte: func() { a.answered.Store(true) },
	})
	r := req.Clone(ctx)
	r.URL.Host = a.addr
	r.Host = ""
	return t.base.RoundTrip(r)
}

// hasDeadline reports whether ctx carries a deadline, which a call sends
// to its server.
func hasDeadline(ctx context.Context) bool {
	_, ok := ctx.Deadline()
	return ok
}
