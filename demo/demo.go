package demo

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/sluice-ln/sluice/devnet"
	"github.com/sluice-ln/sluice/ledger"
)

const (
	// DefaultWork is how long the agent's command runs in the full story.
	DefaultWork = time.Minute

	// DefaultPlatformFee is the platform's fee, in basis points, of a
	// sluiced the story starts (one it reuses keeps its own).
	DefaultPlatformFee = 200

	// CPURate and MemRate are provider1's rate card in msat per unit-second:
	// a core busy for a second (1000 core-ms) earns 10,000 sat. Regtest
	// sats are free: the rate is high so that ten seconds of work stake
	// enough (AutoStakePercent) for the yield act to open a channel of
	// lnd's least size from the vault.
	CPURate = "10000"
	MemRate = "0.01"

	// AutoStakePercent is the part of each metered second's earnings
	// provider1 stakes into the vault; the rest streams to its node.
	AutoStakePercent = 90

	// jobCPU and jobMem are the job's limits per second: two cores'
	// worth of core-ms and 1 GiB.
	jobCPU = 2000
	jobMem = 1024

	// bufferSeconds is the job's runway buffer.
	bufferSeconds = 10

	// maxSatPerSecond bounds what a second can cost at the rate card and
	// the job's limits (2 cores at 10,000 sat, plus 1 GiB at 0.01 msat
	// per MiB-second, under a sat), for the budget.
	maxSatPerSecond = 20_001

	// spareSat is funding beyond the most the work can cost, so that the
	// buyer has something to be refunded.
	spareSat = 500
)

// The share loops of a sluiced the story starts: closed epochs are minted
// into tapd every shareSync, queued withdrawals sent every
// withdrawInterval, so that the last act takes seconds, not minutes.
const (
	shareSync        = time.Second
	withdrawInterval = 2 * time.Second
)

// The bounds of StoryEpoch.
const (
	minStoryEpoch = 3 * time.Second
	maxStoryEpoch = devnet.YieldEpoch
)

// StoryEpoch is the reward epoch of a sluiced the story starts for work of
// the given length: a quarter of it, in whole seconds, within 3s and the
// devnet's 30s. Epochs then close while the agent works, so the share
// asset's genesis (which needs a supply) is made at the first close and
// the epochs after it are minted as tranches.
func StoryEpoch(work time.Duration) time.Duration {
	e := (work / 4).Round(time.Second)
	return min(max(e, minStoryEpoch), maxStoryEpoch)
}

// Timeouts of the story's waits.
const (
	sluicedStartTimeout = 90 * time.Second
	cliTimeout          = 60 * time.Second
	callTimeout         = 30 * time.Second
	payTimeout          = 90 * time.Second
	fundedTimeout       = 90 * time.Second
	agentSlack          = 3 * time.Minute
	refundTimeout       = 2 * time.Minute
	drainTimeout        = time.Minute
	summaryTimeout      = 2 * time.Minute
	sharesTimeout       = 3 * time.Minute
	withdrawTimeout     = 3 * time.Minute
	verifyTimeout       = 3 * time.Minute
	applyTimeout        = 2 * time.Minute
	trafficTimeout      = trafficFor + 2*time.Minute
	stopTimeout         = 30 * time.Second
)

// shareLook bounds one look at the share asset between live lines (reads,
// and a block mined when tapd waits for one).
const shareLook = 5 * time.Second

// ErrConfig is returned by Run when its Config is unusable.
var ErrConfig = errors.New("demo config")

// Config says where the story plays and how long the work runs.
type Config struct {
	// Profile is the running network's profile (devnet.Up or
	// devnet.LoadProfile).
	Profile *devnet.Profile

	// Sluice and Sluiced are the binaries to run; make build puts both
	// in bin/.
	Sluice  string
	Sluiced string

	// Work is how long the agent's CPU-bound command runs; zero means
	// DefaultWork.
	Work time.Duration

	// PlatformFee is the platform's fee in basis points for a sluiced
	// the story starts; zero means DefaultPlatformFee. A negative value
	// means no fee.
	PlatformFee int

	// KeepSluiced leaves a sluiced the story started running when Run
	// returns (its process then outlives the caller); by default it is
	// stopped.
	KeepSluiced bool

	// Out receives the story: steps, the commands run, the live line.
	// Nil means os.Stdout.
	Out io.Writer

	// LogDir receives sluiced's console output and the agent's log;
	// empty means <network dir>/demo.
	LogDir string
}

// StepError is a step of the story that failed: which, why, and where the
// logs are.
type StepError struct {
	Step string
	Logs []string
	Err  error
}

// Error names the step and the logs.
func (e *StepError) Error() string {
	return fmt.Sprintf("step %q failed: %v (logs: %s)", e.Step, e.Err,
		strings.Join(e.Logs, ", "))
}

// Unwrap returns the step's error.
func (e *StepError) Unwrap() error { return e.Err }

// validate fills the defaults and checks the rest.
func (c *Config) validate() error {
	switch {
	case c.Profile == nil:
		return fmt.Errorf("%w: Profile is nil: bring the network up "+
			"first", ErrConfig)
	case c.Sluice == "":
		return fmt.Errorf("%w: Sluice (the sluice binary) is empty",
			ErrConfig)
	case c.Sluiced == "":
		return fmt.Errorf("%w: Sluiced (the sluiced binary) is empty",
			ErrConfig)
	case c.Work < 0:
		return fmt.Errorf("%w: Work %v is negative", ErrConfig, c.Work)
	case c.Work > 0 && c.Work < 2*time.Second:
		return fmt.Errorf("%w: Work %v: at least 2s, so that a "+
			"payout can go", ErrConfig, c.Work)
	case c.PlatformFee > 10_000:
		return fmt.Errorf("%w: PlatformFee %d bps is above 10000",
			ErrConfig, c.PlatformFee)
	}
	if c.Work == 0 {
		c.Work = DefaultWork
	}
	if c.PlatformFee == 0 {
		c.PlatformFee = DefaultPlatformFee
	}
	if c.PlatformFee < 0 {
		c.PlatformFee = 0
	}
	if c.Out == nil {
		c.Out = os.Stdout
	}
	if c.LogDir == "" {
		c.LogDir = filepath.Join(c.Profile.Dir, "demo")
	}
	return nil
}

// Budget is what the story's job is funded with for work of the given
// length: the most the work can cost at the rate card, and spare to
// refund.
func Budget(work time.Duration) ledger.MilliSatoshi {
	secs := int64((work + time.Second - 1) / time.Second)
	return ledger.MilliSatoshi((secs*maxSatPerSecond + spareSat) * 1000)
}

// workCommand is the agent's CPU-bound command: hashing an endless stream
// of zeros for the given time, on one core. timeout ends it (status 124),
// which is the command finishing as planned.
func workCommand(work time.Duration) []string {
	secs := int64((work + time.Second - 1) / time.Second)
	return []string{"sh", "-c", fmt.Sprintf("timeout %d sha256sum "+
		"/dev/zero; [ $? -eq 124 ]", secs)}
}

// Run plays the story on the network of cfg.Profile and returns its
// summary; the caller prints it and calls Check. An error is a *StepError
// naming the step that failed and the logs to read; when the story got as
// far as the summary, it is returned with the error too.
func Run(ctx context.Context, cfg Config) (*Summary, error) {
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	if err := os.MkdirAll(cfg.LogDir, 0o700); err != nil {
		return nil, fmt.Errorf("demo log dir: %w", err)
	}
	// The story's context ends with Run: a command left in the
	// background (the genesis) ends with it.
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	s := &story{cfg: cfg, out: cfg.Out, prof: cfg.Profile, ctx: ctx}
	defer s.close()

	sum, err := s.play()
	if err != nil {
		return sum, err
	}
	return sum, nil
}

// play runs the steps in order.
func (s *story) play() (*Summary, error) {
	work := s.cfg.Work
	steps := []struct {
		name    string
		timeout time.Duration
		fn      func(ctx context.Context) error
	}{
		{"start sluiced", sluicedStartTimeout, s.startSluiced},
		{"link provider1", cliTimeout, s.linkProvider},
		{"set provider1's rates", callTimeout, s.setRates},
		{"provider1 stakes part of its earnings", callTimeout,
			s.autoStake},
		{"add a buyer", cliTimeout, s.addBuyer},
		{"let the hub refund over the buyer's channel", payTimeout,
			s.primeBuyerChannel},
		{"create the job", callTimeout, s.createJob},
		{"buyer node pays the job invoice", payTimeout, s.payInvoice},
		{"wait until the job is funded", fundedTimeout, s.waitFunded},
		{"take the books before the work", callTimeout, s.baseline},
		{"note the share asset before the work", callTimeout,
			s.shareBaseline},
		{"run the agent", work + agentSlack, s.runAgent},
		{"end the job", callTimeout, s.endJob},
		{"wait for the refund", refundTimeout, s.waitRefund},
		{"wait for the last payouts", drainTimeout, s.waitDrained},
		{"mint the share asset and the epochs' tranches",
			sharesTimeout, s.waitTranches},
		{"provider1 withdraws its shares to its own tapd",
			withdrawTimeout, s.withdrawShares},
		{"provider1 verifies its reward against the chain",
			verifyTimeout, s.verifyReward},
		{"read the books and reconcile", summaryTimeout, s.summarize},
		{"give the routing strategy room for one channel", cliTimeout,
			s.capRouting},
		{"plan the vault's yield", cliTimeout, s.planYield},
		{"apply the plan: the hub opens a channel from vault capital",
			applyTimeout, s.applyYield},
		{"mine the channel's confirmations", applyTimeout,
			s.confirmYield},
		{"route payments through the hub", trafficTimeout,
			s.routeTraffic},
		{"report the yield beside lnd's records", summaryTimeout,
			s.reportYield},
	}
	for _, st := range steps {
		fmt.Fprintf(s.out, "==> %s\n", st.name)
		ctx, cancel := context.WithTimeout(s.ctx, st.timeout)
		err := st.fn(ctx)
		cancel()
		if err != nil {
			log.Errorf("Step %q: %v", st.name, err)
			return s.sum, &StepError{Step: st.name, Logs: s.logs(),
				Err: err}
		}
	}
	return s.sum, nil
}

// logs are where to look when a step failed.
func (s *story) logs() []string {
	logs := []string{
		filepath.Join(s.cfg.LogDir, sluicedOutName),
		filepath.Join(s.prof.Sluiced.Dir, "logs"),
		filepath.Join(s.cfg.LogDir, agentLogName),
	}
	for _, n := range []string{devnet.NodeHub, devnet.NodeProvider1,
		devnet.NodeBuyer} {

		if node, err := s.prof.Node(n); err == nil {
			logs = append(logs, node.LogPath)
			if node.Tapd != nil {
				logs = append(logs, node.Tapd.LogPath)
			}
		}
	}
	return logs
}

// PrintNext tells what still runs after the story and how to talk to it
// and stop it. sluice is how the user runs the sluice binary.
func PrintNext(w io.Writer, p *devnet.Profile, sluice, jobID string,
	sluicedRunning bool) {

	api := fmt.Sprintf("%s --rpcserver=%s --sluicedir=%s", sluice,
		p.Sluiced.RPCListen, p.Sluiced.Dir)
	fmt.Fprintln(w, "\nThe network keeps running (btcd, lnd and tapd "+
		"in "+p.Dir+").")
	if sluicedRunning {
		fmt.Fprintln(w, "sluiced keeps running on it.")
	} else {
		fmt.Fprintln(w, "sluiced was stopped; `make sluiced` runs it "+
			"again in the foreground with the same data.")
	}
	fmt.Fprintf(w, "Talk to them:\n")
	fmt.Fprintf(w, "  %s devnet status --dir %s\n", sluice, p.Dir)
	fmt.Fprintf(w, "  %s getinfo            (with sluiced running)\n",
		api)
	if jobID != "" {
		fmt.Fprintf(w, "  %s job show %s\n", api, jobID)
	}
	fmt.Fprintf(w, "Stop the network: make devnet-down\n")
}
