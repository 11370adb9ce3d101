package metrics

import (
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/sluice-ln/sluice/metering"
	"github.com/sluice-ln/sluice/payout"
	"github.com/sluice-ln/sluice/reconcile"
	"github.com/sluice-ln/sluice/settlement"
)

// Namespace prefixes every metric of sluiced's own.
const Namespace = "sluice"

// Label values of result labels.
const (
	ResultSucceeded = "succeeded"
	ResultFailed    = "failed"
	ResultAccepted  = "accepted"
	ResultDuplicate = "duplicate"
	ResultRefused   = "refused"
	ResultOK        = "ok"
	ResultDiffers   = "differences"
	ResultError     = "error"
)

// reconcileKinds are the kinds of reconcile.Difference, each a value of
// sluice_reconcile_differences' kind label, so that every one shows 0
// until it differs.
var reconcileKinds = []reconcile.Kind{
	reconcile.KindFunding, reconcile.KindPayout, reconcile.KindRefund,
	reconcile.KindTotal, reconcile.KindShares, reconcile.KindShareAsset,
}

// PayoutLatencyBuckets are the buckets of sluice_payout_latency_seconds:
// one second to a day, as payout policies range from every few seconds to
// daily.
var PayoutLatencyBuckets = []float64{1, 2, 5, 10, 20, 30, 60, 120, 300, 600,
	1800, 3600, 3 * 3600, 6 * 3600, 24 * 3600}

// CommitLatencyBuckets are the buckets of
// sluice_ingest_commit_duration_seconds: half a millisecond to 16 s.
var CommitLatencyBuckets = prometheus.ExponentialBuckets(0.0005, 2, 16)

// Metrics holds sluiced's metrics on a registry of its own and counts the
// events the domain packages tell it of. Its methods are safe for
// concurrent use and do not block on anything but a short mutex.
type Metrics struct {
	reg *prometheus.Registry

	payouts        *prometheus.CounterVec
	payoutPaid     prometheus.Counter
	payoutFees     prometheus.Counter
	payoutLatency  prometheus.Histogram
	ingestBatches  *prometheus.CounterVec
	ingestRecords  *prometheus.CounterVec
	ingestCredited prometheus.Counter
	ingestCommit   prometheus.Histogram
	refunds        *prometheus.CounterVec
	refundedMsat   prometheus.Counter
	refundFees     prometheus.Counter
	reconciles     *prometheus.CounterVec
	reconcileDiffs *prometheus.GaugeVec
	reconcileLast  prometheus.Gauge

	mu sync.Mutex

	// unpaid is, by provider, the first metered second credited to its
	// payable that no payout has taken yet, as far as this process saw.
	unpaid map[string]time.Time

	// paying is, by pending payout id, the first metered second it pays
	// for.
	paying map[string]time.Time
}

// The observer interfaces Metrics implements.
var (
	_ payout.Observer           = (*Metrics)(nil)
	_ metering.Observer         = (*Metrics)(nil)
	_ settlement.RefundObserver = (*Metrics)(nil)
)

// New returns Metrics with its event metrics, the Go runtime's and the
// process's registered on a fresh registry; state, when not nil, is
// registered too, to be read at each scrape.
func New(state *StateCollector) (*Metrics, error) {
	m := &Metrics{
		reg:    prometheus.NewRegistry(),
		unpaid: make(map[string]time.Time),
		paying: make(map[string]time.Time),
	}
	m.payouts = prometheus.NewCounterVec(prometheus.CounterOpts{
		Namespace: Namespace, Name: "payouts_total",
		Help: "Payouts resolved since start, by result " +
			"(succeeded, failed).",
	}, []string{"result"})
	m.payoutPaid = prometheus.NewCounter(prometheus.CounterOpts{
		Namespace: Namespace, Name: "payouts_paid_msat_total",
		Help: "Millisatoshi delivered to providers by payouts " +
			"that succeeded since start.",
	})
	m.payoutFees = prometheus.NewCounter(prometheus.CounterOpts{
		Namespace: Namespace, Name: "payouts_fee_msat_total",
		Help: "Routing fees of payouts that succeeded since start, " +
			"in millisatoshi.",
	})
	m.payoutLatency = prometheus.NewHistogram(prometheus.HistogramOpts{
		Namespace: Namespace, Name: "payout_latency_seconds",
		Help: "Time from the first metered second a payout pays for " +
			"to the payout's settlement.",
		Buckets: PayoutLatencyBuckets,
	})
	m.ingestBatches = prometheus.NewCounterVec(prometheus.CounterOpts{
		Namespace: Namespace, Name: "ingest_batches_total",
		Help: "Usage batches through metering's group commit since " +
			"start, by result (accepted, duplicate, refused, " +
			"failed).",
	}, []string{"result"})
	m.ingestRecords = prometheus.NewCounterVec(prometheus.CounterOpts{
		Namespace: Namespace, Name: "ingest_records_total",
		Help: "Usage records (metered seconds) in those batches, by " +
			"result (accepted, duplicate, refused, failed).",
	}, []string{"result"})
	m.ingestCredited = prometheus.NewCounter(prometheus.CounterOpts{
		Namespace: Namespace, Name: "ingest_credited_msat_total",
		Help: "Millisatoshi that accepted usage credited to " +
			"providers (price less the platform fee) since start.",
	})
	m.ingestCommit = prometheus.NewHistogram(prometheus.HistogramOpts{
		Namespace: Namespace, Name: "ingest_commit_duration_seconds",
		Help: "Duration of metering's group-commit store " +
			"transactions.",
		Buckets: CommitLatencyBuckets,
	})
	m.refunds = prometheus.NewCounterVec(prometheus.CounterOpts{
		Namespace: Namespace, Name: "refunds_total",
		Help: "Refunds to buyers resolved since start, by result " +
			"(succeeded, failed).",
	}, []string{"result"})
	m.refundedMsat = prometheus.NewCounter(prometheus.CounterOpts{
		Namespace: Namespace, Name: "refunds_msat_total",
		Help: "Millisatoshi refunded to buyers by refunds that " +
			"succeeded since start.",
	})
	m.refundFees = prometheus.NewCounter(prometheus.CounterOpts{
		Namespace: Namespace, Name: "refunds_fee_msat_total",
		Help: "Routing fees of refunds that succeeded since start, " +
			"in millisatoshi.",
	})
	m.reconciles = prometheus.NewCounterVec(prometheus.CounterOpts{
		Namespace: Namespace, Name: "reconcile_runs_total",
		Help: "Reconciliations run since start, by result (ok, " +
			"differences, error).",
	}, []string{"result"})
	m.reconcileDiffs = prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Namespace: Namespace, Name: "reconcile_differences",
		Help: "Differences the last reconciliation found, by kind.",
	}, []string{"kind"})
	m.reconcileLast = prometheus.NewGauge(prometheus.GaugeOpts{
		Namespace: Namespace,
		Name:      "reconcile_last_run_timestamp_seconds",
		Help: "Unix time of the last reconciliation that ran to " +
			"its end; 0 before the first.",
	})

	// Every result shows from the start, at 0, so that rate() and
	// alerts see a series before its first event.
	for _, r := range []string{ResultSucceeded, ResultFailed} {
		m.payouts.WithLabelValues(r)
		m.refunds.WithLabelValues(r)
	}
	for _, r := range []string{ResultAccepted, ResultDuplicate,
		ResultRefused, ResultFailed} {

		m.ingestBatches.WithLabelValues(r)
		m.ingestRecords.WithLabelValues(r)
	}
	for _, r := range []string{ResultOK, ResultDiffers, ResultError} {
		m.reconciles.WithLabelValues(r)
	}
	for _, k := range reconcileKinds {
		m.reconcileDiffs.WithLabelValues(string(k))
	}

	cs := []prometheus.Collector{
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(
			collectors.ProcessCollectorOpts{}),
		m.payouts, m.payoutPaid, m.payoutFees, m.payoutLatency,
		m.ingestBatches, m.ingestRecords, m.ingestCredited,
		m.ingestCommit, m.refunds, m.refundedMsat, m.refundFees,
		m.reconciles, m.reconcileDiffs, m.reconcileLast,
	}
	if state != nil {
		cs = append(cs, state)
	}
	for _, c := range cs {
		if err := m.reg.Register(c); err != nil {
			return nil, err
		}
	}

	return m, nil
}

// Registry is the registry the metrics are on, for the HTTP handler and
// tests.
func (m *Metrics) Registry() *prometheus.Registry {
	return m.reg
}

// Committed counts a group commit's batches and records, times it, and
// remembers, by provider, the first metered second credited and not yet
// paid (for sluice_payout_latency_seconds).
func (m *Metrics) Committed(c metering.Commit) {
	m.ingestCommit.Observe(c.Duration.Seconds())
	add := func(v *prometheus.CounterVec, n metering.CommitCounts) {
		v.WithLabelValues(ResultAccepted).Add(float64(n.Accepted))
		v.WithLabelValues(ResultDuplicate).Add(float64(n.Duplicate))
		v.WithLabelValues(ResultRefused).Add(float64(n.Refused))
		v.WithLabelValues(ResultFailed).Add(float64(n.Failed))
	}
	add(m.ingestBatches, c.Batches)
	add(m.ingestRecords, c.Records)

	m.mu.Lock()
	defer m.mu.Unlock()
	for _, cr := range c.Credits {
		m.ingestCredited.Add(float64(cr.Amount))
		first, ok := m.unpaid[cr.ProviderID]
		if !ok || cr.FirstSecond.Before(first) {
			m.unpaid[cr.ProviderID] = cr.FirstSecond
		}
	}
}

// PayoutPending hands the provider's unpaid metered seconds to the payout,
// which takes its whole payable (or as much as its route carries).
func (m *Metrics) PayoutPending(p payout.Payout) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if first, ok := m.unpaid[p.ProviderID]; ok {
		m.paying[p.ID] = first
		delete(m.unpaid, p.ProviderID)
	}
}

// PayoutResolved counts a payout by result and, when it succeeded, what it
// paid and its latency from its first metered second. A failed payout's
// seconds go back to the provider's unpaid ones.
func (m *Metrics) PayoutResolved(p payout.Payout) {
	m.mu.Lock()
	first, ok := m.paying[p.ID]
	delete(m.paying, p.ID)
	if ok && p.State != payout.StateSucceeded {
		if cur, has := m.unpaid[p.ProviderID]; !has ||
			first.Before(cur) {

			m.unpaid[p.ProviderID] = first
		}
	}
	m.mu.Unlock()

	switch p.State {
	case payout.StateSucceeded:
		m.payouts.WithLabelValues(ResultSucceeded).Inc()
		m.payoutPaid.Add(float64(p.Amount))
		m.payoutFees.Add(float64(p.Fee))
		if ok {
			m.payoutLatency.Observe(
				max(p.ResolvedAt.Sub(first), 0).Seconds())
		}

	case payout.StateFailed:
		m.payouts.WithLabelValues(ResultFailed).Inc()
	}
}

// RefundResolved counts a refund by result and, when it succeeded, what it
// refunded and its routing fee.
func (m *Metrics) RefundResolved(r settlement.Refund) {
	switch r.State {
	case settlement.RefundSucceeded:
		m.refunds.WithLabelValues(ResultSucceeded).Inc()
		m.refundedMsat.Add(float64(r.Amount))
		m.refundFees.Add(float64(r.Fee))

	case settlement.RefundFailed:
		m.refunds.WithLabelValues(ResultFailed).Inc()
	}
}

// Reconciled records a reconciliation: its result and, when it ran to its
// end (err nil, r not nil), its differences by kind and its time.
func (m *Metrics) Reconciled(r *reconcile.Report, err error) {
	if err != nil || r == nil {
		m.reconciles.WithLabelValues(ResultError).Inc()
		return
	}
	counts := make(map[reconcile.Kind]int)
	for _, d := range r.Differences {
		counts[d.Kind]++
	}
	for _, k := range reconcileKinds {
		m.reconcileDiffs.WithLabelValues(string(k)).Set(
			float64(counts[k]))
	}
	if r.OK() {
		m.reconciles.WithLabelValues(ResultOK).Inc()
	} else {
		m.reconciles.WithLabelValues(ResultDiffers).Inc()
	}
	at := r.At
	if at.IsZero() {
		at = time.Now()
	}
	m.reconcileLast.Set(float64(at.UnixNano()) / 1e9)
}
