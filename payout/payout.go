package payout

import (
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"time"

	"github.com/lightningnetwork/lnd/lntypes"
	"github.com/lightningnetwork/lnd/routing/route"
	"github.com/sluice-ln/sluice/ledger"
	"github.com/sluice-ln/sluice/outbound"
)

// State is where a payout is in its life: the one outbound lifecycle's
// status, stored as the same strings ("pending", "succeeded", "failed").
type State = outbound.Status

const (
	// StatePending is a payout written durably, with its preimage and
	// the payable → in-flight move, and not yet resolved: lnd may have
	// it in flight, may have settled or failed it, or may never have
	// seen it. On start every pending payout is resumed by tracking its
	// hash.
	StatePending = outbound.StatusPending

	// StateSucceeded is a payout lnd paid: the amount is in paid_out and
	// the fee in routing_fees. Final.
	StateSucceeded = outbound.StatusSucceeded

	// StateFailed is a payout lnd failed for good (or refused before
	// recording it): the amount and its fee budget went back where they
	// came from. Final; a later payout pays the amount with a new hash.
	StateFailed = outbound.StatusFailed
)

// Payout is one payment to a provider's node.
type Payout struct {
	// ID is 32 hex characters, random; the provider's node receives it
	// in custom record lightning.PayoutIDRecord.
	ID         string
	ProviderID string
	Dest       route.Vertex

	// Amount is what the provider's node receives.
	Amount ledger.MilliSatoshi

	// FeeBudget was reserved from the fee payer's account for routing
	// and is the payment's fee limit.
	FeeBudget ledger.MilliSatoshi
	FeePayer  FeePayer

	Preimage lntypes.Preimage
	Hash     lntypes.Hash

	State State

	// Fee is what routing cost, once succeeded.
	Fee ledger.MilliSatoshi

	// Failure says why a failed payout failed.
	Failure string

	CreatedAt time.Time

	// ResolvedAt is zero while the payout is pending.
	ResolvedAt time.Time
}

// newPayoutID returns a fresh random payout id.
func newPayoutID() (string, error) {
	var b [16]byte
	if _, err := rand.Read(b[:]); err != nil {
		return "", fmt.Errorf("payout id: %w", err)
	}
	return hex.EncodeToString(b[:]), nil
}

// newPreimage returns a fresh random preimage.
func newPreimage() (lntypes.Preimage, error) {
	var p lntypes.Preimage
	if _, err := rand.Read(p[:]); err != nil {
		return p, fmt.Errorf("payout preimage: %w", err)
	}
	return p, nil
}

// toStore is p as stored.
func (p Payout) toStore() StoredPayout {
	return StoredPayout{
		ID:          p.ID,
		ProviderID:  p.ProviderID,
		DestPubkey:  hex.EncodeToString(p.Dest[:]),
		Amount:      p.Amount,
		FeeBudget:   p.FeeBudget,
		FeePayer:    p.FeePayer,
		PaymentHash: p.Hash.String(),
		Preimage:    p.Preimage.String(),
		State:       p.State,
		Fee:         p.Fee,
		Failure:     p.Failure,
		CreatedAt:   p.CreatedAt,
		ResolvedAt:  p.ResolvedAt,
	}
}

// fromStore reads a stored payout and checks that its hash is its
// preimage's.
func fromStore(sp StoredPayout) (Payout, error) {
	p := Payout{
		ID:         sp.ID,
		ProviderID: sp.ProviderID,
		Amount:     sp.Amount,
		FeeBudget:  sp.FeeBudget,
		FeePayer:   sp.FeePayer,
		Fee:        sp.Fee,
		Failure:    sp.Failure,
		CreatedAt:  sp.CreatedAt,
		ResolvedAt: sp.ResolvedAt,
	}
	state, err := outbound.ParseStatus(string(sp.State))
	if err != nil {
		return Payout{}, fmt.Errorf("payout %s: %w", sp.ID, err)
	}
	p.State = state
	dest, err := route.NewVertexFromStr(sp.DestPubkey)
	if err != nil {
		return Payout{}, fmt.Errorf("payout %s: dest %q: %w", sp.ID,
			sp.DestPubkey, err)
	}
	p.Dest = dest
	p.Preimage, err = lntypes.MakePreimageFromStr(sp.Preimage)
	if err != nil {
		return Payout{}, fmt.Errorf("payout %s: preimage: %w", sp.ID,
			err)
	}
	p.Hash, err = lntypes.MakeHashFromStr(sp.PaymentHash)
	if err != nil {
		return Payout{}, fmt.Errorf("payout %s: hash: %w", sp.ID, err)
	}
	if p.Preimage.Hash() != p.Hash {
		return Payout{}, fmt.Errorf("payout %s: hash %v is not the "+
			"preimage's", sp.ID, p.Hash)
	}
	return p, nil
}

// Ledger transactions of a payout. Each is named by the payout id and its
// step, so a step replayed after a crash posts nothing new.

// sendKey, settleKey and failKey are the idempotency keys of a payout's
// three ledger transactions.
func sendKey(id string) string   { return "payout:" + id + ":send" }
func settleKey(id string) string { return "payout:" + id + ":settle" }
func failKey(id string) string   { return "payout:" + id + ":fail" }

// feeAccount is the account that bears a payout's routing fee.
func (p Payout) feeAccount() ledger.Account {
	if p.FeePayer == FeePayerPlatform {
		return ledger.PlatformFees()
	}
	return ledger.ProviderPayable(p.ProviderID)
}

// postings collects postings, adding amounts to the same account and
// leaving out the zero ones.
type postings struct {
	order  []ledger.Account
	amount map[ledger.Account]ledger.MilliSatoshi
}

func (ps *postings) add(a ledger.Account, amt ledger.MilliSatoshi) {
	if ps.amount == nil {
		ps.amount = make(map[ledger.Account]ledger.MilliSatoshi)
	}
	if _, ok := ps.amount[a]; !ok {
		ps.order = append(ps.order, a)
	}
	ps.amount[a] += amt
}

func (ps *postings) list() []ledger.Posting {
	out := make([]ledger.Posting, 0, len(ps.order))
	for _, a := range ps.order {
		if amt := ps.amount[a]; amt != 0 {
			out = append(out, ledger.Posting{
				Account: a, Amount: amt,
			})
		}
	}
	return out
}

// sendTx reserves the amount from the provider's payable and the fee
// budget from the fee payer, into the provider's in-flight account.
func (p Payout) sendTx() ledger.Transaction {
	var ps postings
	ps.add(ledger.ProviderPayable(p.ProviderID), -p.Amount)
	ps.add(p.feeAccount(), -p.FeeBudget)
	ps.add(ledger.PayoutInFlight(p.ProviderID), p.Amount+p.FeeBudget)
	return ledger.Transaction{
		IdempotencyKey: sendKey(p.ID),
		Description:    "payout " + p.ID + " sent",
		Postings:       ps.list(),
	}
}

// settleTx moves a succeeded payout out of flight: the amount to paid_out,
// the fee lnd reports to routing_fees, and what the budget did not use back
// to the fee payer. A fee over the budget (lnd keeps to the limit, so it
// should not happen) is taken from the fee payer too, which the ledger
// refuses if it overdraws.
func (p Payout) settleTx(fee ledger.MilliSatoshi) ledger.Transaction {
	var ps postings
	ps.add(ledger.PayoutInFlight(p.ProviderID), -(p.Amount + p.FeeBudget))
	ps.add(ledger.PaidOut(p.ProviderID), p.Amount)
	ps.add(ledger.RoutingFees(), fee)
	ps.add(p.feeAccount(), p.FeeBudget-fee)
	return ledger.Transaction{
		IdempotencyKey: settleKey(p.ID),
		Description:    "payout " + p.ID + " succeeded",
		Postings:       ps.list(),
	}
}

// failTx returns a failed payout's amount and fee budget where they came
// from.
func (p Payout) failTx() ledger.Transaction {
	var ps postings
	ps.add(ledger.PayoutInFlight(p.ProviderID), -(p.Amount + p.FeeBudget))
	ps.add(ledger.ProviderPayable(p.ProviderID), p.Amount)
	ps.add(p.feeAccount(), p.FeeBudget)
	return ledger.Transaction{
		IdempotencyKey: failKey(p.ID),
		Description:    "payout " + p.ID + " failed",
		Postings:       ps.list(),
	}
}
