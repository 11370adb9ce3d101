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
// between two and MaxPostings postings, none of them zero, each to a valid
// account; postings whose positive and negative totals each fit in int64
// and sum to zero; and, once postings to the same account are merged, at
// least two accounts that money moves between. Each failure wraps its own
// sentinel error and names the posting at fault.
func Validate(tx Transaction) error {
	_, err := normalize(tx)
	return err
}

// normalize validates tx and returns it with postings to the same account
// merged into one, at the position of the account's first posting. It
// refuses a transaction in which the merged amounts leave fewer than two
// accounts with a non-zero amount; a merged amount of zero in a transaction
// that still moves money is dropped, since it changes nothing.
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
		credits, debits MilliSatoshi
		merged          = make(map[Account]MilliSatoshi, len(tx.Postings))
		order           = make([]Account, 0, len(tx.Postings))
		err             error
	)
	for i, p := range tx.Postings {
		if err := p.Account.Validate(); err != nil {
			return Transaction{}, fmt.Errorf("posting %d: %w", i, err)
		}
		if p.Amount == 0 {
			return Transaction{}, fmt.Errorf("posting %d to %v: %w",
				i, p.Account, ErrZeroPosting)
		}

		// Summing credits and debits apart makes the overflow rule
		// independent of the postings' order.
		if p.Amount > 0 {
			credits, err = credits.Add(p.Amount)
		} else {
			debits, err = debits.Add(p.Amount)
		}
		if err != nil {
			return Transaction{}, fmt.Errorf("posting %d to %v: %w",
				i, p.Account, err)
		}

		// The running totals bound every partial sum per account, so
		// this cannot overflow once they did not.
		if _, seen := merged[p.Account]; !seen {
			order = append(order, p.Account)
		}
		merged[p.Account] += p.Amount
	}

	if sum := credits + debits; sum != 0 {
		return Transaction{}, fmt.Errorf("%w: credits %v, debits %v, "+
			"off by %v", ErrUnbalanced, credits, debits, sum)
	}

	out := Transaction{
		IdempotencyKey: tx.IdempotencyKey,
		Description:    tx.Description,
		Postings:       make([]Posting, 0, len(order)),
	}
	for _, a := range order {
		if merged[a] != 0 {
			out.Postings = append(out.Postings, Posting{
				Account: a, Amount: merged[a],
			})
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

// samePostings reports whether two sets of postings move the same net
// amounts into the same accounts, whatever their order and however they are
// split between postings to one account.
func samePostings(a, b []Posting) bool {
	net := func(ps []Posting) map[Account]MilliSatoshi {
		m := make(map[Account]MilliSatoshi, len(ps))
		for _, p := range ps {
			m[p.Account] += p.Amount
			if m[p.Account] == 0 {
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
