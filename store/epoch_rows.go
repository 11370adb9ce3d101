package store

import (
	"cmp"
	"context"
	"database/sql"
	"encoding/hex"
	"errors"
	"fmt"
	"math"
	"slices"

	"github.com/btcsuite/btcd/chaincfg/chainhash"
	"github.com/sluice-ln/sluice/ledger"
	"github.com/sluice-ln/sluice/store/sqlc"
	"github.com/sluice-ln/sluice/yield"
)

// vaultTx's EpochRowsTx: the reward epochs and their contributions
// (migration 000009), converted from and to yield's types. The root is
// stored as lower-case hex of its bytes in SHA-256's order, as docs/vault.md
// writes hashes, not chainhash's reversed String form.

// Epoch states as stored.
const (
	epochOpen   = "open"
	epochClosed = "closed"
)

// Compile-time check that vaultTx holds the epochs' rows.
var _ yield.EpochRowsTx = vaultTx{}

// storedEpoch is an epochs row as the vault keeps it.
func storedEpoch(row sqlc.Epoch) (yield.StoredEpoch, error) {
	e := yield.StoredEpoch{
		Number:    uint64(row.Number),
		Start:     row.StartAt.UTC(),
		End:       fromNull(row.EndAt),
		Closed:    row.State == epochClosed,
		Seconds:   uint64(row.Seconds),
		Earned:    ledger.MilliSatoshi(row.EarnedMsat),
		Fees:      ledger.MilliSatoshi(row.FeesMsat),
		Reward:    ledger.MilliSatoshi(row.RewardMsat),
		Issued:    ledger.Shares(row.IssuedShares),
		NAVAssets: ledger.MilliSatoshi(row.NavAssetsMsat),
		NAVSupply: ledger.Shares(row.NavSupplyShares),
	}
	if row.SupplyShares.Valid && row.BurnedShares.Valid {
		e.Totals = yield.ShareTotals{
			Supply: ledger.Shares(row.SupplyShares.Int64),
			Burned: ledger.Shares(row.BurnedShares.Int64),
		}
		e.TotalsKnown = true
	}
	if row.Root != "" {
		b, err := hex.DecodeString(row.Root)
		if err != nil || len(b) != chainhash.HashSize {
			return yield.StoredEpoch{}, fmt.Errorf("epoch %d: root "+
				"%q is not %d bytes of hex", row.Number, row.Root,
				chainhash.HashSize)
		}
		copy(e.Root[:], b)
	}

	return e, nil
}

// storedEpochs is storedEpoch over rows, or the error that read them.
func storedEpochs(rows []sqlc.Epoch, err error) ([]yield.StoredEpoch,
	error) {

	if err != nil {
		return nil, fmt.Errorf("epochs: %w", mapError(err))
	}
	out := make([]yield.StoredEpoch, 0, len(rows))
	for _, row := range rows {
		e, err := storedEpoch(row)
		if err != nil {
			return nil, err
		}
		out = append(out, e)
	}

	return out, nil
}

// epochNumber is n as the BIGINT column holds it; numbers past int64 are
// refused rather than wrapped.
func epochNumber(n uint64) (int64, error) {
	if n == 0 || n > math.MaxInt64 {
		return 0, fmt.Errorf("epoch number %d out of range", n)
	}

	return int64(n), nil
}

// seconds is a count of seconds as a BIGINT column holds it.
func seconds(s uint64) (int64, error) {
	if s > math.MaxInt64 {
		return 0, fmt.Errorf("%d seconds: %w", s, ledger.ErrOverflow)
	}

	return int64(s), nil
}

// OpenEpoch returns the open epoch; yield.ErrNoOpenEpoch when there is
// none.
func (v vaultTx) OpenEpoch(ctx context.Context) (yield.StoredEpoch, error) {
	row, err := v.tx.q.GetOpenEpoch(ctx)
	if errors.Is(err, sql.ErrNoRows) {
		return yield.StoredEpoch{}, fmt.Errorf("%w: %w",
			yield.ErrNoOpenEpoch, ErrNotFound)
	}
	if err != nil {
		return yield.StoredEpoch{}, fmt.Errorf("open epoch: %w",
			mapError(err))
	}

	return storedEpoch(row)
}

// InsertEpoch stores e as the open epoch, of e's Number and Start. A second
// open epoch, or a number used before, fails with ErrUniqueViolation.
func (v vaultTx) InsertEpoch(ctx context.Context, e yield.StoredEpoch) error {
	n, err := epochNumber(e.Number)
	if err != nil {
		return err
	}
	err = v.tx.q.InsertEpoch(ctx, sqlc.InsertEpochParams{
		Number:  n,
		StartAt: dbTime(e.Start),
	})
	if err != nil {
		return fmt.Errorf("insert epoch %d: %w", e.Number, mapError(err))
	}

	return nil
}

// CloseEpoch stores e's final fields; yield.ErrEpochClosed when the epoch
// is closed already, yield.ErrEpochNotFound when it was never opened.
func (v vaultTx) CloseEpoch(ctx context.Context, e yield.StoredEpoch) error {
	n, err := epochNumber(e.Number)
	if err != nil {
		return err
	}
	secs, err := seconds(e.Seconds)
	if err != nil {
		return fmt.Errorf("close epoch %d: %w", e.Number, err)
	}
	if e.End.IsZero() {
		return fmt.Errorf("close epoch %d: no end time", e.Number)
	}

	rows, err := v.tx.q.CloseEpoch(ctx, sqlc.CloseEpochParams{
		EndAt:           nullTime(e.End),
		Seconds:         secs,
		EarnedMsat:      int64(e.Earned),
		FeesMsat:        int64(e.Fees),
		RewardMsat:      int64(e.Reward),
		IssuedShares:    int64(e.Issued),
		NavAssetsMsat:   int64(e.NAVAssets),
		NavSupplyShares: int64(e.NAVSupply),
		Root:            hex.EncodeToString(e.Root[:]),
		SupplyShares: sql.NullInt64{Int64: int64(e.Totals.Supply),
			Valid: e.TotalsKnown},
		BurnedShares: sql.NullInt64{Int64: int64(e.Totals.Burned),
			Valid: e.TotalsKnown},
		Number: n,
	})
	if err != nil {
		return fmt.Errorf("close epoch %d: %w", e.Number, mapError(err))
	}
	if rows == 1 {
		return nil
	}

	// No open epoch of that number: closed already, or never opened.
	if _, err := v.Epoch(ctx, e.Number); err != nil {
		return fmt.Errorf("close epoch %d: %w", e.Number, err)
	}

	return fmt.Errorf("close epoch %d: %w: %w", e.Number,
		yield.ErrEpochClosed, ErrStale)
}

// Epoch returns the epoch; yield.ErrEpochNotFound for a number never
// opened.
func (v vaultTx) Epoch(ctx context.Context, number uint64) (
	yield.StoredEpoch, error) {

	if number == 0 || number > math.MaxInt64 {
		return yield.StoredEpoch{}, fmt.Errorf("epoch %d: %w", number,
			yield.ErrEpochNotFound)
	}
	row, err := v.tx.q.GetEpoch(ctx, int64(number))
	if errors.Is(err, sql.ErrNoRows) {
		return yield.StoredEpoch{}, fmt.Errorf("epoch %d: %w: %w",
			number, yield.ErrEpochNotFound, ErrNotFound)
	}
	if err != nil {
		return yield.StoredEpoch{}, fmt.Errorf("epoch %d: %w", number,
			mapError(err))
	}

	return storedEpoch(row)
}

// Epochs returns up to limit epochs (0: all) numbered above after, in
// number order.
func (v vaultTx) Epochs(ctx context.Context, after uint64, limit int) (
	[]yield.StoredEpoch, error) {

	if limit < 0 {
		return nil, fmt.Errorf("epochs: limit %d is negative", limit)
	}
	if after >= math.MaxInt64 {
		return nil, nil
	}
	if limit == 0 {
		return storedEpochs(v.tx.q.ListEpochs(ctx, int64(after)))
	}

	return storedEpochs(v.tx.q.ListEpochsLimit(ctx,
		sqlc.ListEpochsLimitParams{
			After:   int64(after),
			MaxRows: int32(min(limit, math.MaxInt32)),
		}))
}

// AddContribution adds c's seconds, earned and fees to the provider's
// contribution to c.Epoch. An unknown provider or epoch fails with
// ErrForeignKeyViolation.
func (v vaultTx) AddContribution(ctx context.Context,
	c yield.Contribution) error {

	n, err := epochNumber(c.Epoch)
	if err != nil {
		return err
	}
	secs, err := seconds(c.Seconds)
	if err != nil {
		return fmt.Errorf("contribution of %q to epoch %d: %w",
			c.ProviderID, c.Epoch, err)
	}
	err = v.tx.q.AddContribution(ctx, sqlc.AddContributionParams{
		Epoch:      n,
		ProviderID: c.ProviderID,
		Seconds:    secs,
		EarnedMsat: int64(c.Earned),
		FeesMsat:   int64(c.Fees),
	})
	if err != nil {
		return fmt.Errorf("contribution of %q to epoch %d: %w",
			c.ProviderID, c.Epoch, mapError(err))
	}

	return nil
}

// Contributions returns the epoch's contributions sorted by provider id in
// byte order (the order of the epoch's Merkle leaves), whatever the
// database's collation.
func (v vaultTx) Contributions(ctx context.Context, epoch uint64) (
	[]yield.Contribution, error) {

	n, err := epochNumber(epoch)
	if err != nil {
		return nil, err
	}
	rows, err := v.tx.q.ListContributions(ctx, n)
	if err != nil {
		return nil, fmt.Errorf("contributions to epoch %d: %w", epoch,
			mapError(err))
	}
	out := make([]yield.Contribution, len(rows))
	for i, r := range rows {
		out[i] = yield.Contribution{
			Epoch:      uint64(r.Epoch),
			ProviderID: r.ProviderID,
			Seconds:    uint64(r.Seconds),
			Earned:     ledger.MilliSatoshi(r.EarnedMsat),
			Fees:       ledger.MilliSatoshi(r.FeesMsat),
			Shares:     ledger.Shares(r.Shares),
		}
	}
	slices.SortFunc(out, func(a, b yield.Contribution) int {
		return cmp.Compare(a.ProviderID, b.ProviderID)
	})

	return out, nil
}

// SetContributionShares stores the shares issued for a contribution;
// ErrNotFound when the provider made none to the epoch.
func (v vaultTx) SetContributionShares(ctx context.Context, epoch uint64,
	providerID string, shares ledger.Shares) error {

	n, err := epochNumber(epoch)
	if err != nil {
		return err
	}
	rows, err := v.tx.q.SetContributionShares(ctx,
		sqlc.SetContributionSharesParams{
			Shares:     int64(shares),
			Epoch:      n,
			ProviderID: providerID,
		})
	if err != nil {
		return fmt.Errorf("shares of %q in epoch %d: %w", providerID,
			epoch, mapError(err))
	}
	if rows == 0 {
		return fmt.Errorf("shares of %q in epoch %d: no contribution: "+
			"%w", providerID, epoch, ErrNotFound)
	}

	return nil
}

// AddOpenContribution adds c's seconds, earned and fees to the provider's
// contribution to the open epoch, whatever c.Epoch says, and returns the
// open epoch's number; yield.ErrNoOpenEpoch when none is open.
func (v vaultTx) AddOpenContribution(ctx context.Context,
	c yield.Contribution) (uint64, error) {

	secs, err := seconds(c.Seconds)
	if err != nil {
		return 0, fmt.Errorf("contribution of %q to the open epoch: %w",
			c.ProviderID, err)
	}
	n, err := v.tx.q.AddOpenContribution(ctx,
		sqlc.AddOpenContributionParams{
			ProviderID: c.ProviderID,
			Seconds:    secs,
			EarnedMsat: int64(c.Earned),
			FeesMsat:   int64(c.Fees),
		})
	switch {
	case errors.Is(err, sql.ErrNoRows):
		return 0, fmt.Errorf("%w: %w", yield.ErrNoOpenEpoch,
			ErrNotFound)
	case err != nil:
		return 0, fmt.Errorf("contribution of %q to the open epoch: %w",
			c.ProviderID, mapError(err))
	case n <= 0:
		return 0, fmt.Errorf("open epoch numbered %d", n)
	}

	return uint64(n), nil
}

// ShareTotals reads the ledger's share supply and the units finalized
// redemptions burned, in one statement.
func (v vaultTx) ShareTotals(ctx context.Context) (yield.ShareTotals, error) {
	row, err := v.tx.q.GetShareTotals(ctx)
	if err != nil {
		return yield.ShareTotals{}, fmt.Errorf("share totals: %w",
			mapError(err))
	}
	if row.Supply < 0 || row.Burned < 0 {
		return yield.ShareTotals{}, fmt.Errorf("share totals: supply "+
			"%d, burned %d: negative", row.Supply, row.Burned)
	}
	return yield.ShareTotals{Supply: ledger.Shares(row.Supply),
		Burned: ledger.Shares(row.Burned)}, nil
}
