package rpc

import (
	"context"
	"fmt"

	"connectrpc.com/connect"
	"github.com/sluice-ln/sluice/rpc/sluicerpc"
	"github.com/sluice-ln/sluice/rpc/sluicerpc/sluicerpcconnect"
	"github.com/sluice-ln/sluice/settlement"
)

// operatorService implements the OperatorService: the operator's own
// calls. The permission table lets only the operator in.
type operatorService struct {
	sluicerpcconnect.UnimplementedOperatorServiceHandler

	backend JobBackend

	// reconciler serves Reconcile; nil answers unimplemented.
	reconciler Reconciler

	// bake mints a buyer macaroon for a buyer id.
	bake func(buyerID string) ([]byte, error)

	// dashboard mints dashboard links; nil answers unimplemented.
	dashboard DashboardLinks
}

var _ sluicerpcconnect.OperatorServiceHandler = (*operatorService)(nil)

// AddBuyer records a buyer and mints its macaroon.
func (s *operatorService) AddBuyer(ctx context.Context,
	req *connect.Request[sluicerpc.AddBuyerRequest]) (
	*connect.Response[sluicerpc.AddBuyerResponse], error) {

	b, err := s.backend.AddBuyer(ctx, req.Msg.Name)
	if err != nil {
		return nil, jobError("add buyer", err)
	}
	mac, err := s.bake(b.ID)
	if err != nil {
		log.Errorf("Buyer macaroon for %s: %v", b.ID, err)
		return nil, connect.NewError(connect.CodeInternal,
			fmt.Errorf("buyer macaroon: %w", err))
	}
	log.Infof("Minted a buyer macaroon for %s (%s)", b.ID, b.Name)
	return connect.NewResponse(&sluicerpc.AddBuyerResponse{
		Buyer: buyerProto(b), BuyerMacaroon: mac,
	}), nil
}

// ListBuyers returns every buyer.
func (s *operatorService) ListBuyers(ctx context.Context,
	_ *connect.Request[sluicerpc.ListBuyersRequest]) (
	*connect.Response[sluicerpc.ListBuyersResponse], error) {

	buyers, err := s.backend.Buyers(ctx)
	if err != nil {
		return nil, jobError("list buyers", err)
	}
	resp := &sluicerpc.ListBuyersResponse{}
	for _, b := range buyers {
		resp.Buyers = append(resp.Buyers, buyerProto(b))
	}
	return connect.NewResponse(resp), nil
}

// buyerProto is a buyer as the API shows it.
func buyerProto(b settlement.Buyer) *sluicerpc.Buyer {
	return &sluicerpc.Buyer{BuyerId: b.ID, Name: b.Name,
		CreatedAt: ts(b.CreatedAt)}
}
