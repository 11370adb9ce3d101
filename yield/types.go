package yield

import (
	"time"

	"github.com/btcsuite/btcd/chaincfg/chainhash"
	"github.com/sluice-ln/sluice/ledger"
)

// State is the vault as a whole, read in one transaction.
type State struct {
	// Assets is the vault's net asset value A: idle plus allocated.
	Assets    ledger.MilliSatoshi
	Idle      ledger.MilliSatoshi
	Allocated ledger.MilliSatoshi

	// Supply is every share unit issued and not burnt S, locked ones
	// included; Locked is the part locked in pending redemptions.
	Supply ledger.Shares
	Locked ledger.Shares

	// ShareValue is what one share (ledger.UnitsPerShare units) redeems for
	// now, rounded down; ShareValueExact is the exact value as a decimal
	// string of msat.
	ShareValue      ledger.MilliSatoshi
	ShareValueExact string

	// Floor is the liquid floor: max(FloorBPS × Assets, Queued).
	// FloorMet says whether Idle covers it.
	Floor    ledger.MilliSatoshi
	FloorMet bool

	// Queue is the pending redemptions: how many, their shares and
	// what they requested.
	QueueLen    int
	QueueShares ledger.Shares
	Queued      ledger.MilliSatoshi

	// Policy is the operator's policy.
	Policy Policy

	// Epoch is the open epoch and Due when it closes; zero before the
	// first charge opened one.
	Epoch StoredEpoch
	Due   time.Time

	// Strategies is each strategy's principal by name, reserve (the idle
	// vault) included.
	Strategies map[string]ledger.MilliSatoshi
}

// Holding is one provider's part of the vault.
type Holding struct {
	ProviderID string

	// Shares it holds and may redeem; Locked in its pending
	// redemptions.
	Shares ledger.Shares
	Locked ledger.Shares

	// Value is what Shares + Locked redeem for now, rounded down.
	Value ledger.MilliSatoshi

	// AutoStake is the percent of each metered second's earnings staked
	// before payouts see it.
	AutoStake uint32
}

// StakeResult is what a stake moved.
type StakeResult struct {
	// Assets moved from the provider's payable into the vault; Shares
	// were issued for them.
	Assets ledger.MilliSatoshi
	Shares ledger.Shares

	// Duplicate is true when the key had been staked before and nothing
	// moved now.
	Duplicate bool
}

// Redemption is a redemption request as the API shows it.
type Redemption struct {
	StoredRedemption

	// Paid is true once the provider's paid-out total reached the
	// request's PaidMark: what it paid has reached the provider's node.
	Paid bool
}

// Status is the request's state as shown: pending, finalized, paid or
// cancelled.
func (r Redemption) Status() string {
	if r.State == RedemptionFinalized && r.Paid {
		return "paid"
	}

	return string(r.State)
}

// RewardProof proves one provider's contribution to a closed epoch against
// the epoch's root.
type RewardProof struct {
	Epoch StoredEpoch
	Leaf  Leaf
	Proof Proof
	Root  chainhash.Hash
}
