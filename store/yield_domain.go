package store

import (
	"context"
	"errors"

	"github.com/sluice-ln/sluice/channels"
	"github.com/sluice-ln/sluice/ledger"
	"github.com/sluice-ln/sluice/yield"
)

// Compile-time check that the store is what the vault needs.
var _ yield.Store = (*DB)(nil)

// ExecVault runs fn in one transaction over the vault's rows and the
// ledger (yield.VaultTx), retried as ExecTx retries.
func (d *DB) ExecVault(ctx context.Context, readOnly bool,
	fn func(yield.VaultTx) error) error {

	return d.ExecTx(ctx, TxOptions{ReadOnly: readOnly},
		func(tx *Tx) error {
			return fn(VaultTx(tx))
		})
}

// VaultTx is tx as the vault sees it, for callers that already hold a
// store transaction (metering's charge, which stakes and records epoch
// contributions in the transaction that charges the usage).
func VaultTx(tx *Tx) yield.VaultTx {
	return vaultTx{tx: tx}
}

// vaultTx is a store transaction as the vault uses it: its rows in
// vault.go's and epochs' files, converted from and to the store's.
type vaultTx struct {
	tx *Tx
}

func (v vaultTx) Ledger() ledger.TxStore { return v.tx }

func (v vaultTx) AllocatedTotal(ctx context.Context) (ledger.MilliSatoshi,
	error) {

	if total, ok := v.tx.memoAllocated(); ok {
		return total, nil
	}
	total, err := v.tx.KindTotal(ctx, ledger.KindStrategyPrincipal)
	if err != nil {
		return 0, err
	}
	v.tx.keepAllocated(total)
	return total, nil
}

func (v vaultTx) ProviderExists(ctx context.Context, id string) (bool,
	error) {

	_, err := v.tx.Provider(ctx, id)
	switch {
	case err == nil:
		return true, nil

	case errors.Is(err, channels.ErrProviderNotFound):
		return false, nil

	default:
		return false, err
	}
}
