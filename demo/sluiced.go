package demo

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"connectrpc.com/connect"
	"github.com/sluice-ln/sluice/rpc/rpcclient"
	"github.com/sluice-ln/sluice/rpc/sluicerpc"
	"github.com/sluice-ln/sluice/rpc/sluicerpc/sluicerpcconnect"
)

// sluicedOutName and agentLogName are the story's log files in LogDir.
const (
	sluicedOutName = "sluiced.out"
	agentLogName   = "agent.log"
)

// api is sluiced's API called with one macaroon.
type api struct {
	sluice   sluicerpcconnect.SluiceClient
	operator sluicerpcconnect.OperatorServiceClient
	jobs     sluicerpcconnect.JobServiceClient
	provider sluicerpcconnect.ProviderServiceClient
	metering sluicerpcconnect.MeteringServiceClient
	vault    sluicerpcconnect.VaultServiceClient
	shares   sluicerpcconnect.SharesServiceClient
}

// newAPI returns clients of the sluiced at addr whose TLS certificate is
// certPath, calling with the macaroon in macaroonPath.
func newAPI(addr, certPath, macaroonPath string) (*api, error) {
	certPEM, err := os.ReadFile(certPath)
	if err != nil {
		return nil, fmt.Errorf("sluiced's TLS certificate: %w", err)
	}
	mac, err := os.ReadFile(macaroonPath)
	if err != nil {
		return nil, fmt.Errorf("macaroon: %w", err)
	}
	cl, err := rpcclient.New(addr, certPEM, mac)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", certPath, err)
	}
	return &api{
		sluice:   cl.Sluice,
		operator: cl.Operator,
		jobs:     cl.Jobs,
		provider: cl.Providers,
		metering: cl.Metering,
		vault:    cl.Vault,
		shares:   cl.Shares,
	}, nil
}

// macaroonDir is where sluiced bakes its macaroons and keeps its SQLite
// store: <datadir>/<network>.
func (s *story) macaroonDir() string {
	return filepath.Join(s.prof.Sluiced.Dir, s.prof.Network)
}

// operatorAPI returns the API with the operator macaroon.
func (s *story) operatorAPI() (*api, error) {
	return newAPI(s.prof.Sluiced.RPCListen,
		filepath.Join(s.prof.Sluiced.Dir, "tls.cert"),
		filepath.Join(s.macaroonDir(), "operator.macaroon"))
}

// answers reports whether a sluiced answers GetInfo with the operator
// macaroon.
func (s *story) answers(ctx context.Context) error {
	op, err := s.operatorAPI()
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, 3*time.Second)
	defer cancel()
	_, err = op.sluice.GetInfo(ctx, connect.NewRequest(
		&sluicerpc.GetInfoRequest{}))
	return err
}

// startSluiced reuses a sluiced that answers on the network's API address,
// or starts one with the network's sluice.conf (written when missing), the
// story's platform fee, reward epochs sized from the work (StoryEpoch) and
// fast share loops, and waits until it answers. A reused sluiced keeps its
// own settings: the share act then waits longer.
func (s *story) startSluiced(ctx context.Context) error {
	if err := s.answers(ctx); err == nil {
		fmt.Fprintf(s.out, "    sluiced already answers at %s; using "+
			"it (its own platform fee applies)\n",
			s.prof.Sluiced.RPCListen)
		s.reused = true
		return s.connectOperator()
	}

	conf := s.prof.Sluiced.ConfigPath
	if _, err := os.Stat(conf); errors.Is(err, os.ErrNotExist) {
		if conf, err = s.prof.WriteSluicedConf(); err != nil {
			return err
		}
	} else if err != nil {
		return fmt.Errorf("sluice.conf: %w", err)
	}

	outPath := filepath.Join(s.cfg.LogDir, sluicedOutName)
	out, err := os.OpenFile(outPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND,
		0o600)
	if err != nil {
		return fmt.Errorf("sluiced's output file: %w", err)
	}
	defer out.Close()
	args := []string{"--configfile=" + conf,
		fmt.Sprintf("--metering.platformfee=%d", s.cfg.PlatformFee),
		"--yield.epoch=" + StoryEpoch(s.cfg.Work).String(),
		"--tapd.sharesync=" + shareSync.String(),
		"--tapd.withdrawinterval=" + withdrawInterval.String(),
		fmt.Sprintf("--routing.chansize=%d", StoryChanSat)}
	cmd := exec.Command(s.cfg.Sluiced, args...)
	cmd.Stdout, cmd.Stderr = out, out
	if !s.cfg.KeepSluiced {
		// sluiced goes when the story's process does, however it
		// ends.
		cmd.SysProcAttr = &syscall.SysProcAttr{
			Pdeathsig: syscall.SIGTERM}
	} else {
		cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
	}
	fmt.Fprintf(s.out, "    %s %s\n    (output in %s)\n",
		s.cfg.Sluiced, strings.Join(args, " "), outPath)
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("start %s: %w", s.cfg.Sluiced, err)
	}
	s.sluiced = cmd
	s.sluicedDone = make(chan error, 1)
	go func() { s.sluicedDone <- cmd.Wait() }()

	tick := time.NewTicker(250 * time.Millisecond)
	defer tick.Stop()
	for {
		select {
		case err := <-s.sluicedDone:
			s.sluiced = nil
			return fmt.Errorf("sluiced exited at start (%v): %s", err,
				tail(outPath, 5))
		case <-ctx.Done():
			return fmt.Errorf("sluiced did not answer at %s: %w",
				s.prof.Sluiced.RPCListen, ctx.Err())
		case <-tick.C:
		}
		if err := s.answers(ctx); err == nil {
			break
		}
	}
	fmt.Fprintf(s.out, "    sluiced (pid %d) answers at %s\n",
		cmd.Process.Pid, s.prof.Sluiced.RPCListen)
	return s.connectOperator()
}

// connectOperator keeps the operator API for later steps.
func (s *story) connectOperator() error {
	op, err := s.operatorAPI()
	if err != nil {
		return err
	}
	s.operator = op
	return nil
}

// stopSluiced stops the sluiced the story started, unless it is to be
// kept: SIGTERM, then SIGKILL after stopTimeout.
func (s *story) stopSluiced() {
	if s.sluiced == nil || s.cfg.KeepSluiced {
		return
	}
	_ = s.sluiced.Process.Signal(syscall.SIGTERM)
	select {
	case <-s.sluicedDone:
	case <-time.After(stopTimeout):
		_ = s.sluiced.Process.Kill()
		<-s.sluicedDone
	}
	s.sluiced = nil
}

// leavesSluiced reports whether the story leaves a sluiced running: one it
// reused, or one it started with KeepSluiced.
func (s *story) leavesSluiced() bool {
	return s.reused || s.sluiced != nil && s.cfg.KeepSluiced
}

// tail is the last n lines of a file, for an error message.
func tail(path string, n int) string {
	data, err := os.ReadFile(path)
	if err != nil {
		return err.Error()
	}
	lines := strings.Split(strings.TrimRight(string(data), "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, " | ")
}
