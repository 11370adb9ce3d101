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
