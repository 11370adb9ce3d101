package agentcli

import (
	"context"
	"crypto/sha256"
	"errors"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"connectrpc.com/connect"
	"github.com/btcsuite/btcd/btcec/v2"
	"github.com/sluice-ln/sluice/agent"
	"github.com/sluice-ln/sluice/channels"
	"github.com/sluice-ln/sluice/ledger"
	"github.com/sluice-ln/sluice/metering"
	"github.com/sluice-ln/sluice/metering/meteringtest"
	"github.com/sluice-ln/sluice/rpc/rpcclient"
	"github.com/sluice-ln/sluice/rpc/rpcclient/rpcclienttest"
	"github.com/sluice-ln/sluice/rpc/sluicerpc"
	"github.com/sluice-ln/sluice/rpc/sluicerpc/sluicerpcconnect"
	"github.com/sluice-ln/sluice/settlement"
)

var failoverStart = time.Unix(1767225600, 0).UTC()

// instance is one fake sluiced's MeteringService on 127.0.0.1: a real
// Ingestor over a store that every instance shares, as sluiced instances
// share one database.
type instance struct {
	sluicerpcconnect.UnimplementedMeteringServiceHandler

	in             *metering.Ingestor
	store          *meteringtest.Store
	submits, reads atomic.Int32
	srv            *httptest.Server
}

func (i *instance) SubmitUsage(ctx context.Context,
	req *connect.Request[sluicerpc.SubmitUsageRequest]) (
	*connect.Response[sluicerpc.SubmitUsageResponse], error) {

	i.submits.Add(1)
	b, err := metering.Decode(req.Msg.Batch)
	if err != nil {
		return nil, connect.NewError(connect.CodeInvalidArgument, err)
	}
	res, err := i.in.Submit(ctx, "prov-1", b)
	if err != nil {
		return nil, connect.NewError(connect.CodeFailedPrecondition, err)
	}
	return connect.NewResponse(&sluicerpc.SubmitUsageResponse{
		Accepted: uint32(res.Accepted), Duplicates: uint32(res.Duplicates),
		LastSeq: res.LastSeq}), nil
}

func (i *instance) GetMeter(_ context.Context,
	req *connect.Request[sluicerpc.GetMeterRequest]) (
	*connect.Response[sluicerpc.GetMeterResponse], error) {

	i.reads.Add(1)
	j, ok := i.store.Job(req.Msg.JobId)
	if !ok {
		return nil, connect.NewError(connect.CodeNotFound,
			metering.ErrUnknownJob)
	}
	return connect.NewResponse(&sluicerpc.GetMeterResponse{
		JobId: j.ID, State: string(j.State), LastSeq: j.Meter.LastSeq,
		LastSecond: j.Meter.LastSecond, MaxCpuCoreMs: j.Max.CPU,
		MaxMemMibS: j.Max.Mem}), nil
}

func failoverKey() *btcec.PrivateKey {
	sum := sha256.Sum256([]byte("agent"))
	priv, _ := btcec.PrivKeyFromBytes(sum[:])
	return priv
}

// newInstances starts n instances on one store holding job-1 of prov-1,
// with one TLS certificate, and returns them and the certificate.
func newInstances(t *testing.T, n int) ([]*instance, *meteringtest.Store,
	[]byte) {

	t.Helper()
	var key [32]byte
	copy(key[:], failoverKey().PubKey().SerializeCompressed()[1:])
	cpu, _ := ledger.ParseRate("0.001")
	store := meteringtest.NewStore()
	store.PutJob(metering.JobView{
		ID: "job-1", ProviderID: "prov-1", AgentKey: key,
		State: settlement.StateRunning, Started: failoverStart,
		StartedAt: failoverStart,
		Max:       metering.Usage{CPU: 2000, Mem: 1024},
		Rates:     channels.RateCard{channels.ResourceCPU: cpu},
		Escrow:    1_000_000,
	})
	in, err := metering.NewIngestor(store, metering.IngestConfig{
		Policy: metering.DefaultPolicy(),
		Clock:  func() time.Time { return failoverStart.Add(time.Hour) },
		Linger: -1,
	})
	if err != nil {
		t.Fatal(err)
	}
	in.Start()
	t.Cleanup(in.Stop)

	insts := make([]*instance, n)
	for i := range insts {
		insts[i] = &instance{in: in, store: store}
	}
	servers, cert := rpcclienttest.Instances(t, n,
		func(i int) http.Handler {
			mux := http.NewServeMux()
			mux.Handle(sluicerpcconnect.NewMeteringServiceHandler(
				insts[i]))
			return mux
		})
	for i, srv := range servers {
		insts[i].srv = srv
	}
	return insts, store, cert
}

func instanceAddr(i *instance) string {
	return i.srv.Listener.Addr().String()
}

// stepRun is an agent.Measured fed by the test.
type stepRun struct{ ch chan agent.Measurement }

func (r *stepRun) Measurements() <-chan agent.Measurement { return r.ch }
func (r *stepRun) Pause() error                           { return nil }
func (r *stepRun) Resume() error                          { return nil }
func (r *stepRun) Stop(time.Duration)                     {}

func measure(r *stepRun, from, n int) {
	for s := from; s < from+n; s++ {
		r.ch <- agent.Measurement{
			Second: failoverStart.Unix() + int64(s),
			Usage:  metering.Usage{CPU: 1000, Mem: 100},
		}
	}
}

// TestStreamFailsOver streams a job through the agent's real client to the
// first of two instances, kills it, and checks that the stream moves to
// the second, asks it for the job's meter, and sends the rest there:
// every second stored once and charged once.
func TestStreamFailsOver(t *testing.T) {
	insts, store, cert := newInstances(t, 2)
	cl, err := rpcclient.NewServers([]string{instanceAddr(insts[0]),
		instanceAddr(insts[1])}, cert, nil)
	if err != nil {
		t.Fatal(err)
	}
	run := &stepRun{ch: make(chan agent.Measurement, 10)}
	cfg := agent.StreamConfig{
		JobID: "job-1", Key: failoverKey(), MaxBatch: 5,
		Client: &meteringClient{api: newAPIClient(cl)},
		Sleep: func(ctx context.Context, _ time.Duration) error {
			return ctx.Err()
		},
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	done := make(chan error, 1)
	go func() {
		_, err := agent.Stream(ctx, cfg, run)
		done <- err
	}()

	// Five seconds to A, then A dies.
	measure(run, 10, 5)
	for len(store.Rows("job-1")) < 5 {
		select {
		case err := <-done:
			t.Fatalf("stream ended: %v", err)
		case <-time.After(10 * time.Millisecond):
		}
	}
	insts[0].srv.CloseClientConnections()
	insts[0].srv.Close()
	measure(run, 15, 5)
	close(run.ch)
	if err := <-done; err != nil {
		t.Fatal(err)
	}

	rows := store.Rows("job-1")
	if len(rows) != 10 {
		t.Fatalf("%d rows, want 10", len(rows))
	}
	for i, r := range rows {
		if r.Seq != uint64(i+1) ||
			r.Second != failoverStart.Unix()+int64(10+i) {

			t.Fatalf("row %d: seq %d second %d", i, r.Seq, r.Second)
		}
	}
	store.CheckCharges(t, "job-1", 10, 0)
	if insts[1].reads.Load() != 1 || insts[1].submits.Load() == 0 {
		t.Fatalf("B: %d meters, %d submits; want the meter once, "+
			"then the rest", insts[1].reads.Load(),
			insts[1].submits.Load())
	}
	if cl.Current() != instanceAddr(insts[1]) {
		t.Fatalf("current %s", cl.Current())
	}
}

// TestStartNamesEveryAddress has the agent start with no instance
// reachable: it says so, naming each address and its error.
func TestStartNamesEveryAddress(t *testing.T) {
	_, _, cert := newInstances(t, 1)
	var addrs []string
	for range 2 {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		addrs = append(addrs, ln.Addr().String())
		ln.Close()
	}
	cl, err := rpcclient.NewServers(addrs, cert, nil)
	if err != nil {
		t.Fatal(err)
	}
	cfg := agent.StreamConfig{JobID: "job-1",
		Client: &meteringClient{api: newAPIClient(cl)}}
	started := false
	_, err = startMetered(context.Background(), cfg,
		func(context.Context) (*agent.Run, error) {
			started = true
			return nil, nil
		})
	if err == nil || started {
		t.Fatalf("started: %v", err)
	}
	var se *rpcclient.ServersError
	if !errors.As(err, &se) {
		t.Fatalf("got %v, want a ServersError", err)
	}
	for _, a := range addrs {
		if !strings.Contains(err.Error(), a+": ") {
			t.Fatalf("%q does not name %s", err, a)
		}
	}
}
