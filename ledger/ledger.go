package ledger

import (
	"context"
	"errors"
	"fmt"
	"time"
)

// Ledger posts balanced transactions to a Store and answers balance and
// history questions. It holds no state of its own, so any number of
// goroutines may use one Ledger; the store's transactions serialize them.
type Ledger struct {
	store Store
	clock func() time.Time
}

// New returns a Ledger over store. clock gives the time recorded with each
// transaction; nil means time.Now.
func New(store Store, clock func() time.Time) *Ledger {
	if clock == nil {
		clock = time.Now
	}

	return &Ledger{store: store, clock: clock}
}

// Post validates tx and records it in one store transaction; see PostTx for
// what it checks and returns. When a concurrent post of the same key wins
// the race to the store, Post tries once more, which then finds the recorded
// transaction and answers as for a replay.
func (l *Ledger) Post(ctx context.Context, tx Transaction) (Receipt, error) {
	var (
		receipt Receipt
		err     error
	)
	for attempt := 0; attempt < 2; attempt++ {
		err = l.store.ExecTx(ctx, func(txs TxStore) error {
			var err error
			receipt, err = l.PostTx(ctx, txs, tx)
			return err
		})
		if !errors.Is(err, ErrKeyExists) {
			break
		}
		log.Debugf("Key %q was posted concurrently, looking again",
			tx.IdempotencyKey)
	}
	if err != nil {
		return Receipt{}, err
	}

	return receipt, nil
}

// PostTx records tx through txs, an open store transaction that the caller
// commits, so that a domain package can post atomically with its own state.
//
// It validates tx (Validate) and merges postings to the same account. If the
// key was recorded before with the same net postings, it returns the first
// receipt with Duplicate set and writes nothing; with other postings it
// returns ErrIdempotencyConflict. Otherwise it computes each touched
// account's new balance with checked arithmetic (ErrOverflow), refuses an
// *OverdraftError (errors.Is ErrOverdraft) when an account whose kind may
// not go negative would end below zero, and inserts the transaction. On
// error nothing has been written through txs.
func (l *Ledger) PostTx(ctx context.Context, txs TxStore,
	tx Transaction) (Receipt, error) {

	norm, err := normalize(tx)
	if err != nil {
		return Receipt{}, fmt.Errorf("transaction %q: %w",
			tx.IdempotencyKey, err)
	}

	prior, err := txs.TransactionByKey(ctx, norm.IdempotencyKey)
	switch {
	case err == nil:
		if !samePostings(prior.Transaction.Postings, norm.Postings) {
			return Receipt{}, fmt.Errorf("transaction %q: %w",
				norm.IdempotencyKey, ErrIdempotencyConflict)
		}

		log.Debugf("Transaction %q replayed, first posted as tx %d",
			norm.IdempotencyKey, prior.Receipt.TxID)

		receipt := prior.Receipt
		receipt.Duplicate = true

		return receipt, nil

	case !errors.Is(err, ErrNotFound):
		return Receipt{}, fmt.Errorf("transaction %q: looking up key: "+
			"%w", norm.IdempotencyKey, err)
	}

	ids := make([]Account, len(norm.Postings))
	for i, p := range norm.Postings {
		ids[i] = p.Account
	}
	states, err := txs.Accounts(ctx, ids)
	if err != nil {
		return Receipt{}, fmt.Errorf("transaction %q: loading "+
			"accounts: %w", norm.IdempotencyKey, err)
	}

	balances := make(map[Account]MilliSatoshi, len(norm.Postings))
	for _, p := range norm.Postings {
		old := states[p.Account].Balance
		bal, err := old.Add(p.Amount)
		if err != nil {
			return Receipt{}, fmt.Errorf("transaction %q: account "+
				"%v: %w", norm.IdempotencyKey, p.Account, err)
		}
		if bal < 0 && !p.Account.Kind.MayGoNegative() {
			return Receipt{}, fmt.Errorf("transaction %q: %w",
				norm.IdempotencyKey, &OverdraftError{
					Account: p.Account,
					Balance: old,
					Amount:  p.Amount,
				})
		}
		balances[p.Account] = bal
	}

	// Microseconds in UTC are what every backend stores exactly, so a
	// replayed receipt carries the same time as the first one.
	at := l.clock().UTC().Truncate(time.Microsecond)

	receipt, err := txs.InsertTransaction(ctx, norm, at, balances)
	if err != nil {
		return Receipt{}, fmt.Errorf("transaction %q: inserting: %w",
			norm.IdempotencyKey, err)
	}

	log.Tracef("Posted tx %d %q: %v", receipt.TxID, norm.IdempotencyKey,
		norm.Postings)

	return receipt, nil
}

// Balance returns an account's balance, zero for an account never posted
// to.
func (l *Ledger) Balance(ctx context.Context, account Account) (MilliSatoshi,
	error) {

	if err := account.Validate(); err != nil {
		return 0, err
	}

	bal, err := l.store.Balance(ctx, account)
	if err != nil {
		return 0, fmt.Errorf("balance of %v: %w", account, err)
	}

	return bal, nil
}

// History returns an account's postings, oldest first, after transaction id
// afterTx (0 for the start) and at most limit of them (0 for all).
func (l *Ledger) History(ctx context.Context, account Account, afterTx int64,
	limit int) ([]Entry, error) {

	if err := account.Validate(); err != nil {
		return nil, err
	}
	if afterTx < 0 {
		return nil, fmt.Errorf("history of %v: afterTx %d is negative",
			account, afterTx)
	}
	if limit < 0 {
		return nil, fmt.Errorf("history of %v: limit %d is negative",
			account, limit)
	}

	entries, err := l.store.History(ctx, account, afterTx, limit)
	if err != nil {
		return nil, fmt.Errorf("history of %v: %w", account, err)
	}

	return entries, nil
}

// Transfer builds the transaction that moves amt from one account to
// another: the postings {from: -amt, to: +amt}. It does not validate; Post
// does, and refuses a zero amount or two equal accounts.
func Transfer(key, description string, from, to Account,
	amt MilliSatoshi) Transaction {

	return Transaction{
		IdempotencyKey: key,
		Description:    description,
		Postings: []Posting{
			{Account: from, Amount: -amt},
			{Account: to, Amount: amt},
		},
	}
}
