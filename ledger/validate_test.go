package ledger

import (
	"errors"
	"fmt"
	"math"
	"math/big"
	"strconv"
	"strings"
	"testing"
)

// p is shorthand for a posting in tables.
func p(a Account, amt MilliSatoshi) Posting {
	return Posting{Account: a, Amount: amt}
}

// sh is shorthand for a posting of shares in tables.
func sh(a Account, n Shares) Posting {
	return Posting{Account: a, Shares: n}
}

func TestValidate(t *testing.T) {
	var (
		hub    = HubHoldings()
		escrow = BuyerEscrow("job-1")
		pay    = ProviderPayable("prov-1")
		fees   = PlatformFees()
		vault  = Vault()
		supply = ShareSupply()
		held   = ProviderShares("prov-1")
		locked = SharesLocked("prov-1")
	)
	tx := func(key string, ps ...Posting) Transaction {
		return Transaction{IdempotencyKey: key, Postings: ps}
	}

	tests := []struct {
		name    string
		tx      Transaction
		wantErr error
	}{
		{"transfer", tx("k", p(hub, -5), p(escrow, 5)), nil},
		{"three legs", tx("usage:job-1:1-10", p(escrow, -100), p(pay, 98), p(fees, 2)), nil},
		{"key charset", tx("aZ09-_.:/@+=", p(hub, -5), p(escrow, 5)), nil},
		{"key at max length", tx(strings.Repeat("k", MaxKeyLen), p(hub, -5), p(escrow, 5)), nil},
		{"split postings", tx("k", p(hub, -3), p(hub, -2), p(escrow, 5)), nil},
		{"cancelling leg dropped", tx("k", p(fees, 4), p(fees, -4), p(hub, -5), p(escrow, 5)), nil},
		{"extremes", tx("k", p(hub, math.MinInt64+1), p(escrow, math.MaxInt64)), nil},
		{"description", Transaction{IdempotencyKey: "k", Description: "fund job ✓", Postings: []Posting{p(hub, -5), p(escrow, 5)}}, nil},

		{"empty key", tx("", p(hub, -5), p(escrow, 5)), ErrEmptyKey},
		{"key too long", tx(strings.Repeat("k", MaxKeyLen+1), p(hub, -5), p(escrow, 5)), ErrInvalidKey},
		{"key with space", tx("a b", p(hub, -5), p(escrow, 5)), ErrInvalidKey},
		{"key with newline", tx("a\n", p(hub, -5), p(escrow, 5)), ErrInvalidKey},
		{"key not ascii", tx("ключ", p(hub, -5), p(escrow, 5)), ErrInvalidKey},
		{"description too long", Transaction{IdempotencyKey: "k", Description: strings.Repeat("d", MaxDescriptionLen+1), Postings: []Posting{p(hub, -5), p(escrow, 5)}}, ErrInvalidDescription},
		{"description not utf8", Transaction{IdempotencyKey: "k", Description: "\xff", Postings: []Posting{p(hub, -5), p(escrow, 5)}}, ErrInvalidDescription},
		{"no postings", tx("k"), ErrTooFewPostings},
		{"one posting", tx("k", p(hub, 5)), ErrTooFewPostings},
		{"self transfer", tx("k", p(escrow, -5), p(escrow, 5)), ErrTooFewPostings},
		{"too many postings", tx("k", make([]Posting, MaxPostings+1)...), ErrTooManyPostings},
		{"zero posting", tx("k", p(hub, -5), p(escrow, 5), p(fees, 0)), ErrZeroPosting},
		{"unknown kind", tx("k", p(Account{Kind: "cash"}, -5), p(escrow, 5)), ErrInvalidAccount},
		{"missing ref", tx("k", p(hub, -5), p(BuyerEscrow(""), 5)), ErrInvalidAccount},
		{"unbalanced", tx("k", p(hub, -5), p(escrow, 4)), ErrUnbalanced},
		{"all positive", tx("k", p(hub, 5), p(escrow, 5)), ErrUnbalanced},
		{"min int", tx("k", p(hub, math.MinInt64), p(escrow, math.MaxInt64), p(fees, 1)), ErrOverflow},
		{"credits overflow", tx("k", p(escrow, math.MaxInt64), p(fees, 1), p(hub, -1)), ErrOverflow},
		{"debits overflow", tx("k", p(escrow, math.MinInt64), p(hub, -1)), ErrOverflow},
		{"order-independent overflow", tx("k", p(escrow, math.MaxInt64), p(hub, -1), p(fees, 1), p(hub, math.MinInt64+1)), ErrOverflow},

		{"shares", tx("k", sh(supply, -5), sh(held, 5)), nil},
		{"stake in both units", tx("stake", p(pay, -5_000), p(vault, 5_000), sh(supply, -4_000), sh(held, 4_000)), nil},
		{"units interleaved", tx("k", sh(held, -2), p(pay, -7), sh(locked, 2), p(vault, 7)), nil},
		{"cancelling share legs dropped", tx("k", p(hub, -5), p(escrow, 5), sh(held, -3), sh(held, 3)), nil},
		{"share extremes", tx("k", sh(supply, math.MinInt64+1), sh(held, math.MaxInt64)), nil},
		{"shares to an msat account", tx("k", sh(supply, -5), Posting{Account: escrow, Shares: 5}), ErrWrongUnit},
		{"msat to a share account", tx("k", p(hub, -5), Posting{Account: held, Amount: 5}), ErrWrongUnit},
		{"posting in both units", tx("k", p(hub, -5), sh(supply, -5), Posting{Account: escrow, Amount: 5, Shares: 5}), ErrWrongUnit},
		{"share posting in both units", tx("k", p(hub, -5), sh(supply, -5), Posting{Account: held, Amount: 5, Shares: 5}), ErrWrongUnit},
		{"balanced only across units", tx("k", p(hub, -5), sh(held, 5)), ErrUnbalanced},
		{"share legs unbalanced", tx("k", p(hub, -5), p(escrow, 5), sh(supply, -5), sh(held, 4)), ErrUnbalanced},
		{"zero shares", tx("k", sh(supply, -5), sh(held, 5), sh(locked, 0)), ErrZeroPosting},
		{"share self transfer", tx("k", sh(held, -3), sh(held, 3)), ErrTooFewPostings},
		{"share credits overflow", tx("k", sh(held, math.MaxInt64), sh(locked, 1), sh(supply, -1)), ErrOverflow},
		{"share debits overflow", tx("k", sh(supply, math.MinInt64), sh(held, -1)), ErrOverflow},
		{"units do not share an overflow", tx("k", p(escrow, math.MaxInt64), p(hub, math.MinInt64+1), sh(held, math.MaxInt64), sh(supply, math.MinInt64+1)), nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			err := Validate(tc.tx)
			if !errors.Is(err, tc.wantErr) {
				t.Fatalf("Validate() = %v, want %v", err, tc.wantErr)
			}
		})
	}
}

func TestNormalize(t *testing.T) {
	var (
		hub    = HubHoldings()
		escrow = BuyerEscrow("job-1")
		fees   = PlatformFees()
	)
	got, err := normalize(Transaction{
		IdempotencyKey: "k",
		Postings: []Posting{
			p(escrow, 2), p(fees, 4), p(hub, -3), p(fees, -4),
			p(escrow, 3), p(hub, -2),
		},
	})
	if err != nil {
		t.Fatalf("normalize: %v", err)
	}
	want := []Posting{p(escrow, 5), p(hub, -5)}
	if len(got.Postings) != len(want) {
		t.Fatalf("got %v, want %v", got.Postings, want)
	}
	for i := range want {
		if got.Postings[i] != want[i] {
			t.Fatalf("got %v, want %v", got.Postings, want)
		}
	}

	// Both units merge alike, each posting keeping its account's unit.
	var (
		held   = ProviderShares("p")
		supply = ShareSupply()
	)
	got, err = normalize(Transaction{
		IdempotencyKey: "k",
		Postings: []Posting{
			sh(held, 2), p(escrow, -4), sh(supply, -5), p(hub, 4),
			sh(held, 3),
		},
	})
	if err != nil {
		t.Fatalf("normalize: %v", err)
	}
	want = []Posting{sh(held, 5), p(escrow, -4), sh(supply, -5), p(hub, 4)}
	if fmt.Sprint(got.Postings) != fmt.Sprint(want) {
		t.Fatalf("got %v, want %v", got.Postings, want)
	}
}

func TestSamePostings(t *testing.T) {
	var (
		a = BuyerEscrow("a")
		b = BuyerEscrow("b")
		c = BuyerEscrow("c")
		x = ProviderShares("x")
		y = ProviderShares("y")
	)
	tests := []struct {
		name string
		x, y []Posting
		want bool
	}{
		{"same", []Posting{p(a, -1), p(b, 1)}, []Posting{p(a, -1), p(b, 1)}, true},
		{"reordered", []Posting{p(a, -1), p(b, 1)}, []Posting{p(b, 1), p(a, -1)}, true},
		{"split", []Posting{p(a, -2), p(b, 2)}, []Posting{p(b, 1), p(a, -2), p(b, 1)}, true},
		{"other amount", []Posting{p(a, -1), p(b, 1)}, []Posting{p(a, -2), p(b, 2)}, false},
		{"other account", []Posting{p(a, -1), p(b, 1)}, []Posting{p(a, -1), p(c, 1)}, false},
		{"extra leg", []Posting{p(a, -2), p(b, 2)}, []Posting{p(a, -2), p(b, 1), p(c, 1)}, false},
		{"shares", []Posting{sh(x, -2), sh(y, 2)}, []Posting{sh(y, 1), sh(x, -2), sh(y, 1)}, true},
		{"other shares", []Posting{sh(x, -2), sh(y, 2)}, []Posting{sh(x, -3), sh(y, 3)}, false},
		{"both units", []Posting{p(a, -1), p(b, 1), sh(x, -2), sh(y, 2)}, []Posting{sh(x, -2), p(b, 1), sh(y, 2), p(a, -1)}, true},
		{"a unit missing", []Posting{p(a, -1), p(b, 1), sh(x, -2), sh(y, 2)}, []Posting{p(a, -1), p(b, 1)}, false},
		{"same number, other unit", []Posting{p(a, -1), p(b, 1)}, []Posting{sh(a, -1), sh(b, 1)}, false},
	}
	for _, tc := range tests {
		if got := samePostings(tc.x, tc.y); got != tc.want {
			t.Errorf("%s: samePostings = %v", tc.name, got)
		}
		if got := samePostings(tc.y, tc.x); got != tc.want {
			t.Errorf("%s (swapped): samePostings = %v", tc.name, got)
		}
	}
}

// decodeFuzzTx reads a transaction from fuzz input: postings separated by
// ';', each "kind[:ref]=amount[/shares]": the amount in msat, and after a
// '/' one in shares, so that postings in either unit, the wrong one or
// both can be written. A number that does not parse is 0, so that
// malformed input still reaches Validate.
func decodeFuzzTx(key, desc, postings string) Transaction {
	tx := Transaction{IdempotencyKey: key, Description: desc}
	if postings == "" {
		return tx
	}
	for _, field := range strings.Split(postings, ";") {
		acct, amounts, _ := strings.Cut(field, "=")
		kind, ref, _ := strings.Cut(acct, ":")
		amt, shares, _ := strings.Cut(amounts, "/")
		n, _ := strconv.ParseInt(amt, 10, 64)
		s, _ := strconv.ParseInt(shares, 10, 64)
		tx.Postings = append(tx.Postings, Posting{
			Account: Account{Kind: AccountKind(kind), Ref: ref},
			Amount:  MilliSatoshi(n),
			Shares:  Shares(s),
		})
	}

	return tx
}

// FuzzValidateTransaction checks that Validate never panics and that a
// transaction it accepts really is balanced: each posting is in its
// account's unit only, each unit sums to zero in exact arithmetic, there is
// no zero posting or invalid account, and value moves between at least two
// accounts.
func FuzzValidateTransaction(f *testing.F) {
	// The seeds are in testdata/fuzz/FuzzValidateTransaction.
	f.Fuzz(func(t *testing.T, key, desc, postings string) {
		tx := decodeFuzzTx(key, desc, postings)
		err := Validate(tx)
		if err != nil {
			return
		}

		sums := map[Unit]*big.Int{
			UnitMsat: new(big.Int), UnitShares: new(big.Int),
		}
		net := make(map[Account]*big.Int)
		for _, p := range tx.Postings {
			if err := p.Account.Validate(); err != nil {
				t.Fatalf("accepted account %v: %v", p.Account, err)
			}
			unit := p.Account.Kind.Unit()
			amt := big.NewInt(int64(p.Amount))
			if unit == UnitShares {
				amt = big.NewInt(int64(p.Shares))
			}
			if unit == UnitMsat && p.Shares != 0 ||
				unit == UnitShares && p.Amount != 0 {

				t.Fatalf("accepted a posting in the wrong unit: "+
					"%+v", tx)
			}
			if amt.Sign() == 0 {
				t.Fatalf("accepted a zero posting: %+v", tx)
			}
			sums[unit].Add(sums[unit], amt)
			if net[p.Account] == nil {
				net[p.Account] = new(big.Int)
			}
			net[p.Account].Add(net[p.Account], amt)
		}
		for unit, sum := range sums {
			if sum.Sign() != 0 {
				t.Fatalf("accepted a transaction summing to %v "+
					"in %s: %+v", sum, unit, tx)
			}
		}
		moving := 0
		for _, n := range net {
			if n.Sign() != 0 {
				moving++
			}
		}
		if moving < 2 {
			t.Fatalf("accepted a transaction moving value between "+
				"%d accounts: %+v", moving, tx)
		}
		if ValidateKey(key) != nil || len(desc) > MaxDescriptionLen {
			t.Fatalf("accepted key %q, description %q", key, desc)
		}

		norm, err := normalize(tx)
		if err != nil || !samePostings(norm.Postings, tx.Postings) {
			t.Fatalf("normalize changed the transaction: %v, %v",
				norm, err)
		}
	})
}
