package rpc

import (
	"context"
	"errors"
	"time"

	"connectrpc.com/connect"
	"github.com/sluice-ln/sluice/ledger"
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
	// SetWithdrawAddress checks and records a provider's withdrawal
	// address (shares.Withdrawer's SetAddress).
	SetWithdrawAddress(ctx context.Context, providerID, addr string) (
		shares.WithdrawAddress, error)

	// WithdrawAddress returns a provider's withdrawal address;
	// shares.ErrNoWithdrawAddress when it has none.
	WithdrawAddress(ctx context.Context, providerID string) (
		shares.WithdrawAddress, error)

	// Withdraw queues a withdrawal (shares.Withdrawer's Withdraw).
	Withdraw(ctx context.Context, providerID, key string,
		amount ledger.Shares) (shares.Withdrawal, bool, error)

	// Withdrawals returns a provider's withdrawals, or everyone's for
	// "".
	Withdrawals(ctx context.Context, providerID string) (
		[]shares.Withdrawal, error)

	// DepositAddress returns a provider's deposit address, made the
	// first time (shares.Depositor's Address).
	DepositAddress(ctx context.Context, providerID string) (
		shares.DepositAddress, error)

	// Deposits returns a provider's credited deposits, or everyone's
	// for "".
	Deposits(ctx context.Context, providerID string) ([]shares.Deposit,
		error)
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
	{shares.ErrBadWithdrawAddress, connect.CodeInvalidArgument},
	{shares.ErrBadAmount, connect.CodeInvalidArgument},
	{shares.ErrBadKey, connect.CodeInvalidArgument},
	{shares.ErrAddrWrongNetwork, connect.CodeFailedPrecondition},
	{shares.ErrAddrNotGroup, connect.CodeFailedPrecondition},
	{shares.ErrAddrWrongAsset, connect.CodeFailedPrecondition},
	{shares.ErrAddrHasAmount, connect.CodeFailedPrecondition},
	{shares.ErrNoWithdrawAddress, connect.CodeFailedPrecondition},
	{shares.ErrAboveCustody, connect.CodeFailedPrecondition},
	{ledger.ErrIdempotencyConflict, connect.CodeAlreadyExists},
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

// SetWithdrawAddress registers a provider's withdrawal address.
func (s *sharesService) SetWithdrawAddress(ctx context.Context,
	req *connect.Request[sluicerpc.SetWithdrawAddressRequest]) (
	*connect.Response[sluicerpc.SetWithdrawAddressResponse], error) {

	if err := s.served(); err != nil {
		return nil, err
	}
	id, err := vaultProvider(ctx, req.Msg.ProviderId)
	if err != nil {
		return nil, err
	}
	a, err := s.backend.SetWithdrawAddress(ctx, id, req.Msg.Addr)
	if err != nil {
		return nil, sharesCodes.connectError("set withdrawal address",
			err)
	}
	return connect.NewResponse(&sluicerpc.SetWithdrawAddressResponse{
		Address: withdrawAddress(a),
	}), nil
}

// Withdraw queues a withdrawal of a provider's shares.
func (s *sharesService) Withdraw(ctx context.Context,
	req *connect.Request[sluicerpc.WithdrawRequest]) (
	*connect.Response[sluicerpc.WithdrawResponse], error) {

	if err := s.served(); err != nil {
		return nil, err
	}
	m := req.Msg
	id, err := vaultProvider(ctx, m.ProviderId)
	if err != nil {
		return nil, err
	}
	key, err := idempotencyKey(m.IdempotencyKey)
	if err != nil {
		return nil, err
	}
	w, dup, err := s.backend.Withdraw(ctx, id, key,
		ledger.Shares(m.AmountUnits))
	if err != nil {
		return nil, sharesCodes.connectError("withdraw", err)
	}
	return connect.NewResponse(&sluicerpc.WithdrawResponse{
		Withdrawal:     shareWithdrawal(w),
		IdempotencyKey: key,
		Duplicate:      dup,
	}), nil
}

// ListWithdrawals returns a provider's withdrawals and address, or, for
// the operator naming none, everyone's withdrawals.
func (s *sharesService) ListWithdrawals(ctx context.Context,
	req *connect.Request[sluicerpc.ListWithdrawalsRequest]) (
	*connect.Response[sluicerpc.ListWithdrawalsResponse], error) {

	if err := s.served(); err != nil {
		return nil, err
	}
	id, err := listedProvider(ctx, req.Msg.ProviderId)
	if err != nil {
		return nil, err
	}
	ws, err := s.backend.Withdrawals(ctx, id)
	if err != nil {
		return nil, sharesCodes.connectError("list withdrawals", err)
	}
	resp := &sluicerpc.ListWithdrawalsResponse{}
	for _, w := range ws {
		resp.Withdrawals = append(resp.Withdrawals, shareWithdrawal(w))
	}
	if id != "" {
		a, err := s.backend.WithdrawAddress(ctx, id)
		switch {
		case err == nil:
			resp.Address = withdrawAddress(a)

		case !errors.Is(err, shares.ErrNoWithdrawAddress):
			return nil, sharesCodes.connectError(
				"withdrawal address", err)
		}
	}
	return connect.NewResponse(resp), nil
}

// withdrawAddress is a on the wire.
func withdrawAddress(a shares.WithdrawAddress) *sluicerpc.WithdrawAddress {
	return &sluicerpc.WithdrawAddress{
		ProviderId:   a.ProviderID,
		Addr:         a.Addr,
		GroupKey:     a.GroupKey,
		ProofCourier: a.ProofCourier,
		SetAt:        optionalTimestamp(a.SetAt),
	}
}

// shareWithdrawal is w on the wire.
func shareWithdrawal(w shares.Withdrawal) *sluicerpc.ShareWithdrawal {
	return &sluicerpc.ShareWithdrawal{
		Id:          w.ID,
		ProviderId:  w.ProviderID,
		AmountUnits: int64(w.Amount),
		Addr:        w.Addr,
		State:       string(w.State),
		RoundId:     w.RoundID,
		Failure:     w.Failure,
		CreatedAt:   optionalTimestamp(w.CreatedAt),
		ResolvedAt:  optionalTimestamp(w.ResolvedAt),
	}
}

// listedProvider is the provider whose records a list call returns: the
// one named, which a provider's macaroon must be, or "" for everyone's when
// the operator names none.
func listedProvider(ctx context.Context, named string) (string, error) {
	c, err := caller(ctx)
	if err != nil {
		return "", err
	}
	if c.Role == RoleProvider {
		return vaultProvider(ctx, named)
	}
	return named, nil
}

// GetDepositAddress returns a provider's deposit address on the hub's
// tapd, made the first time.
func (s *sharesService) GetDepositAddress(ctx context.Context,
	req *connect.Request[sluicerpc.GetDepositAddressRequest]) (
	*connect.Response[sluicerpc.GetDepositAddressResponse], error) {

	if err := s.served(); err != nil {
		return nil, err
	}
	id, err := vaultProvider(ctx, req.Msg.ProviderId)
	if err != nil {
		return nil, err
	}
	a, err := s.backend.DepositAddress(ctx, id)
	if err != nil {
		return nil, sharesCodes.connectError("deposit address", err)
	}
	return connect.NewResponse(&sluicerpc.GetDepositAddressResponse{
		Address: &sluicerpc.DepositAddress{
			ProviderId: a.ProviderID,
			Addr:       a.Addr,
			CreatedAt:  optionalTimestamp(a.CreatedAt),
		},
	}), nil
}

// ListDeposits returns a provider's credited deposits, or, for the
// operator naming none, everyone's.
func (s *sharesService) ListDeposits(ctx context.Context,
	req *connect.Request[sluicerpc.ListDepositsRequest]) (
	*connect.Response[sluicerpc.ListDepositsResponse], error) {

	if err := s.served(); err != nil {
		return nil, err
	}
	id, err := listedProvider(ctx, req.Msg.ProviderId)
	if err != nil {
		return nil, err
	}
	ds, err := s.backend.Deposits(ctx, id)
	if err != nil {
		return nil, sharesCodes.connectError("list deposits", err)
	}
	resp := &sluicerpc.ListDepositsResponse{}
	for _, d := range ds {
		resp.Deposits = append(resp.Deposits, &sluicerpc.ShareDeposit{
			Id:          d.ID,
			Outpoint:    d.Outpoint,
			ProviderId:  d.ProviderID,
			Addr:        d.Addr,
			AmountUnits: int64(d.Amount),
			BlockHeight: d.Height,
			CreditedAt:  optionalTimestamp(d.CreditedAt),
		})
	}
	return connect.NewResponse(resp), nil
}
