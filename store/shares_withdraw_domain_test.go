package store_test

import (
	"bytes"
	"context"
	"errors"
	"testing"

	"github.com/sluice-ln/sluice/ledger"
	"github.com/sluice-ln/sluice/outbound"
	"github.com/sluice-ln/sluice/reconcile"
	"github.com/sluice-ln/sluice/shares"
	"github.com/sluice-ln/sluice/store"
	"github.com/sluice-ln/sluice/store/storetest"
)

// TestShareWithdrawals checks, on each backend, the withdrawal rows as
// package shares uses them: an address replaced whole, withdrawals unique
// per provider and key, a round carrying the queued ones, each state
// moved once, a failed transaction leaving nothing, and reconcile's sum
// of the withdrawals not complete.
func TestShareWithdrawals(t *testing.T) {
	t.Parallel()

	storetest.ForEachBackend(t, func(t *testing.T, cfg store.Config) {
		t.Parallel()
		db := storetest.Open(t, cfg)
		ctx := context.Background()
		addProvider(t, db, "pa", nodeA)
		addProvider(t, db, "pb", nodeB)

		if _, err := db.WithdrawAddress(ctx, "pa"); !errors.Is(err,
			shares.ErrNoWithdrawAddress) {

			t.Fatalf("address before any: %v", err)
		}
		group := bytes.Repeat([]byte{2}, 33)
		for _, addr := range []string{"taprt1first", "taprt1second"} {
			err := db.SetWithdrawAddress(ctx, shares.WithdrawAddress{
				ProviderID: "pa", Addr: addr, GroupKey: group,
				ProofCourier: "authmailbox+universerpc://h:1",
				SetAt:        epochAt})
			if err != nil {
				t.Fatalf("set address %s: %v", addr, err)
			}
		}
		a, err := db.WithdrawAddress(ctx, "pa")
		if err != nil || a.Addr != "taprt1second" ||
			!bytes.Equal(a.GroupKey, group) ||
			a.ProofCourier != "authmailbox+universerpc://h:1" ||
			!a.SetAt.Equal(epochAt.Truncate(1000)) {

			t.Fatalf("address read back %+v, %v", a, err)
		}

		insert := func(p, key string, n ledger.Shares) int64 {
			t.Helper()
			var id int64
			err := db.ExecWithdrawals(ctx, func(
				tx shares.WithdrawTx) error {

				var err error
				id, err = tx.InsertWithdrawal(ctx,
					shares.Withdrawal{ProviderID: p,
						Key: key, Amount: n,
						Addr:      "taprt1x",
						State:     shares.WithdrawalQueued,
						CreatedAt: epochAt})
				return err
			})
			if err != nil {
				t.Fatalf("insert %s %s: %v", p, key, err)
			}
			return id
		}
		w1 := insert("pa", "k1", 100)
		w2 := insert("pb", "k1", 200)
		w3 := insert("pa", "k2", 300)
		err = db.ExecWithdrawals(ctx, func(tx shares.WithdrawTx) error {
			_, err := tx.InsertWithdrawal(ctx, shares.Withdrawal{
				ProviderID: "pa", Key: "k1", Amount: 1,
				Addr: "taprt1x", State: shares.WithdrawalQueued,
				CreatedAt: epochAt})
			return err
		})
		if !errors.Is(err, store.ErrUniqueViolation) {
			t.Fatalf("a key used twice: %v", err)
		}

		pending := func() map[string]ledger.Shares {
			t.Helper()
			var out map[string]ledger.Shares
			err := db.ReadBooks(ctx, func(b reconcile.BooksTx) error {
				var err error
				out, err = b.PendingWithdrawalShares(ctx)
				return err
			})
			if err != nil {
				t.Fatal(err)
			}
			return out
		}
		if got := pending(); got["pa"] != 400 || got["pb"] != 200 {
			t.Fatalf("pending withdrawals %v", got)
		}

		// A round takes the queued ones; a failure inside the
		// transaction leaves them queued.
		boom := errors.New("boom")
		err = db.ExecWithdrawals(ctx, func(tx shares.WithdrawTx) error {
			id, err := tx.InsertRound(ctx, shares.Round{
				Nonce: "n0", State: outbound.StatusPending,
				CreatedAt: epochAt})
			if err != nil {
				return err
			}
			if err := tx.AddToRound(ctx, w1, id); err != nil {
				return err
			}
			return boom
		})
		if !errors.Is(err, boom) {
			t.Fatalf("rolled back round: %v", err)
		}
		if rounds, _ := db.PendingRounds(ctx); len(rounds) != 0 {
			t.Fatalf("a rolled back round is pending: %+v", rounds)
		}

		var round int64
		err = db.ExecWithdrawals(ctx, func(tx shares.WithdrawTx) error {
			queued, err := tx.QueuedWithdrawals(ctx)
			if err != nil {
				return err
			}
			if len(queued) != 3 || queued[0].ID != w1 ||
				queued[2].ID != w3 {

				t.Errorf("queued %+v", queued)
			}
			round, err = tx.InsertRound(ctx, shares.Round{
				Nonce: "n1", State: outbound.StatusPending,
				CreatedAt: epochAt})
			if err != nil {
				return err
			}
			for _, w := range queued {
				if err := tx.AddToRound(ctx, w.ID,
					round); err != nil {

					return err
				}
			}
			return nil
		})
		if err != nil {
			t.Fatalf("round: %v", err)
		}
		rounds, err := db.PendingRounds(ctx)
		if err != nil || len(rounds) != 1 || rounds[0].ID != round ||
			rounds[0].Nonce != "n1" ||
			rounds[0].State != outbound.StatusPending {

			t.Fatalf("pending rounds %+v, %v", rounds, err)
		}

		err = db.ExecWithdrawals(ctx, func(tx shares.WithdrawTx) error {
			err := tx.AddToRound(ctx, w1, round)
			if !errors.Is(err, outbound.ErrInvalidTransition) {
				t.Errorf("a sending withdrawal added again: %v",
					err)
			}
			ws, err := tx.RoundWithdrawals(ctx, round)
			if err != nil {
				return err
			}
			if len(ws) != 3 {
				t.Errorf("round's withdrawals %+v", ws)
			}
			r := rounds[0]
			r.State = outbound.StatusSucceeded
			r.AnchorTxid = "ab"
			r.Height = 120
			r.ResolvedAt = epochAt
			if err := tx.ResolveRound(ctx, r); err != nil {
				return err
			}
			if err := tx.ResolveRound(ctx, r); !errors.Is(err,
				outbound.ErrAlreadySucceeded) {

				t.Errorf("round resolved twice: %v", err)
			}
			for _, w := range ws {
				w.State = shares.WithdrawalDone
				w.ResolvedAt = epochAt
				if err := tx.ResolveWithdrawal(ctx,
					w); err != nil {

					return err
				}
			}
			ws[0].State = shares.WithdrawalReturned
			err = tx.ResolveWithdrawal(ctx, ws[0])
			if !errors.Is(err, outbound.ErrInvalidTransition) {
				t.Errorf("a withdrawn withdrawal returned: %v",
					err)
			}
			return nil
		})
		if err != nil {
			t.Fatalf("resolve: %v", err)
		}
		if rounds, _ := db.PendingRounds(ctx); len(rounds) != 0 {
			t.Fatalf("resolved round pending: %+v", rounds)
		}
		if got := pending(); len(got) != 0 {
			t.Fatalf("pending withdrawals after the round: %v", got)
		}

		ws, err := db.Withdrawals(ctx, "pa")
		if err != nil || len(ws) != 2 || ws[0].ID != w1 ||
			ws[1].ID != w3 || ws[0].State != shares.WithdrawalDone ||
			ws[0].RoundID != round || ws[0].Amount != 100 ||
			ws[0].Key != "k1" || ws[0].ResolvedAt.IsZero() {

			t.Fatalf("pa's withdrawals %+v, %v", ws, err)
		}
		all, err := db.Withdrawals(ctx, "")
		if err != nil || len(all) != 3 || all[1].ID != w2 {
			t.Fatalf("all withdrawals %+v, %v", all, err)
		}
		err = db.ExecWithdrawals(ctx, func(tx shares.WithdrawTx) error {
			w, err := tx.WithdrawalByKey(ctx, "pb", "k1")
			if err != nil || w.ID != w2 {
				t.Errorf("by key: %+v, %v", w, err)
			}
			_, err = tx.WithdrawalByKey(ctx, "pb", "k2")
			if !errors.Is(err, shares.ErrWithdrawalNotFound) {
				t.Errorf("unknown key: %v", err)
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
	})
}
