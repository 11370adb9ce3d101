package yield

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"

	"github.com/sluice-ln/sluice/ledger"
)

// limitOneUnit names the limit of a deposit too small to buy one share
// unit.
const limitOneUnit = "one share unit"

// Stake moves amount of the provider's payable into the vault, or with all
// the whole payable, and issues it shares at the NAV of the moment. The
// key makes it happen once: a second call with it returns what the first
// moved, Duplicate set (the ledger key is "stake:<provider>:<key>"); an
// empty key is replaced by a random one.
//
// Refusals change nothing: ErrInvalidAmount for a zero or negative amount
// or all of an empty payable, ErrProviderNotFound, ErrShutdown, and a
// *LimitError for more than the payable ("payable") or an amount too small
// to buy one share unit ("one share unit").
func (v *Vault) Stake(ctx context.Context, key, providerID string,
	amount ledger.MilliSatoshi, all bool) (StakeResult, error) {

	if !all && amount <= 0 {
		return StakeResult{}, fmt.Errorf("stake of %v: %w", amount,
			ErrInvalidAmount)
	}
	key, err := orRandomKey(key)
	if err != nil {
		return StakeResult{}, err
	}
	ledgerKey := "stake:" + providerID + ":" + key

	var res StakeResult
	err = v.store.ExecVault(ctx, false, func(tx VaultTx) error {
		ok, err := tx.ProviderExists(ctx, providerID)
		if err != nil {
			return err
		}
		if !ok {
			return fmt.Errorf("stake for %q: %w", providerID,
				ErrProviderNotFound)
		}

		// A replay answers with what the first call moved, before
		// the payable's limit, which that call has since lowered.
		prior, err := tx.Ledger().TransactionByKey(ctx, ledgerKey)
		switch {
		case err == nil:
			res = replayedStake(prior, providerID)
			if !all && res.Assets != amount {
				return fmt.Errorf("stake of %v, first of %v: "+
					"%w", amount, res.Assets,
					ledger.ErrIdempotencyConflict)
			}
			return nil

		case !errors.Is(err, ledger.ErrNotFound):
			return err
		}

		payable, err := balance(ctx, tx,
			ledger.ProviderPayable(providerID))
		if err != nil {
			return err
		}
		amt := amount
		if all {
			amt = payable
			if amt <= 0 {
				return fmt.Errorf("stake of all of %s's "+
					"payable: it is %v: %w", providerID,
					payable, ErrInvalidAmount)
			}
		}
		if amt > payable {
			return &LimitError{Limit: "payable", Unit: "msat",
				Have: int64(payable), Want: int64(amt)}
		}

		res, err = v.deposit(ctx, tx, ledgerKey,
			ledger.ProviderPayable(providerID), amt, providerID,
			"stake of "+providerID)
		return err
	})
	if err != nil {
		return StakeResult{}, fmt.Errorf("stake %q: %w", key, err)
	}
	if !res.Duplicate {
		log.Infof("Provider %s staked %v for %v", providerID,
			res.Assets, res.Shares)
	}

	return res, nil
}

// SetAutoStake sets the part of each metered second's earnings, in
// percent, that the provider stakes before payouts see it:
// ErrInvalidPercent above 100, ErrProviderNotFound for an unknown
// provider.
func (v *Vault) SetAutoStake(ctx context.Context, providerID string,
	percent uint32) error {

	if percent > 100 {
		return fmt.Errorf("auto-stake of %d %%: %w", percent,
			ErrInvalidPercent)
	}
	err := v.store.ExecVault(ctx, false, func(tx VaultTx) error {
		ok, err := tx.ProviderExists(ctx, providerID)
		if err != nil {
			return err
		}
		if !ok {
			return fmt.Errorf("auto-stake for %q: %w", providerID,
				ErrProviderNotFound)
		}

		return tx.SetAutoStake(ctx, providerID, percent,
			v.clock.Now())
	})
	if err != nil {
		return err
	}
	log.Infof("Provider %s auto-stakes %d %%", providerID, percent)

	return nil
}

// AutoStakeKeyPrefix begins the ledger key of every auto-stake: the key is
// the prefix and the usage charge's key
// ("autostake:usage:<job>:<first>-<last>"), which makes the auto-stake of
// a charge happen once and lets a job's auto-stakes be found by key.
const AutoStakeKeyPrefix = "autostake:"

// autoStake stakes the provider's auto-stake part of an earning,
// floor(Earned·percent/100), from its payable, in metering's transaction
// and with the key AutoStakeKeyPrefix + the usage key, so that payouts never see
// it. Nothing is staked while the vault is shut down, and a part too small
// to buy one share unit stays payable: neither fails the charge.
func (v *Vault) autoStake(ctx context.Context, tx VaultTx, e Earning) error {
	if e.Earned <= 0 {
		return nil
	}
	pct, err := tx.AutoStake(ctx, e.ProviderID)
	if err != nil || pct == 0 {
		return err
	}
	part, err := MulDiv(uint64(e.Earned), uint64(pct), 100, Floor)
	if err != nil {
		return err
	}
	if part == 0 {
		return nil
	}

	res, err := v.deposit(ctx, tx, AutoStakeKeyPrefix+e.Key,
		ledger.ProviderPayable(e.ProviderID),
		ledger.MilliSatoshi(part), e.ProviderID,
		"auto-stake of "+e.ProviderID)
	var limit *LimitError
	switch {
	case errors.Is(err, ErrShutdown):
		// The deposit read the policy: nothing is staked while the
		// vault is shut down.
		return nil

	case errors.As(err, &limit) && limit.Limit == limitOneUnit:
		log.Debugf("Auto-stake of %v for %s buys no share unit, "+
			"left payable", ledger.MilliSatoshi(part), e.ProviderID)
		return nil

	case err != nil:
		return err
	}
	log.Debugf("Provider %s auto-staked %v of %v for %v", e.ProviderID,
		res.Assets, e.Earned, res.Shares)

	return nil
}

// orRandomKey returns key, or a random one when it is empty.
func orRandomKey(key string) (string, error) {
	if key != "" {
		return key, nil
	}
	var b [16]byte
	if _, err := rand.Read(b[:]); err != nil {
		return "", fmt.Errorf("idempotency key: %w", err)
	}

	return hex.EncodeToString(b[:]), nil
}
