package rpc

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"connectrpc.com/connect"
	"github.com/btcsuite/btcd/btcec/v2"
	"github.com/lightningnetwork/lnd/routing/route"
	"github.com/shopspring/decimal"
	"github.com/sluice-ln/sluice/ledger"
	"github.com/sluice-ln/sluice/rpc/sluicerpc"
	"github.com/sluice-ln/sluice/rpc/sluicerpc/sluicerpcconnect"
	"github.com/sluice-ln/sluice/settlement"
	"google.golang.org/protobuf/proto"
)

// fakeJobs is a JobBackend holding jobs in memory. It records the last
// CreateJob, ListJobs and EndJob requests.
type fakeJobs struct {
	mu       sync.Mutex
	jobs     map[string]settlement.Status
	buyers   []settlement.Buyer
	created  settlement.CreateJobRequest
	filter   settlement.ListFilter
	ended    settlement.EndJobRequest
	topUps   int
	endErr   error
	addedErr error

	// workloads and results are the jobs' workloads and results;
	// submittedBy the provider id the last SubmitResult named, and
	// workErr, when set, what the workload calls return.
	workloads   map[string]settlement.Workload
	results     map[string]settlement.StoredResult
	submittedBy string
	workErr     error
}

var _ JobBackend = (*fakeJobs)(nil)

func newFakeJobs(jobs ...settlement.Job) *fakeJobs {
	f := &fakeJobs{jobs: map[string]settlement.Status{},
		workloads: map[string]settlement.Workload{},
		results:   map[string]settlement.StoredResult{}}
	for _, j := range jobs {
		f.jobs[j.ID] = settlement.Status{Job: j}
	}
	return f
}

func (f *fakeJobs) AddBuyer(_ context.Context, name string) (
	settlement.Buyer, error) {

	f.mu.Lock()
	defer f.mu.Unlock()
	if f.addedErr != nil {
		return settlement.Buyer{}, f.addedErr
	}
	b := settlement.Buyer{ID: "buyer-" + name, Name: name,
		CreatedAt: time.Now()}
	f.buyers = append(f.buyers, b)
	return b, nil
}

func (f *fakeJobs) Buyers(context.Context) ([]settlement.Buyer, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.buyers, nil
}

func (f *fakeJobs) CreateJob(_ context.Context,
	req settlement.CreateJobRequest) (settlement.Status, error) {

	f.mu.Lock()
	defer f.mu.Unlock()
	f.created = req
	j := settlement.Job{ID: "job-new", BuyerID: req.BuyerID,
		ProviderID: req.ProviderID, State: settlement.StateAwaitingFunding,
		Spec: req.Spec, Budget: req.Budget,
		PricePerSecond: decimal.NewFromInt(10)}
	st := settlement.Status{Job: j, Invoices: []settlement.Invoice{{
		PaymentHash: strings.Repeat("ab", 32), Purpose: "funding",
		Amount: req.Budget, PaymentRequest: "lnbcrt1fake",
		State: "open",
	}}}
	f.jobs[j.ID] = st
	return st, nil
}

func (f *fakeJobs) GetJob(_ context.Context, id string) (settlement.Status,
	error) {

	f.mu.Lock()
	defer f.mu.Unlock()
	st, ok := f.jobs[id]
	if !ok {
		return settlement.Status{}, fmt.Errorf("%w: %q",
			settlement.ErrJobNotFound, id)
	}
	return st, nil
}

func (f *fakeJobs) ListJobs(_ context.Context, filter settlement.ListFilter) (
	[]settlement.Status, error) {

	f.mu.Lock()
	defer f.mu.Unlock()
	f.filter = filter
	var out []settlement.Status
	for _, st := range f.jobs {
		if filter.BuyerID != "" && st.BuyerID != filter.BuyerID ||
			filter.ProviderID != "" &&
				st.ProviderID != filter.ProviderID {
			continue
		}
		out = append(out, st)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].ID < out[j].ID })
	return out, nil
}

func (f *fakeJobs) TopUpJob(_ context.Context, id string,
	amount ledger.MilliSatoshi) (settlement.Invoice, error) {

	f.mu.Lock()
	defer f.mu.Unlock()
	f.topUps++
	return settlement.Invoice{Purpose: "top_up", Amount: amount,
		PaymentRequest: "lnbcrt1topup", State: "open"}, nil
}

func (f *fakeJobs) EndJob(_ context.Context, req settlement.EndJobRequest) (
	settlement.Status, error) {

	f.mu.Lock()
	defer f.mu.Unlock()
	f.ended = req
	if f.endErr != nil {
		return settlement.Status{}, f.endErr
	}
	st := f.jobs[req.JobID]
	st.State = settlement.StateEnded
	return st, nil
}

// jobClients are the job and operator services' clients of a test server.
type jobClients struct {
	d    *testDaemon
	jobs sluicerpcconnect.JobServiceClient
	op   sluicerpcconnect.OperatorServiceClient
}

// startJobDaemon starts a server with fake as its job backend.
func startJobDaemon(t *testing.T, fake *fakeJobs) jobClients {
	t.Helper()
	dir := t.TempDir()
	cfg := testConfig(dir, &fakeInfo{})
	cfg.Jobs = fake
	d := startServer(t, dir, cfg)
	hc := httpClient(t, d.certPath(), true)
	return jobClients{
		d: d,
		jobs: sluicerpcconnect.NewJobServiceClient(hc, d.url(),
			connect.WithGRPC()),
		op: sluicerpcconnect.NewOperatorServiceClient(hc, d.url(),
			connect.WithGRPC()),
	}
}

// node returns a fresh node key.
func node(t *testing.T) route.Vertex {
	t.Helper()
	k, err := btcec.NewPrivateKey()
	if err != nil {
		t.Fatal(err)
	}
	return route.NewVertex(k.PubKey())
}

// TestJobAccess checks who sees and acts on which job: a buyer its own, a
// provider the ones assigned to it, the operator all; everyone else is
// refused with PermissionDenied.
func TestJobAccess(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	fake := newFakeJobs(
		settlement.Job{ID: "job-a", BuyerID: "buyer-a",
			ProviderID: "prov-1", State: settlement.StateRunning},
		settlement.Job{ID: "job-b", BuyerID: "buyer-b",
			ProviderID: "prov-2", State: settlement.StateRunning},
	)
	c := startJobDaemon(t, fake)
	macs := map[string]string{
		"operator": c.d.macaroonHex(t, OperatorMacaroonFile),
		"buyer-a":  c.d.buyerHex(t, "buyer-a"),
		"buyer-b":  c.d.buyerHex(t, "buyer-b"),
		"prov-1":   c.d.providerHex(t, "prov-1"),
		"prov-3":   c.d.providerHex(t, "prov-3"),
		"none":     "",
	}

	// Who may GetJob job-a, and what ListJobs shows each.
	tests := []struct {
		who  string
		get  connect.Code
		list string
	}{
		{"operator", 0, "job-a,job-b"},
		{"buyer-a", 0, "job-a"},
		{"buyer-b", connect.CodePermissionDenied, "job-b"},
		{"prov-1", 0, "job-a"},
		{"prov-3", connect.CodePermissionDenied, ""},
		{"none", connect.CodeUnauthenticated, ""},
	}
	for _, tc := range tests {
		mac := macs[tc.who]
		_, err := c.jobs.GetJob(ctx, withMac(
			&sluicerpc.GetJobRequest{JobId: "job-a"}, mac))
		if connect.CodeOf(err) != tc.get && !(tc.get == 0 &&
			err == nil) {

			t.Errorf("%s GetJob(job-a): %v, want %v", tc.who, err,
				tc.get)
		}
		resp, err := c.jobs.ListJobs(ctx, withMac(
			&sluicerpc.ListJobsRequest{}, mac))
		if tc.who == "none" {
			if connect.CodeOf(err) != connect.CodeUnauthenticated {
				t.Errorf("ListJobs without a macaroon: %v", err)
			}
			continue
		}
		if err != nil {
			t.Errorf("%s ListJobs: %v", tc.who, err)
			continue
		}
		var ids []string
		for _, j := range resp.Msg.Jobs {
			ids = append(ids, j.JobId)
		}
		if got := strings.Join(ids, ","); got != tc.list {
			t.Errorf("%s ListJobs = %s, want %s", tc.who, got,
				tc.list)
		}
	}

	// A buyer or provider may not list someone else's jobs by filter.
	_, err := c.jobs.ListJobs(ctx, withMac(&sluicerpc.ListJobsRequest{
		FilterBuyerId: "buyer-b"}, macs["buyer-a"]))
	if connect.CodeOf(err) != connect.CodePermissionDenied {
		t.Errorf("buyer-a listing buyer-b's jobs: %v", err)
	}
	_, err = c.jobs.ListJobs(ctx, withMac(&sluicerpc.ListJobsRequest{
		FilterProviderId: "prov-2"}, macs["prov-1"]))
	if connect.CodeOf(err) != connect.CodePermissionDenied {
		t.Errorf("prov-1 listing prov-2's jobs: %v", err)
	}
	if _, err := c.jobs.ListJobs(ctx, withMac(&sluicerpc.ListJobsRequest{
		FilterBuyerId: "buyer-b", States: []string{"running"},
		Limit: 5}, macs["operator"])); err != nil {

		t.Errorf("operator filtering: %v", err)
	}
	if fake.filter.BuyerID != "buyer-b" || fake.filter.Limit != 5 ||
		len(fake.filter.States) != 1 {

		t.Errorf("filter passed on: %+v", fake.filter)
	}

	// Top-ups: the job's buyer and the operator; not a provider, not
	// another buyer.
	topUps := []struct {
		who  string
		code connect.Code
	}{
		{"buyer-a", 0}, {"operator", 0},
		{"buyer-b", connect.CodePermissionDenied},
		{"prov-1", connect.CodePermissionDenied},
	}
	for _, tc := range topUps {
		_, err := c.jobs.TopUpJob(ctx, withMac(
			&sluicerpc.TopUpJobRequest{JobId: "job-a",
				AmountMsat: 5}, macs[tc.who]))
		if connect.CodeOf(err) != tc.code && !(tc.code == 0 &&
			err == nil) {

			t.Errorf("%s TopUpJob: %v, want %v", tc.who, err,
				tc.code)
		}
	}
	if fake.topUps != 2 {
		t.Errorf("%d top-ups reached the backend, want 2", fake.topUps)
	}

	// Ending: each role with its cause; another buyer or provider
	// refused.
	ends := []struct {
		who   string
		code  connect.Code
		cause settlement.Cause
	}{
		{"buyer-b", connect.CodePermissionDenied, ""},
		{"prov-3", connect.CodePermissionDenied, ""},
		{"buyer-a", 0, settlement.CauseEndedByBuyer},
		{"prov-1", 0, settlement.CauseEndedByProvider},
		{"operator", 0, settlement.CauseEndedByOperator},
	}
	for _, tc := range ends {
		fake.ended = settlement.EndJobRequest{}
		_, err := c.jobs.EndJob(ctx, withMac(
			&sluicerpc.EndJobRequest{JobId: "job-a"}, macs[tc.who]))
		if connect.CodeOf(err) != tc.code && !(tc.code == 0 &&
			err == nil) {

			t.Errorf("%s EndJob: %v, want %v", tc.who, err, tc.code)
		}
		if fake.ended.By != tc.cause {
			t.Errorf("%s EndJob: cause %q, want %q", tc.who,
				fake.ended.By, tc.cause)
		}
	}

	// A provider may not say where the buyer's money goes.
	dest := node(t)
	_, err = c.jobs.EndJob(ctx, withMac(&sluicerpc.EndJobRequest{
		JobId: "job-a", RefundNodePubkey: dest[:]}, macs["prov-1"]))
	if connect.CodeOf(err) != connect.CodePermissionDenied {
		t.Errorf("provider naming a refund node: %v", err)
	}
	_, err = c.jobs.EndJob(ctx, withMac(&sluicerpc.EndJobRequest{
		JobId: "job-a", RefundNodePubkey: dest[:]}, macs["buyer-a"]))
	if err != nil || !fake.ended.RefundTo.HasNode ||
		fake.ended.RefundTo.Node != dest {

		t.Errorf("buyer naming a refund node: %v, %+v", err,
			fake.ended.RefundTo)
	}
}

// TestJobEarnings checks that GetJob and ListJobs show what the job
// metered and earned, what its provider auto-staked of that, and its
// provider's payout balances, each field from its own source.
func TestJobEarnings(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	fake := newFakeJobs()
	fake.jobs["job-a"] = settlement.Status{
		Job: settlement.Job{ID: "job-a", BuyerID: "buyer-a",
			ProviderID: "prov-1", State: settlement.StateRunning},
		SecondsMetered: 60, Spent: 96, Fees: 2, Earned: 94,
		AutoStaked:      47,
		ProviderPaidOut: 1000, ProviderInFlight: 20,
		ProviderPayable: 27,
	}
	c := startJobDaemon(t, fake)
	want := &sluicerpc.Job{
		SecondsMetered: 60, SpentMsat: 96, FeesMsat: 2,
		EarnedMsat: 94, AutoStakedMsat: 47,
		ProviderPaidOutMsat: 1000, ProviderInFlightMsat: 20,
		ProviderPayableMsat: 27,
	}
	check := func(who string, j *sluicerpc.Job) {
		t.Helper()
		got := &sluicerpc.Job{
			SecondsMetered: j.SecondsMetered, SpentMsat: j.SpentMsat,
			FeesMsat: j.FeesMsat, EarnedMsat: j.EarnedMsat,
			AutoStakedMsat:       j.AutoStakedMsat,
			ProviderPaidOutMsat:  j.ProviderPaidOutMsat,
			ProviderInFlightMsat: j.ProviderInFlightMsat,
			ProviderPayableMsat:  j.ProviderPayableMsat,
		}
		if !proto.Equal(got, want) {
			t.Errorf("%s: earnings %v, want %v", who, got, want)
		}
	}

	for _, who := range []string{"buyer-a", "prov-1"} {
		mac := c.d.buyerHex(t, "buyer-a")
		if who == "prov-1" {
			mac = c.d.providerHex(t, "prov-1")
		}
		got, err := c.jobs.GetJob(ctx, withMac(
			&sluicerpc.GetJobRequest{JobId: "job-a"}, mac))
		if err != nil {
			t.Fatalf("%s GetJob: %v", who, err)
		}
		check(who+" GetJob", got.Msg.Job)

		list, err := c.jobs.ListJobs(ctx, withMac(
			&sluicerpc.ListJobsRequest{}, mac))
		if err != nil || len(list.Msg.Jobs) != 1 {
			t.Fatalf("%s ListJobs: %v, %v", who, list, err)
		}
		check(who+" ListJobs", list.Msg.Jobs[0])
	}
}

// TestCreateJobBuyer checks that a buyer's job is always its own and that
// the operator names the buyer.
func TestCreateJobBuyer(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	fake := newFakeJobs()
	c := startJobDaemon(t, fake)
	refund := node(t)

	req := &sluicerpc.CreateJobRequest{ProviderId: "prov-1",
		Spec: map[string]int64{"cpu": 1000}, BudgetMsat: 5000,
		BufferSeconds: 10, RefundNodePubkey: refund[:],
		InvoiceExpirySeconds: 60}
	resp, err := c.jobs.CreateJob(ctx, withMac(req,
		c.d.buyerHex(t, "buyer-a")))
	if err != nil {
		t.Fatal(err)
	}
	got := fake.created
	if got.BuyerID != "buyer-a" || got.ProviderID != "prov-1" ||
		got.Spec["cpu"] != 1000 || got.Budget != 5000 ||
		got.BufferSeconds != 10 || got.RefundNode != refund ||
		got.InvoiceExpiry != time.Minute {

		t.Fatalf("backend got %+v", got)
	}
	if resp.Msg.Job.JobId != "job-new" ||
		resp.Msg.Job.Invoices[0].PaymentRequest != "lnbcrt1fake" ||
		len(resp.Msg.Job.Invoices[0].PaymentHash) != 32 {

		t.Fatalf("answer: %+v", resp.Msg.Job)
	}

	cases := []struct {
		name  string
		mac   string
		buyer string
		code  connect.Code
	}{
		{"buyer for another", c.d.buyerHex(t, "buyer-a"), "buyer-b",
			connect.CodePermissionDenied},
		{"buyer naming itself", c.d.buyerHex(t, "buyer-a"), "buyer-a",
			0},
		{"operator without a buyer",
			c.d.macaroonHex(t, OperatorMacaroonFile), "",
			connect.CodeInvalidArgument},
		{"operator for a buyer",
			c.d.macaroonHex(t, OperatorMacaroonFile), "buyer-z", 0},
		{"provider", c.d.providerHex(t, "prov-1"), "",
			connect.CodePermissionDenied},
	}
	for _, tc := range cases {
		r := proto.Clone(req).(*sluicerpc.CreateJobRequest)
		r.BuyerId = tc.buyer
		_, err := c.jobs.CreateJob(ctx, withMac(r, tc.mac))
		if connect.CodeOf(err) != tc.code && !(tc.code == 0 &&
			err == nil) {

			t.Errorf("%s: %v, want %v", tc.name, err, tc.code)
		}
	}
	if fake.created.BuyerID != "buyer-z" {
		t.Errorf("operator's job for %q", fake.created.BuyerID)
	}

	bad := proto.Clone(req).(*sluicerpc.CreateJobRequest)
	bad.RefundNodePubkey = []byte{1, 2, 3}
	_, err = c.jobs.CreateJob(ctx, withMac(bad, c.d.buyerHex(t, "b")))
	if connect.CodeOf(err) != connect.CodeInvalidArgument {
		t.Errorf("bad refund key: %v", err)
	}
}

// TestJobErrorCodes maps settlement's errors to status codes.
func TestJobErrorCodes(t *testing.T) {
	tests := []struct {
		err  error
		code connect.Code
	}{
		{settlement.ErrInvalidJob, connect.CodeInvalidArgument},
		{settlement.ErrRefundInvoiceExpired, connect.CodeInvalidArgument},
		{fmt.Errorf("x: %w: %w", settlement.ErrInvalidRefund,
			settlement.ErrRefundWrongNetwork),
			connect.CodeInvalidArgument},
		{settlement.ErrJobNotFound, connect.CodeNotFound},
		{settlement.ErrProviderNotFound, connect.CodeNotFound},
		{settlement.ErrBuyerExists, connect.CodeAlreadyExists},
		{&settlement.TransitionError{}, connect.CodeFailedPrecondition},
		{settlement.ErrJobEnded, connect.CodeFailedPrecondition},
		{settlement.ErrNotFunded, connect.CodeFailedPrecondition},
		{settlement.ErrRefundInFlight, connect.CodeFailedPrecondition},
		{settlement.ErrNoRoute, connect.CodeFailedPrecondition},
		{errors.New("disk on fire"), connect.CodeInternal},
	}
	for _, tc := range tests {
		if got := connect.CodeOf(jobError("x", tc.err)); got != tc.code {
			t.Errorf("%v: %v, want %v", tc.err, got, tc.code)
		}
	}
}

// TestAddBuyer mints a buyer macaroon that works for that buyer only, and
// is for the operator alone.
func TestAddBuyer(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	fake := newFakeJobs(settlement.Job{ID: "job-x",
		BuyerID: "buyer-alice", ProviderID: "p"})
	c := startJobDaemon(t, fake)
	op := c.d.macaroonHex(t, OperatorMacaroonFile)

	resp, err := c.op.AddBuyer(ctx, withMac(
		&sluicerpc.AddBuyerRequest{Name: "alice"}, op))
	if err != nil {
		t.Fatal(err)
	}
	if resp.Msg.Buyer.BuyerId != "buyer-alice" ||
		len(resp.Msg.BuyerMacaroon) == 0 {

		t.Fatalf("AddBuyer: %+v", resp.Msg)
	}
	caller, err := c.d.srv.macaroons.verify(fmt.Sprintf("%x",
		resp.Msg.BuyerMacaroon), time.Now())
	if err != nil || caller.Role != RoleBuyer ||
		caller.BuyerID != "buyer-alice" {

		t.Fatalf("minted macaroon: %+v, %v", caller, err)
	}
	mac := fmt.Sprintf("%x", resp.Msg.BuyerMacaroon)
	if _, err := c.jobs.GetJob(ctx, withMac(&sluicerpc.GetJobRequest{
		JobId: "job-x"}, mac)); err != nil {

		t.Fatalf("alice's own job: %v", err)
	}

	list, err := c.op.ListBuyers(ctx, withMac(
		&sluicerpc.ListBuyersRequest{}, op))
	if err != nil || len(list.Msg.Buyers) != 1 {
		t.Fatalf("ListBuyers: %v, %v", list, err)
	}
	for _, other := range []string{mac, c.d.providerHex(t, "p")} {
		_, err := c.op.AddBuyer(ctx, withMac(
			&sluicerpc.AddBuyerRequest{Name: "bob"}, other))
		if connect.CodeOf(err) != connect.CodePermissionDenied {
			t.Errorf("AddBuyer by a non-operator: %v", err)
		}
	}
	fake.addedErr = settlement.ErrBuyerExists
	_, err = c.op.AddBuyer(ctx, withMac(
		&sluicerpc.AddBuyerRequest{Name: "alice"}, op))
	if connect.CodeOf(err) != connect.CodeAlreadyExists {
		t.Errorf("second alice: %v", err)
	}
}

// TestBuyerMacaroonCaveat checks the buyer_id caveat: required on buyer
// macaroons, refused on others, and not to be widened.
func TestBuyerMacaroonCaveat(t *testing.T) {
	macs, err := newMacaroonService(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	hexOf := func(role Role, caveats ...string) string {
		m, err := macs.bake(role, caveats...)
		if err != nil {
			t.Fatal(err)
		}
		raw, _ := m.MarshalBinary()
		return fmt.Sprintf("%x", raw)
	}
	tests := []struct {
		name string
		mac  string
		ok   bool
	}{
		{"bound", hexOf(RoleBuyer, "buyer_id b1"), true},
		{"same twice", hexOf(RoleBuyer, "buyer_id b1", "buyer_id b1"),
			true},
		{"unbound", hexOf(RoleBuyer), false},
		{"two buyers", hexOf(RoleBuyer, "buyer_id b1", "buyer_id b2"),
			false},
		{"on a provider", hexOf(RoleProvider, "provider_id p",
			"buyer_id b1"), false},
		{"on the operator", hexOf(RoleOperator, "buyer_id b1"), false},
	}
	for _, tc := range tests {
		c, err := macs.verify(tc.mac, time.Now())
		if (err == nil) != tc.ok {
			t.Errorf("%s: %+v, %v", tc.name, c, err)
		}
		if err != nil && !errors.Is(err, ErrCaveatFailed) {
			t.Errorf("%s: %v, want ErrCaveatFailed", tc.name, err)
		}
	}
	if _, err := macs.bakeBuyer(""); !errors.Is(err, ErrInvalidBuyerID) {
		t.Errorf("empty buyer id: %v", err)
	}
	if _, err := macs.bakeBuyer("a b"); !errors.Is(err, ErrInvalidBuyerID) {
		t.Errorf("buyer id with a space: %v", err)
	}
}
