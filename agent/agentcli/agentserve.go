package agentcli

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"os/signal"
	"path/filepath"
	"runtime"
	"runtime/debug"
	"strconv"
	"strings"
	"syscall"
	"time"

	"connectrpc.com/connect"
	"github.com/btcsuite/btclog/v2"
	"github.com/sluice-ln/sluice/agent"
	"github.com/sluice-ln/sluice/agent/sandbox"
	"github.com/sluice-ln/sluice/market"
	"github.com/sluice-ln/sluice/rpc/rpcclient"
	"github.com/sluice-ln/sluice/rpc/sluicerpc"
	"github.com/urfave/cli"
)

// ServeCommand offers the machine's capacity and runs the jobs placed on
// the provider, each in a sandbox.
var ServeCommand = cli.Command{
	Name:  "serve",
	Usage: "offer this machine's capacity to the market by heartbeat",
	Description: `
Announces what this machine gives to Sluice's jobs: its cores (or --cores),
its memory (MemTotal of /proc/meminfo, or --mem) and how many jobs it runs
at once (--slots), with a heartbeat every --interval until SIGINT or
SIGTERM. The provider is online while heartbeats arrive; sluiced takes it
offline when none came for its market.heartbeattimeout (three default
intervals).

Every --interval it also looks for work: the provider's funded jobs that
carry a workload and have not started, up to --slots at once. Each is run
in a sandbox (agent/sandbox: bubblewrap in a cgroup of its own, which needs
root) held to the job's cpu and mem, --pids processes and --max-wall, and
metered and streamed as 'agent run' does; when it exits its result (exit
code or signal, why it was stopped, its output up to 1 MiB and its
SHA-256) is submitted. A job it cannot run (a workload the sandbox refuses,
no sandbox on this machine) is ended as provider, and the reason logged.
A started job without a result that this agent did not start (an earlier
agent's, killed) is ended too: a sandboxed run cannot be resumed. SIGINT or
SIGTERM stop the runs, send their last seconds and results, then exit; a
second one exits at once. Usage is signed with the agent key (--agentkey,
default <sluicedir>/<network>/agent.key); without one it only heartbeats.

A refusal that another try cannot fix (no link, a bad offer, a macaroon
for another provider) ends the command; a server that cannot be reached
is tried again at the next interval. Calls use the provider macaroon
(<sluicedir>/<network>/provider.macaroon, or --macaroonpath).`,
	Flags: append([]cli.Flag{
		cli.Float64Flag{
			Name:  "cores",
			Usage: "cores to offer, fractions allowed (default: all)",
		},
		cli.Uint64Flag{
			Name:  "mem",
			Usage: "MiB of memory to offer (default: all)",
		},
		cli.UintFlag{
			Name:  "slots",
			Value: 1,
			Usage: "how many jobs to run at once",
		},
		cli.DurationFlag{
			Name:  "interval",
			Value: market.DefaultInterval,
			Usage: "time between heartbeats, and between two looks " +
				"for work",
		},
		cli.DurationFlag{
			Name:  "batch-interval",
			Value: time.Second,
			Usage: "the least time between two usage batches of a job",
		},
		cli.Uint64Flag{
			Name:  "pids",
			Value: defaultServePids,
			Usage: "the most processes a job's workload may have",
		},
		cli.DurationFlag{
			Name:  "max-wall",
			Value: defaultServeWall,
			Usage: "how long a job's workload may run before it is " +
				"killed",
		},
		cli.StringFlag{
			Name: "workdir",
			Usage: "where workloads' output is kept while they run " +
				"(default <tmp>/sluice-serve)",
		},
		cli.BoolFlag{
			Name:  "quiet",
			Usage: "log only warnings and errors",
		},
	}, meterFlags...),
	Action: agentServe,
}

func agentServe(c *cli.Context) error {
	machine, err := readMachine("/proc/meminfo")
	if err != nil {
		return err
	}
	offer, err := offerFor(machine, c.IsSet("cores"), c.Float64("cores"),
		c.Uint64("mem"), c.Uint("slots"), agentVersion())
	if err != nil {
		return err
	}
	interval := c.Duration("interval")
	if interval < 100*time.Millisecond {
		return fmt.Errorf("--interval %v: at least 100ms", interval)
	}
	if c.Uint64("pids") == 0 || c.Uint64("pids") > sandbox.MaxPids {
		return fmt.Errorf("--pids %d: between 1 and %d",
			c.Uint64("pids"), sandbox.MaxPids)
	}
	if w := c.Duration("max-wall"); w <= 0 || w > sandbox.MaxWall {
		return fmt.Errorf("--max-wall %v: up to %v", w, sandbox.MaxWall)
	}
	// Without the agent key no usage can be signed: the agent then
	// only heartbeats, and takes no job rather than end them all.
	key, _, keyErr := readAgentKey(c)
	client, id, err := providerTarget(c)
	if err != nil {
		return err
	}
	workdir := rpcclient.CleanPath(c.String("workdir"))
	if workdir == "" {
		workdir = filepath.Join(os.TempDir(), "sluice-serve")
	}

	logger := agentLoggers(c.Bool("quiet"), "SERV")
	logger.Infof("Provider %s offers %d core-ms/s, %d MiB, %d slot(s) "+
		"every %v (agent %s)", id, offer.CpuCoreMs, offer.MemMib,
		offer.Slots, interval, offer.AgentVersion)

	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT,
		syscall.SIGTERM)
	defer stop()

	// Runs outlive ctx: on a signal they are stopped (stopping), and
	// their last seconds and results sent, on runCtx.
	runCtx, cancelRuns := context.WithCancel(context.Background())
	defer cancelRuns()
	stopping := make(chan struct{})
	srv := newServer(&jobsAPI{api: client, providerID: id},
		int(offer.Slots), logger, nil)
	runner := serveRunner(srv, func(jobID string) agent.StreamConfig {
		return streamConfig(c, jobID, key, client,
			c.Duration("batch-interval"))
	}, workdir, c.Uint64("pids"), c.Duration("max-wall"), stopping,
		c.Duration("stop-grace"))
	srv.run = runner.runJob
	loopCtx, stopLoop := context.WithCancel(ctx)
	defer stopLoop()
	loopDone := make(chan struct{})
	if keyErr != nil {
		logger.Warnf("Not looking for work: %v", keyErr)
		close(loopDone)
	} else {
		go func() {
			defer close(loopDone)
			serveLoop(loopCtx, runCtx, srv, interval)
		}()
	}

	beats := 0
	beat := func(ctx context.Context) error {
		callCtx, cancel := context.WithTimeout(ctx, callTimeout)
		defer cancel()
		resp, err := client.market.Heartbeat(callCtx, connect.NewRequest(
			&sluicerpc.HeartbeatRequest{ProviderId: id, Offer: offer}))
		if err != nil {
			return err
		}
		beats++
		if beats == 1 {
			logger.Infof("Online: sluiced keeps the provider online "+
				"for %v after each heartbeat",
				time.Duration(resp.Msg.TimeoutMs)*time.Millisecond)
			if d := time.Duration(resp.Msg.TimeoutMs) *
				time.Millisecond; d < 2*interval {

				logger.Warnf("--interval %v is more than half "+
					"sluiced's timeout %v: one late heartbeat "+
					"takes the provider offline", interval, d)
			}
		}
		return nil
	}
	err = heartbeatLoop(ctx, beat, interval, func(err error) {
		logger.Warnf("Heartbeat failed, trying again in %v: %v",
			interval, err)
	})
	// No run starts after this; a second signal exits at once.
	stopLoop()
	<-loopDone
	stop()
	close(stopping)
	srv.Wait()
	if err != nil {
		return client.callError("heartbeat", err)
	}
	logger.Infof("Stopped after %d heartbeats", beats)
	return nil
}

// serveLoop looks for work now and every interval until ctx ends; runs
// get runCtx.
func serveLoop(ctx, runCtx context.Context, srv *server,
	interval time.Duration) {

	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		err := srv.poll(ctx, runCtx)
		if err != nil && ctx.Err() == nil {
			srv.logger.Warnf("Looking for work: %v (trying again "+
				"in %v)", err, interval)
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// agentLoggers makes the loggers of the agent commands: the agent's
// (AGNT), the sandbox's (SBOX) and the command's own, name, which it
// returns.
func agentLoggers(quiet bool, name string) btclog.Logger {
	root := btclog.NewSLogger(btclog.NewDefaultHandler(os.Stderr))
	level := btclog.LevelInfo
	if quiet {
		level = btclog.LevelWarn
	}
	sub := func(n string) btclog.Logger {
		l := root.SubSystem(n)
		l.SetLevel(level)
		return l
	}
	agent.UseLogger(sub(agent.Subsystem))
	sandbox.UseLogger(sub(sandbox.Subsystem))
	return sub(name)
}

// heartbeatLoop calls beat now and every interval until ctx ends, which
// is no error. The first beat must succeed: it is where a missing link or
// a bad offer shows. Later, an error another try cannot fix (permanent)
// ends the loop; others are passed to retry and tried at the next tick.
func heartbeatLoop(ctx context.Context, beat func(context.Context) error,
	interval time.Duration, retry func(error)) error {

	if err := beat(ctx); err != nil {
		return err
	}
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
		err := beat(ctx)
		switch {
		case err == nil:
		case ctx.Err() != nil:
			return nil
		case permanent(err):
			return err
		default:
			retry(err)
		}
	}
}

// permanent reports whether a heartbeat's error will come back however
// often it is tried: the offer, the link or the macaroon is wrong.
func permanent(err error) bool {
	switch connect.CodeOf(err) {
	case connect.CodeInvalidArgument, connect.CodeFailedPrecondition,
		connect.CodePermissionDenied, connect.CodeUnauthenticated,
		connect.CodeUnimplemented:
		return true
	}
	return false
}

// machine is what this machine has.
type machine struct {
	cores  int
	memMiB uint64
}

// readMachine counts the cores Go may use and reads MemTotal from
// meminfo (a /proc/meminfo).
func readMachine(meminfo string) (machine, error) {
	f, err := os.Open(meminfo)
	if err != nil {
		return machine{}, fmt.Errorf("memory: %w", err)
	}
	defer f.Close()
	mem, err := parseMemTotal(f)
	if err != nil {
		return machine{}, fmt.Errorf("memory: %s: %w", meminfo, err)
	}
	return machine{cores: runtime.NumCPU(), memMiB: mem}, nil
}

// errNoMemTotal is returned by parseMemTotal for a meminfo without it.
var errNoMemTotal = errors.New("no MemTotal line")

// parseMemTotal reads the MemTotal line of a /proc/meminfo ("MemTotal:
// 16318220 kB") and returns it in MiB, rounded down.
func parseMemTotal(r io.Reader) (uint64, error) {
	sc := bufio.NewScanner(r)
	for sc.Scan() {
		rest, ok := strings.CutPrefix(sc.Text(), "MemTotal:")
		if !ok {
			continue
		}
		fields := strings.Fields(rest)
		if len(fields) != 2 || fields[1] != "kB" {
			return 0, fmt.Errorf("MemTotal line %q is not "+
				"\"<number> kB\"", sc.Text())
		}
		kb, err := strconv.ParseUint(fields[0], 10, 64)
		if err != nil {
			return 0, fmt.Errorf("MemTotal: %w", err)
		}
		return kb / 1024, nil
	}
	if err := sc.Err(); err != nil {
		return 0, err
	}
	return 0, errNoMemTotal
}

// offerFor is the offer of the machine, less where the flags say so: cores
// (when set, a positive number no more than the machine's) and memMiB
// (when not zero, no more than the machine's).
func offerFor(m machine, coresSet bool, cores float64, memMiB uint64,
	slots uint, version string) (*sluicerpc.Offer, error) {

	cpu := uint64(m.cores) * 1000
	if coresSet {
		if math.IsNaN(cores) || cores <= 0 || cores > float64(m.cores) {
			return nil, fmt.Errorf("--cores %v: between 0 and the "+
				"machine's %d", cores, m.cores)
		}
		// Cores are not money: a float rounded down to whole
		// core-milliseconds is exact enough.
		cpu = uint64(cores * 1000)
	}
	mem := m.memMiB
	if memMiB != 0 {
		if memMiB > m.memMiB {
			return nil, fmt.Errorf("--mem %d MiB: the machine has %d",
				memMiB, m.memMiB)
		}
		mem = memMiB
	}
	if slots == 0 || slots > market.MaxSlots {
		return nil, fmt.Errorf("--slots %d: between 1 and %d", slots,
			market.MaxSlots)
	}
	o := market.Offer{CPU: cpu, Mem: mem, Slots: uint32(slots),
		Version: version}
	if err := o.Validate(); err != nil {
		return nil, err
	}
	return &sluicerpc.Offer{CpuCoreMs: cpu, MemMib: mem,
		Slots: uint32(slots), AgentVersion: version}, nil
}

// agentVersion names this build: the module version and, when Go recorded
// it, the commit.
func agentVersion() string {
	v := "sluice"
	bi, ok := debug.ReadBuildInfo()
	if !ok {
		return v
	}
	v += "/" + bi.Main.Version
	for _, s := range bi.Settings {
		if s.Key == "vcs.revision" && len(s.Value) >= 12 {
			v += "+" + s.Value[:12]
		}
	}
	return v
}
