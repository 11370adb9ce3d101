package store

import (
	"cmp"
	"context"
	"database/sql"
	"errors"
	"fmt"
	"math"
	"slices"
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

// State returns an account's state in the unit recorded for it, or an
// error wrapping ledger.ErrNotFound for an account never posted to.
func (s *LedgerStore) State(ctx context.Context,
	account ledger.Account) (ledger.AccountState, error) {

	var st ledger.AccountState
	err := s.db.ExecTx(ctx, TxOptions{ReadOnly: true}, func(tx *Tx) error {
		var err error
		st, err = tx.State(ctx, account)
		return err
	})

	return st, err
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
		acct := ledger.Account{Kind: ledger.AccountKind(p.Kind),
			Ref: p.Ref}
		stored.Transaction.Postings = append(
			stored.Transaction.Postings,
			storedPosting(acct, ledger.Unit(p.Unit), p.Amount))
	}

	return stored, nil
}

// The ledger's two units share one BIGINT column for balances and posting
// amounts, in the unit recorded for the account. These helpers put a
// stored number into the field of its unit and take it out again; the
// ledger checks the recorded unit against the account's kind.

// storedPosting is a posting of amount, stored in unit, to acct.
func storedPosting(acct ledger.Account, unit ledger.Unit,
	amount int64) ledger.Posting {

	if unit == ledger.UnitShares {
		return ledger.Posting{Account: acct,
			Shares: ledger.Shares(amount)}
	}

	return ledger.Posting{Account: acct,
		Amount: ledger.MilliSatoshi(amount)}
}

// storedState is the state of acct, stored in unit with balance.
func storedState(acct ledger.Account, unit ledger.Unit,
	balance int64) ledger.AccountState {

	st := ledger.AccountState{Account: acct, Unit: unit}
	if unit == ledger.UnitShares {
		st.Shares = ledger.Shares(balance)
	} else {
		st.Balance = ledger.MilliSatoshi(balance)
	}

	return st
}

// column returns a posting's amount, or a balance, for the one column, in
// unit u: the field of u, when the other one is zero. A number in the
// other unit's field has no place to go and is refused rather than lost.
func column(u ledger.Unit, msat ledger.MilliSatoshi,
	shares ledger.Shares) (int64, error) {

	switch {
	case u != ledger.UnitMsat && u != ledger.UnitShares:
		return 0, fmt.Errorf("%w: unit %q", ledger.ErrWrongUnit, u)

	case u == ledger.UnitMsat && shares == 0:
		return int64(msat), nil

	case u == ledger.UnitShares && msat == 0:
		return int64(shares), nil
	}

	return 0, fmt.Errorf("%w: %v and %v in unit %s", ledger.ErrWrongUnit,
		msat, shares, u)
}

// Accounts returns the state of each named account that exists; accounts
// never posted to are absent from the map.
func (t *Tx) Accounts(ctx context.Context,
	ids []ledger.Account) (map[ledger.Account]ledger.AccountState, error) {

	out := make(map[ledger.Account]ledger.AccountState, len(ids))
	ids = uniqueAccounts(ids)
	if t.memo != nil {
		// Only what the transaction has not seen yet is read.
		missing := ids[:0]
		for _, id := range ids {
			m, ok := t.memoAccount(id)
			switch {
			case !ok:
				missing = append(missing, id)
			case m.found:
				out[id] = m.state
			}
		}
		ids = missing
	}
	if len(ids) == 0 {
		return out, nil
	}

	// One query for all of them, or for each chunk (Tx.chunks): (kind =
	// ? AND ref = ?) OR ... on SQLite, a join with the arrays of kinds
	// and refs on PostgreSQL. Built here rather than by sqlc: the
	// list's length is known only at run time, and sqlc.slice is not
	// available for the postgresql engine (its = ANY($1::text[]) form
	// does not run on SQLite).
	rest := ids
	for _, n := range t.chunks(len(ids)) {
		if err := t.readAccounts(ctx, rest[:n], out); err != nil {
			return nil, err
		}
		rest = rest[n:]
	}
	for _, id := range ids {
		st, found := out[id]
		t.keepAccount(id, st, found)
	}

	return out, nil
}

// readAccounts reads the stored state of ids into out in one statement.
func (t *Tx) readAccounts(ctx context.Context, ids []ledger.Account,
	out map[ledger.Account]ledger.AccountState) error {

	var (
		q    string
		args []any
	)
	if t.backend == Postgres {
		kinds, refs := make([]string, len(ids)), make([]string, len(ids))
		for i, id := range ids {
			kinds[i], refs[i] = string(id.Kind), id.Ref
		}
		q, args = accountsReadArrays, []any{kinds, refs}
	} else {
		args = make([]any, 0, 2*len(ids))
		for _, id := range ids {
			args = append(args, string(id.Kind), id.Ref)
		}
		q = listSQL(t.backend, "SELECT kind, ref, unit, balance FROM "+
			"accounts WHERE ", "(kind = ", " AND ref = ", ")", " OR ",
			2, len(ids), "")
	}
	rows, err := t.query(ctx, q, args...)
	if err != nil {
		return fmt.Errorf("accounts: %w", err)
	}
	defer rows.Close()

	for rows.Next() {
		var (
			acct    ledger.Account
			unit    ledger.Unit
			balance int64
		)
		err := rows.Scan(&acct.Kind, &acct.Ref, &unit, &balance)
		if err != nil {
			return fmt.Errorf("accounts: %w", mapError(err))
		}
		out[acct] = storedState(acct, unit, balance)
	}
	if err := rows.Err(); err != nil {
		return fmt.Errorf("accounts: %w", mapError(err))
	}

	return nil
}

// The ledger's statements of any number of rows on PostgreSQL, each taking
// one array per column (unnestSQL).
var (
	// accountsReadArrays reads the accounts of $1's kinds and $2's refs.
	accountsReadArrays = unnestSQL("SELECT a.kind, a.ref, a.unit, "+
		"a.balance FROM accounts a JOIN ", []string{"text", "text"},
		" AS k (kind, ref) ON a.kind = k.kind AND a.ref = k.ref")

	// ledgerTxsArrays inserts transactions of $1's keys and $2's
	// descriptions at $3, as insertLedgerTxs' VALUES do.
	ledgerTxsArrays = unnestSQL("INSERT INTO ledger_transactions "+
		"(idempotency_key, description, created_at) SELECT k, d, "+
		"$3::timestamptz FROM ", []string{"text", "text"},
		" AS t (k, d) ON CONFLICT (idempotency_key) DO NOTHING "+
			"RETURNING id, idempotency_key")

	// accountsUpsertArrays sets accounts' balances, creating them at
	// $5, as upsertAccountChunk's VALUES do.
	accountsUpsertArrays = unnestSQL("INSERT INTO accounts (kind, ref, "+
		"unit, balance, created_at) SELECT k, r, u, b, $5::timestamptz "+
		"FROM ", []string{"text", "text", "text", "bigint"},
		" AS t (k, r, u, b)"+accountsUpsertSuffix)

	// postingsArrays inserts postings.
	postingsArrays = unnestSQL("INSERT INTO ledger_postings (tx_id, "+
		"seq, account_id, amount, balance_after) SELECT * FROM ",
		[]string{"bigint", "integer", "bigint", "bigint", "bigint"}, "")
)

// accountsUpsertSuffix ends both backends' upserts of accounts: an account
// recorded in another unit is left as it is, and returns no row.
const accountsUpsertSuffix = " ON CONFLICT (kind, ref) DO UPDATE SET " +
	"balance = excluded.balance WHERE accounts.unit = excluded.unit " +
	"RETURNING id, kind, ref"

// InsertTransaction records tx at the given time, creates the accounts it
// posts to on first use in the unit of their state, and sets each one's
// balance to the one in states[account], which is also the balance_after
// of its posting. A key already recorded gives an error wrapping
// ledger.ErrKeyExists (and ErrUniqueViolation); an account recorded in
// another unit than its state's, or a posting with an amount outside its
// account's unit, one wrapping ledger.ErrWrongUnit.
func (t *Tx) InsertTransaction(ctx context.Context, tx ledger.Transaction,
	at time.Time, states map[ledger.Account]ledger.AccountState) (
	ledger.Receipt, error) {

	key := tx.IdempotencyKey
	fail := func(what string, err error) (ledger.Receipt, error) {
		return ledger.Receipt{}, fmt.Errorf("insert transaction %q: "+
			"%s: %w", key, what, err)
	}

	amounts, afters, err := balancesAfter(tx.Postings, states)
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
	switch {
	case errors.Is(err, sql.ErrNoRows):
		return fail("record", fmt.Errorf("%w: %w", ledger.ErrKeyExists,
			ErrUniqueViolation))

	case err != nil:
		return fail("record", mapError(err))
	}

	// Upsert the accounts in a fixed order, so that two transactions
	// touching the same accounts lock them in the same order and one
	// waits for the other instead of deadlocking.
	touched := make([]ledger.Account, 0, len(tx.Postings))
	for _, p := range tx.Postings {
		touched = append(touched, p.Account)
	}
	touched = uniqueAccounts(touched)

	accountIDs, err := t.upsertAccounts(ctx, touched, states, at)
	if err != nil {
		return fail("accounts", err)
	}
	if err := t.insertPostings(ctx, txID, tx.Postings, accountIDs,
		amounts, afters); err != nil {

		return fail("postings", err)
	}

	return ledger.Receipt{TxID: txID, IdempotencyKey: key, Time: at}, nil
}

// Compile-time check that the SQL store records batches of transactions.
var _ ledger.BatchTxStore = (*Tx)(nil)

// InsertTransactions records txs in order, as InsertTransaction would one
// after the other, with one statement per table (per chunk of rows on
// SQLite, Tx.chunks) instead of three per transaction: the transactions,
// every account they touch at its final state, and all their postings, each
// with the balance its own transaction left. A key already recorded gives
// an error wrapping ledger.ErrKeyExists, and the rows the call had
// inserted are deleted again, so that the ledger can post the batch one by
// one instead (and answer the replay) in the same store transaction.
func (t *Tx) InsertTransactions(ctx context.Context, txs []ledger.Transaction,
	at time.Time, states []map[ledger.Account]ledger.AccountState) (
	[]ledger.Receipt, error) {

	if len(txs) != len(states) {
		return nil, fmt.Errorf("insert %d transactions: %d states",
			len(txs), len(states))
	}
	if len(txs) == 0 {
		return nil, nil
	}
	fail := func(what string, err error) ([]ledger.Receipt, error) {
		return nil, fmt.Errorf("insert %d transactions from %q: %s: %w",
			len(txs), txs[0].IdempotencyKey, what, err)
	}
	at = at.UTC().Truncate(time.Microsecond)

	// Each posting's amount and balance after, from its own
	// transaction's states, and every account's final state.
	amounts := make([][]int64, len(txs))
	afters := make([][]int64, len(txs))
	final := make(map[ledger.Account]ledger.AccountState)
	var touched []ledger.Account
	for i, tx := range txs {
		var err error
		amounts[i], afters[i], err = balancesAfter(tx.Postings,
			states[i])
		if err != nil {
			return fail("balances of "+tx.IdempotencyKey, err)
		}
		for _, p := range tx.Postings {
			final[p.Account] = states[i][p.Account]
			touched = append(touched, p.Account)
		}
	}

	ids, err := t.insertLedgerTxs(ctx, txs, at)
	if err != nil {
		return fail("record", err)
	}

	// In a fixed order, as InsertTransaction does, so that two commits
	// lock accounts in the same order.
	accountIDs, err := t.upsertAccounts(ctx, uniqueAccounts(touched),
		final, at)
	if err != nil {
		return fail("accounts", err)
	}

	var rows []postingRow
	for i, tx := range txs {
		for j, p := range tx.Postings {
			rows = append(rows, postingRow{txID: ids[i], seq: int32(j),
				account: accountIDs[p.Account],
				amount:  amounts[i][j], after: afters[i][j]})
		}
	}
	if err := t.insertPostingRows(ctx, rows); err != nil {
		return fail("postings", err)
	}

	receipts := make([]ledger.Receipt, len(txs))
	for i, tx := range txs {
		receipts[i] = ledger.Receipt{TxID: ids[i],
			IdempotencyKey: tx.IdempotencyKey, Time: at}
	}

	return receipts, nil
}

// insertLedgerTxs inserts the transactions' rows and returns their ids in
// order. A key already recorded inserts nothing (ON CONFLICT DO NOTHING,
// which does not abort a Postgres transaction); the call then deletes the
// rows it did insert, which have no postings yet, and returns an error
// wrapping ledger.ErrKeyExists.
func (t *Tx) insertLedgerTxs(ctx context.Context, txs []ledger.Transaction,
	at time.Time) ([]int64, error) {

	byKey := make(map[string]int64, len(txs))
	rest := txs
	for _, n := range t.chunks(len(txs)) {
		chunk := rest[:n]
		rest = rest[n:]
		var (
			q    string
			args []any
		)
		if t.backend == Postgres {
			keys := make([]string, len(chunk))
			descs := make([]string, len(chunk))
			for i, tx := range chunk {
				keys[i], descs[i] = tx.IdempotencyKey, tx.Description
			}
			q, args = ledgerTxsArrays, []any{keys, descs, at}
		} else {
			args = make([]any, 0, 3*len(chunk))
			for _, tx := range chunk {
				args = append(args, tx.IdempotencyKey,
					tx.Description, at)
			}
			q = valuesSQL(t.backend, "INSERT INTO "+
				"ledger_transactions (idempotency_key, "+
				"description, created_at) VALUES ", 3,
				len(chunk), " ON CONFLICT (idempotency_key) DO "+
					"NOTHING RETURNING id, idempotency_key")
		}
		if err := t.scanIDs(ctx, q, args, byKey); err != nil {
			return nil, err
		}
	}

	ids := make([]int64, len(txs))
	for i, tx := range txs {
		id, ok := byKey[tx.IdempotencyKey]
		if ok && (i == 0 || id > ids[i-1]) {
			ids[i] = id
			continue
		}
		if err := t.deleteLedgerTxs(ctx, byKey); err != nil {
			return nil, err
		}
		if !ok {
			return nil, fmt.Errorf("%q: %w: %w", tx.IdempotencyKey,
				ledger.ErrKeyExists, ErrUniqueViolation)
		}
		// History pages by transaction id: they must grow in the
		// order given. Every engine numbers a multi-row INSERT's rows
		// in order; should one not, the batch is posted one by one.
		return nil, fmt.Errorf("%q: ids out of order: %w",
			tx.IdempotencyKey, ledger.ErrKeyExists)
	}

	return ids, nil
}

// scanIDs runs an INSERT ... RETURNING id, idempotency_key and adds what
// it returns to byKey.
func (t *Tx) scanIDs(ctx context.Context, q string, args []any,
	byKey map[string]int64) error {

	rows, err := t.query(ctx, q, args...)
	if err != nil {
		return err
	}
	defer rows.Close()
	for rows.Next() {
		var (
			id  int64
			key string
		)
		if err := rows.Scan(&id, &key); err != nil {
			return mapError(err)
		}
		byKey[key] = id
	}

	return mapError(rows.Err())
}

// deleteLedgerTxs deletes the transaction rows that InsertTransactions
// inserted before it found a key recorded already.
func (t *Tx) deleteLedgerTxs(ctx context.Context,
	byKey map[string]int64) error {

	for _, id := range byKey {
		_, err := t.exec(ctx, "DELETE FROM ledger_transactions "+
			"WHERE id = "+t.param(1), id)
		if err != nil {
			return fmt.Errorf("undo transaction %d: %w", id, err)
		}
	}

	return nil
}

// postingRow is one row of ledger_postings.
type postingRow struct {
	txID          int64
	seq           int32
	account       int64
	amount, after int64
}

// insertPostingRows inserts postings with one statement per chunk of them
// (Tx.chunks).
func (t *Tx) insertPostingRows(ctx context.Context, rows []postingRow) error {
	if t.backend == Postgres && len(rows) > 0 {
		n := len(rows)
		txIDs, accounts := make([]int64, n), make([]int64, n)
		amounts, afters := make([]int64, n), make([]int64, n)
		seqs := make([]int32, n)
		for i, r := range rows {
			txIDs[i], seqs[i], accounts[i] = r.txID, r.seq, r.account
			amounts[i], afters[i] = r.amount, r.after
		}
		_, err := t.exec(ctx, postingsArrays, txIDs, seqs, accounts,
			amounts, afters)
		return err
	}
	for _, n := range valuesChunks(len(rows)) {
		chunk := rows[:n]
		rows = rows[n:]
		args := make([]any, 0, 5*len(chunk))
		for _, r := range chunk {
			args = append(args, r.txID, r.seq, r.account, r.amount,
				r.after)
		}
		if _, err := t.exec(ctx, postingsSQL(t.backend, len(chunk)),
			args...); err != nil {

			return err
		}
	}

	return nil
}

// postingsSQL is the INSERT of n rows of ledger_postings.
func postingsSQL(backend Backend, n int) string {
	return valuesSQL(backend, "INSERT INTO ledger_postings (tx_id, seq, "+
		"account_id, amount, balance_after) VALUES ", 5, n, "")
}

// upsertAccounts sets the balance of each account (sorted, each once) to
// its state's, creating it in its state's unit on first use, in one
// statement per chunk of them (Tx.chunks), and returns the accounts'
// ids. An account is created in its
// unit and only ever written in it: one recorded in another unit is not
// written (the update's WHERE keeps it, and no row comes back for it),
// and comes back as ledger.ErrWrongUnit.
//
// The statements are built here rather than by sqlc: the number of rows
// is known only at run time (sqlc has no multi-row VALUES form that runs
// on both engines). Their rows are written in the order given, which is what
// keeps the lock order fixed on Postgres; the accounts are distinct, so
// no row is updated twice.
func (t *Tx) upsertAccounts(ctx context.Context, accounts []ledger.Account,
	states map[ledger.Account]ledger.AccountState, at time.Time) (
	map[ledger.Account]int64, error) {

	ids := make(map[ledger.Account]int64, len(accounts))
	rest := accounts
	for _, n := range t.chunks(len(accounts)) {
		chunk := rest[:n]
		rest = rest[n:]
		if err := t.upsertAccountChunk(ctx, chunk, states, at,
			ids); err != nil {

			return nil, err
		}
	}
	for _, a := range accounts {
		if _, ok := ids[a]; !ok {
			return nil, fmt.Errorf("account %v: %w: recorded in "+
				"another unit than %s", a, ledger.ErrWrongUnit,
				states[a].Unit)
		}
	}
	for _, a := range accounts {
		st := states[a]
		st.Account = a
		t.wroteAccount(a, st)
	}

	return ids, nil
}

// upsertAccountChunk is upsertAccounts for one chunk of accounts, in one
// statement, adding their ids to ids.
func (t *Tx) upsertAccountChunk(ctx context.Context,
	accounts []ledger.Account,
	states map[ledger.Account]ledger.AccountState, at time.Time,
	ids map[ledger.Account]int64) error {

	n := len(accounts)
	kinds, refs, units := make([]string, n), make([]string, n),
		make([]string, n)
	balances := make([]int64, n)
	for i, a := range accounts {
		st := states[a]
		balance, err := column(st.Unit, st.Balance, st.Shares)
		if err != nil {
			return fmt.Errorf("account %v: %w", a, err)
		}
		kinds[i], refs[i], units[i] = string(a.Kind), a.Ref,
			string(st.Unit)
		balances[i] = balance
	}
	var (
		q    string
		args []any
	)
	if t.backend == Postgres {
		q = accountsUpsertArrays
		args = []any{kinds, refs, units, balances, at}
	} else {
		args = make([]any, 0, 5*n)
		for i := range accounts {
			args = append(args, kinds[i], refs[i], units[i],
				balances[i], at)
		}
		q = valuesSQL(t.backend, "INSERT INTO accounts (kind, ref, "+
			"unit, balance, created_at) VALUES ", 5, n,
			accountsUpsertSuffix)
	}

	rows, err := t.query(ctx, q, args...)
	if err != nil {
		return err
	}
	defer rows.Close()

	for rows.Next() {
		var (
			id   int64
			acct ledger.Account
		)
		if err := rows.Scan(&id, &acct.Kind, &acct.Ref); err != nil {
			return mapError(err)
		}
		ids[acct] = id
	}

	return mapError(rows.Err())
}

// insertPostings inserts a transaction's postings, numbered in the order
// given (insertPostingRows).
func (t *Tx) insertPostings(ctx context.Context, txID int64,
	postings []ledger.Posting, accountIDs map[ledger.Account]int64,
	amounts, afters []int64) error {

	rows := make([]postingRow, len(postings))
	for i, p := range postings {
		rows[i] = postingRow{txID: txID, seq: int32(i),
			account: accountIDs[p.Account], amount: amounts[i],
			after: afters[i]}
	}

	return t.insertPostingRows(ctx, rows)
}

// balancesAfter returns each posting's amount and the balance it leaves
// its account at, as stored: in the unit of the account's state. The
// balance after is the account's final balance less whatever later
// postings of the same transaction add to it. The ledger merges postings
// per account, so this is usually just the final balance, but the store
// does not rely on it.
func balancesAfter(postings []ledger.Posting,
	states map[ledger.Account]ledger.AccountState) (amounts,
	afters []int64, err error) {

	amounts = make([]int64, len(postings))
	afters = make([]int64, len(postings))
	running := make(map[ledger.Account]int64, len(postings))
	for i := len(postings) - 1; i >= 0; i-- {
		p := postings[i]
		st, ok := states[p.Account]
		if !ok {
			return nil, nil, fmt.Errorf("no state given for "+
				"account %v", p.Account)
		}
		amount, err := column(st.Unit, p.Amount, p.Shares)
		if err != nil {
			return nil, nil, fmt.Errorf("posting %d to %v: %w", i,
				p.Account, err)
		}
		bal, ok := running[p.Account]
		if !ok {
			bal, err = column(st.Unit, st.Balance, st.Shares)
			if err != nil {
				return nil, nil, fmt.Errorf("account %v: %w",
					p.Account, err)
			}
		}
		amounts[i], afters[i] = amount, bal

		before, err := subIn(st.Unit, bal, amount)
		if err != nil {
			return nil, nil, fmt.Errorf("account %v: %w",
				p.Account, err)
		}
		running[p.Account] = before
	}

	return amounts, afters, nil
}

// subIn returns a - b, amounts in unit u, with the ledger's checked
// arithmetic of that unit.
func subIn(u ledger.Unit, a, b int64) (int64, error) {
	if u == ledger.UnitShares {
		d, err := ledger.Shares(a).Sub(ledger.Shares(b))
		return int64(d), err
	}
	d, err := ledger.MilliSatoshi(a).Sub(ledger.MilliSatoshi(b))

	return int64(d), err
}

// State returns an account's state as this transaction sees it, in the
// unit recorded for it, or an error wrapping ledger.ErrNotFound for an
// account never posted to.
func (t *Tx) State(ctx context.Context,
	account ledger.Account) (ledger.AccountState, error) {

	if m, ok := t.memoAccount(account); ok {
		if !m.found {
			return ledger.AccountState{}, fmt.Errorf("account %v: %w",
				account, ledger.ErrNotFound)
		}
		return m.state, nil
	}
	row, err := t.q.GetAccountState(ctx, sqlc.GetAccountStateParams{
		Kind: string(account.Kind),
		Ref:  account.Ref,
	})
	switch {
	case errors.Is(err, sql.ErrNoRows):
		t.keepAccount(account, ledger.AccountState{}, false)
		return ledger.AccountState{}, fmt.Errorf("account %v: %w",
			account, ledger.ErrNotFound)
	case err != nil:
		return ledger.AccountState{}, fmt.Errorf("account %v: %w",
			account, mapError(err))
	}

	st := storedState(account, ledger.Unit(row.Unit), row.Balance)
	t.keepAccount(account, st, true)
	return st, nil
}

// checkedState returns an account's state as this transaction sees it,
// zero for an account never posted to, refusing with ledger.ErrWrongUnit an
// account whose kind does not count want or that is recorded in another
// unit than its kind's.
func (t *Tx) checkedState(ctx context.Context, account ledger.Account,
	want ledger.Unit) (ledger.AccountState, error) {

	if u := account.Kind.Unit(); u != want {
		return ledger.AccountState{}, fmt.Errorf("balance of %v: %w: "+
			"it counts %q, not %s", account, ledger.ErrWrongUnit, u,
			want)
	}
	st, err := t.State(ctx, account)
	switch {
	case errors.Is(err, ledger.ErrNotFound):
		return ledger.AccountState{Account: account, Unit: want}, nil
	case err != nil:
		return ledger.AccountState{}, fmt.Errorf("balance of %v: %w",
			account, err)
	}
	if err := st.CheckUnit(); err != nil {
		return ledger.AccountState{}, fmt.Errorf("balance of %v: %w",
			account, err)
	}

	return st, nil
}

// Balance returns an msat account's balance as this transaction sees it;
// zero for an account never posted to. A share account, or one recorded
// in another unit than its kind's, is refused with ledger.ErrWrongUnit.
func (t *Tx) Balance(ctx context.Context,
	account ledger.Account) (ledger.MilliSatoshi, error) {

	st, err := t.checkedState(ctx, account, ledger.UnitMsat)
	if err != nil {
		return 0, err
	}

	return st.Balance, nil
}

// ShareBalance returns a share account's balance as this transaction sees
// it; zero for an account never posted to. An msat account, or one
// recorded in another unit than its kind's, is refused with
// ledger.ErrWrongUnit.
func (t *Tx) ShareBalance(ctx context.Context,
	account ledger.Account) (ledger.Shares, error) {

	st, err := t.checkedState(ctx, account, ledger.UnitShares)
	if err != nil {
		return 0, err
	}

	return st.Shares, nil
}

// PostedByKeyPrefix returns the sum of what the transactions whose
// idempotency key begins with prefix posted to an msat account; zero when
// none did. A share account is refused with ledger.ErrWrongUnit, and an
// empty prefix, which would match every key, with ledger.ErrEmptyKey.
func (t *Tx) PostedByKeyPrefix(ctx context.Context, account ledger.Account,
	prefix string) (ledger.MilliSatoshi, error) {

	if prefix == "" {
		return 0, fmt.Errorf("postings to %v by key prefix: %w",
			account, ledger.ErrEmptyKey)
	}
	if u := account.Kind.Unit(); u != ledger.UnitMsat {
		return 0, fmt.Errorf("postings to %v: %w: it counts %q, not %s",
			account, ledger.ErrWrongUnit, u, ledger.UnitMsat)
	}
	total, err := t.q.SumAccountPostingsByKeyPrefix(ctx,
		sqlc.SumAccountPostingsByKeyPrefixParams{
			Kind:      string(account.Kind),
			Ref:       account.Ref,
			KeyPrefix: prefix,
		})
	if err != nil {
		return 0, fmt.Errorf("postings to %v by %q: %w", account,
			prefix, mapError(err))
	}

	return ledger.MilliSatoshi(total), nil
}

// History returns an account's postings oldest first, after transaction
// afterTx (0 for the start) and at most limit of them (0 for all), each in
// the unit recorded for the account. An account never posted to has an
// empty history.
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
		e := ledger.Entry{
			TxID:           r.ID,
			IdempotencyKey: r.IdempotencyKey,
			Description:    r.Description,
			Time:           r.CreatedAt.UTC(),
		}
		if ledger.Unit(r.Unit) == ledger.UnitShares {
			e.Shares = ledger.Shares(r.Amount)
			e.SharesAfter = ledger.Shares(r.BalanceAfter)
		} else {
			e.Amount = ledger.MilliSatoshi(r.Amount)
			e.BalanceAfter = ledger.MilliSatoshi(r.BalanceAfter)
		}
		entries = append(entries, e)
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
