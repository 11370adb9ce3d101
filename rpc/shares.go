package rpc

import (
	"context"
	"errors"
	"time"

	"connectrpc.com/connect"
	"github.com/sluice-ln/sluice/outbound"
	"github.com/sluice-ln/sluice/rpc/sluicerpc"
	"github.com/sluice-ln/sluice/rpc/sluicerpc/sluicerpcconnect"
	"github.com/sluice-ln/sluice/shares"
	"google.golang.org/protobuf/types/known/timestamppb"
)

// SharesBackend is the share asset as the SharesService's handlers use it.
// The daemon sets its share loop over a *shares.Manager. Errors wrap
// shares' sentinels, which sharesCodes maps to status codes.
type SharesBackend interface {
	// Genesis mints the share asset's group once (shares.Manager's
	// Genesis): ErrGenesisDone, ErrNothingToMint, ErrBadName,
	// ErrMintFailed.
	Genesis(ctx context.Context, name string) (shares.Mint, error)

	// Asset returns the genesis, pending or succeeded;
	// shares.ErrNoGenesis before one.
	Asset(ctx context.Context) (shares.Mint, error)

	// EpochOps returns every epoch's tranche and burn, in the order
	// they were made.
	EpochOps(ctx context.Context) ([]shares.EpochOp, error)
}

// ErrSharesUnavailable is the message of every SharesService method of a
// sluiced running without tapd (Config.Shares nil), answered as
// unavailable.
var ErrSharesUnavailable = errors.New("reward shares are unavailable: " +
	"sluiced runs without tapd (see its start-up log)")

// sharesService implements the SharesService.
type sharesService struct {
	sluicerpcconnect.UnimplementedSharesServiceHandler

	// backend is the share asset; nil answers every method unavailable.
	backend SharesBackend
}

var _ sluicerpcconnect.SharesServiceHandler = (*sharesService)(nil)

// sharesCodes maps shares' sentinels to status codes.
var sharesCodes = errorCodes{
	{shares.ErrBadName, connect.CodeInvalidArgument},
	{shares.ErrNothingToMint, connect.CodeFailedPrecondition},
	{shares.ErrGenesisDone, connect.CodeAlreadyExists},
	{shares.ErrNameTaken, connect.CodeAlreadyExists},
	{shares.ErrMintFailed, connect.CodeAborted},
	{shares.ErrNoGenesis, connect.CodeNotFound},
}

// served returns an unavailable error when sluiced runs without tapd.
func (s *sharesService) served() error {
	if s.backend == nil {
		return connect.NewError(connect.CodeUnavailable,
			ErrSharesUnavailable)
	}
	return nil
}

// Genesis mints the share asset's group.
func (s *sharesService) Genesis(ctx context.Context,
	req *connect.Request[sluicerpc.GenesisRequest]) (
	*connect.Response[sluicerpc.GenesisResponse], error) {

	if err := s.served(); err != nil {
		return nil, err
	}
	m, err := s.backend.Genesis(ctx, req.Msg.Name)
	if err != nil {
		return nil, sharesCodes.connectError("share genesis", err)
	}
	return connect.NewResponse(&sluicerpc.GenesisResponse{
		Asset: shareAsset(m),
	}), nil
}

// GetShares returns the share asset's genesis, unset before one.
func (s *sharesService) GetShares(ctx context.Context,
	_ *connect.Request[sluicerpc.GetSharesRequest]) (
	*connect.Response[sluicerpc.GetSharesResponse], error) {

	if err := s.served(); err != nil {
		return nil, err
	}
	m, err := s.backend.Asset(ctx)
	switch {
	case errors.Is(err, shares.ErrNoGenesis):
		return connect.NewResponse(&sluicerpc.GetSharesResponse{}), nil

	case err != nil:
		return nil, sharesCodes.connectError("get shares", err)
	}
	ops, err := s.backend.EpochOps(ctx)
	if err != nil {
		return nil, sharesCodes.connectError("get shares", err)
	}
	resp := &sluicerpc.GetSharesResponse{Asset: shareAsset(m)}
	for _, op := range ops {
		resp.EpochOps = append(resp.EpochOps, shareEpochOp(op))
	}
	return connect.NewResponse(resp), nil
}

// shareEpochOp is op on the wire.
func shareEpochOp(op shares.EpochOp) *sluicerpc.ShareEpochOp {
	o := &sluicerpc.ShareEpochOp{
		Epoch:            op.Epoch,
		Kind:             string(op.Kind),
		Name:             op.Name,
		AmountUnits:      int64(op.Amount),
		SupplyAfterUnits: int64(op.SupplyAfter),
		State:            string(op.State),
		Failure:          op.Failure,
		AssetId:          op.AssetID,
		MetaJson:         string(op.MetaJSON),
		CreatedAt:        optionalTimestamp(op.CreatedAt),
		ResolvedAt:       optionalTimestamp(op.ResolvedAt),
	}
	if op.State == outbound.StatusSucceeded {
		switch op.Kind {
		case shares.KindTranche:
			o.Anchor = op.Anchor.String()
		case shares.KindBurn:
			o.Anchor = op.BurnTxid.String()
		}
	}
	return o
}

// shareAsset is m on the wire.
func shareAsset(m shares.Mint) *sluicerpc.ShareAsset {
	a := &sluicerpc.ShareAsset{
		Name:        m.Name,
		State:       string(m.State),
		AmountUnits: int64(m.Amount),
		GroupKey:    m.GroupKey,
		AssetId:     m.AssetID,
		MetaJson:    string(m.MetaJSON),
		CreatedAt:   optionalTimestamp(m.CreatedAt),
		ResolvedAt:  optionalTimestamp(m.ResolvedAt),
	}
	if len(m.GroupKey) > 0 {
		a.AnchorOutpoint = m.Anchor.String()
	}
	return a
}

// optionalTimestamp is t on the wire, unset when zero.
func optionalTimestamp(t time.Time) *timestamppb.Timestamp {
	if t.IsZero() {
		return nil
	}
	return timestamppb.New(t)
}
