package ledger

import (
	"context"
	"errors"
	"testing"
	"time"
)

var testTime = time.Date(2025, 1, 2, 3, 4, 5, 6000, time.UTC)

// insert records tx with the balances its postings give from zero.
func insert(ctx context.Context, txs TxStore, tx Transaction) (Receipt,
	error) {

	states := make(map[Account]AccountState)
	for _, p := range tx.Postings {
		st := states[p.Account]
		st.Account, st.Unit = p.Account, p.Account.Kind.Unit()
		st.Balance += p.Amount
		st.Shares += p.Shares
		states[p.Account] = st
	}

	return txs.InsertTransaction(ctx, tx, testTime, states)
}

func TestMemStoreNotFound(t *testing.T) {
	ctx := context.Background()
	s := NewMemStore()
	err := s.ExecTx(ctx, func(txs TxStore) error {
		_, err := txs.TransactionByKey(ctx, "nope")
		return err
	})
	if !errors.Is(err, ErrNotFound) {
		t.Fatalf("TransactionByKey = %v, want ErrNotFound", err)
	}

	st, err := s.State(ctx, Vault())
	if !errors.Is(err, ErrNotFound) {
		t.Fatalf("State of an untouched account = %+v, %v; want "+
			"ErrNotFound", st, err)
	}
	h, err := s.History(ctx, Vault(), 0, 0)
	if err != nil || h == nil || len(h) != 0 {
		t.Fatalf("History of an untouched account = %#v, %v", h, err)
	}
	if _, err := s.History(ctx, Vault(), 0, -1); err == nil {
		t.Fatal("negative limit accepted")
	}
}

func TestMemStoreKeyExists(t *testing.T) {
	ctx := context.Background()
	tx := Transfer("k", "", HubHoldings(), Vault(), 5)

	tests := []struct {
		name string
		run  func(s *MemStore) error
	}{
		{"in one store transaction", func(s *MemStore) error {
			return s.ExecTx(ctx, func(txs TxStore) error {
				if _, err := insert(ctx, txs, tx); err != nil {
					return err
				}
				_, err := insert(ctx, txs, tx)
				return err
			})
		}},
		{"in two store transactions", func(s *MemStore) error {
			err := s.ExecTx(ctx, func(txs TxStore) error {
				_, err := insert(ctx, txs, tx)
				return err
			})
			if err != nil {
				return err
			}

			return s.ExecTx(ctx, func(txs TxStore) error {
				_, err := insert(ctx, txs, tx)
				return err
			})
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if err := tc.run(NewMemStore()); !errors.Is(err,
				ErrKeyExists) {

				t.Fatalf("second insert = %v, want ErrKeyExists",
					err)
			}
		})
	}
}

func TestMemStoreRollback(t *testing.T) {
	ctx := context.Background()
	s := NewMemStore()
	tx := Transfer("k", "", HubHoldings(), Vault(), 5)

	var kept TxStore
	errAbort := errors.New("abort")
	err := s.ExecTx(ctx, func(txs TxStore) error {
		kept = txs
		r, err := insert(ctx, txs, tx)
		if err != nil {
			return err
		}
		if r.TxID != 1 || !r.Time.Equal(testTime) {
			t.Errorf("receipt %+v", r)
		}

		// The transaction sees its own writes.
		got, err := txs.TransactionByKey(ctx, "k")
		if err != nil || got.Receipt != r {
			t.Errorf("own write: %+v, %v", got, err)
		}
		st, err := txs.Accounts(ctx, []Account{Vault(), RoutingFees()})
		if err != nil || len(st) != 1 || st[Vault()].Balance != 5 {
			t.Errorf("own accounts: %+v, %v", st, err)
		}

		return errAbort
	})
	if !errors.Is(err, errAbort) {
		t.Fatalf("ExecTx = %v", err)
	}

	if st, err := s.State(ctx, Vault()); !errors.Is(err, ErrNotFound) {
		t.Fatalf("rolled back state %+v, %v", st, err)
	}
	if h, _ := s.History(ctx, Vault(), 0, 0); len(h) != 0 {
		t.Fatalf("rolled back history %v", h)
	}

	// A TxStore kept past its ExecTx refuses to work.
	if _, err := kept.TransactionByKey(ctx, "k"); !errors.Is(err,
		errTxClosed) {

		t.Fatalf("closed TxStore: %v", err)
	}
	if _, err := insert(ctx, kept, tx); !errors.Is(err, errTxClosed) {
		t.Fatalf("closed TxStore: %v", err)
	}

	// The id is reused once the first attempt rolled back.
	err = s.ExecTx(ctx, func(txs TxStore) error {
		r, err := insert(ctx, txs, tx)
		if err == nil && r.TxID != 1 {
			t.Errorf("id %d after rollback", r.TxID)
		}
		return err
	})
	if err != nil {
		t.Fatalf("ExecTx: %v", err)
	}
}

func TestMemStoreMissingBalance(t *testing.T) {
	ctx := context.Background()
	s := NewMemStore()
	err := s.ExecTx(ctx, func(txs TxStore) error {
		_, err := txs.InsertTransaction(ctx,
			Transfer("k", "", HubHoldings(), Vault(), 5), testTime,
			map[Account]AccountState{Vault(): {Account: Vault(),
				Unit: UnitMsat, Balance: 5}})
		return err
	})
	if err == nil {
		t.Fatal("insert without every balance accepted")
	}
}

// TestMemStoreUnits checks that the store records an account's unit when it
// creates it, answers in it, and refuses to write the account in another.
func TestMemStoreUnits(t *testing.T) {
	ctx := context.Background()
	s := NewMemStore()
	held := ProviderShares("p")
	issue := TransferShares("issue", "", ShareSupply(), held, 1_500)
	err := s.ExecTx(ctx, func(txs TxStore) error {
		_, err := insert(ctx, txs, issue)
		return err
	})
	if err != nil {
		t.Fatalf("ExecTx: %v", err)
	}

	st, err := s.State(ctx, held)
	want := AccountState{Account: held, Unit: UnitShares, Shares: 1_500}
	if err != nil || st != want {
		t.Fatalf("State = %+v, %v; want %+v", st, err, want)
	}
	h, err := s.History(ctx, held, 0, 0)
	if err != nil || len(h) != 1 || h[0].Shares != 1_500 ||
		h[0].SharesAfter != 1_500 || h[0].Amount != 0 ||
		h[0].BalanceAfter != 0 {

		t.Fatalf("History = %+v, %v", h, err)
	}

	// The same account written as msat is refused.
	err = s.ExecTx(ctx, func(txs TxStore) error {
		_, err := txs.InsertTransaction(ctx, Transaction{
			IdempotencyKey: "bad",
			Postings: []Posting{{Account: held, Amount: 5},
				{Account: HubHoldings(), Amount: -5}},
		}, testTime, map[Account]AccountState{
			held: {Account: held, Unit: UnitMsat, Balance: 5},
			HubHoldings(): {Account: HubHoldings(), Unit: UnitMsat,
				Balance: -5},
		})
		return err
	})
	if !errors.Is(err, ErrWrongUnit) {
		t.Fatalf("insert in another unit = %v, want ErrWrongUnit", err)
	}
	if st, _ := s.State(ctx, held); st != want {
		t.Fatalf("refused insert changed the account: %+v", st)
	}
}

func TestMemStoreCopies(t *testing.T) {
	ctx := context.Background()
	s := NewMemStore()
	tx := Transfer("k", "", HubHoldings(), Vault(), 5)
	err := s.ExecTx(ctx, func(txs TxStore) error {
		_, err := insert(ctx, txs, tx)
		return err
	})
	if err != nil {
		t.Fatalf("ExecTx: %v", err)
	}

	// Changing the caller's postings, or what the store handed out,
	// does not change what is recorded.
	tx.Postings[0].Amount = 99
	err = s.ExecTx(ctx, func(txs TxStore) error {
		got, err := txs.TransactionByKey(ctx, "k")
		if err != nil {
			return err
		}
		if got.Transaction.Postings[0].Amount != -5 {
			t.Errorf("recorded posting changed: %v",
				got.Transaction.Postings)
		}
		got.Transaction.Postings[0].Amount = 77

		again, err := txs.TransactionByKey(ctx, "k")
		if err == nil && again.Transaction.Postings[0].Amount != -5 {
			t.Errorf("recorded posting changed: %v",
				again.Transaction.Postings)
		}

		return err
	})
	if err != nil {
		t.Fatalf("ExecTx: %v", err)
	}
}

func TestMemStoreContext(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	s := NewMemStore()

	called := false
	err := s.ExecTx(ctx, func(TxStore) error {
		called = true
		return nil
	})
	if !errors.Is(err, context.Canceled) || called {
		t.Fatalf("ExecTx on a cancelled context = %v, ran %v", err,
			called)
	}
	if _, err := s.State(ctx, Vault()); !errors.Is(err,
		context.Canceled) {

		t.Fatalf("Balance = %v", err)
	}
}
