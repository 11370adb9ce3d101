package shares

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/sluice-ln/sluice/ledger"
	"github.com/sluice-ln/sluice/outbound"
)

// WithdrawalState is where a withdrawal is. queued → sending → withdrawn
// or returned; the last two are final.
type WithdrawalState string

const (
	// WithdrawalQueued is a withdrawal asked for and waiting for the
	// next round; its shares are in shares_withdrawing.
	WithdrawalQueued WithdrawalState = "queued"

	// WithdrawalSending is a withdrawal in a round whose asset send is
	// not complete yet.
	WithdrawalSending WithdrawalState = "sending"

	// WithdrawalDone is a withdrawal whose send is complete (proofs
	// delivered, 6 confirmations): its shares are in shares_withdrawn.
	// Final.
	WithdrawalDone WithdrawalState = "withdrawn"

	// WithdrawalReturned is a withdrawal whose send failed: its shares
	// are back in provider_shares. Final.
	WithdrawalReturned WithdrawalState = "returned"
)

// ErrUnknownWithdrawalState is returned for a stored state that names no
// WithdrawalState.
var ErrUnknownWithdrawalState = errors.New("unknown withdrawal state")

// ParseWithdrawalState reads a stored state.
func ParseWithdrawalState(s string) (WithdrawalState, error) {
	switch st := WithdrawalState(s); st {
	case WithdrawalQueued, WithdrawalSending, WithdrawalDone,
		WithdrawalReturned:

		return st, nil
	}
	return "", fmt.Errorf("%w: %q", ErrUnknownWithdrawalState, s)
}

// Final reports whether s is an end: withdrawn or returned.
func (s WithdrawalState) Final() bool {
	return s == WithdrawalDone || s == WithdrawalReturned
}

// CheckWithdrawalTransition says whether a withdrawal may move from one
// state to another: queued → sending, sending → withdrawn | returned. Any
// other move gives an error wrapping outbound.ErrInvalidTransition.
func CheckWithdrawalTransition(from, to WithdrawalState) error {
	switch {
	case from == WithdrawalQueued && to == WithdrawalSending,
		from == WithdrawalSending && to.Final():

		return nil
	}
	return fmt.Errorf("%w: withdrawal %s → %s",
		outbound.ErrInvalidTransition, from, to)
}

// WithdrawAddress is the address a provider's withdrawals are sent to: a
// V2 group key address of the share asset, made on the provider's own
// tapd, with no amount.
type WithdrawAddress struct {
	ProviderID string

	// Addr is the address, bech32m.
	Addr string

	// GroupKey is the group key it receives, the share asset's.
	GroupKey []byte

	// ProofCourier is the address's proof courier, as tapd decoded it.
	ProofCourier string

	SetAt time.Time
}

// Withdrawal is a provider's request to take shares out of the hub's
// custody to its own tapd, as stored.
type Withdrawal struct {
	ID         int64
	ProviderID string

	// Key is the request's idempotency key, unique per provider.
	Key string

	// Amount is the share units withdrawn (1000 to a share).
	Amount ledger.Shares

	// Addr is the provider's address when it asked.
	Addr string

	State WithdrawalState

	// RoundID is the round whose send carries it; zero while queued.
	RoundID int64

	// Failure says why a returned withdrawal's send failed.
	Failure string

	CreatedAt  time.Time
	ResolvedAt time.Time
}

// LedgerKey is the idempotency key of the withdrawal's ledger move for
// the state it enters: "withdraw:<id>" when asked (provider_shares →
// shares_withdrawing), "withdraw-done:<id>" (→ shares_withdrawn) and
// "withdraw-return:<id>" (→ provider_shares).
func (w Withdrawal) LedgerKey(to WithdrawalState) string {
	id := strconv.FormatInt(w.ID, 10)
	switch to {
	case WithdrawalDone:
		return "withdraw-done:" + id
	case WithdrawalReturned:
		return "withdraw-return:" + id
	}
	return "withdraw:" + id
}

// Round is one asset send carrying every withdrawal queued when it began:
// an outbound intent, pending from before the send until its outcome.
type Round struct {
	ID int64

	// Nonce makes the label unique across databases that share a tapd.
	Nonce string

	State   outbound.Status
	Failure string

	// AnchorTxid and Height are the send's anchor transaction and its
	// block, once complete.
	AnchorTxid string
	Height     uint32

	CreatedAt  time.Time
	ResolvedAt time.Time
}

// LabelPrefix starts every withdrawal round's label in tapd.
const LabelPrefix = "sluice-withdraw-"

// Label is the round's label in tapd, "sluice-withdraw-<id>-<nonce>", by
// which its transfer is found again after a crash.
func (r Round) Label() string {
	return LabelPrefix + strconv.FormatInt(r.ID, 10) + "-" + r.Nonce
}

// WithdrawStore keeps withdrawal addresses, withdrawals and rounds.
// store.DB implements it (store/shares_domain.go).
type WithdrawStore interface {
	// SetWithdrawAddress records the provider's address, replacing
	// the one it had.
	SetWithdrawAddress(ctx context.Context, a WithdrawAddress) error

	// WithdrawAddress returns the provider's address, or an error
	// wrapping ErrNoWithdrawAddress.
	WithdrawAddress(ctx context.Context, providerID string) (
		WithdrawAddress, error)

	// Withdrawals returns the provider's withdrawals, or everyone's for
	// "", oldest first.
	Withdrawals(ctx context.Context, providerID string) ([]Withdrawal,
		error)

	// PendingRounds returns the rounds not resolved, oldest first.
	PendingRounds(ctx context.Context) ([]Round, error)

	// ExecWithdrawals runs fn in one store transaction, which commits
	// when fn returns nil. It may run fn more than once.
	ExecWithdrawals(ctx context.Context, fn func(WithdrawTx) error) error
}

// WithdrawTx is one store transaction over withdrawals, rounds and the
// ledger.
type WithdrawTx interface {
	// Ledger is the transaction as the ledger's store.
	Ledger() ledger.TxStore

	// WithdrawalByKey returns the provider's withdrawal of the key, or
	// an error wrapping ErrWithdrawalNotFound.
	WithdrawalByKey(ctx context.Context, providerID, key string) (
		Withdrawal, error)

	// InsertWithdrawal writes a queued withdrawal and returns its id.
	InsertWithdrawal(ctx context.Context, w Withdrawal) (int64, error)

	// QueuedWithdrawals returns the withdrawals queued, oldest first.
	QueuedWithdrawals(ctx context.Context) ([]Withdrawal, error)

	// InsertRound writes a pending round and returns its id.
	InsertRound(ctx context.Context, r Round) (int64, error)

	// AddToRound moves a queued withdrawal into the round (sending);
	// one not queued gives an error wrapping
	// outbound.ErrInvalidTransition.
	AddToRound(ctx context.Context, withdrawalID, roundID int64) error

	// RoundWithdrawals returns the round's withdrawals, by id.
	RoundWithdrawals(ctx context.Context, roundID int64) ([]Withdrawal,
		error)

	// ResolveRound records a pending round's outcome (State, Failure,
	// AnchorTxid, Height, ResolvedAt) once; for one not pending an
	// error wrapping outbound.ErrInvalidTransition.
	ResolveRound(ctx context.Context, r Round) error

	// ResolveWithdrawal records a sending withdrawal's end (State,
	// Failure, ResolvedAt); for one not sending an error wrapping
	// outbound.ErrInvalidTransition.
	ResolveWithdrawal(ctx context.Context, w Withdrawal) error
}

// Poster posts ledger transactions inside a store transaction;
// *ledger.Ledger implements it.
type Poster interface {
	PostTx(ctx context.Context, txs ledger.TxStore,
		tx ledger.Transaction) (ledger.Receipt, error)
}

var _ Poster = (*ledger.Ledger)(nil)
