package store

import (
	"context"
	"database/sql"
	"encoding/hex"
	"errors"
	"fmt"

	"github.com/sluice-ln/sluice/ledger"
	"github.com/sluice-ln/sluice/outbound"
	"github.com/sluice-ln/sluice/shares"
	"github.com/sluice-ln/sluice/store/sqlc"
)

// The share withdrawals (migration 000012), converted from and to package
// shares' types: addresses, withdrawals and their rounds.

// Compile-time check that the store is what withdrawals need.
var _ shares.WithdrawStore = (*DB)(nil)

// SetWithdrawAddress records the provider's withdrawal address, replacing
// the one it had.
func (db *DB) SetWithdrawAddress(ctx context.Context,
	a shares.WithdrawAddress) error {

	return db.ExecTx(ctx, TxOptions{}, func(tx *Tx) error {
		err := tx.q.UpsertShareWithdrawAddress(ctx,
			sqlc.UpsertShareWithdrawAddressParams{
				ProviderID:   a.ProviderID,
				Addr:         a.Addr,
				GroupKey:     hex.EncodeToString(a.GroupKey),
				ProofCourier: a.ProofCourier,
				SetAt:        dbTime(a.SetAt),
			})
		if err != nil {
			return fmt.Errorf("withdrawal address of %s: %w",
				a.ProviderID, mapError(err))
		}
		return nil
	})
}

// WithdrawAddress returns the provider's withdrawal address;
// shares.ErrNoWithdrawAddress when it has none.
func (db *DB) WithdrawAddress(ctx context.Context, providerID string) (
	shares.WithdrawAddress, error) {

	var a shares.WithdrawAddress
	err := db.ExecTx(ctx, TxOptions{ReadOnly: true}, func(tx *Tx) error {
		row, err := tx.q.GetShareWithdrawAddress(ctx, providerID)
		if errors.Is(err, sql.ErrNoRows) {
			return fmt.Errorf("%w: provider %s",
				shares.ErrNoWithdrawAddress, providerID)
		}
		if err != nil {
			return fmt.Errorf("withdrawal address of %s: %w",
				providerID, mapError(err))
		}
		key, err := hex.DecodeString(row.GroupKey)
		if err != nil {
			return fmt.Errorf("withdrawal address of %s: group "+
				"key: %w", providerID, err)
		}
		a = shares.WithdrawAddress{
			ProviderID:   row.ProviderID,
			Addr:         row.Addr,
			GroupKey:     key,
			ProofCourier: row.ProofCourier,
			SetAt:        row.SetAt.UTC(),
		}
		return nil
	})
	return a, err
}

// shareWithdrawal is a share_withdrawals row as shares keep it.
func shareWithdrawal(row sqlc.ShareWithdrawal) (shares.Withdrawal, error) {
	st, err := shares.ParseWithdrawalState(row.State)
	if err != nil {
		return shares.Withdrawal{}, fmt.Errorf("withdrawal %d: %w",
			row.ID, err)
	}
	return shares.Withdrawal{
		ID:         row.ID,
		ProviderID: row.ProviderID,
		Key:        row.Key,
		Amount:     ledger.Shares(row.Amount),
		Addr:       row.Addr,
		State:      st,
		RoundID:    row.RoundID.Int64,
		Failure:    row.Failure,
		CreatedAt:  row.CreatedAt.UTC(),
		ResolvedAt: fromNull(row.ResolvedAt),
	}, nil
}

// shareWithdrawals converts rows.
func shareWithdrawals(rows []sqlc.ShareWithdrawal) ([]shares.Withdrawal,
	error) {

	out := make([]shares.Withdrawal, 0, len(rows))
	for _, row := range rows {
		w, err := shareWithdrawal(row)
		if err != nil {
			return nil, err
		}
		out = append(out, w)
	}
	return out, nil
}

// Withdrawals returns the provider's withdrawals, or everyone's for "",
// oldest first.
func (db *DB) Withdrawals(ctx context.Context, providerID string) (
	[]shares.Withdrawal, error) {

	var out []shares.Withdrawal
	err := db.ExecTx(ctx, TxOptions{ReadOnly: true}, func(tx *Tx) error {
		rows, err := tx.q.ListShareWithdrawals(ctx, providerID)
		if err != nil {
			return fmt.Errorf("withdrawals: %w", mapError(err))
		}
		out, err = shareWithdrawals(rows)
		return err
	})
	return out, err
}

// PendingRounds returns the withdrawal rounds not resolved, oldest first.
func (db *DB) PendingRounds(ctx context.Context) ([]shares.Round, error) {
	var out []shares.Round
	err := db.ExecTx(ctx, TxOptions{ReadOnly: true}, func(tx *Tx) error {
		rows, err := tx.q.ListPendingShareWithdrawRounds(ctx)
		if err != nil {
			return fmt.Errorf("withdrawal rounds: %w",
				mapError(err))
		}
		out = out[:0]
		for _, row := range rows {
			st, err := outbound.ParseStatus(row.State)
			if err != nil {
				return fmt.Errorf("withdrawal round %d: %w",
					row.ID, err)
			}
			out = append(out, shares.Round{
				ID:         row.ID,
				Nonce:      row.Nonce,
				State:      st,
				Failure:    row.Failure,
				AnchorTxid: row.AnchorTxid,
				Height:     uint32(row.BlockHeight),
				CreatedAt:  row.CreatedAt.UTC(),
				ResolvedAt: fromNull(row.ResolvedAt),
			})
		}
		return nil
	})
	return out, err
}

// ExecWithdrawals runs fn in one transaction over withdrawals, rounds and
// the ledger, retried as ExecTx retries.
func (db *DB) ExecWithdrawals(ctx context.Context,
	fn func(shares.WithdrawTx) error) error {

	return db.ExecTx(ctx, TxOptions{}, func(tx *Tx) error {
		return fn(withdrawTx{tx: tx})
	})
}

// withdrawTx is a store transaction as withdrawals use it.
type withdrawTx struct {
	tx *Tx
}

var _ shares.WithdrawTx = withdrawTx{}

func (w withdrawTx) Ledger() ledger.TxStore { return w.tx }

func (w withdrawTx) WithdrawalByKey(ctx context.Context, providerID,
	key string) (shares.Withdrawal, error) {

	row, err := w.tx.q.GetShareWithdrawalByKey(ctx,
		sqlc.GetShareWithdrawalByKeyParams{ProviderID: providerID,
			Key: key})
	if errors.Is(err, sql.ErrNoRows) {
		return shares.Withdrawal{}, fmt.Errorf("%w: %s's key %q",
			shares.ErrWithdrawalNotFound, providerID, key)
	}
	if err != nil {
		return shares.Withdrawal{}, fmt.Errorf("withdrawal %q: %w", key,
			mapError(err))
	}
	return shareWithdrawal(row)
}

func (w withdrawTx) InsertWithdrawal(ctx context.Context,
	wd shares.Withdrawal) (int64, error) {

	if wd.State != shares.WithdrawalQueued {
		return 0, fmt.Errorf("insert withdrawal: state %s, want "+
			"queued", wd.State)
	}
	id, err := w.tx.q.InsertShareWithdrawal(ctx,
		sqlc.InsertShareWithdrawalParams{
			ProviderID: wd.ProviderID,
			Key:        wd.Key,
			Amount:     int64(wd.Amount),
			Addr:       wd.Addr,
			CreatedAt:  dbTime(wd.CreatedAt),
		})
	if err != nil {
		return 0, fmt.Errorf("insert withdrawal for %s: %w",
			wd.ProviderID, mapError(err))
	}
	return id, nil
}

func (w withdrawTx) QueuedWithdrawals(ctx context.Context) (
	[]shares.Withdrawal, error) {

	rows, err := w.tx.q.ListQueuedShareWithdrawals(ctx)
	if err != nil {
		return nil, fmt.Errorf("queued withdrawals: %w", mapError(err))
	}
	return shareWithdrawals(rows)
}

func (w withdrawTx) InsertRound(ctx context.Context, r shares.Round) (int64,
	error) {

	if r.State != outbound.StatusPending {
		return 0, fmt.Errorf("insert withdrawal round: %w: %v",
			outbound.ErrInvalidTransition, r.State)
	}
	id, err := w.tx.q.InsertShareWithdrawRound(ctx,
		sqlc.InsertShareWithdrawRoundParams{Nonce: r.Nonce,
			CreatedAt: dbTime(r.CreatedAt)})
	if err != nil {
		return 0, fmt.Errorf("insert withdrawal round: %w",
			mapError(err))
	}
	return id, nil
}

// withdrawalState reads a withdrawal's state to say why an update found
// no row.
func (w withdrawTx) withdrawalState(ctx context.Context, id int64) (
	shares.WithdrawalState, error) {

	s, err := w.tx.q.GetShareWithdrawalState(ctx, id)
	if errors.Is(err, sql.ErrNoRows) {
		return "", fmt.Errorf("%w: id %d", shares.ErrWithdrawalNotFound,
			id)
	}
	if err != nil {
		return "", fmt.Errorf("withdrawal %d: %w", id, mapError(err))
	}
	return shares.ParseWithdrawalState(s)
}

func (w withdrawTx) AddToRound(ctx context.Context, id, roundID int64) error {
	n, err := w.tx.q.AddShareWithdrawalToRound(ctx,
		sqlc.AddShareWithdrawalToRoundParams{ID: id,
			RoundID: sql.NullInt64{Int64: roundID, Valid: true}})
	if err != nil {
		return fmt.Errorf("withdrawal %d into round %d: %w", id,
			roundID, mapError(err))
	}
	if n == 1 {
		return nil
	}
	st, err := w.withdrawalState(ctx, id)
	if err != nil {
		return err
	}
	return fmt.Errorf("withdrawal %d: %w", id,
		shares.CheckWithdrawalTransition(st, shares.WithdrawalSending))
}

func (w withdrawTx) RoundWithdrawals(ctx context.Context, roundID int64) (
	[]shares.Withdrawal, error) {

	rows, err := w.tx.q.ListRoundShareWithdrawals(ctx,
		sql.NullInt64{Int64: roundID, Valid: true})
	if err != nil {
		return nil, fmt.Errorf("round %d's withdrawals: %w", roundID,
			mapError(err))
	}
	return shareWithdrawals(rows)
}

func (w withdrawTx) ResolveRound(ctx context.Context, r shares.Round) error {
	if !r.State.Final() {
		return fmt.Errorf("resolve withdrawal round %d: %w: %v", r.ID,
			outbound.ErrInvalidTransition, r.State)
	}
	n, err := w.tx.q.ResolveShareWithdrawRound(ctx,
		sqlc.ResolveShareWithdrawRoundParams{
			ID:          r.ID,
			State:       string(r.State),
			Failure:     r.Failure,
			AnchorTxid:  r.AnchorTxid,
			BlockHeight: int64(r.Height),
			ResolvedAt:  nullTime(r.ResolvedAt),
		})
	if err != nil {
		return fmt.Errorf("resolve withdrawal round %d: %w", r.ID,
			mapError(err))
	}
	if n == 1 {
		return nil
	}
	s, err := w.tx.q.GetShareWithdrawRoundState(ctx, r.ID)
	if errors.Is(err, sql.ErrNoRows) {
		return fmt.Errorf("resolve withdrawal round %d: %w", r.ID,
			ErrNotFound)
	}
	if err != nil {
		return fmt.Errorf("withdrawal round %d: %w", r.ID,
			mapError(err))
	}
	st, err := outbound.ParseStatus(s)
	if err != nil {
		return err
	}
	return fmt.Errorf("resolve withdrawal round %d: %w", r.ID,
		outbound.Transition(st, r.State))
}

func (w withdrawTx) ResolveWithdrawal(ctx context.Context,
	wd shares.Withdrawal) error {

	if !wd.State.Final() {
		return fmt.Errorf("resolve withdrawal %d: %w", wd.ID,
			shares.CheckWithdrawalTransition(
				shares.WithdrawalSending, wd.State))
	}
	n, err := w.tx.q.ResolveShareWithdrawal(ctx,
		sqlc.ResolveShareWithdrawalParams{
			ID:         wd.ID,
			State:      string(wd.State),
			Failure:    wd.Failure,
			ResolvedAt: nullTime(wd.ResolvedAt),
		})
	if err != nil {
		return fmt.Errorf("resolve withdrawal %d: %w", wd.ID,
			mapError(err))
	}
	if n == 1 {
		return nil
	}
	st, err := w.withdrawalState(ctx, wd.ID)
	if err != nil {
		return err
	}
	return fmt.Errorf("resolve withdrawal %d: %w", wd.ID,
		shares.CheckWithdrawalTransition(st, wd.State))
}
