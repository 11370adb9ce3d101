package yield

import (
	"context"
	"errors"
	"fmt"

	"github.com/sluice-ln/sluice/ledger"
)

// balances reads the accounts' balances inside tx: an msat account's in
// msat, a share account's in share units, zero for one never posted to.
// Both maps are keyed by account; each account is in the map of its unit.
func balances(ctx context.Context, tx VaultTx, accts ...ledger.Account) (
	map[ledger.Account]ledger.MilliSatoshi,
	map[ledger.Account]ledger.Shares, error) {

	states, err := tx.Ledger().Accounts(ctx, accts)
	if err != nil {
		return nil, nil, fmt.Errorf("reading balances: %w", err)
	}
	msat := make(map[ledger.Account]ledger.MilliSatoshi, len(accts))
	shares := make(map[ledger.Account]ledger.Shares, len(accts))
	for _, a := range accts {
		st, ok := states[a]
		if !ok {
			st = ledger.AccountState{Account: a,
				Unit: a.Kind.Unit()}
		}
		if err := st.CheckUnit(); err != nil {
			return nil, nil, err
		}
		switch a.Kind.Unit() {
		case ledger.UnitShares:
			shares[a] = st.Shares

		default:
			msat[a] = st.Balance
		}
	}

	return msat, shares, nil
}

// balance reads one msat account's balance inside tx.
func balance(ctx context.Context, tx VaultTx, a ledger.Account) (
	ledger.MilliSatoshi, error) {

	msat, _, err := balances(ctx, tx, a)
	if err != nil {
		return 0, err
	}

	return msat[a], nil
}

// shareBalance reads one share account's balance inside tx.
func shareBalance(ctx context.Context, tx VaultTx, a ledger.Account) (
	ledger.Shares, error) {

	_, shares, err := balances(ctx, tx, a)
	if err != nil {
		return 0, err
	}

	return shares[a], nil
}

// navParts is the vault's NAV with its assets split into the idle part
// (the vault account) and the allocated part (every strategy's principal).
type navParts struct {
	NAV
	Idle      ledger.MilliSatoshi
	Allocated ledger.MilliSatoshi
}

// navTx reads the vault's NAV inside tx, so that whatever acts on it in
// the same transaction prices at the figures it changes: A is the idle
// vault plus every strategy's principal, S the negated share supply
// balance (locked shares included: they are burnt only when their
// redemption is finalized).
func (v *Vault) navTx(ctx context.Context, tx VaultTx) (NAV, error) {
	p, err := v.navPartsTx(ctx, tx)
	if err != nil {
		return NAV{}, err
	}

	return p.NAV, nil
}

// navPartsTx is navTx with the split of the assets.
func (v *Vault) navPartsTx(ctx context.Context, tx VaultTx) (navParts,
	error) {

	return v.navPartsWith(ctx, tx)
}

// navPartsWith is navPartsTx reading also the accounts named, in the same
// read: a deposit names the accounts it is about to post to, so that the
// store, which remembers what a transaction read in metering's group
// commit, does not read them again.
func (v *Vault) navPartsWith(ctx context.Context, tx VaultTx,
	also ...ledger.Account) (navParts, error) {

	accts := append([]ledger.Account{ledger.Vault(), ledger.ShareSupply()},
		also...)
	msat, shares, err := balances(ctx, tx, accts...)
	if err != nil {
		return navParts{}, fmt.Errorf("vault NAV: %w", err)
	}
	allocated, err := tx.AllocatedTotal(ctx)
	if err != nil {
		return navParts{}, fmt.Errorf("vault NAV: allocated: %w", err)
	}
	idle := msat[ledger.Vault()]
	assets, err := idle.Add(allocated)
	if err != nil {
		return navParts{}, fmt.Errorf("vault NAV: %w", err)
	}
	supply, err := shares[ledger.ShareSupply()].Neg()
	if err != nil {
		return navParts{}, fmt.Errorf("vault NAV: %w", err)
	}
	nav := NAV{Assets: assets, Supply: supply}
	if err := nav.check(); err != nil {
		return navParts{}, fmt.Errorf("vault NAV: %w", err)
	}

	return navParts{NAV: nav, Idle: idle, Allocated: allocated}, nil
}

// deposit moves amt from the account from into the vault and issues its
// shares to the provider, in one ledger transaction with the key, at the
// NAV read in tx. It returns the shares issued and whether the key had
// been posted before (nothing moved now; the same key for another amount
// or provider is ledger.ErrIdempotencyConflict). A deposit too small to buy one
// share unit is refused with a *LimitError ("one share unit"); one while
// the vault is shut down with ErrShutdown.
//
// A replay answers with what the first post moved, whatever the NAV (and
// so the shares the amount buys), the policy or the balances are now. The
// key is looked up only when the deposit cannot be made as it stands or
// the ledger finds the key taken, so that a first deposit, the usual case
// (every auto-stake), costs no lookup.
func (v *Vault) deposit(ctx context.Context, tx VaultTx, key string,
	from ledger.Account, amt ledger.MilliSatoshi, providerID string,
	description string) (StakeResult, error) {

	if amt <= 0 {
		return StakeResult{}, fmt.Errorf("deposit of %v: %w", amt,
			ErrInvalidAmount)
	}

	policy, err := tx.Policy(ctx)
	if err != nil {
		return replayedDeposit(ctx, tx, key, amt, providerID,
			fmt.Errorf("vault policy: %w", err))
	}
	if policy.Shutdown {
		return replayedDeposit(ctx, tx, key, amt, providerID,
			ErrShutdown)
	}

	parts, err := v.navPartsWith(ctx, tx, from,
		ledger.ProviderShares(providerID))
	if err != nil {
		return replayedDeposit(ctx, tx, key, amt, providerID, err)
	}
	nav := parts.NAV
	shares, err := nav.PreviewDeposit(amt)
	if err != nil {
		return replayedDeposit(ctx, tx, key, amt, providerID,
			fmt.Errorf("deposit of %v: %w", amt, err))
	}
	if shares == 0 {
		// The least that buys one unit is what one unit costs,
		// rounded up.
		least, err := nav.PreviewMint(1)
		if err != nil {
			return replayedDeposit(ctx, tx, key, amt, providerID,
				err)
		}

		return replayedDeposit(ctx, tx, key, amt, providerID,
			&LimitError{Limit: limitOneUnit, Unit: "msat",
				Have: int64(least), Want: int64(amt)})
	}
	r, err := v.ledger.PostTx(ctx, tx.Ledger(), ledger.Transaction{
		IdempotencyKey: key,
		Description:    description,
		Postings: []ledger.Posting{
			{Account: from, Amount: -amt},
			{Account: ledger.Vault(), Amount: amt},
			{Account: ledger.ShareSupply(), Shares: -shares},
			{Account: ledger.ProviderShares(providerID),
				Shares: shares},
		},
	})
	switch {
	case errors.Is(err, ledger.ErrIdempotencyConflict):
		// Posted before at another NAV: a replay, unless the amount
		// or the provider differ.
		return replayedDeposit(ctx, tx, key, amt, providerID, err)

	case err != nil:
		return StakeResult{}, err

	case r.Duplicate:
		return replayedDeposit(ctx, tx, key, amt, providerID, nil)
	}

	return StakeResult{Assets: amt, Shares: shares}, nil
}

// replayedDeposit answers a deposit of amt under key that could not be
// made now (failed with err) or that the ledger found posted: with what
// the first post of the key moved, Duplicate set, when the key was posted
// before (ledger.ErrIdempotencyConflict when that was for another amount
// or provider); with err when it was not.
func replayedDeposit(ctx context.Context, tx VaultTx, key string,
	amt ledger.MilliSatoshi, providerID string, err error) (StakeResult,
	error) {

	prior, lookErr := tx.Ledger().TransactionByKey(ctx, key)
	switch {
	case errors.Is(lookErr, ledger.ErrNotFound):
		if err == nil {
			err = fmt.Errorf("deposit %q: the ledger found it "+
				"posted and then not", key)
		}
		return StakeResult{}, err

	case lookErr != nil:
		return StakeResult{}, fmt.Errorf("deposit %q: %w", key, lookErr)
	}

	r := replayedStake(prior, providerID)
	if r.Assets != amt || r.Shares <= 0 {
		return StakeResult{}, fmt.Errorf("deposit %q of %v: %w", key, amt,
			ledger.ErrIdempotencyConflict)
	}

	return r, nil
}

// replayedStake is what a deposit posted as prior moved: the msat into the
// vault and the shares issued to the provider.
func replayedStake(prior ledger.StoredTx, providerID string) StakeResult {
	r := StakeResult{Duplicate: true}
	for _, p := range prior.Transaction.Postings {
		switch p.Account {
		case ledger.Vault():
			r.Assets += p.Amount

		case ledger.ProviderShares(providerID):
			r.Shares += p.Shares
		}
	}

	return r
}
