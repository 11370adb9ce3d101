package rpc

import (
	"context"
	"errors"

	"connectrpc.com/connect"
	"github.com/sluice-ln/sluice/payout"
	"github.com/sluice-ln/sluice/rpc/sluicerpc"
)

// PayoutBackend gives a provider's live status; payout.Scheduler
// implements it.
type PayoutBackend interface {
	// ProviderStatus returns a provider's balances, payout status and
	// counts and its jobs' metering, read in one transaction; every job
	// when allJobs, else those that have not ended.
	// payout.ErrProviderNotFound for an unknown provider.
	ProviderStatus(ctx context.Context, providerID string,
		allJobs bool) (payout.ProviderStatus, error)
}

var _ PayoutBackend = (*payout.Scheduler)(nil)

// GetProviderStatus returns a provider's live status. The auth
// interceptor has checked that a provider asks about itself.
func (s *providerService) GetProviderStatus(ctx context.Context,
	req *connect.Request[sluicerpc.GetProviderStatusRequest]) (
	*connect.Response[sluicerpc.GetProviderStatusResponse], error) {

	if s.payouts == nil {
		return nil, connect.NewError(connect.CodeUnimplemented,
			errors.New("provider status is not served"))
	}
	id := req.Msg.ProviderId
	if id == "" {
		return nil, connect.NewError(connect.CodeInvalidArgument,
			errors.New("provider_id is empty"))
	}
	st, err := s.payouts.ProviderStatus(ctx, id, req.Msg.AllJobs)
	if errors.Is(err, payout.ErrProviderNotFound) {
		return nil, connect.NewError(connect.CodeNotFound, err)
	}
	if err != nil {
		return nil, providerCodes.connectError("provider status", err)
	}
	return connect.NewResponse(providerStatusProto(st)), nil
}

// providerStatusProto is a provider's status as the API shows it.
func providerStatusProto(
	st payout.ProviderStatus) *sluicerpc.GetProviderStatusResponse {

	resp := &sluicerpc.GetProviderStatusResponse{
		ProviderId:         st.ProviderID,
		AsOf:               ts(st.AsOf),
		PayableMsat:        int64(st.Payable),
		InFlightMsat:       int64(st.InFlight),
		PaidOutMsat:        int64(st.PaidOut),
		Payouts:            st.Payouts,
		PayoutsSucceeded:   st.Succeeded,
		LastPayoutAt:       ts(st.LastPayoutAt),
		PayoutStatus:       string(st.Status.State),
		PayoutStatusReason: st.Status.Reason,
		PayoutRetryAt:      ts(st.Status.RetryAt),
	}
	for _, j := range st.Jobs {
		resp.Jobs = append(resp.Jobs, &sluicerpc.ProviderJobStatus{
			JobId:          j.JobID,
			State:          j.State,
			SecondsMetered: j.SecondsMetered,
			EarnedMsat:     int64(j.Earned),
			EscrowMsat:     int64(j.Escrow),
		})
	}
	return resp
}
