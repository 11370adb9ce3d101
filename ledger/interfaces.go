package ledger

import (
	"context"
	"fmt"
	"time"
)

// AccountState is an account as stored: its identity, the unit the store
// recorded when it created the account, and its current balance in that
// unit: Balance for msat, Shares for shares, the other one zero.
type AccountState struct {
	Account Account
	Unit    Unit
	Balance MilliSatoshi
	Shares  Shares
}

// CheckUnit returns an error wrapping ErrWrongUnit when the state is not in
// its account kind's unit: the store recorded another unit, or holds a
// balance in the other unit's field. The ledger checks every state it
// reads, so that a share count is never taken for millisatoshis.
func (s AccountState) CheckUnit() error {
	want := s.Account.Kind.Unit()
	switch {
	case s.Unit != want:
		return fmt.Errorf("%w: account %v is stored in unit %q, its "+
			"kind counts %q", ErrWrongUnit, s.Account, s.Unit, want)

	case want == UnitMsat && s.Shares != 0:
		return fmt.Errorf("%w: msat account %v holds %v",
			ErrWrongUnit, s.Account, s.Shares)

	case want == UnitShares && s.Balance != 0:
		return fmt.Errorf("%w: share account %v holds %v",
			ErrWrongUnit, s.Account, s.Balance)
	}

	return nil
}

// StoredTx is a transaction as recorded, with the receipt it was given.
type StoredTx struct {
	Receipt     Receipt
	Transaction Transaction
}

// TxStore is the ledger's view of one open store transaction. Everything
// done through one TxStore commits or rolls back together, so a domain
// package can post ledger transactions atomically with its own state (a
// payout intent and its payable → in-flight move, say) by handing the same
// store transaction to Ledger.PostTx.
type TxStore interface {
	// TransactionByKey returns the transaction recorded under the
	// idempotency key, or an error wrapping ErrNotFound.
	TransactionByKey(ctx context.Context, key string) (StoredTx, error)

	// Accounts returns the state of each named account that exists, in
	// the unit the store recorded for it; accounts never posted to are
	// absent from the map.
	Accounts(ctx context.Context, ids []Account) (map[Account]AccountState, error)

	// InsertTransaction records tx with the given time, creating accounts
	// on first use, and sets each touched account's state to the one in
	// states: its kind's unit, which the store records when it creates
	// the account and must match the recorded one otherwise, and its
	// balance in that unit. The ledger has already validated everything
	// and merged the postings, so tx names each account once, with a
	// non-zero amount in the account's unit, and states[a]'s balance is
	// also the balance after of a's history entry; the store only writes.
	// at is in UTC with microsecond precision. It returns the receipt
	// with the new transaction's id, or an error wrapping ErrKeyExists
	// when the key is already recorded. Ids of transactions that touch
	// the same account increase in the order they commit (both write its
	// balance, so they are serialized), which is what paging a History by
	// afterTx relies on.
	InsertTransaction(ctx context.Context, tx Transaction, at time.Time,
		states map[Account]AccountState) (Receipt, error)
}

// Store persists the ledger. Implementations: the SQL store in package
// store, and MemStore in this package for unit tests.
type Store interface {
	// ExecTx runs fn in one store transaction, committing if fn returns nil
	// and rolling back otherwise. It may run fn more than once when the
	// backend reports a serialization conflict, so fn must have no side
	// effects beyond the TxStore.
	ExecTx(ctx context.Context, fn func(TxStore) error) error

	// State returns an account's state as stored, in the unit recorded
	// for it, or an error wrapping ErrNotFound for an account never
	// posted to.
	State(ctx context.Context, account Account) (AccountState, error)

	// History returns an account's postings in the order they were
	// recorded, oldest first, starting after the transaction id afterTx
	// (0 for the start) and at most limit of them (0 for no limit). Each
	// entry is in the unit recorded for the account: Amount and
	// BalanceAfter for msat, Shares and SharesAfter for shares.
	History(ctx context.Context, account Account, afterTx int64,
		limit int) ([]Entry, error)
}

// BatchTxStore is a TxStore that records many transactions at once (one
// statement per table rather than several per transaction); PostBatchTx
// uses it when the store has it.
type BatchTxStore interface {
	TxStore

	// InsertTransactions records txs, in order, with the given time, as
	// InsertTransaction would one after the other: states[i] is the
	// state each account touched by txs[i] is left in by it (so the
	// last one of an account is its final state). It returns the
	// receipts in order, or an error wrapping ErrKeyExists, having then
	// written nothing, when any key is already recorded.
	InsertTransactions(ctx context.Context, txs []Transaction,
		at time.Time, states []map[Account]AccountState) ([]Receipt,
		error)
}
