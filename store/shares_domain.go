package store

import (
	"context"
	"database/sql"
	"encoding/hex"
	"errors"
	"fmt"
	"math"

	"github.com/btcsuite/btcd/chaincfg/chainhash"
	"github.com/btcsuite/btcd/wire"
	"github.com/sluice-ln/sluice/ledger"
	"github.com/sluice-ln/sluice/outbound"
	"github.com/sluice-ln/sluice/shares"
	"github.com/sluice-ln/sluice/store/sqlc"
)

// The share asset's mints (migration 000010), converted from and to
// package shares' types. Keys and ids are stored as lower-case hex, the
// anchor as wire.OutPoint's "txid:index".

// Compile-time checks that the store is what shares need.
var (
	_ shares.Store      = (*DB)(nil)
	_ shares.EpochStore = (*DB)(nil)
)

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
		Burned:     ledger.Shares(row.BurnedTotal),
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
			Name:        m.Name,
			Kind:        string(m.Kind),
			Amount:      int64(m.Amount),
			Meta:        string(m.MetaJSON),
			BurnedTotal: int64(m.Burned),
			CreatedAt:   dbTime(m.CreatedAt),
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

// ShareTotals reads the ledger's share supply and the units finalized
// redemptions burned, in one statement.
func (db *DB) ShareTotals(ctx context.Context) (shares.Totals, error) {
	var t shares.Totals
	err := db.ExecTx(ctx, TxOptions{ReadOnly: true}, func(tx *Tx) error {
		yt, err := VaultTx(tx).ShareTotals(ctx)
		t = shares.Totals{Supply: yt.Supply, Burned: yt.Burned}
		return err
	})
	return t, err
}

// epochOp is a share_epoch_ops row as shares keep it.
func epochOp(row sqlc.ShareEpochOp) (shares.EpochOp, error) {
	st, err := outbound.ParseStatus(row.State)
	if err != nil {
		return shares.EpochOp{}, fmt.Errorf("share op %q: %w", row.Name,
			err)
	}
	op := shares.EpochOp{
		Name:        row.Name,
		Epoch:       uint64(row.Epoch),
		Kind:        shares.MintKind(row.Kind),
		Amount:      ledger.Shares(row.Amount),
		SupplyAfter: ledger.Shares(row.SupplyAfter),
		Burned:      ledger.Shares(row.BurnedTotal),
		State:       st,
		Failure:     row.Failure,
		CreatedAt:   row.CreatedAt.UTC(),
		ResolvedAt:  fromNull(row.ResolvedAt),
	}
	if row.Meta != "" {
		op.MetaJSON = []byte(row.Meta)
	}
	if row.AssetID != "" {
		if op.AssetID, err = hex.DecodeString(row.AssetID); err != nil {
			return shares.EpochOp{}, fmt.Errorf("share op %q: asset "+
				"id: %w", row.Name, err)
		}
	}
	if row.Anchor == "" {
		return op, nil
	}
	switch op.Kind {
	case shares.KindTranche:
		a, err := wire.NewOutPointFromString(row.Anchor)
		if err != nil {
			return shares.EpochOp{}, fmt.Errorf("share op %q: "+
				"anchor: %w", row.Name, err)
		}
		op.Anchor = *a
	case shares.KindBurn:
		h, err := chainhash.NewHashFromStr(row.Anchor)
		if err != nil {
			return shares.EpochOp{}, fmt.Errorf("share op %q: "+
				"anchor: %w", row.Name, err)
		}
		op.BurnTxid = *h
	}
	return op, nil
}

// ClosedEpochs returns up to limit closed epochs numbered from on whose
// close recorded the ledger's share totals.
func (db *DB) ClosedEpochs(ctx context.Context, from uint64, limit int) (
	[]shares.ClosedEpoch, error) {

	n, err := epochNumber(max(from, 1))
	if err != nil {
		return nil, err
	}
	if limit <= 0 {
		return nil, fmt.Errorf("closed epochs: limit %d", limit)
	}
	var out []shares.ClosedEpoch
	err = db.ExecTx(ctx, TxOptions{ReadOnly: true}, func(tx *Tx) error {
		rows, err := tx.q.ListClosedEpochsForShares(ctx,
			sqlc.ListClosedEpochsForSharesParams{
				FromEpoch: n, MaxRows: int32(min(limit, math.MaxInt32)),
			})
		if err != nil {
			return fmt.Errorf("closed epochs: %w", mapError(err))
		}
		out = out[:0]
		for _, r := range rows {
			e := shares.ClosedEpoch{
				Number:    uint64(r.Number),
				Start:     r.StartAt.UTC(),
				End:       fromNull(r.EndAt),
				Leaves:    uint64(r.Leaves),
				Issued:    ledger.Shares(r.IssuedShares),
				NAVAssets: ledger.MilliSatoshi(r.NavAssetsMsat),
				NAVSupply: ledger.Shares(r.NavSupplyShares),
				Totals: shares.Totals{
					Supply: ledger.Shares(r.SupplyShares),
					Burned: ledger.Shares(r.BurnedShares),
				},
			}
			b, err := hex.DecodeString(r.Root)
			if err != nil || len(b) != chainhash.HashSize {
				return fmt.Errorf("epoch %d: root %q is not %d "+
					"bytes of hex", r.Number, r.Root,
					chainhash.HashSize)
			}
			copy(e.Root[:], b)
			out = append(out, e)
		}
		return nil
	})
	return out, err
}

// oneEpochOp reads one operation with get; shares.ErrNoEpochOp when there
// is none.
func (db *DB) oneEpochOp(ctx context.Context,
	get func(*Tx) (sqlc.ShareEpochOp, error)) (shares.EpochOp, error) {

	var op shares.EpochOp
	err := db.ExecTx(ctx, TxOptions{ReadOnly: true}, func(tx *Tx) error {
		row, err := get(tx)
		if errors.Is(err, sql.ErrNoRows) {
			return fmt.Errorf("%w: %w", shares.ErrNoEpochOp,
				ErrNotFound)
		}
		if err != nil {
			return fmt.Errorf("share op: %w", mapError(err))
		}
		op, err = epochOp(row)
		return err
	})
	return op, err
}

// LastEpochOp returns the last operation that succeeded.
func (db *DB) LastEpochOp(ctx context.Context) (shares.EpochOp, error) {
	return db.oneEpochOp(ctx, func(tx *Tx) (sqlc.ShareEpochOp, error) {
		return tx.q.GetLastShareEpochOp(ctx)
	})
}

// PendingEpochOp returns the operation pending.
func (db *DB) PendingEpochOp(ctx context.Context) (shares.EpochOp, error) {
	return db.oneEpochOp(ctx, func(tx *Tx) (sqlc.ShareEpochOp, error) {
		return tx.q.GetPendingShareEpochOp(ctx)
	})
}

// EpochOpAttempts counts the epoch's operations of the kind.
func (db *DB) EpochOpAttempts(ctx context.Context, epoch uint64,
	kind shares.MintKind) (int, error) {

	n, err := epochNumber(epoch)
	if err != nil {
		return 0, err
	}
	var count int64
	err = db.ExecTx(ctx, TxOptions{ReadOnly: true}, func(tx *Tx) error {
		count, err = tx.q.CountShareEpochOpAttempts(ctx,
			sqlc.CountShareEpochOpAttemptsParams{
				Epoch: n, Kind: string(kind),
			})
		return mapError(err)
	})
	return int(count), err
}

// InsertEpochOp writes op's intent, pending.
func (db *DB) InsertEpochOp(ctx context.Context, op shares.EpochOp) error {
	if op.State != outbound.StatusPending || (op.Kind != shares.KindTranche &&
		op.Kind != shares.KindBurn) {

		return fmt.Errorf("insert share op %q: kind %q state %v, want "+
			"a pending tranche or burn", op.Name, op.Kind, op.State)
	}
	n, err := epochNumber(op.Epoch)
	if err != nil {
		return err
	}
	return db.ExecTx(ctx, TxOptions{}, func(tx *Tx) error {
		_, err := tx.q.GetShareEpochOp(ctx, op.Name)
		switch {
		case err == nil:
			return fmt.Errorf("%w: %q", shares.ErrNameTaken, op.Name)

		case !errors.Is(err, sql.ErrNoRows):
			return fmt.Errorf("share op %q: %w", op.Name,
				mapError(err))
		}
		err = tx.q.InsertShareEpochOp(ctx, sqlc.InsertShareEpochOpParams{
			Name:        op.Name,
			Epoch:       n,
			Kind:        string(op.Kind),
			Amount:      int64(op.Amount),
			Meta:        string(op.MetaJSON),
			SupplyAfter: int64(op.SupplyAfter),
			BurnedTotal: int64(op.Burned),
			CreatedAt:   dbTime(op.CreatedAt),
		})
		if errors.Is(mapError(err), ErrUniqueViolation) {
			return fmt.Errorf("%w: %w", shares.ErrOpExists, err)
		}
		if err != nil {
			return fmt.Errorf("insert share op %q: %w", op.Name,
				mapError(err))
		}
		return nil
	})
}

// ResolveEpochOp records the outcome of the pending op.Name once.
func (db *DB) ResolveEpochOp(ctx context.Context, op shares.EpochOp) error {
	if !op.State.Final() {
		return fmt.Errorf("resolve share op %q: %w: %v", op.Name,
			outbound.ErrInvalidTransition, op.State)
	}
	anchor := ""
	if op.State == outbound.StatusSucceeded {
		switch op.Kind {
		case shares.KindTranche:
			anchor = op.Anchor.String()
		case shares.KindBurn:
			anchor = op.BurnTxid.String()
		}
	}
	return db.ExecTx(ctx, TxOptions{}, func(tx *Tx) error {
		n, err := tx.q.ResolveShareEpochOp(ctx,
			sqlc.ResolveShareEpochOpParams{
				Name:       op.Name,
				State:      string(op.State),
				Failure:    op.Failure,
				AssetID:    hex.EncodeToString(op.AssetID),
				Anchor:     anchor,
				ResolvedAt: nullTime(op.ResolvedAt),
			})
		if err != nil {
			return fmt.Errorf("resolve share op %q: %w", op.Name,
				mapError(err))
		}
		if n == 1 {
			return nil
		}
		row, err := tx.q.GetShareEpochOp(ctx, op.Name)
		if errors.Is(err, sql.ErrNoRows) {
			return fmt.Errorf("resolve share op %q: %w", op.Name,
				ErrNotFound)
		}
		if err != nil {
			return fmt.Errorf("share op %q: %w", op.Name,
				mapError(err))
		}
		st, err := outbound.ParseStatus(row.State)
		if err != nil {
			return err
		}
		return fmt.Errorf("resolve share op %q: %w", op.Name,
			outbound.Transition(st, op.State))
	})
}

// EpochOps lists the operations of epochs numbered above after.
func (db *DB) EpochOps(ctx context.Context, after uint64) (
	[]shares.EpochOp, error) {

	a := int64(min(after, math.MaxInt64))
	var out []shares.EpochOp
	err := db.ExecTx(ctx, TxOptions{ReadOnly: true}, func(tx *Tx) error {
		rows, err := tx.q.ListShareEpochOps(ctx, a)
		if err != nil {
			return fmt.Errorf("share ops: %w", mapError(err))
		}
		out = out[:0]
		for _, r := range rows {
			op, err := epochOp(r)
			if err != nil {
				return err
			}
			out = append(out, op)
		}
		return nil
	})
	return out, err
}
