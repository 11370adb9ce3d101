package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/sluice-ln/sluice/ledger"
	"github.com/sluice-ln/sluice/store/sqlc"
	"github.com/sluice-ln/sluice/yield"
)

// The vault's own rows (yield.VaultRowsTx): its policy and caps, each
// provider's auto-stake percent and the redemption queue. Package yield
// owns what they mean and checks it before writing; the store converts
// and maps its errors to yield's sentinels where the contract names one.

// Policy returns the stored policy with its caps, or the zero Policy when
// none was ever set.
func (v vaultTx) Policy(ctx context.Context) (yield.Policy, error) {
	if p, ok := v.tx.memoPolicy(); ok {
		return p, nil
	}
	row, err := v.tx.q.GetVaultPolicy(ctx)
	switch {
	case errors.Is(err, sql.ErrNoRows):
		v.tx.keepPolicy(yield.Policy{})
		return yield.Policy{}, nil

	case err != nil:
		return yield.Policy{}, fmt.Errorf("vault policy: %w",
			mapError(err))
	}
	caps, err := v.tx.q.ListVaultCaps(ctx)
	if err != nil {
		return yield.Policy{}, fmt.Errorf("vault caps: %w",
			mapError(err))
	}
	p := yield.Policy{
		FloorBPS:  uint32(row.FloorBps),
		Shutdown:  row.Shutdown,
		UpdatedAt: row.UpdatedAt.UTC(),
	}
	if len(caps) > 0 {
		p.Caps = make(map[string]ledger.MilliSatoshi, len(caps))
		for _, c := range caps {
			p.Caps[c.Strategy] = ledger.MilliSatoshi(c.CapMsat)
		}
	}
	v.tx.keepPolicy(p)

	return p, nil
}

// PutPolicy replaces the stored policy and its caps whole.
func (v vaultTx) PutPolicy(ctx context.Context, p yield.Policy) error {
	v.tx.forgetPolicy()
	err := v.tx.q.UpsertVaultPolicy(ctx, sqlc.UpsertVaultPolicyParams{
		FloorBps:  int64(p.FloorBPS),
		Shutdown:  p.Shutdown,
		UpdatedAt: dbTime(p.UpdatedAt),
	})
	if err != nil {
		return fmt.Errorf("put vault policy: %w", mapError(err))
	}
	if err := v.tx.q.DeleteVaultCaps(ctx); err != nil {
		return fmt.Errorf("put vault caps: %w", mapError(err))
	}
	for name, c := range p.Caps {
		err := v.tx.q.InsertVaultCap(ctx, sqlc.InsertVaultCapParams{
			Strategy: name,
			CapMsat:  int64(c),
		})
		if err != nil {
			return fmt.Errorf("put vault cap of %q: %w", name,
				mapError(err))
		}
	}

	return nil
}

// AutoStake returns the provider's auto-stake percent, 0 when never set.
func (v vaultTx) AutoStake(ctx context.Context, providerID string) (uint32,
	error) {

	if pct, ok := v.tx.memoAutoStake(providerID); ok {
		return pct, nil
	}
	pct, err := v.tx.q.GetAutoStake(ctx, providerID)
	switch {
	case errors.Is(err, sql.ErrNoRows):
		v.tx.keepAutoStake(providerID, 0)
		return 0, nil

	case err != nil:
		return 0, fmt.Errorf("auto-stake of %s: %w", providerID,
			mapError(err))
	}
	v.tx.keepAutoStake(providerID, uint32(pct))

	return uint32(pct), nil
}

// SetAutoStake stores the provider's auto-stake percent; an unknown
// provider is yield.ErrProviderNotFound.
func (v vaultTx) SetAutoStake(ctx context.Context, providerID string,
	percent uint32, at time.Time) error {

	v.tx.forgetAutoStake(providerID)
	err := v.tx.q.UpsertAutoStake(ctx, sqlc.UpsertAutoStakeParams{
		ProviderID: providerID,
		Percent:    int64(percent),
		UpdatedAt:  dbTime(at),
	})
	err = mapError(err)
	switch {
	case errors.Is(err, ErrForeignKeyViolation):
		return fmt.Errorf("auto-stake of %s: %w: %w", providerID,
			yield.ErrProviderNotFound, err)

	case err != nil:
		return fmt.Errorf("auto-stake of %s: %w", providerID, err)
	}

	return nil
}

// InsertRedemption stores a new request and returns its id; a key stored
// already is yield.ErrKeyExists, an unknown provider
// yield.ErrProviderNotFound.
func (v vaultTx) InsertRedemption(ctx context.Context,
	r yield.StoredRedemption) (int64, error) {

	id, err := v.tx.q.InsertRedemption(ctx, sqlc.InsertRedemptionParams{
		Key:           r.Key,
		ProviderID:    r.ProviderID,
		Shares:        int64(r.Shares),
		RequestedMsat: int64(r.Requested),
		State:         string(r.State),
		RequestedAt:   dbTime(r.RequestedAt),
	})
	err = mapError(err)
	switch {
	case errors.Is(err, ErrUniqueViolation):
		return 0, fmt.Errorf("redemption %q: %w: %w", r.Key,
			yield.ErrKeyExists, err)

	case errors.Is(err, ErrForeignKeyViolation):
		return 0, fmt.Errorf("redemption %q: %w: %w", r.Key,
			yield.ErrProviderNotFound, err)

	case err != nil:
		return 0, fmt.Errorf("redemption %q: %w", r.Key, err)
	}

	return id, nil
}

// Redemption returns the request with the id; none is
// yield.ErrRedemptionNotFound.
func (v vaultTx) Redemption(ctx context.Context, id int64) (
	yield.StoredRedemption, error) {

	row, err := v.tx.q.GetRedemption(ctx, id)
	if err != nil {
		return yield.StoredRedemption{}, redemptionNotFound(err,
			fmt.Sprintf("redemption %d", id))
	}

	return storedRedemption(row), nil
}

// RedemptionByKey returns the request stored with the key; none is
// yield.ErrRedemptionNotFound.
func (v vaultTx) RedemptionByKey(ctx context.Context, key string) (
	yield.StoredRedemption, error) {

	row, err := v.tx.q.GetRedemptionByKey(ctx, key)
	if err != nil {
		return yield.StoredRedemption{}, redemptionNotFound(err,
			fmt.Sprintf("redemption %q", key))
	}

	return storedRedemption(row), nil
}

// Redemptions returns the requests the filter selects, in id order. One
// state or none is selected by the query, several in Go.
func (v vaultTx) Redemptions(ctx context.Context,
	f yield.RedemptionFilter) ([]yield.StoredRedemption, error) {

	params := sqlc.ListRedemptionsParams{ProviderID: f.ProviderID}
	if len(f.States) == 1 {
		params.State = string(f.States[0])
	}
	rows, err := v.tx.q.ListRedemptions(ctx, params)
	if err != nil {
		return nil, fmt.Errorf("redemptions: %w", mapError(err))
	}
	want := make(map[yield.RedemptionState]bool, len(f.States))
	for _, s := range f.States {
		want[s] = true
	}
	var out []yield.StoredRedemption
	for _, row := range rows {
		r := storedRedemption(row)
		if len(want) > 0 && !want[r.State] {
			continue
		}
		out = append(out, r)
	}

	return out, nil
}

// UpdateRedemption stores r's state and the fields it sets, only while the
// stored state is from: otherwise yield.ErrRedemptionState, or
// yield.ErrRedemptionNotFound when there is no such request.
func (v vaultTx) UpdateRedemption(ctx context.Context,
	from yield.RedemptionState, r yield.StoredRedemption) error {

	n, err := v.tx.q.UpdateRedemption(ctx, sqlc.UpdateRedemptionParams{
		ID:           r.ID,
		FromState:    string(from),
		State:        string(r.State),
		FinalizedAt:  nullTime(r.FinalizedAt),
		AssetsMsat:   int64(r.Assets),
		PaidMarkMsat: int64(r.PaidMark),
		CancelledAt:  nullTime(r.CancelledAt),
	})
	if err != nil {
		return fmt.Errorf("update redemption %d: %w", r.ID,
			mapError(err))
	}
	if n == 1 {
		return nil
	}
	if _, err := v.Redemption(ctx, r.ID); err != nil {
		return err
	}

	return fmt.Errorf("redemption %d is not %s: %w", r.ID, from,
		yield.ErrRedemptionState)
}

// redemptionNotFound is notFound with yield's sentinel for a missing row.
func redemptionNotFound(err error, what string) error {
	if errors.Is(err, sql.ErrNoRows) {
		return fmt.Errorf("%s: %w: %w", what,
			yield.ErrRedemptionNotFound, ErrNotFound)
	}

	return fmt.Errorf("%s: %w", what, mapError(err))
}

// storedRedemption is a redemptions row as the vault keeps it.
func storedRedemption(row sqlc.Redemption) yield.StoredRedemption {
	return yield.StoredRedemption{
		ID:          row.ID,
		Key:         row.Key,
		ProviderID:  row.ProviderID,
		Shares:      ledger.Shares(row.Shares),
		Requested:   ledger.MilliSatoshi(row.RequestedMsat),
		State:       yield.RedemptionState(row.State),
		RequestedAt: row.RequestedAt.UTC(),
		FinalizedAt: fromNull(row.FinalizedAt),
		Assets:      ledger.MilliSatoshi(row.AssetsMsat),
		PaidMark:    ledger.MilliSatoshi(row.PaidMarkMsat),
		CancelledAt: fromNull(row.CancelledAt),
	}
}
