package daemon

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/lightninglabs/lndclient"
	"github.com/lightningnetwork/lnd/lnrpc/verrpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// MinLndVersion is the oldest lnd sluiced works with.
var MinLndVersion = &verrpc.Version{AppMajor: 0, AppMinor: 21, AppPatch: 0}

// RequiredLndBuildTags are the lnd sub-servers sluiced needs that are
// compiled in only with a build tag. routerrpc is needed too, but lnd has
// compiled it in unconditionally for years and release builds do not list
// it among their tags, so it is not checked here.
var RequiredLndBuildTags = []string{
	"signrpc", "walletrpc", "chainrpc", "invoicesrpc",
}

// Each way of failing to connect to lnd at start-up has its own error, so
// that the operator is told what to fix.
var (
	// ErrLndUnreachable means nothing accepted a connection at --lnd.host
	// within --lnd.dialtimeout, or lnd dropped the connection.
	ErrLndUnreachable = errors.New("lnd is unreachable")

	// ErrLndTLS means lnd's TLS certificate could not be read or did not
	// match the server at --lnd.host.
	ErrLndTLS = errors.New("lnd TLS certificate problem")

	// ErrLndMacaroon means the macaroon could not be read or lnd refused
	// it.
	ErrLndMacaroon = errors.New("lnd macaroon problem")

	// ErrLndNoWallet means lnd runs but has no wallet yet.
	ErrLndNoWallet = errors.New("lnd has no wallet")

	// ErrLndLocked means lnd's wallet is locked.
	ErrLndLocked = errors.New("lnd wallet is locked")

	// ErrLndStarting means lnd is still starting and not yet serving
	// RPCs.
	ErrLndStarting = errors.New("lnd is still starting")

	// ErrLndWrongNetwork means lnd runs on another network than
	// --network.
	ErrLndWrongNetwork = errors.New("lnd is on another network")

	// ErrLndVersion means lnd is older than MinLndVersion.
	ErrLndVersion = errors.New("lnd version too old")

	// ErrLndSubServers means lnd was built without a sub-server sluiced
	// needs.
	ErrLndSubServers = errors.New("lnd lacks required sub-servers")
)

// ConnectLnd connects to the hub lnd with lndclient and checks that it can
// serve sluiced: reachable, TLS and macaroon accepted, wallet unlocked, on
// network, at least MinLndVersion, built with RequiredLndBuildTags. It
// never blocks longer than cfg.DialTimeout plus cfg.RPCTimeout (lndclient
// would otherwise wait for an unlock or a chain sync without bound). Every
// error names lnd's host and wraps one of the ErrLnd* sentinels.
func ConnectLnd(ctx context.Context, cfg *LndConfig,
	network string) (*lndclient.GrpcLndServices, error) {

	host := cfg.Host

	// lndclient dials lazily and reports an unreachable host as an RPC
	// failure deep inside its start-up; a plain TCP dial first gives a
	// bounded, plain answer.
	dialer := net.Dialer{Timeout: cfg.DialTimeout}
	conn, err := dialer.DialContext(ctx, "tcp", host)
	if err != nil {
		return nil, fmt.Errorf("%w: cannot connect to lnd at %s "+
			"(--lnd.host, waited up to %v): %v", ErrLndUnreachable,
			host, cfg.DialTimeout, err)
	}
	_ = conn.Close()

	if _, err := os.Stat(cfg.TLSPath); err != nil {
		return nil, fmt.Errorf("%w: lnd at %s: --lnd.tlspath: %v",
			ErrLndTLS, host, err)
	}

	macPath, err := adminMacaroonPath(cfg.MacaroonPath)
	if err != nil {
		return nil, fmt.Errorf("%w: lnd at %s: --lnd.macaroonpath: %v",
			ErrLndMacaroon, host, err)
	}

	ctx, cancel := context.WithTimeout(ctx, cfg.DialTimeout+cfg.RPCTimeout)
	defer cancel()

	log.Infof("Connecting to lnd at %s (network %s)", host, network)
	services, err := lndclient.NewLndServices(&lndclient.LndServicesConfig{
		LndAddress: host,
		Network:    lndclient.Network(network),
		TLSPath:    cfg.TLSPath,

		// One admin macaroon for every sub-server: lnd bakes
		// per-sub-server macaroons only for the sub-servers it was
		// built with, so a missing file would hide the clearer
		// build-tag message below.
		CustomMacaroonPath: macPath,

		// Version and build tags are checked below, with messages
		// that say what was found; lndclient's own check folds both
		// into one message. A zero version passes its check.
		CheckVersion: &verrpc.Version{},

		// Never wait for an unlock or a chain sync: both can take
		// forever, and a locked lnd is the operator's to fix.
		BlockUntilUnlocked:    false,
		BlockUntilChainSynced: false,
		CallerCtx:             ctx,
		RPCTimeout:            cfg.RPCTimeout,
	})
	if err != nil {
		return nil, classifyLndError(
			host, network, cfg.DialTimeout+cfg.RPCTimeout, err,
		)
	}

	if err := checkLndVersion(services.Version); err != nil {
		services.Close()
		return nil, fmt.Errorf("lnd at %s: %w", host, err)
	}

	log.Infof("Connected to lnd %s at %s: node %x (%s)",
		versionString(services.Version), host,
		services.NodePubkey[:], services.NodeAlias)

	return services, nil
}

// adminMacaroonPath resolves --lnd.macaroonpath, which may name the
// macaroon file or the directory holding admin.macaroon, and checks that
// the file is readable.
func adminMacaroonPath(path string) (string, error) {
	info, err := os.Stat(path)
	if err != nil {
		return "", err
	}
	if info.IsDir() {
		path = filepath.Join(path, string(lndclient.AdminServiceMac))
	}

	f, err := os.Open(path)
	if err != nil {
		return "", err
	}
	_ = f.Close()

	return path, nil
}

// checkLndVersion checks a version lnd reported against MinLndVersion and
// RequiredLndBuildTags.
func checkLndVersion(v *verrpc.Version) error {
	if v == nil {
		return fmt.Errorf("%w: lnd reported no version", ErrLndVersion)
	}

	err := lndclient.AssertVersionCompatible(v, MinLndVersion)
	if err != nil {
		return fmt.Errorf("%w: lnd is %s, sluiced needs %s or newer",
			ErrLndVersion, versionString(v),
			versionString(MinLndVersion))
	}

	have := make(map[string]bool, len(v.BuildTags))
	for _, tag := range v.BuildTags {
		have[tag] = true
	}
	var missing []string
	for _, tag := range RequiredLndBuildTags {
		if !have[tag] {
			missing = append(missing, tag)
		}
	}
	if len(missing) > 0 {
		return fmt.Errorf("%w: lnd %s was built without %s; rebuild "+
			"it with tags=\"%s\"", ErrLndSubServers,
			versionString(v), strings.Join(missing, ", "),
			strings.Join(RequiredLndBuildTags, " "))
	}

	return nil
}

// versionString formats an lnd version as v0.21.0-beta.
func versionString(v *verrpc.Version) string {
	s := fmt.Sprintf("v%d.%d.%d", v.AppMajor, v.AppMinor, v.AppPatch)
	if v.AppPreRelease != "" {
		s += "-" + v.AppPreRelease
	}

	return s
}

// lndErrorClasses maps a fragment of an lnd or lndclient error message to the
// sentinel and the advice for it. lnd reports wallet states only as text
// (lnd's rpcperms package), and lndclient formats some errors with %v, so
// text is all there is to go on.
var lndErrorClasses = []struct {
	fragment string
	sentinel error
	advice   string
}{
	{
		"wallet locked", ErrLndLocked,
		"unlock it (lncli unlock) and start sluiced again",
	},
	{
		"wallet not created", ErrLndNoWallet,
		"create one (lncli create) and start sluiced again",
	},
	{
		"waiting to start", ErrLndStarting,
		"wait until it is up and start sluiced again",
	},
	{
		"in the process of starting up", ErrLndStarting,
		"wait until it is up and start sluiced again",
	},
	{
		"network mismatch", ErrLndWrongNetwork,
		"point --lnd.host at an lnd on that network or change " +
			"--network",
	},
	{
		"version check not implemented", ErrLndVersion,
		"upgrade lnd to " + versionString(MinLndVersion) + " or newer",
	},
	{
		"unable to get tls creds", ErrLndTLS,
		"check --lnd.tlspath",
	},
	{
		"authentication handshake failed", ErrLndTLS,
		"--lnd.tlspath must be the certificate of the lnd at " +
			"--lnd.host",
	},
	{
		"verification failed", ErrLndMacaroon,
		"--lnd.macaroonpath must be a macaroon of this lnd",
	},
	{
		"cannot get macaroon", ErrLndMacaroon,
		"check --lnd.macaroonpath",
	},
}

// classifyLndError wraps an error from lndclient's start-up in the
// matching ErrLnd* sentinel, naming the host and saying what to do.
func classifyLndError(host, network string, timeout time.Duration,
	err error) error {

	msg := err.Error()
	for _, class := range lndErrorClasses {
		if !strings.Contains(msg, class.fragment) {
			continue
		}
		if class.sentinel == ErrLndWrongNetwork {
			return fmt.Errorf("%w: lnd at %s is not on %s "+
				"(--network): %v; %s", class.sentinel, host,
				network, err, class.advice)
		}

		return fmt.Errorf("%w: lnd at %s: %v; %s", class.sentinel,
			host, err, class.advice)
	}

	s, isStatus := status.FromError(err)
	if errors.Is(err, context.DeadlineExceeded) ||
		(isStatus && s.Code() == codes.DeadlineExceeded) {

		return fmt.Errorf("%w: lnd at %s accepted a connection but "+
			"did not answer within %v: %v", ErrLndUnreachable,
			host, timeout, err)
	}

	if isStatus {
		switch s.Code() {
		case codes.Unavailable:
			return fmt.Errorf("%w: lnd at %s: %v",
				ErrLndUnreachable, host, err)

		case codes.Unauthenticated, codes.PermissionDenied:
			return fmt.Errorf("%w: lnd at %s: %v; check "+
				"--lnd.macaroonpath", ErrLndMacaroon, host,
				err)
		}
	}

	return fmt.Errorf("lnd at %s: %w", host, err)
}
