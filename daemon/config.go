package daemon

import (
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/btcsuite/btcd/btcutil"
	flags "github.com/jessevdk/go-flags"

	"github.com/sluice-ln/sluice/settlement"
	"github.com/sluice-ln/sluice/shares"
)

const (
	// DefaultConfigFilename is the name of the ini file sluiced reads from
	// its data directory when --configfile is not given.
	DefaultConfigFilename = "sluice.conf"

	// DefaultNetwork is the bitcoin network sluiced expects its lnd to be
	// on. Regtest until Sluice has run on a public network.
	DefaultNetwork = "regtest"

	// DefaultRPCListen is where the API server listens: loopback only,
	// until the operator says otherwise with --rpclisten.
	DefaultRPCListen = "127.0.0.1:10090"

	// DefaultRPCPort is the API port of an --rpclisten without one.
	DefaultRPCPort = "10090"

	// DefaultPrometheusPort is the port of a --prometheus.listen
	// without one: lnd's is 8989, so Sluice's is next to it.
	DefaultPrometheusPort = "8990"

	// DefaultLndHost is lnd's default gRPC address.
	DefaultLndHost = "127.0.0.1:10009"

	// DefaultTapdHost is tapd's default gRPC address.
	DefaultTapdHost = "127.0.0.1:10029"

	// DefaultLndDialTimeout bounds how long start-up waits for lnd to
	// accept a TCP connection. It is short so that sluiced without a
	// reachable lnd fails in seconds, naming the host.
	DefaultLndDialTimeout = 5 * time.Second

	// DefaultLndRPCTimeout bounds each call to lnd, including the
	// start-up checks once lnd has accepted the connection.
	DefaultLndRPCTimeout = 30 * time.Second

	// DefaultDebugLevel is the log level of every subsystem unless
	// --debuglevel says otherwise.
	DefaultDebugLevel = "info"

	// DefaultMaxLogFiles is how many rotated log files are kept.
	DefaultMaxLogFiles = 10

	// DefaultMaxLogFileSize is the size in MB at which the log rotates.
	DefaultMaxLogFileSize = 20

	// SQLiteFilename is the database file under <datadir>/<network>/.
	SQLiteFilename = "sluice.db"

	// LogFilename is the log file under <logdir>/<network>/.
	LogFilename = "sluiced.log"

	// DBBackendSQLite selects the embedded SQLite store.
	DBBackendSQLite = "sqlite"

	// DBBackendPostgres selects the PostgreSQL store.
	DBBackendPostgres = "postgres"

	// DefaultInvoiceExpiry is how long a job's funding or top-up invoice
	// may be paid.
	DefaultInvoiceExpiry = time.Hour

	// DefaultRefundFeeBase and DefaultRefundFeePPM bound a refund's
	// routing fee: base msat + ppm of the escrow.
	DefaultRefundFeeBase = 1000
	DefaultRefundFeePPM  = 5000
)

// Networks are the values --network accepts, with lnd's names for them.
var Networks = []string{"regtest", "testnet", "signet", "mainnet", "simnet"}

var (
	// ErrHelpRequested is returned by LoadConfig when -h/--help was given;
	// the help text is in the error message and the process should exit 0
	// after printing it.
	ErrHelpRequested = errors.New("help requested")

	// ErrVersionRequested is returned by LoadConfig when -V/--version was
	// given; the caller prints the version and exits 0.
	ErrVersionRequested = errors.New("version requested")

	// ErrInvalidConfig is wrapped by every error about a bad option value,
	// from a flag or from the config file.
	ErrInvalidConfig = errors.New("invalid configuration")
)

// DefaultDataDir is sluiced's home: ~/.sluice on Unix.
var DefaultDataDir = btcutil.AppDataDir("sluice", false)

// defaultLndDir is lnd's home, where its TLS certificate and macaroons live
// unless the lnd.* options say otherwise.
var defaultLndDir = btcutil.AppDataDir("lnd", false)

// defaultTapdDir is tapd's home.
var defaultTapdDir = btcutil.AppDataDir("tapd", false)

// LndConfig says how to reach the hub lnd.
//
//nolint:ll
type LndConfig struct {
	Host         string        `long:"host" description:"lnd's gRPC address, host:port"`
	TLSPath      string        `long:"tlspath" description:"lnd's TLS certificate (default: ~/.lnd/tls.cert)"`
	MacaroonPath string        `long:"macaroonpath" description:"lnd's admin.macaroon, or the directory holding it (default: ~/.lnd/data/chain/bitcoin/<network>/admin.macaroon)"`
	DialTimeout  time.Duration `long:"dialtimeout" description:"how long start-up waits for lnd to accept a connection"`
	RPCTimeout   time.Duration `long:"rpctimeout" description:"how long any single call to lnd may take"`
}

// TapdConfig says how to reach the hub's tapd, which mints the reward
// shares (package shares). When it is unreachable sluiced runs without them.
//
//nolint:ll
type TapdConfig struct {
	Host         string        `long:"host" description:"tapd's gRPC address, host:port"`
	TLSPath      string        `long:"tlspath" description:"tapd's TLS certificate (default: ~/.tapd/tls.cert)"`
	MacaroonPath string        `long:"macaroonpath" description:"tapd's admin.macaroon (default: ~/.tapd/data/<network>/admin.macaroon)"`
	SharesSync   time.Duration `long:"sharesync" description:"how often closed reward epochs are minted into tapd as tranches and redeemed shares burned (default 10s)"`

	WithdrawInterval time.Duration `long:"withdrawinterval" description:"how often the queued share withdrawals are sent, all in one tapd send"`

	DepositInterval time.Duration `long:"depositinterval" description:"how often the hub's tapd is read for shares received at the providers' deposit addresses, to credit them"`
}

// SQLiteConfig configures the embedded store.
//
//nolint:ll
type SQLiteConfig struct {
	Path string `long:"path" description:"the SQLite database file (default: <datadir>/<network>/sluice.db)"`
}

// PostgresConfig configures the PostgreSQL store.
//
//nolint:ll
type PostgresConfig struct {
	DSN string `long:"dsn" description:"PostgreSQL connection string, e.g. postgres://user@127.0.0.1:5432/sluice?sslmode=disable"`
}

// DBConfig selects and configures the store.
//
//nolint:ll
type DBConfig struct {
	Backend  string          `long:"backend" description:"the store backend" choice:"sqlite" choice:"postgres"`
	SQLite   *SQLiteConfig   `group:"sqlite" namespace:"sqlite"`
	Postgres *PostgresConfig `group:"postgres" namespace:"postgres"`
	Instance string          `long:"instance" description:"this sluiced's name in the store's instance registry, which holds back a breaking migration while an instance whose binary lacks it runs (docs/operations.md \"Upgrading\"); keep it stable across restarts (default: <hostname>:<rpclisten>)"`
}

// Config is sluiced's configuration: defaults, overridden by sluice.conf,
// overridden by command-line flags. Paths left empty are derived from the
// data directory and network by LoadConfig.
//
//nolint:ll
type Config struct {
	ShowVersion bool   `short:"V" long:"version" description:"print the version and exit" no-ini:"true"`
	ConfigFile  string `long:"configfile" description:"the config file (default: <datadir>/sluice.conf)" no-ini:"true"`

	DataDir   string `long:"datadir" description:"the directory for sluiced's data"`
	Network   string `long:"network" description:"the bitcoin network lnd must be on" choice:"regtest" choice:"testnet" choice:"signet" choice:"mainnet" choice:"simnet"`
	RPCListen string `long:"rpclisten" description:"the API server's address: host:port, :port (every interface), or a host or IP alone (port 10090); a host name must resolve. Anything but loopback is reachable from other machines"`

	TLSCertPath     string   `long:"tlscertpath" description:"the API's TLS certificate, made on first start (default: <datadir>/tls.cert)"`
	TLSKeyPath      string   `long:"tlskeypath" description:"the API's TLS key, made on first start (default: <datadir>/tls.key)"`
	TLSExtraIPs     []string `long:"tlsextraip" description:"an IP address to add to the self-signed TLS certificate, besides 127.0.0.1 and ::1; repeat for several. A certificate sluiced made is made again when these change"`
	TLSExtraDomains []string `long:"tlsextradomain" description:"a domain name to add to the self-signed TLS certificate, besides localhost; repeat for several. A certificate sluiced made is made again when these change"`
	MacaroonDir     string   `long:"macaroondir" description:"where the API's macaroons are baked on first start (default: <datadir>/<network>)"`

	DebugLevel     string `long:"debuglevel" description:"log level for all subsystems, or per subsystem: info or LDGR=debug,STOR=trace or info,RPCS=debug; levels: trace, debug, info, warn, error, critical, off"`
	LogDir         string `long:"logdir" description:"the directory for log files (default: <datadir>/logs)"`
	MaxLogFiles    int    `long:"maxlogfiles" description:"how many rotated log files to keep (0 keeps all)"`
	MaxLogFileSize int    `long:"maxlogfilesize" description:"log file size in MB at which it rotates"`

	CPUProfile string `long:"cpuprofile" description:"write a Go CPU profile of the whole run to this file, finished at shutdown (for go tool pprof); off when empty"`

	Lnd  *LndConfig  `group:"lnd" namespace:"lnd"`
	Tapd *TapdConfig `group:"tapd" namespace:"tapd"`
	DB   *DBConfig   `group:"db" namespace:"db"`
	Hub  *HubConfig  `group:"hub" namespace:"hub"`

	Leader *LeaderConfig `group:"leader" namespace:"leader"`

	Settlement *SettlementConfig `group:"settlement" namespace:"settlement"`
	Payout     *PayoutConfig     `group:"payout" namespace:"payout"`
	Metering   *MeteringConfig   `group:"metering" namespace:"metering"`
	Yield      *YieldConfig      `group:"yield" namespace:"yield"`
	Routing    *RoutingConfig    `group:"routing" namespace:"routing"`
	Lease      *LeaseConfig      `group:"lease" namespace:"lease"`
	Market     *MarketConfig     `group:"market" namespace:"market"`
	Prometheus *PrometheusConfig `group:"prometheus" namespace:"prometheus"`
}

// PrometheusConfig holds the prometheus.* options.
//
//nolint:ll
type PrometheusConfig struct {
	Listen string `long:"listen" description:"serve Prometheus metrics over plain HTTP at http://<listen>/metrics: host:port, :port (every interface), or a host or IP alone (port 8990); off when empty (the default). Anything but loopback is reachable from other machines"`
}

// HubConfig holds the hub.* options: what to do when the store was made
// with another hub.
//
//nolint:ll
type HubConfig struct {
	AllowChange bool `long:"allowchange" description:"start even though the store was recorded with another lnd node or network, and record this one as its hub; pending payouts are then sent again from this node (paid twice if the old node had sent them): see docs/operations.md"`
}

// SettlementConfig holds the settlement.* options: jobs' invoices and
// refunds.
type SettlementConfig struct {
	InvoiceExpiry time.Duration `long:"invoiceexpiry" description:"how long a job's funding or top-up invoice may be paid (1s to 720h)"`
	RefundFeeBase int64         `long:"refundfeebase" description:"the most a refund's routing may cost, in msat, besides refundfeeppm"`
	RefundFeePPM  int64         `long:"refundfeeppm" description:"the most a refund's routing may cost, in millionths of the refund, besides refundfeebase"`
	RefundRetry   time.Duration `long:"refundretry" description:"how long an ended job that still owes its buyer (its refund found no route or failed) waits before it is refunded again by keysend; the wait doubles with each try, up to 60 times this (1s to 24h)"`
}

// DefaultConfig returns the configuration with every default filled in
// that does not depend on other options.
func DefaultConfig() Config {
	return Config{
		DataDir:        DefaultDataDir,
		Network:        DefaultNetwork,
		RPCListen:      DefaultRPCListen,
		DebugLevel:     DefaultDebugLevel,
		MaxLogFiles:    DefaultMaxLogFiles,
		MaxLogFileSize: DefaultMaxLogFileSize,
		Lnd: &LndConfig{
			Host:        DefaultLndHost,
			DialTimeout: DefaultLndDialTimeout,
			RPCTimeout:  DefaultLndRPCTimeout,
		},
		Tapd: &TapdConfig{
			Host:             DefaultTapdHost,
			WithdrawInterval: shares.DefaultRoundInterval,
			DepositInterval:  shares.DefaultDepositInterval,
		},
		DB: &DBConfig{
			Backend:  DBBackendSQLite,
			SQLite:   &SQLiteConfig{},
			Postgres: &PostgresConfig{},
		},
		Hub:    &HubConfig{},
		Leader: defaultLeaderConfig(),
		Settlement: &SettlementConfig{
			InvoiceExpiry: DefaultInvoiceExpiry,
			RefundFeeBase: DefaultRefundFeeBase,
			RefundRetry:   settlement.DefaultRefundRetry,
			RefundFeePPM:  DefaultRefundFeePPM,
		},
		Payout:   defaultPayoutConfig(),
		Metering: DefaultMeteringConfig(),
		Yield:    defaultYieldConfig(),
		Routing:  defaultRoutingConfig(),
		Lease:    defaultLeaseConfig(),
		Market:   defaultMarketConfig(),

		Prometheus: &PrometheusConfig{},
	}
}

// LoadConfig builds the configuration from args (without the program name)
// the way lnd does: defaults, then the ini config file, then the flags
// again so that they win. The config file is --configfile when given (it
// must exist), else sluice.conf in --datadir (read only if present). The
// result is validated and its derived paths are filled in.
func LoadConfig(args []string) (*Config, error) {
	// A first pass over the flags finds --help, --version, --configfile
	// and --datadir, which decide which file to read.
	preCfg := DefaultConfig()
	rest, err := newParser(&preCfg).ParseArgs(args)
	if err != nil {
		return nil, flagError(err)
	}
	if preCfg.ShowVersion {
		return nil, ErrVersionRequested
	}
	if len(rest) > 0 {
		return nil, fmt.Errorf("%w: unexpected arguments %q (sluiced "+
			"takes only options)", ErrInvalidConfig, rest)
	}

	configFile := preCfg.ConfigFile
	mustExist := configFile != ""
	if configFile == "" {
		configFile = filepath.Join(
			cleanPath(preCfg.DataDir), DefaultConfigFilename,
		)
	}
	configFile = cleanPath(configFile)

	cfg := DefaultConfig()
	parser := newParser(&cfg)
	err = flags.NewIniParser(parser).ParseFile(configFile)
	switch {
	case err == nil:

	case errors.Is(err, os.ErrNotExist) && !mustExist:
		configFile = ""

	case errors.Is(err, os.ErrNotExist):
		return nil, fmt.Errorf("%w: --configfile: %s does not exist",
			ErrInvalidConfig, configFile)

	default:
		return nil, fmt.Errorf("%w: config file %s: %v",
			ErrInvalidConfig, configFile, err)
	}

	if _, err := parser.ParseArgs(args); err != nil {
		return nil, flagError(err)
	}
	cfg.ConfigFile = configFile

	if err := cfg.validate(); err != nil {
		return nil, err
	}

	return &cfg, nil
}

// newParser returns a go-flags parser for cfg that leaves printing to the
// caller and refuses positional arguments.
func newParser(cfg *Config) *flags.Parser {
	return flags.NewParser(cfg, flags.HelpFlag|flags.PassDoubleDash)
}

// flagError turns a go-flags error into ErrHelpRequested (keeping the help
// text as the message) or an ErrInvalidConfig.
func flagError(err error) error {
	var fErr *flags.Error
	if errors.As(err, &fErr) && fErr.Type == flags.ErrHelp {
		return fmt.Errorf("%w\n%s", ErrHelpRequested, fErr.Message)
	}

	return fmt.Errorf("%w: %v", ErrInvalidConfig, err)
}

// invalid makes the error for a bad option value.
func invalid(option, format string, args ...any) error {
	return fmt.Errorf("%w: --%s: %s", ErrInvalidConfig, option,
		fmt.Sprintf(format, args...))
}

// validate checks every option and fills in the paths that derive from the
// data directory and the network.
func (c *Config) validate() error {
	if c.DataDir == "" {
		return invalid("datadir", "must not be empty")
	}
	c.DataDir = cleanPath(c.DataDir)

	if !isKnownNetwork(c.Network) {
		return invalid("network", "%q is not one of %s", c.Network,
			strings.Join(Networks, ", "))
	}

	listen, err := normalizeListen(c.RPCListen, DefaultRPCPort)
	if err != nil {
		return invalid("rpclisten", "%v", err)
	}
	c.RPCListen = listen
	if err := c.validatePrometheus(); err != nil {
		return err
	}
	for _, ip := range c.TLSExtraIPs {
		if net.ParseIP(ip) == nil {
			return invalid("tlsextraip", "%q is not an IP address",
				ip)
		}
	}
	for _, domain := range c.TLSExtraDomains {
		if strings.TrimSpace(domain) == "" ||
			strings.ContainsAny(domain, " \t/:") {

			return invalid("tlsextradomain", "%q is not a domain "+
				"name", domain)
		}
	}

	if c.TLSCertPath == "" {
		c.TLSCertPath = filepath.Join(c.DataDir, "tls.cert")
	}
	c.TLSCertPath = cleanPath(c.TLSCertPath)
	if c.TLSKeyPath == "" {
		c.TLSKeyPath = filepath.Join(c.DataDir, "tls.key")
	}
	c.TLSKeyPath = cleanPath(c.TLSKeyPath)
	if c.TLSCertPath == c.TLSKeyPath {
		return invalid("tlskeypath", "is the same file as "+
			"--tlscertpath (%s)", c.TLSCertPath)
	}
	if c.MacaroonDir == "" {
		c.MacaroonDir = c.NetworkDir()
	}
	c.MacaroonDir = cleanPath(c.MacaroonDir)

	if err := ValidateDebugLevel(c.DebugLevel); err != nil {
		return invalid("debuglevel", "%v", err)
	}
	if c.LogDir == "" {
		c.LogDir = filepath.Join(c.DataDir, "logs")
	}
	c.LogDir = cleanPath(c.LogDir)
	if c.MaxLogFiles < 0 {
		return invalid("maxlogfiles", "%d is negative", c.MaxLogFiles)
	}
	if c.MaxLogFileSize <= 0 {
		return invalid("maxlogfilesize", "%d is not positive",
			c.MaxLogFileSize)
	}

	if err := c.validateLnd(); err != nil {
		return err
	}
	if err := c.validateTapd(); err != nil {
		return err
	}
	if err := c.validateSettlement(); err != nil {
		return err
	}
	if err := c.validatePayout(); err != nil {
		return err
	}
	if err := c.Metering.validate(); err != nil {
		return err
	}
	if err := c.validateYield(); err != nil {
		return err
	}
	if err := c.validateLease(); err != nil {
		return err
	}
	if err := c.validateMarket(); err != nil {
		return err
	}
	if err := c.validateLeader(); err != nil {
		return err
	}

	return c.validateDB()
}

// validateSettlement checks the settlement.* options.
func (c *Config) validateSettlement() error {
	s := c.Settlement
	switch {
	case s.InvoiceExpiry < time.Second || s.InvoiceExpiry > 720*time.Hour:
		return invalid("settlement.invoiceexpiry", "%v is outside 1s "+
			"to 720h", s.InvoiceExpiry)
	case s.RefundFeeBase < 0:
		return invalid("settlement.refundfeebase", "%d is negative",
			s.RefundFeeBase)
	case s.RefundFeePPM < 0 || s.RefundFeePPM > 1_000_000:
		return invalid("settlement.refundfeeppm", "%d is outside 0 "+
			"to 1000000", s.RefundFeePPM)
	case s.RefundRetry < time.Second || s.RefundRetry > 24*time.Hour:
		return invalid("settlement.refundretry", "%v is outside 1s "+
			"to 24h", s.RefundRetry)
	}
	return nil
}

// validateLnd checks the lnd.* options and derives lnd's default paths for
// the network.
func (c *Config) validateLnd() error {
	if err := checkHostPort(c.Lnd.Host); err != nil {
		return invalid("lnd.host", "%v", err)
	}
	if c.Lnd.DialTimeout <= 0 {
		return invalid("lnd.dialtimeout", "%v is not positive",
			c.Lnd.DialTimeout)
	}
	if c.Lnd.RPCTimeout <= 0 {
		return invalid("lnd.rpctimeout", "%v is not positive",
			c.Lnd.RPCTimeout)
	}

	if c.Lnd.TLSPath == "" {
		c.Lnd.TLSPath = filepath.Join(defaultLndDir, "tls.cert")
	}
	c.Lnd.TLSPath = cleanPath(c.Lnd.TLSPath)

	if c.Lnd.MacaroonPath == "" {
		c.Lnd.MacaroonPath = filepath.Join(
			defaultLndDir, "data", "chain", "bitcoin", c.Network,
			"admin.macaroon",
		)
	}
	c.Lnd.MacaroonPath = cleanPath(c.Lnd.MacaroonPath)

	return nil
}

// validateTapd checks the tapd.* options and derives tapd's default paths.
func (c *Config) validateTapd() error {
	if err := checkHostPort(c.Tapd.Host); err != nil {
		return invalid("tapd.host", "%v", err)
	}
	if c.Tapd.TLSPath == "" {
		c.Tapd.TLSPath = filepath.Join(defaultTapdDir, "tls.cert")
	}
	c.Tapd.TLSPath = cleanPath(c.Tapd.TLSPath)

	if c.Tapd.MacaroonPath == "" {
		c.Tapd.MacaroonPath = filepath.Join(
			defaultTapdDir, "data", c.Network, "admin.macaroon",
		)
	}
	c.Tapd.MacaroonPath = cleanPath(c.Tapd.MacaroonPath)

	switch {
	case c.Tapd.SharesSync == 0:
		c.Tapd.SharesSync = shares.DefaultSyncInterval
	case c.Tapd.SharesSync < 0:
		return invalid("tapd.sharesync", "%v is negative",
			c.Tapd.SharesSync)
	}
	if c.Tapd.WithdrawInterval < time.Second {
		return invalid("tapd.withdrawinterval", "%v is below 1s",
			c.Tapd.WithdrawInterval)
	}
	if c.Tapd.DepositInterval < time.Second {
		return invalid("tapd.depositinterval", "%v is below 1s",
			c.Tapd.DepositInterval)
	}

	return nil
}

// validateDB checks the db.* options and derives the SQLite path.
func (c *Config) validateDB() error {
	if c.DB.SQLite.Path == "" {
		c.DB.SQLite.Path = filepath.Join(c.NetworkDir(), SQLiteFilename)
	}
	c.DB.SQLite.Path = cleanPath(c.DB.SQLite.Path)

	switch c.DB.Backend {
	case DBBackendSQLite:

	case DBBackendPostgres:
		if strings.TrimSpace(c.DB.Postgres.DSN) == "" {
			return invalid("db.postgres.dsn", "is required when "+
				"--db.backend=postgres")
		}

	default:
		return invalid("db.backend", "%q is not one of %s, %s",
			c.DB.Backend, DBBackendSQLite, DBBackendPostgres)
	}

	return nil
}

// NetworkDir is the per-network directory under the data directory.
func (c *Config) NetworkDir() string {
	return filepath.Join(c.DataDir, c.Network)
}

// LogFile is the path of the current log file.
func (c *Config) LogFile() string {
	return filepath.Join(c.LogDir, c.Network, LogFilename)
}

func isKnownNetwork(network string) bool {
	for _, n := range Networks {
		if n == network {
			return true
		}
	}

	return false
}

// checkHostPort says whether addr is host:port with a non-empty host and a
// port in 1..65535.
func checkHostPort(addr string) error {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return fmt.Errorf("%q is not host:port: %w", addr, err)
	}
	if host == "" {
		return fmt.Errorf("%q has no host", addr)
	}
	p, err := strconv.ParseUint(port, 10, 16)
	if err != nil || p == 0 {
		return fmt.Errorf("%q: port %q is not a number in 1..65535",
			addr, port)
	}

	return nil
}

// validatePrometheus checks --prometheus.listen, when set, as --rpclisten
// is checked (after it): the metrics need a port of their own.
func (c *Config) validatePrometheus() error {
	if c.Prometheus == nil || c.Prometheus.Listen == "" {
		return nil
	}
	listen, err := normalizeListen(c.Prometheus.Listen,
		DefaultPrometheusPort)
	if err != nil {
		return invalid("prometheus.listen", "%v", err)
	}
	if listen == c.RPCListen {
		return invalid("prometheus.listen", "%s is the API's address "+
			"(--rpclisten)", listen)
	}
	c.Prometheus.Listen = listen
	return nil
}

// normalizeListen checks a listen address (--rpclisten,
// --prometheus.listen) the way lnd checks its own: host:port, :port (every
// interface), or a host or IP alone, which gets defaultPort; IPv6
// addresses in brackets, or bare without a port. A host name must resolve.
// It returns the address as host:port.
func normalizeListen(addr, defaultPort string) (string, error) {
	if strings.TrimSpace(addr) == "" {
		return "", errors.New("must not be empty")
	}

	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		// No port: the whole is the host (an IPv6 address may
		// come in brackets).
		host, port = addr, defaultPort
		if strings.HasPrefix(host, "[") &&
			strings.HasSuffix(host, "]") {

			host = host[1 : len(host)-1]
		}
		if strings.ContainsAny(host, "[]") ||
			(strings.Contains(host, ":") &&
				net.ParseIP(host) == nil) {

			return "", fmt.Errorf("%q is not host:port: %w", addr,
				err)
		}
	}
	p, err := strconv.ParseUint(port, 10, 16)
	if err != nil || p == 0 {
		return "", fmt.Errorf("%q: port %q is not a number in "+
			"1..65535", addr, port)
	}

	hostPort := net.JoinHostPort(host, port)
	if _, err := net.ResolveTCPAddr("tcp", hostPort); err != nil {
		return "", fmt.Errorf("%q does not resolve: %w", addr, err)
	}

	return hostPort, nil
}

// cleanPath expands a leading ~ or ~/ to the home directory and environment
// variables, and cleans the result.
func cleanPath(path string) string {
	if path == "" {
		return ""
	}

	if path == "~" || strings.HasPrefix(path, "~/") {
		if home, err := os.UserHomeDir(); err == nil {
			path = home + path[1:]
		}
	}

	return filepath.Clean(os.ExpandEnv(path))
}

// instanceID is db.instance, or <hostname>:<rpclisten>: stable across
// restarts of one instance, distinct between instances on one host.
func (c *Config) instanceID() string {
	if c.DB.Instance != "" {
		return c.DB.Instance
	}
	host, err := os.Hostname()
	if err != nil {
		host = "localhost"
	}

	return host + ":" + c.RPCListen
}
