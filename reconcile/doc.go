// Package reconcile compares Sluice's books with the hub's lnd, so that an
// operator (`sluice operator reconcile`) and the integration tests can see
// that the ledger equals what lnd did, to the millisatoshi.
//
// It checks, item by item and in total: every job invoice lnd settled
// against the escrow credit the ledger holds for it (fund:<hash>); every
// payout and refund in the store against lnd's payment of its hash (a
// succeeded one must have succeeded in lnd for the same amount and fee, a
// failed one must not have); −hub_holdings, Σ paid_out, Σ refunded and
// routing_fees against the sums of those invoices and payments; and what
// the books hold on the hub (escrow, payable, in flight, platform fees and
// the vault's msat, idle and allocated to strategies, less strategies'
// gains) against what those invoices and payments leave. It sums the
// ledger per unit: those totals are millisatoshis, and the vault's share
// books, in shares, are checked on their own (the shares outstanding,
// −share_supply, equal Σ provider_shares + Σ shares_locked, and each
// provider's shares_locked equals the shares of its pending redemptions).
// It reports every difference; none is expected. Invoices and payments of the hub
// that are not Sluice's are counted and left alone. docs/accounting.md
// explains the accounts.
//
// DESIGN.md lists reconciliation under settlement; it reads the books of
// settlement and payout alike and changes nothing, so it sits beside them.
package reconcile
