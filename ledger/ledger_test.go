package ledger

import (
	"context"
	"errors"
	"fmt"
	"math"
	"slices"
	"strings"
	"testing"
	"time"
)

// testClock is a clock that ticks a second, plus a few nanoseconds to
// check truncation, each time it is read.
func testClock() func() time.Time {
	now := time.Date(2025, 1, 2, 3, 4, 5, 0, time.FixedZone("X", 3600))
	return func() time.Time {
		now = now.Add(time.Second + 1234)
		return now
	}
}

func newTestLedger(t *testing.T) (*Ledger, *MemStore) {
	t.Helper()
	store := NewMemStore()
	return New(store, testClock()), store
}

// mustPost posts tx and fails the test on error.
func mustPost(t *testing.T, l *Ledger, tx Transaction) Receipt {
	t.Helper()
	r, err := l.Post(context.Background(), tx)
	if err != nil {
		t.Fatalf("Post(%q): %v", tx.IdempotencyKey, err)
	}

	return r
}

// wantShares fails the test unless each share account has the given
// balance.
func wantShares(t *testing.T, l *Ledger, want map[Account]Shares) {
	t.Helper()
	for a, w := range want {
		got, err := l.ShareBalance(context.Background(), a)
		if err != nil {
			t.Fatalf("ShareBalance(%v): %v", a, err)
		}
		if got != w {
			t.Errorf("share balance of %v = %v, want %v", a, got, w)
		}
	}
}

// wantBalances fails the test unless each account has the given balance.
func wantBalances(t *testing.T, l *Ledger, want map[Account]MilliSatoshi) {
	t.Helper()
	for a, w := range want {
		got, err := l.Balance(context.Background(), a)
		if err != nil {
			t.Fatalf("Balance(%v): %v", a, err)
		}
		if got != w {
			t.Errorf("balance of %v = %v, want %v", a, got, w)
		}
	}
}

func TestPostAndReplay(t *testing.T) {
	ctx := context.Background()
	l, _ := newTestLedger(t)
	var (
		hub    = HubHoldings()
		escrow = BuyerEscrow("job-1")
		pay    = ProviderPayable("prov-1")
		fees   = PlatformFees()
	)

	fund := Transfer("fund:job-1", "funding", hub, escrow, 10_000)
	first := mustPost(t, l, fund)
	if first.TxID != 1 || first.Duplicate ||
		first.IdempotencyKey != "fund:job-1" {

		t.Fatalf("first receipt %+v", first)
	}
	if first.Time.Location() != time.UTC ||
		first.Time.Nanosecond()%1000 != 0 {

		t.Fatalf("time %v is not UTC microseconds", first.Time)
	}

	usage := Transaction{
		IdempotencyKey: "usage:job-1:1-60",
		Postings: []Posting{
			p(escrow, -600), p(pay, 585), p(fees, 15),
		},
	}
	second := mustPost(t, l, usage)
	if second.TxID != 2 || second.Duplicate {
		t.Fatalf("second receipt %+v", second)
	}

	want := map[Account]MilliSatoshi{
		hub: -10_000, escrow: 9_400, pay: 585, fees: 15,
	}
	wantBalances(t, l, want)

	// The same postings in another order, split differently and with
	// another description are the same transaction.
	replays := []Transaction{
		fund,
		{IdempotencyKey: "fund:job-1", Description: "other",
			Postings: []Posting{p(escrow, 4_000), p(hub, -10_000),
				p(escrow, 6_000)}},
	}
	for _, tx := range replays {
		r, err := l.Post(ctx, tx)
		if err != nil {
			t.Fatalf("replay: %v", err)
		}
		if !r.Duplicate || r.TxID != first.TxID ||
			!r.Time.Equal(first.Time) {

			t.Fatalf("replay receipt %+v, first %+v", r, first)
		}
	}
	wantBalances(t, l, want)

	hist, err := l.History(ctx, escrow, 0, 0)
	if err != nil || len(hist) != 2 {
		t.Fatalf("history after replay: %v, %v", hist, err)
	}

	// A replay is answered with the first receipt even when the
	// balances would refuse its postings now; a conflicting one is
	// still a conflict.
	drain := Transfer("drain:job-1", "", escrow, pay, 9_400)
	drained := mustPost(t, l, drain)
	r, err := l.Post(ctx, drain)
	if err != nil || !r.Duplicate || r.TxID != drained.TxID {
		t.Fatalf("replay of an overdraft now: %+v, %v", r, err)
	}
	_, err = l.Post(ctx, Transfer("drain:job-1", "", escrow, pay, 9_401))
	if !errors.Is(err, ErrIdempotencyConflict) {
		t.Fatalf("conflicting replay of an overdraft now: %v", err)
	}
	want[escrow], want[pay] = 0, 585+9_400
	wantBalances(t, l, want)
}

func TestPostRefused(t *testing.T) {
	var (
		hub    = HubHoldings()
		escrow = BuyerEscrow("job-1")
		pay    = ProviderPayable("prov-1")
	)

	tests := []struct {
		name    string
		tx      Transaction
		wantErr error
	}{
		{"conflicting amount", Transfer("fund", "", hub, escrow, 1), ErrIdempotencyConflict},
		{"conflicting account", Transfer("fund", "", hub, BuyerEscrow("job-2"), 1_000), ErrIdempotencyConflict},
		{"overdraft", Transfer("use", "", escrow, pay, 1_001), ErrOverdraft},
		{"overdraft of a fresh account", Transfer("use", "", pay, escrow, 1), ErrOverdraft},
		{"overdraft in a three-leg tx", Transaction{IdempotencyKey: "use", Postings: []Posting{p(escrow, -2_000), p(pay, 1_000), p(hub, 1_000)}}, ErrOverdraft},
		{"unbalanced", Transaction{IdempotencyKey: "x", Postings: []Posting{p(escrow, -1), p(pay, 2)}}, ErrUnbalanced},
		{"invalid account", Transfer("x", "", escrow, BuyerEscrow("a b"), 1), ErrInvalidAccount},
		{"zero", Transfer("x", "", escrow, pay, 0), ErrZeroPosting},
		{"self transfer", Transfer("x", "", escrow, escrow, 5), ErrTooFewPostings},
		{"holdings overflow", Transfer("x", "", hub, BuyerEscrow("job-2"), math.MaxInt64), ErrOverflow},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			ctx := context.Background()
			l, store := newTestLedger(t)
			mustPost(t, l, Transfer("fund", "", hub, escrow, 1_000))

			_, err := l.Post(ctx, tc.tx)
			if !errors.Is(err, tc.wantErr) {
				t.Fatalf("Post() = %v, want %v", err, tc.wantErr)
			}

			// Nothing was written.
			wantBalances(t, l, map[Account]MilliSatoshi{
				hub: -1_000, escrow: 1_000, pay: 0,
			})
			if len(store.txs) != 1 {
				t.Fatalf("%d transactions recorded", len(store.txs))
			}
			for _, a := range []Account{hub, escrow, pay} {
				h, _ := l.History(ctx, a, 0, 0)
				if len(h) > 1 {
					t.Fatalf("history of %v: %v", a, h)
				}
			}
		})
	}
}

func TestOverdraftError(t *testing.T) {
	l, _ := newTestLedger(t)
	escrow := BuyerEscrow("job-1")
	mustPost(t, l, Transfer("fund", "", HubHoldings(), escrow, 100))

	_, err := l.Post(context.Background(),
		Transfer("use", "", escrow, PlatformFees(), 150))

	var od *OverdraftError
	if !errors.As(err, &od) {
		t.Fatalf("error %v is not an OverdraftError", err)
	}
	want := OverdraftError{Account: escrow, Unit: UnitMsat, Balance: 100,
		Amount: -150}
	if *od != want {
		t.Fatalf("got %+v, want %+v", *od, want)
	}
	if msg := od.Error(); !strings.Contains(msg, "100 msat") ||
		!strings.Contains(msg, "-50 msat") {

		t.Fatalf("error %q does not say the msat amounts", msg)
	}

	// A share account says its shares.
	held := ProviderShares("p")
	mustPost(t, l, TransferShares("issue", "", ShareSupply(), held, 2_500))
	_, err = l.Post(context.Background(),
		TransferShares("lock", "", held, SharesLocked("p"), 3_000))
	if !errors.As(err, &od) {
		t.Fatalf("error %v is not an OverdraftError", err)
	}
	want = OverdraftError{Account: held, Unit: UnitShares,
		ShareBalance: 2_500, Shares: -3_000}
	if *od != want {
		t.Fatalf("got %+v, want %+v", *od, want)
	}
	if msg := od.Error(); !strings.Contains(msg, "has 2.500 shares") ||
		!strings.Contains(msg, "leave -0.500 shares") {

		t.Fatalf("error %q does not say the share amounts", msg)
	}
}

// TestMayGoNegative posts value out of a fresh account of every kind, in
// the kind's unit: only the kinds that may go negative accept it.
func TestMayGoNegative(t *testing.T) {
	for _, kind := range Kinds() {
		t.Run(string(kind), func(t *testing.T) {
			ctx := context.Background()
			l, _ := newTestLedger(t)
			from := Account{Kind: kind}
			if kind.PerThing() {
				from.Ref = "x"
			}

			tx := Transfer("k", "", from, BuyerEscrow("sink"), 5)
			if kind == KindBuyerEscrow {
				tx = Transfer("k", "", from, Vault(), 5)
			}
			if kind.Unit() == UnitShares {
				tx = TransferShares("k", "", from,
					ProviderShares("sink"), 5)
			}
			to := tx.Postings[1].Account

			_, err := l.Post(ctx, tx)
			switch {
			case kind.MayGoNegative() && err != nil:
				t.Fatalf("Post: %v", err)

			case !kind.MayGoNegative() && !errors.Is(err, ErrOverdraft):
				t.Fatalf("Post = %v, want ErrOverdraft", err)

			case kind.MayGoNegative() && kind.Unit() == UnitShares:
				wantShares(t, l, map[Account]Shares{
					from: -5, to: 5,
				})

			case kind.MayGoNegative():
				wantBalances(t, l, map[Account]MilliSatoshi{
					from: -5, to: 5,
				})
			}
		})
	}
}

// TestPostTxAtomic posts two transactions in one store transaction whose
// second fails: the first is rolled back with it.
func TestPostTxAtomic(t *testing.T) {
	ctx := context.Background()
	l, store := newTestLedger(t)
	var (
		hub    = HubHoldings()
		escrow = BuyerEscrow("job-1")
		pay    = ProviderPayable("p")
	)

	errDomain := errors.New("domain state refused")
	err := store.ExecTx(ctx, func(txs TxStore) error {
		if _, err := l.PostTx(ctx, txs,
			Transfer("fund", "", hub, escrow, 100)); err != nil {

			return err
		}

		// The second transaction sees the first one's balance.
		if _, err := l.PostTx(ctx, txs,
			Transfer("use", "", escrow, pay, 60)); err != nil {

			return err
		}
		if _, err := l.PostTx(ctx, txs,
			Transfer("use2", "", escrow, pay, 60)); !errors.Is(err,
			ErrOverdraft) {

			return fmt.Errorf("want overdraft, got %v", err)
		}

		return errDomain
	})
	if !errors.Is(err, errDomain) {
		t.Fatalf("ExecTx = %v", err)
	}
	wantBalances(t, l, map[Account]MilliSatoshi{hub: 0, escrow: 0, pay: 0})

	// Committed, both are there.
	err = store.ExecTx(ctx, func(txs TxStore) error {
		if _, err := l.PostTx(ctx, txs,
			Transfer("fund", "", hub, escrow, 100)); err != nil {

			return err
		}
		_, err := l.PostTx(ctx, txs,
			Transfer("use", "", escrow, pay, 60))

		return err
	})
	if err != nil {
		t.Fatalf("ExecTx: %v", err)
	}
	wantBalances(t, l, map[Account]MilliSatoshi{
		hub: -100, escrow: 40, pay: 60,
	})
}

// racyStore makes the first store transaction miss a key that is already
// recorded, as when a concurrent post commits between the lookup and the
// insert, and counts the store transactions.
type racyStore struct {
	*MemStore
	execs int
	raced bool
}

func (r *racyStore) ExecTx(ctx context.Context, fn func(TxStore) error) error {
	r.execs++
	return r.MemStore.ExecTx(ctx, func(txs TxStore) error {
		if r.raced {
			return fn(txs)
		}
		r.raced = true

		return fn(blindTx{txs})
	})
}

// blindTx does not find any key.
type blindTx struct{ TxStore }

func (blindTx) TransactionByKey(context.Context, string) (StoredTx, error) {
	return StoredTx{}, ErrNotFound
}

func TestPostRetriesLostRace(t *testing.T) {
	ctx := context.Background()
	mem := NewMemStore()
	tx := Transfer("fund", "", HubHoldings(), BuyerEscrow("j"), 5)
	first, err := New(mem, nil).Post(ctx, tx)
	if err != nil {
		t.Fatalf("Post: %v", err)
	}

	racy := &racyStore{MemStore: mem}
	r, err := New(racy, nil).Post(ctx, tx)
	if err != nil {
		t.Fatalf("Post after a lost race: %v", err)
	}
	if !r.Duplicate || r.TxID != first.TxID || racy.execs != 2 {
		t.Fatalf("receipt %+v after %d store transactions", r,
			racy.execs)
	}

	// A conflicting post that loses the race is still a conflict.
	racy = &racyStore{MemStore: mem}
	_, err = New(racy, nil).Post(ctx,
		Transfer("fund", "", HubHoldings(), BuyerEscrow("j"), 6))
	if !errors.Is(err, ErrIdempotencyConflict) || racy.execs != 2 {
		t.Fatalf("Post = %v after %d store transactions", err,
			racy.execs)
	}
}

// failingTx fails the named TxStore call.
type failingTx struct {
	TxStore
	fail string
}

var errStore = errors.New("store is down")

func (f failingTx) TransactionByKey(ctx context.Context, key string) (StoredTx,
	error) {

	if f.fail == "TransactionByKey" {
		return StoredTx{}, errStore
	}

	return f.TxStore.TransactionByKey(ctx, key)
}

func (f failingTx) Accounts(ctx context.Context,
	ids []Account) (map[Account]AccountState, error) {

	if f.fail == "Accounts" {
		return nil, errStore
	}

	return f.TxStore.Accounts(ctx, ids)
}

func (f failingTx) InsertTransaction(ctx context.Context, tx Transaction,
	at time.Time, b map[Account]AccountState) (Receipt, error) {

	if f.fail == "InsertTransaction" {
		return Receipt{}, errStore
	}

	return f.TxStore.InsertTransaction(ctx, tx, at, b)
}

func TestPostTxStoreErrors(t *testing.T) {
	for _, call := range []string{
		"TransactionByKey", "Accounts", "InsertTransaction",
	} {
		t.Run(call, func(t *testing.T) {
			ctx := context.Background()
			l, store := newTestLedger(t)
			tx := Transfer("k", "", HubHoldings(), Vault(), 1)

			// The key is looked up only when it may have been
			// posted: a replay.
			var want MilliSatoshi
			if call == "TransactionByKey" {
				if _, err := l.Post(ctx, tx); err != nil {
					t.Fatal(err)
				}
				want = 1
			}
			err := store.ExecTx(ctx, func(txs TxStore) error {
				_, err := l.PostTx(ctx, failingTx{txs, call}, tx)
				return err
			})
			if !errors.Is(err, errStore) {
				t.Fatalf("err = %v, want the store's", err)
			}
			wantBalances(t, l, map[Account]MilliSatoshi{Vault(): want})
		})
	}
}

func TestHistory(t *testing.T) {
	ctx := context.Background()
	l, _ := newTestLedger(t)
	var (
		hub    = HubHoldings()
		escrow = BuyerEscrow("job-1")
		fees   = PlatformFees()
	)
	r1 := mustPost(t, l, Transfer("f1", "first", hub, escrow, 100))
	mustPost(t, l, Transfer("other", "", hub, BuyerEscrow("job-2"), 7))
	r3 := mustPost(t, l, Transfer("u1", "use", escrow, fees, 30))
	r4 := mustPost(t, l, Transfer("f2", "again", hub, escrow, 5))

	all, err := l.History(ctx, escrow, 0, 0)
	if err != nil {
		t.Fatalf("History: %v", err)
	}
	want := []Entry{
		{TxID: r1.TxID, IdempotencyKey: "f1", Description: "first",
			Time: r1.Time, Amount: 100, BalanceAfter: 100},
		{TxID: r3.TxID, IdempotencyKey: "u1", Description: "use",
			Time: r3.Time, Amount: -30, BalanceAfter: 70},
		{TxID: r4.TxID, IdempotencyKey: "f2", Description: "again",
			Time: r4.Time, Amount: 5, BalanceAfter: 75},
	}
	if fmt.Sprint(all) != fmt.Sprint(want) {
		t.Fatalf("history\n got %v\nwant %v", all, want)
	}

	pages := []struct {
		after int64
		limit int
		want  []Entry
	}{
		{0, 1, want[:1]},
		{r1.TxID, 1, want[1:2]},
		{r1.TxID, 0, want[1:]},
		{r1.TxID + 1, 5, want[1:]},
		{r4.TxID, 0, nil},
	}
	for _, pg := range pages {
		got, err := l.History(ctx, escrow, pg.after, pg.limit)
		if err != nil || len(got) != len(pg.want) ||
			fmt.Sprint(got) != fmt.Sprint(pg.want) {

			t.Errorf("History(after %d, limit %d) = %v, %v; want %v",
				pg.after, pg.limit, got, err, pg.want)
		}
	}

	if h, err := l.History(ctx, Vault(), 0, 0); err != nil || len(h) != 0 {
		t.Errorf("history of an untouched account: %v, %v", h, err)
	}
	if _, err := l.History(ctx, escrow, -1, 0); err == nil {
		t.Error("negative afterTx accepted")
	}
	if _, err := l.History(ctx, escrow, 0, -1); err == nil {
		t.Error("negative limit accepted")
	}
	if _, err := l.History(ctx, Account{Kind: "x"}, 0, 0); !errors.Is(err,
		ErrInvalidAccount) {

		t.Errorf("invalid account: %v", err)
	}
	if _, err := l.Balance(ctx, Account{Kind: "x"}); !errors.Is(err,
		ErrInvalidAccount) {

		t.Errorf("invalid account: %v", err)
	}
}

func TestTransfer(t *testing.T) {
	tx := Transfer("k", "d", Vault(), PlatformFees(), 42)
	want := Transaction{
		IdempotencyKey: "k", Description: "d",
		Postings: []Posting{p(Vault(), -42), p(PlatformFees(), 42)},
	}
	if fmt.Sprint(tx) != fmt.Sprint(want) {
		t.Fatalf("Transfer = %+v", tx)
	}
}

func TestTransferShares(t *testing.T) {
	tx := TransferShares("k", "d", ShareSupply(), ProviderShares("p"), 42)
	want := Transaction{
		IdempotencyKey: "k", Description: "d",
		Postings: []Posting{sh(ShareSupply(), -42),
			sh(ProviderShares("p"), 42)},
	}
	if fmt.Sprint(tx) != fmt.Sprint(want) {
		t.Fatalf("TransferShares = %+v", tx)
	}
}

// TestPostBothUnits posts a stake, which moves money and shares in one
// transaction, and checks balances, histories, replays and refusals in
// both units.
func TestPostBothUnits(t *testing.T) {
	ctx := context.Background()
	l, store := newTestLedger(t)
	var (
		hub    = HubHoldings()
		pay    = ProviderPayable("p")
		vault  = Vault()
		supply = ShareSupply()
		held   = ProviderShares("p")
		locked = SharesLocked("p")
	)
	mustPost(t, l, Transfer("earn", "", hub, pay, 10_000))

	stake := Transaction{
		IdempotencyKey: "stake:1",
		Description:    "stake 6000 msat at 1 unit per msat",
		Postings: []Posting{
			p(pay, -6_000), p(vault, 6_000),
			sh(supply, -6_000), sh(held, 6_000),
		},
	}
	r := mustPost(t, l, stake)
	wantBalances(t, l, map[Account]MilliSatoshi{
		hub: -10_000, pay: 4_000, vault: 6_000,
	})
	wantShares(t, l, map[Account]Shares{supply: -6_000, held: 6_000})

	// A replay in another order is the same transaction; other shares
	// under the key are a conflict.
	again := cloneTx(stake)
	slices.Reverse(again.Postings)
	if dup, err := l.Post(ctx, again); err != nil || !dup.Duplicate ||
		dup.TxID != r.TxID {

		t.Fatalf("replay: %+v, %v", dup, err)
	}
	other := cloneTx(stake)
	other.Postings[2].Shares, other.Postings[3].Shares = -5_999, 5_999
	if _, err := l.Post(ctx, other); !errors.Is(err,
		ErrIdempotencyConflict) {

		t.Fatalf("other shares under the key: %v", err)
	}

	h, err := l.History(ctx, held, 0, 0)
	wantEntry := Entry{TxID: r.TxID, IdempotencyKey: "stake:1",
		Description: stake.Description, Time: r.Time, Shares: 6_000,
		SharesAfter: 6_000}
	if err != nil || len(h) != 1 || h[0] != wantEntry {
		t.Fatalf("history of %v: %+v, %v; want %+v", held, h, err,
			wantEntry)
	}
	h, err = l.History(ctx, vault, 0, 0)
	if err != nil || len(h) != 1 || h[0].Amount != 6_000 ||
		h[0].BalanceAfter != 6_000 || h[0].Shares != 0 {

		t.Fatalf("history of %v: %+v, %v", vault, h, err)
	}

	// A share overdraft refuses the whole transaction, its msat legs
	// with it.
	n := len(store.txs)
	_, err = l.Post(ctx, Transaction{
		IdempotencyKey: "stake-and-lock",
		Postings: []Posting{
			p(pay, -1_000), p(vault, 1_000),
			sh(held, -7_000), sh(locked, 7_000),
		},
	})
	var od *OverdraftError
	if !errors.As(err, &od) || od.Account != held ||
		od.Unit != UnitShares {

		t.Fatalf("share overdraft: %v", err)
	}
	if len(store.txs) != n {
		t.Fatal("refused transaction recorded")
	}
	wantBalances(t, l, map[Account]MilliSatoshi{pay: 4_000, vault: 6_000})
	wantShares(t, l, map[Account]Shares{held: 6_000, locked: 0})

	// Neither unit is read as the other.
	if _, err := l.Balance(ctx, held); !errors.Is(err, ErrWrongUnit) {
		t.Fatalf("Balance of a share account: %v", err)
	}
	if _, err := l.ShareBalance(ctx, vault); !errors.Is(err, ErrWrongUnit) {
		t.Fatalf("ShareBalance of an msat account: %v", err)
	}
	if _, err := l.ShareBalance(ctx, Account{Kind: "x"}); !errors.Is(err,
		ErrInvalidAccount) {

		t.Fatalf("ShareBalance of an invalid account: %v", err)
	}
	if s, err := l.ShareBalance(ctx, SharesLocked("never")); err != nil ||
		s != 0 {

		t.Fatalf("ShareBalance of an account never posted to: %v, %v",
			s, err)
	}
}

// TestStoredUnitMismatch: an account the store holds in a unit other than
// its kind's is refused wherever the ledger reads it, and a transaction
// that touches it is not posted.
func TestStoredUnitMismatch(t *testing.T) {
	ctx := context.Background()
	l, store := newTestLedger(t)
	held := ProviderShares("p")
	vault := Vault()
	mustPost(t, l, TransferShares("issue", "", ShareSupply(), held, 500))
	mustPost(t, l, Transfer("fund", "", HubHoldings(), vault, 500))

	// As if a store had recorded the share account as msat, and the
	// vault as shares.
	store.states[held] = AccountState{Account: held, Unit: UnitMsat,
		Balance: 500}
	store.states[vault] = AccountState{Account: vault, Unit: UnitShares,
		Shares: 500}
	store.history[held][0].Amount = 500
	store.history[held][0].Shares = 0

	if _, err := l.ShareBalance(ctx, held); !errors.Is(err, ErrWrongUnit) {
		t.Fatalf("ShareBalance: %v", err)
	}
	if _, err := l.Balance(ctx, vault); !errors.Is(err, ErrWrongUnit) {
		t.Fatalf("Balance: %v", err)
	}
	if _, err := l.History(ctx, held, 0, 0); !errors.Is(err, ErrWrongUnit) {
		t.Fatalf("History: %v", err)
	}
	n := len(store.txs)
	for _, tx := range []Transaction{
		TransferShares("lock", "", held, SharesLocked("p"), 100),
		Transfer("out", "", vault, PlatformFees(), 100),
	} {
		if _, err := l.Post(ctx, tx); !errors.Is(err, ErrWrongUnit) {
			t.Fatalf("Post(%v): %v", tx, err)
		}
	}
	if len(store.txs) != n {
		t.Fatal("refused transaction recorded")
	}
}

func TestAccountStateCheckUnit(t *testing.T) {
	held, vault := ProviderShares("p"), Vault()
	tests := []struct {
		name string
		st   AccountState
		ok   bool
	}{
		{"msat", AccountState{Account: vault, Unit: UnitMsat, Balance: 5}, true},
		{"shares", AccountState{Account: held, Unit: UnitShares, Shares: 5}, true},
		{"msat account stored as shares", AccountState{Account: vault, Unit: UnitShares}, false},
		{"share account stored as msat", AccountState{Account: held, Unit: UnitMsat}, false},
		{"no unit", AccountState{Account: vault}, false},
		{"unknown unit", AccountState{Account: vault, Unit: "btc"}, false},
		{"msat account holding shares", AccountState{Account: vault, Unit: UnitMsat, Shares: 1}, false},
		{"share account holding msat", AccountState{Account: held, Unit: UnitShares, Balance: 1}, false},
	}
	for _, tc := range tests {
		err := tc.st.CheckUnit()
		if tc.ok != (err == nil) || err != nil &&
			!errors.Is(err, ErrWrongUnit) {

			t.Errorf("%s: CheckUnit() = %v", tc.name, err)
		}
	}
}
