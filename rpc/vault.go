package rpc

import (
	"cmp"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"slices"
	"unicode"

	"connectrpc.com/connect"
	"github.com/btcsuite/btcd/chaincfg/chainhash"
	"github.com/sluice-ln/sluice/ledger"
	"github.com/sluice-ln/sluice/rpc/sluicerpc"
	"github.com/sluice-ln/sluice/rpc/sluicerpc/sluicerpcconnect"
	"github.com/sluice-ln/sluice/yield"
)

// VaultBackend is the yield vault as the VaultService's handlers use it:
// exactly the methods they call. *yield.Vault implements it. Money is msat,
// shares are units (ledger.UnitsPerShare to a share); every method reads or
// changes the vault in its own store transaction. Errors wrap yield's
// sentinels, which vaultCodes maps to status codes.
type VaultBackend interface {
	// State returns the vault as a whole.
	State(ctx context.Context) (yield.State, error)

	// Holding returns a provider's shares, locked shares, their value and
	// auto-stake percent; yield.ErrProviderNotFound for an unknown
	// provider.
	Holding(ctx context.Context, providerID string) (yield.Holding, error)

	// Stake moves amount (or, with all, the whole) of the provider's
	// payable into the vault for shares, once per key:
	// yield.ErrInvalidAmount, ErrShutdown, ErrProviderNotFound, or a
	// *yield.LimitError for more than the payable or an amount that buys
	// no share unit.
	Stake(ctx context.Context, key, providerID string,
		amount ledger.MilliSatoshi, all bool) (yield.StakeResult, error)

	// SetAutoStake sets the provider's auto-stake percent;
	// yield.ErrInvalidPercent outside 0–100.
	SetAutoStake(ctx context.Context, providerID string,
		percent uint32) error

	// Redeem locks shares in a redemption request, once per key, and
	// tries to finalize the queue: yield.ErrInvalidAmount, or a
	// *yield.LimitError for more shares than the provider holds unlocked.
	Redeem(ctx context.Context, key, providerID string,
		shares ledger.Shares) (yield.Redemption, error)

	// CancelRedeem cancels a pending request; providerID is the caller's
	// provider, or "" for the operator. yield.ErrRedemptionNotFound,
	// ErrRedemptionState (no longer pending), ErrNotOwner (another
	// provider's).
	CancelRedeem(ctx context.Context, providerID string,
		id int64) (yield.Redemption, error)

	// Redemptions returns the requests the filter selects, in queue
	// order.
	Redemptions(ctx context.Context,
		f yield.RedemptionFilter) ([]yield.Redemption, error)

	// Epochs returns up to limit (0: all) epochs numbered above after.
	Epochs(ctx context.Context, after uint64,
		limit int) ([]yield.StoredEpoch, error)

	// Epoch returns one epoch and its contributions sorted by provider;
	// yield.ErrEpochNotFound.
	Epoch(ctx context.Context, number uint64) (yield.StoredEpoch,
		[]yield.Contribution, error)

	// RewardProof returns the provider's leaf in a closed epoch and its
	// path to the root: yield.ErrEpochNotFound, ErrEpochOpen,
	// ErrNoContribution.
	RewardProof(ctx context.Context, number uint64,
		providerID string) (yield.RewardProof, error)

	// SetPolicy replaces the floor and caps: yield.ErrInvalidPolicy, or a
	// *yield.LimitError for a cap below a strategy's principal.
	SetPolicy(ctx context.Context, floorBPS uint32,
		caps map[string]ledger.MilliSatoshi) (yield.Policy, error)

	// Shutdown turns the shutdown switch on or off.
	Shutdown(ctx context.Context, on bool) (yield.Policy, error)
}

var _ VaultBackend = (*yield.Vault)(nil)

// MaxIdempotencyKeyLen is the longest idempotency key Stake and Redeem
// take, in bytes.
const MaxIdempotencyKeyLen = 128

// ErrVaultNotServed is the message of every VaultService method of a
// server without a vault (Config.Vault nil), answered as unimplemented.
var ErrVaultNotServed = errors.New("this sluiced serves no vault")

// vaultService implements the VaultService. Who may act on whose shares is
// decided here and in the auth interceptor: a request's provider_id must
// be a provider macaroon's own; the operator names any provider.
type vaultService struct {
	sluicerpcconnect.UnimplementedVaultServiceHandler

	// backend is the vault; nil answers every method unimplemented.
	backend VaultBackend
}

var _ sluicerpcconnect.VaultServiceHandler = (*vaultService)(nil)

// served returns an unimplemented error when there is no vault.
func (s *vaultService) served() error {
	if s.backend == nil {
		return connect.NewError(connect.CodeUnimplemented,
			ErrVaultNotServed)
	}
	return nil
}

// vaultProvider returns the provider a call acts for: the one the request
// names, which must be given, and, for a provider macaroon, be its own.
// The auth interceptor checks the latter before the handler runs; checking
// again here keeps the rule where the shares are touched.
func vaultProvider(ctx context.Context, named string) (string, error) {
	c, err := caller(ctx)
	if err != nil {
		return "", err
	}
	if named == "" {
		return "", connect.NewError(connect.CodeInvalidArgument,
			errors.New("provider_id is empty"))
	}
	if err := checkProviderScope(c, named); err != nil {
		return "", err
	}
	return named, nil
}

// idempotencyKey returns the request's key, or a new random one when it
// is empty. A key is at most MaxIdempotencyKeyLen bytes of printable
// characters, since it becomes part of ledger keys.
func idempotencyKey(key string) (string, error) {
	if key == "" {
		var b [16]byte
		if _, err := rand.Read(b[:]); err != nil {
			return "", connect.NewError(connect.CodeInternal,
				fmt.Errorf("idempotency key: %w", err))
		}
		return hex.EncodeToString(b[:]), nil
	}
	if len(key) > MaxIdempotencyKeyLen {
		return "", connect.NewError(connect.CodeInvalidArgument,
			fmt.Errorf("idempotency_key is %d bytes, at most %d",
				len(key), MaxIdempotencyKeyLen))
	}
	for _, r := range key {
		if !unicode.IsPrint(r) || r == unicode.ReplacementChar {
			return "", connect.NewError(connect.CodeInvalidArgument,
				fmt.Errorf("idempotency_key %q has a character "+
					"that is not printable", key))
		}
	}
	return key, nil
}

// GetVault returns the vault as a whole.
func (s *vaultService) GetVault(ctx context.Context,
	_ *connect.Request[sluicerpc.GetVaultRequest]) (
	*connect.Response[sluicerpc.GetVaultResponse], error) {

	if err := s.served(); err != nil {
		return nil, err
	}
	st, err := s.backend.State(ctx)
	if err != nil {
		return nil, vaultCodes.connectError("get vault", err)
	}
	return connect.NewResponse(vaultStateProto(st)), nil
}

// GetHolding returns a provider's part of the vault.
func (s *vaultService) GetHolding(ctx context.Context,
	req *connect.Request[sluicerpc.GetHoldingRequest]) (
	*connect.Response[sluicerpc.GetHoldingResponse], error) {

	if err := s.served(); err != nil {
		return nil, err
	}
	id, err := vaultProvider(ctx, req.Msg.ProviderId)
	if err != nil {
		return nil, err
	}
	h, err := s.backend.Holding(ctx, id)
	if err != nil {
		return nil, vaultCodes.connectError("get holding", err)
	}
	return connect.NewResponse(&sluicerpc.GetHoldingResponse{
		Holding: holdingProto(h),
	}), nil
}

// Stake stakes part or all of a provider's payable.
func (s *vaultService) Stake(ctx context.Context,
	req *connect.Request[sluicerpc.StakeRequest]) (
	*connect.Response[sluicerpc.StakeResponse], error) {

	if err := s.served(); err != nil {
		return nil, err
	}
	m := req.Msg
	id, err := vaultProvider(ctx, m.ProviderId)
	if err != nil {
		return nil, err
	}
	if m.All && m.AmountMsat != 0 {
		return nil, connect.NewError(connect.CodeInvalidArgument,
			fmt.Errorf("amount_msat %d and all: give one",
				m.AmountMsat))
	}
	key, err := idempotencyKey(m.IdempotencyKey)
	if err != nil {
		return nil, err
	}
	res, err := s.backend.Stake(ctx, key, id,
		ledger.MilliSatoshi(m.AmountMsat), m.All)
	if err != nil {
		return nil, vaultCodes.connectError("stake", err)
	}
	return connect.NewResponse(&sluicerpc.StakeResponse{
		AssetsMsat:     int64(res.Assets),
		SharesUnits:    int64(res.Shares),
		Duplicate:      res.Duplicate,
		IdempotencyKey: key,
	}), nil
}

// SetAutoStake sets a provider's auto-stake percent and returns its
// holding.
func (s *vaultService) SetAutoStake(ctx context.Context,
	req *connect.Request[sluicerpc.SetAutoStakeRequest]) (
	*connect.Response[sluicerpc.SetAutoStakeResponse], error) {

	if err := s.served(); err != nil {
		return nil, err
	}
	id, err := vaultProvider(ctx, req.Msg.ProviderId)
	if err != nil {
		return nil, err
	}
	err = s.backend.SetAutoStake(ctx, id, req.Msg.Percent)
	if err != nil {
		return nil, vaultCodes.connectError("set auto-stake", err)
	}
	h, err := s.backend.Holding(ctx, id)
	if err != nil {
		return nil, vaultCodes.connectError("get holding", err)
	}
	return connect.NewResponse(&sluicerpc.SetAutoStakeResponse{
		Holding: holdingProto(h),
	}), nil
}

// Redeem locks a provider's shares in a redemption request.
func (s *vaultService) Redeem(ctx context.Context,
	req *connect.Request[sluicerpc.RedeemRequest]) (
	*connect.Response[sluicerpc.RedeemResponse], error) {

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
	r, err := s.backend.Redeem(ctx, key, id, ledger.Shares(m.SharesUnits))
	if err != nil {
		return nil, vaultCodes.connectError("redeem", err)
	}
	return connect.NewResponse(&sluicerpc.RedeemResponse{
		Redemption:     redemptionProto(r),
		IdempotencyKey: key,
	}), nil
}

// CancelRedeem cancels a pending request: a provider's own, or any for the
// operator.
func (s *vaultService) CancelRedeem(ctx context.Context,
	req *connect.Request[sluicerpc.CancelRedeemRequest]) (
	*connect.Response[sluicerpc.CancelRedeemResponse], error) {

	if err := s.served(); err != nil {
		return nil, err
	}
	c, err := caller(ctx)
	if err != nil {
		return nil, err
	}
	id := req.Msg.RedemptionId
	if id <= 0 {
		return nil, connect.NewError(connect.CodeInvalidArgument,
			fmt.Errorf("redemption_id %d: ids start at 1", id))
	}
	// The operator cancels any request, a provider its own.
	owner := ""
	switch c.Role {
	case RoleOperator:
	case RoleProvider:
		owner = c.ProviderID
	default:
		return nil, vaultRoleError(c)
	}
	r, err := s.backend.CancelRedeem(ctx, owner, id)
	if err != nil {
		return nil, vaultCodes.connectError("cancel redemption", err)
	}
	return connect.NewResponse(&sluicerpc.CancelRedeemResponse{
		Redemption: redemptionProto(r),
	}), nil
}

// vaultRoleError refuses a role the permission table should have kept
// out: only the operator and providers act on redemptions.
func vaultRoleError(c Caller) error {
	return connect.NewError(connect.CodePermissionDenied, fmt.Errorf(
		"%w: a %s macaroon has no redemptions", ErrRoleNotAllowed,
		c.Role))
}

// redemptionStatuses are the statuses ListRedemptions filters by, with the
// stored state each is read from: paid is a finalized request whose payable
// has reached the provider's node.
var redemptionStatuses = map[string]yield.RedemptionState{
	string(yield.RedemptionPending):   yield.RedemptionPending,
	string(yield.RedemptionFinalized): yield.RedemptionFinalized,
	"paid":                            yield.RedemptionFinalized,
	string(yield.RedemptionCancelled): yield.RedemptionCancelled,
}

// ListRedemptions returns the redemption requests the caller may see: a
// provider its own, the operator any provider's or all.
func (s *vaultService) ListRedemptions(ctx context.Context,
	req *connect.Request[sluicerpc.ListRedemptionsRequest]) (
	*connect.Response[sluicerpc.ListRedemptionsResponse], error) {

	if err := s.served(); err != nil {
		return nil, err
	}
	c, err := caller(ctx)
	if err != nil {
		return nil, err
	}
	m := req.Msg
	f := yield.RedemptionFilter{ProviderID: m.FilterProviderId}
	switch c.Role {
	case RoleOperator:
	case RoleProvider:
		if f.ProviderID != "" && f.ProviderID != c.ProviderID {
			return nil, connect.NewError(
				connect.CodePermissionDenied,
				fmt.Errorf("%w: filter_provider_id %q, the "+
					"macaroon is bound to %q",
					ErrWrongProvider, f.ProviderID,
					c.ProviderID))
		}
		f.ProviderID = c.ProviderID
	default:
		return nil, vaultRoleError(c)
	}
	want := map[string]bool{}
	for _, st := range m.Statuses {
		state, ok := redemptionStatuses[st]
		if !ok {
			return nil, connect.NewError(connect.CodeInvalidArgument,
				fmt.Errorf("statuses: %q is not pending, "+
					"finalized, paid or cancelled", st))
		}
		want[st] = true
		if !slices.Contains(f.States, state) {
			f.States = append(f.States, state)
		}
	}
	rs, err := s.backend.Redemptions(ctx, f)
	if err != nil {
		return nil, vaultCodes.connectError("list redemptions", err)
	}
	resp := &sluicerpc.ListRedemptionsResponse{}
	for _, r := range rs {
		// Finalized and paid share a stored state; the status tells
		// them apart.
		if len(want) > 0 && !want[r.Status()] {
			continue
		}
		resp.Redemptions = append(resp.Redemptions, redemptionProto(r))
	}
	return connect.NewResponse(resp), nil
}

// ListEpochs returns epochs in number order.
func (s *vaultService) ListEpochs(ctx context.Context,
	req *connect.Request[sluicerpc.ListEpochsRequest]) (
	*connect.Response[sluicerpc.ListEpochsResponse], error) {

	if err := s.served(); err != nil {
		return nil, err
	}
	es, err := s.backend.Epochs(ctx, req.Msg.After, int(req.Msg.Limit))
	if err != nil {
		return nil, vaultCodes.connectError("list epochs", err)
	}
	resp := &sluicerpc.ListEpochsResponse{}
	for _, e := range es {
		resp.Epochs = append(resp.Epochs, epochProto(e))
	}
	return connect.NewResponse(resp), nil
}

// GetEpoch returns one epoch and its contributions.
func (s *vaultService) GetEpoch(ctx context.Context,
	req *connect.Request[sluicerpc.GetEpochRequest]) (
	*connect.Response[sluicerpc.GetEpochResponse], error) {

	if err := s.served(); err != nil {
		return nil, err
	}
	if req.Msg.Number == 0 {
		return nil, connect.NewError(connect.CodeInvalidArgument,
			errors.New("number is 0: epochs count from 1"))
	}
	e, cs, err := s.backend.Epoch(ctx, req.Msg.Number)
	if err != nil {
		return nil, vaultCodes.connectError("get epoch", err)
	}
	resp := &sluicerpc.GetEpochResponse{Epoch: epochProto(e)}
	for _, c := range cs {
		resp.Contributions = append(resp.Contributions,
			&sluicerpc.Contribution{
				ProviderId:  c.ProviderID,
				Seconds:     c.Seconds,
				EarnedMsat:  int64(c.Earned),
				FeesMsat:    int64(c.Fees),
				SharesUnits: int64(c.Shares),
			})
	}
	return connect.NewResponse(resp), nil
}

// GetRewardProof returns a provider's leaf in a closed epoch and its path
// to the root.
func (s *vaultService) GetRewardProof(ctx context.Context,
	req *connect.Request[sluicerpc.GetRewardProofRequest]) (
	*connect.Response[sluicerpc.GetRewardProofResponse], error) {

	if err := s.served(); err != nil {
		return nil, err
	}
	if req.Msg.Epoch == 0 {
		return nil, connect.NewError(connect.CodeInvalidArgument,
			errors.New("epoch is 0: epochs count from 1"))
	}
	id, err := vaultProvider(ctx, req.Msg.ProviderId)
	if err != nil {
		return nil, err
	}
	p, err := s.backend.RewardProof(ctx, req.Msg.Epoch, id)
	if err != nil {
		return nil, vaultCodes.connectError("get reward proof", err)
	}
	leafHash, err := p.Leaf.Hash()
	if err != nil {
		return nil, vaultCodes.connectError("get reward proof", err)
	}
	resp := &sluicerpc.GetRewardProofResponse{
		Epoch: epochProto(p.Epoch),
		Leaf: &sluicerpc.RewardLeaf{
			Epoch:       p.Leaf.Epoch,
			ProviderId:  p.Leaf.ProviderID,
			Seconds:     p.Leaf.Seconds,
			EarnedMsat:  int64(p.Leaf.Earned),
			SharesUnits: int64(p.Leaf.Shares),
		},
		LeafHash: hashBytes(leafHash),
		Index:    p.Proof.Index,
		Count:    p.Proof.Count,
		Root:     hashBytes(p.Root),
	}
	for _, h := range p.Proof.Siblings {
		resp.Siblings = append(resp.Siblings, hashBytes(h))
	}
	return connect.NewResponse(resp), nil
}

// SetVaultPolicy replaces the vault's floor and caps.
func (s *vaultService) SetVaultPolicy(ctx context.Context,
	req *connect.Request[sluicerpc.SetVaultPolicyRequest]) (
	*connect.Response[sluicerpc.SetVaultPolicyResponse], error) {

	if err := s.served(); err != nil {
		return nil, err
	}
	caps := make(map[string]ledger.MilliSatoshi, len(req.Msg.CapsMsat))
	for name, c := range req.Msg.CapsMsat {
		if c < 0 {
			return nil, connect.NewError(connect.CodeInvalidArgument,
				fmt.Errorf("caps_msat: %s is %d, below zero",
					name, c))
		}
		caps[name] = ledger.MilliSatoshi(c)
	}
	p, err := s.backend.SetPolicy(ctx, req.Msg.FloorBps, caps)
	if err != nil {
		return nil, vaultCodes.connectError("set vault policy", err)
	}
	log.Infof("Vault policy set: floor %d bps, caps %v", p.FloorBPS,
		p.Caps)
	return connect.NewResponse(&sluicerpc.SetVaultPolicyResponse{
		Policy: vaultPolicyProto(p),
	}), nil
}

// Shutdown turns the vault's shutdown switch on or off.
func (s *vaultService) Shutdown(ctx context.Context,
	req *connect.Request[sluicerpc.ShutdownRequest]) (
	*connect.Response[sluicerpc.ShutdownResponse], error) {

	if err := s.served(); err != nil {
		return nil, err
	}
	p, err := s.backend.Shutdown(ctx, req.Msg.On)
	if err != nil {
		return nil, vaultCodes.connectError("shutdown", err)
	}
	log.Infof("Vault shutdown set to %v", p.Shutdown)
	return connect.NewResponse(&sluicerpc.ShutdownResponse{
		Policy: vaultPolicyProto(p),
	}), nil
}

// vaultCodes maps the yield package's errors to status codes: bad input is
// invalid_argument, a refusal by a limit or by the vault's state
// failed_precondition (the message says which limit and by how much),
// another provider's request permission_denied. Errors not listed (the
// Merkle tree's and the math's internal ones) are faults of the server:
// internal.
var vaultCodes = errorCodes{
	{yield.ErrInvalidAmount, connect.CodeInvalidArgument},
	{yield.ErrInvalidPercent, connect.CodeInvalidArgument},
	{yield.ErrInvalidPolicy, connect.CodeInvalidArgument},
	{yield.ErrNegative, connect.CodeInvalidArgument},
	{yield.ErrOverflow, connect.CodeOutOfRange},

	{yield.ErrLimit, connect.CodeFailedPrecondition},
	{yield.ErrShutdown, connect.CodeFailedPrecondition},
	{yield.ErrRedemptionState, connect.CodeFailedPrecondition},
	{yield.ErrEpochOpen, connect.CodeFailedPrecondition},
	{yield.ErrEpochClosed, connect.CodeFailedPrecondition},
	{yield.ErrExceedsSupply, connect.CodeFailedPrecondition},

	{yield.ErrNotOwner, connect.CodePermissionDenied},

	{yield.ErrProviderNotFound, connect.CodeNotFound},
	{yield.ErrRedemptionNotFound, connect.CodeNotFound},
	{yield.ErrEpochNotFound, connect.CodeNotFound},
	{yield.ErrNoOpenEpoch, connect.CodeNotFound},
	{yield.ErrNoContribution, connect.CodeNotFound},
	{yield.ErrLeafNotFound, connect.CodeNotFound},

	{yield.ErrKeyExists, connect.CodeAlreadyExists},
}

// hashBytes is a hash as the API shows it: its 32 bytes in SHA-256's
// order, never reversed as chainhash.Hash's String does.
func hashBytes(h chainhash.Hash) []byte {
	return slices.Clone(h[:])
}

// vaultStateProto is the vault as the API shows it.
func vaultStateProto(st yield.State) *sluicerpc.GetVaultResponse {
	resp := &sluicerpc.GetVaultResponse{
		AssetsMsat:          int64(st.Assets),
		IdleMsat:            int64(st.Idle),
		AllocatedMsat:       int64(st.Allocated),
		SupplyUnits:         int64(st.Supply),
		LockedUnits:         int64(st.Locked),
		ShareValueMsat:      int64(st.ShareValue),
		ShareValueExactMsat: st.ShareValueExact,
		FloorMsat:           int64(st.Floor),
		FloorMet:            st.FloorMet,
		QueueLength:         int64(st.QueueLen),
		QueueUnits:          int64(st.QueueShares),
		QueuedMsat:          int64(st.Queued),
		Policy:              vaultPolicyProto(st.Policy),
	}
	if st.Epoch.Number != 0 {
		resp.OpenEpoch = epochProto(st.Epoch)
		resp.EpochDue = ts(st.Due)
	}
	for name, p := range st.Strategies {
		resp.Strategies = append(resp.Strategies,
			&sluicerpc.VaultStrategy{
				Name: name, PrincipalMsat: int64(p),
			})
	}
	slices.SortFunc(resp.Strategies, func(a,
		b *sluicerpc.VaultStrategy) int {

		return cmp.Compare(a.Name, b.Name)
	})
	return resp
}

// vaultPolicyProto is a vault policy as the API shows it.
func vaultPolicyProto(p yield.Policy) *sluicerpc.VaultPolicy {
	out := &sluicerpc.VaultPolicy{
		FloorBps:  p.FloorBPS,
		CapsMsat:  make(map[string]int64, len(p.Caps)),
		Shutdown:  p.Shutdown,
		UpdatedAt: ts(p.UpdatedAt),
	}
	for name, c := range p.Caps {
		out.CapsMsat[name] = int64(c)
	}
	return out
}

// holdingProto is a provider's holding as the API shows it.
func holdingProto(h yield.Holding) *sluicerpc.Holding {
	return &sluicerpc.Holding{
		ProviderId:       h.ProviderID,
		SharesUnits:      int64(h.Shares),
		LockedUnits:      int64(h.Locked),
		ValueMsat:        int64(h.Value),
		AutoStakePercent: h.AutoStake,
	}
}

// redemptionProto is a redemption request as the API shows it.
func redemptionProto(r yield.Redemption) *sluicerpc.Redemption {
	return &sluicerpc.Redemption{
		Id:            r.ID,
		ProviderId:    r.ProviderID,
		SharesUnits:   int64(r.Shares),
		RequestedMsat: int64(r.Requested),
		Status:        r.Status(),
		RequestedAt:   ts(r.RequestedAt),
		FinalizedAt:   ts(r.FinalizedAt),
		AssetsMsat:    int64(r.Assets),
		CancelledAt:   ts(r.CancelledAt),
		Key:           r.Key,
	}
}

// epochProto is an epoch as the API shows it; its root only once it has
// closed.
func epochProto(e yield.StoredEpoch) *sluicerpc.Epoch {
	out := &sluicerpc.Epoch{
		Number:         e.Number,
		Start:          ts(e.Start),
		End:            ts(e.End),
		Closed:         e.Closed,
		Seconds:        e.Seconds,
		EarnedMsat:     int64(e.Earned),
		FeesMsat:       int64(e.Fees),
		RewardMsat:     int64(e.Reward),
		IssuedUnits:    int64(e.Issued),
		NavAssetsMsat:  int64(e.NAVAssets),
		NavSupplyUnits: int64(e.NAVSupply),
	}
	if e.Closed {
		out.Root = hashBytes(e.Root)
	}
	return out
}
