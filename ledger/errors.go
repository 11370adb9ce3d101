package ledger

import (
	"errors"
	"fmt"
)

var (
	// ErrNotFound is returned by a store when the thing asked for (a
	// transaction by its idempotency key) was never recorded.
	ErrNotFound = errors.New("not found")

	// ErrKeyExists is returned by TxStore.InsertTransaction when a
	// transaction with the same idempotency key is already recorded: a
	// concurrent post won the race. Ledger.Post retries once, and the
	// retry finds the recorded transaction.
	ErrKeyExists = errors.New("idempotency key already recorded")

	// ErrOverflow is returned when an amount, of millisatoshis or of
	// shares, would not fit in 64 bits.
	ErrOverflow = errors.New("amount overflows int64")

	// ErrInvalidAmount is returned when an amount cannot be parsed or is
	// out of the range its use allows.
	ErrInvalidAmount = errors.New("invalid amount")

	// ErrInvalidRate is returned when a rate cannot be parsed or is
	// negative or too precise.
	ErrInvalidRate = errors.New("invalid rate")

	// ErrInvalidCarry is returned when a pricing remainder is outside
	// [0, 1) millisatoshi.
	ErrInvalidCarry = errors.New("invalid pricing carry")

	// ErrInvalidBasisPoints is returned for a fee outside 0–10000 basis
	// points.
	ErrInvalidBasisPoints = errors.New("invalid basis points")

	// ErrInvalidAccount is returned for an account of an unknown kind, or
	// with a reference missing, forbidden or badly formed.
	ErrInvalidAccount = errors.New("invalid account")

	// ErrEmptyKey is returned for a transaction without an idempotency
	// key.
	ErrEmptyKey = errors.New("empty idempotency key")

	// ErrInvalidKey is returned for an idempotency key that is too long or
	// has characters outside its charset.
	ErrInvalidKey = errors.New("invalid idempotency key")

	// ErrInvalidDescription is returned for a description that is too long
	// or not UTF-8.
	ErrInvalidDescription = errors.New("invalid description")

	// ErrTooFewPostings is returned for a transaction that, after merging
	// postings to the same account, moves money between fewer than two
	// accounts.
	ErrTooFewPostings = errors.New("too few postings")

	// ErrTooManyPostings is returned for a transaction with more than
	// MaxPostings postings.
	ErrTooManyPostings = errors.New("too many postings")

	// ErrZeroPosting is returned for a posting of zero.
	ErrZeroPosting = errors.New("zero posting")

	// ErrUnbalanced is returned for a transaction whose postings do not
	// sum to zero.
	ErrUnbalanced = errors.New("postings do not sum to zero")

	// ErrIdempotencyConflict is returned when an idempotency key is posted
	// again with postings other than the recorded ones.
	ErrIdempotencyConflict = errors.New("idempotency key reused with " +
		"different postings")

	// ErrOverdraft is returned when a transaction would leave an account
	// whose kind may not go negative below zero. The error is an
	// *OverdraftError naming the account and amounts.
	ErrOverdraft = errors.New("overdraft")
)

// OverdraftError says which account a refused transaction would have
// overdrawn. errors.Is(err, ErrOverdraft) is true for it.
type OverdraftError struct {
	// Account is the account that would have gone negative.
	Account Account

	// Balance is its balance before the transaction.
	Balance MilliSatoshi

	// Amount is the transaction's net posting to it.
	Amount MilliSatoshi
}

// Error describes the overdraft.
func (e *OverdraftError) Error() string {
	return fmt.Sprintf("%v: account %v has %v, posting %v would leave %v",
		ErrOverdraft, e.Account, e.Balance, e.Amount,
		e.Balance+e.Amount)
}

// Is makes errors.Is(err, ErrOverdraft) true.
func (e *OverdraftError) Is(target error) bool {
	return target == ErrOverdraft
}
