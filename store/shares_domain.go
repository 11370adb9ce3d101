package store

import (
	"context"
	"database/sql"
	"encoding/hex"
	"errors"
	"fmt"

	"github.com/btcsuite/btcd/wire"
	"github.com/sluice-ln/sluice/ledger"
	"github.com/sluice-ln/sluice/outbound"
	"github.com/sluice-ln/sluice/shares"
	"github.com/sluice-ln/sluice/store/sqlc"
)

// The share asset's mints (migration 000010), converted from and to
// package shares' types. Keys and ids are stored as lower-case hex, the
// anchor as wire.OutPoint's "txid:index".

// Compile-time check that the store is what shares need.
var _ shares.Store = (*DB)(nil)

// shareMint is a share_mints row as shares keep it.
func shareMint(row sqlc.ShareMint) (shares.Mint, error) {
	st, err := outbound.ParseStatus(row.State)
	if err != nil {
		return shares.Mint{}, fmt.Errorf("share mint %q: %w", row.Name,
			err)
	}
	m := shares.Mint{
		Name:       row.Name,
		Kind:       shares.MintKind(row.Kind),
		Amount:     ledger.Shares(row.Amount),
		MetaJSON:   []byte(row.Meta),
		State:      st,
		Failure:    row.Failure,
		CreatedAt:  row.CreatedAt.UTC(),
		ResolvedAt: fromNull(row.ResolvedAt),
	}
	if m.GroupKey, err = hex.DecodeString(row.GroupKey); err != nil {
		return shares.Mint{}, fmt.Errorf("share mint %q: group key: "+
			"%w", row.Name, err)
	}
	if m.AssetID, err = hex.DecodeString(row.AssetID); err != nil {
		return shares.Mint{}, fmt.Errorf("share mint %q: asset id: "+
			"%w", row.Name, err)
	}
	if len(m.GroupKey) == 0 {
		m.GroupKey = nil
	}
	if len(m.AssetID) == 0 {
		m.AssetID = nil
	}
	if row.AnchorOutpoint != "" {
		op, err := wire.NewOutPointFromString(row.AnchorOutpoint)
		if err != nil {
			return shares.Mint{}, fmt.Errorf("share mint %q: "+
				"anchor: %w", row.Name, err)
		}
		m.Anchor = *op
	}

	return m, nil
}

// InsertGenesis writes m as the pending genesis; shares.ErrGenesisDone when
// a genesis is pending or succeeded, shares.ErrNameTaken when a mint has
// m's name.
func (db *DB) InsertGenesis(ctx context.Context, m shares.Mint) error {
	if m.Kind != shares.KindGenesis || m.State != outbound.StatusPending {
		return fmt.Errorf("insert genesis %q: kind %q state %v, want "+
			"a pending genesis", m.Name, m.Kind, m.State)
	}
	return db.ExecTx(ctx, TxOptions{}, func(tx *Tx) error {
		_, err := tx.q.GetShareMint(ctx, m.Name)
		switch {
		case err == nil:
			return fmt.Errorf("%w: %q", shares.ErrNameTaken, m.Name)

		case !errors.Is(err, sql.ErrNoRows):
			return fmt.Errorf("share mint %q: %w", m.Name,
				mapError(err))
		}
		_, err = tx.q.GetShareGenesis(ctx)
		switch {
		case err == nil:
			return shares.ErrGenesisDone

		case !errors.Is(err, sql.ErrNoRows):
			return fmt.Errorf("share genesis: %w", mapError(err))
		}

		err = tx.q.InsertShareMint(ctx, sqlc.InsertShareMintParams{
			Name:      m.Name,
			Kind:      string(m.Kind),
			Amount:    int64(m.Amount),
			Meta:      string(m.MetaJSON),
			CreatedAt: dbTime(m.CreatedAt),
		})
		if errors.Is(mapError(err), ErrUniqueViolation) {
			// A racing genesis won the index.
			return fmt.Errorf("%w: %w", shares.ErrGenesisDone, err)
		}
		if err != nil {
			return fmt.Errorf("insert genesis %q: %w", m.Name,
				mapError(err))
		}
		return nil
	})
}

// Genesis returns the genesis pending or succeeded; shares.ErrNoGenesis
// when there is none.
func (db *DB) Genesis(ctx context.Context) (shares.Mint, error) {
	var m shares.Mint
	err := db.ExecTx(ctx, TxOptions{ReadOnly: true}, func(tx *Tx) error {
		row, err := tx.q.GetShareGenesis(ctx)
		if errors.Is(err, sql.ErrNoRows) {
			return fmt.Errorf("%w: %w", shares.ErrNoGenesis,
				ErrNotFound)
		}
		if err != nil {
			return fmt.Errorf("share genesis: %w", mapError(err))
		}
		m, err = shareMint(row)
		return err
	})

	return m, err
}

// ResolveMint records the outcome of the pending mint m.Name once; for a
// mint resolved already an error wrapping outbound.ErrInvalidTransition.
func (db *DB) ResolveMint(ctx context.Context, m shares.Mint) error {
	if !m.State.Final() {
		return fmt.Errorf("resolve share mint %q: %w: %v", m.Name,
			outbound.ErrInvalidTransition, m.State)
	}
	anchor := ""
	if m.State == outbound.StatusSucceeded {
		anchor = m.Anchor.String()
	}
	return db.ExecTx(ctx, TxOptions{}, func(tx *Tx) error {
		n, err := tx.q.ResolveShareMint(ctx, sqlc.ResolveShareMintParams{
			Name:           m.Name,
			State:          string(m.State),
			Failure:        m.Failure,
			GroupKey:       hex.EncodeToString(m.GroupKey),
			AssetID:        hex.EncodeToString(m.AssetID),
			AnchorOutpoint: anchor,
			ResolvedAt:     nullTime(m.ResolvedAt),
		})
		if err != nil {
			return fmt.Errorf("resolve share mint %q: %w", m.Name,
				mapError(err))
		}
		if n == 1 {
			return nil
		}
		row, err := tx.q.GetShareMint(ctx, m.Name)
		if errors.Is(err, sql.ErrNoRows) {
			return fmt.Errorf("resolve share mint %q: %w", m.Name,
				ErrNotFound)
		}
		if err != nil {
			return fmt.Errorf("share mint %q: %w", m.Name,
				mapError(err))
		}
		st, err := outbound.ParseStatus(row.State)
		if err != nil {
			return err
		}
		return fmt.Errorf("resolve share mint %q: %w", m.Name,
			outbound.Transition(st, m.State))
	})
}
