package rpcclient_test

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"connectrpc.com/connect"
	"github.com/sluice-ln/sluice/daemon/lndtest"
	"github.com/sluice-ln/sluice/rpc/rpcclient"
	"github.com/sluice-ln/sluice/rpc/rpcclient/rpcclienttest"
	"github.com/sluice-ln/sluice/rpc/sluicerpc"
	"github.com/sluice-ln/sluice/rpc/sluicerpc/sluicerpcconnect"
)

// fakeSluiced is one instance of a fake sluiced on 127.0.0.1: GetInfo and
// the JobService's GetJob (read-only) and CreateJob (not idempotent),
// answering with fail when it is set, and counting the calls that reached
// it. With abort set, a call reaches it and the stream is reset before
// any answer, as when an instance dies in the middle of a call.
type fakeSluiced struct {
	sluicerpcconnect.UnimplementedSluiceHandler
	sluicerpcconnect.UnimplementedJobServiceHandler

	name  string
	fail  error
	abort bool
	// hang holds each call until the client gives up.
	hang  bool
	calls atomic.Int32
	srv   *httptest.Server
}

func (f *fakeSluiced) answer() error {
	f.calls.Add(1)
	if f.abort {
		panic(http.ErrAbortHandler)
	}
	return f.fail
}

func (f *fakeSluiced) GetInfo(ctx context.Context,
	_ *connect.Request[sluicerpc.GetInfoRequest]) (
	*connect.Response[sluicerpc.GetInfoResponse], error) {

	if f.hang {
		f.calls.Add(1)
		<-ctx.Done()
		return nil, ctx.Err()
	}
	if err := f.answer(); err != nil {
		return nil, err
	}
	return connect.NewResponse(&sluicerpc.GetInfoResponse{
		Version: f.name}), nil
}

func (f *fakeSluiced) GetJob(context.Context,
	*connect.Request[sluicerpc.GetJobRequest]) (
	*connect.Response[sluicerpc.GetJobResponse], error) {

	if err := f.answer(); err != nil {
		return nil, err
	}
	return connect.NewResponse(&sluicerpc.GetJobResponse{}), nil
}

func (f *fakeSluiced) CreateJob(context.Context,
	*connect.Request[sluicerpc.CreateJobRequest]) (
	*connect.Response[sluicerpc.CreateJobResponse], error) {

	if err := f.answer(); err != nil {
		return nil, err
	}
	return connect.NewResponse(&sluicerpc.CreateJobResponse{}), nil
}

// cluster is n fake instances sharing one TLS certificate, as the
// operator copies it to every sluiced.
type cluster struct {
	nodes []*fakeSluiced
	cert  []byte
}

func newCluster(t *testing.T, n int) *cluster {
	t.Helper()
	c := &cluster{}
	for i := range n {
		c.nodes = append(c.nodes,
			&fakeSluiced{name: string(rune('A' + i))})
	}
	servers, cert := rpcclienttest.Instances(t, n,
		func(i int) http.Handler {
			mux := http.NewServeMux()
			mux.Handle(sluicerpcconnect.NewSluiceHandler(c.nodes[i]))
			mux.Handle(sluicerpcconnect.NewJobServiceHandler(
				c.nodes[i]))
			return mux
		})
	for i, srv := range servers {
		c.nodes[i].srv = srv
	}
	c.cert = cert
	return c
}

// addr is node i's host:port.
func (c *cluster) addr(i int) string {
	return c.nodes[i].srv.Listener.Addr().String()
}

func (c *cluster) client(t *testing.T, addrs ...string) *rpcclient.Client {
	t.Helper()
	cl, err := rpcclient.NewServers(addrs, c.cert, nil)
	if err != nil {
		t.Fatal(err)
	}
	return cl
}

func callCtx(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	t.Cleanup(cancel)
	return ctx
}

func getInfo(ctx context.Context, cl *rpcclient.Client) (string, error) {
	resp, err := cl.Sluice.GetInfo(ctx,
		connect.NewRequest(&sluicerpc.GetInfoRequest{}))
	if err != nil {
		return "", err
	}
	return resp.Msg.Version, nil
}

// TestFailoverDownToNext has the first of three addresses down: the call
// is answered by the second, which calls start from afterwards.
func TestFailoverDownToNext(t *testing.T) {
	c := newCluster(t, 2)
	dead := lndtest.FreeAddr(t)
	cl := c.client(t, dead, c.addr(0), c.addr(1))
	ctx := callCtx(t)

	for _, call := range []struct {
		name string
		do   func() error
	}{
		// Not idempotent, but the request never reached the dead
		// address: safe on the next one.
		{"CreateJob", func() error {
			_, err := cl.Jobs.CreateJob(ctx, connect.NewRequest(
				&sluicerpc.CreateJobRequest{}))
			return err
		}},
		{"GetInfo", func() error { _, err := getInfo(ctx, cl); return err }},
	} {
		if err := call.do(); err != nil {
			t.Fatalf("%s: %v", call.name, err)
		}
	}
	if got := cl.Current(); got != c.addr(0) {
		t.Fatalf("current %s, want %s", got, c.addr(0))
	}
	if n := c.nodes[0].calls.Load(); n != 2 {
		t.Fatalf("A got %d calls, want 2", n)
	}
	if n := c.nodes[1].calls.Load(); n != 0 {
		t.Fatalf("B got %d calls, want 0", n)
	}

	// A goes down too: B answers, and is current.
	c.nodes[0].srv.Close()
	name, err := getInfo(ctx, cl)
	if err != nil || name != "B" {
		t.Fatalf("GetInfo: %q, %v; want B", name, err)
	}
	if got := cl.Current(); got != c.addr(1) {
		t.Fatalf("current %s, want %s", got, c.addr(1))
	}
}

// TestFailoverVerdictIsFinal has the first instance refuse: the refusal is
// returned as it came and the second is never called; except the
// follower's "not the leader", which goes on to the next.
func TestFailoverVerdictIsFinal(t *testing.T) {
	verdicts := []error{
		connect.NewError(connect.CodeInvalidArgument,
			errors.New("bad request")),
		connect.NewError(connect.CodePermissionDenied,
			errors.New("macaroon")),
		connect.NewError(connect.CodeNotFound, errors.New("no job")),
		connect.NewError(connect.CodeFailedPrecondition,
			errors.New("job ended")),
	}
	for _, v := range verdicts {
		c := newCluster(t, 2)
		c.nodes[0].fail = v
		cl := c.client(t, c.addr(0), c.addr(1))
		_, err := getInfo(callCtx(t), cl)
		if connect.CodeOf(err) != connect.CodeOf(v) {
			t.Fatalf("%v: got %v", v, err)
		}
		var se *rpcclient.ServersError
		if errors.As(err, &se) {
			t.Fatalf("%v: a verdict came back as %v", v, err)
		}
		if n := c.nodes[1].calls.Load(); n != 0 {
			t.Fatalf("%v: B called %d times", v, n)
		}
	}

	c := newCluster(t, 3)
	c.nodes[0].fail = connect.NewError(connect.CodeFailedPrecondition,
		errors.New("not the leader; the leader is "+c.addr(2)))
	c.nodes[1].fail = c.nodes[0].fail
	cl := c.client(t, c.addr(0), c.addr(1), c.addr(2))
	name, err := getInfo(callCtx(t), cl)
	if err != nil || name != "C" {
		t.Fatalf("not the leader: %q, %v; want C", name, err)
	}
}

// TestFailoverAllDown names every address and its error when none
// answers, in the error and in Explain.
func TestFailoverAllDown(t *testing.T) {
	c := newCluster(t, 1)
	a, b := lndtest.FreeAddr(t), lndtest.FreeAddr(t)
	cl := c.client(t, a, b)
	_, err := getInfo(callCtx(t), cl)
	if connect.CodeOf(err) != connect.CodeUnavailable {
		t.Fatalf("code %v, want unavailable: %v", connect.CodeOf(err), err)
	}
	var se *rpcclient.ServersError
	if !errors.As(err, &se) || len(se.Tried) != 2 || se.Unsafe {
		t.Fatalf("got %#v", err)
	}
	msg := rpcclient.Explain(cl.Addr, "getinfo", err).Error()
	for _, addr := range []string{a, b} {
		if !strings.Contains(msg, addr+": ") {
			t.Fatalf("%q does not name %s", msg, addr)
		}
	}
	if !strings.Contains(msg, "connection refused") {
		t.Fatalf("%q does not say why", msg)
	}
}

// TestFailoverOnlyWhenSafe has the first instance die in the middle of the
// call (the stream reset after the request reached it): a read moves on
// to the next, a CreateJob does not, and its error says it may have
// taken effect.
func TestFailoverOnlyWhenSafe(t *testing.T) {
	c := newCluster(t, 2)
	c.nodes[0].abort = true
	cl := c.client(t, c.addr(0), c.addr(1))
	ctx := callCtx(t)

	if _, err := cl.Jobs.GetJob(ctx, connect.NewRequest(
		&sluicerpc.GetJobRequest{JobId: "j"})); err != nil {

		t.Fatalf("GetJob: %v", err)
	}
	if a, b := c.nodes[0].calls.Load(), c.nodes[1].calls.Load(); a != 1 ||
		b != 1 {

		t.Fatalf("GetJob reached A %d and B %d times, want 1 and 1",
			a, b)
	}

	cl = c.client(t, c.addr(0), c.addr(1))
	_, err := cl.Jobs.CreateJob(ctx, connect.NewRequest(
		&sluicerpc.CreateJobRequest{}))
	var se *rpcclient.ServersError
	if !errors.As(err, &se) || !se.Unsafe || len(se.Tried) != 1 {
		t.Fatalf("CreateJob: got %v", err)
	}
	if !strings.Contains(err.Error(), "may have reached") {
		t.Fatalf("%q does not say it may have taken effect", err)
	}
	if n := c.nodes[1].calls.Load(); n != 1 {
		t.Fatalf("CreateJob was sent to B too")
	}
}

// TestOneServerMoves checks a OneServer call: it stays on the current
// address, and a transport failure moves the client to the next one and
// says so; a verdict does not.
func TestOneServerMoves(t *testing.T) {
	c := newCluster(t, 2)
	cl := c.client(t, c.addr(0), c.addr(1))
	ctx := rpcclient.OneServer(callCtx(t))

	if name, err := getInfo(ctx, cl); err != nil || name != "A" {
		t.Fatalf("GetInfo: %q, %v", name, err)
	}
	c.nodes[0].srv.Close()
	_, err := getInfo(ctx, cl)
	var moved *rpcclient.MovedError
	if !errors.As(err, &moved) || moved.From != c.addr(0) ||
		moved.To != c.addr(1) {

		t.Fatalf("got %v, want moved from A to B", err)
	}
	if c.nodes[1].calls.Load() != 0 {
		t.Fatal("a OneServer call went on to B")
	}
	if name, err := getInfo(ctx, cl); err != nil || name != "B" {
		t.Fatalf("GetInfo after the move: %q, %v", name, err)
	}

	c.nodes[1].fail = connect.NewError(connect.CodeInvalidArgument,
		errors.New("no"))
	_, err = getInfo(ctx, cl)
	if errors.As(err, &moved) || cl.Current() != c.addr(1) {
		t.Fatalf("a verdict moved the client: %v", err)
	}
}

// TestOneServerTimeoutMoves has the current instance hang: the call's
// deadline passing moves the client to the next address, while a call the
// caller cancels does not.
func TestOneServerTimeoutMoves(t *testing.T) {
	c := newCluster(t, 2)
	c.nodes[0].hang = true
	cl := c.client(t, c.addr(0), c.addr(1))

	ctx, cancel := context.WithCancel(rpcclient.OneServer(callCtx(t)))
	go func() {
		for c.nodes[0].calls.Load() == 0 {
			time.Sleep(time.Millisecond)
		}
		cancel()
	}()
	_, err := getInfo(ctx, cl)
	var moved *rpcclient.MovedError
	if err == nil || errors.As(err, &moved) || cl.Current() != c.addr(0) {
		t.Fatalf("a cancelled call: %v, current %s", err, cl.Current())
	}

	ctx, cancel = context.WithTimeout(rpcclient.OneServer(
		context.Background()), 200*time.Millisecond)
	defer cancel()
	_, err = getInfo(ctx, cl)
	if !errors.As(err, &moved) || moved.To != c.addr(1) {
		t.Fatalf("a call that timed out: %v", err)
	}
}

// TestOneServerDeadlineAnswerMoves has the current instance answer
// deadline_exceeded at once, as a server does whose copy of the call's
// deadline ran out before the caller's: a call with a deadline moves on as
// a timeout; one without a deadline takes the answer as the verdict it is.
func TestOneServerDeadlineAnswerMoves(t *testing.T) {
	c := newCluster(t, 2)
	c.nodes[0].fail = connect.NewError(connect.CodeDeadlineExceeded,
		errors.New("deadline passed on the server"))
	cl := c.client(t, c.addr(0), c.addr(1))

	_, err := getInfo(rpcclient.OneServer(context.Background()), cl)
	var moved *rpcclient.MovedError
	if connect.CodeOf(err) != connect.CodeDeadlineExceeded ||
		errors.As(err, &moved) || cl.Current() != c.addr(0) {

		t.Fatalf("without a deadline: %v, current %s", err,
			cl.Current())
	}

	_, err = getInfo(rpcclient.OneServer(callCtx(t)), cl)
	if !errors.As(err, &moved) || moved.To != c.addr(1) ||
		cl.Current() != c.addr(1) {

		t.Fatalf("with a deadline: %v, current %s", err, cl.Current())
	}
}

// TestOneAddressAsBefore checks that one address is the plain call: its
// transport error comes back as it was, without a ServersError.
func TestOneAddressAsBefore(t *testing.T) {
	c := newCluster(t, 1)
	cl := c.client(t, lndtest.FreeAddr(t))
	_, err := getInfo(callCtx(t), cl)
	var se *rpcclient.ServersError
	if err == nil || errors.As(err, &se) ||
		connect.CodeOf(err) != connect.CodeUnavailable {

		t.Fatalf("got %v", err)
	}
}

func TestIdempotent(t *testing.T) {
	tests := []struct {
		procedure string
		msg       any
		want      bool
	}{
		{sluicerpcconnect.SluiceGetInfoProcedure, nil, true},
		{sluicerpcconnect.MeteringServiceSubmitUsageProcedure, nil, true},
		{sluicerpcconnect.MarketServiceHeartbeatProcedure, nil, true},
		{sluicerpcconnect.JobServiceCreateJobProcedure,
			&sluicerpc.CreateJobRequest{}, false},
		{sluicerpcconnect.JobServiceEndJobProcedure,
			&sluicerpc.EndJobRequest{}, false},
		{sluicerpcconnect.VaultServiceStakeProcedure,
			&sluicerpc.StakeRequest{}, false},
		{sluicerpcconnect.VaultServiceStakeProcedure,
			&sluicerpc.StakeRequest{IdempotencyKey: "k"}, true},
		{sluicerpcconnect.LeaseServiceCreateLeaseProcedure,
			&sluicerpc.CreateLeaseRequest{}, false},
		{sluicerpcconnect.LeaseServiceCreateLeaseProcedure,
			&sluicerpc.CreateLeaseRequest{Key: "k"}, true},
	}
	for _, tc := range tests {
		if got := rpcclient.Idempotent(tc.procedure, tc.msg); got != tc.want {
			t.Errorf("%s %v: %v, want %v", tc.procedure, tc.msg, got,
				tc.want)
		}
	}
}

func TestServerList(t *testing.T) {
	tests := []struct {
		in   []string
		want string
	}{
		{nil, rpcclient.DefaultServer},
		{[]string{"a:1"}, "a:1"},
		{[]string{"a:1,b:2", "c:3"}, "a:1,b:2,c:3"},
		{[]string{" a:1 , ,b:2"}, "a:1,b:2"},
		{[]string{""}, ""},
	}
	for _, tc := range tests {
		got := strings.Join(rpcclient.ServerList(tc.in), ",")
		if got != tc.want {
			t.Errorf("%q: %q, want %q", tc.in, got, tc.want)
		}
	}
}
