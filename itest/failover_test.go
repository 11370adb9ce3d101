//go:build itest

package itest

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"connectrpc.com/connect"
	"github.com/sluice-ln/sluice/daemon/lndtest"
	"github.com/sluice-ln/sluice/rpc/sluicerpc"
)

// twin returns a second sluiced on s's data directory (the same SQLite
// file, TLS certificate and macaroons) whose API listens on rpcListen: a
// copy of s's conf with its rpclisten replaced. It is not started, and is
// killed, if still running, when the test ends.
func (s *sluiced) twin(rpcListen string) *sluiced {
	s.t.Helper()
	conf, err := os.ReadFile(s.confPath)
	if err != nil {
		s.t.Fatal(err)
	}
	old := "rpclisten=" + s.rpcListen + "\n"
	if !bytes.Contains(conf, []byte(old)) {
		s.t.Fatalf("%s has no %q", s.confPath, old)
	}
	conf = bytes.Replace(conf, []byte(old),
		[]byte("rpclisten="+rpcListen+"\n"), 1)
	path := s.confPath + "." + strings.ReplaceAll(rpcListen, ":", "-")
	if err := os.WriteFile(path, conf, 0o600); err != nil {
		s.t.Fatal(err)
	}
	b := &sluiced{t: s.t, net: s.net, confPath: path, dir: s.dir,
		rpcListen: rpcListen}
	s.t.Cleanup(func() {
		if b.running() {
			_ = b.cmd.Process.Kill()
			<-b.exited
		}
	})
	return b
}

// TestAgentFailover funds a job on sluiced A and meters a busy loop with
// `sluice-agent run --rpcserver A,B`; A is killed with SIGKILL while the
// agent streams, and sluiced B starts on the same data with its API on the
// second address. The agent moves to B, resumes from the job's last seq
// there and the meter keeps rising; at the end every second of the
// command is stored once (contiguous seconds, as many as it ran) and
// charged once: the charge is the rate card applied to the stored
// seconds, to the millisatoshi, and the ledger reconciles. Then the CLI
// with a dead and a live address works, and with only dead ones fails
// naming both.
func TestAgentFailover(t *testing.T) {
	const (
		budget = 10_000_000
		// runFor is how long the command burns CPU.
		runFor = 20
	)
	f := newMeteredJob(t, budget, map[string]string{
		"cpu": "0.013", "mem": "0.0007"})
	a := f.s
	addrB := lndtest.FreeAddr(t)
	b := a.twin(addrB)

	args := []string{
		"--rpcserver", a.rpcListen + "," + addrB,
		"--sluicedir", a.dir, "--network", a.net.profile.Network,
		"--macaroonpath", f.files.macaroon,
		"run", "--job", f.job.JobId, "--agentkey", f.files.agentKey,
		"--", "sh", "-c",
		fmt.Sprintf(`timeout %d sh -c 'while :; do :; done'; exit 0`,
			runFor),
	}
	started := time.Now()
	agent := startProcess(t, binaries.agent, args...)

	meterAt := func(s *sluiced) func() (*sluicerpc.GetMeterResponse,
		error) {

		prov := s.clientsWith(readFile(t, f.files.macaroon))
		return func() (*sluicerpc.GetMeterResponse, error) {
			m, err := prov.metering.GetMeter(f.ctx, connect.NewRequest(
				&sluicerpc.GetMeterRequest{JobId: f.job.JobId}))
			if err != nil {
				return nil, err
			}
			return m.Msg, nil
		}
	}

	// A has taken a few seconds: kill it.
	meterA := meterAt(a)
	eventually(t, time.Minute, "the agent to stream to A", func() error {
		m, err := meterA()
		if err != nil {
			return err
		}
		if m.LastSeq < 3 {
			return fmt.Errorf("last seq %d", m.LastSeq)
		}
		return nil
	})
	a.kill()
	killedAt := time.Now()

	// B on the same data, on the agent's second address.
	b.start()
	meterB := meterAt(b)
	before, err := meterB()
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("A killed at seq %d; B answers %v later", before.LastSeq,
		time.Since(killedAt).Round(10*time.Millisecond))
	eventually(t, time.Minute, "the meter to rise on B", func() error {
		m, err := meterB()
		if err != nil {
			return err
		}
		if m.LastSeq <= before.LastSeq {
			return fmt.Errorf("last seq %d", m.LastSeq)
		}
		return nil
	})

	select {
	case <-agent.exited:
	case <-time.After(time.Minute):
		t.Fatalf("agent still running:\n%s", agent.output())
	}
	wall := time.Since(started)
	if agent.err != nil {
		t.Fatalf("sluice-agent run: %v\n%s\n%s", agent.err, agent.output(),
			b.tail())
	}
	log := agent.output()
	for _, want := range []string{"Using sluiced at " + a.rpcListen,
		"moved to the next sluiced address " + addrB} {

		if !strings.Contains(log, want) {
			t.Fatalf("agent output lacks %q:\n%s", want, log)
		}
	}

	// No second lost: the stored seconds are contiguous and as many as
	// the command ran (the first is the rest of the second it started
	// in, the last is completed from its exit: runFor, up to two more).
	// They are clock seconds, so a run of wall seconds touches at most
	// ⌊wall⌋ + 2 of them (20.1 s from x.95 to x+21.05 touches 22).
	// None billed twice: the charge is the rate card applied to them.
	f.s, f.prov = b, b.clientsWith(readFile(t, f.files.macaroon))
	rows, m := f.checkLedger(t, budget)
	for i := 1; i < len(rows); i++ {
		if rows[i].Second != rows[i-1].Second+1 {
			t.Fatalf("second %d follows %d: seconds lost",
				rows[i].Second, rows[i-1].Second)
		}
	}
	if n := len(rows); n < runFor || n > runFor+2 ||
		time.Duration(n-2)*time.Second > wall {

		t.Fatalf("%d seconds stored for a %d s command (agent ran %v)",
			n, runFor, wall.Round(time.Millisecond))
	}
	t.Logf("%d seconds, %d msat charged across the failover (agent ran "+
		"%v)", len(rows), m.ChargedMsat, wall.Round(time.Millisecond))
	b.wantReconciled(t)

	// The CLI: a dead address, then the live one.
	dead1, dead2 := lndtest.FreeAddr(t), lndtest.FreeAddr(t)
	global := func(servers string) []string {
		return []string{"--rpcserver", servers, "--sluicedir", b.dir,
			"--network", b.net.profile.Network}
	}
	got, err := runSluice(append(global(dead1+","+addrB), "getinfo",
		"--json")...)
	if err != nil {
		t.Fatalf("getinfo with a dead and a live address: %v", err)
	}
	if !strings.Contains(got, b.net.profile.Network) {
		t.Fatalf("getinfo: %s", got)
	}
	// Repeated flags work as a list too.
	if _, err := runSluice("--rpcserver", dead1, "--rpcserver", addrB,
		"--sluicedir", b.dir, "--network", b.net.profile.Network,
		"getinfo"); err != nil {

		t.Fatalf("getinfo with repeated --rpcserver: %v", err)
	}
	_, stderr, err := runSluiceStderr(append(global(dead1+","+dead2),
		"getinfo")...)
	if err == nil {
		t.Fatal("getinfo with only dead addresses succeeded")
	}
	for _, addr := range []string{dead1, dead2} {
		if !strings.Contains(stderr, addr+": ") {
			t.Fatalf("the error does not name %s: %s", addr, stderr)
		}
	}
	t.Logf("all dead: %s", strings.TrimSpace(stderr))

	// The agent with only dead addresses says so and exits non-zero.
	deadAgent := exec.Command(binaries.agent,
		append(global(dead1+","+dead2), "--macaroonpath",
			f.files.macaroon, "run", "--job", f.job.JobId,
			"--agentkey", f.files.agentKey, "--", "true")...)
	agentOut, err := deadAgent.CombinedOutput()
	if err == nil {
		t.Fatalf("sluice-agent run with only dead addresses "+
			"succeeded:\n%s", agentOut)
	}
	for _, addr := range []string{dead1, dead2} {
		if !strings.Contains(string(agentOut), addr+": ") {
			t.Fatalf("the agent's error does not name %s: %s",
				addr, agentOut)
		}
	}
}
