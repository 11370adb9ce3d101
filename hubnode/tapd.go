package hubnode

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/btcsuite/btcd/wire"
	"github.com/lightninglabs/taproot-assets/taprpc"
	"github.com/lightninglabs/taproot-assets/taprpc/mintrpc"
	"github.com/lightninglabs/taproot-assets/taprpc/universerpc"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// GroupKeyLen is the length of a tweaked asset group key: a compressed
// public key, as tapd's RPCs take it.
const GroupKeyLen = 33

// MinFeeRate is the lowest fee rate tapd takes for a minting batch, in
// sat/kw (not sat/vB): 253 sat/kw, lnd's floor of about 1 sat/vB.
const MinFeeRate uint32 = 253

var (
	// ErrBatchNotFound is returned by MintBatch when no minting batch of
	// tapd holds an asset of the name asked for.
	ErrBatchNotFound = errors.New("no minting batch holds the asset")

	// ErrAssetNotFound is returned by MintedAsset when tapd holds no
	// asset of the name asked for.
	ErrAssetNotFound = errors.New("tapd holds no asset of that name")

	// ErrSeedlingExists is returned by MintAsset when tapd's pending
	// batch has a seedling of the name already.
	ErrSeedlingExists = errors.New("tapd has a seedling of that name")

	// ErrMintRefused is returned by MintAsset and FinalizeBatch when
	// tapd refused the request before recording anything (a bad
	// argument or a failed precondition): the same request would be
	// refused again.
	ErrMintRefused = errors.New("mint refused by tapd")
)

// BatchState is where a tapd minting batch is, as mintrpc.BatchState
// names it.
type BatchState int

// The batch states, in tapd's order.
const (
	BatchUnknown BatchState = iota
	BatchPending
	BatchFrozen
	BatchCommitted
	BatchBroadcast
	BatchConfirmed
	BatchFinalized
	BatchSeedlingCancelled
	BatchSproutCancelled
)

// String names the state as tapd does, without its prefix.
func (s BatchState) String() string {
	name := mintrpc.BatchState(s).String()
	return strings.TrimPrefix(name, "BATCH_STATE_")
}

// Cancelled reports whether the batch was cancelled: its assets will never
// be minted.
func (s BatchState) Cancelled() bool {
	return s == BatchSeedlingCancelled || s == BatchSproutCancelled
}

// Seedling is one asset to mint: a new asset group's first tranche, with
// JSON metadata.
type Seedling struct {
	// Name is part of the asset id; tapd's batches are found by it.
	Name string

	// Amount is the units minted.
	Amount uint64

	// DecimalDisplay is how many of Amount's digits are decimals; the
	// metadata's decimal_display must equal it.
	DecimalDisplay uint32

	// MetaJSON is the asset's metadata (META_TYPE_JSON): valid JSON, at
	// most 1 MiB. The asset id commits to its hash.
	MetaJSON []byte

	// GroupKey, when set, is the 33-byte tweaked key of the group the
	// seedling is a new tranche of (grouped_asset); unset, the seedling
	// starts a new group (new_grouped_asset).
	GroupKey []byte
}

// MintBatch is a tapd minting batch as found by an asset's name.
type MintBatch struct {
	// Key is the batch's internal key, which names it in tapd.
	Key []byte

	State BatchState

	// Txid is the anchor transaction's id, hex, once the batch is
	// broadcast.
	Txid string
}

// MintedAsset is an asset tapd holds after its batch was finalized.
type MintedAsset struct {
	Name string

	// ID is the asset id, 32 bytes.
	ID []byte

	// GroupKey is the 33-byte tweaked group key, which later tranches
	// are minted into.
	GroupKey []byte

	Amount uint64

	// Anchor is the genesis output that holds the asset.
	Anchor wire.OutPoint

	// Height is the block height of the anchor; zero while unconfirmed.
	Height uint32
}

// TapdMinter mints grouped assets on the hub's tapd over taprpc and
// mintrpc.
type TapdMinter struct {
	mint   mintrpc.MintClient
	assets taprpc.TaprootAssetsClient
	uni    universerpc.UniverseClient
}

// NewTapdMinter is a TapdMinter over a connection to tapd carrying its
// macaroon.
func NewTapdMinter(conn grpc.ClientConnInterface) *TapdMinter {
	return &TapdMinter{
		mint:   mintrpc.NewMintClient(conn),
		assets: taprpc.NewTaprootAssetsClient(conn),
		uni:    universerpc.NewUniverseClient(conn),
	}
}

// refused maps tapd's answers that say nothing was recorded onto
// ErrMintRefused; any other error's outcome is unknown and is returned as
// it is.
func refused(what string, err error) error {
	switch status.Code(err) {
	case codes.InvalidArgument, codes.FailedPrecondition,
		codes.AlreadyExists, codes.OutOfRange:

		return fmt.Errorf("%s: %w: %v", what, ErrMintRefused, err)
	}
	// tapd answers most refusals with codes.Unknown and a message.
	msg := status.Convert(err).Message()
	if status.Code(err) == codes.Unknown && (strings.Contains(msg,
		"invalid") || strings.Contains(msg, "must be") ||
		strings.Contains(msg, "not allowed") ||
		strings.Contains(msg, "no pending batch")) {

		return fmt.Errorf("%s: %w: %v", what, ErrMintRefused, err)
	}
	return fmt.Errorf("%s: %w", what, err)
}

// MintAsset adds s to tapd's pending batch (AssetType NORMAL): the first
// tranche of a new asset group, or a new tranche of s.GroupKey's group. A
// seedling of the same name in the pending batch gives ErrSeedlingExists.
func (t *TapdMinter) MintAsset(ctx context.Context, s Seedling) error {
	asset := &mintrpc.MintAsset{
		AssetType: taprpc.AssetType_NORMAL,
		Name:      s.Name,
		AssetMeta: &taprpc.AssetMeta{
			Data: s.MetaJSON,
			Type: taprpc.AssetMetaType_META_TYPE_JSON,
		},
		Amount:          s.Amount,
		DecimalDisplay:  s.DecimalDisplay,
		NewGroupedAsset: len(s.GroupKey) == 0,
	}
	if len(s.GroupKey) > 0 {
		if len(s.GroupKey) != GroupKeyLen {
			return fmt.Errorf("mint %q: %w: group key of %d bytes, "+
				"want %d", s.Name, ErrMintRefused,
				len(s.GroupKey), GroupKeyLen)
		}
		asset.GroupedAsset = true
		asset.GroupKey = s.GroupKey
	}
	_, err := t.mint.MintAsset(ctx, &mintrpc.MintAssetRequest{
		Asset: asset,
	})
	if err == nil {
		return nil
	}
	if strings.Contains(status.Convert(err).Message(), "already exists") {
		return fmt.Errorf("mint %q: %w: %v", s.Name,
			ErrSeedlingExists, err)
	}
	return refused(fmt.Sprintf("mint %q", s.Name), err)
}

// FinalizeBatch finalizes tapd's pending batch at feeRate sat/kw
// (MinFeeRate at least) and returns it, broadcast.
func (t *TapdMinter) FinalizeBatch(ctx context.Context, feeRate uint32) (
	MintBatch, error) {

	if feeRate < MinFeeRate {
		return MintBatch{}, fmt.Errorf("finalize batch: %w: fee rate "+
			"%d sat/kw below %d", ErrMintRefused, feeRate,
			MinFeeRate)
	}
	resp, err := t.mint.FinalizeBatch(ctx, &mintrpc.FinalizeBatchRequest{
		ShortResponse: true,
		FeeRate:       feeRate,
	})
	if err != nil {
		return MintBatch{}, refused("finalize batch", err)
	}
	return mintBatch(resp.Batch), nil
}

// mintBatch is b in this package's terms.
func mintBatch(b *mintrpc.MintingBatch) MintBatch {
	if b == nil {
		return MintBatch{}
	}
	return MintBatch{Key: b.BatchKey, State: BatchState(b.State),
		Txid: b.BatchTxid}
}

// MintBatch returns the batch that holds an asset named name. Of several
// (a cancelled one and its retry), the one not cancelled is returned;
// ErrBatchNotFound when none holds it.
func (t *TapdMinter) MintBatch(ctx context.Context, name string) (
	MintBatch, error) {

	resp, err := t.mint.ListBatches(ctx, &mintrpc.ListBatchRequest{})
	if err != nil {
		return MintBatch{}, fmt.Errorf("list batches: %w", err)
	}
	var (
		found MintBatch
		ok    bool
	)
	for _, vb := range resp.Batches {
		b := vb.GetBatch()
		if b == nil {
			continue
		}
		for _, a := range b.Assets {
			if a.GetName() != name {
				continue
			}
			mb := mintBatch(b)
			if !ok || (found.State.Cancelled() &&
				!mb.State.Cancelled()) {

				found, ok = mb, true
			}
		}
	}
	if !ok {
		return MintBatch{}, fmt.Errorf("%w: %q", ErrBatchNotFound, name)
	}
	return found, nil
}

// MintedAsset returns the asset named name that the batch anchored in the
// transaction batchTxid (hex) minted, spent since or not: a later send or
// burn may have spent the output, and its name alone may match change
// outputs too. ErrAssetNotFound when tapd lists none.
func (t *TapdMinter) MintedAsset(ctx context.Context, name,
	batchTxid string) (MintedAsset, error) {

	resp, err := t.assets.ListAssets(ctx, &taprpc.ListAssetRequest{
		IncludeSpent: true,
	})
	if err != nil {
		return MintedAsset{}, fmt.Errorf("list assets: %w", err)
	}
	var found []*taprpc.Asset
	for _, a := range resp.Assets {
		if a.GetAssetGenesis().GetName() != name {
			continue
		}
		op, err := wire.NewOutPointFromString(
			a.GetChainAnchor().GetAnchorOutpoint())
		if err != nil || op.Hash.String() != batchTxid {
			continue
		}
		found = append(found, a)
	}
	switch len(found) {
	case 0:
		return MintedAsset{}, fmt.Errorf("%w: %q in batch tx %s",
			ErrAssetNotFound, name, batchTxid)
	case 1:
	default:
		return MintedAsset{}, fmt.Errorf("tapd holds %d assets named "+
			"%q minted in %s", len(found), name, batchTxid)
	}
	a := found[0]
	m := MintedAsset{
		Name:     name,
		ID:       a.GetAssetGenesis().GetAssetId(),
		GroupKey: a.GetAssetGroup().GetTweakedGroupKey(),
		Amount:   a.Amount,
		Height:   a.GetChainAnchor().GetBlockHeight(),
	}
	if s := a.GetChainAnchor().GetAnchorOutpoint(); s != "" {
		op, err := wire.NewOutPointFromString(s)
		if err != nil {
			return MintedAsset{}, fmt.Errorf("asset %q: anchor "+
				"outpoint %q: %w", name, s, err)
		}
		m.Anchor = *op
	}
	return m, nil
}
