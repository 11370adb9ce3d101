package rpc

import (
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
	"time"

	"connectrpc.com/connect"
	"github.com/lightningnetwork/lnd/routing/route"
	"github.com/sluice-ln/sluice/channels"
	"github.com/sluice-ln/sluice/ledger"
	"github.com/sluice-ln/sluice/rpc/sluicerpc"
	"github.com/sluice-ln/sluice/rpc/sluicerpc/sluicerpcconnect"
	"github.com/sluice-ln/sluice/settlement"
	"google.golang.org/protobuf/types/known/timestamppb"
)

// ErrNotYourJob is returned when a buyer or provider acts on a job that is
// not theirs.
var ErrNotYourJob = errors.New("job belongs to another buyer or provider")

// JobBackend runs jobs and buyers; the JobService's and OperatorService's
// handlers call it. settlement.Manager implements it.
type JobBackend interface {
	// AddBuyer records a new buyer.
	AddBuyer(ctx context.Context, name string) (settlement.Buyer, error)

	// Buyers returns every buyer.
	Buyers(ctx context.Context) ([]settlement.Buyer, error)

	// CreateJob creates a job with its funding invoice.
	CreateJob(ctx context.Context, req settlement.CreateJobRequest) (
		settlement.Status, error)

	// GetJob returns a job, or settlement.ErrJobNotFound.
	GetJob(ctx context.Context, id string) (settlement.Status, error)

	// ListJobs returns the jobs a filter selects.
	ListJobs(ctx context.Context, f settlement.ListFilter) (
		[]settlement.Status, error)

	// TopUpJob makes a top-up invoice.
	TopUpJob(ctx context.Context, id string,
		amount ledger.MilliSatoshi) (settlement.Invoice, error)

	// EndJob ends a job and refunds the rest of its escrow.
	EndJob(ctx context.Context, req settlement.EndJobRequest) (
		settlement.Status, error)

	// GetJobWorkload returns a job's workload with its inputs' bytes.
	GetJobWorkload(ctx context.Context, id string) (settlement.Workload,
		error)

	// SubmitResult records the result of a job's workload, sent by the
	// provider named.
	SubmitResult(ctx context.Context, jobID, providerID string,
		r settlement.Result) (settlement.ResultInfo, error)

	// GetJobOutput returns a job's result with its output.
	GetJobOutput(ctx context.Context, id string) (settlement.StoredResult,
		error)
}

var _ JobBackend = (*settlement.Manager)(nil)

// jobService implements the JobService. Who may see and do what is decided
// here, from the caller's macaroon: a buyer its own jobs, a provider the
// jobs assigned to it, the operator every job.
type jobService struct {
	sluicerpcconnect.UnimplementedJobServiceHandler

	backend JobBackend

	// market places jobs created without a provider; nil refuses them.
	market MarketBackend
}

var _ sluicerpcconnect.JobServiceHandler = (*jobService)(nil)

// caller returns the call's caller, or an internal error.
func caller(ctx context.Context) (Caller, error) {
	c, ok := CallerFrom(ctx)
	if !ok {
		return Caller{}, connect.NewError(connect.CodeInternal,
			ErrNoCaller)
	}
	return c, nil
}

// CreateJob creates a job for the calling buyer (or, for the operator, the
// buyer named).
func (s *jobService) CreateJob(ctx context.Context,
	req *connect.Request[sluicerpc.CreateJobRequest]) (
	*connect.Response[sluicerpc.CreateJobResponse], error) {

	c, err := caller(ctx)
	if err != nil {
		return nil, err
	}
	m := req.Msg
	buyer := m.BuyerId
	switch {
	case c.Role == RoleBuyer && buyer != "" && buyer != c.BuyerID:
		return nil, connect.NewError(connect.CodePermissionDenied,
			fmt.Errorf("%w: buyer_id %q, the macaroon is bound to "+
				"%q", ErrNotYourJob, buyer, c.BuyerID))
	case c.Role == RoleBuyer:
		buyer = c.BuyerID
	case buyer == "":
		return nil, connect.NewError(connect.CodeInvalidArgument,
			errors.New("buyer_id is empty: the operator creates "+
				"jobs on behalf of a buyer it names"))
	}

	providerID := m.ProviderId
	var placed []*sluicerpc.Verdict
	switch {
	case providerID == "":
		p, err := place(ctx, s.market, m.Spec, m.MaxRates)
		if err != nil {
			return nil, err
		}
		providerID, placed = p.Chosen, verdictsProto(p)
		log.Infof("Placed a job of buyer %s on provider %s at %v msat "+
			"a second", buyer, providerID, p.Price)
	case len(m.MaxRates) > 0:
		return nil, connect.NewError(connect.CodeInvalidArgument,
			errors.New("max_rates is for placement: give either "+
				"provider_id or max_rates"))
	}

	spec := settlement.Spec{}
	for r, n := range m.Spec {
		spec[channels.Resource(r)] = n
	}
	cr := settlement.CreateJobRequest{
		BuyerID: buyer, ProviderID: providerID, Spec: spec,
		Budget:        ledger.MilliSatoshi(m.BudgetMsat),
		BufferSeconds: m.BufferSeconds,
		InvoiceExpiry: time.Duration(m.InvoiceExpirySeconds) *
			time.Second,
	}
	if m.InvoiceExpirySeconds < 0 {
		return nil, connect.NewError(connect.CodeInvalidArgument,
			errors.New("invoice_expiry_seconds is negative"))
	}
	if len(m.RefundNodePubkey) > 0 {
		node, err := parseNode(m.RefundNodePubkey, "refund_node_pubkey")
		if err != nil {
			return nil, err
		}
		cr.RefundNode, cr.HasRefundNode = node, true
	}
	if w := m.Workload; w != nil {
		cr.Workload = &settlement.Workload{Argv: w.Argv,
			Inputs: w.Inputs}
	}
	if placed != nil {
		// place read max_rates already: it cannot fail here.
		cr.Placed = true
		cr.MaxRates, _ = channels.ParseRateCard(m.MaxRates)
	}
	st, err := s.backend.CreateJob(ctx, cr)
	if err != nil {
		return nil, jobError("create job", err)
	}
	return connect.NewResponse(&sluicerpc.CreateJobResponse{
		Job: jobProto(st), Placement: placed,
	}), nil
}

// parseNode reads a node key field.
func parseNode(raw []byte, field string) (route.Vertex, error) {
	node, err := settlement.ParseNodeKey(hex.EncodeToString(raw))
	if err != nil {
		return route.Vertex{}, connect.NewError(
			connect.CodeInvalidArgument, fmt.Errorf("%s: %w", field,
				err))
	}
	return node, nil
}

// ownJob reads a job and checks the caller may see it.
func (s *jobService) ownJob(ctx context.Context, c Caller, id,
	what string) (settlement.Status, error) {

	if id == "" {
		return settlement.Status{}, connect.NewError(
			connect.CodeInvalidArgument,
			errors.New("job_id is empty"))
	}
	st, err := s.backend.GetJob(ctx, id)
	if err != nil {
		return settlement.Status{}, jobError(what, err)
	}
	if err := mayAccess(c, st.Job); err != nil {
		return settlement.Status{}, err
	}
	return st, nil
}

// mayAccess returns a PermissionDenied error unless c may see and act on
// the job: the operator always, a buyer on its own jobs, a provider on the
// jobs assigned to it.
func mayAccess(c Caller, j settlement.Job) error {
	switch {
	case c.Role == RoleOperator:
		return nil
	case c.Role == RoleBuyer && c.BuyerID != "" && j.BuyerID == c.BuyerID:
		return nil
	case c.Role == RoleProvider && c.ProviderID != "" &&
		j.ProviderID == c.ProviderID:

		return nil
	}
	log.Debugf("Refused job %s to %s %s%s", j.ID, c.Role, c.BuyerID,
		c.ProviderID)
	return connect.NewError(connect.CodePermissionDenied, fmt.Errorf(
		"%w: job %s", ErrNotYourJob, j.ID))
}

// GetJob returns a job the caller may see.
func (s *jobService) GetJob(ctx context.Context,
	req *connect.Request[sluicerpc.GetJobRequest]) (
	*connect.Response[sluicerpc.GetJobResponse], error) {

	c, err := caller(ctx)
	if err != nil {
		return nil, err
	}
	st, err := s.ownJob(ctx, c, req.Msg.JobId, "get job")
	if err != nil {
		return nil, err
	}
	return connect.NewResponse(&sluicerpc.GetJobResponse{
		Job: jobProto(st),
	}), nil
}

// ListJobs returns the jobs the caller may see.
func (s *jobService) ListJobs(ctx context.Context,
	req *connect.Request[sluicerpc.ListJobsRequest]) (
	*connect.Response[sluicerpc.ListJobsResponse], error) {

	c, err := caller(ctx)
	if err != nil {
		return nil, err
	}
	m := req.Msg
	f := settlement.ListFilter{
		BuyerID: m.FilterBuyerId, ProviderID: m.FilterProviderId,
		Limit: int(m.Limit), Offset: int(m.Offset),
	}
	deny := func(field, got, own string) error {
		return connect.NewError(connect.CodePermissionDenied,
			fmt.Errorf("%w: %s %q, the macaroon is bound to %q",
				ErrNotYourJob, field, got, own))
	}
	switch c.Role {
	case RoleBuyer:
		if f.BuyerID != "" && f.BuyerID != c.BuyerID {
			return nil, deny("filter_buyer_id", f.BuyerID,
				c.BuyerID)
		}
		f.BuyerID = c.BuyerID
	case RoleProvider:
		if f.ProviderID != "" && f.ProviderID != c.ProviderID {
			return nil, deny("filter_provider_id", f.ProviderID,
				c.ProviderID)
		}
		f.ProviderID = c.ProviderID
	}
	for _, st := range m.States {
		f.States = append(f.States, settlement.State(st))
	}
	jobs, err := s.backend.ListJobs(ctx, f)
	if err != nil {
		return nil, jobError("list jobs", err)
	}
	resp := &sluicerpc.ListJobsResponse{}
	for _, st := range jobs {
		resp.Jobs = append(resp.Jobs, jobProto(st))
	}
	return connect.NewResponse(resp), nil
}

// TopUpJob makes a top-up invoice for a job of the caller's.
func (s *jobService) TopUpJob(ctx context.Context,
	req *connect.Request[sluicerpc.TopUpJobRequest]) (
	*connect.Response[sluicerpc.TopUpJobResponse], error) {

	c, err := caller(ctx)
	if err != nil {
		return nil, err
	}
	st, err := s.ownJob(ctx, c, req.Msg.JobId, "top up job")
	if err != nil {
		return nil, err
	}
	inv, err := s.backend.TopUpJob(ctx, st.ID,
		ledger.MilliSatoshi(req.Msg.AmountMsat))
	if err != nil {
		return nil, jobError("top up job", err)
	}
	return connect.NewResponse(&sluicerpc.TopUpJobResponse{
		Invoice: invoiceProto(inv),
	}), nil
}

// EndJob ends a job of the caller's. Only the buyer and the operator may
// say where the refund goes: a provider that could would refund the
// buyer's money to itself.
func (s *jobService) EndJob(ctx context.Context,
	req *connect.Request[sluicerpc.EndJobRequest]) (
	*connect.Response[sluicerpc.EndJobResponse], error) {

	c, err := caller(ctx)
	if err != nil {
		return nil, err
	}
	m := req.Msg
	st, err := s.ownJob(ctx, c, m.JobId, "end job")
	if err != nil {
		return nil, err
	}
	er := settlement.EndJobRequest{JobID: st.ID}
	switch c.Role {
	case RoleBuyer:
		er.By = settlement.CauseEndedByBuyer
	case RoleProvider:
		er.By = settlement.CauseEndedByProvider
	default:
		er.By = settlement.CauseEndedByOperator
	}
	hasDest := m.RefundInvoice != "" || len(m.RefundNodePubkey) > 0
	if hasDest && c.Role == RoleProvider {
		return nil, connect.NewError(connect.CodePermissionDenied,
			errors.New("a provider may end a job but not say where "+
				"its refund goes; the buyer's node given at "+
				"creation is used, or the buyer ends it again "+
				"with a destination"))
	}
	er.RefundTo.Invoice = strings.TrimSpace(m.RefundInvoice)
	if len(m.RefundNodePubkey) > 0 {
		node, err := parseNode(m.RefundNodePubkey, "refund_node_pubkey")
		if err != nil {
			return nil, err
		}
		er.RefundTo.Node, er.RefundTo.HasNode = node, true
	}
	st, err = s.backend.EndJob(ctx, er)
	if err != nil {
		return nil, jobError("end job", err)
	}
	return connect.NewResponse(&sluicerpc.EndJobResponse{
		Job: jobProto(st),
	}), nil
}

// jobError maps settlement's errors to connect codes; the message is
// settlement's, which names the field or state at fault.
func jobError(what string, err error) error {
	code := connect.CodeInternal
	switch {
	case errors.Is(err, settlement.ErrInvalidJob),
		errors.Is(err, settlement.ErrInvalidBuyer),
		errors.Is(err, settlement.ErrWorkloadTooLarge),
		errors.Is(err, settlement.ErrInvalidWorkload),
		errors.Is(err, settlement.ErrOutputTooLarge),
		errors.Is(err, settlement.ErrInvalidResult),
		errors.Is(err, settlement.ErrInvalidRefund),
		errors.Is(err, settlement.ErrRefundInvoiceMalformed),
		errors.Is(err, settlement.ErrRefundWrongNetwork),
		errors.Is(err, settlement.ErrRefundInvoiceExpired),
		errors.Is(err, settlement.ErrRefundAmountMismatch),
		errors.Is(err, settlement.ErrRefundToHub):

		code = connect.CodeInvalidArgument

	case errors.Is(err, settlement.ErrJobNotFound),
		errors.Is(err, settlement.ErrBuyerNotFound),
		errors.Is(err, settlement.ErrProviderNotFound):

		code = connect.CodeNotFound

	case errors.Is(err, settlement.ErrBuyerExists),
		errors.Is(err, settlement.ErrResultConflict):

		code = connect.CodeAlreadyExists

	case errors.Is(err, settlement.ErrNotAllowed):
		code = connect.CodePermissionDenied

	case errors.Is(err, settlement.ErrInvalidTransition),
		errors.Is(err, settlement.ErrJobEnded),
		errors.Is(err, settlement.ErrNotFunded),
		errors.Is(err, settlement.ErrJobNotRunning),
		errors.Is(err, settlement.ErrRefundInFlight),
		errors.Is(err, settlement.ErrNothingToRefund),
		errors.Is(err, settlement.ErrNoRoute),
		errors.Is(err, settlement.ErrNoWorkload),
		errors.Is(err, settlement.ErrNoResult),
		errors.Is(err, settlement.ErrJobNotStarted):

		code = connect.CodeFailedPrecondition
	}
	if code == connect.CodeInternal {
		log.Errorf("%s: %v", what, err)
	}
	return connect.NewError(code, fmt.Errorf("%s: %w", what, err))
}

// ts is a time as a timestamp, nil for the zero time.
func ts(t time.Time) *timestamppb.Timestamp {
	if t.IsZero() {
		return nil
	}
	return timestamppb.New(t)
}

// hexBytes decodes a hex string the settlement package keeps, nil on
// error or when empty.
func hexBytes(s string) []byte {
	out, err := hex.DecodeString(s)
	if err != nil || len(out) == 0 {
		return nil
	}
	return out
}

// jobProto is a job status as the API shows it.
func jobProto(st settlement.Status) *sluicerpc.Job {
	j := &sluicerpc.Job{
		JobId: st.ID, BuyerId: st.BuyerID, ProviderId: st.ProviderID,
		State:              string(st.State),
		Spec:               map[string]int64{},
		Rates:              map[string]string{},
		PricePerSecondMsat: st.PricePerSecond.String(),
		BudgetMsat:         int64(st.Budget),
		BufferSeconds:      st.BufferSeconds,
		EscrowMsat:         int64(st.Solvency.Escrow),
		RunwaySeconds:      st.Solvency.Runway.String(),
		RunwayWholeSeconds: st.Solvency.RunwaySeconds,
		Health:             st.Solvency.Health.String(),
		DepletionTime:      ts(st.DepletionTime),
		AsOf:               ts(st.AsOf),
		RefundedMsat:       int64(st.Refunded),
		CreatedAt:          ts(st.CreatedAt),
		FundedAt:           ts(st.FundedAt),
		StartedAt:          ts(st.StartedAt),
		EndedAt:            ts(st.EndedAt),

		SecondsMetered:       st.SecondsMetered,
		SpentMsat:            int64(st.Spent),
		FeesMsat:             int64(st.Fees),
		EarnedMsat:           int64(st.Earned),
		ProviderPaidOutMsat:  int64(st.ProviderPaidOut),
		ProviderInFlightMsat: int64(st.ProviderInFlight),
		ProviderPayableMsat:  int64(st.ProviderPayable),
		AutoStakedMsat:       int64(st.AutoStaked),
	}
	for r, n := range st.Spec {
		j.Spec[string(r)] = n
	}
	for r, rate := range st.Rates {
		j.Rates[string(r)] = rate.String()
	}
	if st.HasRefundNode {
		j.RefundNodePubkey = st.RefundNode[:]
	}
	if st.TopUp != nil {
		j.TopUpInvoice = invoiceProto(*st.TopUp)
	}
	for _, inv := range st.Invoices {
		j.Invoices = append(j.Invoices, invoiceProto(inv))
	}
	for _, r := range st.Refunds {
		rp := &sluicerpc.JobRefund{
			PaymentHash:    hexBytes(r.PaymentHash),
			Method:         string(r.Method),
			PaymentRequest: r.PaymentRequest,
			AmountMsat:     int64(r.Amount),
			FeeLimitMsat:   int64(r.FeeLimit),
			FeeMsat:        int64(r.Fee),
			State:          string(r.State),
			Failure:        r.Failure,
			CreatedAt:      ts(r.CreatedAt),
			ResolvedAt:     ts(r.ResolvedAt),
		}
		if r.Dest != (route.Vertex{}) {
			rp.DestPubkey = r.Dest[:]
		}
		j.Refunds = append(j.Refunds, rp)
	}
	for _, e := range st.Events {
		j.Events = append(j.Events, &sluicerpc.JobEvent{
			FromState: string(e.From), ToState: string(e.To),
			Cause: string(e.Cause), Detail: e.Detail, At: ts(e.At),
		})
	}
	if w := st.Workload; w != nil {
		j.Workload = &sluicerpc.WorkloadInfo{Argv: w.Argv,
			SizeBytes: int64(w.Size())}
		for _, in := range w.Inputs {
			j.Workload.Inputs = append(j.Workload.Inputs,
				&sluicerpc.WorkloadInput{Name: in.Name,
					SizeBytes: int64(in.Size)})
		}
	}
	if st.Result != nil {
		j.Result = resultProto(*st.Result)
	}
	return j
}

// invoiceProto is a job invoice as the API shows it.
func invoiceProto(inv settlement.Invoice) *sluicerpc.JobInvoice {
	return &sluicerpc.JobInvoice{
		PaymentHash:    hexBytes(inv.PaymentHash),
		Purpose:        string(inv.Purpose),
		AmountMsat:     int64(inv.Amount),
		PaymentRequest: inv.PaymentRequest,
		State:          inv.State,
		AmountPaidMsat: int64(inv.AmountPaid),
		CreatedAt:      ts(inv.CreatedAt),
		ExpiresAt:      ts(inv.ExpiresAt),
		SettledAt:      ts(inv.SettledAt),
	}
}
