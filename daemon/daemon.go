package daemon

import (
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"sync"
	"time"

	"github.com/lightninglabs/lndclient"
	"github.com/lightningnetwork/lnd/clock"
	"github.com/lightningnetwork/lnd/routing/route"
	"github.com/sluice-ln/sluice/channels"
	"github.com/sluice-ln/sluice/dashboard"
	"github.com/sluice-ln/sluice/failpoint"
	"github.com/sluice-ln/sluice/hubnode"
	"github.com/sluice-ln/sluice/ledger"
	"github.com/sluice-ln/sluice/market"
	"github.com/sluice-ln/sluice/metering"
	"github.com/sluice-ln/sluice/metrics"
	"github.com/sluice-ln/sluice/payout"
	"github.com/sluice-ln/sluice/reconcile"
	"github.com/sluice-ln/sluice/rpc"
	"github.com/sluice-ln/sluice/settlement"
	"github.com/sluice-ln/sluice/store"
	"github.com/sluice-ln/sluice/yield"
)

// StopTimeout bounds each step of Stop: draining the API, closing the store,
// closing the lnd connection. A step that overruns is abandoned with a
// warning so that sluiced always exits.
const StopTimeout = 10 * time.Second

// ErrAlreadyStarted is returned by Start on a daemon that was started
// before.
var ErrAlreadyStarted = errors.New("daemon already started")

// Daemon is a running sluiced: the lnd connection, the store and the API
// server, started in that order and stopped in reverse.
type Daemon struct {
	cfg  *Config
	logs *logging

	// clock is the one clock every subsystem reads and waits on.
	clock clock.Clock

	mu        sync.Mutex
	started   bool
	startTime time.Time
	lnd       *lndclient.GrpcLndServices
	db        *store.DB
	jobs      *settlement.Manager
	payouts   *payout.Scheduler

	// jobsL and payoutsL run the leader-only loops: on PostgreSQL
	// second instances on the fenced view, started once elected; on
	// SQLite jobs and payouts themselves.
	jobsL    *settlement.Manager
	payoutsL *payout.Scheduler

	// election starts the leader-only work and says this instance's
	// role.
	election *election

	meter  *metering.Service
	vault  *vaultLoop
	shares *sharesLoop
	server *rpc.Server

	// metricsSrv serves /metrics when --prometheus.listen is set.
	metricsSrv *metrics.Server

	// critical is closed when a subsystem logs a critical error, which
	// asks Run to shut down.
	critical     chan struct{}
	criticalOnce sync.Once
	stopOnce     sync.Once
	stopErr      error
}

// Daemon answers the API's GetInfo.
var _ rpc.InfoSource = (*Daemon)(nil)

// New sets up logging to the console and the log file and returns a daemon
// ready to Start. cfg must come from LoadConfig.
func New(cfg *Config) (*Daemon, error) {
	return newDaemon(cfg, os.Stdout)
}

// newDaemon is New with the console writer given, for tests.
func newDaemon(cfg *Config, console io.Writer) (*Daemon, error) {
	if cfg == nil || cfg.Lnd == nil || cfg.Tapd == nil || cfg.DB == nil {
		return nil, fmt.Errorf("%w: config is incomplete; build it "+
			"with LoadConfig", ErrInvalidConfig)
	}

	d := &Daemon{
		cfg:      cfg,
		clock:    clock.NewDefaultClock(),
		critical: make(chan struct{}),
	}
	logs, err := setupLogging(cfg, console, d.requestShutdown)
	if err != nil {
		return nil, err
	}
	d.logs = logs

	return d, nil
}

// requestShutdown asks Run to stop; it is called when a subsystem logs a
// critical error.
func (d *Daemon) requestShutdown() {
	d.criticalOnce.Do(func() { close(d.critical) })
}

// Run starts the daemon, waits until ctx is done (the signal handler in
// main cancels it) or a subsystem logs a critical error, and stops it. It
// returns the start error, or the stop error after a clean run.
func (d *Daemon) Run(ctx context.Context) error {
	if err := d.Start(ctx); err != nil {
		log.Errorf("sluiced cannot start: %v", err)
		return errors.Join(err, d.Stop())
	}

	select {
	case <-ctx.Done():
		log.Infof("Shutdown requested, stopping")
	case <-d.critical:
		log.Infof("Critical error logged, stopping")
	}

	return d.Stop()
}

// Start connects to lnd, opens the store and starts the API server. ctx
// bounds start-up only: cancelling it aborts a start in progress. When a
// step fails, Start undoes the steps before it and returns the error;
// either way Stop must still be called to close the log file.
func (d *Daemon) Start(ctx context.Context) error {
	d.mu.Lock()
	if d.started {
		d.mu.Unlock()
		return ErrAlreadyStarted
	}
	d.started = true
	d.startTime = d.clock.Now()
	d.mu.Unlock()

	cfg := d.cfg
	log.Infof("sluiced %s starting on %s (data %s, config %s)",
		VersionString(), cfg.Network, cfg.DataDir,
		orNone(cfg.ConfigFile))
	log.Infof("Usage signatures verified with %s", metering.Verifier())

	if err := os.MkdirAll(cfg.NetworkDir(), 0o700); err != nil {
		return fmt.Errorf("--datadir: %w", err)
	}
	if err := failpoint.Err(); err != nil {
		return err
	}
	if armed := failpoint.Armed(); len(armed) > 0 {
		log.Warnf("Failpoints armed by %s, sluiced will kill itself "+
			"at: %v", failpoint.EnvVar, armed)
	}

	services, err := ConnectLnd(ctx, cfg.Lnd, cfg.Network)
	if err != nil {
		return err
	}
	d.mu.Lock()
	d.lnd = services
	d.mu.Unlock()

	db, err := store.Open(ctx, store.Config{
		Backend:     store.Backend(cfg.DB.Backend),
		SQLitePath:  cfg.DB.SQLite.Path,
		PostgresDSN: cfg.DB.Postgres.DSN,
		InstanceID:  cfg.instanceID(),
	})
	if err != nil {
		d.stopSubsystems()
		return fmt.Errorf("open %s store: %w", cfg.DB.Backend, err)
	}
	d.mu.Lock()
	d.db = db
	d.mu.Unlock()
	log.Infof("Opened %s store", db.Backend())

	// Before anything resumes from the store: payouts it holds as
	// pending were made by its hub, and only that node can say how they
	// ended.
	err = CheckHub(ctx, storeHubs{db: db}, Hub{
		Node:    route.Vertex(services.NodePubkey),
		Network: cfg.Network,
	}, cfg.Hub != nil && cfg.Hub.AllowChange, d.clock.Now())
	if err != nil {
		d.stopSubsystems()
		return fmt.Errorf("lnd at %s: %w", cfg.Lnd.Host, err)
	}

	// The metrics, when --prometheus.listen: the subsystems report
	// their events to them, and a scrape reads the store.
	dm, err := newDaemonMetrics(cfg.Prometheus, db)
	if err != nil {
		d.stopSubsystems()
		return fmt.Errorf("metrics: %w", err)
	}

	providers, err := channels.NewManager(channels.Config{
		Store:   db,
		Hub:     hubnode.NewGraph(services.Client),
		HubNode: route.Vertex(services.NodePubkey),
		Network: cfg.Network,
		Clock:   d.clock,
	})
	if err != nil {
		d.stopSubsystems()
		return fmt.Errorf("provider linking: %w", err)
	}

	// Leader-only work writes through the fenced view: on PostgreSQL
	// its transactions commit only while this instance holds the leader
	// lease with the token it was elected with; on SQLite it is db.
	// Subsystems that serve the API or ingest usage are built on db; on
	// PostgreSQL the ones that also run leader-only loops get a second
	// instance on the fenced view, started when elected.
	el := newElection(db, nil)
	fenced := db.Fenced(el.token, el.deposed)
	multi := el.multi()
	// guard is asked before each call that moves value leaves the
	// leader-only work (outbound.Driver.Guard): on PostgreSQL the
	// leader's lease; one SQLite instance always leads.
	var guard func() error
	if multi {
		guard = el.holds
	}

	mkt := newMarket(cfg.Market, db, d.clock)
	jobs, err := newSettlement(cfg, services, db, providers, mkt, d.clock,
		dm.refunds(), nil)
	if err != nil {
		d.stopSubsystems()
		return fmt.Errorf("settlement: %w", err)
	}
	jobsL := jobs
	if multi {
		jobsL, err = newSettlement(cfg, services, fenced, providers,
			newMarket(cfg.Market, fenced, d.clock), d.clock,
			dm.refunds(), guard)
		if err != nil {
			d.stopSubsystems()
			return fmt.Errorf("settlement: %w", err)
		}
	}
	d.mu.Lock()
	d.jobs, d.jobsL = jobs, jobsL
	d.mu.Unlock()

	payouts, err := newPayouts(cfg, services, db, d.clock, dm.payouts(),
		nil)
	if err != nil {
		d.stopSubsystems()
		return fmt.Errorf("payouts: %w", err)
	}
	payoutsL := payouts
	if multi {
		payoutsL, err = newPayouts(cfg, services, fenced, d.clock,
			dm.payouts(), guard)
		if err != nil {
			d.stopSubsystems()
			return fmt.Errorf("payouts: %w", err)
		}
	}
	d.mu.Lock()
	d.payouts, d.payoutsL = payouts, payoutsL
	d.mu.Unlock()
	if !multi {
		// One instance: credits go to its scheduler from the first.
		el.setCredited(payouts.Credited)
	}

	// The lease strategy, when lease.enable: it reads the vault
	// through ref, set once the vault is built. Its requests are
	// leader-only work.
	ref := &vaultRef{}
	leases, err := newLeaseStrategy(cfg.Lease, services, fenced, ref,
		d.clock)
	if err != nil {
		d.stopSubsystems()
		return fmt.Errorf("lease strategy: %w", err)
	}
	vault, err := newVault(cfg, db, services, leases, d.clock)
	if err != nil {
		d.stopSubsystems()
		return fmt.Errorf("yield vault: %w", err)
	}
	vaultL := vault
	if multi {
		vaultL, err = newVault(cfg, fenced, services, leases, d.clock)
		if err != nil {
			d.stopSubsystems()
			return fmt.Errorf("yield vault: %w", err)
		}
	}
	ref.v = vault
	dm.setVault(vault)

	// Usage raises payable: a commit tells the payout scheduler whom,
	// through the election (a follower tells the leader). Each charge
	// also tells the vault what it earned.
	meter, err := newMetering(cfg.Metering, db, jobs, vault,
		el.Credited, dm.ingest())
	if err != nil {
		d.stopSubsystems()
		return fmt.Errorf("metering: %w", err)
	}
	meter.Start()
	d.mu.Lock()
	d.meter = meter
	d.mu.Unlock()

	// The share asset needs tapd; without it sluiced runs on and says
	// so. Its loops are leader-only work, and so are its writes.
	sharesL := newShares(ctx, cfg, fenced,
		hex.EncodeToString(services.NodePubkey[:]), d.clock, guard)
	d.mu.Lock()
	d.shares = sharesL
	d.mu.Unlock()

	// The leader-only work: settlement's invoice subscription and
	// sweeper (refunds, placements), the payout scheduler (resuming
	// pending payouts first), the vault's loop (epoch closes,
	// redemptions, strategies) and the share asset's loops.
	el.start = func(token int64) leaderHooks {
		d.startLeaderWork(token, jobsL, payoutsL, vaultL, sharesL)
		return leaderHooks{credited: payoutsL.Credited,
			wake: payoutsL.Wake}
	}
	d.mu.Lock()
	d.election = el
	d.mu.Unlock()

	history := hubnode.NewHubHistory(services.Client)
	var sharesBackend rpc.SharesBackend
	if sharesL != nil {
		sharesBackend = sharesL
	}
	// The last reconciliation is kept for the dashboard; its sessions
	// and one-time links live in memory.
	reconciler := &reconcileRecorder{
		run: func(ctx context.Context) (*reconcile.Report, error) {
			r, err := reconcile.Run(ctx, db, history)
			if err == nil && sharesL != nil {
				err = r.CompareShareAsset(ctx, sharesL)
			}
			dm.reconciled(r, err)
			return r, err
		},
		now: d.clock.Now,
	}
	sessions := dashboard.NewSessions(d.clock.Now)
	server, err := rpc.NewServer(rpc.Config{
		ListenAddr:      cfg.RPCListen,
		TLSCertPath:     cfg.TLSCertPath,
		TLSKeyPath:      cfg.TLSKeyPath,
		TLSExtraIPs:     cfg.TLSExtraIPs,
		TLSExtraDomains: cfg.TLSExtraDomains,
		MacaroonDir:     cfg.MacaroonDir,
		Info:            d,
		Providers:       providers,
		// A provider macaroon works until the provider links again.
		ProviderLinks: providers,
		Jobs:          jobs,
		Metering:      meter,
		Payouts:       payouts,
		Vault:         vault,
		Yield:         yieldBackend{Vault: vault, leader: vaultL},
		Leases:        leaseBackend(leases),
		Market:        mkt,
		Shares:        sharesBackend,
		Reconciler:    reconciler,
		Dashboard:     sessions,
	})
	if err != nil {
		d.stopSubsystems()
		return fmt.Errorf("API server: %w", err)
	}
	var dashVault dashboard.Vault
	if vault != nil {
		dashVault = vault
	}
	var shareOps dashboard.ShareOps
	if sharesL != nil {
		shareOps = sharesL
	}
	err = mountDashboard(server, dashboard.Config{
		Verifier:  server,
		Sessions:  sessions,
		Jobs:      jobs,
		Providers: providers,
		Payouts:   payouts,
		Reconcile: reconciler,
		Vault:     dashVault,
		ShareOps:  shareOps,
		Now:       d.clock.Now,
	})
	if err != nil {
		d.stopSubsystems()
		return err
	}
	if err := server.Start(); err != nil {
		d.stopSubsystems()
		return fmt.Errorf("API server (--rpclisten): %w", err)
	}
	d.mu.Lock()
	d.server = server
	d.mu.Unlock()

	// The leader-only work starts now on SQLite, and once elected on
	// PostgreSQL, whose campaign advertises the API's address.
	if err := el.run(cfg.Leader, server.Addr(), d.clock); err != nil {
		d.stopSubsystems()
		return fmt.Errorf("leader election: %w", err)
	}

	if dm != nil {
		promSrv := metrics.NewServer(cfg.Prometheus.Listen, dm.m)
		if err := promSrv.Start(); err != nil {
			d.stopSubsystems()
			return fmt.Errorf("metrics server (--prometheus.listen): "+
				"%w", err)
		}
		d.mu.Lock()
		d.metricsSrv = promSrv
		d.mu.Unlock()
	}

	log.Infof("sluiced started: hub %x, API on %s",
		services.NodePubkey[:], server.Addr())

	return nil
}

// Stop stops the API server, closes the store and the lnd connection, in
// that order, each within StopTimeout, and closes the log file. It is safe
// to call more than once and after a failed Start.
func (d *Daemon) Stop() error {
	d.stopOnce.Do(func() {
		err := d.stopSubsystems()
		if err == nil {
			log.Infof("sluiced stopped")
		} else {
			log.Warnf("sluiced stopped with errors: %v", err)
		}
		d.stopErr = errors.Join(err, d.logs.close())
	})

	return d.stopErr
}

// stopSubsystems stops whatever Start started, in reverse order, and
// forgets it.
func (d *Daemon) stopSubsystems() error {
	// First the election: no leader-only work starts after this.
	d.mu.Lock()
	el := d.election
	d.mu.Unlock()
	if el != nil {
		_ = withTimeout("stop the leader election", func() error {
			el.stop()
			return nil
		})
	}

	d.mu.Lock()
	server, payouts, jobs := d.server, d.payouts, d.jobs
	payoutsL, jobsL := d.payoutsL, d.jobsL
	meter, db, services := d.meter, d.db, d.lnd
	vault, sharesL, metricsSrv := d.vault, d.shares, d.metricsSrv
	d.server, d.payouts, d.jobs, d.db, d.lnd = nil, nil, nil, nil, nil
	d.payoutsL, d.jobsL = nil, nil
	d.meter, d.vault, d.shares, d.metricsSrv = nil, nil, nil, nil
	d.mu.Unlock()

	var errs []error
	if metricsSrv != nil {
		// First: a scrape reads the store.
		ctx, cancel := context.WithTimeout(
			context.Background(), StopTimeout,
		)
		if err := metricsSrv.Stop(ctx); err != nil {
			errs = append(errs, fmt.Errorf("stop metrics "+
				"server: %w", err))
		}
		cancel()
	}
	if server != nil {
		ctx, cancel := context.WithTimeout(
			context.Background(), StopTimeout,
		)
		if err := server.Stop(ctx); err != nil {
			errs = append(errs, err)
		}
		cancel()
	}
	if meter != nil {
		// After the API: no new batches; its commit under way ends.
		err := withTimeout("stop metering", func() error {
			meter.Stop()
			return nil
		})
		if err != nil {
			errs = append(errs, err)
		}
	}
	if vault != nil {
		// After metering: no charge is under way that stakes.
		err := withTimeout("stop the vault's loop", vault.stop)
		if err != nil {
			errs = append(errs, err)
		}
	}
	if sharesL != nil {
		// A genesis under way stays pending for the next start.
		err := withTimeout("stop shares", sharesL.stop)
		if err != nil {
			errs = append(errs, err)
		}
	}
	for _, p := range distinct(payoutsL, payouts) {
		err := withTimeout("stop payouts", func() error {
			p.Stop()
			return nil
		})
		if err != nil {
			errs = append(errs, err)
		}
	}
	for _, j := range distinct(jobsL, jobs) {
		err := withTimeout("stop settlement", func() error {
			j.Stop()
			return nil
		})
		if err != nil {
			errs = append(errs, err)
		}
	}
	if el != nil && db != nil {
		// The leader-only work has stopped: hand the lease on.
		ctx, cancel := context.WithTimeout(context.Background(),
			StopTimeout)
		el.resign(ctx)
		cancel()
	}
	if db != nil {
		err := withTimeout("close store", func() error {
			return db.Close()
		})
		if err != nil {
			errs = append(errs, err)
		}
	}
	if services != nil {
		err := withTimeout("close lnd connection", func() error {
			services.Close()
			return nil
		})
		if err != nil {
			errs = append(errs, err)
		}
	}

	return errors.Join(errs...)
}

// distinct returns the leader's instance and the API's of a subsystem,
// without nils, and once when they are one (SQLite).
func distinct[T comparable](leaders, api T) []T {
	var zero T
	var out []T
	if leaders != zero {
		out = append(out, leaders)
	}
	if api != zero && api != leaders {
		out = append(out, api)
	}
	return out
}

// withTimeout runs fn and waits for it at most StopTimeout. A step that
// overruns keeps running in the background; the caller moves on.
func withTimeout(what string, fn func() error) error {
	done := make(chan error, 1)
	go func() { done <- fn() }()

	select {
	case err := <-done:
		if err != nil {
			return fmt.Errorf("%s: %w", what, err)
		}
		return nil

	case <-time.After(StopTimeout):
		return fmt.Errorf("%s: still running after %v, abandoned",
			what, StopTimeout)
	}
}

// Info describes the running daemon for the API's GetInfo.
func (d *Daemon) Info(_ context.Context) (rpc.Info, error) {
	d.mu.Lock()
	info := d.info()
	el := d.election
	d.mu.Unlock()

	// Not under d.mu: the election takes its own lock, and holds it
	// while the leader-only work it starts takes d.mu.
	if el != nil {
		info.LeaderRole, info.LeaderToken, info.LeaderAddress =
			el.status()
	}

	return info, nil
}

// info is Info's part read under d.mu.
func (d *Daemon) info() rpc.Info {
	info := rpc.Info{
		Version:   Version,
		Network:   d.cfg.Network,
		DBBackend: d.cfg.DB.Backend,
		StartTime: d.startTime,
	}
	if d.lnd != nil {
		info.HubPubkey = d.lnd.NodePubkey
	}
	if d.db != nil {
		info.DBBackend = string(d.db.Backend())
	}

	return info
}

// startLeaderWork starts the leader-only work with the fencing token its
// writes carry (0 on SQLite, where the one instance leads): settlement's
// invoice subscription and sweeper, the payout scheduler, whose first round
// resumes pending payouts, the vault's loop and the share asset's loops.
func (d *Daemon) startLeaderWork(token int64, jobs *settlement.Manager,
	payouts *payout.Scheduler, vault *yield.Vault, sharesL *sharesLoop) {

	if token != 0 {
		log.Infof("Leading with token %d: starting settlement, "+
			"payouts, the vault's loop and shares", token)
	}
	if err := jobs.Start(); err != nil {
		log.Criticalf("Settlement: %v", err)
		return
	}
	if err := payouts.Start(); err != nil {
		log.Criticalf("Payouts: %v", err)
		return
	}
	loop := startVaultLoop(vault)
	d.mu.Lock()
	d.vault = loop
	d.mu.Unlock()
	if sharesL != nil {
		sharesL.run()
	}
}

// yieldBackend is the vault as the YieldService serves it: applying a plan
// executes its actions, leader-only work, on the leader's vault (whose
// fenced writes refuse it on a follower); the rest on the API's.
type yieldBackend struct {
	*yield.Vault
	leader *yield.Vault
}

// Apply applies a plan on the leader's vault.
func (y yieldBackend) Apply(ctx context.Context, id string) (yield.Applied,
	error) {

	return y.leader.Apply(ctx, id)
}

// RPCAddr is the API server's address once started, else the configured
// one.
func (d *Daemon) RPCAddr() string {
	d.mu.Lock()
	defer d.mu.Unlock()

	if d.server != nil {
		return d.server.Addr()
	}

	return d.cfg.RPCListen
}

func orNone(s string) string {
	if s == "" {
		return "none"
	}

	return s
}

// newSettlement builds the settlement manager on the hub's lnd, the store,
// the providers channels links and the daemon's clock; refunds, when not
// nil, is told of each refund's outcome (metrics); guard, when not nil, is
// asked before each refund leaves (the leader's lease).
func newSettlement(cfg *Config, services *lndclient.GrpcLndServices,
	db *store.DB, providers *channels.Manager, mkt *market.Market,
	clk clock.Clock, refunds settlement.RefundObserver,
	guard func() error) (
	*settlement.Manager, error) {

	marketCfg := cfg.Market
	if marketCfg == nil {
		marketCfg = defaultMarketConfig()
	}
	invoices, err := hubnode.NewHubInvoices(services.Client,
		services.Invoices, cfg.Network)
	if err != nil {
		return nil, err
	}
	return settlement.New(settlement.Config{
		DB:       db,
		Ledger:   ledger.New(store.NewLedgerStore(db), nil),
		Invoices: invoices,
		Payments: hubnode.NewHubPayments(services.Router),
		Routes:   hubnode.NewGraph(services.Client),
		Providers: settlement.ProviderLookupFunc(
			func(ctx context.Context, id string) (
				settlement.Provider, error) {

				return lookupProvider(ctx, providers, id)
			}),
		Network:       cfg.Network,
		HubNode:       route.Vertex(services.NodePubkey),
		InvoiceExpiry: cfg.Settlement.InvoiceExpiry,
		RefundFeeBase: ledger.MilliSatoshi(cfg.Settlement.RefundFeeBase),
		RefundFeePPM:  cfg.Settlement.RefundFeePPM,
		RefundRetry:   cfg.Settlement.RefundRetry,
		MaxRefundRetry: refundRetryGrowth *
			cfg.Settlement.RefundRetry,
		Placer:       placer{m: mkt},
		StartTimeout: marketCfg.StartTimeout,
		LostAfter: max(marketCfg.LostAfter,
			marketCfg.HeartbeatTimeout),
		Clock:     clk,
		Refunds:   refunds,
		SendGuard: guard,
	})
}

// refundRetryGrowth is how many times settlement.refundretry the wait
// before refunding an owed job again may grow to: 30 s grows to 30 min.
const refundRetryGrowth = 60

// lookupProvider is a linked provider as settlement needs it. The rate
// card is channels' own type, shared, not copied between packages; an
// unknown provider is channels.ErrProviderNotFound, which settlement uses.
func lookupProvider(ctx context.Context, providers *channels.Manager,
	id string) (settlement.Provider, error) {

	p, err := providers.Provider(ctx, id)
	if err != nil {
		return settlement.Provider{}, err
	}
	return settlement.Provider{ID: p.ID, Node: p.Node, Rates: p.Rates}, nil
}
