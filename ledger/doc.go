// Package ledger owns Sluice's money: the millisatoshi amount type, decimal
// rates, accounts and their kinds, and balanced double-entry transactions
// with idempotency keys. It validates every transaction (it must sum to zero
// and may not overdraw an account whose kind forbids it) and computes
// balances and per-account history through a narrow Store interface; it does
// no other I/O.
package ledger
