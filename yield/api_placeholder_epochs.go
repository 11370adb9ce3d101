package yield

import (
	"context"
)

// PLACEHOLDER owned by the vault and epochs helpers: the public methods
// of the vault service as the design fixes them, so that rpc's VaultService
// can be written and checked against *Vault before they land. Delete this
// file whole when the staking and redemption change (State, Holding,
// Stake, SetAutoStake, Redeem, CancelRedeem, Redemptions, SetPolicy,
// Shutdown) and the epochs change (Epochs, Epoch, RewardProof) merge: the
// compiler names each method they declare twice.

// State returns the vault as a whole, read in one transaction.

func (v *Vault) Epochs(ctx context.Context, after uint64, limit int) (
	[]StoredEpoch, error) {

	return nil, errEpochsNotBuilt
}

// Epoch returns one epoch and its contributions.

func (v *Vault) Epoch(ctx context.Context, number uint64) (StoredEpoch,
	[]Contribution, error) {

	return StoredEpoch{}, nil, errEpochsNotBuilt
}

// RewardProof returns a provider's leaf in a closed epoch and its proof.

func (v *Vault) RewardProof(ctx context.Context, number uint64,
	providerID string) (RewardProof, error) {

	return RewardProof{}, errEpochsNotBuilt
}

// SetPolicy replaces the liquid floor and the strategies' caps.
