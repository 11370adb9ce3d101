package ledger

import (
	"context"
	"errors"
	"fmt"
	"math"
	"math/big"
	"slices"
	"strings"
	"testing"

	"pgregory.net/rapid"
)

// propAccounts is the pool the property tests post between: every kind, of
// both units, and two refs of each per-thing kind.
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

// byUnit splits accounts by their unit.
func byUnit(accounts []Account) map[Unit][]Account {
	out := make(map[Unit][]Account)
	for _, a := range accounts {
		out[a.Kind.Unit()] = append(out[a.Kind.Unit()], a)
	}

	return out
}

// genAmount draws a non-zero amount: mostly small, sometimes near the
// limits so that overflow is tried.
func genAmount() *rapid.Generator[int64] {
	return rapid.Custom(func(t *rapid.T) int64 {
		mag := rapid.OneOf(
			rapid.Int64Range(1, 1_000),
			rapid.Int64Range(1, math.MaxInt64),
			rapid.SampledFrom([]int64{
				math.MaxInt64, math.MaxInt64/2 + 1,
			}),
		).Draw(t, "magnitude")
		if rapid.Bool().Draw(t, "negative") {
			return -mag
		}

		return mag
	})
}

// other returns the unit that is not u.
func other(u Unit) Unit {
	if u == UnitShares {
		return UnitMsat
	}

	return UnitShares
}

// withIn returns p with v set in unit u's field, whatever p's account
// counts: the way to build a posting in the wrong unit.
func withIn(p Posting, u Unit, v int64) Posting {
	if u == UnitShares {
		p.Shares = Shares(v)
	} else {
		p.Amount = MilliSatoshi(v)
	}

	return p
}

// The ways genTx breaks a transaction on purpose.
const (
	breakNone = iota
	breakUnbalanced
	breakZero
	breakWrongField
	breakMixed
)

// genLegs draws 2 to 4 postings between accounts of one unit that sum to
// zero, unless the sum wraps around (Validate must catch that).
func genLegs(t *rapid.T, accounts []Account) []Posting {
	acct := rapid.SampledFrom(accounts)
	n := rapid.IntRange(2, 4).Draw(t, "legs")
	var (
		legs []Posting
		sum  int64
	)
	for i := 0; i < n-1; i++ {
		amt := genAmount().Draw(t, "amount")
		sum += amt
		legs = append(legs, postingOf(acct.Draw(t, "account"), amt))
	}

	return append(legs, postingOf(acct.Draw(t, "account"), -sum))
}

// genTx draws a transaction over the pool. Most balance in each unit they
// move, in one unit or in both; some are fundings from an account that may
// go negative, so that the others get value to move; a few are broken on
// purpose: unbalanced in a unit, a zero posting, a posting in the wrong
// unit's field, a posting in both. Keys come from a small set so that
// replays and conflicts happen.
func genTx(pool []Account) *rapid.Generator[Transaction] {
	accounts := byUnit(pool)
	sources := make(map[Unit][]Account)
	for _, a := range pool {
		if a.Kind.MayGoNegative() {
			u := a.Kind.Unit()
			sources[u] = append(sources[u], a)
		}
	}

	return rapid.Custom(func(t *rapid.T) Transaction {
		key := fmt.Sprintf("k%d", rapid.IntRange(0, 11).Draw(t, "key"))

		// A funding moves value out of sources, in one unit or, as
		// a stake does, in both at once.
		fund := func(u Unit) []Posting {
			amt := rapid.Int64Range(1, 10_000).Draw(t, "fund")
			from := rapid.SampledFrom(sources[u]).Draw(t, "source")
			to := rapid.SampledFrom(accounts[u]).Draw(t, "to")

			return []Posting{postingOf(from, -amt), postingOf(to, amt)}
		}
		switch rapid.IntRange(0, 4).Draw(t, "shape") {
		case 0:
			u := rapid.SampledFrom(units).Draw(t, "unit")
			return Transaction{IdempotencyKey: key,
				Description: "fund", Postings: fund(u)}

		case 1:
			return Transaction{IdempotencyKey: key,
				Description: "fund both",
				Postings: append(fund(UnitMsat),
					fund(UnitShares)...)}
		}

		moved := rapid.SampledFrom([][]Unit{
			{UnitMsat}, {UnitShares}, {UnitMsat, UnitShares},
		}).Draw(t, "units")
		tx := Transaction{IdempotencyKey: key}
		for _, u := range moved {
			tx.Postings = append(tx.Postings,
				genLegs(t, accounts[u])...)
		}

		i := rapid.IntRange(0, len(tx.Postings)-1).Draw(t, "broken")
		p := tx.Postings[i]
		u := p.Account.Kind.Unit()
		switch rapid.IntRange(0, 12).Draw(t, "break") {
		case breakUnbalanced:
			tx.Postings[i] = withIn(p, u, p.value()+1)
		case breakZero:
			tx.Postings[i] = withIn(p, u, 0)
		case breakWrongField:
			tx.Postings[i] = withIn(withIn(p, u, 0), other(u),
				p.value())
		case breakMixed:
			tx.Postings[i] = withIn(p, other(u), 1)
		}

		tx.Postings = rapid.Permutation(tx.Postings).Draw(t, "order")

		return tx
	})
}

// expectedErrs are the refusals a generated transaction may get.
var expectedErrs = []error{
	ErrOverflow, ErrUnbalanced, ErrZeroPosting, ErrTooFewPostings,
	ErrIdempotencyConflict, ErrOverdraft, ErrWrongUnit,
}

// TestLedgerProperties posts generated transactions one after another and
// checks, after each, that
//   - value is conserved in each unit: the msat balances of all accounts
//     sum to zero, and so do the share balances;
//   - every balance equals the replay of the accepted postings, both as the
//     test recorded them and as the account's History lists them, in the
//     account's unit, and each history entry's balance after is the
//     running sum;
//   - no account whose kind forbids it is, or ever was, below zero;
//   - a balance is never read in the other unit;
//   - a refused or replayed transaction changed nothing, and a valid one
//     with a new key that overdraws nothing was accepted.
func TestLedgerProperties(t *testing.T) {
	pool := propAccounts()

	rapid.Check(t, func(t *rapid.T) {
		ctx := context.Background()
		store := NewMemStore()
		l := New(store, nil)

		replay := make(map[Account]int64)
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
					replay[p.Account] += p.value()
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
func wouldAccept(tx Transaction, before map[Account]int64,
	seen map[string]Receipt) bool {

	if _, ok := seen[tx.IdempotencyKey]; ok || Validate(tx) != nil {
		return false
	}

	after := make(map[Account]*big.Int)
	for _, p := range tx.Postings {
		if after[p.Account] == nil {
			after[p.Account] = big.NewInt(before[p.Account])
		}
		after[p.Account].Add(after[p.Account], big.NewInt(p.value()))
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

// balanceOf reads an account's balance in its unit, and checks that it
// cannot be read in the other one.
func balanceOf(t *rapid.T, l *Ledger, a Account) int64 {
	ctx := context.Background()
	if a.Kind.Unit() == UnitShares {
		if _, err := l.Balance(ctx, a); !errors.Is(err, ErrWrongUnit) {
			t.Fatalf("Balance(%v) = %v, want ErrWrongUnit", a, err)
		}
		s, err := l.ShareBalance(ctx, a)
		if err != nil {
			t.Fatalf("ShareBalance(%v): %v", a, err)
		}

		return int64(s)
	}

	if _, err := l.ShareBalance(ctx, a); !errors.Is(err, ErrWrongUnit) {
		t.Fatalf("ShareBalance(%v) = %v, want ErrWrongUnit", a, err)
	}
	m, err := l.Balance(ctx, a)
	if err != nil {
		t.Fatalf("Balance(%v): %v", a, err)
	}

	return int64(m)
}

func balances(t *rapid.T, l *Ledger, pool []Account) map[Account]int64 {
	out := make(map[Account]int64, len(pool))
	for _, a := range pool {
		out[a] = balanceOf(t, l, a)
	}

	return out
}

func unchanged(t *rapid.T, l *Ledger, pool []Account,
	before map[Account]int64) {

	after := balances(t, l, pool)
	for _, a := range pool {
		if after[a] != before[a] {
			t.Fatalf("%v changed from %s to %s", a,
				formatIn(a.Kind.Unit(), before[a]),
				formatIn(a.Kind.Unit(), after[a]))
		}
	}
}

// entryIn returns a history entry's amount and balance after in unit u,
// and fails the test when it holds anything in the other unit.
func entryIn(t *rapid.T, a Account, e Entry) (amount, after int64) {
	if a.Kind.Unit() == UnitShares {
		if e.Amount != 0 || e.BalanceAfter != 0 {
			t.Fatalf("%v: share entry %+v has msat", a, e)
		}

		return int64(e.Shares), int64(e.SharesAfter)
	}
	if e.Shares != 0 || e.SharesAfter != 0 {
		t.Fatalf("%v: msat entry %+v has shares", a, e)
	}

	return int64(e.Amount), int64(e.BalanceAfter)
}

func checkInvariants(t *rapid.T, l *Ledger, pool []Account,
	replay map[Account]int64) {

	ctx := context.Background()
	totals := map[Unit]*big.Int{
		UnitMsat: new(big.Int), UnitShares: new(big.Int),
	}
	for _, a := range pool {
		bal := balanceOf(t, l, a)
		totals[a.Kind.Unit()].Add(totals[a.Kind.Unit()],
			big.NewInt(bal))

		if bal != replay[a] {
			t.Fatalf("%v has %d, replay of accepted postings %d", a,
				bal, replay[a])
		}
		if bal < 0 && !a.Kind.MayGoNegative() {
			t.Fatalf("%v is overdrawn: %d", a, bal)
		}

		hist, err := l.History(ctx, a, 0, 0)
		if err != nil {
			t.Fatalf("History(%v): %v", a, err)
		}
		var run int64
		lastTx := int64(0)
		for _, e := range hist {
			amount, after := entryIn(t, a, e)
			run += amount
			if after != run || e.TxID <= lastTx {
				t.Fatalf("%v history %v does not add up", a, hist)
			}
			if run < 0 && !a.Kind.MayGoNegative() {
				t.Fatalf("%v was overdrawn in tx %d", a, e.TxID)
			}
			lastTx = e.TxID
		}
		if run != bal {
			t.Fatalf("%v has %d, history sums to %d", a, bal, run)
		}
	}

	for u, total := range totals {
		if total.Sign() != 0 {
			t.Fatalf("%s balances sum to %v, not zero", u, total)
		}
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

		replay := make(map[Account]int64)
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
					replay[p.Account] += p.value()
				}
			}
		}

		checkInvariants(t, l, pool, replay)
	})
}

// genValid draws a transaction that Validate accepts: legs of small
// positive amounts, each unit's closed by one negative leg, in one unit or
// both, to distinct accounts.
func genValid(pool []Account) *rapid.Generator[Transaction] {
	accounts := byUnit(pool)

	return rapid.Custom(func(t *rapid.T) Transaction {
		moved := rapid.SampledFrom([][]Unit{
			{UnitMsat}, {UnitShares}, {UnitMsat, UnitShares},
		}).Draw(t, "units")
		tx := Transaction{IdempotencyKey: "valid"}
		for _, u := range moved {
			legs := rapid.SliceOfNDistinct(
				rapid.SampledFrom(accounts[u]), 2, 4,
				func(a Account) Account { return a },
			).Draw(t, "accounts")
			var sum int64
			for _, a := range legs[1:] {
				amt := rapid.Int64Range(1, 1_000_000).Draw(t,
					"amount")
				sum += amt
				tx.Postings = append(tx.Postings,
					postingOf(a, amt))
			}
			tx.Postings = append(tx.Postings,
				postingOf(legs[0], -sum))
		}
		tx.Postings = rapid.Permutation(tx.Postings).Draw(t, "order")

		return tx
	})
}

// TestMixedPostingRefused: whatever else a transaction holds, one posting
// with an amount in the unit its account does not count, alone or beside
// its own, gets the transaction refused with ErrWrongUnit, and nothing
// changes.
func TestMixedPostingRefused(t *testing.T) {
	pool := propAccounts()
	rapid.Check(t, func(t *rapid.T) {
		ctx := context.Background()
		l := New(NewMemStore(), nil)
		for _, tx := range rapid.SliceOfN(genTx(pool), 0, 10).
			Draw(t, "history") {

			_, _ = l.Post(ctx, tx)
		}

		tx := genValid(pool).Draw(t, "tx")
		if err := Validate(tx); err != nil {
			t.Fatalf("generated %v is invalid: %v", tx, err)
		}
		i := rapid.IntRange(0, len(tx.Postings)-1).Draw(t, "posting")
		p := tx.Postings[i]
		u := p.Account.Kind.Unit()
		extra := rapid.Int64Range(1, math.MaxInt64).Draw(t, "extra")
		if rapid.Bool().Draw(t, "negative") {
			extra = -extra
		}
		if rapid.Bool().Draw(t, "alone") {
			// All of it in the other unit's field, as a caller
			// that mistook the account's unit would write it.
			p = withIn(withIn(p, u, 0), other(u), p.value())
		} else {
			p = withIn(p, other(u), extra)
		}
		tx.Postings[i] = p

		if err := Validate(tx); !errors.Is(err, ErrWrongUnit) {
			t.Fatalf("Validate(%v) = %v, want ErrWrongUnit", tx, err)
		}
		before := balances(t, l, pool)
		if _, err := l.Post(ctx, tx); !errors.Is(err, ErrWrongUnit) {
			t.Fatalf("Post(%v) = %v, want ErrWrongUnit", tx, err)
		}
		unchanged(t, l, pool, before)
	})
}

// TestUnitsBalanceApart: a transaction whose msat legs are off by d and
// whose share legs are off by −d sums to zero over both units and is still
// refused, with ErrUnbalanced naming msat; with both units balanced it is
// valid.
func TestUnitsBalanceApart(t *testing.T) {
	pool := byUnit(propAccounts())
	rapid.Check(t, func(t *rapid.T) {
		msat := rapid.SliceOfNDistinct(rapid.SampledFrom(pool[UnitMsat]),
			2, 2, func(a Account) Account { return a }).Draw(t, "msat")
		share := rapid.SliceOfNDistinct(
			rapid.SampledFrom(pool[UnitShares]), 2, 2,
			func(a Account) Account { return a }).Draw(t, "share")
		// x and y exceed |d|, so that no leg is zero.
		x := rapid.Int64Range(1<<21, 1<<40).Draw(t, "x")
		y := rapid.Int64Range(1<<21, 1<<40).Draw(t, "y")
		d := rapid.Int64Range(-1<<20, 1<<20).Draw(t, "d")

		tx := Transaction{IdempotencyKey: "k", Postings: []Posting{
			postingOf(msat[0], -x), postingOf(msat[1], x+d),
			postingOf(share[0], -y), postingOf(share[1], y-d),
		}}
		tx.Postings = rapid.Permutation(tx.Postings).Draw(t, "order")

		err := Validate(tx)
		switch {
		case d == 0 && err != nil:
			t.Fatalf("balanced %v refused: %v", tx, err)

		case d != 0 && !errors.Is(err, ErrUnbalanced):
			t.Fatalf("Validate(%v) = %v, want ErrUnbalanced", tx, err)

		case d != 0 && !strings.Contains(err.Error(), "in msat"):
			t.Fatalf("error %q does not name the unit", err)
		}
	})
}

// TestPropertyGeneratorAccepts guards the property tests against a
// generator that only makes refused transactions, or never a valid one in
// both units, which would let them pass without testing anything.
func TestPropertyGeneratorAccepts(t *testing.T) {
	pool := propAccounts()
	var accepted, refused, mixed, wrongUnit int
	rapid.Check(t, func(t *rapid.T) {
		l := New(NewMemStore(), nil)
		for _, tx := range rapid.SliceOfN(genTx(pool), 20, 20).
			Draw(t, "txs") {

			r, err := l.Post(context.Background(), tx)
			switch {
			case err == nil && !r.Duplicate:
				accepted++
				seen := make(map[Unit]bool)
				for _, p := range tx.Postings {
					seen[p.Account.Kind.Unit()] = true
				}
				if len(seen) == 2 {
					mixed++
				}

			case errors.Is(err, ErrWrongUnit):
				wrongUnit++
				refused++

			case err != nil:
				refused++
			}
		}
	})
	if accepted < 100 || refused < 100 || mixed < 10 || wrongUnit < 10 {
		t.Fatalf("%d accepted (%d in both units), %d refused (%d for "+
			"the unit)", accepted, mixed, refused, wrongUnit)
	}
	t.Logf("%d accepted (%d in both units), %d refused (%d for the unit)",
		accepted, mixed, refused, wrongUnit)
}
