package daemon

import (
	"context"
	"fmt"
	"slices"
	"sync/atomic"

	"github.com/shopspring/decimal"
	"github.com/sluice-ln/sluice/ledger"
	"github.com/sluice-ln/sluice/metering"
	"github.com/sluice-ln/sluice/metrics"
	"github.com/sluice-ln/sluice/payout"
	"github.com/sluice-ln/sluice/reconcile"
	"github.com/sluice-ln/sluice/settlement"
	"github.com/sluice-ln/sluice/store"
	"github.com/sluice-ln/sluice/yield"
)

// metricsSource is metrics.Source over sluiced's store, ledger and vault:
// what a scrape reads. It never calls lnd or tapd.
type metricsSource struct {
	db     *store.DB
	ledger *ledger.Ledger

	// vault is set once the vault is built; until then the scrape has
	// no vault metrics.
	vault atomic.Pointer[yield.Vault]
}

var _ metrics.Source = (*metricsSource)(nil)

// bookKinds are the ledger totals Books reads, with where each goes.
func bookKinds(b *metrics.Books) map[ledger.AccountKind]*ledger.MilliSatoshi {
	return map[ledger.AccountKind]*ledger.MilliSatoshi{
		ledger.KindBuyerEscrow:     &b.Escrow,
		ledger.KindProviderPayable: &b.Payable,
		ledger.KindPayoutInFlight:  &b.InFlight,
		ledger.KindPaidOut:         &b.PaidOut,
		ledger.KindRefunded:        &b.Refunded,
		ledger.KindPlatformFees:    &b.PlatformFees,
		ledger.KindRoutingFees:     &b.RoutingFees,
	}
}

// Books reads the ledger's totals in one read-only transaction (the one
// reconciliation reads them with), and counts the pending payouts in
// another.
func (s *metricsSource) Books(ctx context.Context) (metrics.Books, error) {
	var b metrics.Books
	err := s.db.ReadBooks(ctx, func(tx reconcile.BooksTx) error {
		for kind, dst := range bookKinds(&b) {
			total, err := tx.KindTotal(ctx, kind)
			if err != nil {
				return fmt.Errorf("%s total: %w", kind, err)
			}
			*dst = total
		}
		return nil
	})
	if err != nil {
		return metrics.Books{}, err
	}
	err = s.db.ExecPayouts(ctx, true, func(tx payout.TxStore) error {
		pending, err := tx.PendingPayouts(ctx)
		b.PayoutsInFlight = len(pending)
		return err
	})
	if err != nil {
		return metrics.Books{}, fmt.Errorf("pending payouts: %w", err)
	}
	return b, nil
}

// Vault reads the vault's figures as yield computes them (Vault.State),
// and each strategy's income off the ledger.
func (s *metricsSource) Vault(ctx context.Context) (metrics.Vault, error) {
	v := s.vault.Load()
	if v == nil {
		return metrics.Vault{}, metrics.ErrNoVault
	}
	st, err := v.State(ctx)
	if err != nil {
		return metrics.Vault{}, err
	}
	share, err := decimal.NewFromString(st.ShareValueExact)
	if err != nil {
		return metrics.Vault{}, fmt.Errorf("share value %q: %w",
			st.ShareValueExact, err)
	}
	out := metrics.Vault{
		NAV:        st.Assets,
		Idle:       st.Idle,
		ShareValue: share,
		Supply:     st.Supply,
		QueueLen:   st.QueueLen,
		Queued:     st.Queued,
	}
	names := make([]string, 0, len(st.Strategies))
	for name := range st.Strategies {
		names = append(names, name)
	}
	slices.Sort(names)
	for _, name := range names {
		income, err := s.ledger.Balance(ctx,
			ledger.StrategyYield(name))
		if err != nil {
			return metrics.Vault{}, fmt.Errorf("strategy %s "+
				"income: %w", name, err)
		}
		out.Strategies = append(out.Strategies, metrics.Strategy{
			Name: name, Capital: st.Strategies[name],
			Income: income,
		})
	}
	return out, nil
}

// daemonMetrics is sluiced's metrics when --prometheus.listen is set: the
// events the subsystems report and the state a scrape reads. A nil
// *daemonMetrics (metrics off) gives nil observers.
type daemonMetrics struct {
	m      *metrics.Metrics
	source *metricsSource
}

// newDaemonMetrics builds the metrics over db when cfg turns them on, else
// returns nil.
func newDaemonMetrics(cfg *PrometheusConfig, db *store.DB) (*daemonMetrics,
	error) {

	if cfg == nil || cfg.Listen == "" {
		return nil, nil
	}
	src := &metricsSource{db: db,
		ledger: ledger.New(store.NewLedgerStore(db), nil)}
	m, err := metrics.New(metrics.NewStateCollector(src, 0))
	if err != nil {
		return nil, err
	}
	return &daemonMetrics{m: m, source: src}, nil
}

// payouts is the payout executor's observer, nil when metrics are off.
func (d *daemonMetrics) payouts() payout.Observer {
	if d == nil {
		return nil
	}
	return d.m
}

// ingest is metering's observer, nil when metrics are off.
func (d *daemonMetrics) ingest() metering.Observer {
	if d == nil {
		return nil
	}
	return d.m
}

// refunds is settlement's refund observer, nil when metrics are off.
func (d *daemonMetrics) refunds() settlement.RefundObserver {
	if d == nil {
		return nil
	}
	return d.m
}

// reconciled records a reconciliation, when metrics are on.
func (d *daemonMetrics) reconciled(r *reconcile.Report, err error) {
	if d != nil {
		d.m.Reconciled(r, err)
	}
}

// setVault lets the scrape read the vault.
func (d *daemonMetrics) setVault(v *yield.Vault) {
	if d != nil {
		d.source.vault.Store(v)
	}
}
