package yield

import (
	"context"
	"errors"
)

// PLACEHOLDER owned by the epochs helper: replaced whole by the epochs
// change (contributions, closing, proofs).
var errEpochsNotBuilt = errors.New("epochs not built yet")

func (v *Vault) contribute(ctx context.Context, tx VaultTx, e Earning) error {
	return errEpochsNotBuilt
}

// CloseDueEpoch closes the open epoch when it is due, returning it and
// true; false when none was due.
func (v *Vault) CloseDueEpoch(ctx context.Context) (StoredEpoch, bool,
	error) {

	return StoredEpoch{}, false, errEpochsNotBuilt
}
