package store

// PLACEHOLDER owned by the epochs helper: vaultTx's EpochRowsTx methods.

import (
	"context"
	"errors"

	"github.com/sluice-ln/sluice/ledger"
	"github.com/sluice-ln/sluice/yield"
)

var errEpochRowsNotBuilt = errors.New("epoch rows not built yet")

func (v vaultTx) OpenEpoch(ctx context.Context) (yield.StoredEpoch, error) {
	return yield.StoredEpoch{}, errEpochRowsNotBuilt
}

func (v vaultTx) InsertEpoch(ctx context.Context, e yield.StoredEpoch) error {
	return errEpochRowsNotBuilt
}

func (v vaultTx) CloseEpoch(ctx context.Context, e yield.StoredEpoch) error {
	return errEpochRowsNotBuilt
}

func (v vaultTx) Epoch(ctx context.Context, number uint64) (yield.StoredEpoch,
	error) {

	return yield.StoredEpoch{}, errEpochRowsNotBuilt
}

func (v vaultTx) Epochs(ctx context.Context, after uint64, limit int) (
	[]yield.StoredEpoch, error) {

	return nil, errEpochRowsNotBuilt
}

func (v vaultTx) AddContribution(ctx context.Context,
	c yield.Contribution) error {

	return errEpochRowsNotBuilt
}

func (v vaultTx) Contributions(ctx context.Context, epoch uint64) (
	[]yield.Contribution, error) {

	return nil, errEpochRowsNotBuilt
}

func (v vaultTx) SetContributionShares(ctx context.Context, epoch uint64,
	providerID string, shares ledger.Shares) error {

	return errEpochRowsNotBuilt
}
