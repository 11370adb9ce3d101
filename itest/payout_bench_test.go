//go:build itest

package itest

import (
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"sync"
	"testing"
	"text/tabwriter"
	"time"

	"connectrpc.com/connect"
	"github.com/btcsuite/btcd/btcec/v2"
	"github.com/lightningnetwork/lnd/lnrpc"
	"github.com/lightningnetwork/lnd/lnrpc/routerrpc"
	"github.com/sluice-ln/sluice/channels"
	"github.com/sluice-ln/sluice/devnet"
	"github.com/sluice-ln/sluice/ledger"
	"github.com/sluice-ln/sluice/lightning"
	"github.com/sluice-ln/sluice/metering"
	"github.com/sluice-ln/sluice/rpc/sluicerpc"
	"github.com/sluice-ln/sluice/rpc/sluicerpc/sluicerpcconnect"
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

	// envBenchFeed sets how often BenchmarkPayouts credits each
	// provider one metered second (a Go duration, 10ms to 1s); 50ms
	// gives the heavier feed of the earlier measurements.
	envBenchFeed = "SLUICE_BENCH_FEED"

	// payoutBenchRounds is how many rounds of Sluice then keysend each
	// level runs.
	payoutBenchRounds = 3

	// payoutBenchFeed is how long each round credits payable.
	payoutBenchFeed = 5 * time.Second

	// payoutBenchEveryDefault is how often each provider is credited
	// one metered second unless SLUICE_BENCH_FEED says otherwise: the
	// cadence of an agent metering payoutBenchJobs jobs, each sending
	// one batch of one second every second, as production agents do.
	// Payable is there when a provider's payout in flight ends: a
	// payout takes longer than two credits.
	payoutBenchEveryDefault = 100 * time.Millisecond

	// payoutBenchSecondMsat is what one metered second earns: 1 sat.
	payoutBenchSecondMsat = 1_000

	// payoutBenchInterval is the payout interval sluiced runs with.
	payoutBenchInterval = 10 * time.Millisecond

	// payoutBenchJobs is how many jobs each provider's agent meters. A
	// job bills at most one second per second that passed since it was
	// funded, plus the clock skew (set to its most, a minute): feeding
	// one second every 100 ms takes several jobs, used in turn.
	payoutBenchJobs = 10

	// payoutBenchBudget is each job's budget: 1000 sat, more than the
	// seconds the benchmark meters on one job.
	payoutBenchBudget = 1_000_000
)

// payoutBenchEvery is how often each provider is credited one metered
// second: payoutBenchEveryDefault or SLUICE_BENCH_FEED.
var payoutBenchEvery = payoutBenchEveryDefault

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

	// window is the payouts settled on the providers' lnds in the
	// feeding windows (sluiceRound.window).
	window Level

	// payouts counts the payouts of the rounds' windows; cpu is
	// sluiced's CPU in them; statements and reads are what sluiced
	// ran on its store (less an idle run's) and the scheduler's store
	// reads, -1 when sluiced's log did not say.
	payouts           int
	cpu               time.Duration
	statements, reads int64

	// stored are the rounds' counted payouts as the store has them;
	// keysendWindows are when the keysend halves ran. split fills the
	// medians below from the hub's own record of the payments.
	stored         []store.Payout
	keysendWindows [][2]time.Time
	split          payoutSplit
}

// payoutSplit says where a payout's time in flight goes, from the hub's
// record of each payment (lnd's creation time and its HTLCs' resolve
// times, ListPayments) beside the store's intent and resolution times:
// before is intent to lnd's record of the payment (the intent's commit
// and the call), lnd is that record to the last HTLC's resolution, after
// is that resolution to the outcome reaching the executor (lnd's write of
// the settle and its update stream: the store's resolution time is taken
// before the resolution's commit). keysendLnd is the lnd part of the keysend
// baseline's payments, for comparison: lnd's own time in the other half.
type payoutSplit struct {
	before, lnd, after, keysendLnd time.Duration
}

// splitPayouts fills each level's split from the hub's payments.
func splitPayouts(b *testing.B, net *network, levels []payoutLevel) {
	b.Helper()
	ctx, cancel := rpcContext(b)
	defer cancel()
	resp, err := net.lnd(devnet.NodeHub).ln.ListPayments(ctx,
		&lnrpc.ListPaymentsRequest{MaxPayments: 100_000})
	if err != nil {
		b.Fatal(err)
	}
	type lndPayment struct{ created, resolved time.Time }
	byHash := map[string]lndPayment{}
	for _, p := range resp.Payments {
		var last int64
		for _, h := range p.Htlcs {
			last = max(last, h.ResolveTimeNs)
		}
		if p.Status != lnrpc.Payment_SUCCEEDED || last == 0 {
			continue
		}
		byHash[p.PaymentHash] = lndPayment{
			created:  time.Unix(0, p.CreationTimeNs),
			resolved: time.Unix(0, last),
		}
	}
	for i := range levels {
		l := &levels[i]
		ours := map[string]bool{}
		var before, inLnd, after, keysend []time.Duration
		for _, p := range l.stored {
			ours[p.PaymentHash] = true
			lp, ok := byHash[p.PaymentHash]
			if !ok {
				continue
			}
			before = append(before, lp.created.Sub(p.CreatedAt))
			inLnd = append(inLnd, lp.resolved.Sub(lp.created))
			after = append(after, p.ResolvedAt.Sub(lp.resolved))
		}
		for hash, lp := range byHash {
			if ours[hash] {
				continue
			}
			for _, w := range l.keysendWindows {
				if !lp.created.Before(w[0]) &&
					lp.created.Before(w[1]) {

					keysend = append(keysend,
						lp.resolved.Sub(lp.created))
				}
			}
		}
		l.split = payoutSplit{
			before:     Percentile(before, 50),
			lnd:        Percentile(inLnd, 50),
			after:      Percentile(after, 50),
			keysendLnd: Percentile(keysend, 50),
		}
	}
}

// cpuPerPayout is sluiced's CPU per payout in milliseconds.
func (l payoutLevel) cpuPerPayout() float64 {
	if l.payouts == 0 {
		return 0
	}
	return ms(l.cpu) / float64(l.payouts)
}

// statementsPerPayout is the store statements sluiced ran per payout.
func (l payoutLevel) statementsPerPayout() float64 {
	if l.payouts == 0 || l.statements < 0 {
		return 0
	}
	return float64(l.statements) / float64(l.payouts)
}

// readsPerPayout is the scheduler's store reads per payout.
func (l payoutLevel) readsPerPayout() float64 {
	if l.payouts == 0 || l.reads < 0 {
		return 0
	}
	return float64(l.reads) / float64(l.payouts)
}

func (l payoutLevel) ratio() float64 {
	if l.baseline.PerSecond() == 0 {
		return 0
	}
	return l.sluice.PerSecond() / l.baseline.PerSecond()
}

// windowRatio is the ratio by the payouts settled in the feeding windows.
func (l payoutLevel) windowRatio() float64 {
	if l.baseline.PerSecond() == 0 {
		return 0
	}
	return l.window.PerSecond() / l.baseline.PerSecond()
}

// BenchmarkPayouts measures Sluice's payouts beside raw lnd keysend on one
// network with eight providers (SLUICE_BENCH_PROVIDERS sets fewer). A level
// of N providers (1, 4, 8) runs three rounds of two halves. Sluice: sluiced
// runs with a 10 ms payout interval while an agent of every one of the N
// providers submits a signed metered second (1 sat at the provider's rate
// card) over the API every 100 ms (SLUICE_BENCH_FEED sets it) for 5 s, to
// its jobs in turn, each funded by the buyer node; payouts per second are
// the payouts begun in that time that succeeded, per second from the first
// one's intent to the last one's resolution in the store, and latency is
// from a second's commit (its SubmitUsage answer) to the settle of the
// payout that carried it.
// Keysend: with sluiced stopped, the hub pays the same N providers round
// robin, from N senders, by keysend of the median payout amount
// (KeysendPayer), for 5 s, counted the same way: the keysends begun in
// the 5 s, per second from the first start to the last end. The window
// ratio counts, as sessions before did, only the payouts settled on the
// providers' lnds within the feeding time, per second of it: that leaves
// out, at each provider, the payout in flight when the window closes and
// the first payout's latency when it opens, which keysend's count keeps. Per
// payout it reports sluiced's CPU (utime and stime from /proc over the
// round's feeding and draining), the store statements sluiced ran (its count
// at exit, less that of an idle run as long) and the scheduler's store
// reads. At the end the ledger is reconciled with every lnd.
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
	if v := os.Getenv(envBenchFeed); v != "" {
		d, err := time.ParseDuration(v)
		if err != nil || d < 10*time.Millisecond || d > time.Second {
			b.Fatalf("%s=%q: want a duration from 10ms to 1s",
				envBenchFeed, v)
		}
		payoutBenchEvery = d
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
	s.addConf("metering", "metering.clockskew=1m")
	book := openBook(b, s)

	s.start()
	feeds := newBenchFeeds(b, net, s, providers)
	s.stop()

	// What sluiced runs with the jobs funded and nothing metered, for as
	// long as a round feeds: its start and stop, the sweeper, the safety
	// poll.
	idle := benchIdleRun(b, s)
	nodes := map[string]*lndNode{}
	for _, f := range feeds {
		nodes[f.providerID] = net.lnd(f.node)
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
				book, watch, feeds[:c], idle))
		}
	}
	stopWatch()
	splitPayouts(b, net, levels)
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
		b.ReportMetric(l.windowRatio(), fmt.Sprintf("window-ratio@%d",
			c))
		b.ReportMetric(ms(l.sluice.P50),
			fmt.Sprintf("payout-p50-ms@%d", c))
		b.ReportMetric(ms(l.sluice.P99),
			fmt.Sprintf("payout-p99-ms@%d", c))
		b.ReportMetric(l.cpuPerPayout(), fmt.Sprintf("cpu-ms/payout@%d",
			c))
		b.ReportMetric(l.statementsPerPayout(),
			fmt.Sprintf("statements/payout@%d", c))
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
	book *payoutBook, watch *settleWatch, feeds []*benchFeed,
	idle sluicedUse) payoutLevel {

	b.Helper()
	c := len(feeds)
	// The baseline pays the same nodes, named as the network names
	// them.
	nodes := make([]string, c)
	for i, f := range feeds {
		nodes[i] = f.node
	}
	level := payoutLevel{
		sluice:   Level{Concurrency: c},
		baseline: Level{Concurrency: c},
	}
	var sluiceLat, baseLat, amounts, inFlight, gaps []time.Duration
	for round := range payoutBenchRounds {
		if dir := os.Getenv(envPayoutsProfile); dir != "" {
			s.setConf("cpuprofile", filepath.Join(dir,
				fmt.Sprintf("payouts-%d-%d.prof", c, round+1)))
		}
		r := benchSluiceRound(b, s, book, watch, feeds)
		level.payouts += r.payouts
		level.cpu += r.use.cpu
		level.statements = addKnown(level.statements,
			r.use.statements-idle.statements)
		level.reads = addKnown(level.reads, r.use.reads)
		if r.use.statements < 0 || idle.statements < 0 {
			level.statements = -1
		}
		if r.use.reads < 0 {
			level.reads = -1
		}
		level.sluice.Succeeded += r.Succeeded
		level.sluice.Elapsed += r.Elapsed
		level.window.Succeeded += r.window
		level.window.Elapsed += r.windowTime
		level.credits += r.credits
		level.stored = append(level.stored, r.stored...)
		sluiceLat = append(sluiceLat, r.latencies...)
		inFlight = append(inFlight, r.inFlight...)
		gaps = append(gaps, r.gaps...)
		for _, a := range r.amounts {
			amounts = append(amounts, time.Duration(a))
		}

		// The baseline pays the median payout so far.
		amt := ledger.MilliSatoshi(Percentile(amounts, 50))
		ctx, cancel := context.WithTimeout(b.Context(), benchTimeout)
		began := time.Now()
		base, lat, err := roundRobinKeysend(ctx, net, nodes, amt, c,
			round == 0)
		level.keysendWindows = append(level.keysendWindows,
			[2]time.Time{began, time.Now()})
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
		b.Logf("level %d round %d: sluice %d payouts in %v (%d "+
			"settled in the %v window), %d seconds credited; "+
			"keysend of %v: %d in %v", c, round+1, r.Succeeded,
			r.Elapsed.Round(time.Millisecond), r.window,
			r.windowTime.Round(time.Millisecond), r.credits, amt,
			base.Succeeded, base.Elapsed.Round(time.Millisecond))
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
	// Succeeded counts the payouts begun while the round fed (their
	// intents from the feed's start to its end) that succeeded;
	// Elapsed is from the first one's intent to the last one's
	// resolution in the store. Measure counts keysends the same way:
	// those begun in its time, from the first start to the last end.
	Succeeded int
	Elapsed   time.Duration

	// window counts the payouts settled on the providers' lnds while
	// the round fed, in windowTime, the feeding time: the measure of
	// earlier sessions, which leaves out the payouts in flight at the
	// window's ends, a payout's latency per provider that keysend's
	// measure counts.
	window     int
	windowTime time.Duration

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

	// payouts counts the providers' payouts made from the feed's start
	// to the drain; use is what sluiced spent on the round; stored are
	// the payouts Succeeded counts.
	payouts int
	use     sluicedUse
	stored  []store.Payout
}

// timings fills inFlight and gaps from the store's payouts of the
// providers created from start on, and Succeeded and Elapsed from those
// created before feedEnd.
func (r *sluiceRound) timings(book *payoutBook, ids []string,
	start, feedEnd time.Time) {

	last := map[string]time.Time{}
	var first, end time.Time
	for _, p := range book.payouts() {
		if !slices.Contains(ids, p.ProviderID) ||
			p.CreatedAt.Before(start) || p.ResolvedAt.IsZero() {

			continue
		}
		r.payouts++
		if p.CreatedAt.Before(feedEnd) && p.State == store.PayoutSucceeded {
			r.Succeeded++
			r.stored = append(r.stored, p)
			if first.IsZero() || p.CreatedAt.Before(first) {
				first = p.CreatedAt
			}
			if p.ResolvedAt.After(end) {
				end = p.ResolvedAt
			}
		}
		r.inFlight = append(r.inFlight, p.ResolvedAt.Sub(p.CreatedAt))
		if prev, ok := last[p.ProviderID]; ok &&
			p.CreatedAt.After(prev) {

			r.gaps = append(r.gaps, p.CreatedAt.Sub(prev))
		}
		last[p.ProviderID] = p.ResolvedAt
	}
	if r.Succeeded > 0 {
		r.Elapsed = end.Sub(first)
	}
}

// benchSluiceRound starts sluiced, has every provider's agent submit one
// metered second every payoutBenchEvery for payoutBenchFeed, waits until
// the payable is paid and stops sluiced.
func benchSluiceRound(b *testing.B, s *sluiced, book *payoutBook,
	watch *settleWatch, feeds []*benchFeed) sluiceRound {

	b.Helper()
	ids := make([]string, len(feeds))
	from := map[string]int{}
	for i, f := range feeds {
		ids[i] = f.providerID
		from[f.providerID] = watch.count(f.providerID)
	}
	s.start()
	pid := s.cmd.Process.Pid
	cpuStart, err := ProcessCPU(pid)
	if err != nil {
		b.Fatal(err)
	}

	credits := make([][]credit, len(feeds))
	errs := make([]error, len(feeds))
	start := time.Now()
	var wg sync.WaitGroup
	for i, f := range feeds {
		wg.Add(1)
		go func() {
			defer wg.Done()
			credits[i], errs[i] = f.feed(b.Context(), start,
				payoutBenchFeed)
		}()
	}
	wg.Wait()
	feedEnd := time.Now()
	if err := errors.Join(errs...); err != nil {
		b.Fatalf("metering: %v", err)
	}
	book.drained(ids...)
	cpuEnd, err := ProcessCPU(pid)
	if err != nil {
		b.Fatal(err)
	}
	s.stop()
	r := sluiceRound{windowTime: feedEnd.Sub(start)}
	r.use = sluicedLog(b, s)
	r.use.cpu = cpuEnd - cpuStart

	// The hub records a payout's success when it learns the preimage;
	// the provider's invoice stream may tell the watcher a moment later.
	eventually(b, payoutWait, "the providers' lnds to report every "+
		"payout settled", func() error {
		for i, id := range ids {
			settles, err := watch.since(id, from[id])
			if err != nil {
				return permanent(err)
			}
			if _, ok := creditLatencies(credits[i],
				settles); !ok {

				return fmt.Errorf("%s: %d settles do not "+
					"cover %d credits", id, len(settles),
					len(credits[i]))
			}
		}
		return nil
	})

	r.timings(book, ids, start, feedEnd)
	for i, id := range ids {
		settles, err := watch.since(id, from[id])
		if err != nil {
			b.Fatal(err)
		}
		for _, st := range settles {
			r.amounts = append(r.amounts, st.amount)
			if !st.at.After(feedEnd) {
				r.window++
			}
		}
		l, ok := creditLatencies(credits[i], settles)
		if !ok {
			b.Fatalf("%s: %d settled payouts do not cover its %d "+
				"credited seconds", id, len(settles),
				len(credits[i]))
		}
		r.latencies = append(r.latencies, l...)
		r.credits += len(credits[i])
		for _, cr := range credits[i] {
			book.earned[id] += cr.amount
		}
	}
	if len(r.amounts) == 0 || r.Succeeded == 0 {
		b.Fatalf("no payout settled at %d providers", len(ids))
	}
	return r
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
		"same run, %d rounds of each; Sluice fed by agents, a 1-sat "+
		"metered second per provider every %v for %v, payout interval %v; "+
		"keysend of the median payout, round robin, N senders, at "+
		"most %d payments or %v:\n", payoutBenchRounds,
		payoutBenchEvery, payoutBenchFeed, payoutBenchInterval,
		payoutBenchBaseline.Payments, payoutBenchBaseline.Duration)
	if err != nil {
		return err
	}
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "N\tkeysend/s\tp50 ms\tp99 ms\tpayouts/s\t"+
		"p50 ms\tp99 ms\tratio\twindow ratio\tpayout msat\t"+
		"in flight ms\tbefore/lnd/after ms\tkeysend lnd ms\t"+
		"gap ms\tcpu ms/payout\tstmts/payout\treads/payout\t")
	for _, l := range levels {
		fmt.Fprintf(tw, "%d\t%.1f\t%.0f\t%.0f\t%.1f\t%.0f\t%.0f\t"+
			"%.2f\t%.2f\t%d\t%.0f\t%.0f/%.0f/%.0f\t%.0f\t%.0f\t"+
			"%.2f\t%.1f\t%.2f\t\n",
			l.sluice.Concurrency,
			l.baseline.PerSecond(), ms(l.baseline.P50),
			ms(l.baseline.P99), l.sluice.PerSecond(),
			ms(l.sluice.P50), ms(l.sluice.P99), l.ratio(),
			l.windowRatio(),
			int64(l.amount), ms(l.inFlight), ms(l.split.before),
			ms(l.split.lnd), ms(l.split.after),
			ms(l.split.keysendLnd), ms(l.gap),
			l.cpuPerPayout(), l.statementsPerPayout(),
			l.readsPerPayout())
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	_, err = fmt.Fprintln(w, "(keysend/s: keysends begun in the "+
		"time, per second from the first start to the last end; "+
		"payouts/s: payouts begun while the agents fed, per second "+
		"from the first intent to the last resolution in the store; "+
		"window ratio: payouts settled on the providers' lnds in the "+
		"feeding time, per second of it, over keysend/s; "+
		"keysend p50/p99: send to success at "+
		"the hub; payout p50/p99: a metered second's commit to the "+
		"settle on the provider's lnd; in flight: a payout's intent "+
		"to its resolution in the store; before/lnd/after: that "+
		"time split at the hub's record of the payment (creation) "+
		"and its HTLC's resolution (lnd's ListPayments), keysend "+
		"lnd: the same lnd part for the keysend baseline; "+
		"gap: a resolution to the "+
		"provider's next intent; medians; per payout: sluiced's "+
		"CPU, store statements (metering's included, an idle "+
		"run's taken off) and the scheduler's store reads over "+
		"the rounds' payouts)")
	return err
}

// benchJob is one job an agent meters, and where its meter stands.
type benchJob struct {
	id     string
	seq    uint64
	second int64
}

// benchFeed is one provider's agent: its key, its API client and its
// funded jobs.
type benchFeed struct {
	providerID string
	node       string
	key        *btcec.PrivateKey
	metering   sluicerpcconnect.MeteringServiceClient
	jobs       []*benchJob
	next       int
}

// benchFiles are where one bench provider keeps its agent key and
// macaroon.
func benchFiles(b *testing.B, name string) providerFiles {
	dir := filepath.Join(b.TempDir(), name)
	return providerFiles{
		agentKey: filepath.Join(dir, "agent.key"),
		macaroon: filepath.Join(dir, "provider.macaroon"),
	}
}

// newBenchFeeds links the network's providers to the running sluiced, each
// with a rate card of 1 msat per core-millisecond and none for memory (a
// metered second of 1000 core-ms earns 1 sat; no platform fee), and funds payoutBenchJobs
// jobs for each from the buyer node.
func newBenchFeeds(b *testing.B, net *network, s *sluiced,
	providers int) []*benchFeed {

	b.Helper()
	ctx, cancel := context.WithTimeout(b.Context(), 10*time.Minute)
	defer cancel()

	op := s.clientsWith(readFile(b, filepath.Join(s.dir,
		net.profile.Network, "operator.macaroon")))
	added, err := op.operator.AddBuyer(ctx, connect.NewRequest(
		&sluicerpc.AddBuyerRequest{Name: "bench-buyer"}))
	if err != nil {
		b.Fatalf("add buyer: %v", err)
	}
	buyer := s.clientsWith(added.Msg.BuyerMacaroon)
	buyerNode := net.lnd(devnet.NodeBuyer)

	feeds := make([]*benchFeed, providers)
	var jobs []string
	for i := range feeds {
		name := devnet.ProviderName(i + 1)
		files := benchFiles(b, name)
		link := s.linkCLI(net.linkArgs(name, files)...)
		id := link.Provider.ProviderId
		prov := s.clientsWith(readFile(b, files.macaroon))
		_, err := prov.provider.SetRates(ctx, connect.NewRequest(
			&sluicerpc.SetRatesRequest{ProviderId: id,
				Rates: map[string]string{"cpu": "1",
					"mem": "0"}}))
		if err != nil {
			b.Fatalf("%s: set rates: %v", name, err)
		}
		key, _, err := channels.ReadAgentKeyFile(files.agentKey)
		if err != nil {
			b.Fatalf("%s: agent key: %v", name, err)
		}
		f := &benchFeed{providerID: id, node: name, key: key,
			metering: prov.metering}
		for range payoutBenchJobs {
			created, err := buyer.jobs.CreateJob(ctx,
				connect.NewRequest(&sluicerpc.CreateJobRequest{
					ProviderId: id,
					Spec: map[string]int64{"cpu": 2000,
						"mem": 1024},
					BudgetMsat:    payoutBenchBudget,
					BufferSeconds: 5,
				}))
			if err != nil {
				b.Fatalf("%s: create job: %v", name, err)
			}
			job := created.Msg.Job
			if len(job.Invoices) == 0 {
				b.Fatalf("job %s has no funding invoice",
					job.JobId)
			}
			buyerNode.payInvoice(b, job.Invoices[0].PaymentRequest)
			f.jobs = append(f.jobs, &benchJob{id: job.JobId})
			jobs = append(jobs, job.JobId)
		}
		feeds[i] = f
	}

	eventually(b, 2*time.Minute, "the bench jobs to be funded",
		func() error {
			for _, id := range jobs {
				got, err := buyer.jobs.GetJob(ctx,
					connect.NewRequest(&sluicerpc.GetJobRequest{
						JobId: id,
					}))
				if err != nil {
					return err
				}
				if st := got.Msg.Job.State; st != "funded" {
					return fmt.Errorf("job %s is %s", id, st)
				}
			}
			return nil
		})
	return feeds
}

// submit signs one metered second of 1000 core-ms for the provider's next
// job, as the agent does, and submits it; it returns when sluiced has
// committed it.
func (f *benchFeed) submit(ctx context.Context) (time.Time, error) {
	j := f.jobs[f.next%len(f.jobs)]
	f.next++
	second := max(j.second+1, time.Now().Unix())
	rec := metering.Record{Seq: j.seq + 1, Second: second,
		Usage: metering.Usage{CPU: 1000}}
	batch := &metering.Batch{JobID: j.id, Records: []metering.Record{rec}}
	if err := batch.Sign(f.key); err != nil {
		return time.Time{}, err
	}
	enc, err := batch.Encode()
	if err != nil {
		return time.Time{}, err
	}
	resp, err := f.metering.SubmitUsage(ctx, connect.NewRequest(
		&sluicerpc.SubmitUsageRequest{Batch: enc}))
	if err != nil {
		return time.Time{}, fmt.Errorf("job %s seq %d: %w", j.id,
			rec.Seq, err)
	}
	if resp.Msg.Accepted != 1 {
		return time.Time{}, fmt.Errorf("job %s seq %d: accepted %d: "+
			"%s", j.id, rec.Seq, resp.Msg.Accepted, resp.Msg.Refused)
	}
	j.seq, j.second = rec.Seq, second
	return time.Now(), nil
}

// feed submits a metered second every payoutBenchEvery from start for d
// and returns the credits.
func (f *benchFeed) feed(ctx context.Context, start time.Time,
	d time.Duration) ([]credit, error) {

	var credits []credit
	for n := 0; time.Since(start) < d; n++ {
		at, err := f.submit(ctx)
		if err != nil {
			return credits, fmt.Errorf("%s: %w", f.providerID, err)
		}
		credits = append(credits, credit{
			amount: payoutBenchSecondMsat, at: at,
		})
		next := start.Add(time.Duration(n+1) * payoutBenchEvery)
		time.Sleep(time.Until(next))
	}
	return credits, nil
}

// sluicedUse is what one run of sluiced spent: CPU, and, from its log at
// exit, the store statements it ran and the payout scheduler's store
// reads (-1 when the log does not say).
type sluicedUse struct {
	cpu               time.Duration
	statements, reads int64
}

// Lines sluiced logs at exit with its counts.
var (
	statementsLine = regexp.MustCompile(
		`Store closed after (\d+) statements`)
	readsLine = regexp.MustCompile(
		`Payout scheduler stopped after (\d+) store reads`)
)

// sluicedLog reads the counts of sluiced's last run from its log.
func sluicedLog(b *testing.B, s *sluiced) sluicedUse {
	b.Helper()
	raw, err := os.ReadFile(s.logPath())
	if err != nil {
		b.Fatal(err)
	}
	last := func(re *regexp.Regexp) int64 {
		m := re.FindAllSubmatch(raw, -1)
		if len(m) == 0 {
			return -1
		}
		n, err := strconv.ParseInt(string(m[len(m)-1][1]), 10, 64)
		if err != nil {
			b.Fatal(err)
		}
		return n
	}
	return sluicedUse{statements: last(statementsLine),
		reads: last(readsLine)}
}

// benchIdleRun runs sluiced for a round's feeding time with nothing to do
// and returns what it spent.
func benchIdleRun(b *testing.B, s *sluiced) sluicedUse {
	b.Helper()
	s.start()
	pid := s.cmd.Process.Pid
	before, err := ProcessCPU(pid)
	if err != nil {
		b.Fatal(err)
	}
	time.Sleep(payoutBenchFeed)
	after, err := ProcessCPU(pid)
	if err != nil {
		b.Fatal(err)
	}
	s.stop()
	use := sluicedLog(b, s)
	use.cpu = after - before
	b.Logf("idle sluiced for %v: %v CPU, %d statements in all",
		payoutBenchFeed, use.cpu, use.statements)
	return use
}

// addKnown adds n to a count that may be unknown (-1).
func addKnown(sum, n int64) int64 {
	if sum < 0 {
		return sum
	}
	return sum + n
}
