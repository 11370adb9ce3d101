package daemon

import (
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"sync"

	"github.com/btcsuite/btclog/v2"
	"github.com/jrick/logrotate/rotator"
	"github.com/lightninglabs/lndclient"
	"github.com/lightningnetwork/lnd/build"
	"github.com/sluice-ln/sluice/channels"
	"github.com/sluice-ln/sluice/dashboard"
	"github.com/sluice-ln/sluice/leader"
	"github.com/sluice-ln/sluice/ledger"
	"github.com/sluice-ln/sluice/market"
	"github.com/sluice-ln/sluice/metering"
	"github.com/sluice-ln/sluice/metrics"
	"github.com/sluice-ln/sluice/outbound"
	"github.com/sluice-ln/sluice/payout"
	"github.com/sluice-ln/sluice/reconcile"
	"github.com/sluice-ln/sluice/rpc"
	"github.com/sluice-ln/sluice/settlement"
	"github.com/sluice-ln/sluice/shares"
	"github.com/sluice-ln/sluice/store"
	"github.com/sluice-ln/sluice/yield"
	"github.com/sluice-ln/sluice/yield/lease"
)

// Subsystem is this package's logging subsystem name.
const Subsystem = "SLCD"

var log = btclog.Disabled

// UseLogger sets the package logger; the daemon calls it at start.
func UseLogger(logger btclog.Logger) { log = logger }

// lndclientSubsystem is lndclient's logger name (its log.go uses "LNDC"
// without exporting it).
const lndclientSubsystem = "LNDC"

// subsystem is one package logger the daemon sets up.
type subsystem struct {
	name string
	use  func(btclog.Logger)
}

// subsystems lists every package logger: each Sluice package's Subsystem
// and UseLogger, and the libraries whose logs an operator wants to see.
// --debuglevel accepts exactly these names.
func subsystems() []subsystem {
	return []subsystem{
		{Subsystem, UseLogger},
		{ledger.Subsystem, ledger.UseLogger},
		{channels.Subsystem, channels.UseLogger},
		{store.Subsystem, store.UseLogger},
		{leader.Subsystem, leader.UseLogger},
		{rpc.Subsystem, rpc.UseLogger},
		{dashboard.Subsystem, dashboard.UseLogger},
		{settlement.Subsystem, settlement.UseLogger},
		{payout.Subsystem, payout.UseLogger},
		{outbound.Subsystem, outbound.UseLogger},
		{reconcile.Subsystem, reconcile.UseLogger},
		{metering.Subsystem, metering.UseLogger},
		{yield.Subsystem, yield.UseLogger},
		{lease.Subsystem, lease.UseLogger},
		{market.Subsystem, market.UseLogger},
		{shares.Subsystem, shares.UseLogger},
		{metrics.Subsystem, metrics.UseLogger},
		{lndclientSubsystem, lndclient.UseLogger},
	}
}

// SubsystemNames returns the subsystem names --debuglevel accepts, sorted.
func SubsystemNames() []string {
	var names []string
	for _, s := range subsystems() {
		names = append(names, s.name)
	}
	sort.Strings(names)

	return names
}

// ValidateDebugLevel checks a --debuglevel value in lnd's syntax: a level
// for every subsystem (info), subsystem=level pairs (LDGR=debug,STOR=trace),
// or a global level followed by pairs (info,RPCS=debug). An unknown level
// or subsystem name is an error that lists the valid ones.
func ValidateDebugLevel(level string) error {
	manager := build.NewSubLoggerManager()
	for _, s := range subsystems() {
		manager.RegisterSubLogger(
			s.name, btclog.NewSLogger(btclog.NewDefaultHandler(
				io.Discard,
			)),
		)
	}

	return build.ParseAndSetDebugLevels(level, manager)
}

// logging is sluiced's root log handler: a console handler and a rotating
// log file, one sub-logger per subsystem.
type logging struct {
	file    *logFile
	manager *build.SubLoggerManager
}

// setupLogging opens the log file under cfg's log directory, makes one
// sub-logger per subsystem writing to console and file, hands each to its
// package's UseLogger and applies --debuglevel. A critical log line from
// any subsystem calls shutdown.
func setupLogging(cfg *Config, console io.Writer,
	shutdown func()) (*logging, error) {

	file, err := openLogFile(
		cfg.LogFile(), cfg.MaxLogFileSize, cfg.MaxLogFiles,
	)
	if err != nil {
		return nil, fmt.Errorf("--logdir: log file %s: %w",
			cfg.LogFile(), err)
	}

	manager := build.NewSubLoggerManager(
		btclog.NewDefaultHandler(console),
		btclog.NewDefaultHandler(file),
	)
	for _, s := range subsystems() {
		s.use(manager.GenSubLogger(s.name, shutdown))
	}

	err = build.ParseAndSetDebugLevels(cfg.DebugLevel, manager)
	if err != nil {
		_ = file.Close()
		return nil, fmt.Errorf("%w: --debuglevel: %v",
			ErrInvalidConfig, err)
	}

	return &logging{file: file, manager: manager}, nil
}

// close flushes and closes the log file. Package loggers are switched off
// first so that nothing writes to a closed file.
func (l *logging) close() error {
	for _, s := range subsystems() {
		s.use(btclog.Disabled)
	}

	return l.file.Close()
}

// logFile is the rotating log file: it rolls over to a gzipped file when it
// reaches its size limit and keeps a bounded number of them. lnd's
// build.RotatingLogWriter wraps the same rotator but also runs the
// rotator's reader loop, which races with its writes (the race detector
// flags it), so sluiced writes to the rotator directly.
type logFile struct {
	mu      sync.Mutex
	rotator *rotator.Rotator
	closed  bool
}

// openLogFile opens path for appending, creating its directory, rotating at
// maxSizeMB and keeping maxFiles rotated files (0 keeps all).
func openLogFile(path string, maxSizeMB, maxFiles int) (*logFile, error) {
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return nil, err
	}
	r, err := rotator.New(path, int64(maxSizeMB)*1024, false, maxFiles)
	if err != nil {
		return nil, err
	}

	return &logFile{rotator: r}, nil
}

// Write appends p to the file; writes after Close are dropped.
func (f *logFile) Write(p []byte) (int, error) {
	f.mu.Lock()
	defer f.mu.Unlock()

	if f.closed {
		return len(p), nil
	}

	return f.rotator.Write(p)
}

// Close closes the file.
func (f *logFile) Close() error {
	f.mu.Lock()
	defer f.mu.Unlock()

	if f.closed {
		return nil
	}
	f.closed = true

	return f.rotator.Close()
}
