//go:build itest

package itest

import (
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"slices"
	"strconv"
	"sync"
	"testing"
	"text/tabwriter"
	"time"

	"github.com/lightningnetwork/lnd/lnrpc"
	"github.com/lightningnetwork/lnd/lnrpc/routerrpc"
	"github.com/sluice-ln/sluice/devnet"
	"github.com/sluice-ln/sluice/ledger"
	"github.com/sluice-ln/sluice/lightning"
	"github.com/sluice-ln/sluice/store"
)

// Bounds of BenchmarkPayouts. Each level runs payoutBenchRounds rounds;
// a round feeds its providers for payoutBenchFeed, waits at most
// payoutWait for the payable to drain, then runs the keysend baseline for
// at most payoutBenchBaseline.
const (
	// envBenchProviders sets the most providers (and senders) of
	// BenchmarkPayouts, 2..devnet.MaxProviders.
	envBenchProviders = "SLUICE_BENCH_PROVIDERS"

	// payoutBenchRounds is how many rounds of Sluice then keysend each
	// level runs.
	payoutBenchRounds = 3

	// payoutBenchFeed is how long each round credits payable.
	payoutBenchFeed = 5 * time.Second

	// payoutBenchEvery is how often each provider is credited one
	// metered second while a level feeds: payable is always there when
	// the provider's payout in flight ends.
	payoutBenchEvery = 50 * time.Millisecond

	// payoutBenchSecondMsat is what one metered second earns: 1 sat.
	payoutBenchSecondMsat = 1_000

	// payoutBenchInterval is the payout interval (and scheduler poll)
	// sluiced runs with.
	payoutBenchInterval = 10 * time.Millisecond
)

// payoutBenchBaseline bounds each level's keysend baseline.
var payoutBenchBaseline = Limits{Payments: 1_000, Duration: 5 * time.Second}

// credit is one metered second credited to a provider's payable, and when
// its ledger transaction committed.
type credit struct {
	amount ledger.MilliSatoshi
	at     time.Time
}

// settled is one payout as the provider's lnd saw it settle.
type settled struct {
	amount ledger.MilliSatoshi
	at     time.Time
}

// settleWatch follows the providers' lnds and records every keysend that
// carries a payout id, at the time its settled invoice reached the
// benchmark (lnd's settle_date has whole seconds only).
type settleWatch struct {
	mu      sync.Mutex
	settled map[string][]settled
	seen    map[string]bool
	errs    []error
}

// watchSettles subscribes to each provider's invoices until ctx ends.
func watchSettles(ctx context.Context, nodes map[string]*lndNode) (
	*settleWatch, error) {

	w := &settleWatch{
		settled: map[string][]settled{},
		seen:    map[string]bool{},
	}
	for id, node := range nodes {
		stream, err := node.ln.SubscribeInvoices(ctx,
			&lnrpc.InvoiceSubscription{})
		if err != nil {
			return nil, fmt.Errorf("%s: subscribe invoices: %w", id,
				err)
		}
		go func() {
			for {
				inv, err := stream.Recv()
				if err != nil {
					if ctx.Err() == nil {
						w.fail(fmt.Errorf("%s: invoices: "+
							"%w", id, err))
					}
					return
				}
				w.observe(id, inv, time.Now())
			}
		}()
	}
	return w, nil
}

func (w *settleWatch) fail(err error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.errs = append(w.errs, err)
}

// observe records a settled keysend with a payout id once.
func (w *settleWatch) observe(id string, inv *lnrpc.Invoice, at time.Time) {
	if inv.State != lnrpc.Invoice_SETTLED || !inv.IsKeysend {
		return
	}
	payout := false
	for _, h := range inv.Htlcs {
		if h.CustomRecords[lightning.PayoutIDRecord] != nil {
			payout = true
		}
	}
	if !payout {
		return
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	hash := hex.EncodeToString(inv.RHash)
	if w.seen[hash] {
		return
	}
	w.seen[hash] = true
	w.settled[id] = append(w.settled[id], settled{
		amount: ledger.MilliSatoshi(inv.AmtPaidMsat), at: at,
	})
}

// since returns the settlements of a provider from the index on, and the
// error that stopped a subscription, if any.
func (w *settleWatch) since(id string, from int) ([]settled, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	return slices.Clone(w.settled[id][from:]), errors.Join(w.errs...)
}

func (w *settleWatch) count(id string) int {
	w.mu.Lock()
	defer w.mu.Unlock()
	return len(w.settled[id])
}

// creditLatencies pairs each credit with the payout that carried it: a
// provider's payouts pay its payable in order, so credit k (cumulative
// amount C_k) is paid by the first payout whose cumulative amount reaches
// C_k. It returns, for each credit, its commit to that payout's settle,
// and false when the settlements do not cover every credit.
func creditLatencies(credits []credit, settles []settled) (
	[]time.Duration, bool) {

	var (
		out      []time.Duration
		paid     ledger.MilliSatoshi
		earned   ledger.MilliSatoshi
		j        = -1
		complete = true
	)
	for _, c := range credits {
		earned += c.amount
		for paid < earned && j+1 < len(settles) {
			j++
			paid += settles[j].amount
		}
		if paid < earned {
			complete = false
			break
		}
		out = append(out, settles[j].at.Sub(c.at))
	}
	return out, complete
}

// payoutLevel is what one level of BenchmarkPayouts measured.
type payoutLevel struct {
	// baseline is raw lnd keysend from the hub at the same
	// concurrency, to the same providers, for the same amount.
	baseline Level

	// sluice is Sluice's payouts: Succeeded counts those settled on the
	// providers' lnds while the level fed, Elapsed is the feeding time,
	// P50/P99 are from a metered second's commit to the settle of the
	// payout that carried it.
	sluice Level

	// credits is how many metered seconds were credited; amount is the
	// median payout.
	credits int
	amount  ledger.MilliSatoshi

	// inFlight and gap are medians of sluiceRound's.
	inFlight, gap time.Duration
}

func (l payoutLevel) ratio() float64 {
	if l.baseline.PerSecond() == 0 {
		return 0
	}
	return l.sluice.PerSecond() / l.baseline.PerSecond()
}

// BenchmarkPayouts measures Sluice's payouts beside raw lnd keysend on one
// network with eight providers (SLUICE_BENCH_PROVIDERS sets fewer). A level
// of N providers (1, 4, 8) runs three rounds of two halves. Sluice: sluiced
// runs with a 10 ms payout interval while every one of the N providers is
// credited a metered second (1 sat) every 50 ms for 5 s; payouts per second
// are those settled on the providers' lnds in that time, and latency is
// from a second's commit to the settle of the payout that carried it.
// Keysend: with sluiced stopped, the hub pays the same N providers round
// robin, from N senders, by keysend of the median payout amount
// (KeysendPayer), for 5 s. At the end the ledger is reconciled with every
// lnd.
//
// The metered seconds are posted to the ledger directly from the
// benchmark, all providers' in one store transaction as metering's group
// commit does (benchEarn), not through agents: a job is metered once a
// second, so real jobs could not keep N providers' payable from running
// dry between payouts that take a hundred milliseconds or two.
func BenchmarkPayouts(b *testing.B) {
	providers := devnet.MaxProviders
	if v := os.Getenv(envBenchProviders); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < devnet.DefaultProviders ||
			n > devnet.MaxProviders {

			b.Fatalf("%s=%q: want %d to %d", envBenchProviders, v,
				devnet.DefaultProviders, devnet.MaxProviders)
		}
		providers = n
	}
	var concurrencies []int
	for _, c := range []int{1, 4, 8} {
		if c <= providers {
			concurrencies = append(concurrencies, c)
		}
	}

	net := newNetworkProviders(b, providers)
	s := net.newSluiced()
	s.addConf("payout", fmt.Sprintf("payout.interval=%dms",
		payoutBenchInterval.Milliseconds()))
	book := openBook(b, s)

	ids := make([]string, providers)
	nodes := map[string]*lndNode{}
	for i := range ids {
		ids[i] = devnet.ProviderName(i + 1)
		nodes[ids[i]] = net.lnd(ids[i])
		book.addProvider(ids[i], nodes[ids[i]])
	}

	watchCtx, stopWatch := context.WithCancel(b.Context())
	defer stopWatch()
	watch, err := watchSettles(watchCtx, nodes)
	if err != nil {
		b.Fatal(err)
	}

	var levels []payoutLevel
	for b.Loop() {
		levels = levels[:0]
		for _, c := range concurrencies {
			levels = append(levels, benchPayoutLevel(b, net, s,
				book, watch, ids[:c]))
		}
	}
	stopWatch()
	book.reconcile(net, nodes)

	fmt.Fprintln(os.Stdout)
	if err := writePayoutTable(os.Stdout, levels); err != nil {
		b.Fatal(err)
	}
	for _, l := range levels {
		c := l.sluice.Concurrency
		b.ReportMetric(l.baseline.PerSecond(),
			fmt.Sprintf("keysend-pay/s@%d", c))
		b.ReportMetric(l.sluice.PerSecond(),
			fmt.Sprintf("payouts/s@%d", c))
		b.ReportMetric(l.ratio(), fmt.Sprintf("ratio@%d", c))
		b.ReportMetric(ms(l.sluice.P50),
			fmt.Sprintf("payout-p50-ms@%d", c))
		b.ReportMetric(ms(l.sluice.P99),
			fmt.Sprintf("payout-p99-ms@%d", c))
		if l.baseline.Failed > 0 {
			b.Errorf("%d of %d keysend payments failed at %d "+
				"senders; first: %v", l.baseline.Failed,
				l.baseline.Failed+l.baseline.Succeeded, c,
				l.baseline.FirstErr)
		}
	}
}

// benchPayoutLevel runs one level as payoutBenchRounds rounds, each
// Sluice's payouts to the providers and then the keysend baseline to the
// same providers: interleaving keeps a slow spell of the shared machine
// from falling on one side only.
func benchPayoutLevel(b *testing.B, net *network, s *sluiced,
	book *payoutBook, watch *settleWatch, ids []string) payoutLevel {

	b.Helper()
	c := len(ids)
	level := payoutLevel{
		sluice:   Level{Concurrency: c},
		baseline: Level{Concurrency: c},
	}
	var sluiceLat, baseLat, amounts, inFlight, gaps []time.Duration
	for round := range payoutBenchRounds {
		r := benchSluiceRound(b, s, book, watch, ids)
		level.sluice.Succeeded += r.Succeeded
		level.sluice.Elapsed += r.Elapsed
		level.credits += r.credits
		sluiceLat = append(sluiceLat, r.latencies...)
		inFlight = append(inFlight, r.inFlight...)
		gaps = append(gaps, r.gaps...)
		for _, a := range r.amounts {
			amounts = append(amounts, time.Duration(a))
		}

		// The baseline pays the median payout so far.
		amt := ledger.MilliSatoshi(Percentile(amounts, 50))
		ctx, cancel := context.WithTimeout(b.Context(), benchTimeout)
		base, lat, err := roundRobinKeysend(ctx, net, ids, amt, c,
			round == 0)
		cancel()
		if err != nil {
			b.Fatalf("keysend baseline at %d: %v", c, err)
		}
		level.baseline.Succeeded += base.Succeeded
		level.baseline.Failed += base.Failed
		level.baseline.Elapsed += base.Elapsed
		if level.baseline.FirstErr == nil {
			level.baseline.FirstErr = base.FirstErr
		}
		baseLat = append(baseLat, lat...)
		b.Logf("level %d round %d: sluice %d payouts in %v, %d "+
			"seconds credited; keysend of %v: %d in %v", c, round+1,
			r.Succeeded, r.Elapsed.Round(time.Millisecond),
			r.credits, amt, base.Succeeded,
			base.Elapsed.Round(time.Millisecond))
	}
	level.sluice.P50 = Percentile(sluiceLat, 50)
	level.sluice.P99 = Percentile(sluiceLat, 99)
	level.baseline.P50 = Percentile(baseLat, 50)
	level.baseline.P99 = Percentile(baseLat, 99)
	level.amount = ledger.MilliSatoshi(Percentile(amounts, 50))
	level.inFlight = Percentile(inFlight, 50)
	level.gap = Percentile(gaps, 50)
	return level
}

// sluiceRound is what one round of Sluice's payouts measured.
type sluiceRound struct {
	// Succeeded counts the payouts settled on the providers' lnds while
	// the round fed them, in Elapsed.
	Succeeded int
	Elapsed   time.Duration

	// credits counts the metered seconds credited; latencies are from
	// each one's commit to the settle of the payout that carried it.
	credits   int
	latencies []time.Duration
	amounts   []ledger.MilliSatoshi

	// inFlight is each payout's intent to its resolution in the store
	// (the executor: write, send, wait, write); gaps is from a payout's
	// resolution to the intent of the provider's next one (the
	// scheduler).
	inFlight []time.Duration
	gaps     []time.Duration
}

// timings fills inFlight and gaps from the store's payouts of the
// providers created from start on.
func (r *sluiceRound) timings(book *payoutBook, ids []string,
	start time.Time) {

	last := map[string]time.Time{}
	for _, p := range book.payouts() {
		if !slices.Contains(ids, p.ProviderID) ||
			p.CreatedAt.Before(start) || p.ResolvedAt.IsZero() {

			continue
		}
		r.inFlight = append(r.inFlight, p.ResolvedAt.Sub(p.CreatedAt))
		if prev, ok := last[p.ProviderID]; ok &&
			p.CreatedAt.After(prev) {

			r.gaps = append(r.gaps, p.CreatedAt.Sub(prev))
		}
		last[p.ProviderID] = p.ResolvedAt
	}
}

// benchSluiceRound starts sluiced, credits every provider one metered
// second every payoutBenchEvery for payoutBenchFeed, waits until the
// payable is paid and stops sluiced.
func benchSluiceRound(b *testing.B, s *sluiced, book *payoutBook,
	watch *settleWatch, ids []string) sluiceRound {

	b.Helper()
	from := map[string]int{}
	for _, id := range ids {
		from[id] = watch.count(id)
	}
	s.start()

	credits := map[string][]credit{}
	start := time.Now()
	for n := 0; time.Since(start) < payoutBenchFeed; n++ {
		at, err := benchEarn(b.Context(), book, ids, n)
		if err != nil {
			b.Fatalf("crediting payable: %v", err)
		}
		for _, id := range ids {
			credits[id] = append(credits[id], credit{
				amount: payoutBenchSecondMsat, at: at,
			})
		}
		time.Sleep(payoutBenchEvery - time.Since(at)%payoutBenchEvery)
	}
	feedEnd := time.Now()
	book.drained(ids...)
	s.stop()
	// The hub records a payout's success when it learns the preimage;
	// the provider's invoice stream may tell the watcher a moment later.
	eventually(b, payoutWait, "the providers' lnds to report every "+
		"payout settled", func() error {
		for _, id := range ids {
			settles, err := watch.since(id, from[id])
			if err != nil {
				return permanent(err)
			}
			if _, ok := creditLatencies(credits[id],
				settles); !ok {

				return fmt.Errorf("%s: %d settles do not "+
					"cover %d credits", id, len(settles),
					len(credits[id]))
			}
		}
		return nil
	})

	r := sluiceRound{Elapsed: feedEnd.Sub(start)}
	r.timings(book, ids, start)
	for _, id := range ids {
		settles, err := watch.since(id, from[id])
		if err != nil {
			b.Fatal(err)
		}
		for _, st := range settles {
			r.amounts = append(r.amounts, st.amount)
			if !st.at.After(feedEnd) {
				r.Succeeded++
			}
		}
		l, ok := creditLatencies(credits[id], settles)
		if !ok {
			b.Fatalf("%s: %d settled payouts do not cover its %d "+
				"credited seconds", id, len(settles),
				len(credits[id]))
		}
		r.latencies = append(r.latencies, l...)
		r.credits += len(credits[id])
		for _, cr := range credits[id] {
			book.earned[id] += cr.amount
		}
	}
	if len(r.amounts) == 0 {
		b.Fatalf("no payout settled at %d providers", len(ids))
	}
	return r
}

// benchEarn credits one metered second to each provider's payable in one
// store transaction, as metering's group commit does: a bench-only path
// that posts what a funding and a metered second would (payoutBook.earn
// posts the same), and returns when it committed.
func benchEarn(ctx context.Context, book *payoutBook, ids []string,
	n int) (time.Time, error) {

	amt := ledger.MilliSatoshi(payoutBenchSecondMsat)
	err := store.NewLedgerStore(book.db).ExecTx(ctx,
		func(txs ledger.TxStore) error {
			for _, id := range ids {
				job := fmt.Sprintf("bench-%s-%d-%d", id,
					time.Now().UnixNano(), n)
				for _, tx := range []ledger.Transaction{
					ledger.Transfer(job+":fund",
						"bench funding",
						ledger.HubHoldings(),
						ledger.BuyerEscrow(job), amt),
					ledger.Transfer(job+":usage",
						"bench metered second",
						ledger.BuyerEscrow(job),
						ledger.ProviderPayable(id), amt),
				} {
					_, err := book.ledger.PostTx(ctx, txs, tx)
					if err != nil {
						return err
					}
				}
			}
			return nil
		})
	if err != nil {
		return time.Time{}, fmt.Errorf("metered second %d: %w", n, err)
	}
	return time.Now(), nil
}

// roundRobinKeysend measures raw keysend from the hub to the providers,
// payment seq to provider seq mod len(ids), from senders goroutines, for
// payoutBenchBaseline. It returns the latencies of the succeeded payments
// too; with warm, it first pays each provider once.
func roundRobinKeysend(ctx context.Context, net *network, ids []string,
	amt ledger.MilliSatoshi, senders int, warm bool) (Level,
	[]time.Duration, error) {

	router := routerrpc.NewRouterClient(net.lnd(devnet.NodeHub).conn)
	pays := make([]PayFunc, len(ids))
	for i, id := range ids {
		dest, err := hex.DecodeString(net.lnd(id).PubKey)
		if err != nil {
			return Level{}, nil, fmt.Errorf("%s pubkey: %w", id, err)
		}
		pays[i] = KeysendPayer(router, dest, int64(amt))
	}
	if warm {
		for i, pay := range pays {
			if err := pay(ctx, i); err != nil {
				return Level{}, nil, fmt.Errorf("warm-up: %w",
					err)
			}
		}
	}
	var (
		mu  sync.Mutex
		lat []time.Duration
	)
	pay := func(ctx context.Context, seq int) error {
		began := time.Now()
		err := pays[seq%len(pays)](ctx, seq)
		if err == nil {
			mu.Lock()
			lat = append(lat, time.Since(began))
			mu.Unlock()
		}
		return err
	}
	level, err := Measure(ctx, senders, payoutBenchBaseline, pay)
	return level, lat, err
}

// writePayoutTable prints the levels side by side.
func writePayoutTable(w io.Writer, levels []payoutLevel) error {
	_, err := fmt.Fprintf(w, "payouts vs keysend, hub -> N providers, "+
		"same run, %d rounds of each; Sluice fed a 1-sat metered "+
		"second per provider every %v for %v, payout interval %v; "+
		"keysend of the median payout, round robin, N senders, at "+
		"most %d payments or %v:\n", payoutBenchRounds,
		payoutBenchEvery, payoutBenchFeed, payoutBenchInterval,
		payoutBenchBaseline.Payments, payoutBenchBaseline.Duration)
	if err != nil {
		return err
	}
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "N\tkeysend/s\tp50 ms\tp99 ms\tpayouts/s\t"+
		"p50 ms\tp99 ms\tratio\tpayout msat\tin flight ms\t"+
		"gap ms\t")
	for _, l := range levels {
		fmt.Fprintf(tw, "%d\t%.1f\t%.0f\t%.0f\t%.1f\t%.0f\t%.0f\t"+
			"%.2f\t%d\t%.0f\t%.0f\t\n", l.sluice.Concurrency,
			l.baseline.PerSecond(), ms(l.baseline.P50),
			ms(l.baseline.P99), l.sluice.PerSecond(),
			ms(l.sluice.P50), ms(l.sluice.P99), l.ratio(),
			int64(l.amount), ms(l.inFlight), ms(l.gap))
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	_, err = fmt.Fprintln(w, "(keysend p50/p99: send to success at "+
		"the hub; payout p50/p99: a metered second's commit to the "+
		"settle on the provider's lnd; in flight: a payout's intent "+
		"to its resolution in the store; gap: a resolution to the "+
		"provider's next intent; medians)")
	return err
}
