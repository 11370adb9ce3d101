package yield

import "context"

// Contribute adds an earning to the open epoch, as Earned does before it
// auto-stakes, so that the epochs' tests need no auto-stake.
func (v *Vault) Contribute(ctx context.Context, tx VaultTx, e Earning) error {
	return v.contribute(ctx, tx, e)
}
