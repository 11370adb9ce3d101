package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"

	"github.com/sluice-ln/sluice/ledger"
	"github.com/sluice-ln/sluice/shares"
	"github.com/sluice-ln/sluice/store/sqlc"
)

// The share deposits (migration 000013), converted from and to package
// shares' types: each provider's deposit address on the hub's tapd and the
// outputs credited from it.

// Compile-time check that the store is what deposits need.
var _ shares.DepositStore = (*DB)(nil)

// depositAddress is a share_deposit_addresses row as shares keep it.
func depositAddress(row sqlc.ShareDepositAddress) shares.DepositAddress {
	return shares.DepositAddress{
		ProviderID: row.ProviderID,
		Addr:       row.Addr,
		CreatedAt:  row.CreatedAt.UTC(),
	}
}

// InsertDepositAddress records the provider's deposit address unless it
// has one, and returns the one recorded.
func (db *DB) InsertDepositAddress(ctx context.Context,
	a shares.DepositAddress) (shares.DepositAddress, error) {

	var got shares.DepositAddress
	err := db.ExecTx(ctx, TxOptions{}, func(tx *Tx) error {
		err := tx.q.InsertShareDepositAddress(ctx,
			sqlc.InsertShareDepositAddressParams{
				ProviderID: a.ProviderID,
				Addr:       a.Addr,
				CreatedAt:  dbTime(a.CreatedAt),
			})
		if err != nil {
			return mapError(err)
		}
		row, err := tx.q.GetShareDepositAddress(ctx, a.ProviderID)
		if err != nil {
			return mapError(err)
		}
		got = depositAddress(row)
		return nil
	})
	if err != nil {
		return shares.DepositAddress{}, fmt.Errorf("deposit address "+
			"of %s: %w", a.ProviderID, err)
	}
	return got, nil
}

// DepositAddress returns the provider's deposit address;
// shares.ErrNoDepositAddress when it has none.
func (db *DB) DepositAddress(ctx context.Context, providerID string) (
	shares.DepositAddress, error) {

	var a shares.DepositAddress
	err := db.ExecTx(ctx, TxOptions{ReadOnly: true}, func(tx *Tx) error {
		row, err := tx.q.GetShareDepositAddress(ctx, providerID)
		if errors.Is(err, sql.ErrNoRows) {
			return fmt.Errorf("%w: provider %s",
				shares.ErrNoDepositAddress, providerID)
		}
		if err != nil {
			return fmt.Errorf("deposit address of %s: %w",
				providerID, mapError(err))
		}
		a = depositAddress(row)
		return nil
	})
	return a, err
}

// DepositAddresses returns every provider's deposit address.
func (db *DB) DepositAddresses(ctx context.Context) (
	[]shares.DepositAddress, error) {

	var out []shares.DepositAddress
	err := db.ExecTx(ctx, TxOptions{ReadOnly: true}, func(tx *Tx) error {
		rows, err := tx.q.ListShareDepositAddresses(ctx)
		if err != nil {
			return fmt.Errorf("deposit addresses: %w", mapError(err))
		}
		out = make([]shares.DepositAddress, 0, len(rows))
		for _, row := range rows {
			out = append(out, depositAddress(row))
		}
		return nil
	})
	return out, err
}

// CreditedOutpoints returns the outpoints of every deposit credited.
func (db *DB) CreditedOutpoints(ctx context.Context) (map[string]bool,
	error) {

	var out map[string]bool
	err := db.ExecTx(ctx, TxOptions{ReadOnly: true}, func(tx *Tx) error {
		rows, err := tx.q.ListShareDepositOutpoints(ctx)
		if err != nil {
			return fmt.Errorf("deposit outpoints: %w",
				mapError(err))
		}
		out = make(map[string]bool, len(rows))
		for _, op := range rows {
			out[op] = true
		}
		return nil
	})
	return out, err
}

// Deposits returns the provider's deposits, or everyone's for "", oldest
// first.
func (db *DB) Deposits(ctx context.Context, providerID string) (
	[]shares.Deposit, error) {

	var out []shares.Deposit
	err := db.ExecTx(ctx, TxOptions{ReadOnly: true}, func(tx *Tx) error {
		rows, err := tx.q.ListShareDeposits(ctx, providerID)
		if err != nil {
			return fmt.Errorf("share deposits: %w", mapError(err))
		}
		out = make([]shares.Deposit, 0, len(rows))
		for _, row := range rows {
			out = append(out, shares.Deposit{
				ID:         row.ID,
				Outpoint:   row.Outpoint,
				ProviderID: row.ProviderID,
				Addr:       row.Addr,
				Amount:     ledger.Shares(row.Amount),
				Height:     uint32(row.BlockHeight),
				CreditedAt: row.CreditedAt.UTC(),
			})
		}
		return nil
	})
	return out, err
}

// SharesOutside is Σ shares_withdrawn + Σ shares_deposited: the shares
// withdrawn from the hub's custody less those deposited back.
func (db *DB) SharesOutside(ctx context.Context) (ledger.Shares, error) {
	var out ledger.Shares
	err := db.ExecTx(ctx, TxOptions{ReadOnly: true}, func(tx *Tx) error {
		w, err := tx.ShareKindTotal(ctx, ledger.KindSharesWithdrawn)
		if err != nil {
			return err
		}
		d, err := tx.ShareKindTotal(ctx, ledger.KindSharesDeposited)
		if err != nil {
			return err
		}
		out, err = w.Add(d)
		return err
	})
	if err != nil {
		return 0, fmt.Errorf("shares outside custody: %w", err)
	}
	return out, nil
}

// ExecDeposits runs fn in one transaction over deposits and the ledger,
// retried as ExecTx retries.
func (db *DB) ExecDeposits(ctx context.Context,
	fn func(shares.DepositTx) error) error {

	return db.ExecTx(ctx, TxOptions{}, func(tx *Tx) error {
		return fn(depositTx{tx: tx})
	})
}

// depositTx is a store transaction as deposits use it.
type depositTx struct {
	tx *Tx
}

var _ shares.DepositTx = depositTx{}

func (d depositTx) Ledger() ledger.TxStore { return d.tx }

func (d depositTx) InsertDeposit(ctx context.Context, dep shares.Deposit) (
	int64, bool, error) {

	id, err := d.tx.q.InsertShareDeposit(ctx,
		sqlc.InsertShareDepositParams{
			Outpoint:    dep.Outpoint,
			ProviderID:  dep.ProviderID,
			Addr:        dep.Addr,
			Amount:      int64(dep.Amount),
			BlockHeight: int64(dep.Height),
			CreditedAt:  dbTime(dep.CreditedAt),
		})
	switch {
	case errors.Is(err, sql.ErrNoRows):
		return 0, false, nil

	case err != nil:
		return 0, false, fmt.Errorf("share deposit %s: %w",
			dep.Outpoint, mapError(err))
	}
	return id, true, nil
}
