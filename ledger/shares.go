package ledger

// Shares is an amount of the vault's share token in integer units. A share
// carries three decimals, so one unit is a thousandth of a share; at the
// vault's genesis one share is worth one satoshi and one unit one
// millisatoshi. It is signed so that postings can lower a balance.
type Shares int64
