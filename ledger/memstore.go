package ledger

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"time"
)

// errTxClosed is returned when a TxStore is used after its ExecTx returned.
var errTxClosed = errors.New("store transaction already finished")

// MemStore is a Store in memory, for unit tests here and in the packages
// that use the ledger. It answers as the SQL store does: ErrNotFound for an
// unknown key, ErrKeyExists for a key inserted twice, zero balances and empty
// histories for accounts never posted to; it records an account's unit when
// it creates the account and refuses to write it in another. ExecTx runs one
// function at a time and applies its writes only when it returns nil. The
// zero value is not usable; call NewMemStore.
type MemStore struct {
	mu sync.Mutex

	// states holds every account posted to.
	states map[Account]AccountState

	// txs holds the recorded transactions; txs[i] has id i+1.
	txs []StoredTx

	// byKey maps an idempotency key to its index in txs.
	byKey map[string]int

	// history holds each account's entries, oldest first.
	history map[Account][]Entry
}

// A compile-time check that MemStore is a Store.
var _ Store = (*MemStore)(nil)

// NewMemStore returns an empty MemStore.
func NewMemStore() *MemStore {
	return &MemStore{
		states:  make(map[Account]AccountState),
		byKey:   make(map[string]int),
		history: make(map[Account][]Entry),
	}
}

// ExecTx runs fn with a TxStore whose writes are kept aside and applied to
// the store only when fn returns nil. Calls are serialized; fn must not call
// ExecTx on the same store.
func (m *MemStore) ExecTx(ctx context.Context, fn func(TxStore) error) error {
	if err := ctx.Err(); err != nil {
		return err
	}

	m.mu.Lock()
	defer m.mu.Unlock()

	tx := &memTx{store: m, states: make(map[Account]AccountState)}
	defer func() { tx.closed = true }()

	if err := fn(tx); err != nil {
		return err
	}
	if err := ctx.Err(); err != nil {
		return err
	}

	tx.commit()

	return nil
}

// State returns the account's state, or ErrNotFound if it was never posted
// to.
func (m *MemStore) State(ctx context.Context, account Account) (AccountState,
	error) {

	if err := ctx.Err(); err != nil {
		return AccountState{}, err
	}

	m.mu.Lock()
	defer m.mu.Unlock()

	st, ok := m.states[account]
	if !ok {
		return AccountState{}, fmt.Errorf("account %v: %w", account,
			ErrNotFound)
	}

	return st, nil
}

// History returns the account's entries after transaction afterTx, oldest
// first, at most limit of them (0 for all).
func (m *MemStore) History(ctx context.Context, account Account, afterTx int64,
	limit int) ([]Entry, error) {

	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if limit < 0 {
		return nil, fmt.Errorf("limit %d is negative", limit)
	}

	m.mu.Lock()
	defer m.mu.Unlock()

	all := m.history[account]
	start, _ := slices.BinarySearchFunc(all, afterTx,
		func(e Entry, id int64) int {
			switch {
			case e.TxID <= id:
				return -1
			default:
				return 1
			}
		})

	out := slices.Clone(all[start:])
	if limit > 0 && len(out) > limit {
		out = out[:limit]
	}
	if out == nil {
		out = []Entry{}
	}

	return out, nil
}

// memTx is one MemStore transaction: reads see the store plus this
// transaction's own writes, which commit applies.
type memTx struct {
	store  *MemStore
	closed bool

	// txs are the transactions inserted so far, in order.
	txs []StoredTx

	// states are the account states set so far.
	states map[Account]AccountState
}

// TransactionByKey returns the transaction recorded under key, or
// ErrNotFound.
func (t *memTx) TransactionByKey(ctx context.Context, key string) (StoredTx,
	error) {

	if t.closed {
		return StoredTx{}, errTxClosed
	}
	if err := ctx.Err(); err != nil {
		return StoredTx{}, err
	}

	if i, ok := t.store.byKey[key]; ok {
		return cloneStored(t.store.txs[i]), nil
	}
	for _, s := range t.txs {
		if s.Receipt.IdempotencyKey == key {
			return cloneStored(s), nil
		}
	}

	return StoredTx{}, fmt.Errorf("transaction %q: %w", key, ErrNotFound)
}

// Accounts returns the state of each named account that was posted to.
func (t *memTx) Accounts(ctx context.Context,
	ids []Account) (map[Account]AccountState, error) {

	if t.closed {
		return nil, errTxClosed
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}

	out := make(map[Account]AccountState, len(ids))
	for _, id := range ids {
		if st, ok := t.state(id); ok {
			out[id] = st
		}
	}

	return out, nil
}

// state returns the account's state as this transaction sees it.
func (t *memTx) state(id Account) (AccountState, bool) {
	st, ok := t.states[id]
	if !ok {
		st, ok = t.store.states[id]
	}

	return st, ok
}

// InsertTransaction records tx at the given time and sets the states of
// the accounts it touches. Every account posted to must have a state in
// states, in the unit the account was created with.
func (t *memTx) InsertTransaction(ctx context.Context, tx Transaction,
	at time.Time, states map[Account]AccountState) (Receipt, error) {

	if t.closed {
		return Receipt{}, errTxClosed
	}
	if err := ctx.Err(); err != nil {
		return Receipt{}, err
	}

	if _, err := t.TransactionByKey(ctx, tx.IdempotencyKey); err == nil {
		return Receipt{}, fmt.Errorf("transaction %q: %w",
			tx.IdempotencyKey, ErrKeyExists)
	}
	for _, p := range tx.Postings {
		st, ok := states[p.Account]
		if !ok {
			return Receipt{}, fmt.Errorf("transaction %q: no "+
				"state given for account %v",
				tx.IdempotencyKey, p.Account)
		}
		if old, ok := t.state(p.Account); ok && old.Unit != st.Unit {
			return Receipt{}, fmt.Errorf("transaction %q: %w: "+
				"account %v is in unit %q, not %q",
				tx.IdempotencyKey, ErrWrongUnit, p.Account,
				old.Unit, st.Unit)
		}
	}

	receipt := Receipt{
		TxID:           int64(len(t.store.txs) + len(t.txs) + 1),
		IdempotencyKey: tx.IdempotencyKey,
		Time:           at,
	}
	t.txs = append(t.txs, StoredTx{
		Receipt:     receipt,
		Transaction: cloneTx(tx),
	})
	for _, p := range tx.Postings {
		t.states[p.Account] = states[p.Account]
	}

	return receipt, nil
}

// commit applies the transaction's writes to the store; the store's lock is
// held.
func (t *memTx) commit() {
	s := t.store
	for _, stored := range t.txs {
		s.byKey[stored.Receipt.IdempotencyKey] = len(s.txs)
		s.txs = append(s.txs, stored)

		// Each entry's balance runs on from the account's previous
		// one, so an account posted to twice in one transaction still
		// gets a history that adds up.
		for _, p := range stored.Transaction.Postings {
			e := Entry{
				TxID:           stored.Receipt.TxID,
				IdempotencyKey: stored.Receipt.IdempotencyKey,
				Description:    stored.Transaction.Description,
				Time:           stored.Receipt.Time,
			}
			prev := s.states[p.Account]
			if h := s.history[p.Account]; len(h) > 0 {
				prev.Balance = h[len(h)-1].BalanceAfter
				prev.Shares = h[len(h)-1].SharesAfter
			}
			if p.Account.Kind.Unit() == UnitShares {
				e.Shares, e.SharesAfter = p.Shares,
					prev.Shares+p.Shares
			} else {
				e.Amount, e.BalanceAfter = p.Amount,
					prev.Balance+p.Amount
			}
			s.history[p.Account] = append(s.history[p.Account], e)
		}
	}
	for a, st := range t.states {
		s.states[a] = st
	}
}

// cloneTx copies tx so that the caller's later changes to its postings do
// not reach the store, nor the store's to the caller.
func cloneTx(tx Transaction) Transaction {
	tx.Postings = slices.Clone(tx.Postings)
	return tx
}

// cloneStored copies a stored transaction for a caller.
func cloneStored(s StoredTx) StoredTx {
	s.Transaction = cloneTx(s.Transaction)
	return s
}
