package ledger

import (
	"context"
	"errors"
	"fmt"
	"time"
)

// PostBatchTx posts txs, in order, in the store transaction txs as PostTx
// would post them one after the other, and returns their receipts in
// order. When the store is a BatchTxStore and every transaction is a first
// post that its balances allow (the usual case: metering's group commit
// posts one usage charge per job), it reads every touched account in one
// call, applies the transactions in order with the rules of PostTx, and
// has the store write them all at once. Otherwise (a store without
// batches, a key used twice in txs or recorded before, a posting the
// balances refuse) it posts them one by one with PostTx, which answers
// replays and refusals as it always does; the first error stops it, and
// the caller rolls the store transaction back.
func (l *Ledger) PostBatchTx(ctx context.Context, txs TxStore,
	batch []Transaction) ([]Receipt, error) {

	if bs, ok := txs.(BatchTxStore); ok && len(batch) > 1 {
		receipts, ok, err := l.postBatch(ctx, bs, batch)
		if err != nil || ok {
			return receipts, err
		}
	}

	receipts := make([]Receipt, 0, len(batch))
	for _, tx := range batch {
		r, err := l.PostTx(ctx, txs, tx)
		if err != nil {
			return nil, err
		}
		receipts = append(receipts, r)
	}

	return receipts, nil
}

// postBatch is PostBatchTx's one-write path: ok is false, with nothing
// written, when the batch must be posted one by one instead.
func (l *Ledger) postBatch(ctx context.Context, bs BatchTxStore,
	batch []Transaction) ([]Receipt, bool, error) {

	norms := make([]Transaction, len(batch))
	keys := make(map[string]bool, len(batch))
	var ids []Account
	for i, tx := range batch {
		norm, err := normalize(tx)
		if err != nil {
			return nil, false, fmt.Errorf("transaction %q: %w",
				tx.IdempotencyKey, err)
		}
		if keys[norm.IdempotencyKey] {
			return nil, false, nil
		}
		keys[norm.IdempotencyKey] = true
		norms[i] = norm
		for _, p := range norm.Postings {
			ids = append(ids, p.Account)
		}
	}
	states, err := bs.Accounts(ctx, ids)
	if err != nil {
		return nil, false, fmt.Errorf("batch of %d transactions: "+
			"loading accounts: %w", len(batch), err)
	}

	// Each transaction applies to the states the ones before it left.
	nexts := make([]map[Account]AccountState, len(norms))
	for i, norm := range norms {
		next := make(map[Account]AccountState, len(norm.Postings))
		for _, p := range norm.Postings {
			old, ok := states[p.Account]
			if !ok {
				old = AccountState{Account: p.Account,
					Unit: p.Account.Kind.Unit()}
			}
			st, err := apply(old, p)
			if err != nil {
				// A replay, or a refusal: PostTx tells which.
				return nil, false, nil
			}
			next[p.Account] = st
		}
		for a, st := range next {
			states[a] = st
		}
		nexts[i] = next
	}

	at := l.clock().UTC().Truncate(time.Microsecond)
	receipts, err := bs.InsertTransactions(ctx, norms, at, nexts)
	if errors.Is(err, ErrKeyExists) {
		return nil, false, nil
	}
	if err != nil {
		return nil, false, fmt.Errorf("batch of %d transactions: "+
			"inserting: %w", len(batch), err)
	}
	for i, r := range receipts {
		log.Tracef("Posted tx %d %q: %v", r.TxID,
			norms[i].IdempotencyKey, norms[i].Postings)
	}

	return receipts, true, nil
}
