package agentcli

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strings"
	"sync/atomic"
	"syscall"
	"time"

	"connectrpc.com/connect"
	"github.com/btcsuite/btcd/btcec/v2"
	"github.com/btcsuite/btclog/v2"
	"github.com/sluice-ln/sluice/agent"
	"github.com/sluice-ln/sluice/channels"
	"github.com/sluice-ln/sluice/metering"
	"github.com/sluice-ln/sluice/rpc/rpcclient"
	"github.com/sluice-ln/sluice/rpc/sluicerpc"
	"github.com/sluice-ln/sluice/settlement"
	"github.com/urfave/cli"
)

// Command is `agent` of the sluice command line: run and serve.
var Command = cli.Command{
	Name:     "agent",
	Category: "Provider",
	Usage:    "run a job's command and meter it, or offer capacity",
	Subcommands: []cli.Command{
		RunCommand,
		ServeCommand,
	},
}

// RunCommand starts one command for a job, meters it and streams its usage.
var RunCommand = cli.Command{
	Name:      "run",
	Usage:     "start a command for a job, meter it and stream its usage",
	ArgsUsage: "--job ID -- CMD [ARGS...]",
	Description: `
Starts CMD in a process group of its own and measures the CPU time and
memory of its whole process tree every second, from /proc. Each second
becomes a usage record; records are signed with the agent key and sent to
sluiced in batches (docs/protocol.md). A batch that gets no answer is sent
again, as it was, until it does: sluiced acknowledges what it already has as
duplicates, so no second is lost or billed twice.

When sluiced says the job is suspended (its escrow ran out), the command is
paused (SIGSTOP) until a top-up lets the job run again, then continued; the
paused seconds are not billed. When the job has ended the command is
stopped: SIGTERM, then SIGKILL after --stop-grace. When the command exits,
what it left in its process group is killed, the last seconds are sent, and
sluice exits with the command's status. SIGINT or SIGTERM stop the command
the same way; a second one exits at once.

Calls use the provider macaroon (<sluicedir>/<network>/provider.macaroon,
or --macaroonpath) and the agent key that linking made
(<sluicedir>/<network>/agent.key, or --agentkey).

--rpcserver may list several sluiced instances sharing one database
(comma-separated, or the flag repeated): the agent stays on the first that
answers and, when a call fails there in transport, moves to the next and
resumes from the job's last acknowledged seq there; with none reachable at
the start it exits naming each address (docs/operations.md).`,
	Flags: append([]cli.Flag{
		cli.StringFlag{
			Name:  "job",
			Usage: "the job the command runs for",
		},
		cli.DurationFlag{
			Name:  "interval",
			Value: time.Second,
			Usage: "the least time between two batches: longer sends " +
				"fewer, larger batches (cheaper for sluiced), and " +
				"bills later",
		},
		cli.BoolFlag{
			Name:  "quiet",
			Usage: "log only warnings and errors",
		},
	}, meterFlags...),
	Action: agentRun,
}

func agentRun(c *cli.Context) error {
	jobID := c.String("job")
	if jobID == "" {
		return errors.New("--job is required")
	}
	args := c.Args()
	if len(args) == 0 {
		return errors.New("no command: sluice agent run --job ID -- " +
			"CMD [ARGS...]")
	}

	key, pub, err := readAgentKey(c)
	if err != nil {
		return err
	}
	client, err := providerClient(c)
	if err != nil {
		return err
	}

	logger := agentLoggers(c.Bool("quiet"), agent.Subsystem)
	logger.Infof("Job %s, agent key %v, command %s", jobID, pub,
		strings.Join(args, " "))

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()

	cfg := streamConfig(c, jobID, key, client, c.Duration("interval"))
	run, err := startMetered(ctx, cfg, func(ctx context.Context) (
		*agent.Run, error) {

		return agent.Start(ctx, agent.MeasureConfig{
			Stdout: os.Stdout, Stderr: os.Stderr,
		}, args[0], args[1:]...)
	})
	if err != nil {
		return err
	}

	// The first signal stops the command, and the agent sends what it
	// measured; the second gives up on that.
	signals := make(chan os.Signal, 2)
	signal.Notify(signals, syscall.SIGINT, syscall.SIGTERM)
	defer signal.Stop(signals)
	go func() {
		select {
		case sig := <-signals:
			logger.Infof("Got %v, stopping the command", sig)
			go run.Stop(c.Duration("stop-grace"))
		case <-ctx.Done():
			return
		}
		select {
		case <-signals:
			cancel()
		case <-ctx.Done():
		}
	}()

	stats, streamErr := agent.Stream(ctx, cfg, run)
	waitErr := run.Wait()
	logStreamStats(logger, jobID, stats)

	switch {
	case streamErr != nil:
		return streamErr
	case waitErr != nil:
		var exit *exec.ExitError
		if errors.As(waitErr, &exit) {
			return cli.NewExitError(fmt.Sprintf("command: %v",
				waitErr), exit.ExitCode())
		}
		return fmt.Errorf("command: %w", waitErr)
	}

	return nil
}

// meterFlags are the metering flags of `agent run` and `agent serve`.
var meterFlags = []cli.Flag{
	cli.StringFlag{
		Name:  "agentkey",
		Usage: "the agent key file (default <sluicedir>/<network>/agent.key)",
	},
	cli.IntFlag{
		Name:  "batch",
		Value: 60,
		Usage: "the most seconds one batch carries",
	},
	cli.DurationFlag{
		Name:  "stop-grace",
		Value: 10 * time.Second,
		Usage: "how long the command has after SIGTERM before SIGKILL",
	},
	cli.DurationFlag{
		Name:  "poll",
		Value: 5 * time.Second,
		Usage: "how often a suspended job's state is checked",
	},
}

// readAgentKey reads the agent key that linking made (--agentkey, or
// <sluicedir>/<network>/agent.key).
func readAgentKey(c *cli.Context) (*btcec.PrivateKey, channels.AgentKey,
	error) {

	keyPath := rpcclient.CleanPath(c.String("agentkey"))
	if keyPath == "" {
		keyPath = filepath.Join(networkDir(c), channels.AgentKeyFileName)
	}
	key, pub, err := channels.ReadAgentKeyFile(keyPath)
	if err != nil {
		return nil, channels.AgentKey{}, fmt.Errorf("agent key: %w (link the provider "+
			"first: sluice provider link)", err)
	}
	return key, pub, nil
}

// streamConfig is the metering stream of one job, from meterFlags; interval
// is the least time between two batches.
func streamConfig(c *cli.Context, jobID string, key *btcec.PrivateKey,
	client *apiClient, interval time.Duration) agent.StreamConfig {

	return agent.StreamConfig{
		JobID:        jobID,
		Key:          key,
		Client:       &meteringClient{api: client},
		MaxBatch:     c.Int("batch"),
		Interval:     interval,
		PollInterval: c.Duration("poll"),
		StopGrace:    c.Duration("stop-grace"),
	}
}

// errNoUsage is returned by startMetered for a job that takes no usage.
var errNoUsage = errors.New("it takes no usage")

// startMetered asks whether the job takes usage and only then starts the
// command with start: a job that cannot take usage is refused here, not
// after the command has run. The caller streams the run (agent.Stream).
func startMetered(ctx context.Context, cfg agent.StreamConfig,
	start func(context.Context) (*agent.Run, error)) (*agent.Run, error) {

	st, err := cfg.Client.Meter(ctx, cfg.JobID)
	if err != nil {
		return nil, fmt.Errorf("job %s: %w", cfg.JobID, err)
	}
	if !settlement.State(st.State).Funded() {
		return nil, fmt.Errorf("job %s is %s: %w", cfg.JobID, st.State,
			errNoUsage)
	}
	return start(ctx)
}

// logStreamStats logs what a job's stream measured and sent.
func logStreamStats(logger btclog.Logger, jobID string,
	stats agent.StreamStats) {

	logger.Infof("Job %s: %d seconds measured, %d accepted, %d not "+
		"billable, %d suspensions", jobID, stats.Measured,
		stats.Accepted, stats.Dropped, stats.Pauses)
}

// meteringClient is the agent's Client on the MeteringService. It maps
// Sluice's refusals back to metering's sentinels by their text, which the
// status carries, so that the agent can tell a suspension from a gap.
//
// With several addresses, its first successful call finds a server (each
// address in order, as the command line does); from then on it stays on
// that server, and a call that fails in transport there moves the client
// to the next address and returns agent.ErrMoved, on which the stream
// resumes from the job's last acknowledged seq.
type meteringClient struct {
	api *apiClient

	// attached is set once a call was answered.
	attached atomic.Bool
}

// callContext bounds one call and, once attached, keeps it on one server
// (rpcclient.OneServer).
func (m *meteringClient) callContext(ctx context.Context) (context.Context,
	context.CancelFunc) {

	if m.attached.Load() {
		ctx = rpcclient.OneServer(ctx)
	}
	return context.WithTimeout(ctx, callTimeout)
}

// answered marks the client attached, logging the server on the first
// answer.
func (m *meteringClient) answered() {
	if !m.attached.Swap(true) && m.api.current != nil &&
		strings.Contains(m.api.addr, ",") {

		agent.LogServer(m.api.current())
	}
}

var _ agent.Client = (*meteringClient)(nil)

func (m *meteringClient) Submit(ctx context.Context,
	batch []byte) (agent.SubmitResult, error) {

	ctx, cancel := m.callContext(ctx)
	defer cancel()

	resp, err := m.api.metering.SubmitUsage(ctx, connect.NewRequest(
		&sluicerpc.SubmitUsageRequest{Batch: batch}))
	if err != nil {
		return agent.SubmitResult{}, meteringErr(err)
	}
	m.answered()

	return agent.SubmitResult{
		Accepted:   int(resp.Msg.Accepted),
		Duplicates: int(resp.Msg.Duplicates),
		LastSeq:    resp.Msg.LastSeq,
		Refused:    resp.Msg.Refused,
	}, nil
}

func (m *meteringClient) Meter(ctx context.Context,
	jobID string) (agent.MeterStatus, error) {

	ctx, cancel := m.callContext(ctx)
	defer cancel()

	resp, err := m.api.metering.GetMeter(ctx, connect.NewRequest(
		&sluicerpc.GetMeterRequest{JobId: jobID}))
	if err != nil {
		return agent.MeterStatus{}, meteringErr(err)
	}
	m.answered()

	versions := make([]uint8, 0, len(resp.Msg.BatchVersions))
	for _, v := range resp.Msg.BatchVersions {
		if v <= 255 {
			versions = append(versions, uint8(v))
		}
	}

	return agent.MeterStatus{
		BatchVersions: versions,
		State:         resp.Msg.State,
		LastSeq:       resp.Msg.LastSeq,
		LastSecond:    resp.Msg.LastSecond,
		Max: metering.Usage{
			CPU: resp.Msg.MaxCpuCoreMs, Mem: resp.Msg.MaxMemMibS,
		},
	}, nil
}

// meteringSentinels are the errors the agent tells apart.
var meteringSentinels = []error{
	metering.ErrMalformed, metering.ErrUnsupportedVersion,
	metering.ErrBadSignature, metering.ErrUnknownJob,
	metering.ErrForeignJob, metering.ErrJobNotRunning,
	metering.ErrSeqGap, metering.ErrSecondNotAfter,
	metering.ErrFutureSecond, metering.ErrBeforeStart,
	metering.ErrAfterEnd, metering.ErrTooManySeconds,
	metering.ErrOverLimit, metering.ErrOverflow, metering.ErrConflict,
	metering.ErrInsufficientEscrow, metering.ErrUnknownResource,
}

// meteringErr wraps the metering sentinel whose text the server's error
// carries; errors without one (a dropped connection, a server not up) are
// returned as they are, and the agent retries them. Auth failures are
// wrapped as ErrForeignJob: retrying does not fix a macaroon.
//
// A call that left its server (rpcclient.MovedError) wraps agent.ErrMoved.
func meteringErr(err error) error {
	var moved *rpcclient.MovedError
	if errors.As(err, &moved) {
		return fmt.Errorf("%w %s (sluiced at %s: %v)",
			agent.ErrMoved, moved.To, moved.From, moved.Err)
	}
	var ce *connect.Error
	if !errors.As(err, &ce) {
		return err
	}
	for _, s := range meteringSentinels {
		if strings.Contains(ce.Message(), s.Error()) {
			return fmt.Errorf("%w (%v)", s, ce)
		}
	}
	switch ce.Code() {
	case connect.CodeUnauthenticated, connect.CodePermissionDenied:
		return fmt.Errorf("%w: %v", metering.ErrForeignJob, ce)
	}

	return err
}
