package rpc

import (
	"context"
	"errors"
	"fmt"

	"connectrpc.com/connect"
	"github.com/sluice-ln/sluice/metering"
	"github.com/sluice-ln/sluice/rpc/sluicerpc"
	"github.com/sluice-ln/sluice/rpc/sluicerpc/sluicerpcconnect"
)

// MeteringBackend takes agents' usage; the MeteringService's handlers call
// it. metering.Service implements it.
type MeteringBackend interface {
	// Submit decodes, verifies and ingests one encoded batch for the
	// provider callerID, answering once its records are durable.
	Submit(ctx context.Context, callerID string,
		encoded []byte) (metering.Result, error)

	// Status returns a job as metering sees it, or an error wrapping
	// metering.ErrUnknownJob.
	Status(ctx context.Context, jobID string) (metering.JobView, error)
}

var _ MeteringBackend = (*metering.Service)(nil)

// meteringService implements the MeteringService.
type meteringService struct {
	sluicerpcconnect.UnimplementedMeteringServiceHandler

	backend MeteringBackend
}

var _ sluicerpcconnect.MeteringServiceHandler = (*meteringService)(nil)

// SubmitUsage ingests one batch. A batch of which the escrow paid for only
// the first records is answered with what was taken and why the rest was
// not; a batch of which nothing was taken gets the error.
func (s *meteringService) SubmitUsage(ctx context.Context,
	req *connect.Request[sluicerpc.SubmitUsageRequest]) (
	*connect.Response[sluicerpc.SubmitUsageResponse], error) {

	caller, _ := CallerFrom(ctx)
	if caller.Role != RoleProvider || caller.ProviderID == "" {
		return nil, connect.NewError(connect.CodePermissionDenied,
			errors.New("usage is submitted with a provider macaroon"))
	}

	res, err := s.backend.Submit(ctx, caller.ProviderID, req.Msg.Batch)
	partial := errors.Is(err, metering.ErrInsufficientEscrow) &&
		res.Accepted > 0
	if err != nil && !partial {
		return nil, meteringCodes.connectError("submit usage", err)
	}

	resp := &sluicerpc.SubmitUsageResponse{
		Accepted:   uint32(res.Accepted),
		Duplicates: uint32(res.Duplicates),
		LastSeq:    res.LastSeq,
		PriceMsat:  int64(res.Price),
		FeeMsat:    int64(res.Fee),
	}
	if partial {
		resp.Refused = err.Error()
	}

	return connect.NewResponse(resp), nil
}

// GetMeter returns a job's metering state to its provider or the operator.
func (s *meteringService) GetMeter(ctx context.Context,
	req *connect.Request[sluicerpc.GetMeterRequest]) (
	*connect.Response[sluicerpc.GetMeterResponse], error) {

	if req.Msg.JobId == "" {
		return nil, connect.NewError(connect.CodeInvalidArgument,
			errors.New("job_id is empty"))
	}
	job, err := s.backend.Status(ctx, req.Msg.JobId)
	if err != nil {
		return nil, meteringCodes.connectError("get meter", err)
	}
	caller, _ := CallerFrom(ctx)
	if caller.Role == RoleProvider && caller.ProviderID != job.ProviderID {
		// Someone else's job looks like no job at all.
		return nil, connect.NewError(connect.CodeNotFound,
			fmt.Errorf("%w: %s", metering.ErrUnknownJob,
				req.Msg.JobId))
	}

	return connect.NewResponse(&sluicerpc.GetMeterResponse{
		JobId:         job.ID,
		State:         string(job.State),
		LastSeq:       job.Meter.LastSeq,
		LastSecond:    job.Meter.LastSecond,
		ChargedMsat:   int64(job.Meter.Charged),
		FeesMsat:      int64(job.Meter.Fees),
		CarryMsat:     job.Meter.Carry.String(),
		BatchVersions: batchVersions(),
		EscrowMsat:    int64(job.Escrow),
		MaxCpuCoreMs:  job.Max.CPU,
		MaxMemMibS:    job.Max.Mem,
	}), nil
}

// meteringCodes maps metering's errors to status codes, as
// docs/protocol.md tables them.
var meteringCodes = errorCodes{
	{metering.ErrMalformed, connect.CodeInvalidArgument},
	{metering.ErrUnsupportedVersion, connect.CodeInvalidArgument},
	{metering.ErrBadSignature, connect.CodeInvalidArgument},
	{metering.ErrUnknownJob, connect.CodeNotFound},
	{metering.ErrForeignJob, connect.CodePermissionDenied},
	{metering.ErrConflict, connect.CodeAlreadyExists},
	{metering.ErrSeqGap, connect.CodeFailedPrecondition},
	{metering.ErrTooManySeconds, connect.CodeInvalidArgument},
	{metering.ErrOverflow, connect.CodeInvalidArgument},
	{metering.ErrOverLimit, connect.CodeInvalidArgument},
	{metering.ErrSecondNotAfter, connect.CodeInvalidArgument},
	{metering.ErrBeforeStart, connect.CodeInvalidArgument},
	{metering.ErrAfterEnd, connect.CodeInvalidArgument},
	{metering.ErrFutureSecond, connect.CodeInvalidArgument},
	{metering.ErrJobNotRunning, connect.CodeFailedPrecondition},
	{metering.ErrInsufficientEscrow, connect.CodeFailedPrecondition},
	{metering.ErrUnknownResource, connect.CodeFailedPrecondition},
	{metering.ErrIngestClosed, connect.CodeUnavailable},
}

// batchVersions are the usage batch versions this server reads.
func batchVersions() []uint32 {
	vs := metering.Versions()
	out := make([]uint32, len(vs))
	for i, v := range vs {
		out[i] = uint32(v)
	}

	return out
}
