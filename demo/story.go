package demo

import (
	"bytes"
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"

	"connectrpc.com/connect"
	"github.com/lightningnetwork/lnd/lnrpc"
	"github.com/lightningnetwork/lnd/lnrpc/routerrpc"
	"github.com/sluice-ln/sluice/devnet"
	"github.com/sluice-ln/sluice/ledger"
	"github.com/sluice-ln/sluice/rpc/sluicerpc"
	"github.com/sluice-ln/sluice/store"
	"google.golang.org/grpc"
	"google.golang.org/protobuf/proto"
)

// story is one play of the demo: what the steps made and hand on.
type story struct {
	cfg  Config
	out  io.Writer
	prof *devnet.Profile
	ctx  context.Context

	// sluiced is the sluiced the story started (nil when it reused
	// one); sluicedDone gets its exit.
	sluiced     *exec.Cmd
	sluicedDone chan error
	reused      bool

	operator, provider, buyer *api

	providerID string
	buyerName  string
	job        *sluicerpc.Job
	budget     ledger.MilliSatoshi

	// The nodes' gRPC connections, opened when first needed.
	conns map[string]*grpc.ClientConn

	db *store.DB

	// chain mines blocks for the share act, opened when first needed.
	chain *devnet.Chain

	// act is the share act's state: the share asset on tapd.
	act shareAct

	// yield is the yield act's state: the plan and its open.
	yield yieldAct

	// base are the books before the work; sum the summary.
	base books
	sum  *Summary
}

// close releases what the story holds and stops the sluiced it started.
func (s *story) close() {
	if s.db != nil {
		_ = s.db.Close()
	}
	for _, c := range s.conns {
		_ = c.Close()
	}
	if s.chain != nil {
		s.chain.Close()
	}
	s.stopSluiced()
}

// conn returns a gRPC connection to the named lnd.
func (s *story) conn(name string) (*grpc.ClientConn, error) {
	if c, ok := s.conns[name]; ok {
		return c, nil
	}
	node, err := s.prof.Node(name)
	if err != nil {
		return nil, err
	}
	c, err := node.Dial()
	if err != nil {
		return nil, err
	}
	if s.conns == nil {
		s.conns = map[string]*grpc.ClientConn{}
	}
	s.conns[name] = c
	return c, nil
}

// sluiceArgs are the global flags that point the sluice CLI at the
// network's sluiced.
func (s *story) sluiceArgs() []string {
	return []string{"--rpcserver=" + s.prof.Sluiced.RPCListen,
		"--sluicedir=" + s.prof.Sluiced.Dir,
		"--network=" + s.prof.Network}
}

// runCLI runs the sluice binary, shows the command, and decodes its --json
// answer into msg.
func (s *story) runCLI(ctx context.Context, msg proto.Message,
	args ...string) error {

	return s.execCLI(ctx, s.showCLI(args...), func(out []byte) error {
		return sluicerpc.JSONUnmarshalOptions.Unmarshal(out, msg)
	})
}

// showCLI prints the command as a user would type it and returns the full
// argument list: the network's flags, --json, then args.
func (s *story) showCLI(args ...string) []string {
	args = append(append(s.sluiceArgs(), "--json"), args...)
	fmt.Fprintf(s.out, "    $ sluice %s\n", strings.Join(args[3:], " "))
	return args
}

// execCLI runs the sluice binary with args (from showCLI) and decodes its
// answer with decode. A command that fails may still have answered
// (reconcile exits 1 on a difference, verify on a failed step): the answer
// is decoded, the failure returned. It prints nothing, so it may run
// beside the live line.
func (s *story) execCLI(ctx context.Context, args []string,
	decode func([]byte) error) error {

	cmd := exec.CommandContext(ctx, s.cfg.Sluice, args...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	runErr := cmd.Run()
	if runErr != nil {
		runErr = fmt.Errorf("sluice %s: %w: %s", strings.Join(args[3:],
			" "), runErr, strings.TrimSpace(stderr.String()))
		if stdout.Len() == 0 {
			return runErr
		}
	}
	if err := decode(stdout.Bytes()); err != nil {
		return errors.Join(runErr, fmt.Errorf("sluice %s --json: %w: %s",
			strings.Join(args[3:], " "), err, stdout.String()))
	}
	return runErr
}

// linkProvider links provider1 as `sluice provider link --devnet` does: a
// challenge from sluiced, signed by provider1's lnd (SignMessage). The
// provider macaroon and agent key land in sluiced's macaroon directory,
// where the agent finds them.
func (s *story) linkProvider(ctx context.Context) error {
	var resp sluicerpc.CompleteLinkResponse
	err := s.runCLI(ctx, &resp, "provider", "link", "--devnet",
		s.prof.Dir, "--node", devnet.NodeProvider1)
	if err != nil {
		return err
	}
	s.providerID = resp.Provider.GetProviderId()
	if s.providerID == "" {
		return errors.New("the link named no provider id")
	}
	fmt.Fprintf(s.out, "    provider1 is provider %s (node %x)\n",
		s.providerID, resp.Provider.GetNodePubkey())

	s.provider, err = newAPI(s.prof.Sluiced.RPCListen,
		filepath.Join(s.prof.Sluiced.Dir, "tls.cert"),
		filepath.Join(s.macaroonDir(), "provider.macaroon"))
	return err
}

// setRates gives provider1 the story's rate card.
func (s *story) setRates(ctx context.Context) error {
	rates := map[string]string{"cpu": CPURate, "mem": MemRate}
	_, err := s.provider.provider.SetRates(ctx, connect.NewRequest(
		&sluicerpc.SetRatesRequest{ProviderId: s.providerID,
			Rates: rates}))
	if err != nil {
		return fmt.Errorf("set rates: %w", err)
	}
	// A core-ms at CPURate msat is CPURate sat a core-second.
	fmt.Fprintf(s.out, "    cpu %s msat per core-ms, mem %s msat per "+
		"MiB-second (a busy core earns %s sat a second)\n", CPURate,
		MemRate, CPURate)
	return nil
}

// autoStake has provider1 stake AutoStakePercent of each metered second's
// earnings, as `sluice provider autostake` does: the vault's capital for
// the yield act.
func (s *story) autoStake(ctx context.Context) error {
	fmt.Fprintf(s.out, "    $ sluice provider autostake --percent %d\n",
		AutoStakePercent)
	_, err := s.provider.vault.SetAutoStake(ctx, connect.NewRequest(
		&sluicerpc.SetAutoStakeRequest{ProviderId: s.providerID,
			Percent: AutoStakePercent}))
	if err != nil {
		return fmt.Errorf("auto-stake: %w", err)
	}
	fmt.Fprintf(s.out, "    %d %% of what each second earns buys vault "+
		"shares before payouts see it; the rest streams to provider1\n",
		AutoStakePercent)
	return nil
}

// addBuyer mints a buyer macaroon as `sluice operator buyer add` does,
// under a name no earlier story used.
func (s *story) addBuyer(ctx context.Context) error {
	s.buyerName = fmt.Sprintf("demo-%s", time.Now().UTC().Format(
		"20060102-150405"))
	macPath := filepath.Join(s.macaroonDir(),
		"buyer-"+s.buyerName+".macaroon")
	var resp sluicerpc.AddBuyerResponse
	err := s.runCLI(ctx, &resp, "operator", "buyer", "add", s.buyerName,
		"--macaroonout", macPath)
	if err != nil {
		return err
	}
	fmt.Fprintf(s.out, "    buyer %s, macaroon %s\n",
		resp.Buyer.GetBuyerId(), macPath)
	s.buyer, err = newAPI(s.prof.Sluiced.RPCListen,
		filepath.Join(s.prof.Sluiced.Dir, "tls.cert"), macPath)
	return err
}

// createJob creates the buyer's job for provider1, refunds going to the
// buyer node by keysend.
func (s *story) createJob(ctx context.Context) error {
	buyer, err := s.prof.Node(devnet.NodeBuyer)
	if err != nil {
		return err
	}
	refund, err := hex.DecodeString(buyer.PubKey)
	if err != nil {
		return fmt.Errorf("buyer node's pubkey %q: %w", buyer.PubKey,
			err)
	}
	s.budget = Budget(s.cfg.Work)
	resp, err := s.buyer.jobs.CreateJob(ctx, connect.NewRequest(
		&sluicerpc.CreateJobRequest{
			ProviderId:       s.providerID,
			Spec:             map[string]int64{"cpu": jobCPU, "mem": jobMem},
			BudgetMsat:       int64(s.budget),
			BufferSeconds:    bufferSeconds,
			RefundNodePubkey: refund,
		}))
	if err != nil {
		return fmt.Errorf("create job: %w", err)
	}
	s.job = resp.Msg.Job
	if len(s.job.Invoices) == 0 {
		return fmt.Errorf("job %s has no funding invoice", s.job.JobId)
	}
	fmt.Fprintf(s.out, "    job %s, budget %s, invoice %.40s...\n",
		s.job.JobId, sat(s.budget), s.job.Invoices[0].PaymentRequest)
	return nil
}

// payInvoice pays the job's funding invoice from the buyer node.
func (s *story) payInvoice(ctx context.Context) error {
	return s.pay(ctx, s.job.Invoices[0].PaymentRequest)
}

// pay pays a BOLT11 invoice from the buyer node and waits for the outcome.
func (s *story) pay(ctx context.Context, payReq string) error {
	conn, err := s.conn(devnet.NodeBuyer)
	if err != nil {
		return err
	}
	stream, err := routerrpc.NewRouterClient(conn).SendPaymentV2(ctx,
		&routerrpc.SendPaymentRequest{
			PaymentRequest:    payReq,
			TimeoutSeconds:    60,
			FeeLimitSat:       100,
			NoInflightUpdates: true,
		})
	if err != nil {
		return fmt.Errorf("buyer node: SendPaymentV2: %w", err)
	}
	for {
		p, err := stream.Recv()
		if err != nil {
			return fmt.Errorf("buyer node: payment: %w", err)
		}
		switch p.Status {
		case lnrpc.Payment_SUCCEEDED:
			fmt.Fprintf(s.out, "    buyer node paid %s (fee %d "+
				"msat)\n", sat(ledger.MilliSatoshi(
				p.ValueMsat)), p.FeeMsat)
			return nil
		case lnrpc.Payment_FAILED:
			return fmt.Errorf("buyer node: payment failed: %v",
				p.FailureReason)
		}
	}
}

// getJob reads the job as its buyer sees it.
func (s *story) getJob(ctx context.Context) (*sluicerpc.Job, error) {
	resp, err := s.buyer.jobs.GetJob(ctx, connect.NewRequest(
		&sluicerpc.GetJobRequest{JobId: s.job.JobId}))
	if err != nil {
		return nil, fmt.Errorf("get job %s: %w", s.job.JobId, err)
	}
	return resp.Msg.Job, nil
}

// errGiveUp marks a poll's answer that waiting will not change.
var errGiveUp = errors.New("no use waiting")

// poll calls check every interval until it returns nil, an error wrapping
// errGiveUp, or ctx ends; the error then says what was awaited and the
// last answer.
func poll(ctx context.Context, what string, interval time.Duration,
	check func() error) error {

	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		err := check()
		switch {
		case err == nil:
			return nil
		case errors.Is(err, errGiveUp):
			return fmt.Errorf("waiting for %s: %w", what, err)
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("waiting for %s: %w (last: %v)", what,
				ctx.Err(), err)
		case <-t.C:
		}
	}
}

// waitFunded waits until sluiced saw the invoice settle and credited the
// escrow.
func (s *story) waitFunded(ctx context.Context) error {
	return poll(ctx, "the job to be funded", 500*time.Millisecond,
		func() error {
			j, err := s.getJob(ctx)
			if err != nil {
				return err
			}
			if j.State == "awaiting_funding" {
				return fmt.Errorf("job is %s", j.State)
			}
			s.job = j
			fmt.Fprintf(s.out, "    job %s, escrow %s\n", j.State,
				sat(ledger.MilliSatoshi(j.EscrowMsat)))
			return nil
		})
}

// openStore opens sluiced's SQLite store beside it, for reading.
func (s *story) openStore(ctx context.Context) error {
	if s.db != nil {
		return nil
	}
	db, err := store.Open(ctx, store.Config{Backend: store.SQLite,
		SQLitePath: filepath.Join(s.macaroonDir(), "sluice.db")})
	if err != nil {
		return fmt.Errorf("open sluiced's store: %w", err)
	}
	s.db = db
	return nil
}

// runAgent runs `sluice agent run` on the work command and prints a live
// line a second until it exits.
func (s *story) runAgent(ctx context.Context) error {
	logPath := filepath.Join(s.cfg.LogDir, agentLogName)
	logFile, err := os.Create(logPath)
	if err != nil {
		return fmt.Errorf("agent log: %w", err)
	}
	defer logFile.Close()

	args := append(append(s.sluiceArgs(), "agent", "run", "--job",
		s.job.JobId, "--"), workCommand(s.cfg.Work)...)
	fmt.Fprintf(s.out, "    $ sluice %s\n    (agent log %s)\n",
		shellJoin(args[3:]), logPath)
	cmd := exec.CommandContext(ctx, s.cfg.Sluice, args...)
	cmd.Stdout, cmd.Stderr = logFile, logFile
	cmd.WaitDelay = 10 * time.Second
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("start the agent: %w", err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()

	start := time.Now()
	tick := time.NewTicker(time.Second)
	defer tick.Stop()
	for {
		select {
		case err := <-done:
			s.live(ctx, time.Since(start), true)
			if err != nil {
				return fmt.Errorf("agent: %w: %s", err,
					tail(logPath, 5))
			}
			return nil
		case <-tick.C:
			s.live(ctx, time.Since(start), false)
			// The share asset's genesis starts at the first
			// rewarded epoch's close, and is mined meanwhile.
			sctx, cancel := context.WithTimeout(ctx, shareLook)
			if _, err := s.advanceShares(sctx); err != nil {
				fmt.Fprintf(s.out, "    (shares: %v)\n", err)
			}
			cancel()
		}
	}
}

// shellJoin quotes the arguments that need it, for a line to copy.
func shellJoin(args []string) string {
	out := make([]string, len(args))
	for i, a := range args {
		if strings.ContainsAny(a, " ;$'\"") {
			a = "'" + strings.ReplaceAll(a, "'", `'\''`) + "'"
		}
		out[i] = a
	}
	return strings.Join(out, " ")
}

// endJob ends the job; sluiced refunds the rest by keysend to the buyer
// node named at creation.
func (s *story) endJob(ctx context.Context) error {
	resp, err := s.buyer.jobs.EndJob(ctx, connect.NewRequest(
		&sluicerpc.EndJobRequest{JobId: s.job.JobId}))
	if err != nil {
		return fmt.Errorf("end job: %w", err)
	}
	s.job = resp.Msg.Job
	fmt.Fprintf(s.out, "    job %s, escrow %s to refund\n", s.job.State,
		sat(ledger.MilliSatoshi(s.job.EscrowMsat)))
	return nil
}

// waitRefund waits until the job's last refund succeeded.
func (s *story) waitRefund(ctx context.Context) error {
	return poll(ctx, "the refund", 500*time.Millisecond, func() error {
		j, err := s.getJob(ctx)
		if err != nil {
			return err
		}
		s.job = j
		if len(j.Refunds) == 0 {
			if j.EscrowMsat == 0 && j.State == "ended" {
				// Nothing was left to refund.
				return nil
			}
			return fmt.Errorf("no refund yet (job %s)", j.State)
		}
		r := j.Refunds[len(j.Refunds)-1]
		switch r.State {
		case "succeeded":
			fmt.Fprintf(s.out, "    buyer node refunded %s\n",
				sat(ledger.MilliSatoshi(j.RefundedMsat)))
			return nil
		case "failed":
			return fmt.Errorf("%w: refund failed: %s", errGiveUp,
				r.Failure)
		}
		return fmt.Errorf("refund %s", r.State)
	})
}

// reserveSlack is what the hub keeps above its channel reserve on the
// buyer's channel, so that a refund of the whole budget still fits.
const reserveSlack = 1_000

// primeBuyerChannel makes sure the hub can refund the buyer. The devnet's
// only channel between them is the buyer's, and lnd lets a node send over
// a channel only what it holds above its reserve (1% of the capacity). On
// a fresh network the hub holds nothing there, so a refund would find no
// route; the buyer node then pays the hub a plain lnd invoice (outside
// Sluice; reconciliation counts it as foreign) up to the reserve.
func (s *story) primeBuyerChannel(ctx context.Context) error {
	buyer, err := s.prof.Node(devnet.NodeBuyer)
	if err != nil {
		return err
	}
	hubConn, err := s.conn(devnet.NodeHub)
	if err != nil {
		return err
	}
	hub := lnrpc.NewLightningClient(hubConn)
	peer, err := hex.DecodeString(buyer.PubKey)
	if err != nil {
		return fmt.Errorf("buyer node's pubkey %q: %w", buyer.PubKey,
			err)
	}
	chans, err := hub.ListChannels(ctx, &lnrpc.ListChannelsRequest{
		ActiveOnly: true, Peer: peer})
	if err != nil {
		return fmt.Errorf("hub: list channels: %w", err)
	}
	if len(chans.Channels) == 0 {
		return fmt.Errorf("the hub has no active channel with the " +
			"buyer node")
	}
	c := chans.Channels[0]
	reserve := int64(c.GetLocalConstraints().GetChanReserveSat())
	need := reserve + reserveSlack - c.LocalBalance
	if need <= 0 {
		fmt.Fprintf(s.out, "    the hub holds %d sat of the buyer's "+
			"channel, above its reserve of %d sat\n",
			c.LocalBalance, reserve)
		return nil
	}
	fmt.Fprintf(s.out, "    the hub holds %d sat of the buyer's %d sat "+
		"channel, below its %d sat reserve, so it could not refund; "+
		"the buyer node pays the hub %d sat outside Sluice (a plain "+
		"lnd invoice, foreign to the ledger)\n", c.LocalBalance,
		c.Capacity, reserve, need)
	inv, err := hub.AddInvoice(ctx, &lnrpc.Invoice{
		Memo: "devnet: balance the buyer's channel", Value: need})
	if err != nil {
		return fmt.Errorf("hub: add invoice: %w", err)
	}
	return s.pay(ctx, inv.PaymentRequest)
}
