package devnet

import (
	"bufio"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"time"
)

// The five daemons the network runs, by binary name.
const (
	BinBtcd   = "btcd"
	BinLnd    = "lnd"
	BinLncli  = "lncli"
	BinTapd   = "tapd"
	BinTapcli = "tapcli"
)

// ToolsDir is the nested module, relative to the repository root, that pins
// the daemons' versions.
const ToolsDir = "devnet/tools"

// BuildTags are the tags every daemon is built with. They are lnd's RPC
// sub-servers that Sluice and tapd use; tapd itself needs no tags (its
// release adds only "monitoring", for Prometheus), and building everything
// with one tag set lets lnd and lncli share compiled packages.
var BuildTags = []string{
	"signrpc", "walletrpc", "chainrpc", "invoicesrpc", "routerrpc",
	"peersrpc",
}

// daemons lists the binaries in build order with their main packages.
// Cheap ones first, so a broken toolchain shows up early.
var daemons = []struct {
	name string
	pkg  string
}{
	{BinBtcd, "github.com/btcsuite/btcd"},
	{BinLnd, "github.com/lightningnetwork/lnd/cmd/lnd"},
	{BinLncli, "github.com/lightningnetwork/lnd/cmd/lncli"},
	{BinTapd, "github.com/lightninglabs/taproot-assets/cmd/tapd"},
	{BinTapcli, "github.com/lightninglabs/taproot-assets/cmd/tapcli"},
}

// ErrBinaryMissing is returned when a binaries directory lacks a daemon.
var ErrBinaryMissing = errors.New("daemon binary missing")

// Binaries is a directory holding the five daemon binaries.
type Binaries struct {
	// Dir is the directory with btcd, lnd, lncli, tapd and tapcli.
	Dir string
}

// Path returns the path of the named binary (one of the Bin constants).
func (b Binaries) Path(name string) string {
	return filepath.Join(b.Dir, name)
}

// Check returns ErrBinaryMissing naming the first daemon that is absent or
// not executable.
func (b Binaries) Check() error {
	for _, d := range daemons {
		if !isExecutable(b.Path(d.name)) {
			return fmt.Errorf("%w: %s not found or not executable "+
				"in %s", ErrBinaryMissing, d.name, b.Dir)
		}
	}
	return nil
}

// EnvBinDir names an environment variable that points at a directory of
// prebuilt daemons; FindBinaries and `sluice devnet up` use it instead of
// building.
const EnvBinDir = "SLUICE_DEVNET_BINDIR"

// EnvCacheDir names an environment variable that overrides where built
// daemons are cached when BuildOptions.CacheDir is empty.
const EnvCacheDir = "SLUICE_DEVNET_CACHE"

// FindBinaries returns the daemons in $SLUICE_DEVNET_BINDIR when it is set,
// and otherwise builds (or finds in the cache) those pinned in the
// repository at opts.RepoRoot. Tests and tools call it.
func FindBinaries(ctx context.Context, opts BuildOptions) (Binaries, error) {
	if dir := os.Getenv(EnvBinDir); dir != "" {
		bins := Binaries{Dir: dir}
		if err := bins.Check(); err != nil {
			return Binaries{}, fmt.Errorf("%s: %w", EnvBinDir, err)
		}
		return bins, nil
	}
	return Build(ctx, opts)
}

// BuildOptions says where the pins are and where the binaries go.
type BuildOptions struct {
	// RepoRoot is Sluice's repository root; the pins are read from
	// RepoRoot/devnet/tools. Required.
	RepoRoot string

	// CacheDir is where builds are kept, one subdirectory per pin set.
	// Empty means $SLUICE_DEVNET_CACHE, or os.UserCacheDir()/sluice/devnet
	// when that is unset too.
	CacheDir string

	// GoCmd is the go command; empty means "go" from PATH.
	GoCmd string

	// Out receives one line per step and progress while compiling. Nil
	// discards.
	Out io.Writer

	// ProgressEvery is how often a running compile reports progress;
	// zero means every 15 seconds.
	ProgressEvery time.Duration
}

// Build returns the binaries for the pins in devnet/tools, building those
// that are not in the cache yet. The cache key is a hash of the tools
// module's go.mod and go.sum, the build tags and the Go toolchain, so the
// binaries are rebuilt only when one of them changes. Go's own build cache
// makes a rebuild after an interruption resume where it stopped; it is never
// cleaned here.
func Build(ctx context.Context, opts BuildOptions) (Binaries, error) {
	out := opts.Out
	if out == nil {
		out = io.Discard
	}
	goCmd := opts.GoCmd
	if goCmd == "" {
		goCmd = "go"
	}
	every := opts.ProgressEvery
	if every <= 0 {
		every = 15 * time.Second
	}

	dir, err := BinariesDir(ctx, opts)
	if err != nil {
		return Binaries{}, err
	}
	bins := Binaries{Dir: dir}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return Binaries{}, fmt.Errorf("build: create %s: %w", dir, err)
	}

	toolsDir := filepath.Join(opts.RepoRoot, ToolsDir)
	var missing []string
	for _, d := range daemons {
		if !isExecutable(bins.Path(d.name)) {
			missing = append(missing, d.name)
		}
	}
	if len(missing) == 0 {
		fmt.Fprintf(out, "binaries up to date in %s\n", dir)
		return bins, nil
	}
	fmt.Fprintf(out, "building %s from %s into %s (about 7 minutes "+
		"on two cores from a cold Go cache)\n",
		strings.Join(missing, ", "), toolsDir, dir)

	start := time.Now()
	for _, d := range daemons {
		if !isExecutable(bins.Path(d.name)) {
			err := buildOne(
				ctx, goCmd, toolsDir, d.name, d.pkg,
				bins.Path(d.name), out, every,
			)
			if err != nil {
				return Binaries{}, err
			}
		}
	}
	fmt.Fprintf(out, "built all daemons in %s\n", roundDur(time.Since(start)))
	return bins, nil
}

// BinariesDir returns the cache directory for the current pins without
// building anything.
func BinariesDir(ctx context.Context, opts BuildOptions) (string, error) {
	if opts.RepoRoot == "" {
		return "", fmt.Errorf("build: RepoRoot: must be set")
	}
	cache := opts.CacheDir
	if cache == "" {
		cache = os.Getenv(EnvCacheDir)
	}
	if cache == "" {
		userCache, err := os.UserCacheDir()
		if err != nil {
			return "", fmt.Errorf("build: CacheDir: not set and no "+
				"user cache dir: %w", err)
		}
		cache = filepath.Join(userCache, "sluice", "devnet")
	}
	goCmd := opts.GoCmd
	if goCmd == "" {
		goCmd = "go"
	}

	toolsDir := filepath.Join(opts.RepoRoot, ToolsDir)
	goMod, err := os.ReadFile(filepath.Join(toolsDir, "go.mod"))
	if err != nil {
		return "", fmt.Errorf("build: read pins: %w", err)
	}
	goSum, err := os.ReadFile(filepath.Join(toolsDir, "go.sum"))
	if err != nil {
		return "", fmt.Errorf("build: read pins: %w", err)
	}
	env := exec.CommandContext(ctx, goCmd, "env", "GOVERSION", "GOOS", "GOARCH")
	env.Dir = toolsDir
	toolchain, err := env.Output()
	if err != nil {
		return "", fmt.Errorf("build: %s env: %w", goCmd, err)
	}
	key := buildKey(goMod, goSum, BuildTags, string(toolchain))
	return filepath.Join(cache, key), nil
}

// buildKey hashes everything that decides what the binaries contain.
func buildKey(goMod, goSum []byte, tags []string, toolchain string) string {
	h := sha256.New()
	for _, part := range [][]byte{
		goMod, goSum, []byte(strings.Join(tags, ",")),
		[]byte(strings.TrimSpace(toolchain)),
	} {
		// Length-prefix each part so that moving bytes between parts
		// changes the key.
		fmt.Fprintf(h, "%d:", len(part))
		h.Write(part)
	}
	return hex.EncodeToString(h.Sum(nil))[:16]
}

// buildOne compiles one daemon into a temporary file and renames it into
// place, so an interrupted build never leaves a truncated binary behind.
func buildOne(ctx context.Context, goCmd, toolsDir, name, pkg, dst string,
	out io.Writer, every time.Duration) error {

	fmt.Fprintf(out, "  %s: compiling %s\n", name, pkg)
	tmp := fmt.Sprintf("%s.tmp-%d", dst, os.Getpid())
	defer os.Remove(tmp)

	cmd := exec.CommandContext(ctx, goCmd, "build", "-v",
		"-tags", strings.Join(BuildTags, " "), "-o", tmp, pkg)
	cmd.Dir = toolsDir
	// A go.work above the repository must not pull the tools module into
	// another workspace.
	cmd.Env = append(os.Environ(), "GOWORK=off")
	stderr, err := cmd.StderrPipe()
	if err != nil {
		return fmt.Errorf("build %s: %w", name, err)
	}
	cmd.Stdout = io.Discard

	start := time.Now()
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("build %s: %w", name, err)
	}

	// go build -v names each package as it compiles it; anything else
	// on stderr is kept for the error message.
	var (
		mu       sync.Mutex
		compiled int
		other    []string
	)
	done := make(chan struct{})
	go func() {
		defer close(done)
		sc := bufio.NewScanner(stderr)
		for sc.Scan() {
			line := sc.Text()
			mu.Lock()
			if isPackageLine(line) {
				compiled++
			} else {
				other = append(other, line)
				if len(other) > 40 {
					other = other[1:]
				}
			}
			mu.Unlock()
		}
	}()

	ticker := time.NewTicker(every)
	defer ticker.Stop()
	waitErr := make(chan error, 1)
	go func() {
		<-done
		waitErr <- cmd.Wait()
	}()
	for {
		select {
		case err := <-waitErr:
			mu.Lock()
			n, msg := compiled, strings.Join(other, "\n")
			mu.Unlock()
			if err != nil {
				return fmt.Errorf("build %s: %w\n%s", name, err, msg)
			}
			if err := os.Rename(tmp, dst); err != nil {
				return fmt.Errorf("build %s: %w", name, err)
			}
			fmt.Fprintf(out, "  %s: done in %s (%d packages "+
				"compiled)\n", name, roundDur(time.Since(start)), n)
			return nil

		case <-ticker.C:
			mu.Lock()
			n := compiled
			mu.Unlock()
			fmt.Fprintf(out, "  %s: %d packages compiled, %s\n",
				name, n, roundDur(time.Since(start)))
		}
	}
}

// isPackageLine reports whether a go build -v stderr line names a package
// (an import path, or "command-line-arguments") rather than an error.
func isPackageLine(line string) bool {
	if line == "" || strings.ContainsAny(line, " \t:") {
		return false
	}
	return true
}

// isExecutable reports whether path is a regular file with an execute bit.
func isExecutable(path string) bool {
	fi, err := os.Stat(path)
	return err == nil && fi.Mode().IsRegular() && fi.Mode()&0o111 != 0
}

// roundDur rounds a duration for progress lines.
func roundDur(d time.Duration) time.Duration {
	if d < time.Second {
		return d.Round(time.Millisecond)
	}
	return d.Round(100 * time.Millisecond)
}
