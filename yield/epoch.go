package yield

import (
	"context"
	"errors"
	"fmt"
	"math/bits"
	"time"

	"github.com/sluice-ln/sluice/failpoint"
	"github.com/sluice-ln/sluice/ledger"
)

// The epoch close's failpoints (package failpoint), named in docs/vault.md
// with what a crash at each must leave behind.
const (
	// FailpointEpochBeforeClose fires inside the close's store
	// transaction, after every write and before the commit: a crash
	// there leaves the epoch open and nothing moved, and the next tick
	// closes it.
	FailpointEpochBeforeClose = "epoch-before-close"

	// FailpointEpochAfterClose fires after the close committed: a crash
	// there leaves the epoch closed, its reward issued and the next epoch
	// open, and the next tick finds nothing due.
	FailpointEpochAfterClose = "epoch-after-close"
)

// rewardKey is the ledger idempotency key of epoch n's reward.
func rewardKey(n uint64) string {
	return fmt.Sprintf("epoch:%d:reward", n)
}

// contribute adds the earning to the open epoch's contribution of its
// provider, in tx, opening epoch 1 now when no epoch was ever opened.
func (v *Vault) contribute(ctx context.Context, tx VaultTx, e Earning) error {
	if e.Earned < 0 || e.Fee < 0 {
		return fmt.Errorf("earned %v, fee %v: %w", e.Earned, e.Fee,
			ErrNegative)
	}

	c := Contribution{
		ProviderID: e.ProviderID,
		Seconds:    e.Seconds,
		Earned:     e.Earned,
		Fees:       e.Fee,
	}
	_, err := tx.AddOpenContribution(ctx, c)
	if !errors.Is(err, ErrNoOpenEpoch) {
		return err
	}

	// The first charge ever opens the first epoch: its window starts
	// with the work it rewards.
	open := StoredEpoch{Number: 1, Start: v.clock.Now()}
	if err := tx.InsertEpoch(ctx, open); err != nil {
		return fmt.Errorf("opening epoch 1: %w", err)
	}
	log.Infof("Opened reward epoch 1 at %v", open.Start)
	c.Epoch = open.Number

	return tx.AddContribution(ctx, c)
}

// due returns when the epoch may close.
func (v *Vault) due(e StoredEpoch) time.Time {
	return e.Start.Add(v.cfg.Epoch)
}

// CloseDueEpoch closes the open epoch when it is due (the clock is at or
// past its start plus Config.Epoch) and opens the next, returning the
// closed epoch and true; false, with nothing done, when no epoch is open
// or the open one is not due. The close is one store transaction: the
// epoch's reward moves from platform fees into the vault and buys share
// units at the NAV before it, apportioned to the epoch's contributors by
// what they earned; the contributions get their shares, the epoch its
// totals and Merkle root, and the next epoch opens where this one ends.
// Any number of closers may race: the store lets one close the epoch, and
// the others find the next one not due, so an epoch is rewarded once.
//
// After a close it finalizes what redemptions the reward lets it pay; that
// finalization's error is logged, not returned, since the close stands.
func (v *Vault) CloseDueEpoch(ctx context.Context) (StoredEpoch, bool,
	error) {

	now := v.clock.Now()

	var closed StoredEpoch
	var done bool
	err := v.store.ExecVault(ctx, false, func(tx VaultTx) error {
		closed, done = StoredEpoch{}, false

		open, err := tx.OpenEpoch(ctx)
		switch {
		case errors.Is(err, ErrNoOpenEpoch):
			return nil

		case err != nil:
			return err
		}
		if now.Before(v.due(open)) {
			return nil
		}

		closed, err = v.closeEpoch(ctx, tx, open, now)
		if err != nil {
			return fmt.Errorf("closing epoch %d: %w", open.Number,
				err)
		}
		failpoint.Hit(FailpointEpochBeforeClose)
		done = true

		return nil
	})
	switch {
	case errors.Is(err, ErrEpochClosed):
		// Another closer got there first.
		return StoredEpoch{}, false, nil

	case err != nil:
		return StoredEpoch{}, false, err

	case !done:
		return StoredEpoch{}, false, nil
	}
	failpoint.Hit(FailpointEpochAfterClose)

	log.Infof("Closed reward epoch %d [%v, %v): fees %v, reward %v, "+
		"%v issued", closed.Number, closed.Start, closed.End,
		closed.Fees, closed.Reward, closed.Issued)

	if _, err := v.FinalizeRedemptions(ctx); err != nil {
		log.Warnf("Finalizing redemptions after epoch %d: %v",
			closed.Number, err)
	}

	return closed, true, nil
}

// closeEpoch closes open in tx at now, as planClose says, and opens the
// next epoch.
func (v *Vault) closeEpoch(ctx context.Context, tx VaultTx,
	open StoredEpoch, now time.Time) (StoredEpoch, error) {

	contributions, err := tx.Contributions(ctx, open.Number)
	if err != nil {
		return StoredEpoch{}, err
	}
	policy, err := tx.Policy(ctx)
	if err != nil {
		return StoredEpoch{}, fmt.Errorf("vault policy: %w", err)
	}
	nav, err := v.navTx(ctx, tx)
	if err != nil {
		return StoredEpoch{}, err
	}
	fees, err := tx.Ledger().Accounts(ctx,
		[]ledger.Account{ledger.PlatformFees()})
	if err != nil {
		return StoredEpoch{}, fmt.Errorf("platform fees: %w", err)
	}
	held := fees[ledger.PlatformFees()]
	if err := held.CheckUnit(); err != nil {
		return StoredEpoch{}, err
	}

	plan, err := planClose(closeInput{
		Open:          open,
		Contributions: contributions,
		FeesHeld:      held.Balance,
		NAV:           nav,
		Shutdown:      policy.Shutdown,
		RewardPPM:     v.cfg.RewardPPM,
		Now:           now,
	})
	if err != nil {
		return StoredEpoch{}, err
	}

	if plan.Reward != nil {
		_, err := v.ledger.PostTx(ctx, tx.Ledger(), *plan.Reward)
		if err != nil {
			return StoredEpoch{}, err
		}
	}
	for _, c := range plan.Contributions {
		if c.Shares == 0 {
			continue
		}
		err := tx.SetContributionShares(ctx, c.Epoch, c.ProviderID,
			c.Shares)
		if err != nil {
			return StoredEpoch{}, err
		}
	}
	// The totals after the reward's shares: what the epoch's tranche of
	// the share asset brings tapd's supply to (package shares).
	plan.Epoch.Totals, err = tx.ShareTotals(ctx)
	if err != nil {
		return StoredEpoch{}, fmt.Errorf("share totals: %w", err)
	}
	plan.Epoch.TotalsKnown = true
	if err := tx.CloseEpoch(ctx, plan.Epoch); err != nil {
		return StoredEpoch{}, err
	}
	err = tx.InsertEpoch(ctx, StoredEpoch{Number: open.Number + 1,
		Start: plan.Epoch.End})
	if err != nil {
		return StoredEpoch{}, fmt.Errorf("opening epoch %d: %w",
			open.Number+1, err)
	}

	return plan.Epoch, nil
}

// closeInput is what closing an epoch reads, all in the close's
// transaction.
type closeInput struct {
	// Open is the epoch to close, and Contributions its contributions.
	Open          StoredEpoch
	Contributions []Contribution

	// FeesHeld is the platform fees account's balance: the most the
	// reward can take.
	FeesHeld ledger.MilliSatoshi

	// NAV is the vault before the reward.
	NAV NAV

	// Shutdown is the policy's: a shut-down vault issues no reward.
	Shutdown bool

	RewardPPM uint32
	Now       time.Time
}

// closePlan is what closing an epoch does.
type closePlan struct {
	// Epoch is the epoch closed, with its final fields.
	Epoch StoredEpoch

	// Contributions are the epoch's, in provider order, each with the
	// shares it was issued.
	Contributions []Contribution

	// Reward is the ledger transaction of the reward; nil when the epoch
	// issues nothing.
	Reward *ledger.Transaction
}

// planClose decides an epoch's close without doing it: the reward is
// RewardPPM of the epoch's fees, rounded down and at most what platform
// fees hold; it buys PreviewDeposit(reward) share units at the NAV before
// it, which Apportion splits by what each contributor earned. An epoch
// with no contributions, no earnings, a reward that buys no unit, or in a
// shut-down vault issues nothing and moves nothing: its fees stay with the
// platform.
func planClose(in closeInput) (closePlan, error) {
	e := in.Open
	e.End = in.Now
	e.Closed = true
	e.NAVAssets, e.NAVSupply = in.NAV.Assets, in.NAV.Supply
	if e.End.Before(e.Start) {
		return closePlan{}, fmt.Errorf("epoch %d ends at %v, before "+
			"its start %v", e.Number, e.End, e.Start)
	}

	var err error
	e.Seconds, e.Earned, e.Fees = 0, 0, 0
	for _, c := range in.Contributions {
		var carry uint64
		e.Seconds, carry = bits.Add64(e.Seconds, c.Seconds, 0)
		if carry != 0 {
			return closePlan{}, fmt.Errorf("epoch %d seconds: %w",
				e.Number, ErrOverflow)
		}
		if e.Earned, err = e.Earned.Add(c.Earned); err != nil {
			return closePlan{}, fmt.Errorf("epoch %d earned: %w",
				e.Number, err)
		}
		if e.Fees, err = e.Fees.Add(c.Fees); err != nil {
			return closePlan{}, fmt.Errorf("epoch %d fees: %w",
				e.Number, err)
		}
	}

	reward, err := e.Fees.PPM(int64(in.RewardPPM))
	if err != nil {
		return closePlan{}, fmt.Errorf("epoch %d reward: %w", e.Number,
			err)
	}
	reward = max(min(reward, in.FeesHeld), 0)
	issued, err := in.NAV.PreviewDeposit(reward)
	if err != nil {
		return closePlan{}, fmt.Errorf("epoch %d reward of %v: %w",
			e.Number, reward, err)
	}
	if len(in.Contributions) == 0 || e.Earned == 0 || issued == 0 ||
		in.Shutdown {

		reward, issued = 0, 0
	}
	e.Reward, e.Issued = reward, issued

	weights := make([]Weight, len(in.Contributions))
	for i, c := range in.Contributions {
		weights[i] = Weight{ID: c.ProviderID, Earned: c.Earned}
	}
	shares, err := Apportion(issued, weights)
	if err != nil {
		return closePlan{}, fmt.Errorf("epoch %d: %w", e.Number, err)
	}

	contributions := make([]Contribution, len(in.Contributions))
	leaves := make([]Leaf, len(in.Contributions))
	for i, c := range in.Contributions {
		if c.Epoch != e.Number {
			return closePlan{}, fmt.Errorf("contribution of %q is "+
				"to epoch %d, not %d", c.ProviderID, c.Epoch,
				e.Number)
		}
		c.Shares = shares[i]
		contributions[i] = c
		leaves[i] = contributionLeaf(c)
	}
	if e.Root, err = Root(leaves); err != nil {
		return closePlan{}, fmt.Errorf("epoch %d root: %w", e.Number,
			err)
	}

	plan := closePlan{Epoch: e, Contributions: contributions}
	if issued == 0 {
		return plan, nil
	}

	postings := []ledger.Posting{
		{Account: ledger.PlatformFees(), Amount: -reward},
		{Account: ledger.Vault(), Amount: reward},
		{Account: ledger.ShareSupply(), Shares: -issued},
	}
	for _, c := range contributions {
		if c.Shares == 0 {
			continue
		}
		postings = append(postings, ledger.Posting{
			Account: ledger.ProviderShares(c.ProviderID),
			Shares:  c.Shares,
		})
	}
	plan.Reward = &ledger.Transaction{
		IdempotencyKey: rewardKey(e.Number),
		Description: fmt.Sprintf("reward of epoch %d: %v of %v fees",
			e.Number, reward, e.Fees),
		Postings: postings,
	}

	return plan, nil
}

// contributionLeaf is a contribution as its epoch's Merkle leaf.
func contributionLeaf(c Contribution) Leaf {
	return Leaf{
		Epoch:      c.Epoch,
		ProviderID: c.ProviderID,
		Seconds:    c.Seconds,
		Earned:     c.Earned,
		Shares:     c.Shares,
	}
}

// Epochs returns up to limit epochs (0: all) numbered above after, in
// number order, the open one last.
func (v *Vault) Epochs(ctx context.Context, after uint64, limit int) (
	[]StoredEpoch, error) {

	if limit < 0 {
		return nil, fmt.Errorf("epochs: limit %d: %w", limit,
			ErrInvalidAmount)
	}

	var out []StoredEpoch
	err := v.store.ExecVault(ctx, true, func(tx VaultTx) error {
		var err error
		out, err = tx.Epochs(ctx, after, limit)
		return err
	})
	if err != nil {
		return nil, err
	}

	return out, nil
}

// Epoch returns one epoch and its contributions sorted by provider id;
// ErrEpochNotFound for a number never opened. An open epoch's
// contributions are its running totals, with no shares yet.
func (v *Vault) Epoch(ctx context.Context, number uint64) (StoredEpoch,
	[]Contribution, error) {

	var (
		e  StoredEpoch
		cs []Contribution
	)
	err := v.store.ExecVault(ctx, true, func(tx VaultTx) error {
		var err error
		if e, err = tx.Epoch(ctx, number); err != nil {
			return err
		}
		cs, err = tx.Contributions(ctx, number)
		return err
	})
	if err != nil {
		return StoredEpoch{}, nil, err
	}

	return e, cs, nil
}

// RewardProof returns the provider's leaf in a closed epoch and its proof
// against the epoch's stored root, which Verify checks. Errors:
// ErrEpochNotFound for a number never opened, ErrEpochOpen for the open
// epoch, ErrNoContribution for a provider without metered work in it. The
// root is built again from the stored contributions and compared with the
// stored one, so a proof never leads to a root the rows no longer support.
func (v *Vault) RewardProof(ctx context.Context, number uint64,
	providerID string) (RewardProof, error) {

	e, cs, err := v.Epoch(ctx, number)
	if err != nil {
		return RewardProof{}, err
	}
	if !e.Closed {
		return RewardProof{}, fmt.Errorf("epoch %d: %w", number,
			ErrEpochOpen)
	}

	leaves := make([]Leaf, len(cs))
	var leaf *Leaf
	for i, c := range cs {
		leaves[i] = contributionLeaf(c)
		if c.ProviderID == providerID {
			leaf = &leaves[i]
		}
	}
	if leaf == nil {
		return RewardProof{}, fmt.Errorf("epoch %d, provider %q: %w",
			number, providerID, ErrNoContribution)
	}

	root, err := Root(leaves)
	if err != nil {
		return RewardProof{}, fmt.Errorf("epoch %d root: %w", number,
			err)
	}
	if root != e.Root {
		return RewardProof{}, fmt.Errorf("epoch %d: contributions "+
			"lead to root %x, the stored root is %x", number,
			root[:], e.Root[:])
	}
	proof, err := Prove(leaves, providerID)
	if err != nil {
		return RewardProof{}, fmt.Errorf("epoch %d: %w", number, err)
	}

	return RewardProof{Epoch: e, Leaf: *leaf, Proof: proof, Root: root}, nil
}
