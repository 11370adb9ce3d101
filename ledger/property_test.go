package ledger

import (
	"context"
	"errors"
	"fmt"
	"math"
	"math/big"
	"slices"
	"testing"

	"pgregory.net/rapid"
)

// propAccounts is the pool the property tests post between: every kind, and
// two refs of each per-thing kind.
func propAccounts() []Account {
	var out []Account
	for _, k := range Kinds() {
		if !k.PerThing() {
			out = append(out, Account{Kind: k})
			continue
		}
		out = append(out, Account{Kind: k, Ref: "a"},
			Account{Kind: k, Ref: "b"})
	}

	return out
}

// genAmount draws a non-zero amount: mostly small, sometimes near the
// limits so that overflow is tried.
func genAmount() *rapid.Generator[MilliSatoshi] {
	return rapid.Custom(func(t *rapid.T) MilliSatoshi {
		mag := rapid.OneOf(
			rapid.Int64Range(1, 1_000),
			rapid.Int64Range(1, math.MaxInt64),
			rapid.SampledFrom([]int64{
				math.MaxInt64, math.MaxInt64/2 + 1,
			}),
		).Draw(t, "magnitude")
		if rapid.Bool().Draw(t, "negative") {
			return MilliSatoshi(-mag)
		}

		return MilliSatoshi(mag)
	})
}

// genTx draws a transaction over the pool. Most are balanced; some are
// fundings from an account that may go negative, so that the others get
// money to move; a few are broken on purpose. Keys come from a small set so
// that replays and conflicts happen.
func genTx(pool []Account) *rapid.Generator[Transaction] {
	var sources []Account
	for _, a := range pool {
		if a.Kind.MayGoNegative() {
			sources = append(sources, a)
		}
	}

	return rapid.Custom(func(t *rapid.T) Transaction {
		key := fmt.Sprintf("k%d", rapid.IntRange(0, 11).Draw(t, "key"))
		acct := rapid.SampledFrom(pool)

		if rapid.IntRange(0, 3).Draw(t, "shape") == 0 {
			amt := MilliSatoshi(rapid.Int64Range(1, 10_000).
				Draw(t, "fund"))
			return Transfer(key, "fund",
				rapid.SampledFrom(sources).Draw(t, "source"),
				acct.Draw(t, "to"), amt)
		}

		n := rapid.IntRange(2, 4).Draw(t, "postings")
		tx := Transaction{IdempotencyKey: key}
		var sum MilliSatoshi
		for i := 0; i < n-1; i++ {
			amt := genAmount().Draw(t, "amount")
			sum += amt // may wrap: Validate must catch it
			tx.Postings = append(tx.Postings, Posting{
				Account: acct.Draw(t, "account"), Amount: amt,
			})
		}
		last := -sum
		switch rapid.IntRange(0, 9).Draw(t, "break") {
		case 0:
			last++
		case 1:
			last = 0
		}
		tx.Postings = append(tx.Postings, Posting{
			Account: acct.Draw(t, "account"), Amount: last,
		})

		return tx
	})
}

// expectedErrs are the refusals a generated transaction may get.
var expectedErrs = []error{
	ErrOverflow, ErrUnbalanced, ErrZeroPosting, ErrTooFewPostings,
	ErrIdempotencyConflict, ErrOverdraft,
}

// TestLedgerProperties posts generated transactions one after another and
// checks, after each, that
//   - money is conserved: the balances of all accounts sum to zero;
//   - every balance equals the replay of the accepted postings, both as the
//     test recorded them and as the account's History lists them, and each
//     history entry's BalanceAfter is the running sum;
//   - no account whose kind forbids it is, or ever was, below zero;
//   - a refused or replayed transaction changed nothing, and a valid one
//     with a new key that overdraws nothing was accepted.
func TestLedgerProperties(t *testing.T) {
	pool := propAccounts()

	rapid.Check(t, func(t *rapid.T) {
		ctx := context.Background()
		store := NewMemStore()
		l := New(store, nil)

		replay := make(map[Account]MilliSatoshi)
		seen := make(map[string]Receipt)
		seenTx := make(map[string]Transaction)

		txs := rapid.SliceOfN(genTx(pool), 1, 60).Draw(t, "txs")
		for i, tx := range txs {
			before := balances(t, l, pool)
			nStored := len(store.txs)

			r, err := l.Post(ctx, tx)

			mustAccept := wouldAccept(tx, before, seen)
			switch {
			case err != nil:
				if !isExpected(err) {
					t.Fatalf("tx %d: unexpected error %v", i, err)
				}
				if mustAccept {
					t.Fatalf("tx %d %v refused: %v", i, tx, err)
				}
				first, ok := seenTx[tx.IdempotencyKey]
				if ok && Validate(tx) == nil &&
					samePostings(first.Postings, tx.Postings) {

					t.Fatalf("tx %d: replay of %v refused: %v",
						i, first, err)
				}
				unchanged(t, l, pool, before)
				if len(store.txs) != nStored {
					t.Fatalf("tx %d refused but recorded", i)
				}

			case r.Duplicate:
				first, ok := seen[tx.IdempotencyKey]
				if !ok || first.TxID != r.TxID {
					t.Fatalf("tx %d: duplicate of %+v, first %+v",
						i, r, first)
				}
				if !samePostings(seenTx[tx.IdempotencyKey].Postings,
					tx.Postings) {

					t.Fatalf("tx %d: %v taken as a replay of %v",
						i, tx, seenTx[tx.IdempotencyKey])
				}
				unchanged(t, l, pool, before)

			default:
				if _, ok := seen[tx.IdempotencyKey]; ok {
					t.Fatalf("tx %d: key %q accepted twice", i,
						tx.IdempotencyKey)
				}
				if Validate(tx) != nil {
					t.Fatalf("tx %d: invalid %v accepted", i, tx)
				}
				seen[tx.IdempotencyKey] = r
				seenTx[tx.IdempotencyKey] = tx
				for _, p := range tx.Postings {
					replay[p.Account] += p.Amount
				}
			}

			checkInvariants(t, l, pool, replay)

			// Now and then, post an accepted transaction again with
			// its postings reversed: a replay changes nothing.
			if len(seenTx) == 0 || !rapid.Bool().Draw(t, "replay") {
				continue
			}
			keys := make([]string, 0, len(seenTx))
			for k := range seenTx {
				keys = append(keys, k)
			}
			slices.Sort(keys)
			old := seenTx[rapid.SampledFrom(keys).Draw(t, "replayKey")]
			again := cloneTx(old)
			slices.Reverse(again.Postings)

			before = balances(t, l, pool)
			r, err = l.Post(ctx, again)
			if err != nil || !r.Duplicate ||
				r.TxID != seen[old.IdempotencyKey].TxID {

				t.Fatalf("replay of %v: %+v, %v", old, r, err)
			}
			unchanged(t, l, pool, before)
		}
	})
}

// wouldAccept says whether tx must be accepted: it is valid, its key is new,
// and no account it touches would overflow or go below zero against its
// kind.
func wouldAccept(tx Transaction, before map[Account]MilliSatoshi,
	seen map[string]Receipt) bool {

	if _, ok := seen[tx.IdempotencyKey]; ok || Validate(tx) != nil {
		return false
	}

	after := make(map[Account]*big.Int)
	for _, p := range tx.Postings {
		if after[p.Account] == nil {
			after[p.Account] = big.NewInt(int64(before[p.Account]))
		}
		after[p.Account].Add(after[p.Account], big.NewInt(int64(p.Amount)))
	}
	for a, b := range after {
		if !b.IsInt64() || b.Sign() < 0 && !a.Kind.MayGoNegative() {
			return false
		}
	}

	return true
}

func isExpected(err error) bool {
	for _, e := range expectedErrs {
		if errors.Is(err, e) {
			return true
		}
	}

	return false
}

func balances(t *rapid.T, l *Ledger, pool []Account) map[Account]MilliSatoshi {
	out := make(map[Account]MilliSatoshi, len(pool))
	for _, a := range pool {
		b, err := l.Balance(context.Background(), a)
		if err != nil {
			t.Fatalf("Balance(%v): %v", a, err)
		}
		out[a] = b
	}

	return out
}

func unchanged(t *rapid.T, l *Ledger, pool []Account,
	before map[Account]MilliSatoshi) {

	after := balances(t, l, pool)
	for _, a := range pool {
		if after[a] != before[a] {
			t.Fatalf("%v changed from %v to %v", a, before[a],
				after[a])
		}
	}
}

func checkInvariants(t *rapid.T, l *Ledger, pool []Account,
	replay map[Account]MilliSatoshi) {

	ctx := context.Background()
	total := new(big.Int)
	for _, a := range pool {
		bal, err := l.Balance(ctx, a)
		if err != nil {
			t.Fatalf("Balance(%v): %v", a, err)
		}
		total.Add(total, big.NewInt(int64(bal)))

		if bal != replay[a] {
			t.Fatalf("%v has %v, replay of accepted postings %v", a,
				bal, replay[a])
		}
		if bal < 0 && !a.Kind.MayGoNegative() {
			t.Fatalf("%v is overdrawn: %v", a, bal)
		}

		hist, err := l.History(ctx, a, 0, 0)
		if err != nil {
			t.Fatalf("History(%v): %v", a, err)
		}
		var run MilliSatoshi
		lastTx := int64(0)
		for _, e := range hist {
			run += e.Amount
			if e.BalanceAfter != run || e.TxID <= lastTx {
				t.Fatalf("%v history %v does not add up", a, hist)
			}
			if run < 0 && !a.Kind.MayGoNegative() {
				t.Fatalf("%v was overdrawn in tx %d", a, e.TxID)
			}
			lastTx = e.TxID
		}
		if run != bal {
			t.Fatalf("%v has %v, history sums to %v", a, bal, run)
		}
	}

	if total.Sign() != 0 {
		t.Fatalf("balances sum to %v, not zero", total)
	}
}

// TestLedgerPropertiesConcurrent posts generated transactions from several
// goroutines at once and checks the invariants at the end: the store's
// transactions serialize the ledger's posts.
func TestLedgerPropertiesConcurrent(t *testing.T) {
	pool := propAccounts()
	rapid.Check(t, func(t *rapid.T) {
		ctx := context.Background()
		l := New(NewMemStore(), nil)
		batches := rapid.SliceOfN(
			rapid.SliceOfN(genTx(pool), 1, 20), 2, 4,
		).Draw(t, "batches")

		type result struct {
			tx  Transaction
			r   Receipt
			err error
		}
		results := make(chan result)
		for _, batch := range batches {
			go func() {
				for _, tx := range batch {
					r, err := l.Post(ctx, tx)
					results <- result{tx, r, err}
				}
			}()
		}

		replay := make(map[Account]MilliSatoshi)
		for _, batch := range batches {
			for range batch {
				res := <-results
				if res.err != nil && !isExpected(res.err) {
					t.Fatalf("unexpected error %v", res.err)
				}
				if res.err != nil || res.r.Duplicate {
					continue
				}
				for _, p := range res.tx.Postings {
					replay[p.Account] += p.Amount
				}
			}
		}

		checkInvariants(t, l, pool, replay)
	})
}

// TestPropertyGeneratorAccepts guards the property tests against a
// generator that only makes refused transactions, which would let them pass
// without testing anything.
func TestPropertyGeneratorAccepts(t *testing.T) {
	pool := propAccounts()
	var accepted, refused int
	rapid.Check(t, func(t *rapid.T) {
		l := New(NewMemStore(), nil)
		for _, tx := range rapid.SliceOfN(genTx(pool), 20, 20).
			Draw(t, "txs") {

			if r, err := l.Post(context.Background(), tx); err == nil &&
				!r.Duplicate {

				accepted++
			} else if err != nil {
				refused++
			}
		}
	})
	if accepted < 100 || refused < 100 {
		t.Fatalf("%d accepted, %d refused", accepted, refused)
	}
	t.Logf("%d accepted, %d refused", accepted, refused)
}
