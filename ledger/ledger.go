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
// returns ErrIdempotencyConflict. Otherwise it reads the touched accounts,
// refusing one the store recorded in a unit other than its kind's
// (ErrWrongUnit), computes each one's new balance in its unit with checked
// arithmetic (ErrOverflow), refuses an *OverdraftError (errors.Is
// ErrOverdraft) when an account whose kind may not go negative would end
// below zero, and inserts the transaction. On error nothing has been written
// through txs.
//
// A key is posted once, so the key is looked up only when it may have been
// posted before: when the store refuses the insert (ErrKeyExists) or the
// balances refuse the postings (a replay answers with the first receipt
// whatever the balances are now). The first post of a key, the usual case,
// costs no lookup.
func (l *Ledger) PostTx(ctx context.Context, txs TxStore,
	tx Transaction) (Receipt, error) {

	norm, err := normalize(tx)
	if err != nil {
		return Receipt{}, fmt.Errorf("transaction %q: %w",
			tx.IdempotencyKey, err)
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

	next := make(map[Account]AccountState, len(norm.Postings))
	for _, p := range norm.Postings {
		old, ok := states[p.Account]
		if !ok {
			old = AccountState{Account: p.Account,
				Unit: p.Account.Kind.Unit()}
		}
		st, err := apply(old, p)
		if err != nil {
			if r, ok, rerr := replay(ctx, txs, norm); ok || rerr != nil {
				return r, rerr
			}
			return Receipt{}, fmt.Errorf("transaction %q: %w",
				norm.IdempotencyKey, err)
		}
		next[p.Account] = st
	}

	// Microseconds in UTC are what every backend stores exactly, so a
	// replayed receipt carries the same time as the first one.
	at := l.clock().UTC().Truncate(time.Microsecond)

	receipt, err := txs.InsertTransaction(ctx, norm, at, next)
	if errors.Is(err, ErrKeyExists) {
		if r, ok, rerr := replay(ctx, txs, norm); ok || rerr != nil {
			return r, rerr
		}
	}
	if err != nil {
		return Receipt{}, fmt.Errorf("transaction %q: inserting: %w",
			norm.IdempotencyKey, err)
	}

	log.Tracef("Posted tx %d %q: %v", receipt.TxID, norm.IdempotencyKey,
		norm.Postings)

	return receipt, nil
}

// replay looks up the key of norm (validated and merged): when it was
// recorded with the same net postings it returns the first receipt with
// Duplicate set and true; with other postings ErrIdempotencyConflict; when
// the key was never recorded, false and no error.
func replay(ctx context.Context, txs TxStore, norm Transaction) (Receipt,
	bool, error) {

	prior, err := txs.TransactionByKey(ctx, norm.IdempotencyKey)
	switch {
	case errors.Is(err, ErrNotFound):
		return Receipt{}, false, nil

	case err != nil:
		return Receipt{}, false, fmt.Errorf("transaction %q: looking "+
			"up key: %w", norm.IdempotencyKey, err)

	case !samePostings(prior.Transaction.Postings, norm.Postings):
		return Receipt{}, false, fmt.Errorf("transaction %q: %w",
			norm.IdempotencyKey, ErrIdempotencyConflict)
	}

	log.Debugf("Transaction %q replayed, first posted as tx %d",
		norm.IdempotencyKey, prior.Receipt.TxID)

	receipt := prior.Receipt
	receipt.Duplicate = true

	return receipt, true, nil
}

// apply returns the state old is left in by the posting p, in the
// account's unit: ErrWrongUnit when the store recorded old in another unit,
// ErrOverflow when the balance would not fit, and an *OverdraftError when an
// account that may not go negative would.
func apply(old AccountState, p Posting) (AccountState, error) {
	if err := old.CheckUnit(); err != nil {
		return AccountState{}, err
	}

	st := old
	mayGoNegative := p.Account.Kind.MayGoNegative()
	var err error
	switch old.Unit {
	case UnitShares:
		st.Shares, err = old.Shares.Add(p.Shares)
		if err == nil && st.Shares < 0 && !mayGoNegative {
			err = &OverdraftError{Account: p.Account, Unit: UnitShares,
				ShareBalance: old.Shares, Shares: p.Shares}
		}

	default:
		st.Balance, err = old.Balance.Add(p.Amount)
		if err == nil && st.Balance < 0 && !mayGoNegative {
			err = &OverdraftError{Account: p.Account, Unit: UnitMsat,
				Balance: old.Balance, Amount: p.Amount}
		}
	}
	if err != nil {
		return AccountState{}, fmt.Errorf("account %v: %w", p.Account,
			err)
	}

	return st, nil
}

// state returns an account's stored state, checked against its kind's
// unit, which must be want; an account never posted to has the zero
// balance.
func (l *Ledger) state(ctx context.Context, account Account,
	want Unit) (AccountState, error) {

	if err := account.Validate(); err != nil {
		return AccountState{}, err
	}
	if u := account.Kind.Unit(); u != want {
		return AccountState{}, fmt.Errorf("balance of %v: %w: it "+
			"counts %s, not %s", account, ErrWrongUnit, u, want)
	}

	st, err := l.store.State(ctx, account)
	switch {
	case errors.Is(err, ErrNotFound):
		return AccountState{Account: account, Unit: want}, nil

	case err != nil:
		return AccountState{}, fmt.Errorf("balance of %v: %w",
			account, err)
	}
	if err := st.CheckUnit(); err != nil {
		return AccountState{}, fmt.Errorf("balance of %v: %w",
			account, err)
	}

	return st, nil
}

// Balance returns an msat account's balance, zero for an account never
// posted to. A share account is refused with ErrWrongUnit: use
// ShareBalance.
func (l *Ledger) Balance(ctx context.Context, account Account) (MilliSatoshi,
	error) {

	st, err := l.state(ctx, account, UnitMsat)
	if err != nil {
		return 0, err
	}

	return st.Balance, nil
}

// ShareBalance returns a share account's balance, zero for an account never
// posted to. An msat account is refused with ErrWrongUnit: use Balance.
func (l *Ledger) ShareBalance(ctx context.Context, account Account) (Shares,
	error) {

	st, err := l.state(ctx, account, UnitShares)
	if err != nil {
		return 0, err
	}

	return st.Shares, nil
}

// History returns an account's postings, oldest first, after transaction id
// afterTx (0 for the start) and at most limit of them (0 for all), in the
// account's unit: Amount and BalanceAfter for an msat account, Shares and
// SharesAfter for a share account. An entry the store holds in the other
// unit is refused with ErrWrongUnit.
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

	// A stored posting is never zero, so an entry in the account's unit
	// has a non-zero amount in it and nothing in the other.
	shares := account.Kind.Unit() == UnitShares
	for _, e := range entries {
		inMsat := e.Amount != 0 || e.BalanceAfter != 0
		inShares := e.Shares != 0 || e.SharesAfter != 0
		if inMsat == shares || inShares != shares {
			return nil, fmt.Errorf("history of %v: %w: tx %d is "+
				"stored in the other unit", account,
				ErrWrongUnit, e.TxID)
		}
	}

	return entries, nil
}

// Transfer builds the transaction that moves amt from one msat account to
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

// TransferShares builds the transaction that moves shares from one share
// account to another: the postings {from: -shares, to: +shares}. Like
// Transfer, it leaves the checks to Post.
func TransferShares(key, description string, from, to Account,
	shares Shares) Transaction {

	return Transaction{
		IdempotencyKey: key,
		Description:    description,
		Postings: []Posting{
			{Account: from, Shares: -shares},
			{Account: to, Shares: shares},
		},
	}
}
