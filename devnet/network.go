package devnet

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"syscall"
	"time"
)

// markerName is the file that marks a directory as a devnet's, so that
// `down --purge` never removes a directory it did not create.
const markerName = "DEVNET"

// sluicedDirName is the directory reserved for sluiced under a network.
const sluicedDirName = "sluiced"

// Defaults of Options.
const (
	DefaultChannelSat = 5_000_000
	DefaultFundSat    = 100_000_000

	// DefaultStartTimeout bounds each wait for a daemon to come up.
	DefaultStartTimeout = 90 * time.Second

	// stopGrace is how long a daemon may take to stop after SIGTERM.
	stopGrace = 30 * time.Second
)

// Heights: lnd needs one block before it starts, and segwit activates on
// btcd's regtest only past height 432, so the miner mines past it; this
// also matures the hub's early coinbase outputs.
const (
	initialBlocks = 1
	matureBlocks  = 550

	// channelConfs is mined after the channels are opened: enough for
	// lnd to consider them open and to announce them.
	channelConfs = 6
)

var (
	// ErrRunning is returned by Up when a network already runs in the
	// directory.
	ErrRunning = errors.New("devnet already running")

	// ErrBusy is returned when another devnet command holds the
	// directory's lock.
	ErrBusy = errors.New("devnet directory in use by another command")

	// ErrNotDevnetDir is returned by Down with purge for a directory that
	// was not made by Up.
	ErrNotDevnetDir = errors.New("not a devnet directory")
)

// Options configure Up.
type Options struct {
	// Dir holds all the network's data. Required.
	Dir string

	// Binaries holds the daemons (see Build). Required.
	Binaries Binaries

	// Out receives one line per step of bring-up. Nil discards.
	Out io.Writer

	// ChannelSat is the size of each channel; zero means
	// DefaultChannelSat.
	ChannelSat int64

	// FundSat is sent on chain from the hub to each other node; zero
	// means DefaultFundSat.
	FundSat int64

	// StartTimeout bounds each wait for a daemon to become ready; zero
	// means DefaultStartTimeout.
	StartTimeout time.Duration

	// Providers is how many provider lnd nodes the network has, each
	// with a channel from the hub: provider1, provider2, ... Zero means
	// DefaultProviders, which is also the least; at most MaxProviders.
	Providers int
}

// Up starts a network in opts.Dir and returns its profile, also written to
// Dir/profile.json, once every channel is active and routable. It refuses
// with ErrRunning when a network runs in Dir already. Data of a stopped
// network in Dir is removed first: btcd on regtest cannot resume a chain,
// so a network always starts fresh. On failure every process started is
// stopped and the logs stay on disk; a *NodeError names the failing node.
func Up(ctx context.Context, opts Options) (*Profile, error) {
	if opts.Dir == "" {
		return nil, fmt.Errorf("devnet up: Dir: must be set")
	}
	if err := opts.Binaries.Check(); err != nil {
		return nil, fmt.Errorf("devnet up: Binaries: %w", err)
	}
	if opts.Out == nil {
		opts.Out = io.Discard
	}
	if opts.ChannelSat == 0 {
		opts.ChannelSat = DefaultChannelSat
	}
	if opts.FundSat == 0 {
		opts.FundSat = DefaultFundSat
	}
	if opts.ChannelSat < 0 || opts.FundSat < 0 {
		return nil, fmt.Errorf("devnet up: ChannelSat, FundSat: must " +
			"not be negative")
	}
	if opts.FundSat < opts.ChannelSat+opts.ChannelSat/10 {
		return nil, fmt.Errorf("devnet up: FundSat: %d cannot fund a "+
			"channel of %d sat and its fees", opts.FundSat,
			opts.ChannelSat)
	}
	if opts.StartTimeout == 0 {
		opts.StartTimeout = DefaultStartTimeout
	}
	if opts.Providers == 0 {
		opts.Providers = DefaultProviders
	}
	if opts.Providers < DefaultProviders || opts.Providers > MaxProviders {
		return nil, fmt.Errorf("devnet up: Providers: must be %d to %d, "+
			"got %d", DefaultProviders, MaxProviders, opts.Providers)
	}
	dir, err := filepath.Abs(opts.Dir)
	if err != nil {
		return nil, fmt.Errorf("devnet up: Dir: %w", err)
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("devnet up: %w", err)
	}
	unlock, err := lockDir(dir)
	if err != nil {
		return nil, err
	}
	defer unlock()

	running, err := runningMembers(dir)
	if err != nil {
		return nil, err
	}
	if len(running) > 0 {
		return nil, fmt.Errorf("%w in %s (%s); run `sluice devnet "+
			"down` first", ErrRunning, dir, describe(running))
	}
	if err := removeData(dir); err != nil {
		return nil, err
	}
	if err := os.WriteFile(filepath.Join(dir, markerName),
		[]byte("sluice devnet: `sluice devnet down --purge` removes "+
			"this directory\n"), 0o600); err != nil {

		return nil, fmt.Errorf("devnet up: %w", err)
	}

	ms := membersFor(dir, opts.Providers)
	specs := lndSpecsFor(opts.Providers)
	p, err := pickPorts(dir, offsets(len(specs), tapdCount(specs)),
		portFree)
	if err != nil {
		return nil, fmt.Errorf("devnet up: %w", err)
	}
	n := &network{
		opts:    opts,
		dir:     dir,
		ports:   p,
		members: ms,
		specs:   specs,
		chans:   channelSpecsFor(opts.Providers),
		start:   time.Now(),
	}
	prof, err := n.up(ctx)
	if err != nil {
		n.stepf("bring-up failed; stopping what was started (logs "+
			"stay in %s)", dir)
		if ctx.Err() != nil {
			// Interrupted: no node is at fault.
			err = fmt.Errorf("devnet up: interrupted: %w", ctx.Err())
		}
		if stopErr := stopMembers(ms, io.Discard); stopErr != nil {
			err = fmt.Errorf("%w (and stopping: %v)", err, stopErr)
		}
		return nil, err
	}
	return prof, nil
}

// Down stops every process of the network in dir, and nothing else: each
// pid is checked against the binary and the data directory it was started
// with. Daemons get SIGTERM and time to shut down cleanly, tapd before lnd
// before btcd. With purge, the whole directory is removed afterwards. Down
// on a directory where nothing runs is not an error.
func Down(dir string, purge bool) error {
	return down(dir, purge, io.Discard)
}

// DownVerbose is Down printing one line per stopped process to out.
func DownVerbose(dir string, purge bool, out io.Writer) error {
	return down(dir, purge, out)
}

func down(dir string, purge bool, out io.Writer) error {
	dir, err := filepath.Abs(dir)
	if err != nil {
		return fmt.Errorf("devnet down: %w", err)
	}
	if _, err := os.Stat(dir); errors.Is(err, os.ErrNotExist) {
		fmt.Fprintf(out, "nothing in %s\n", dir)
		return nil
	}
	_, markErr := os.Stat(filepath.Join(dir, markerName))
	if purge && markErr != nil {
		return fmt.Errorf("%w: %s has no %s file; not removing it",
			ErrNotDevnetDir, dir, markerName)
	}
	unlock, err := lockDir(dir)
	if err != nil {
		return err
	}
	if err := stopMembers(members(dir), out); err != nil {
		unlock()
		return err
	}
	unlock()
	fmt.Fprintf(out, "devnet in %s is down\n", dir)
	if !purge {
		return nil
	}
	if err := os.RemoveAll(dir); err != nil {
		return fmt.Errorf("devnet down: purge %s: %w", dir, err)
	}
	fmt.Fprintf(out, "removed %s\n", dir)
	return nil
}

// ProcessStatus is the state of one process of a network.
type ProcessStatus struct {
	Name    string `json:"name"`
	PID     int    `json:"pid,omitempty"`
	Running bool   `json:"running"`
	LogPath string `json:"log_path"`
}

// NetworkStatus is what Status reports.
type NetworkStatus struct {
	Dir string `json:"dir"`

	// Running is true when every process of the network runs.
	Running bool `json:"running"`

	// Processes lists every process the network can have.
	Processes []ProcessStatus `json:"processes"`

	// Profile is the network's profile; nil when bring-up never
	// finished.
	Profile *Profile `json:"profile,omitempty"`
}

// Status reports which processes of the network in dir run, and its
// profile when there is one.
func Status(dir string) (*NetworkStatus, error) {
	dir, err := filepath.Abs(dir)
	if err != nil {
		return nil, fmt.Errorf("devnet status: %w", err)
	}
	st := &NetworkStatus{Dir: dir, Running: true}
	for _, m := range members(dir) {
		pid, err := runningPID(m.dir, m.bin, m.marker)
		if err != nil {
			return nil, fmt.Errorf("devnet status: %s: %w", m.name,
				err)
		}
		st.Processes = append(st.Processes, ProcessStatus{
			Name:    m.name,
			PID:     pid,
			Running: pid != 0,
			LogPath: filepath.Join(m.dir, outputLogName),
		})
		if pid == 0 {
			st.Running = false
		}
	}
	prof, err := LoadProfile(dir)
	switch {
	case err == nil:
		st.Profile = prof
	case !errors.Is(err, ErrNoProfile):
		return nil, err
	}
	return st, nil
}

// runningMembers returns the members of the network in dir that run.
func runningMembers(dir string) ([]ProcessStatus, error) {
	var running []ProcessStatus
	for _, m := range members(dir) {
		pid, err := runningPID(m.dir, m.bin, m.marker)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", m.name, err)
		}
		if pid != 0 {
			running = append(running, ProcessStatus{
				Name: m.name, PID: pid, Running: true,
			})
		}
	}
	return running, nil
}

func describe(ps []ProcessStatus) string {
	parts := make([]string, len(ps))
	for i, p := range ps {
		parts[i] = fmt.Sprintf("%s pid %d", p.Name, p.PID)
	}
	return strings.Join(parts, ", ")
}

// stopMembers stops the running members tier by tier, each tier in
// parallel, and removes their pid files.
func stopMembers(ms []member, out io.Writer) error {
	tiers := map[int][]member{}
	for _, m := range ms {
		tiers[m.tier] = append(tiers[m.tier], m)
	}
	order := make([]int, 0, len(tiers))
	for t := range tiers {
		order = append(order, t)
	}
	sort.Ints(order)

	var (
		mu   sync.Mutex
		errs []error
	)
	for _, t := range order {
		var wg sync.WaitGroup
		for _, m := range tiers[t] {
			wg.Add(1)
			go func() {
				defer wg.Done()
				err := stopMember(m, out, &mu)
				if err != nil {
					mu.Lock()
					errs = append(errs, err)
					mu.Unlock()
				}
			}()
		}
		wg.Wait()
	}
	return errors.Join(errs...)
}

func stopMember(m member, out io.Writer, mu *sync.Mutex) error {
	pid, err := runningPID(m.dir, m.bin, m.marker)
	if err != nil {
		return fmt.Errorf("stop %s: %w", m.name, err)
	}
	if pid != 0 {
		start := time.Now()
		if err := stopPID(pid, m.bin, m.marker, stopGrace); err != nil {
			return fmt.Errorf("stop %s: %w", m.name, err)
		}
		mu.Lock()
		fmt.Fprintf(out, "stopped %s (pid %d) in %s\n", m.name, pid,
			roundDur(time.Since(start)))
		mu.Unlock()
	}
	err = os.Remove(filepath.Join(m.dir, pidFileName))
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("stop %s: %w", m.name, err)
	}
	return nil
}

// removeData removes what a previous network left in dir: the members'
// directories, the sluiced directory and the profile. Other files in dir
// are left alone.
func removeData(dir string) error {
	paths := []string{
		filepath.Join(dir, ProfileName),
		filepath.Join(dir, sluicedDirName),
	}
	for _, m := range members(dir) {
		paths = append(paths, m.dir)
	}
	for _, p := range paths {
		if err := os.RemoveAll(p); err != nil {
			return fmt.Errorf("remove old network data: %w", err)
		}
	}
	return nil
}

// lockDir takes an exclusive lock on dir for one Up or Down. The lock is
// released when the process ends, so a killed command never leaves it
// behind.
func lockDir(dir string) (func(), error) {
	path := filepath.Join(dir, ".lock")
	f, err := os.OpenFile(path, os.O_CREATE|os.O_RDWR, 0o600)
	if err != nil {
		return nil, fmt.Errorf("lock %s: %w", dir, err)
	}
	err = syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB)
	if errors.Is(err, syscall.EWOULDBLOCK) {
		f.Close()
		return nil, fmt.Errorf("%w: %s", ErrBusy, dir)
	}
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("lock %s: %w", dir, err)
	}
	return func() {
		_ = syscall.Flock(int(f.Fd()), syscall.LOCK_UN)
		f.Close()
	}, nil
}

// tapdCount is how many of the lnd nodes get a tapd.
func tapdCount(specs []lndSpec) int {
	n := 0
	for _, s := range specs {
		if s.tapd {
			n++
		}
	}
	return n
}

// randomSecret returns a random hex string for RPC credentials.
func randomSecret() (string, error) {
	b := make([]byte, 16)
	if _, err := rand.Read(b); err != nil {
		return "", fmt.Errorf("random secret: %w", err)
	}
	return hex.EncodeToString(b), nil
}
