package shares

import (
	"context"

	"github.com/sluice-ln/sluice/ledger"
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

	// MintedAsset returns the asset named once its batch is final, or
	// an error wrapping lightning.ErrAssetNotFound.
	MintedAsset(ctx context.Context, name string) (lightning.MintedAsset,
		error)
}

// The tapd adapter is what shares need.
var _ Minter = (*lightning.TapdMinter)(nil)

// Supply reads the ledger's share balances; *ledger.Ledger implements it.
type Supply interface {
	// ShareBalance is the balance of a share account.
	ShareBalance(ctx context.Context, account ledger.Account) (
		ledger.Shares, error)
}

var _ Supply = (*ledger.Ledger)(nil)

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
