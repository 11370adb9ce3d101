package yield

import (
	"context"
	"errors"
	"fmt"
	"strconv"

	"github.com/sluice-ln/sluice/failpoint"
	"github.com/sluice-ln/sluice/ledger"
)

// The redemption queue's failpoints (package failpoint; docs/vault.md):
// inside the finalizing transaction after its writes and before its
// commit, and after the commit.
const (
	FailpointBeforeFinalize = "redeem-before-finalize"
	FailpointAfterFinalize  = "redeem-after-finalize"
)

// Redeem locks shares of the provider in a redemption request that asks
// for previewRedeem(shares) at the NAV of the moment, queues it, and then
// finalizes the queue as far as the vault can pay. The key makes it happen
// once: a second call with it returns the request the first made (stored
// with the key "<provider>:<key>"); an empty key is replaced by a random
// one.
//
// Refusals change nothing: ErrInvalidAmount for zero or negative shares,
// ErrProviderNotFound, and a *LimitError ("shares held") for more shares
// than the provider holds unlocked. A failure to finalize after the
// request was queued is logged, not returned: the request stands and the
// vault's loop finalizes it later.
func (v *Vault) Redeem(ctx context.Context, key, providerID string,
	shares ledger.Shares) (Redemption, error) {

	if shares <= 0 {
		return Redemption{}, fmt.Errorf("redeem %d units: %w", shares,
			ErrInvalidAmount)
	}
	key, err := orRandomKey(key)
	if err != nil {
		return Redemption{}, err
	}
	storedKey := providerID + ":" + key

	var (
		id        int64
		duplicate bool
	)
	err = v.store.ExecVault(ctx, false, func(tx VaultTx) error {
		id, duplicate = 0, false
		prior, err := tx.RedemptionByKey(ctx, storedKey)
		switch {
		case err == nil:
			if prior.Shares != shares {
				return fmt.Errorf("redeem %d units, first %d: %w",
					shares, prior.Shares,
					ledger.ErrIdempotencyConflict)
			}
			id, duplicate = prior.ID, true
			return nil

		case !errors.Is(err, ErrRedemptionNotFound):
			return err
		}

		ok, err := tx.ProviderExists(ctx, providerID)
		if err != nil {
			return err
		}
		if !ok {
			return fmt.Errorf("redeem for %q: %w", providerID,
				ErrProviderNotFound)
		}
		held, err := shareBalance(ctx, tx,
			ledger.ProviderShares(providerID))
		if err != nil {
			return err
		}
		if shares > held {
			return &LimitError{Limit: "shares held",
				Unit: "share units", Have: int64(held),
				Want: int64(shares)}
		}
		nav, err := v.navTx(ctx, tx)
		if err != nil {
			return err
		}
		requested, err := nav.PreviewRedeem(shares)
		if err != nil {
			return err
		}

		id, err = tx.InsertRedemption(ctx, StoredRedemption{
			Key:         storedKey,
			ProviderID:  providerID,
			Shares:      shares,
			Requested:   requested,
			State:       RedemptionPending,
			RequestedAt: v.clock.Now(),
		})
		if err != nil {
			return err
		}
		_, err = v.ledger.PostTx(ctx, tx.Ledger(), ledger.TransferShares(
			"redeem-lock:"+strconv.FormatInt(id, 10),
			"redemption "+strconv.FormatInt(id, 10)+" locks shares",
			ledger.ProviderShares(providerID),
			ledger.SharesLocked(providerID), shares))
		return err
	})
	if err != nil {
		return Redemption{}, fmt.Errorf("redeem %q: %w", key, err)
	}
	if !duplicate {
		log.Infof("Provider %s asked to redeem %v (redemption %d)",
			providerID, shares, id)
	}

	if _, err := v.FinalizeRedemptions(ctx); err != nil {
		log.Warnf("Finalizing after redemption %d: %v", id, err)
	}

	return v.redemption(ctx, id)
}

// CancelRedeem cancels a pending request and unlocks its shares (ledger
// key "redeem-cancel:<id>"). providerID is the caller's provider, "" for
// the operator, who may cancel any. Refusals change nothing:
// ErrRedemptionNotFound, ErrNotOwner for another provider's request, and
// ErrRedemptionState once it is finalized or cancelled.
func (v *Vault) CancelRedeem(ctx context.Context, providerID string,
	id int64) (Redemption, error) {

	err := v.store.ExecVault(ctx, false, func(tx VaultTx) error {
		r, err := tx.Redemption(ctx, id)
		if err != nil {
			return err
		}
		// Ownership first: another provider's request does not say
		// what state it is in.
		if providerID != "" && r.ProviderID != providerID {
			return fmt.Errorf("redemption %d of %s: %w", id,
				r.ProviderID, ErrNotOwner)
		}
		if r.State != RedemptionPending {
			return fmt.Errorf("redemption %d is %s: %w", id,
				r.State, ErrRedemptionState)
		}

		_, err = v.ledger.PostTx(ctx, tx.Ledger(), ledger.TransferShares(
			"redeem-cancel:"+strconv.FormatInt(id, 10),
			"redemption "+strconv.FormatInt(id, 10)+" cancelled",
			ledger.SharesLocked(r.ProviderID),
			ledger.ProviderShares(r.ProviderID), r.Shares))
		if err != nil {
			return err
		}
		r.State, r.CancelledAt = RedemptionCancelled, v.clock.Now()

		return tx.UpdateRedemption(ctx, RedemptionPending, r)
	})
	if err != nil {
		return Redemption{}, fmt.Errorf("cancel redemption %d: %w", id,
			err)
	}
	log.Infof("Redemption %d cancelled", id)

	return v.redemption(ctx, id)
}

// Redemptions returns the requests the filter selects, in queue order,
// each with whether it has been paid.
func (v *Vault) Redemptions(ctx context.Context, f RedemptionFilter) (
	[]Redemption, error) {

	var out []Redemption
	err := v.store.ExecVault(ctx, true, func(tx VaultTx) error {
		stored, err := tx.Redemptions(ctx, f)
		if err != nil {
			return err
		}
		out, err = withPaid(ctx, tx, stored)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("redemptions: %w", err)
	}

	return out, nil
}

// redemption reads one request with whether it has been paid.
func (v *Vault) redemption(ctx context.Context, id int64) (Redemption,
	error) {

	var out Redemption
	err := v.store.ExecVault(ctx, true, func(tx VaultTx) error {
		r, err := tx.Redemption(ctx, id)
		if err != nil {
			return err
		}
		rs, err := withPaid(ctx, tx, []StoredRedemption{r})
		if err != nil {
			return err
		}
		out = rs[0]
		return nil
	})
	if err != nil {
		return Redemption{}, fmt.Errorf("redemption %d: %w", id, err)
	}

	return out, nil
}

// withPaid marks each finalized request paid whose provider's paid-out
// total has reached its PaidMark.
func withPaid(ctx context.Context, tx VaultTx, stored []StoredRedemption) (
	[]Redemption, error) {

	paidOut := make(map[string]ledger.MilliSatoshi)
	out := make([]Redemption, len(stored))
	for i, r := range stored {
		out[i] = Redemption{StoredRedemption: r}
		if r.State != RedemptionFinalized {
			continue
		}
		paid, ok := paidOut[r.ProviderID]
		if !ok {
			var err error
			paid, err = balance(ctx, tx,
				ledger.PaidOut(r.ProviderID))
			if err != nil {
				return nil, err
			}
			paidOut[r.ProviderID] = paid
		}
		out[i].Paid = paid >= r.PaidMark
	}

	return out, nil
}

// FinalizeRedemptions finalizes pending redemptions first in, first out,
// while the vault can pay them, and returns how many it finalized. The
// head of the queue blocks those behind it: when the vault cannot pay it
// without its idle assets falling below the liquid floor, nothing behind
// it is finalized either. Each request is finalized in its own store
// transaction, once: a second finalizer finds it no longer pending.
func (v *Vault) FinalizeRedemptions(ctx context.Context) (int, error) {
	n := 0
	for {
		done, err := v.finalizeHead(ctx)
		if err != nil {
			return n, err
		}
		if !done {
			return n, nil
		}
		n++
	}
}

// finalizeHead finalizes the head of the queue when the vault can pay it,
// reporting whether it did. It pays min(Requested, toAssets(Shares) now,
// rounded down) into the provider's payable and burns the shares, in one
// ledger transaction ("redeem:<id>") with the request's change of state.
func (v *Vault) finalizeHead(ctx context.Context) (bool, error) {
	var (
		head StoredRedemption
		done bool
	)
	err := v.store.ExecVault(ctx, false, func(tx VaultTx) error {
		done = false
		pending, err := tx.Redemptions(ctx, RedemptionFilter{
			States: []RedemptionState{RedemptionPending},
		})
		if err != nil || len(pending) == 0 {
			return err
		}
		head = pending[0]

		nav, err := v.navPartsTx(ctx, tx)
		if err != nil {
			return err
		}
		pay, err := redemptionPay(nav.NAV, head)
		if err != nil {
			return err
		}
		policy, err := tx.Policy(ctx)
		if err != nil {
			return err
		}
		floor, err := floorAfter(policy.FloorBPS, nav.Assets-pay)
		if err != nil {
			return err
		}
		if nav.Idle-pay < floor {
			log.Debugf("Redemption %d waits: paying %v leaves "+
				"%v idle, below the floor of %v", head.ID, pay,
				nav.Idle-pay, floor)
			return nil
		}

		id := strconv.FormatInt(head.ID, 10)
		postings := []ledger.Posting{
			{Account: ledger.SharesLocked(head.ProviderID),
				Shares: -head.Shares},
			{Account: ledger.ShareSupply(), Shares: head.Shares},
		}
		if pay > 0 {
			postings = append(postings,
				ledger.Posting{Account: ledger.Vault(),
					Amount: -pay},
				ledger.Posting{Account: ledger.ProviderPayable(
					head.ProviderID), Amount: pay})
		}
		_, err = v.ledger.PostTx(ctx, tx.Ledger(), ledger.Transaction{
			IdempotencyKey: "redeem:" + id,
			Description:    "redemption " + id + " finalized",
			Postings:       postings,
		})
		if err != nil {
			return err
		}

		// The request is paid once the provider's node has received its
		// assets beyond what it had been paid and had in flight: money
		// is fungible, so the next payouts that carry that much carry
		// it, whatever payable below the payout minimum stays behind.
		owed, _, err := balances(ctx, tx,
			ledger.PaidOut(head.ProviderID),
			ledger.PayoutInFlight(head.ProviderID))
		if err != nil {
			return err
		}
		mark := pay
		for _, b := range owed {
			if mark, err = mark.Add(b); err != nil {
				return err
			}
		}

		head.State = RedemptionFinalized
		head.FinalizedAt = v.clock.Now()
		head.Assets = pay
		head.PaidMark = mark
		if err := tx.UpdateRedemption(ctx, RedemptionPending,
			head); err != nil {

			return err
		}
		failpoint.Hit(FailpointBeforeFinalize)
		done = true

		return nil
	})
	if err != nil {
		return false, fmt.Errorf("finalizing redemption %d: %w",
			head.ID, err)
	}
	if !done {
		return false, nil
	}
	failpoint.Hit(FailpointAfterFinalize)
	log.Infof("Redemption %d finalized: %v burnt, %v to %s's payable",
		head.ID, head.Shares, head.Assets, head.ProviderID)

	return true, nil
}

// redemptionPay is what finalizing r pays at nav: what it asked for, or
// less when its shares are worth less now (a loss since it was made), so
// that the holders who stay never pay for a redemption.
func redemptionPay(nav NAV, r StoredRedemption) (ledger.MilliSatoshi,
	error) {

	now, err := nav.ToAssets(r.Shares, Floor)
	if err != nil {
		return 0, err
	}

	return min(r.Requested, now), nil
}

// floorAfter is the liquid floor of a vault with assets:
// ceil(floorBPS·assets/10,000).
func floorAfter(floorBPS uint32, assets ledger.MilliSatoshi) (
	ledger.MilliSatoshi, error) {

	if assets <= 0 || floorBPS == 0 {
		return 0, nil
	}
	f, err := MulDiv(uint64(assets), uint64(floorBPS), 10_000, Ceil)
	if err != nil {
		return 0, fmt.Errorf("liquid floor: %w", err)
	}

	return ledger.MilliSatoshi(f), nil
}
