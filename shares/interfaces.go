package shares

import (
	"context"

	"github.com/sluice-ln/sluice/lightning"
)

// Minter is what shares need of the hub's tapd to mint.
// lightning.TapdMinter is the tapd adapter; the unit tests' fake is in
// minter_test.go.
type Minter interface {
	// MintAsset adds a seedling to tapd's pending batch as a new
	// asset group. One of the same name in the pending batch gives
	// lightning.ErrSeedlingExists; a refusal before tapd recorded it
	// gives lightning.ErrMintRefused. Any other error leaves the
	// outcome unknown.
	MintAsset(ctx context.Context, s lightning.Seedling) error

	// FinalizeBatch broadcasts tapd's pending batch at feeRate sat/kw.
	FinalizeBatch(ctx context.Context, feeRate uint32) (
		lightning.MintBatch, error)

	// MintBatch returns the batch that holds the asset named, or an
	// error wrapping lightning.ErrBatchNotFound.
	MintBatch(ctx context.Context, name string) (lightning.MintBatch,
		error)

	// MintedAsset returns the asset named that the batch anchored in
	// batchTxid minted, once the batch is final, or an error wrapping
	// lightning.ErrAssetNotFound.
	MintedAsset(ctx context.Context, name, batchTxid string) (
		lightning.MintedAsset, error)
}

// Burner is what shares need of the hub's tapd to burn redeemed shares
// and to read the group's supply. lightning.TapdMinter implements it.
type Burner interface {
	// BurnGroup burns amount units of the group from the hub's
	// holdings, with the note. A refusal before tapd made the burn
	// gives lightning.ErrBurnRefused; any other error leaves the outcome
	// unknown.
	BurnGroup(ctx context.Context, groupKey []byte, amount uint64,
		note string) (lightning.Burn, error)

	// Burns lists the group's confirmed burns.
	Burns(ctx context.Context, groupKey []byte) ([]lightning.Burn, error)

	// UnconfirmedUnlabelled lists the anchor txids of the hub's
	// transfers that are not confirmed and carry no label: a burn made
	// but not yet confirmed is one of them.
	UnconfirmedUnlabelled(ctx context.Context) ([]string, error)

	// GroupSupply reads the group's supply as tapd knows it: the units
	// its universe holds issuance proofs of, less its burns.
	GroupSupply(ctx context.Context, groupKey []byte) (
		lightning.GroupSupply, error)
}

var _ Burner = (*lightning.TapdMinter)(nil)

// The tapd adapter is what shares need.
var _ Minter = (*lightning.TapdMinter)(nil)

// Sender is what withdrawals need of the hub's tapd.
// lightning.TapdSender is the tapd adapter; the unit tests' fake is in
// withdraw_test.go.
type Sender interface {
	// DecodeAddr decodes a Taproot Asset address; an error wrapping
	// lightning.ErrAddrInvalid when it does not decode.
	DecodeAddr(ctx context.Context, addr string) (lightning.TapAddr,
		error)

	// SendAsset sends to every recipient in one anchor transaction
	// under the label. An error wrapping lightning.ErrSendRefused says
	// tapd answered with an error; any other leaves the outcome
	// unknown.
	SendAsset(ctx context.Context, s lightning.AssetSend) (
		lightning.AssetTransfer, error)

	// TransferByLabel returns the transfer of the label, or an error
	// wrapping lightning.ErrTransferNotFound.
	TransferByLabel(ctx context.Context, label string) (
		lightning.AssetTransfer, error)

	// BlockHeight is the chain's height.
	BlockHeight(ctx context.Context) (uint32, error)
}

var _ Sender = (*lightning.TapdSender)(nil)
