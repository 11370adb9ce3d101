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
// histories for accounts never posted to. ExecTx runs one function at a time
// and applies its writes only when it returns nil. The zero value is not
// usable; call NewMemStore.
type MemStore struct {
	mu sync.Mutex

	// balances holds every account posted to.
	balances map[Account]MilliSatoshi

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
		balances: make(map[Account]MilliSatoshi),
		byKey:    make(map[string]int),
		history:  make(map[Account][]Entry),
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

	tx := &memTx{store: m, balances: make(map[Account]MilliSatoshi)}
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

// Balance returns the account's balance, zero if it was never posted to.
func (m *MemStore) Balance(ctx context.Context, account Account) (MilliSatoshi,
	error) {

	if err := ctx.Err(); err != nil {
		return 0, err
	}

	m.mu.Lock()
	defer m.mu.Unlock()

	return m.balances[account], nil
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

	// balances are the balances set so far.
	balances map[Account]MilliSatoshi
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
		bal, ok := t.balances[id]
		if !ok {
			bal, ok = t.store.balances[id]
		}
		if ok {
			out[id] = AccountState{Account: id, Balance: bal}
		}
	}

	return out, nil
}

// InsertTransaction records tx at the given time and sets the balances of
// the accounts it touches. Every account posted to must have a balance in
// balances.
func (t *memTx) InsertTransaction(ctx context.Context, tx Transaction,
	at time.Time, balances map[Account]MilliSatoshi) (Receipt, error) {

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
		if _, ok := balances[p.Account]; !ok {
			return Receipt{}, fmt.Errorf("transaction %q: no "+
				"balance given for account %v",
				tx.IdempotencyKey, p.Account)
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
		t.balances[p.Account] = balances[p.Account]
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
			prev := s.balances[p.Account]
			if h := s.history[p.Account]; len(h) > 0 {
				prev = h[len(h)-1].BalanceAfter
			}
			s.history[p.Account] = append(s.history[p.Account], Entry{
				TxID:           stored.Receipt.TxID,
				IdempotencyKey: stored.Receipt.IdempotencyKey,
				Description:    stored.Transaction.Description,
				Time:           stored.Receipt.Time,
				Amount:         p.Amount,
				BalanceAfter:   prev + p.Amount,
			})
		}
	}
	for a, bal := range t.balances {
		s.balances[a] = bal
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
