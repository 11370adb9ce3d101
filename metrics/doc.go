// Package metrics exports what sluiced does and holds as Prometheus
// metrics, served over plain HTTP at /metrics on --prometheus.listen (off
// by default, as lnd's).
//
// It owns two kinds of metric, on a registry of its own (with the Go and
// process collectors) rather than client_golang's global one:
//
//   - Events, counted where they happen: Metrics implements the observer
//     interfaces the domain packages declare (payout.Observer,
//     metering.Observer, settlement.RefundObserver) and is told of each
//     reconciliation, so no domain package imports Prometheus. These count
//     from sluiced's start, as Prometheus counters do.
//   - Totals, read from sluiced's own state at scrape time by
//     StateCollector through a Source, which daemon implements over the
//     store, the ledger and the vault. Nothing here calls lnd or tapd: a
//     scrape costs a few store reads.
//
// Labels have few values (a result, a reconciliation kind, a strategy
// name); no job, provider or payout id is ever a label. Amounts are in
// millisatoshi (_msat), durations in seconds (_seconds).
// docs/operations.md lists every metric.
package metrics
