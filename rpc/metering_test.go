package rpc

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"testing"

	"connectrpc.com/connect"
	"github.com/shopspring/decimal"
	"github.com/sluice-ln/sluice/metering"
	"github.com/sluice-ln/sluice/rpc/sluicerpc"
	"github.com/sluice-ln/sluice/rpc/sluicerpc/sluicerpcconnect"
	"github.com/sluice-ln/sluice/settlement"
)

// fakeMetering is a MeteringBackend with set answers that records calls.
type fakeMetering struct {
	mu    sync.Mutex
	calls []string

	result metering.Result
	job    metering.JobView
	err    error
}

var _ MeteringBackend = (*fakeMetering)(nil)

func (f *fakeMetering) Submit(_ context.Context, callerID string,
	encoded []byte) (metering.Result, error) {

	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls = append(f.calls, fmt.Sprintf("Submit %s %x", callerID,
		encoded))
	return f.result, f.err
}

func (f *fakeMetering) Status(_ context.Context,
	jobID string) (metering.JobView, error) {

	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls = append(f.calls, "Status "+jobID)
	return f.job, f.err
}

// set changes the fake's answers.
func (f *fakeMetering) set(res metering.Result, err error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.result, f.err = res, err
}

// startMeteringDaemon starts a server whose MeteringService uses fake.
func startMeteringDaemon(t *testing.T, fake *fakeMetering) (*testDaemon,
	sluicerpcconnect.MeteringServiceClient) {

	t.Helper()
	dir := t.TempDir()
	cfg := testConfig(dir, &fakeInfo{})
	cfg.Metering = fake
	d := startServer(t, dir, cfg)
	client := sluicerpcconnect.NewMeteringServiceClient(
		httpClient(t, d.certPath(), true), d.url(), connect.WithGRPC(),
	)
	return d, client
}

// TestSubmitUsage checks the answer, the caller handed to metering, the
// partial answer when the escrow ran out, and each error's status code.
func TestSubmitUsage(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	fake := &fakeMetering{}
	d, client := startMeteringDaemon(t, fake)
	mac := d.providerHex(t, "prov-1")
	submit := func(m string) (*sluicerpc.SubmitUsageResponse, error) {
		resp, err := client.SubmitUsage(ctx, withMac(
			&sluicerpc.SubmitUsageRequest{Batch: []byte{1, 2}}, m))
		if err != nil {
			return nil, err
		}
		return resp.Msg, nil
	}

	fake.set(metering.Result{Accepted: 3, Duplicates: 1, LastSeq: 9,
		Price: 40, Fee: 1}, nil)
	got, err := submit(mac)
	if err != nil {
		t.Fatal(err)
	}
	if got.Accepted != 3 || got.Duplicates != 1 || got.LastSeq != 9 ||
		got.PriceMsat != 40 || got.FeeMsat != 1 || got.Refused != "" {

		t.Fatalf("response %+v", got)
	}
	if calls := fake.calls; len(calls) != 1 ||
		calls[0] != "Submit prov-1 0102" {

		t.Fatalf("calls %q", calls)
	}

	// Some records taken before the escrow ran out: an answer, not an
	// error.
	fake.set(metering.Result{Accepted: 2, LastSeq: 11},
		fmt.Errorf("seq 12: %w", metering.ErrInsufficientEscrow))
	got, err = submit(mac)
	if err != nil || got.Accepted != 2 || got.Refused == "" {
		t.Fatalf("partial: %+v, %v", got, err)
	}

	// The operator does not submit usage; nobody does without a
	// macaroon.
	for _, m := range []string{d.macaroonHex(t, "operator.macaroon"), ""} {
		if _, err := submit(m); connect.CodeOf(err) !=
			connect.CodePermissionDenied && connect.CodeOf(err) !=
			connect.CodeUnauthenticated {

			t.Errorf("submit with %q: %v", m[:min(len(m), 8)], err)
		}
	}

	codes := []struct {
		err  error
		code connect.Code
	}{
		{metering.ErrMalformed, connect.CodeInvalidArgument},
		{metering.ErrUnsupportedVersion, connect.CodeInvalidArgument},
		{metering.ErrBadSignature, connect.CodeInvalidArgument},
		{metering.ErrUnknownJob, connect.CodeNotFound},
		{metering.ErrForeignJob, connect.CodePermissionDenied},
		{metering.ErrJobNotRunning, connect.CodeFailedPrecondition},
		{metering.ErrSeqGap, connect.CodeFailedPrecondition},
		{metering.ErrSecondNotAfter, connect.CodeInvalidArgument},
		{metering.ErrFutureSecond, connect.CodeInvalidArgument},
		{metering.ErrBeforeStart, connect.CodeInvalidArgument},
		{metering.ErrAfterEnd, connect.CodeInvalidArgument},
		{metering.ErrTooManySeconds, connect.CodeInvalidArgument},
		{metering.ErrOverLimit, connect.CodeInvalidArgument},
		{metering.ErrOverflow, connect.CodeInvalidArgument},
		{metering.ErrConflict, connect.CodeAlreadyExists},
		{metering.ErrInsufficientEscrow, connect.CodeFailedPrecondition},
		{metering.ErrUnknownResource, connect.CodeFailedPrecondition},
		{metering.ErrIngestClosed, connect.CodeUnavailable},
		{fmt.Errorf("disk on fire"), connect.CodeInternal},
	}
	for _, c := range codes {
		fake.set(metering.Result{}, fmt.Errorf("wrapped: %w", c.err))
		if _, err := submit(mac); connect.CodeOf(err) != c.code {
			t.Errorf("%v: code %v, want %v", c.err,
				connect.CodeOf(err), c.code)
		}
	}
}

// TestGetMeter checks a job's state as its provider and the operator see
// it, and that another provider's job looks unknown.
func TestGetMeter(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	fake := &fakeMetering{job: metering.JobView{
		ID: "job-1", ProviderID: "prov-1", State: settlement.StateSuspended,
		Escrow: 7,
		Meter: metering.MeterState{LastSeq: 42, LastSecond: 1000,
			Carry: decimal.RequireFromString("0.25"), Charged: 99,
			Fees: 2},
		Max: metering.Usage{CPU: 2000, Mem: 512},
	}}
	d, client := startMeteringDaemon(t, fake)

	for _, m := range []string{d.providerHex(t, "prov-1"),
		d.macaroonHex(t, "operator.macaroon")} {

		resp, err := client.GetMeter(ctx, withMac(
			&sluicerpc.GetMeterRequest{JobId: "job-1"}, m))
		if err != nil {
			t.Fatal(err)
		}
		got := resp.Msg
		if got.JobId != "job-1" || got.State != "suspended" ||
			got.LastSeq != 42 || got.LastSecond != 1000 ||
			got.ChargedMsat != 99 || got.FeesMsat != 2 ||
			got.CarryMsat != "0.25" || got.EscrowMsat != 7 ||
			got.MaxCpuCoreMs != 2000 || got.MaxMemMibS != 512 {

			t.Fatalf("meter %+v", got)
		}
	}

	_, err := client.GetMeter(ctx, withMac(
		&sluicerpc.GetMeterRequest{JobId: "job-1"},
		d.providerHex(t, "prov-2")))
	if connect.CodeOf(err) != connect.CodeNotFound {
		t.Fatalf("another provider's job: %v", err)
	}
	_, err = client.GetMeter(ctx, withMac(&sluicerpc.GetMeterRequest{},
		d.providerHex(t, "prov-1")))
	if connect.CodeOf(err) != connect.CodeInvalidArgument {
		t.Fatalf("no job id: %v", err)
	}
	_, err = client.GetMeter(ctx, withMac(
		&sluicerpc.GetMeterRequest{JobId: "job-1"},
		d.buyerHex(t, "buyer-1")))
	if connect.CodeOf(err) != connect.CodePermissionDenied {
		t.Fatalf("as a buyer: %v", err)
	}
}

// compressionRecorder is a RoundTripper that keeps whether the last
// answer's gRPC message came compressed: the flag byte that opens its
// envelope.
type compressionRecorder struct {
	next http.RoundTripper
	mu   sync.Mutex
	flag int
}

func (c *compressionRecorder) RoundTrip(req *http.Request) (*http.Response,
	error) {

	resp, err := c.next.RoundTrip(req)
	if err == nil {
		c.mu.Lock()
		c.flag = -1
		c.mu.Unlock()
		resp.Body = &flagReader{ReadCloser: resp.Body, rec: c}
	}
	return resp, err
}

// compressed reports the flag of the last answer's first message.
func (c *compressionRecorder) compressed() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.flag == 1
}

// flagReader passes a body on, telling rec its first byte.
type flagReader struct {
	io.ReadCloser
	rec  *compressionRecorder
	seen bool
}

func (f *flagReader) Read(p []byte) (int, error) {
	n, err := f.ReadCloser.Read(p)
	if n > 0 && !f.seen {
		f.seen = true
		f.rec.mu.Lock()
		f.rec.flag = int(p[0])
		f.rec.mu.Unlock()
	}
	return n, err
}

// TestSmallAnswersUncompressed checks that the API gzips an answer to a
// client that accepts gzip only from compressMinBytes on: an agent's
// SubmitUsage answer, a few bytes, goes as it is.
func TestSmallAnswersUncompressed(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	fake := &fakeMetering{}
	dir := t.TempDir()
	cfg := testConfig(dir, &fakeInfo{})
	cfg.Metering = fake
	d := startServer(t, dir, cfg)
	httpc := httpClient(t, d.certPath(), true)
	rec := &compressionRecorder{next: httpc.Transport}
	httpc.Transport = rec
	// connect's clients accept gzip unless told otherwise.
	client := sluicerpcconnect.NewMeteringServiceClient(httpc, d.url(),
		connect.WithGRPC())
	mac := d.providerHex(t, "prov-1")

	for _, c := range []struct {
		name       string
		refusal    string
		compressed bool
	}{
		{"small", "", false},
		{"large", strings.Repeat("x", 2*compressMinBytes), true},
	} {
		var err error
		if c.refusal != "" {
			err = fmt.Errorf("%s: %w", c.refusal,
				metering.ErrInsufficientEscrow)
		}
		fake.set(metering.Result{Accepted: 1, LastSeq: 1}, err)
		resp, err := client.SubmitUsage(ctx, withMac(
			&sluicerpc.SubmitUsageRequest{Batch: []byte{1}}, mac))
		if err != nil {
			t.Fatalf("%s: %v", c.name, err)
		}
		if resp.Msg.Accepted != 1 ||
			!strings.Contains(resp.Msg.Refused, c.refusal) {

			t.Fatalf("%s: answer %+v", c.name, resp.Msg)
		}
		if got := rec.compressed(); got != c.compressed {
			t.Errorf("%s answer: compressed %v, want %v", c.name,
				got, c.compressed)
		}
	}
}
