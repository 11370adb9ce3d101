package ledger

// Shares is a number of share units (placeholder; the ledger units change
// replaces this file).
type Shares int64
