package store_test

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/sluice-ln/sluice/ledger"
	"github.com/sluice-ln/sluice/store"
	"github.com/sluice-ln/sluice/store/storetest"
	"pgregory.net/rapid"
)

// txAt is the time the contract tests record transactions at: in a zone
// other than UTC and with nanoseconds, both of which the store must drop.
var txAt = time.Date(2025, 3, 1, 12, 30, 45, 123456789,
	time.FixedZone("CET", 3600))

// insert runs one InsertTransaction in its own store transaction.
func insert(t *testing.T, db *store.DB, tx ledger.Transaction,
	balances map[ledger.Account]ledger.MilliSatoshi) (ledger.Receipt,
	error) {

	t.Helper()

	var receipt ledger.Receipt
	err := db.ExecTx(context.Background(), store.TxOptions{},
		func(stx *store.Tx) error {
			var err error
			receipt, err = stx.InsertTransaction(
				context.Background(), tx, txAt, balances)
			return err
		})

	return receipt, err
}

// TestTxStoreContract checks the SQL store against ledger.TxStore and
// ledger.Store: not found, absent accounts, insert, balances, the stored
// transaction and its history.
func TestTxStoreContract(t *testing.T) {
	t.Parallel()

	hub := ledger.HubHoldings()
	escrow := ledger.BuyerEscrow("job-1")
	payable := ledger.ProviderPayable("prov-1")
	fees := ledger.PlatformFees()

	storetest.ForEachBackend(t, func(t *testing.T, cfg store.Config) {
		t.Parallel()
		ctx := context.Background()
		db := storetest.Open(t, cfg)
		ls := store.NewLedgerStore(db)

		// An empty store: no transaction, no accounts.
		err := ls.ExecTx(ctx, func(txs ledger.TxStore) error {
			_, err := txs.TransactionByKey(ctx, "nope")
			if !errors.Is(err, ledger.ErrNotFound) {
				t.Errorf("TransactionByKey: %v, want "+
					"ErrNotFound", err)
			}

			got, err := txs.Accounts(ctx, nil)
			if err != nil || len(got) != 0 {
				t.Errorf("Accounts(nil) = %v, %v", got, err)
			}
			got, err = txs.Accounts(ctx, []ledger.Account{hub,
				escrow, hub})
			if err != nil || len(got) != 0 {
				t.Errorf("Accounts of new accounts = %v, %v",
					got, err)
			}

			return nil
		})
		if err != nil {
			t.Fatal(err)
		}

		fund := ledger.Transaction{
			IdempotencyKey: "fund:job-1",
			Description:    "funding invoice settled",
			Postings: []ledger.Posting{
				{Account: hub, Amount: -1000},
				{Account: escrow, Amount: 1000},
			},
		}
		r1, err := insert(t, db, fund, map[ledger.Account]ledger.MilliSatoshi{
			hub: -1000, escrow: 1000,
		})
		if err != nil {
			t.Fatal(err)
		}
		wantTime := txAt.UTC().Truncate(time.Microsecond)
		want1 := ledger.Receipt{TxID: r1.TxID,
			IdempotencyKey: "fund:job-1", Time: wantTime}
		if r1.TxID <= 0 || r1 != want1 {
			t.Fatalf("receipt %+v, want %+v", r1, want1)
		}

		use := ledger.Transaction{
			IdempotencyKey: "usage:job-1:1",
			Description:    "usage",
			Postings: []ledger.Posting{
				{Account: escrow, Amount: -300},
				{Account: payable, Amount: 290},
				{Account: fees, Amount: 10},
			},
		}
		r2, err := insert(t, db, use, map[ledger.Account]ledger.MilliSatoshi{
			escrow: 700, payable: 290, fees: 10,
		})
		if err != nil {
			t.Fatal(err)
		}
		if r2.TxID <= r1.TxID {
			t.Fatalf("second tx id %d not after first %d", r2.TxID,
				r1.TxID)
		}

		// The same key again is ErrKeyExists, and changes nothing.
		_, err = insert(t, db, fund, map[ledger.Account]ledger.MilliSatoshi{
			hub: -2000, escrow: 2000,
		})
		if !errors.Is(err, ledger.ErrKeyExists) ||
			!errors.Is(err, store.ErrUniqueViolation) {

			t.Fatalf("duplicate key: %v, want ErrKeyExists", err)
		}

		// A posting without its balance is refused before any write.
		_, err = insert(t, db, ledger.Transaction{
			IdempotencyKey: "incomplete",
			Postings:       use.Postings,
		}, map[ledger.Account]ledger.MilliSatoshi{escrow: 1})
		if err == nil {
			t.Fatal("insert without every balance succeeded")
		}

		err = ls.ExecTx(ctx, func(txs ledger.TxStore) error {
			got, err := txs.TransactionByKey(ctx, "fund:job-1")
			if err != nil {
				return err
			}
			want := ledger.StoredTx{Receipt: want1, Transaction: fund}
			if !reflect.DeepEqual(got, want) {
				t.Errorf("TransactionByKey = %+v, want %+v", got,
					want)
			}

			got, err = txs.TransactionByKey(ctx, "usage:job-1:1")
			if err != nil {
				return err
			}
			if !reflect.DeepEqual(got.Transaction, use) {
				t.Errorf("postings %+v, want %+v in order",
					got.Transaction, use)
			}

			_, err = txs.TransactionByKey(ctx, "incomplete")
			if !errors.Is(err, ledger.ErrNotFound) {
				t.Errorf("refused insert left a transaction: %v",
					err)
			}

			states, err := txs.Accounts(ctx, []ledger.Account{hub,
				escrow, payable, fees, ledger.Vault(), escrow})
			if err != nil {
				return err
			}
			want2 := map[ledger.Account]ledger.AccountState{
				hub:     {Account: hub, Balance: -1000},
				escrow:  {Account: escrow, Balance: 700},
				payable: {Account: payable, Balance: 290},
				fees:    {Account: fees, Balance: 10},
			}
			if !reflect.DeepEqual(states, want2) {
				t.Errorf("Accounts = %v, want %v", states, want2)
			}

			return nil
		})
		if err != nil {
			t.Fatal(err)
		}

		balances := map[ledger.Account]ledger.MilliSatoshi{
			hub: -1000, escrow: 700, payable: 290, fees: 10,
			ledger.Vault(): 0,
		}
		for acct, want := range balances {
			got, err := ls.Balance(ctx, acct)
			if err != nil || got != want {
				t.Errorf("Balance(%v) = %v, %v; want %v", acct,
					got, err, want)
			}
		}

		e1 := ledger.Entry{TxID: r1.TxID, IdempotencyKey: "fund:job-1",
			Description: "funding invoice settled", Time: wantTime,
			Amount: 1000, BalanceAfter: 1000}
		e2 := ledger.Entry{TxID: r2.TxID, IdempotencyKey: "usage:job-1:1",
			Description: "usage", Time: wantTime, Amount: -300,
			BalanceAfter: 700}
		histories := []struct {
			account ledger.Account
			after   int64
			limit   int
			want    []ledger.Entry
		}{
			{escrow, 0, 0, []ledger.Entry{e1, e2}},
			{escrow, r1.TxID, 0, []ledger.Entry{e2}},
			{escrow, 0, 1, []ledger.Entry{e1}},
			{escrow, r2.TxID, 0, []ledger.Entry{}},
			{ledger.Vault(), 0, 0, []ledger.Entry{}},
		}
		for _, h := range histories {
			got, err := ls.History(ctx, h.account, h.after, h.limit)
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, h.want) {
				t.Errorf("History(%v, %d, %d) = %+v, want %+v",
					h.account, h.after, h.limit, got, h.want)
			}
		}
		if _, err := ls.History(ctx, escrow, -1, 0); err == nil {
			t.Error("History with negative afterTx succeeded")
		}
		if _, err := ls.History(ctx, escrow, 0, -1); err == nil {
			t.Error("History with negative limit succeeded")
		}
	})
}

// TestBalanceAfterRepeatedAccount checks the history of an account posted
// twice in one transaction, which the ledger never sends but the store
// still records so that it adds up.
func TestBalanceAfterRepeatedAccount(t *testing.T) {
	t.Parallel()

	a := ledger.StrategyYield("s1")
	b := ledger.Vault()

	storetest.ForEachBackend(t, func(t *testing.T, cfg store.Config) {
		t.Parallel()
		db := storetest.Open(t, cfg)

		_, err := insert(t, db, ledger.Transaction{
			IdempotencyKey: "twice",
			Postings: []ledger.Posting{
				{Account: a, Amount: -50},
				{Account: b, Amount: 80},
				{Account: a, Amount: -30},
			},
		}, map[ledger.Account]ledger.MilliSatoshi{a: -80, b: 80})
		if err != nil {
			t.Fatal(err)
		}

		got, err := store.NewLedgerStore(db).History(
			context.Background(), a, 0, 0)
		if err != nil {
			t.Fatal(err)
		}
		if len(got) != 2 || got[0].BalanceAfter != -50 ||
			got[1].BalanceAfter != -80 {

			t.Fatalf("history %+v, want balances -50 then -80", got)
		}
	})
}

// fixedClock returns a clock for ledger.New that starts at txAt and
// advances a second per call.
func fixedClock() func() time.Time {
	var n atomic.Int64
	return func() time.Time {
		return txAt.Add(time.Duration(n.Add(1)) * time.Second)
	}
}

// TestLedgerScenarios runs the ledger itself on each backend: post,
// replay, conflict, overdraft, and posting from many goroutines at once.
func TestLedgerScenarios(t *testing.T) {
	t.Parallel()

	hub := ledger.HubHoldings()
	escrow := ledger.BuyerEscrow("job-1")
	payable := ledger.ProviderPayable("prov-1")

	storetest.ForEachBackend(t, func(t *testing.T, cfg store.Config) {
		t.Parallel()
		ctx := context.Background()
		cfg.MaxTxAttempts = 200
		cfg.RetryDelay = time.Millisecond
		cfg.MaxRetryDelay = 20 * time.Millisecond
		db := storetest.Open(t, cfg)
		l := ledger.New(store.NewLedgerStore(db), fixedClock())

		fund := ledger.Transfer("fund:job-1", "funding", hub, escrow,
			5000)
		first, err := l.Post(ctx, fund)
		if err != nil {
			t.Fatal(err)
		}

		again, err := l.Post(ctx, fund)
		if err != nil {
			t.Fatal(err)
		}
		want := first
		want.Duplicate = true
		if again != want {
			t.Fatalf("replay receipt %+v, want %+v", again, want)
		}

		conflict := ledger.Transfer("fund:job-1", "funding", hub,
			escrow, 6000)
		if _, err := l.Post(ctx, conflict); !errors.Is(err,
			ledger.ErrIdempotencyConflict) {

			t.Fatalf("conflicting replay: %v, want "+
				"ErrIdempotencyConflict", err)
		}

		over := ledger.Transfer("usage:too-much", "usage", escrow,
			payable, 5001)
		_, err = l.Post(ctx, over)
		var od *ledger.OverdraftError
		if !errors.As(err, &od) || od.Account != escrow {
			t.Fatalf("overdraft: %v, want an OverdraftError on %v",
				err, escrow)
		}
		err = db.ExecTx(ctx, store.TxOptions{ReadOnly: true},
			func(tx *store.Tx) error {
				_, err := tx.TransactionByKey(ctx,
					"usage:too-much")
				return err
			})
		if !errors.Is(err, ledger.ErrNotFound) {
			t.Fatalf("refused overdraft was recorded: %v", err)
		}

		// Many goroutines move escrow to payable at once, each
		// posting also retried once; escrow covers exactly 50 moves
		// of 100.
		const (
			workers = 8
			each    = 8
		)
		var (
			wg       sync.WaitGroup
			accepted atomic.Int64
			refused  atomic.Int64
			failures = make(chan error, workers*each*2)
		)
		for w := 0; w < workers; w++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for i := 0; i < each; i++ {
					tx := ledger.Transfer(
						fmt.Sprintf("usage:%d:%d", w, i),
						"usage", escrow, payable, 100)
					for try := 0; try < 2; try++ {
						r, err := l.Post(ctx, tx)
						switch {
						case errors.Is(err,
							ledger.ErrOverdraft):

							refused.Add(1)
						case err != nil:
							failures <- err
						case !r.Duplicate:
							accepted.Add(1)
						}
					}
				}
			}()
		}
		wg.Wait()
		close(failures)
		for err := range failures {
			t.Fatalf("concurrent post: %v", err)
		}
		if accepted.Load() != 50 {
			t.Fatalf("%d moves accepted, want exactly 50",
				accepted.Load())
		}

		wantBal := map[ledger.Account]ledger.MilliSatoshi{
			hub: -5000, escrow: 0, payable: 5000,
		}
		for acct, want := range wantBal {
			got, err := l.Balance(ctx, acct)
			if err != nil || got != want {
				t.Fatalf("Balance(%v) = %v, %v; want %v", acct,
					got, err, want)
			}

			// The history replays to the balance, and its ids
			// increase.
			hist, err := l.History(ctx, acct, 0, 0)
			if err != nil {
				t.Fatal(err)
			}
			var sum ledger.MilliSatoshi
			var last int64
			for _, e := range hist {
				sum += e.Amount
				if e.BalanceAfter != sum {
					t.Fatalf("%v: entry %d balance_after "+
						"%v, replay gives %v", acct,
						e.TxID, e.BalanceAfter, sum)
				}
				if e.TxID <= last {
					t.Fatalf("%v: tx %d after %d", acct,
						e.TxID, last)
				}
				last = e.TxID
			}
			if sum != want {
				t.Fatalf("%v: history sums to %v, balance %v",
					acct, sum, want)
			}
		}
	})
}

// TestLedgerSameKeyConcurrently posts one key from many goroutines: exactly
// one post records it, every other one gets its receipt as a replay.
func TestLedgerSameKeyConcurrently(t *testing.T) {
	t.Parallel()

	storetest.ForEachBackend(t, func(t *testing.T, cfg store.Config) {
		t.Parallel()
		ctx := context.Background()
		cfg.MaxTxAttempts = 200
		cfg.RetryDelay = time.Millisecond
		cfg.MaxRetryDelay = 20 * time.Millisecond
		db := storetest.Open(t, cfg)
		l := ledger.New(store.NewLedgerStore(db), fixedClock())

		tx := ledger.Transfer("fund:job-2", "funding",
			ledger.HubHoldings(), ledger.BuyerEscrow("job-2"), 700)

		const workers = 8
		receipts := make(chan ledger.Receipt, workers)
		errs := make(chan error, workers)
		var wg sync.WaitGroup
		for w := 0; w < workers; w++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				r, err := l.Post(ctx, tx)
				if err != nil {
					errs <- err
					return
				}
				receipts <- r
			}()
		}
		wg.Wait()
		close(receipts)
		close(errs)
		for err := range errs {
			t.Fatalf("post: %v", err)
		}

		var firsts int
		var id int64
		for r := range receipts {
			if !r.Duplicate {
				firsts++
			}
			if id != 0 && r.TxID != id {
				t.Fatalf("receipts name tx %d and %d", id, r.TxID)
			}
			id = r.TxID
		}
		if firsts != 1 {
			t.Fatalf("%d posts recorded the key, want 1", firsts)
		}
		bal, err := l.Balance(ctx, ledger.BuyerEscrow("job-2"))
		if err != nil || bal != 700 {
			t.Fatalf("escrow %v, %v; want 700", bal, err)
		}
	})
}

// TestLedgerMatchesMemStore posts random sequences of transfers, replays
// and conflicts to the ledger on the SQL store and on MemStore, and checks
// that both answer every post alike and end with the same balances and
// histories.
func TestLedgerMatchesMemStore(t *testing.T) {
	t.Parallel()

	storetest.ForEachBackend(t, func(t *testing.T, cfg store.Config) {
		t.Parallel()
		ctx := context.Background()
		db := storetest.Open(t, cfg)
		sqlStore := store.NewLedgerStore(db)

		var check atomic.Int64
		rapid.Check(t, func(rt *rapid.T) {
			// Each check uses refs and keys of its own, so checks
			// share the database without seeing each other.
			n := check.Add(1)
			accounts := []ledger.Account{
				ledger.StrategyYield(fmt.Sprintf("s%d", n)),
				ledger.BuyerEscrow(fmt.Sprintf("j%d", n)),
				ledger.ProviderPayable(fmt.Sprintf("p%d", n)),
				ledger.PaidOut(fmt.Sprintf("p%d", n)),
			}

			sqlL := ledger.New(sqlStore, fixedClock())
			memL := ledger.New(ledger.NewMemStore(), fixedClock())

			ops := rapid.IntRange(1, 12).Draw(rt, "ops")
			for i := 0; i < ops; i++ {
				from := rapid.SampledFrom(accounts).Draw(rt, "from")
				to := rapid.SampledFrom(accounts).Draw(rt, "to")
				amt := rapid.Int64Range(1, 1000).Draw(rt, "amt")
				key := fmt.Sprintf("k%d:%d", n,
					rapid.IntRange(0, 4).Draw(rt, "key"))
				tx := ledger.Transfer(key, "op", from, to,
					ledger.MilliSatoshi(amt))

				sr, serr := sqlL.Post(ctx, tx)
				mr, merr := memL.Post(ctx, tx)
				if !sameOutcome(serr, merr) {
					rt.Fatalf("post %v: sql %v, mem %v", tx,
						serr, merr)
				}
				if serr == nil && sr.Duplicate != mr.Duplicate {
					rt.Fatalf("post %v: duplicate sql %v, "+
						"mem %v", tx, sr.Duplicate,
						mr.Duplicate)
				}
			}

			for _, acct := range accounts {
				sb, err := sqlL.Balance(ctx, acct)
				if err != nil {
					rt.Fatal(err)
				}
				mb, _ := memL.Balance(ctx, acct)
				if sb != mb {
					rt.Fatalf("%v: sql balance %v, mem %v",
						acct, sb, mb)
				}

				sh, err := sqlL.History(ctx, acct, 0, 0)
				if err != nil {
					rt.Fatal(err)
				}
				mh, _ := memL.History(ctx, acct, 0, 0)
				if !sameHistory(sh, mh) {
					rt.Fatalf("%v: sql history %+v, mem %+v",
						acct, sh, mh)
				}
			}
		})
	})
}

// sameOutcome reports whether two post errors are alike: both nil, or both
// the same ledger refusal.
func sameOutcome(a, b error) bool {
	for _, sentinel := range []error{ledger.ErrOverdraft,
		ledger.ErrIdempotencyConflict, ledger.ErrTooFewPostings} {

		if errors.Is(a, sentinel) != errors.Is(b, sentinel) {
			return false
		}
	}

	return (a == nil) == (b == nil)
}

// sameHistory compares histories entry by entry; the stores number their
// transactions differently (the SQL one is shared between checks), so tx
// ids are compared by their order only.
func sameHistory(a, b []ledger.Entry) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		x, y := a[i], b[i]
		if i > 0 && x.TxID <= a[i-1].TxID {
			return false
		}
		x.TxID, y.TxID = 0, 0
		if x != y {
			return false
		}
	}

	return true
}
