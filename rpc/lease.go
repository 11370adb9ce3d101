package rpc

import (
	"context"
	"errors"
	"fmt"
	"slices"

	"connectrpc.com/connect"
	"github.com/btcsuite/btcd/btcutil"
	"github.com/lightningnetwork/lnd/routing/route"
	"github.com/sluice-ln/sluice/rpc/sluicerpc"
	"github.com/sluice-ln/sluice/rpc/sluicerpc/sluicerpcconnect"
	"github.com/sluice-ln/sluice/yield"
	"github.com/sluice-ln/sluice/yield/lease"
	"google.golang.org/protobuf/types/known/timestamppb"
)

// LeaseBackend is the lease strategy as the LeaseService's handlers use it;
// *lease.Strategy implements it. Errors wrap package lease's sentinels,
// which leaseCodes maps to status codes.
type LeaseBackend interface {
	// Config is the strategy's terms.
	Config() lease.Config

	// Info returns the terms and what could be leased now.
	Info(ctx context.Context) (lease.Info, error)

	// Request quotes and stores a lease and makes its hold invoice:
	// lease.ErrInvalidRequest, ErrCapacityTooSmall, ErrCapacityTooLarge,
	// ErrBlocksOutOfRange, ErrUnknownPeer, ErrKilled, ErrNoRoom,
	// ErrKeyReused.
	Request(ctx context.Context, req lease.Request) (lease.Lease, error)

	// Lease returns one lease; lease.ErrLeaseNotFound.
	Lease(ctx context.Context, id string) (lease.Lease, error)

	// Leases returns the leases f selects, oldest first.
	Leases(ctx context.Context, f lease.Filter) ([]lease.Lease, error)
}

var _ LeaseBackend = (*lease.Strategy)(nil)

// ErrLeasesNotServed is the message of every LeaseService method of a
// server without the lease strategy (Config.Leases nil), answered as
// unimplemented.
var ErrLeasesNotServed = errors.New("this sluiced sells no leases " +
	"(the lease strategy is not enabled)")

// leaseCodes maps package lease's refusals to status codes, each its own
// where gRPC has one.
var leaseCodes = errorCodes{
	{lease.ErrInvalidRequest, connect.CodeInvalidArgument},
	{lease.ErrCapacityTooSmall, connect.CodeOutOfRange},
	{lease.ErrCapacityTooLarge, connect.CodeOutOfRange},
	{lease.ErrBlocksOutOfRange, connect.CodeOutOfRange},
	{lease.ErrUnknownPeer, connect.CodeNotFound},
	{lease.ErrLeaseNotFound, connect.CodeNotFound},
	{lease.ErrNoRoom, connect.CodeResourceExhausted},
	{yield.ErrLimit, connect.CodeResourceExhausted},
	{lease.ErrKilled, connect.CodeUnavailable},
	{lease.ErrKeyReused, connect.CodeAlreadyExists},
	{yield.ErrOverflow, connect.CodeOutOfRange},
}

// leaseService implements the LeaseService.
type leaseService struct {
	sluicerpcconnect.UnimplementedLeaseServiceHandler

	// backend is the strategy; nil answers every method unimplemented.
	backend LeaseBackend
}

var _ sluicerpcconnect.LeaseServiceHandler = (*leaseService)(nil)

// served returns an unimplemented error when there is no strategy.
func (s *leaseService) served() error {
	if s.backend == nil {
		return connect.NewError(connect.CodeUnimplemented,
			ErrLeasesNotServed)
	}
	return nil
}

// GetLeaseInfo returns the terms.
func (s *leaseService) GetLeaseInfo(ctx context.Context,
	_ *connect.Request[sluicerpc.GetLeaseInfoRequest]) (
	*connect.Response[sluicerpc.GetLeaseInfoResponse], error) {

	if err := s.served(); err != nil {
		return nil, err
	}
	info, err := s.backend.Info(ctx)
	if err != nil {
		return nil, leaseCodes.connectError("lease info", err)
	}
	return connect.NewResponse(&sluicerpc.GetLeaseInfoResponse{
		MinLspBalanceSat:            int64(info.MinCapacity),
		MaxLspBalanceSat:            int64(info.MaxCapacity),
		MinChannelExpiryBlocks:      info.MinBlocks,
		MaxChannelExpiryBlocks:      info.MaxBlocks,
		RatePpb:                     info.RatePPB,
		FloorMsat:                   int64(info.Floor),
		FundingConfirmsWithinBlocks: info.FundingConfirms,
		AvailableSat:                int64(info.Available),
		Killed:                      info.Killed,
	}), nil
}

// CreateLease sells a lease.
func (s *leaseService) CreateLease(ctx context.Context,
	req *connect.Request[sluicerpc.CreateLeaseRequest]) (
	*connect.Response[sluicerpc.CreateLeaseResponse], error) {

	if err := s.served(); err != nil {
		return nil, err
	}
	m := req.Msg
	if len(m.NodePubkey) != 33 {
		return nil, connect.NewError(connect.CodeNotFound,
			fmt.Errorf("%w: node_pubkey: %d bytes, want 33",
				lease.ErrUnknownPeer, len(m.NodePubkey)))
	}
	if m.LspBalanceSat <= 0 {
		return nil, connect.NewError(connect.CodeOutOfRange,
			fmt.Errorf("%w: lsp_balance_sat %d is not positive",
				lease.ErrCapacityTooSmall, m.LspBalanceSat))
	}
	l, err := s.backend.Request(ctx, lease.Request{
		Node:     route.Vertex(m.NodePubkey).String(),
		Capacity: btcutil.Amount(m.LspBalanceSat),
		Blocks:   m.ChannelExpiryBlocks,
		Key:      m.Key,
	})
	if err != nil {
		return nil, leaseCodes.connectError("create lease", err)
	}
	return connect.NewResponse(&sluicerpc.CreateLeaseResponse{
		Lease: s.leaseProto(l),
	}), nil
}

// GetLease returns one lease.
func (s *leaseService) GetLease(ctx context.Context,
	req *connect.Request[sluicerpc.GetLeaseRequest]) (
	*connect.Response[sluicerpc.GetLeaseResponse], error) {

	if err := s.served(); err != nil {
		return nil, err
	}
	l, err := s.backend.Lease(ctx, req.Msg.Id)
	if err != nil {
		return nil, leaseCodes.connectError("get lease", err)
	}
	return connect.NewResponse(&sluicerpc.GetLeaseResponse{
		Lease: s.leaseProto(l),
	}), nil
}

// ListLeases returns the leases the request selects.
func (s *leaseService) ListLeases(ctx context.Context,
	req *connect.Request[sluicerpc.ListLeasesRequest]) (
	*connect.Response[sluicerpc.ListLeasesResponse], error) {

	if err := s.served(); err != nil {
		return nil, err
	}
	var f lease.Filter
	if len(req.Msg.NodePubkey) > 0 {
		if len(req.Msg.NodePubkey) != 33 {
			return nil, connect.NewError(
				connect.CodeInvalidArgument, fmt.Errorf(
					"%w: node_pubkey: %d bytes, want 33",
					lease.ErrInvalidRequest,
					len(req.Msg.NodePubkey)))
		}
		v := route.Vertex(req.Msg.NodePubkey)
		f.Node = &v
	}
	for _, st := range req.Msg.States {
		if !lease.State(st).Valid() {
			return nil, connect.NewError(
				connect.CodeInvalidArgument, fmt.Errorf(
					"%w: states: %q is not one of %v",
					lease.ErrInvalidRequest, st,
					lease.States))
		}
		if !slices.Contains(f.States, lease.State(st)) {
			f.States = append(f.States, lease.State(st))
		}
	}
	leases, err := s.backend.Leases(ctx, f)
	if err != nil {
		return nil, leaseCodes.connectError("list leases", err)
	}
	resp := &sluicerpc.ListLeasesResponse{}
	for _, l := range leases {
		resp.Leases = append(resp.Leases, s.leaseProto(l))
	}
	return connect.NewResponse(resp), nil
}

// leaseProto is a lease as the API shows it.
func (s *leaseService) leaseProto(l lease.Lease) *sluicerpc.Lease {
	ran := l.ExpiryHeight > 0 && l.Settled &&
		l.RecognisedHeight >= l.ExpiryHeight
	return &sluicerpc.Lease{
		Id:                          l.ID,
		NodePubkey:                  slices.Clone(l.Node[:]),
		LspBalanceSat:               int64(l.Capacity),
		ChannelExpiryBlocks:         l.Blocks,
		FundingConfirmsWithinBlocks: s.backend.Config().FundingConfirms,
		RatePpb:                     l.RatePPB,
		PremiumMsat:                 int64(l.Premium),
		Bolt11:                      l.PayReq,
		PaymentHash:                 slices.Clone(l.Hash[:]),
		InvoiceExpiresAt:            timestamppb.New(l.InvoiceExpiresAt),
		State:                       string(l.State),
		Reason:                      l.Reason,
		ChannelPoint:                l.ChanPoint,
		StartHeight:                 l.StartHeight,
		ExpiryHeight:                l.ExpiryHeight,
		Expired:                     l.State == lease.StateExpired || ran,
		RecognisedMsat:              int64(l.Recognised),
		CloseTxid:                   l.CloseTxid,
		CreatedAt:                   timestamppb.New(l.CreatedAt),
		UpdatedAt:                   timestamppb.New(l.UpdatedAt),
	}
}
