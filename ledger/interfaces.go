package ledger

import (
	"context"
	"time"
)

// AccountState is an account as stored: its identity and current balance.
type AccountState struct {
	Account Account
	Balance MilliSatoshi
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

	// Accounts returns the state of each named account that exists;
	// accounts never posted to are absent from the map.
	Accounts(ctx context.Context, ids []Account) (map[Account]AccountState, error)

	// InsertTransaction records tx with the given time, creating accounts
	// on first use, and sets each touched account's balance to the value
	// in balances. The ledger has already validated everything and merged
	// the postings, so tx names each account once, with a non-zero amount,
	// and balances[a] is also the BalanceAfter of a's history entry; the
	// store only writes. at is in UTC with microsecond precision. It
	// returns the receipt with the new transaction's id, or an error
	// wrapping ErrKeyExists when the key is already recorded. Ids of
	// transactions that touch the same account increase in the order
	// they commit (both write its balance, so they are serialized), which
	// is what paging a History by afterTx relies on.
	InsertTransaction(ctx context.Context, tx Transaction, at time.Time,
		balances map[Account]MilliSatoshi) (Receipt, error)
}

// Store persists the ledger. Implementations: the SQL store in package
// store, and MemStore in this package for unit tests.
type Store interface {
	// ExecTx runs fn in one store transaction, committing if fn returns nil
	// and rolling back otherwise. It may run fn more than once when the
	// backend reports a serialization conflict, so fn must have no side
	// effects beyond the TxStore.
	ExecTx(ctx context.Context, fn func(TxStore) error) error

	// Balance returns an account's balance; zero for an account never
	// posted to.
	Balance(ctx context.Context, account Account) (MilliSatoshi, error)

	// History returns an account's postings in the order they were
	// recorded, oldest first, starting after the transaction id afterTx
	// (0 for the start) and at most limit of them (0 for no limit).
	History(ctx context.Context, account Account, afterTx int64,
		limit int) ([]Entry, error)
}
