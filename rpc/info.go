package rpc

import (
	"context"
	"fmt"
	"time"

	"connectrpc.com/connect"
	"github.com/sluice-ln/sluice/rpc/sluicerpc"
	"github.com/sluice-ln/sluice/rpc/sluicerpc/sluicerpcconnect"
	"google.golang.org/protobuf/types/known/timestamppb"
)

// sluiceService implements the Sluice service.
type sluiceService struct {
	sluicerpcconnect.UnimplementedSluiceHandler

	info    InfoSource
	started func() time.Time
	now     func() time.Time
}

var _ sluicerpcconnect.SluiceHandler = (*sluiceService)(nil)

// GetInfo describes the running daemon and the caller's role.
func (s *sluiceService) GetInfo(ctx context.Context,
	_ *connect.Request[sluicerpc.GetInfoRequest]) (
	*connect.Response[sluicerpc.GetInfoResponse], error) {

	info, err := s.info.Info(ctx)
	if err != nil {
		log.Errorf("GetInfo: %v", err)
		return nil, connect.NewError(
			connect.CodeInternal, fmt.Errorf("get info: %w", err),
		)
	}

	start := info.StartTime
	if start.IsZero() {
		start = s.started()
	}
	resp := &sluicerpc.GetInfoResponse{
		Version:   info.Version,
		Network:   info.Network,
		DbBackend: info.DBBackend,

		LeaderRole:    info.LeaderRole,
		LeaderToken:   info.LeaderToken,
		LeaderAddress: info.LeaderAddress,
	}
	if info.HubPubkey != [33]byte{} {
		resp.HubPubkey = info.HubPubkey[:]
	}
	if !start.IsZero() {
		resp.StartTime = timestamppb.New(start)
		resp.UptimeSeconds = int64(s.now().Sub(start) / time.Second)
	}
	if caller, ok := CallerFrom(ctx); ok {
		resp.Role = string(caller.Role)
		resp.ProviderId = caller.ProviderID
		resp.BuyerId = caller.BuyerID
	}
	return connect.NewResponse(resp), nil
}
