package ledger

import "time"

// AccountKind says what an account is for, which unit it counts, and
// whether it may go negative.
type AccountKind string

// Unit is what an account counts. Each kind has one (AccountKind.Unit), and
// a posting moves its account's unit only: a transaction balances per unit,
// so the ledger never turns one unit into another; the yield vault does,
// at its price per share, with one balanced leg in each.
type Unit string

const (
	// UnitMsat is money, in MilliSatoshi: a posting's Amount.
	UnitMsat Unit = "msat"

	// UnitShares is the yield vault's shares, in Shares units: a
	// posting's Shares.
	UnitShares Unit = "share"
)

// Account names one ledger account: a kind and, for kinds that exist once per
// job, provider or strategy, the reference of that thing (empty otherwise).
type Account struct {
	Kind AccountKind
	Ref  string
}

// Posting moves an amount into Account: a positive amount raises the
// account's balance, a negative one lowers it. The amount is in the
// account's unit: Amount for an msat account, Shares for a share account,
// and the other field is zero; a posting that sets the other unit's field
// is refused with ErrWrongUnit. The postings of a transaction sum to zero
// in each unit.
type Posting struct {
	Account Account
	Amount  MilliSatoshi
	Shares  Shares
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

// Entry is one line of an account's history. Amount and BalanceAfter are
// set for an msat account, Shares and SharesAfter for a share account.
type Entry struct {
	TxID           int64
	IdempotencyKey string
	Description    string
	Time           time.Time
	Amount         MilliSatoshi
	// BalanceAfter is the account's balance after this posting.
	BalanceAfter MilliSatoshi
	Shares       Shares
	// SharesAfter is the account's share balance after this posting.
	SharesAfter Shares
}
