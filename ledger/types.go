package ledger

import "time"

// AccountKind says what an account is for, and whether it may go negative.
type AccountKind string

// Account names one ledger account: a kind and, for kinds that exist once per
// job, provider or strategy, the reference of that thing (empty otherwise).
type Account struct {
	Kind AccountKind
	Ref  string
}

// Posting moves Amount into Account: a positive amount raises the account's
// balance, a negative one lowers it. The postings of a transaction sum to
// zero.
type Posting struct {
	Account Account
	Amount  MilliSatoshi
}

// Transaction is one balanced movement of money. IdempotencyKey names it:
// posting the same key with the same postings again is a no-op that returns
// the first receipt; the same key with other postings is refused.
type Transaction struct {
	IdempotencyKey string
	Description    string
	Postings       []Posting
}

// Receipt is what a posted transaction was given.
type Receipt struct {
	TxID           int64
	IdempotencyKey string
	Time           time.Time
	// Duplicate is true when the key had already been posted with the same
	// postings and nothing changed.
	Duplicate bool
}

// Entry is one line of an account's history.
type Entry struct {
	TxID           int64
	IdempotencyKey string
	Description    string
	Time           time.Time
	Amount         MilliSatoshi
	// BalanceAfter is the account's balance after this posting.
	BalanceAfter MilliSatoshi
}
