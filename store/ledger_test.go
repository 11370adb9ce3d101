package store_test

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"strings"
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

// insert runs one InsertTransaction of msat accounts in its own store
// transaction.
func insert(t *testing.T, db *store.DB, tx ledger.Transaction,
	balances map[ledger.Account]ledger.MilliSatoshi) (ledger.Receipt,
	error) {

	t.Helper()

	states := make(map[ledger.Account]ledger.AccountState, len(balances))
	for a, b := range balances {
		states[a] = ledger.AccountState{Account: a,
			Unit: ledger.UnitMsat, Balance: b}
	}

	return insertStates(t, db, tx, states)
}

// insertStates runs one InsertTransaction in its own store transaction.
func insertStates(t *testing.T, db *store.DB, tx ledger.Transaction,
	states map[ledger.Account]ledger.AccountState) (ledger.Receipt,
	error) {

	t.Helper()

	var receipt ledger.Receipt
	err := db.ExecTx(context.Background(), store.TxOptions{},
		func(stx *store.Tx) error {
			var err error
			receipt, err = stx.InsertTransaction(
				context.Background(), tx, txAt, states)
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
			msat := ledger.UnitMsat
			want2 := map[ledger.Account]ledger.AccountState{
				hub: {Account: hub, Unit: msat,
					Balance: -1000},
				escrow: {Account: escrow, Unit: msat,
					Balance: 700},
				payable: {Account: payable, Unit: msat,
					Balance: 290},
				fees: {Account: fees, Unit: msat, Balance: 10},
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
		}
		for acct, want := range balances {
			got, err := ls.State(ctx, acct)
			wantState := ledger.AccountState{Account: acct,
				Unit: ledger.UnitMsat, Balance: want}
			if err != nil || got != wantState {
				t.Errorf("State(%v) = %+v, %v; want %+v", acct,
					got, err, wantState)
			}
		}
		if st, err := ls.State(ctx, ledger.Vault()); !errors.Is(err,
			ledger.ErrNotFound) {

			t.Errorf("State of an account never posted to = %+v, "+
				"%v; want ErrNotFound", st, err)
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

// TestLedgerMatchesMemStore posts random sequences of transfers in both
// units, stakes that move both at once, replays and conflicts to the ledger
// on the SQL store and on MemStore, and checks that both answer every post
// alike and end with the same balances and histories.
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
			// share the database without seeing each other. The
			// share supply is a singleton, so checks share it; it
			// is compared only by what each check moved.
			n := check.Add(1)
			money := []ledger.Account{
				ledger.StrategyYield(fmt.Sprintf("s%d", n)),
				ledger.BuyerEscrow(fmt.Sprintf("j%d", n)),
				ledger.ProviderPayable(fmt.Sprintf("p%d", n)),
				ledger.PaidOut(fmt.Sprintf("p%d", n)),
			}
			shares := []ledger.Account{
				ledger.ShareSupply(),
				ledger.ProviderShares(fmt.Sprintf("p%d", n)),
				ledger.SharesLocked(fmt.Sprintf("p%d", n)),
			}

			sqlL := ledger.New(sqlStore, fixedClock())
			memL := ledger.New(ledger.NewMemStore(), fixedClock())
			supplyBefore, err := sqlL.ShareBalance(ctx,
				ledger.ShareSupply())
			if err != nil {
				rt.Fatal(err)
			}

			ops := rapid.IntRange(1, 12).Draw(rt, "ops")
			for i := 0; i < ops; i++ {
				key := fmt.Sprintf("k%d:%d", n,
					rapid.IntRange(0, 4).Draw(rt, "key"))
				amt := rapid.Int64Range(1, 1000).Draw(rt, "amt")
				msatTx := ledger.Transfer(key, "op",
					rapid.SampledFrom(money).Draw(rt, "from"),
					rapid.SampledFrom(money).Draw(rt, "to"),
					ledger.MilliSatoshi(amt))
				shareTx := ledger.TransferShares(key, "op",
					rapid.SampledFrom(shares).Draw(rt, "sfrom"),
					rapid.SampledFrom(shares).Draw(rt, "sto"),
					ledger.Shares(amt))

				var tx ledger.Transaction
				switch rapid.IntRange(0, 2).Draw(rt, "unit") {
				case 0:
					tx = msatTx
				case 1:
					tx = shareTx
				default:
					tx = msatTx
					tx.Postings = append(tx.Postings,
						shareTx.Postings...)
				}

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

			for _, acct := range append(money, shares...) {
				var sb, mb int64
				if acct.Kind.Unit() == ledger.UnitShares {
					s, err := sqlL.ShareBalance(ctx, acct)
					if err != nil {
						rt.Fatal(err)
					}
					m, _ := memL.ShareBalance(ctx, acct)
					if acct == ledger.ShareSupply() {
						s -= supplyBefore
					}
					sb, mb = int64(s), int64(m)
				} else {
					s, err := sqlL.Balance(ctx, acct)
					if err != nil {
						rt.Fatal(err)
					}
					m, _ := memL.Balance(ctx, acct)
					sb, mb = int64(s), int64(m)
				}
				if sb != mb {
					rt.Fatalf("%v: sql balance %d, mem %d",
						acct, sb, mb)
				}
				if acct == ledger.ShareSupply() {
					continue
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
		ledger.ErrIdempotencyConflict, ledger.ErrTooFewPostings,
		ledger.ErrWrongUnit} {

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

// TestShareAccounts runs the ledger's second unit on each backend: a stake
// that moves money and shares at once, balances, histories and the stored
// transaction in each unit, replays, a share overdraft, and an account
// whose recorded unit disagrees with its kind, refused wherever it is read
// or written.
func TestShareAccounts(t *testing.T) {
	t.Parallel()

	var (
		hub    = ledger.HubHoldings()
		pay    = ledger.ProviderPayable("p1")
		vault  = ledger.Vault()
		supply = ledger.ShareSupply()
		held   = ledger.ProviderShares("p1")
		locked = ledger.SharesLocked("p1")
	)

	storetest.ForEachBackend(t, func(t *testing.T, cfg store.Config) {
		t.Parallel()
		ctx := context.Background()
		db := storetest.Open(t, cfg)
		ls := store.NewLedgerStore(db)
		l := ledger.New(ls, fixedClock())

		if _, err := l.Post(ctx, ledger.Transfer("earn", "", hub, pay,
			10_000)); err != nil {

			t.Fatal(err)
		}
		stake := ledger.Transaction{
			IdempotencyKey: "stake:1",
			Description:    "stake",
			Postings: []ledger.Posting{
				{Account: pay, Amount: -6_000},
				{Account: supply, Shares: -5_500},
				{Account: vault, Amount: 6_000},
				{Account: held, Shares: 5_500},
			},
		}
		r, err := l.Post(ctx, stake)
		if err != nil {
			t.Fatal(err)
		}

		// Read back in each unit, and refused in the other.
		for acct, want := range map[ledger.Account]ledger.Shares{
			supply: -5_500, held: 5_500, locked: 0,
		} {
			got, err := l.ShareBalance(ctx, acct)
			if err != nil || got != want {
				t.Errorf("ShareBalance(%v) = %v, %v; want %v",
					acct, got, err, want)
			}
			if _, err := l.Balance(ctx, acct); !errors.Is(err,
				ledger.ErrWrongUnit) {

				t.Errorf("Balance(%v) = %v, want ErrWrongUnit",
					acct, err)
			}
		}
		if got, err := l.Balance(ctx, vault); err != nil || got != 6_000 {
			t.Errorf("Balance(vault) = %v, %v", got, err)
		}
		st, err := ls.State(ctx, held)
		wantSt := ledger.AccountState{Account: held,
			Unit: ledger.UnitShares, Shares: 5_500}
		if err != nil || st != wantSt {
			t.Errorf("State(%v) = %+v, %v; want %+v", held, st, err,
				wantSt)
		}
		mustTx(t, db, func(ctx context.Context, tx *store.Tx) error {
			s, err := tx.ShareBalance(ctx, held)
			if err != nil || s != 5_500 {
				t.Errorf("Tx.ShareBalance = %v, %v", s, err)
			}
			if _, err := tx.Balance(ctx, held); !errors.Is(err,
				ledger.ErrWrongUnit) {

				t.Errorf("Tx.Balance of shares: %v", err)
			}
			if _, err := tx.ShareBalance(ctx, vault); !errors.Is(
				err, ledger.ErrWrongUnit) {

				t.Errorf("Tx.ShareBalance of msat: %v", err)
			}

			stored, err := tx.TransactionByKey(ctx, "stake:1")
			if err != nil {
				return err
			}
			if !reflect.DeepEqual(stored.Transaction, stake) {
				t.Errorf("stored %+v, want %+v",
					stored.Transaction, stake)
			}

			held, err := tx.ShareKindTotal(ctx,
				ledger.KindProviderShares)
			if err != nil || held != 5_500 {
				t.Errorf("ShareKindTotal = %v, %v", held, err)
			}
			if _, err := tx.KindTotal(ctx,
				ledger.KindProviderShares); !errors.Is(err,
				ledger.ErrWrongUnit) {

				t.Errorf("KindTotal of shares: %v", err)
			}
			if _, err := tx.ShareKindTotal(ctx,
				ledger.KindVault); !errors.Is(err,
				ledger.ErrWrongUnit) {

				t.Errorf("ShareKindTotal of msat: %v", err)
			}

			return nil
		})

		h, err := l.History(ctx, held, 0, 0)
		wantEntry := ledger.Entry{TxID: r.TxID,
			IdempotencyKey: "stake:1", Description: "stake",
			Time: r.Time, Shares: 5_500, SharesAfter: 5_500}
		if err != nil || len(h) != 1 || h[0] != wantEntry {
			t.Errorf("History(%v) = %+v, %v; want %+v", held, h,
				err, wantEntry)
		}

		// A replay in another order is a duplicate; a share
		// overdraft refuses the money legs with it.
		again := stake
		again.Postings = []ledger.Posting{stake.Postings[3],
			stake.Postings[2], stake.Postings[1], stake.Postings[0]}
		if dup, err := l.Post(ctx, again); err != nil ||
			!dup.Duplicate || dup.TxID != r.TxID {

			t.Fatalf("replay: %+v, %v", dup, err)
		}
		_, err = l.Post(ctx, ledger.Transaction{
			IdempotencyKey: "too-much",
			Postings: []ledger.Posting{
				{Account: pay, Amount: -1_000},
				{Account: vault, Amount: 1_000},
				{Account: held, Shares: -5_501},
				{Account: locked, Shares: 5_501},
			},
		})
		var od *ledger.OverdraftError
		if !errors.As(err, &od) || od.Account != held ||
			od.Unit != ledger.UnitShares {

			t.Fatalf("share overdraft: %v", err)
		}
		if got, _ := l.Balance(ctx, pay); got != 4_000 {
			t.Fatalf("refused transaction moved payable to %v", got)
		}

		// The store writes an account only in the unit it recorded.
		_, err = insertStates(t, db, ledger.Transaction{
			IdempotencyKey: "as-msat",
			Postings: []ledger.Posting{
				{Account: held, Amount: 1},
				{Account: hub, Amount: -1},
			},
		}, map[ledger.Account]ledger.AccountState{
			held: {Account: held, Unit: ledger.UnitMsat,
				Balance: 1},
			hub: {Account: hub, Unit: ledger.UnitMsat,
				Balance: -10_001},
		})
		if !errors.Is(err, ledger.ErrWrongUnit) {
			t.Fatalf("insert in another unit: %v, want "+
				"ErrWrongUnit", err)
		}

		// An account recorded in the wrong unit, as a bad write
		// would leave it, is refused on every path.
		mustTx(t, db, func(ctx context.Context, tx *store.Tx) error {
			return tx.Exec(ctx, `UPDATE accounts SET unit = 'msat'
				WHERE kind = 'provider_shares'`)
		})
		if _, err := l.ShareBalance(ctx, held); !errors.Is(err,
			ledger.ErrWrongUnit) {

			t.Errorf("ShareBalance of a mislabelled account: %v", err)
		}
		if _, err := l.History(ctx, held, 0, 0); !errors.Is(err,
			ledger.ErrWrongUnit) {

			t.Errorf("History of a mislabelled account: %v", err)
		}
		_, err = l.Post(ctx, ledger.TransferShares("lock", "", held,
			locked, 100))
		if !errors.Is(err, ledger.ErrWrongUnit) {
			t.Errorf("Post to a mislabelled account: %v", err)
		}
		mustTx(t, db, func(ctx context.Context, tx *store.Tx) error {
			if _, err := tx.ShareBalance(ctx, held); !errors.Is(err,
				ledger.ErrWrongUnit) {

				t.Errorf("Tx.ShareBalance of a mislabelled "+
					"account: %v", err)
			}
			if _, err := tx.ShareKindTotal(ctx,
				ledger.KindProviderShares); !errors.Is(err,
				ledger.ErrWrongUnit) {

				t.Errorf("ShareKindTotal over a mislabelled "+
					"account: %v", err)
			}

			return nil
		})

		// Nor does the schema take a unit it does not know.
		err = inTx(t, db, func(ctx context.Context, tx *store.Tx) error {
			return tx.Exec(ctx, `UPDATE accounts SET unit = 'btc'
				WHERE kind = 'vault'`)
		})
		if err == nil {
			t.Error("unit 'btc' accepted")
		}
	})
}

// unitsVersion is the migration that gives accounts their unit.
const unitsVersion = 7

// TestLedgerUnitsMigrateDown: migrating below the units migration keeps
// msat accounts and their balances and, back up, they count msat again;
// while a share account exists it is refused and changes nothing.
func TestLedgerUnitsMigrateDown(t *testing.T) {
	t.Parallel()

	storetest.ForEachBackend(t, func(t *testing.T, cfg store.Config) {
		t.Parallel()
		ctx := context.Background()
		db := storetest.Open(t, cfg)
		l := ledger.New(store.NewLedgerStore(db), fixedClock())
		latest := schemaVersion(t, db)
		escrow := ledger.BuyerEscrow("j")

		_, err := l.Post(ctx, ledger.Transfer("fund", "",
			ledger.HubHoldings(), escrow, 700))
		if err != nil {
			t.Fatal(err)
		}
		if err := db.MigrateTo(ctx, unitsVersion-1); err != nil {
			t.Fatalf("down without share accounts: %v", err)
		}
		err = inTx(t, db, func(ctx context.Context, tx *store.Tx) error {
			var unit string
			return tx.QueryRow(ctx, `SELECT unit FROM accounts`).
				Scan(&unit)
		})
		if err == nil {
			t.Fatal("the unit column survived migrating down")
		}
		if err := db.MigrateTo(ctx, latest); err != nil {
			t.Fatal(err)
		}
		if bal, err := l.Balance(ctx, escrow); err != nil || bal != 700 {
			t.Fatalf("escrow after down and up: %v, %v", bal, err)
		}

		_, err = l.Post(ctx, ledger.TransferShares("issue", "",
			ledger.ShareSupply(), ledger.ProviderShares("p"), 5))
		if err != nil {
			t.Fatal(err)
		}
		err = db.MigrateTo(ctx, unitsVersion-1)
		if err == nil || !strings.Contains(err.Error(),
			"ledger_units") {

			t.Fatalf("down with a share account: %v", err)
		}
		// The migrations above the units one went down; the refused
		// one stays.
		if v := schemaVersion(t, db); v != unitsVersion {
			t.Fatalf("version %d after the refused down, want %d",
				v, unitsVersion)
		}
		s, err := l.ShareBalance(ctx, ledger.ProviderShares("p"))
		if err != nil || s != 5 {
			t.Fatalf("shares after the refused down: %v, %v", s, err)
		}
	})
}

// TestPostBatchTx posts batches through the SQL store's one-write path
// (ledger.PostBatchTx, Tx.InsertTransactions): transactions that share an
// account chain its balance after posting by posting, ids grow in the
// order given, every one is balanced in the store, and a batch with a key
// recorded before is posted one by one instead, answering the replay with
// the first receipt and refusing a conflicting one without writing the
// batch's other transactions.
func TestPostBatchTx(t *testing.T) {
	t.Parallel()

	hub := ledger.HubHoldings()
	fees := ledger.PlatformFees()
	payable := ledger.ProviderPayable("prov-1")

	storetest.ForEachBackend(t, func(t *testing.T, cfg store.Config) {
		t.Parallel()
		ctx := context.Background()
		db := storetest.Open(t, cfg)
		ls := store.NewLedgerStore(db)
		lg := ledger.New(ls, func() time.Time { return txAt })

		var batch []ledger.Transaction
		for i := 1; i <= 3; i++ {
			esc := ledger.BuyerEscrow(fmt.Sprintf("job-%d", i))
			batch = append(batch, ledger.Transaction{
				IdempotencyKey: fmt.Sprintf("usage/job-%d/1-10", i),
				Postings: []ledger.Posting{
					{Account: hub, Amount: -ledger.MilliSatoshi(100 * i)},
					{Account: esc, Amount: ledger.MilliSatoshi(100*i - 10)},
					{Account: fees, Amount: 10},
				},
			})
		}
		post := func(batch []ledger.Transaction) ([]ledger.Receipt,
			error) {

			var receipts []ledger.Receipt
			err := db.ExecTx(ctx, store.TxOptions{},
				func(tx *store.Tx) error {
					var err error
					receipts, err = lg.PostBatchTx(ctx, tx, batch)
					return err
				})
			return receipts, err
		}

		receipts, err := post(batch)
		if err != nil {
			t.Fatal(err)
		}
		if len(receipts) != 3 {
			t.Fatalf("%d receipts, want 3", len(receipts))
		}
		for i := 1; i < len(receipts); i++ {
			if receipts[i].TxID <= receipts[i-1].TxID ||
				receipts[i].Duplicate {
				t.Fatalf("receipts %+v: ids not growing in order",
					receipts)
			}
		}
		// The fees account's history chains its balance.
		hist, err := ls.History(ctx, fees, 0, 0)
		if err != nil {
			t.Fatal(err)
		}
		if len(hist) != 3 {
			t.Fatalf("fees history %+v, want 3 entries", hist)
		}
		for i, e := range hist {
			if e.Amount != 10 || e.BalanceAfter != ledger.MilliSatoshi(10*(i+1)) ||
				e.TxID != receipts[i].TxID {
				t.Fatalf("fees entry %d: %+v", i, e)
			}
		}
		if bal, _ := lg.Balance(ctx, hub); bal != -600 {
			t.Fatalf("hub holdings %v, want -600", bal)
		}

		// A batch that replays job-2's charge: posted one by one, the
		// replay answered with its first receipt.
		next := []ledger.Transaction{batch[1], {
			IdempotencyKey: "usage/job-4/1-10",
			Postings: []ledger.Posting{
				{Account: ledger.BuyerEscrow("job-1"), Amount: -50},
				{Account: payable, Amount: 50},
			},
		}}
		again, err := post(next)
		if err != nil {
			t.Fatal(err)
		}
		if !again[0].Duplicate || again[0].TxID != receipts[1].TxID ||
			again[1].Duplicate {
			t.Fatalf("receipts %+v, want the first a replay of %d",
				again, receipts[1].TxID)
		}
		if bal, _ := lg.Balance(ctx, payable); bal != 50 {
			t.Fatalf("payable %v, want 50", bal)
		}

		// A conflicting reuse of a key fails the batch: nothing of it
		// is written.
		bad := batch[2]
		bad.Postings = []ledger.Posting{
			{Account: hub, Amount: -1},
			{Account: fees, Amount: 1},
		}
		_, err = post([]ledger.Transaction{{
			IdempotencyKey: "usage/job-5/1-10",
			Postings: []ledger.Posting{
				{Account: hub, Amount: -7},
				{Account: fees, Amount: 7},
			},
		}, bad})
		if !errors.Is(err, ledger.ErrIdempotencyConflict) {
			t.Fatalf("conflicting batch: %v, want %v", err,
				ledger.ErrIdempotencyConflict)
		}
		if bal, _ := lg.Balance(ctx, fees); bal != 30 {
			t.Fatalf("fees %v after a refused batch, want 30", bal)
		}
		err = ls.ExecTx(ctx, func(txs ledger.TxStore) error {
			_, err := txs.TransactionByKey(ctx, "usage/job-5/1-10")
			return err
		})
		if !errors.Is(err, ledger.ErrNotFound) {
			t.Fatalf("transaction of a refused batch: %v", err)
		}
	})
}
