package metrics

import (
	"context"
	"errors"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/shopspring/decimal"
	"github.com/sluice-ln/sluice/ledger"
)

// DefaultScrapeTimeout bounds the store reads of one scrape.
const DefaultScrapeTimeout = 10 * time.Second

// ErrNoVault is returned by Source.Vault when sluiced runs without a
// vault; the vault's metrics are then left out of the scrape.
var ErrNoVault = errors.New("no vault")

// Source is sluiced's own state as the scrape reads it: daemon implements
// it over the store, the ledger and the vault. Its methods read, never
// write, and never call lnd or tapd.
type Source interface {
	// Books returns the ledger's totals and the payouts in flight.
	Books(ctx context.Context) (Books, error)

	// Vault returns the vault's figures as package yield computes
	// them, or ErrNoVault.
	Vault(ctx context.Context) (Vault, error)
}

// Books are the ledger's totals over every account of a kind, and the
// payouts in flight.
type Books struct {
	// Escrow is what buyers' funded jobs hold (buyer_escrow).
	Escrow ledger.MilliSatoshi

	// Payable is what providers have earned and not yet been sent
	// (provider_payable).
	Payable ledger.MilliSatoshi

	// InFlight is what pending payouts carry (payout_in_flight), and
	// PayoutsInFlight how many there are.
	InFlight        ledger.MilliSatoshi
	PayoutsInFlight int

	// PaidOut is what payouts delivered (paid_out), Refunded what
	// refunds did (refunded).
	PaidOut  ledger.MilliSatoshi
	Refunded ledger.MilliSatoshi

	// PlatformFees is the platform's fee income (platform_fees),
	// RoutingFees what routing payouts and refunds cost
	// (routing_fees).
	PlatformFees ledger.MilliSatoshi
	RoutingFees  ledger.MilliSatoshi
}

// Vault is the vault's figures as yield.Vault.State computes them.
type Vault struct {
	// NAV is the vault's net asset value, Idle its unallocated part.
	NAV  ledger.MilliSatoshi
	Idle ledger.MilliSatoshi

	// ShareValue is what one share (ledger.UnitsPerShare units) is
	// worth, in msat, exact.
	ShareValue decimal.Decimal

	// Supply is every share unit issued and not burnt.
	Supply ledger.Shares

	// QueueLen is how many redemptions are pending, Queued what they
	// requested.
	QueueLen int
	Queued   ledger.MilliSatoshi

	// Strategies are the vault's strategies, the reserve included.
	Strategies []Strategy
}

// Strategy is one strategy's part of the vault.
type Strategy struct {
	// Name is the strategy's kind (reserve, lease, routing): a label
	// value, so one per kind.
	Name string

	// Capital is its principal; Income what it has earned, net of its
	// losses, since it started (strategy_yield; may be negative).
	Capital ledger.MilliSatoshi
	Income  ledger.MilliSatoshi
}

// StateCollector reads sluiced's totals from a Source at each scrape.
type StateCollector struct {
	src     Source
	timeout time.Duration

	escrow, payable, inFlight, inFlightN, paidOut    *prometheus.Desc
	refunded, platformFees, routingFees, vaultNAV    *prometheus.Desc
	vaultIdle, shareValue, supply, queueLen, queued  *prometheus.Desc
	strategyCapital, strategyIncome, scrapeErrorDesc *prometheus.Desc
}

var _ prometheus.Collector = (*StateCollector)(nil)

// NewStateCollector returns a collector over src whose reads are bounded
// by timeout (DefaultScrapeTimeout when zero).
func NewStateCollector(src Source, timeout time.Duration) *StateCollector {
	if timeout <= 0 {
		timeout = DefaultScrapeTimeout
	}
	desc := func(name, help string, labels ...string) *prometheus.Desc {
		return prometheus.NewDesc(
			prometheus.BuildFQName(Namespace, "", name), help,
			labels, nil)
	}
	return &StateCollector{
		src:     src,
		timeout: timeout,
		escrow: desc("escrow_msat", "Millisatoshi held in buyers' "+
			"job escrows."),
		payable: desc("payable_msat", "Millisatoshi providers have "+
			"earned and not yet been sent."),
		inFlight: desc("payouts_in_flight_msat", "Millisatoshi "+
			"carried by pending payouts."),
		inFlightN: desc("payouts_in_flight", "Payouts pending: "+
			"written and not yet resolved."),
		paidOut: desc("paid_out_msat", "Millisatoshi payouts have "+
			"delivered to providers, ever."),
		refunded: desc("refunded_msat", "Millisatoshi refunds have "+
			"delivered to buyers, ever."),
		platformFees: desc("platform_fees_msat", "The platform's "+
			"fee income, in millisatoshi."),
		routingFees: desc("routing_fees_msat", "What routing "+
			"payouts and refunds cost, in millisatoshi."),
		vaultNAV: desc("vault_nav_msat", "The vault's net asset "+
			"value, in millisatoshi."),
		vaultIdle: desc("vault_idle_msat", "The vault's "+
			"unallocated millisatoshi (the reserve)."),
		shareValue: desc("vault_share_value_msat", "What one "+
			"vault share is worth, in millisatoshi."),
		supply: desc("vault_shares", "Vault shares issued and not "+
			"burnt."),
		queueLen: desc("vault_redemption_queue_length", "Pending "+
			"redemption requests."),
		queued: desc("vault_redemption_queue_msat", "Millisatoshi "+
			"the pending redemptions requested."),
		strategyCapital: desc("strategy_capital_msat", "A "+
			"strategy's principal, in millisatoshi.", "strategy"),
		strategyIncome: desc("strategy_income_msat", "What a "+
			"strategy has earned net of its losses, in "+
			"millisatoshi.", "strategy"),
		scrapeErrorDesc: desc("state_scrape_error", "1 when the "+
			"last scrape could not read part of sluiced's state "+
			"(the log says why), else 0.", "part"),
	}
}

// Describe sends every descriptor.
func (c *StateCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{c.escrow, c.payable, c.inFlight,
		c.inFlightN, c.paidOut, c.refunded, c.platformFees,
		c.routingFees, c.vaultNAV, c.vaultIdle, c.shareValue,
		c.supply, c.queueLen, c.queued, c.strategyCapital,
		c.strategyIncome, c.scrapeErrorDesc} {

		ch <- d
	}
}

// Collect reads the books and the vault and sends their figures. A part
// that cannot be read is left out, and sluice_state_scrape_error says so,
// rather than failing the whole scrape.
func (c *StateCollector) Collect(ch chan<- prometheus.Metric) {
	ctx, cancel := context.WithTimeout(context.Background(), c.timeout)
	defer cancel()

	gauge := func(d *prometheus.Desc, v float64, labels ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.GaugeValue,
			v, labels...)
	}
	msat := func(d *prometheus.Desc, v ledger.MilliSatoshi,
		labels ...string) {

		gauge(d, float64(v), labels...)
	}
	failed := func(part string, err error) {
		log.Warnf("Metrics scrape: reading %s: %v", part, err)
		gauge(c.scrapeErrorDesc, 1, part)
	}

	b, err := c.src.Books(ctx)
	if err != nil {
		failed("books", err)
	} else {
		gauge(c.scrapeErrorDesc, 0, "books")
		msat(c.escrow, b.Escrow)
		msat(c.payable, b.Payable)
		msat(c.inFlight, b.InFlight)
		gauge(c.inFlightN, float64(b.PayoutsInFlight))
		msat(c.paidOut, b.PaidOut)
		msat(c.refunded, b.Refunded)
		msat(c.platformFees, b.PlatformFees)
		msat(c.routingFees, b.RoutingFees)
	}

	v, err := c.src.Vault(ctx)
	switch {
	case errors.Is(err, ErrNoVault):
		return

	case err != nil:
		failed("vault", err)
		return
	}
	gauge(c.scrapeErrorDesc, 0, "vault")
	msat(c.vaultNAV, v.NAV)
	msat(c.vaultIdle, v.Idle)
	gauge(c.shareValue, v.ShareValue.InexactFloat64())
	gauge(c.supply, float64(v.Supply)/ledger.UnitsPerShare)
	gauge(c.queueLen, float64(v.QueueLen))
	msat(c.queued, v.Queued)
	for _, s := range v.Strategies {
		msat(c.strategyCapital, s.Capital, s.Name)
		msat(c.strategyIncome, s.Income, s.Name)
	}
}
