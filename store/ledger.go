package store

import (
	"cmp"
	"context"
	"database/sql"
	"errors"
	"fmt"
	"math"
	"slices"
	"strings"
	"time"

	"github.com/sluice-ln/sluice/ledger"
	"github.com/sluice-ln/sluice/store/sqlc"
)

// LedgerStore is the ledger's Store on SQL. Domain stores that need to post
// ledger transactions together with their own writes use DB.ExecTx and hand
// the *Tx to ledger.PostTx instead.
type LedgerStore struct {
	db *DB
}

// Compile-time checks that the SQL store is what the ledger needs.
var (
	_ ledger.Store   = (*LedgerStore)(nil)
	_ ledger.TxStore = (*Tx)(nil)
)

// NewLedgerStore returns the ledger's store on db.
func NewLedgerStore(db *DB) *LedgerStore {
	return &LedgerStore{db: db}
}

// ExecTx runs fn in one read-write transaction, retrying it on
// serialization and busy errors as DB.ExecTx does.
func (s *LedgerStore) ExecTx(ctx context.Context,
	fn func(ledger.TxStore) error) error {

	return s.db.ExecTx(ctx, TxOptions{}, func(tx *Tx) error {
		return fn(tx)
	})
}

// Balance returns an account's balance; zero for an account never posted
// to.
func (s *LedgerStore) Balance(ctx context.Context,
	account ledger.Account) (ledger.MilliSatoshi, error) {

	var bal ledger.MilliSatoshi
	err := s.db.ExecTx(ctx, TxOptions{ReadOnly: true}, func(tx *Tx) error {
		var err error
		bal, err = tx.Balance(ctx, account)
		return err
	})

	return bal, err
}

// History returns an account's postings oldest first, after transaction
// afterTx and at most limit of them (0 for all).
func (s *LedgerStore) History(ctx context.Context, account ledger.Account,
	afterTx int64, limit int) ([]ledger.Entry, error) {

	var entries []ledger.Entry
	err := s.db.ExecTx(ctx, TxOptions{ReadOnly: true}, func(tx *Tx) error {
		var err error
		entries, err = tx.History(ctx, account, afterTx, limit)
		return err
	})

	return entries, err
}

// TransactionByKey returns the transaction recorded under the idempotency
// key, with its postings in the order they were given, or an error wrapping
// ledger.ErrNotFound.
func (t *Tx) TransactionByKey(ctx context.Context,
	key string) (ledger.StoredTx, error) {

	var stored ledger.StoredTx
	row, err := t.q.GetTransactionByKey(ctx, key)
	switch {
	case errors.Is(err, sql.ErrNoRows):
		return ledger.StoredTx{}, fmt.Errorf("transaction %q: %w", key,
			ledger.ErrNotFound)
	case err != nil:
		return ledger.StoredTx{}, fmt.Errorf("transaction %q: %w", key,
			mapError(err))
	}
	stored.Receipt.TxID = row.ID
	stored.Receipt.IdempotencyKey = key
	stored.Receipt.Time = row.CreatedAt.UTC()
	stored.Transaction.IdempotencyKey = key
	stored.Transaction.Description = row.Description

	postings, err := t.q.ListTransactionPostings(ctx, row.ID)
	if err != nil {
		return ledger.StoredTx{}, fmt.Errorf("transaction %q: "+
			"postings: %w", key, mapError(err))
	}
	stored.Transaction.Postings = make([]ledger.Posting, 0, len(postings))
	for _, p := range postings {
		stored.Transaction.Postings = append(
			stored.Transaction.Postings, ledger.Posting{
				Account: ledger.Account{
					Kind: ledger.AccountKind(p.Kind),
					Ref:  p.Ref,
				},
				Amount: ledger.MilliSatoshi(p.Amount),
			})
	}

	return stored, nil
}

// Accounts returns the state of each named account that exists; accounts
// never posted to are absent from the map.
func (t *Tx) Accounts(ctx context.Context,
	ids []ledger.Account) (map[ledger.Account]ledger.AccountState, error) {

	out := make(map[ledger.Account]ledger.AccountState, len(ids))
	ids = uniqueAccounts(ids)
	if len(ids) == 0 {
		return out, nil
	}

	// One query for all of them: (kind = $1 AND ref = $2) OR ... Built
	// here rather than by sqlc: the list's length is known only at run
	// time, and sqlc.slice is not available for the postgresql engine
	// (its = ANY($1::text[]) form does not run on SQLite).
	var (
		where strings.Builder
		args  = make([]any, 0, 2*len(ids))
	)
	for i, id := range ids {
		if i > 0 {
			where.WriteString(" OR ")
		}
		fmt.Fprintf(&where, "(kind = $%d AND ref = $%d)", 2*i+1, 2*i+2)
		args = append(args, string(id.Kind), id.Ref)
	}

	rows, err := t.query(ctx, "SELECT kind, ref, balance FROM accounts "+
		"WHERE "+where.String(), args...)
	if err != nil {
		return nil, fmt.Errorf("accounts: %w", err)
	}
	defer rows.Close()

	for rows.Next() {
		var st ledger.AccountState
		err := rows.Scan(&st.Account.Kind, &st.Account.Ref, &st.Balance)
		if err != nil {
			return nil, fmt.Errorf("accounts: %w", mapError(err))
		}
		out[st.Account] = st
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("accounts: %w", mapError(err))
	}

	return out, nil
}

// InsertTransaction records tx at the given time, creates the accounts it
// posts to on first use, and sets each one's balance to balances[account],
// which is also the balance_after of its posting. A key already recorded
// gives an error wrapping ledger.ErrKeyExists (and ErrUniqueViolation).
func (t *Tx) InsertTransaction(ctx context.Context, tx ledger.Transaction,
	at time.Time, balances map[ledger.Account]ledger.MilliSatoshi) (
	ledger.Receipt, error) {

	key := tx.IdempotencyKey
	fail := func(what string, err error) (ledger.Receipt, error) {
		return ledger.Receipt{}, fmt.Errorf("insert transaction %q: "+
			"%s: %w", key, what, err)
	}

	afters, err := balancesAfter(tx.Postings, balances)
	if err != nil {
		return fail("balances", err)
	}
	at = at.UTC().Truncate(time.Microsecond)

	txID, err := t.q.InsertLedgerTransaction(ctx,
		sqlc.InsertLedgerTransactionParams{
			IdempotencyKey: key,
			Description:    tx.Description,
			CreatedAt:      at,
		})
	if err != nil {
		err = mapError(err)
		if errors.Is(err, ErrUniqueViolation) {
			err = fmt.Errorf("%w: %w", ledger.ErrKeyExists, err)
		}

		return fail("record", err)
	}

	// Upsert the accounts in a fixed order, so that two transactions
	// touching the same accounts lock them in the same order and one
	// waits for the other instead of deadlocking.
	touched := make([]ledger.Account, 0, len(tx.Postings))
	for _, p := range tx.Postings {
		touched = append(touched, p.Account)
	}
	touched = uniqueAccounts(touched)

	accountIDs := make(map[ledger.Account]int64, len(touched))
	for _, a := range touched {
		id, err := t.q.UpsertAccountBalance(ctx,
			sqlc.UpsertAccountBalanceParams{
				Kind:      string(a.Kind),
				Ref:       a.Ref,
				Balance:   int64(balances[a]),
				CreatedAt: at,
			})
		if err != nil {
			return fail(fmt.Sprintf("account %v", a), mapError(err))
		}
		accountIDs[a] = id
	}

	for i, p := range tx.Postings {
		err := t.q.InsertPosting(ctx, sqlc.InsertPostingParams{
			TxID:         txID,
			Seq:          int32(i),
			AccountID:    accountIDs[p.Account],
			Amount:       int64(p.Amount),
			BalanceAfter: int64(afters[i]),
		})
		if err != nil {
			return fail(fmt.Sprintf("posting %d", i),
				mapError(err))
		}
	}

	return ledger.Receipt{TxID: txID, IdempotencyKey: key, Time: at}, nil
}

// balancesAfter returns the balance each posting leaves its account at:
// the account's final balance less whatever later postings of the same
// transaction add to it. The ledger merges postings per account, so this
// is usually just the final balance, but the store does not rely on it.
func balancesAfter(postings []ledger.Posting,
	balances map[ledger.Account]ledger.MilliSatoshi) (
	[]ledger.MilliSatoshi, error) {

	afters := make([]ledger.MilliSatoshi, len(postings))
	running := make(map[ledger.Account]ledger.MilliSatoshi, len(postings))
	for i := len(postings) - 1; i >= 0; i-- {
		p := postings[i]
		bal, ok := running[p.Account]
		if !ok {
			bal, ok = balances[p.Account]
			if !ok {
				return nil, fmt.Errorf("no balance given for "+
					"account %v", p.Account)
			}
		}
		afters[i] = bal

		before, err := bal.Sub(p.Amount)
		if err != nil {
			return nil, fmt.Errorf("account %v: %w", p.Account, err)
		}
		running[p.Account] = before
	}

	return afters, nil
}

// Balance returns an account's balance as this transaction sees it; zero
// for an account never posted to.
func (t *Tx) Balance(ctx context.Context,
	account ledger.Account) (ledger.MilliSatoshi, error) {

	bal, err := t.q.GetAccountBalance(ctx, sqlc.GetAccountBalanceParams{
		Kind: string(account.Kind),
		Ref:  account.Ref,
	})
	switch {
	case errors.Is(err, sql.ErrNoRows):
		return 0, nil
	case err != nil:
		return 0, fmt.Errorf("balance of %v: %w", account,
			mapError(err))
	}

	return ledger.MilliSatoshi(bal), nil
}

// History returns an account's postings oldest first, after transaction
// afterTx (0 for the start) and at most limit of them (0 for all). An
// account never posted to has an empty history.
func (t *Tx) History(ctx context.Context, account ledger.Account,
	afterTx int64, limit int) ([]ledger.Entry, error) {

	switch {
	case afterTx < 0:
		return nil, fmt.Errorf("history of %v: afterTx %d is "+
			"negative", account, afterTx)
	case limit < 0:
		return nil, fmt.Errorf("history of %v: limit %d is negative",
			account, limit)
	}

	var (
		rows []sqlc.ListAccountHistoryRow
		err  error
	)
	if limit > 0 {
		var limited []sqlc.ListAccountHistoryLimitRow
		limited, err = t.q.ListAccountHistoryLimit(ctx,
			sqlc.ListAccountHistoryLimitParams{
				Kind:    string(account.Kind),
				Ref:     account.Ref,
				AfterTx: afterTx,
				MaxRows: int32(min(limit, math.MaxInt32)),
			})
		rows = make([]sqlc.ListAccountHistoryRow, len(limited))
		for i, r := range limited {
			rows[i] = sqlc.ListAccountHistoryRow(r)
		}
	} else {
		rows, err = t.q.ListAccountHistory(ctx,
			sqlc.ListAccountHistoryParams{
				Kind:    string(account.Kind),
				Ref:     account.Ref,
				AfterTx: afterTx,
			})
	}
	if err != nil {
		return nil, fmt.Errorf("history of %v: %w", account,
			mapError(err))
	}

	entries := make([]ledger.Entry, 0, len(rows))
	for _, r := range rows {
		entries = append(entries, ledger.Entry{
			TxID:           r.ID,
			IdempotencyKey: r.IdempotencyKey,
			Description:    r.Description,
			Time:           r.CreatedAt.UTC(),
			Amount:         ledger.MilliSatoshi(r.Amount),
			BalanceAfter:   ledger.MilliSatoshi(r.BalanceAfter),
		})
	}

	return entries, nil
}

// uniqueAccounts returns the accounts sorted by kind and ref, each once.
func uniqueAccounts(ids []ledger.Account) []ledger.Account {
	out := slices.Clone(ids)
	slices.SortFunc(out, func(a, b ledger.Account) int {
		return cmp.Or(cmp.Compare(a.Kind, b.Kind),
			cmp.Compare(a.Ref, b.Ref))
	})

	return slices.Compact(out)
}
