package yield

import (
	"context"
	"errors"
)

// PLACEHOLDER owned by the vault helper: replaced whole by the staking and
// redemption change.
var errVaultNotBuilt = errors.New("vault not built yet")

func (v *Vault) autoStake(ctx context.Context, tx VaultTx, e Earning) error {
	return errVaultNotBuilt
}

// FinalizeRedemptions finalizes pending redemptions first in, first out,
// while the vault can pay them, and returns how many it finalized.
func (v *Vault) FinalizeRedemptions(ctx context.Context) (int, error) {
	return 0, errVaultNotBuilt
}
