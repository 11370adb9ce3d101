//go:build itest

package itest

import (
	"bufio"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"text/tabwriter"
	"time"

	"connectrpc.com/connect"
	"github.com/btcsuite/btcd/btcec/v2"
	"github.com/btcsuite/btcd/btcec/v2/schnorr"
	"github.com/lightningnetwork/lnd/lnrpc/routerrpc"
	"github.com/lightningnetwork/lnd/routing/route"
	"github.com/sluice-ln/sluice/channels"
	"github.com/sluice-ln/sluice/daemon/lndtest"
	"github.com/sluice-ln/sluice/devnet"
	"github.com/sluice-ln/sluice/ledger"
	"github.com/sluice-ln/sluice/metering"
	"github.com/sluice-ln/sluice/rpc/rpcclient"
	"github.com/sluice-ln/sluice/rpc/sluicerpc"
	"github.com/sluice-ln/sluice/rpc/sluicerpc/sluicerpcconnect"
)

// Bounds of BenchmarkScale.
const (
	// envScaleSamples names a file of keysend latencies (one Go
	// duration a line) for the simulated hub; without it the benchmark
	// measures scaleSamples keysends on a real devnet first.
	envScaleSamples = "SLUICE_BENCH_KEYSEND_SAMPLES"

	// envScaleRuns sets the runs as providers:jobs pairs, comma
	// separated ("100:1000,1000:10000" by default); the ratios compare
	// the first two.
	envScaleRuns = "SLUICE_BENCH_SCALE_RUNS"

	// envScaleProfile names a directory: each run's measured sluiced
	// then writes its CPU profile there, as scale-<jobs>.prof.
	envScaleProfile = "SLUICE_BENCH_SCALE_CPUPROFILE"

	// envPayoutsProfile names a directory: BenchmarkPayouts' sluiced
	// then writes its CPU profile of each round there, as
	// payouts-<N>-<round>.prof.
	envPayoutsProfile = "SLUICE_BENCH_PAYOUTS_CPUPROFILE"

	// scaleSamples is how many keysends hub -> provider the benchmark
	// measures on the devnet.
	scaleSamples = 100

	// scaleBatchRecords is the seconds each batch carries: a job
	// sends its last ten seconds every ten seconds.
	scaleBatchRecords = 10

	// scaleCycle is how often each job sends a batch.
	scaleCycle = 10 * time.Second

	// scaleCycles is how many batches each job sends: a minute.
	scaleCycles = 6

	// scaleSenders is how many batches the benchmark has in flight at
	// most, over scaleConns HTTP/2 connections: the agents of a hub
	// share a few connections here, not one each.
	scaleSenders = 256
	scaleConns   = 4

	// scaleSetupWorkers is how many links and jobs are made at once.
	scaleSetupWorkers = 8

	// scaleBudget is each job's budget: 200 sat, more than the minute
	// it meters at 1 sat a second.
	scaleBudget = 200_000

	// scalePayoutInterval is how often each provider is paid.
	scalePayoutInterval = 10 * time.Second

	// scaleDrain bounds the wait, after the last batch, for the
	// payable to be paid.
	scaleDrain = 3 * time.Minute

	// scaleSetupTimeout bounds linking, job creation and funding.
	scaleSetupTimeout = 6 * time.Minute

	// scaleGoalRatio and scaleGoalRSS are issue 15's goals: per-unit
	// costs of the larger run within 1.25x the smaller's, and sluiced
	// under 512 MiB at 10,000 running jobs.
	scaleGoalRatio = 1.25
	scaleGoalRSS   = 512 << 20
)

// scaleRun is one size BenchmarkScale runs.
type scaleRun struct{ providers, jobs int }

// defaultScaleRuns are issue 15's sizes.
var defaultScaleRuns = []scaleRun{{100, 1_000}, {1_000, 10_000}}

// scaleRuns are defaultScaleRuns or $SLUICE_BENCH_SCALE_RUNS.
func scaleRuns(b *testing.B) []scaleRun {
	b.Helper()
	v := os.Getenv(envScaleRuns)
	if v == "" {
		return defaultScaleRuns
	}
	var runs []scaleRun
	for _, pair := range strings.Split(v, ",") {
		p, j, ok := strings.Cut(pair, ":")
		providers, err1 := strconv.Atoi(p)
		jobs, err2 := strconv.Atoi(j)
		if !ok || err1 != nil || err2 != nil || providers < 1 ||
			jobs < providers {

			b.Fatalf("%s=%q: want providers:jobs pairs, jobs >= "+
				"providers >= 1", envScaleRuns, v)
		}
		runs = append(runs, scaleRun{providers, jobs})
	}
	return runs
}

// scaleResult is what one run of BenchmarkScale measured.
type scaleResult struct {
	providers, jobs int

	// batches and records count the batches and metered seconds
	// sluiced acknowledged; payouts those settled in the window.
	batches, records, payouts int

	// cpu is sluiced's CPU from the window's start (a fresh start of
	// sluiced with every job funded) to the drain; statements are its
	// store statements in that run, start and stop included.
	cpu        time.Duration
	statements int64

	// p50 and p99 are from a batch's acknowledgement to the settle of
	// the payout that carried its last second.
	p50, p99 time.Duration

	// rss is sluiced's peak resident set (VmHWM) in the window;
	// setupRSS in the run that made the jobs.
	rss, setupRSS int64

	// backlog is records due minus records acknowledged at each
	// cycle's end (the first is the minute's start).
	backlog []int64

	// window is from the first batch due to the last acknowledged.
	window time.Duration
}

func (r scaleResult) cpuPerSecond() float64 {
	return float64(r.cpu.Microseconds()) / float64(max(r.records, 1))
}

func (r scaleResult) cpuPerPayout() float64 {
	return ms(r.cpu) / float64(max(r.payouts, 1))
}

func (r scaleResult) statementsPerPayout() float64 {
	return float64(r.statements) / float64(max(r.payouts, 1))
}

func (r scaleResult) statementsPerBatch() float64 {
	return float64(r.statements) / float64(max(r.batches, 1))
}

// BenchmarkScale runs sluiced as a real process on a simulated hub (simHub:
// an lnd over gRPC whose keysends take latencies measured on the real
// devnet) with 100 providers / 1,000 jobs, then 1,000 providers / 10,000
// jobs. Each run links its providers with real ownership proofs, has a
// buyer create and fund the jobs through sluiced's invoice subscription,
// restarts sluiced, and then every job sends its last ten seconds, signed
// by its provider's agent key, every ten seconds for a minute (batches
// pre-signed; the benchmark plays every agent, outside sluiced's CPU). It
// prints, per run, sluiced's CPU per metered second and per payout, store
// statements per payout and per batch, payout latency, peak RSS, the
// ingest backlog at each ten seconds, and the larger run's per-unit
// figures over the smaller's.
func BenchmarkScale(b *testing.B) {
	runs := scaleRuns(b)
	lat, src := scaleLatencies(b)
	var results []scaleResult
	for b.Loop() {
		results = results[:0]
		for _, r := range runs {
			results = append(results, runScale(b, lat, r.providers,
				r.jobs))
		}
	}

	fmt.Fprintln(os.Stdout)
	if err := writeScaleTable(os.Stdout, lat, src, results); err != nil {
		b.Fatal(err)
	}
	for _, r := range results {
		n := r.jobs
		b.ReportMetric(r.cpuPerSecond(), fmt.Sprintf("cpu-us/s@%d", n))
		b.ReportMetric(r.cpuPerPayout(),
			fmt.Sprintf("cpu-ms/payout@%d", n))
		b.ReportMetric(r.statementsPerPayout(),
			fmt.Sprintf("stmts/payout@%d", n))
		b.ReportMetric(r.statementsPerBatch(),
			fmt.Sprintf("stmts/batch@%d", n))
		b.ReportMetric(float64(r.rss)/(1<<20),
			fmt.Sprintf("rss-MiB@%d", n))
	}
}

// scaleLatencies are the keysend samples the simulated hub draws from:
// read from $SLUICE_BENCH_KEYSEND_SAMPLES, or measured as scaleSamples
// keysends of 10 sat, one at a time, from the hub to a provider on a
// fresh devnet, which is then stopped. Measured samples are written to a
// file for later runs. It says where they came from.
func scaleLatencies(b *testing.B) ([]time.Duration, string) {
	b.Helper()
	if path := os.Getenv(envScaleSamples); path != "" {
		lat, err := readLatencies(path)
		if err != nil {
			b.Fatalf("%s: %v", envScaleSamples, err)
		}
		b.Logf("keysend latencies: %d samples from %s", len(lat), path)
		return lat, "read from " + path
	}

	net := newNetworkProviders(b, devnet.DefaultProviders)
	hub := net.lnd(devnet.NodeHub)
	dest, err := hex.DecodeString(net.lnd(devnet.ProviderName(1)).PubKey)
	if err != nil {
		b.Fatal(err)
	}
	pay := KeysendPayer(routerrpc.NewRouterClient(hub.conn), dest, 10_000)
	ctx, cancel := context.WithTimeout(b.Context(), benchTimeout)
	defer cancel()
	if err := pay(ctx, 0); err != nil {
		b.Fatalf("warm-up keysend: %v", err)
	}
	lat := make([]time.Duration, 0, scaleSamples)
	for i := range scaleSamples {
		start := time.Now()
		if err := pay(ctx, i); err != nil {
			b.Fatalf("keysend %d: %v", i, err)
		}
		lat = append(lat, time.Since(start))
	}
	net.cleanup()
	net.dir, net.lnds, net.tapds = "", nil, nil

	path := filepath.Join(os.TempDir(), "sluice-keysend-latencies.txt")
	var sb strings.Builder
	for _, l := range lat {
		fmt.Fprintln(&sb, l)
	}
	if err := os.WriteFile(path, []byte(sb.String()), 0o600); err != nil {
		b.Fatal(err)
	}
	b.Logf("keysend latencies: %d measured on the devnet, p50 %v, p99 "+
		"%v; written to %s (%s=%s reuses them)", len(lat),
		Percentile(lat, 50), Percentile(lat, 99), path,
		envScaleSamples, path)
	return lat, "measured on the devnet, hub to provider, one at a time"
}

// readLatencies reads one Go duration a line.
func readLatencies(path string) ([]time.Duration, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	var out []time.Duration
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if line == "" {
			continue
		}
		d, err := time.ParseDuration(line)
		if err != nil || d <= 0 {
			return nil, fmt.Errorf("line %q: not a positive "+
				"duration", line)
		}
		out = append(out, d)
	}
	if err := sc.Err(); err != nil {
		return nil, err
	}
	if len(out) == 0 {
		return nil, errors.New("no samples")
	}
	return out, nil
}

// scaleAPI is sluiced's API over a few shared HTTP/2 connections, with
// clients that send one macaroon each.
type scaleAPI struct {
	url     string
	clients []*http.Client
	next    atomic.Int64
}

func newScaleAPI(b *testing.B, addr, certPath string) *scaleAPI {
	b.Helper()
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(readFile(b, certPath)) {
		b.Fatalf("no certificate in %s", certPath)
	}
	api := &scaleAPI{url: "https://" + addr}
	for range scaleConns {
		protocols := new(http.Protocols)
		protocols.SetHTTP2(true)
		api.clients = append(api.clients, &http.Client{
			Transport: &http.Transport{
				TLSClientConfig: &tls.Config{RootCAs: pool,
					MinVersion: tls.VersionTLS12},
				Protocols: protocols,
			},
		})
	}
	return api
}

// opts are the client options for a macaroon; each new client takes the
// next shared connection.
func (a *scaleAPI) opts(mac []byte) (*http.Client, []connect.ClientOption) {
	c := a.clients[int(a.next.Add(1))%len(a.clients)]
	h := hex.EncodeToString(mac)
	return c, []connect.ClientOption{connect.WithGRPC(),
		connect.WithInterceptors(connect.UnaryInterceptorFunc(
			func(next connect.UnaryFunc) connect.UnaryFunc {
				return func(ctx context.Context,
					req connect.AnyRequest) (
					connect.AnyResponse, error) {

					req.Header().Set(
						sluicerpc.MacaroonHeader, h)
					return next(ctx, req)
				}
			}))}
}

func (a *scaleAPI) close() {
	for _, c := range a.clients {
		c.CloseIdleConnections()
	}
}

// scaleProvider is one simulated provider: its node and agent keys and
// its API clients.
type scaleProvider struct {
	id       string
	node     route.Vertex
	agent    *btcec.PrivateKey
	mac      []byte
	metering sluicerpcconnect.MeteringServiceClient

	mu      sync.Mutex
	credits []credit
}

// scaleJob is one funded job and its pre-signed batches.
type scaleJob struct {
	id       string
	provider *scaleProvider
	batches  [][]byte
}

// runScale runs one size: setup, then the measured minute.
func runScale(b *testing.B, lat []time.Duration, providers,
	jobs int) scaleResult {

	b.Helper()
	hub := startSimHub(b, lat)
	s := newSimSluiced(b, hub)
	res := scaleResult{providers: providers, jobs: jobs}

	started := time.Now()
	s.startSim()
	api := newScaleAPI(b, s.rpcListen, filepath.Join(s.dir, "tls.cert"))
	defer api.close()
	ctx, cancel := context.WithTimeout(b.Context(), scaleSetupTimeout)
	provs := linkScaleProviders(ctx, b, api, s, hub, providers)
	all := createScaleJobs(ctx, b, api, s, hub, provs, jobs)
	cancel()
	res.setupRSS = peakRSS(b, s.cmd.Process.Pid)
	s.stop()
	b.Logf("%d providers, %d jobs linked, created and funded in %v",
		providers, jobs, time.Since(started).Round(time.Second))

	// Every batch signed before the minute: batch k of a job carries
	// seqs 10k+1..10k+10, seconds base+10k..base+10k+9, and is sent no
	// earlier than base+10(k+1), when that many seconds have passed
	// since the job was funded.
	base := time.Now().Unix()
	presign(b, all, base)

	if dir := os.Getenv(envScaleProfile); dir != "" {
		s.appendConf(fmt.Sprintf("cpuprofile=%s",
			filepath.Join(dir, fmt.Sprintf("scale-%d.prof", jobs))))
	}
	s.startSim()
	pid := s.cmd.Process.Pid
	cpuStart, err := ProcessCPU(pid)
	if err != nil {
		b.Fatal(err)
	}
	first := time.Unix(base, 0).Add(scaleCycle)
	if now := time.Now(); now.After(first) {
		first = now
	}
	sendScaleBatches(b, all, first, &res)

	for _, p := range provs {
		p.mu.Lock()
		slices.SortFunc(p.credits, func(x, y credit) int {
			return x.at.Compare(y.at)
		})
		p.mu.Unlock()
	}
	eventually(b, scaleDrain, "every provider's payable to be paid",
		func() error {
			for _, p := range provs {
				var earned, paid ledger.MilliSatoshi
				for _, c := range p.credits {
					earned += c.amount
				}
				for _, st := range hub.settlesOf(p.node) {
					paid += st.amount
				}
				if paid < earned {
					return fmt.Errorf("provider %s paid "+
						"%v of %v", p.id, paid, earned)
				}
			}
			return nil
		})
	cpuEnd, err := ProcessCPU(pid)
	if err != nil {
		b.Fatal(err)
	}
	res.rss = peakRSS(b, pid)
	s.stop()
	res.cpu = cpuEnd - cpuStart
	res.statements = sluicedLog(b, s).statements

	var lats []time.Duration
	for _, p := range provs {
		settles := hub.settlesOf(p.node)
		res.payouts += len(settles)
		l, ok := creditLatencies(p.credits, settles)
		if !ok {
			b.Fatalf("provider %s: %d payouts do not cover %d "+
				"batches", p.id, len(settles), len(p.credits))
		}
		lats = append(lats, l...)
	}
	res.p50, res.p99 = Percentile(lats, 50), Percentile(lats, 99)
	b.Logf("%d jobs: %d batches, %d payouts (%d keysends) in %v; "+
		"backlog at each 10 s: %v", jobs, res.batches, res.payouts,
		hub.keysends(), res.window.Round(time.Millisecond), res.backlog)
	return res
}

// newSimSluiced writes a sluice.conf for a sluiced on the simulated hub
// (regtest, embedded SQLite, payouts every scalePayoutInterval) and
// returns it, not started; it is killed if still running at the end.
func newSimSluiced(b *testing.B, hub *simHub) *sluiced {
	b.Helper()
	dir := b.TempDir()
	listen := lndtest.FreeAddr(b)
	// Nothing listens at tapd's address: sluiced runs without the
	// share asset, as it does when tapd is down.
	tapd := lndtest.FreeAddr(b)
	conf := strings.Join([]string{
		"[Application Options]",
		"datadir=" + dir,
		"network=regtest",
		"rpclisten=" + listen,
		"debuglevel=info",
		"[lnd]",
		"lnd.host=" + hub.srv.Host,
		"lnd.tlspath=" + hub.srv.TLSCertPath,
		"lnd.macaroonpath=" + hub.srv.MacaroonPath,
		"[tapd]",
		"tapd.host=" + tapd,
		"tapd.tlspath=" + hub.srv.TLSCertPath,
		"tapd.macaroonpath=" + hub.srv.MacaroonPath,
		"[db]",
		"db.backend=sqlite",
		"[payout]",
		fmt.Sprintf("payout.interval=%dms",
			scalePayoutInterval.Milliseconds()),
		"[metering]",
		"metering.clockskew=1m",
		"[market]",
		"market.starttimeout=1h",
	}, "\n") + "\n"
	path := filepath.Join(dir, "sluice.conf")
	if err := os.WriteFile(path, []byte(conf), 0o600); err != nil {
		b.Fatal(err)
	}
	s := &sluiced{t: b, confPath: path, dir: dir, rpcListen: listen}
	b.Cleanup(func() {
		if s.running() {
			_ = s.cmd.Process.Kill()
			<-s.exited
		}
	})
	return s
}

// appendConf adds a line to the Application Options of s's sluice.conf,
// read at its next start.
func (s *sluiced) appendConf(line string) {
	s.t.Helper()
	raw, err := os.ReadFile(s.confPath)
	if err != nil {
		s.t.Fatal(err)
	}
	conf := strings.Replace(string(raw), "[Application Options]\n",
		"[Application Options]\n"+line+"\n", 1)
	if err := os.WriteFile(s.confPath, []byte(conf), 0o600); err != nil {
		s.t.Fatal(err)
	}
}

// setConf sets an Application Option of s's sluice.conf, in place of
// the value it had there.
func (s *sluiced) setConf(key, value string) {
	s.t.Helper()
	raw, err := os.ReadFile(s.confPath)
	if err != nil {
		s.t.Fatal(err)
	}
	var kept []string
	for _, line := range strings.SplitAfter(string(raw), "\n") {
		if !strings.HasPrefix(line, key+"=") {
			kept = append(kept, line)
		}
	}
	if err := os.WriteFile(s.confPath, []byte(strings.Join(kept, "")),
		0o600); err != nil {

		s.t.Fatal(err)
	}
	s.appendConf(key + "=" + value)
}

// startSim starts sluiced and waits until its API answers GetInfo.
func (s *sluiced) startSim() {
	s.t.Helper()
	s.launch()
	eventually(s.t, sluicedStartTimeout, "sluiced's API to answer",
		func() error {
			if !s.running() {
				return permanent(fmt.Errorf("sluiced exited: "+
					"%v\n%s", s.err, s.tail()))
			}
			raw, err := os.ReadFile(filepath.Join(s.dir,
				"tls.cert"))
			if err != nil {
				return err
			}
			mac, err := os.ReadFile(filepath.Join(s.dir,
				"regtest", "operator.macaroon"))
			if err != nil {
				return err
			}
			cl, err := rpcclient.New(s.rpcListen, raw, mac)
			if err != nil {
				return err
			}
			_, err = cl.Sluice.GetInfo(s.t.Context(),
				connect.NewRequest(&sluicerpc.GetInfoRequest{}))
			return err
		})
}

// parallel runs fn(i) for i in [0, n) on scaleSetupWorkers goroutines
// and returns the first error.
func parallel(ctx context.Context, n int, fn func(int) error) error {
	var (
		next atomic.Int64
		wg   sync.WaitGroup
		mu   sync.Mutex
		errs []error
	)
	for range scaleSetupWorkers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := int(next.Add(1)) - 1
				if i >= n || ctx.Err() != nil {
					return
				}
				if err := fn(i); err != nil {
					mu.Lock()
					errs = append(errs, err)
					mu.Unlock()
					return
				}
			}
		}()
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		return err
	}
	return ctx.Err()
}

// linkScaleProviders makes n provider nodes in the simulated graph and
// links each to sluiced with an ownership proof signed by its node key,
// with a rate card of 1 msat per core-ms (a metered second of 1000 core-ms
// earns 1 sat).
func linkScaleProviders(ctx context.Context, b *testing.B, api *scaleAPI,
	s *sluiced, hub *simHub, n int) []*scaleProvider {

	b.Helper()
	hc, opts := api.opts(nil)
	open := sluicerpcconnect.NewProviderServiceClient(hc, api.url,
		opts[:1]...)
	provs := make([]*scaleProvider, n)
	err := parallel(ctx, n, func(i int) error {
		nodeKey, err := btcec.NewPrivateKey()
		if err != nil {
			return err
		}
		agent, err := btcec.NewPrivateKey()
		if err != nil {
			return err
		}
		node := route.NewVertex(nodeKey.PubKey())
		alias := fmt.Sprintf("sim-%d", i+1)
		hub.addNode(node, alias)
		ch, err := open.CreateLinkChallenge(ctx, connect.NewRequest(
			&sluicerpc.CreateLinkChallengeRequest{
				NodePubkey:  node[:],
				AgentPubkey: schnorr.SerializePubKey(agent.PubKey()),
				Alias:       alias,
			}))
		if err != nil {
			return fmt.Errorf("%s: challenge: %w", alias, err)
		}
		sig := channels.SignNodeMessage(nodeKey, []byte(ch.Msg.Message))
		link, err := open.CompleteLink(ctx, connect.NewRequest(
			&sluicerpc.CompleteLinkRequest{
				ChallengeId: ch.Msg.ChallengeId,
				Signature:   sig,
			}))
		if err != nil {
			return fmt.Errorf("%s: link: %w", alias, err)
		}
		p := &scaleProvider{id: link.Msg.Provider.ProviderId,
			node: node, agent: agent, mac: link.Msg.ProviderMacaroon}
		hc, opts := api.opts(p.mac)
		prov := sluicerpcconnect.NewProviderServiceClient(hc, api.url,
			opts...)
		_, err = prov.SetRates(ctx, connect.NewRequest(
			&sluicerpc.SetRatesRequest{ProviderId: p.id,
				Rates: map[string]string{"cpu": "1", "mem": "0"}}))
		if err != nil {
			return fmt.Errorf("%s: set rates: %w", alias, err)
		}
		p.metering = sluicerpcconnect.NewMeteringServiceClient(hc,
			api.url, opts...)
		provs[i] = p
		return nil
	})
	if err != nil {
		b.Fatalf("link providers: %v\n%s", err, s.tail())
	}
	return provs
}

// createScaleJobs has a buyer create n jobs, round robin over the
// providers, pays each one's invoice through the simulated hub and waits
// until sluiced has seen every one funded through its invoice
// subscription.
func createScaleJobs(ctx context.Context, b *testing.B, api *scaleAPI,
	s *sluiced, hub *simHub, provs []*scaleProvider, n int) []*scaleJob {

	b.Helper()
	hc, opts := api.opts(readFile(b, filepath.Join(s.dir, "regtest",
		"operator.macaroon")))
	op := sluicerpcconnect.NewOperatorServiceClient(hc, api.url, opts...)
	added, err := op.AddBuyer(ctx, connect.NewRequest(
		&sluicerpc.AddBuyerRequest{Name: "scale-buyer"}))
	if err != nil {
		b.Fatalf("add buyer: %v", err)
	}
	hc, opts = api.opts(added.Msg.BuyerMacaroon)
	buyer := sluicerpcconnect.NewJobServiceClient(hc, api.url, opts...)

	all := make([]*scaleJob, n)
	err = parallel(ctx, n, func(i int) error {
		p := provs[i%len(provs)]
		created, err := buyer.CreateJob(ctx, connect.NewRequest(
			&sluicerpc.CreateJobRequest{
				ProviderId:    p.id,
				Spec:          map[string]int64{"cpu": 2000, "mem": 1024},
				BudgetMsat:    scaleBudget,
				BufferSeconds: 5,
			}))
		if err != nil {
			return fmt.Errorf("job %d: %w", i, err)
		}
		job := created.Msg.Job
		if len(job.Invoices) == 0 {
			return fmt.Errorf("job %s has no funding invoice",
				job.JobId)
		}
		if err := hub.pay(ctx, job.Invoices[0].PaymentRequest); err != nil {
			return err
		}
		all[i] = &scaleJob{id: job.JobId, provider: p}
		return nil
	})
	if err != nil {
		b.Fatalf("create jobs: %v\n%s", err, s.tail())
	}

	eventually(b, 2*time.Minute, "every job to be funded", func() error {
		got, err := buyer.ListJobs(ctx, connect.NewRequest(
			&sluicerpc.ListJobsRequest{States: []string{"funded"}}))
		if err != nil {
			return err
		}
		if len(got.Msg.Jobs) < n {
			return fmt.Errorf("%d of %d jobs funded",
				len(got.Msg.Jobs), n)
		}
		return nil
	})
	return all
}

// presign signs every job's scaleCycles batches with its provider's agent
// key.
func presign(b *testing.B, all []*scaleJob, base int64) {
	b.Helper()
	start := time.Now()
	err := parallel(b.Context(), len(all), func(i int) error {
		j := all[i]
		for k := range scaleCycles {
			recs := make([]metering.Record, scaleBatchRecords)
			for r := range recs {
				n := k*scaleBatchRecords + r
				recs[r] = metering.Record{Seq: uint64(n + 1),
					Second: base + int64(n),
					Usage:  metering.Usage{CPU: 1000}}
			}
			batch := &metering.Batch{JobID: j.id, Records: recs}
			if err := batch.Sign(j.provider.agent); err != nil {
				return err
			}
			enc, err := batch.Encode()
			if err != nil {
				return err
			}
			j.batches = append(j.batches, enc)
		}
		return nil
	})
	if err != nil {
		b.Fatal(err)
	}
	b.Logf("signed %d batches in %v", len(all)*scaleCycles,
		time.Since(start).Round(time.Millisecond))
}

// scaleSend is one batch due.
type scaleSend struct {
	job   *scaleJob
	cycle int
}

// sendScaleBatches sends batch k of job j at first + k*scaleCycle + an
// offset spreading the jobs over the cycle, from scaleSenders goroutines,
// and records each acknowledgement as a credit of its provider. It
// samples the backlog (records due minus records acknowledged) at first
// and at each cycle's end.
func sendScaleBatches(b *testing.B, all []*scaleJob, first time.Time,
	res *scaleResult) {

	b.Helper()
	queue := make(chan scaleSend, len(all)*scaleCycles)
	var (
		due, acked atomic.Int64
		wg         sync.WaitGroup
		mu         sync.Mutex
		errs       []error
		lastAck    time.Time
	)
	ctx, cancel := context.WithCancel(b.Context())
	defer cancel()
	for range scaleSenders {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for send := range queue {
				p := send.job.provider
				resp, err := p.metering.SubmitUsage(ctx,
					connect.NewRequest(
						&sluicerpc.SubmitUsageRequest{
							Batch: send.job.batches[send.cycle],
						}))
				if err == nil && resp.Msg.Accepted !=
					scaleBatchRecords {

					err = fmt.Errorf("accepted %d: %s",
						resp.Msg.Accepted, resp.Msg.Refused)
				}
				now := time.Now()
				mu.Lock()
				if err != nil {
					errs = append(errs, fmt.Errorf("job %s "+
						"batch %d: %w", send.job.id,
						send.cycle, err))
					mu.Unlock()
					cancel()
					continue
				}
				lastAck = now
				mu.Unlock()
				acked.Add(scaleBatchRecords)
				p.mu.Lock()
				p.credits = append(p.credits, credit{
					amount: scaleBatchRecords * 1_000, at: now,
				})
				p.mu.Unlock()
			}
		}()
	}

	// Samples of the backlog at first and each cycle's end.
	sampled := make(chan struct{})
	go func() {
		defer close(sampled)
		for k := 0; k <= scaleCycles; k++ {
			select {
			case <-time.After(time.Until(first.Add(
				time.Duration(k) * scaleCycle))):
			case <-ctx.Done():
				return
			}
			res.backlog = append(res.backlog,
				due.Load()-acked.Load())
		}
	}()

	spread := scaleCycle / time.Duration(len(all))
dispatch:
	for k := range scaleCycles {
		for i, j := range all {
			at := first.Add(time.Duration(k)*scaleCycle +
				time.Duration(i)*spread)
			if d := time.Until(at); d > 0 {
				select {
				case <-time.After(d):
				case <-ctx.Done():
					break dispatch
				}
			}
			due.Add(scaleBatchRecords)
			queue <- scaleSend{job: j, cycle: k}
		}
	}
	close(queue)
	wg.Wait()
	<-sampled
	if err := errors.Join(errs...); err != nil {
		b.Fatalf("metering: %d batches refused; first: %v", len(errs),
			errs[0])
	}
	res.batches = int(acked.Load()) / scaleBatchRecords
	res.records = int(acked.Load())
	res.window = lastAck.Sub(first)
}

// peakRSS is the process's VmHWM in bytes.
func peakRSS(b *testing.B, pid int) int64 {
	b.Helper()
	raw, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		b.Fatal(err)
	}
	for _, line := range strings.Split(string(raw), "\n") {
		rest, ok := strings.CutPrefix(line, "VmHWM:")
		if !ok {
			continue
		}
		kb, err := strconv.ParseInt(strings.TrimSpace(
			strings.TrimSuffix(strings.TrimSpace(rest), "kB")), 10, 64)
		if err != nil {
			b.Fatalf("VmHWM %q: %v", line, err)
		}
		return kb << 10
	}
	b.Fatalf("no VmHWM in /proc/%d/status", pid)
	return 0
}

// writeScaleTable prints both runs and the larger's per-unit figures over
// the smaller's.
func writeScaleTable(w io.Writer, lat []time.Duration, src string,
	rs []scaleResult) error {

	_, err := fmt.Fprintf(w, "scale on a simulated hub: sluiced on "+
		"SQLite, its lnd a fake whose keysends take %d latencies "+
		"(%s; p50 %.0f ms, p99 %.0f ms); each job "+
		"sends its last %d seconds every %v for %d cycles (1 sat a "+
		"second), pre-signed, at most %d batches in flight over %d "+
		"connections; payouts every %v:\n", len(lat), src,
		ms(Percentile(lat, 50)), ms(Percentile(lat, 99)),
		scaleBatchRecords, scaleCycle, scaleCycles, scaleSenders,
		scaleConns, scalePayoutInterval)
	if err != nil {
		return err
	}
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "providers\tjobs\tbatches\tpayouts\trecords/s\t"+
		"cpu us/s\tcpu ms/payout\tstmts/payout\tstmts/batch\t"+
		"p50 ms\tp99 ms\tpeak RSS MiB\tsetup RSS MiB\t")
	for _, r := range rs {
		fmt.Fprintf(tw, "%d\t%d\t%d\t%d\t%.0f\t%.1f\t%.2f\t%.1f\t"+
			"%.2f\t%.0f\t%.0f\t%.0f\t%.0f\t\n", r.providers, r.jobs,
			r.batches, r.payouts,
			float64(r.records)/max(r.window.Seconds(), 1e-9),
			r.cpuPerSecond(), r.cpuPerPayout(),
			r.statementsPerPayout(), r.statementsPerBatch(),
			ms(r.p50), ms(r.p99), float64(r.rss)/(1<<20),
			float64(r.setupRSS)/(1<<20))
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	for _, r := range rs {
		fmt.Fprintf(w, "backlog at %d jobs (records due minus "+
			"acknowledged; when the first batch is due, then every "+
			"%v): %v", r.jobs, scaleCycle, r.backlog)
		if n := len(r.backlog); n > 2 {
			// From the end of the first cycle, when every job
			// has sent once, to the end of the minute.
			verdict := "did not grow"
			if r.backlog[n-1] > r.backlog[1]+scaleBatchRecords*
				int64(scaleSenders) {

				verdict = "GREW"
			}
			fmt.Fprintf(w, "; from %d to %d: %s", r.backlog[1],
				r.backlog[n-1], verdict)
		}
		fmt.Fprintln(w)
	}
	if len(rs) >= 2 {
		small, large := rs[0], rs[1]
		ratio := func(l, s float64) string {
			if s == 0 {
				return "n/a"
			}
			v := l / s
			verdict := "met"
			if v > scaleGoalRatio {
				verdict = "NOT met"
			}
			return fmt.Sprintf("%.2f (%s)", v, verdict)
		}
		fmt.Fprintf(w, "larger/smaller (goal <= %.2f): cpu per "+
			"metered second %s, cpu per payout %s, statements per "+
			"payout %s, statements per batch %s\n", scaleGoalRatio,
			ratio(large.cpuPerSecond(), small.cpuPerSecond()),
			ratio(large.cpuPerPayout(), small.cpuPerPayout()),
			ratio(large.statementsPerPayout(),
				small.statementsPerPayout()),
			ratio(large.statementsPerBatch(),
				small.statementsPerBatch()))
		verdict := "met"
		if large.rss >= scaleGoalRSS {
			verdict = "NOT met"
		}
		fmt.Fprintf(w, "peak RSS at %d running jobs: %.0f MiB (goal "+
			"< %d MiB: %s)\n", large.jobs,
			float64(large.rss)/(1<<20), scaleGoalRSS>>20, verdict)
	}
	_, err = fmt.Fprintln(w, "(per second: a metered second; cpu: "+
		"sluiced's utime+stime from /proc over a fresh start with the "+
		"jobs funded, the minute and the drain of the payable; "+
		"statements: its store statements in that run, start and "+
		"stop included, over payouts and over batches; p50/p99: a "+
		"batch's acknowledgement to the settle of the payout that "+
		"carried it)")
	return err
}
