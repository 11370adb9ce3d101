package rpc

import (
	"context"
	"strings"
	"testing"

	"connectrpc.com/connect"
	"github.com/sluice-ln/sluice/rpc/sluicerpc"
	"github.com/sluice-ln/sluice/rpc/sluicerpc/sluicerpcconnect"
)

// TestCreateJobPlaced creates jobs without a provider: the market places
// them (prov-1, the only reachable one, though prov-2 is cheaper), the
// answer explains both, and each way placement can fail is refused with
// its own code and reason.
func TestCreateJobPlaced(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	fake := newFakeJobs()
	d := startMarketDaemonWith(t, fake)
	jobs := sluicerpcconnect.NewJobServiceClient(
		httpClient(t, d.certPath(), true), d.url(), connect.WithGRPC())
	for mac, id := range map[string]string{d.prov1: "prov-1",
		d.prov2: "prov-2"} {

		_, err := d.client.Heartbeat(ctx, withMac(
			&sluicerpc.HeartbeatRequest{ProviderId: id,
				Offer: testOffer()}, mac))
		if err != nil {
			t.Fatalf("heartbeat %s: %v", id, err)
		}
	}
	create := func(req *sluicerpc.CreateJobRequest) (
		*sluicerpc.CreateJobResponse, error) {

		req.BudgetMsat, req.BufferSeconds = 100_000, 10
		r, err := jobs.CreateJob(ctx, withMac(req, d.buyer))
		if err != nil {
			return nil, err
		}
		return r.Msg, nil
	}
	spec := map[string]int64{"cpu": 1000, "mem": 512}

	resp, err := create(&sluicerpc.CreateJobRequest{Spec: spec,
		MaxRates: map[string]string{"cpu": "0.01"}})
	if err != nil {
		t.Fatalf("placed create: %v", err)
	}
	if got := fake.created.ProviderID; got != "prov-1" {
		t.Fatalf("placed on %q, want prov-1", got)
	}
	if len(resp.Placement) != 2 || !resp.Placement[0].Taken ||
		resp.Placement[0].ProviderId != "prov-1" ||
		resp.Placement[1].Taken ||
		!strings.Contains(strings.Join(resp.Placement[1].Reasons, ","),
			"unreachable") {

		t.Fatalf("placement %v", resp.Placement)
	}

	for _, tc := range []struct {
		name string
		req  *sluicerpc.CreateJobRequest
		code connect.Code
		msg  string
	}{
		{"max rate below every offer", &sluicerpc.CreateJobRequest{
			Spec: spec, MaxRates: map[string]string{
				"cpu": "0.0001"}},
			connect.CodeFailedPrecondition, "max"},
		{"a spec no provider can meet", &sluicerpc.CreateJobRequest{
			Spec: map[string]int64{"cpu": 64_000, "mem": 1}},
			connect.CodeFailedPrecondition, "capacity"},
		{"a bad max rate", &sluicerpc.CreateJobRequest{Spec: spec,
			MaxRates: map[string]string{"cpu": "cheap"}},
			connect.CodeInvalidArgument, "max_rates"},
		{"max rates with a provider", &sluicerpc.CreateJobRequest{
			ProviderId: "prov-1", Spec: spec,
			MaxRates: map[string]string{"cpu": "1"}},
			connect.CodeInvalidArgument, "either"},
		{"an unknown resource", &sluicerpc.CreateJobRequest{
			Spec: map[string]int64{"gpu": 1}},
			connect.CodeInvalidArgument, "gpu"},
	} {
		_, err := create(tc.req)
		if codeOf(err) != tc.code || err == nil ||
			!strings.Contains(err.Error(), tc.msg) {

			t.Errorf("%s: %v, want %v saying %q", tc.name, err,
				tc.code, tc.msg)
		}
	}
}

// TestCreateJobNoMarket: without a market, a job needs its provider.
func TestCreateJobNoMarket(t *testing.T) {
	t.Parallel()
	c := startJobDaemon(t, newFakeJobs())
	_, err := c.jobs.CreateJob(context.Background(), withMac(
		&sluicerpc.CreateJobRequest{BudgetMsat: 1000,
			Spec: map[string]int64{"cpu": 1000}},
		c.d.buyerHex(t, "buyer-1")))
	if codeOf(err) != connect.CodeInvalidArgument ||
		!strings.Contains(err.Error(), "no market") {

		t.Fatalf("create without provider or market: %v", err)
	}
}
