// Package ledger owns Sluice's books: the millisatoshi amount type and the
// yield vault's share type, the two units an account can count, decimal
// rates, accounts and their kinds, and balanced double-entry transactions
// with idempotency keys. It validates every transaction (each posting is in
// its account's unit, each unit sums to zero, and no account whose kind
// forbids it is overdrawn) and computes balances and per-account history
// through a narrow Store interface; it does no other I/O.
package ledger
