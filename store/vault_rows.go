package store

// PLACEHOLDER owned by the vault helper: vaultTx's VaultRowsTx methods.

import (
	"context"
	"errors"
	"time"

	"github.com/sluice-ln/sluice/yield"
)

var errVaultRowsNotBuilt = errors.New("vault rows not built yet")

func (v vaultTx) Policy(ctx context.Context) (yield.Policy, error) {
	return yield.Policy{}, errVaultRowsNotBuilt
}

func (v vaultTx) PutPolicy(ctx context.Context, p yield.Policy) error {
	return errVaultRowsNotBuilt
}

func (v vaultTx) AutoStake(ctx context.Context, providerID string) (uint32,
	error) {

	return 0, errVaultRowsNotBuilt
}

func (v vaultTx) SetAutoStake(ctx context.Context, providerID string,
	percent uint32, at time.Time) error {

	return errVaultRowsNotBuilt
}

func (v vaultTx) InsertRedemption(ctx context.Context,
	r yield.StoredRedemption) (int64, error) {

	return 0, errVaultRowsNotBuilt
}

func (v vaultTx) Redemption(ctx context.Context, id int64) (
	yield.StoredRedemption, error) {

	return yield.StoredRedemption{}, errVaultRowsNotBuilt
}

func (v vaultTx) RedemptionByKey(ctx context.Context, key string) (
	yield.StoredRedemption, error) {

	return yield.StoredRedemption{}, errVaultRowsNotBuilt
}

func (v vaultTx) Redemptions(ctx context.Context,
	f yield.RedemptionFilter) ([]yield.StoredRedemption, error) {

	return nil, errVaultRowsNotBuilt
}

func (v vaultTx) UpdateRedemption(ctx context.Context,
	from yield.RedemptionState, r yield.StoredRedemption) error {

	return errVaultRowsNotBuilt
}
