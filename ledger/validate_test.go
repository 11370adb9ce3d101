package ledger

import (
	"errors"
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

func TestValidate(t *testing.T) {
	var (
		hub    = HubHoldings()
		escrow = BuyerEscrow("job-1")
		pay    = ProviderPayable("prov-1")
		fees   = PlatformFees()
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
}

func TestSamePostings(t *testing.T) {
	var (
		a = BuyerEscrow("a")
		b = BuyerEscrow("b")
		c = BuyerEscrow("c")
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
// ';', each "kind[:ref]=amount". A posting whose amount does not parse gets
// amount 0, so that malformed input still reaches Validate.
func decodeFuzzTx(key, desc, postings string) Transaction {
	tx := Transaction{IdempotencyKey: key, Description: desc}
	if postings == "" {
		return tx
	}
	for _, field := range strings.Split(postings, ";") {
		acct, amt, _ := strings.Cut(field, "=")
		kind, ref, _ := strings.Cut(acct, ":")
		n, _ := strconv.ParseInt(amt, 10, 64)
		tx.Postings = append(tx.Postings, Posting{
			Account: Account{Kind: AccountKind(kind), Ref: ref},
			Amount:  MilliSatoshi(n),
		})
	}

	return tx
}

// FuzzValidateTransaction checks that Validate never panics and that a
// transaction it accepts really is balanced: it sums to zero in exact
// arithmetic, has no zero posting or invalid account, and moves money
// between at least two accounts.
func FuzzValidateTransaction(f *testing.F) {
	// The seeds are in testdata/fuzz/FuzzValidateTransaction.
	f.Fuzz(func(t *testing.T, key, desc, postings string) {
		tx := decodeFuzzTx(key, desc, postings)
		err := Validate(tx)
		if err != nil {
			return
		}

		sum := new(big.Int)
		net := make(map[Account]*big.Int)
		for _, p := range tx.Postings {
			if p.Amount == 0 {
				t.Fatalf("accepted a zero posting: %+v", tx)
			}
			if err := p.Account.Validate(); err != nil {
				t.Fatalf("accepted account %v: %v", p.Account, err)
			}
			amt := big.NewInt(int64(p.Amount))
			sum.Add(sum, amt)
			if net[p.Account] == nil {
				net[p.Account] = new(big.Int)
			}
			net[p.Account].Add(net[p.Account], amt)
		}
		if sum.Sign() != 0 {
			t.Fatalf("accepted a transaction summing to %v: %+v",
				sum, tx)
		}
		moving := 0
		for _, n := range net {
			if n.Sign() != 0 {
				moving++
			}
		}
		if moving < 2 {
			t.Fatalf("accepted a transaction moving money between "+
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
