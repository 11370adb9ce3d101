package yield

import (
	"context"

	"github.com/sluice-ln/sluice/ledger"
)

// PLACEHOLDER owned by the vault and epochs helpers: the public methods
// of the vault service as the design fixes them, so that rpc's VaultService
// can be written and checked against *Vault before they land. Delete this
// file whole when the staking and redemption change (State, Holding,
// Stake, SetAutoStake, Redeem, CancelRedeem, Redemptions, SetPolicy,
// Shutdown) and the epochs change (Epochs, Epoch, RewardProof) merge: the
// compiler names each method they declare twice.

// State returns the vault as a whole, read in one transaction.

func (v *Vault) State(ctx context.Context) (State, error) {
	return State{}, errVaultNotBuilt
}

// Holding returns one provider's part of the vault.

func (v *Vault) Holding(ctx context.Context, providerID string) (Holding,
	error) {

	return Holding{}, errVaultNotBuilt
}

// Stake moves amount (or all) of the provider's payable into the vault.

func (v *Vault) Stake(ctx context.Context, key, providerID string,
	amount ledger.MilliSatoshi, all bool) (StakeResult, error) {

	return StakeResult{}, errVaultNotBuilt
}

// SetAutoStake sets the provider's auto-stake percent.

func (v *Vault) SetAutoStake(ctx context.Context, providerID string,
	percent uint32) error {

	return errVaultNotBuilt
}

// Redeem locks shares in a redemption request.

func (v *Vault) Redeem(ctx context.Context, key, providerID string,
	shares ledger.Shares) (Redemption, error) {

	return Redemption{}, errVaultNotBuilt
}

// CancelRedeem cancels a pending redemption request.

func (v *Vault) CancelRedeem(ctx context.Context, providerID string,
	id int64) (Redemption, error) {

	return Redemption{}, errVaultNotBuilt
}

// Redemptions returns the requests the filter selects.

func (v *Vault) Redemptions(ctx context.Context, f RedemptionFilter) (
	[]Redemption, error) {

	return nil, errVaultNotBuilt
}

// Epochs returns up to limit epochs numbered above after.

func (v *Vault) SetPolicy(ctx context.Context, floorBPS uint32,
	caps map[string]ledger.MilliSatoshi) (Policy, error) {

	return Policy{}, errVaultNotBuilt
}

// Shutdown stops or allows again staking and allocation.

func (v *Vault) Shutdown(ctx context.Context, on bool) (Policy, error) {
	return Policy{}, errVaultNotBuilt
}
