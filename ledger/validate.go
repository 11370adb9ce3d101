package ledger

import (
	"fmt"
	"unicode/utf8"
)

const (
	// MaxKeyLen is the longest idempotency key, in bytes.
	MaxKeyLen = 256

	// MaxDescriptionLen is the longest description, in bytes.
	MaxDescriptionLen = 1024

	// MaxPostings is the most postings one transaction may have.
	MaxPostings = 4096
)

// keyChar reports whether r may appear in an idempotency key: ASCII letters
// and digits, and "-_.:/@+=". That covers keys built from ids, hex hashes and
// base64 ("payout:<hash>", "usage:job-1:17-42") and keeps them printable.
func keyChar(r rune) bool {
	if r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' {
		return true
	}
	switch r {
	case '-', '_', '.', ':', '/', '@', '+', '=':
		return true
	}

	return false
}

// ValidateKey checks an idempotency key: 1 to MaxKeyLen bytes of
// [A-Za-z0-9] and "-_.:/@+=". Errors wrap ErrEmptyKey or ErrInvalidKey.
func ValidateKey(key string) error {
	if key == "" {
		return ErrEmptyKey
	}
	if len(key) > MaxKeyLen {
		return fmt.Errorf("%w: %d bytes, at most %d", ErrInvalidKey,
			len(key), MaxKeyLen)
	}
	for _, r := range key {
		if !keyChar(r) {
			return fmt.Errorf("%w: %q has %q, want only "+
				"[A-Za-z0-9] and \"-_.:/@+=\"", ErrInvalidKey,
				key, r)
		}
	}

	return nil
}

// Validate checks a transaction before it is posted: a valid idempotency key
// (ValidateKey); a description of at most MaxDescriptionLen bytes of UTF-8;
// between two and MaxPostings postings, each to a valid account, in that
// account's unit only (ErrWrongUnit: no posting mixes units) and none of
// them zero; in each unit, postings whose positive and negative totals each
// fit in int64 and sum to zero; and, once postings to the same account are
// merged, at least two accounts that value moves between. A transaction
// may move both units (a stake moves money into the vault and shares to
// the staker at once), each balanced on its own. Each failure wraps its
// own sentinel error and names the posting, or the unit, at fault.
func Validate(tx Transaction) error {
	_, err := normalize(tx)
	return err
}

// units lists the units in the order the checks report them.
var units = []Unit{UnitMsat, UnitShares}

// value returns p's amount in its account's unit as a plain number. Once
// checkUnit has passed, the other unit's field is zero; summing and merging
// are the same in both units, and are kept apart by unit.
func (p Posting) value() int64 {
	if p.Account.Kind.Unit() == UnitShares {
		return int64(p.Shares)
	}

	return int64(p.Amount)
}

// postingOf returns the posting of v to a, in a's unit.
func postingOf(a Account, v int64) Posting {
	if a.Kind.Unit() == UnitShares {
		return Posting{Account: a, Shares: Shares(v)}
	}

	return Posting{Account: a, Amount: MilliSatoshi(v)}
}

// formatIn formats v as an amount of unit u.
func formatIn(u Unit, v int64) string {
	if u == UnitShares {
		return Shares(v).String()
	}

	return MilliSatoshi(v).String()
}

// checkUnit refuses a posting that carries an amount in the unit its
// account does not count, alone or beside one in the right unit.
func checkUnit(p Posting) error {
	switch p.Account.Kind.Unit() {
	case UnitMsat:
		if p.Shares != 0 {
			return fmt.Errorf("%w: %v to msat account %v",
				ErrWrongUnit, p.Shares, p.Account)
		}

	case UnitShares:
		if p.Amount != 0 {
			return fmt.Errorf("%w: %v to share account %v",
				ErrWrongUnit, p.Amount, p.Account)
		}
	}

	return nil
}

// unitSums are one unit's positive and negative totals.
type unitSums struct {
	credits, debits int64
}

// normalize validates tx and returns it with postings to the same account
// merged into one, at the position of the account's first posting. It
// refuses a transaction in which the merged amounts leave fewer than two
// accounts with a non-zero amount; a merged amount of zero in a transaction
// that still moves value is dropped, since it changes nothing. Balancing
// per unit means that a unit which moves at all moves between at least two
// accounts, so the count is taken over the whole transaction.
func normalize(tx Transaction) (Transaction, error) {
	if err := ValidateKey(tx.IdempotencyKey); err != nil {
		return Transaction{}, err
	}
	if len(tx.Description) > MaxDescriptionLen {
		return Transaction{}, fmt.Errorf("%w: %d bytes, at most %d",
			ErrInvalidDescription, len(tx.Description),
			MaxDescriptionLen)
	}
	if !utf8.ValidString(tx.Description) {
		return Transaction{}, fmt.Errorf("%w: not UTF-8",
			ErrInvalidDescription)
	}

	switch n := len(tx.Postings); {
	case n < 2:
		return Transaction{}, fmt.Errorf("%w: %d, need at least 2",
			ErrTooFewPostings, n)

	case n > MaxPostings:
		return Transaction{}, fmt.Errorf("%w: %d, at most %d",
			ErrTooManyPostings, n, MaxPostings)
	}

	var (
		sums   = make(map[Unit]*unitSums, len(units))
		merged = make(map[Account]int64, len(tx.Postings))
		order  = make([]Account, 0, len(tx.Postings))
	)
	for _, u := range units {
		sums[u] = &unitSums{}
	}
	for i, p := range tx.Postings {
		if err := p.Account.Validate(); err != nil {
			return Transaction{}, fmt.Errorf("posting %d: %w", i, err)
		}
		if err := checkUnit(p); err != nil {
			return Transaction{}, fmt.Errorf("posting %d: %w", i, err)
		}
		v := p.value()
		if v == 0 {
			return Transaction{}, fmt.Errorf("posting %d to %v: %w",
				i, p.Account, ErrZeroPosting)
		}

		// Summing credits and debits apart makes the overflow rule
		// independent of the postings' order.
		unit := p.Account.Kind.Unit()
		total := &sums[unit].debits
		if v > 0 {
			total = &sums[unit].credits
		}
		sum, ok := addChecked(*total, v)
		if !ok {
			return Transaction{}, fmt.Errorf("posting %d to %v: "+
				"%s + %s: %w", i, p.Account,
				formatIn(unit, *total), formatIn(unit, v),
				ErrOverflow)
		}
		*total = sum

		// The running totals bound every partial sum per account, so
		// this cannot overflow once they did not.
		if _, seen := merged[p.Account]; !seen {
			order = append(order, p.Account)
		}
		merged[p.Account] += v
	}

	for _, u := range units {
		s := sums[u]
		if off := s.credits + s.debits; off != 0 {
			return Transaction{}, fmt.Errorf("%w in %s: credits %s, "+
				"debits %s, off by %s", ErrUnbalanced, u,
				formatIn(u, s.credits), formatIn(u, s.debits),
				formatIn(u, off))
		}
	}

	out := Transaction{
		IdempotencyKey: tx.IdempotencyKey,
		Description:    tx.Description,
		Postings:       make([]Posting, 0, len(order)),
	}
	for _, a := range order {
		if merged[a] != 0 {
			out.Postings = append(out.Postings, postingOf(a, merged[a]))
		}
	}
	if len(out.Postings) < 2 {
		return Transaction{}, fmt.Errorf("%w: after merging postings "+
			"to the same account, %d account(s) left with a "+
			"non-zero amount, need at least 2", ErrTooFewPostings,
			len(out.Postings))
	}

	return out, nil
}

// netAmount is what a set of postings moves into one account, in both
// units, so that postings are compared exactly whatever their units.
type netAmount struct {
	amount MilliSatoshi
	shares Shares
}

// samePostings reports whether two sets of postings move the same net
// amounts, unit by unit, into the same accounts, whatever their order and
// however they are split between postings to one account.
func samePostings(a, b []Posting) bool {
	net := func(ps []Posting) map[Account]netAmount {
		m := make(map[Account]netAmount, len(ps))
		for _, p := range ps {
			n := m[p.Account]
			n.amount += p.Amount
			n.shares += p.Shares
			m[p.Account] = n
			if n == (netAmount{}) {
				delete(m, p.Account)
			}
		}

		return m
	}

	na, nb := net(a), net(b)
	if len(na) != len(nb) {
		return false
	}
	for acct, amt := range na {
		if nb[acct] != amt {
			return false
		}
	}

	return true
}
