package shares

import (
	"context"

	"github.com/sluice-ln/sluice/hubnode"
)

// Minter is what shares need of the hub's tapd to mint.
// hubnode.TapdMinter is the tapd adapter; the unit tests' fake is in
// minter_test.go.
type Minter interface {
	// MintAsset adds a seedling to tapd's pending batch as a new
	// asset group. One of the same name in the pending batch gives
	// hubnode.ErrSeedlingExists; a refusal before tapd recorded it
	// gives hubnode.ErrMintRefused. Any other error leaves the
	// outcome unknown.
	MintAsset(ctx context.Context, s hubnode.Seedling) error

	// FinalizeBatch broadcasts tapd's pending batch at feeRate sat/kw.
	FinalizeBatch(ctx context.Context, feeRate uint32) (
		hubnode.MintBatch, error)

	// MintBatch returns the batch that holds the asset named, or an
	// error wrapping hubnode.ErrBatchNotFound.
	MintBatch(ctx context.Context, name string) (hubnode.MintBatch,
		error)

	// MintedAsset returns the asset named that the batch anchored in
	// batchTxid minted, once the batch is final, or an error wrapping
	// hubnode.ErrAssetNotFound.
	MintedAsset(ctx context.Context, name, batchTxid string) (
		hubnode.MintedAsset, error)
}

// Burner is what shares need of the hub's tapd to burn redeemed shares
// and to read the group's supply. hubnode.TapdMinter implements it.
type Burner interface {
	// BurnGroup burns amount units of the group from the hub's
	// holdings, with the note. A refusal before tapd made the burn
	// gives hubnode.ErrBurnRefused; any other error leaves the outcome
	// unknown.
	BurnGroup(ctx context.Context, groupKey []byte, amount uint64,
		note string) (hubnode.Burn, error)

	// Burns lists the group's confirmed burns.
	Burns(ctx context.Context, groupKey []byte) ([]hubnode.Burn, error)

	// UnconfirmedUnlabelled lists the anchor txids of the hub's
	// transfers that are not confirmed and carry no label: a burn made
	// but not yet confirmed is one of them.
	UnconfirmedUnlabelled(ctx context.Context) ([]string, error)

	// GroupSupply reads the group's supply as tapd knows it: the units
	// its universe holds issuance proofs of, less its burns.
	GroupSupply(ctx context.Context, groupKey []byte) (
		hubnode.GroupSupply, error)
}

var _ Burner = (*hubnode.TapdMinter)(nil)

// The tapd adapter is what shares need.
var _ Minter = (*hubnode.TapdMinter)(nil)

// Sender is what withdrawals need of the hub's tapd.
// hubnode.TapdSender is the tapd adapter; the unit tests' fake is in
// withdraw_test.go.
type Sender interface {
	// DecodeAddr decodes a Taproot Asset address; an error wrapping
	// hubnode.ErrAddrInvalid when it does not decode.
	DecodeAddr(ctx context.Context, addr string) (hubnode.TapAddr,
		error)

	// SendAsset sends to every recipient in one anchor transaction
	// under the label. An error wrapping hubnode.ErrSendRefused says
	// tapd answered with an error; any other leaves the outcome
	// unknown.
	SendAsset(ctx context.Context, s hubnode.AssetSend) (
		hubnode.AssetTransfer, error)

	// TransferByLabel returns the transfer of the label, or an error
	// wrapping hubnode.ErrTransferNotFound.
	TransferByLabel(ctx context.Context, label string) (
		hubnode.AssetTransfer, error)

	// BlockHeight is the chain's height.
	BlockHeight(ctx context.Context) (uint32, error)
}

var _ Sender = (*hubnode.TapdSender)(nil)
