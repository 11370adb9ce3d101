//go:build itest

package itest

import (
	"bytes"
	"database/sql"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"testing"
	"time"

	"connectrpc.com/connect"
	"github.com/sluice-ln/sluice/daemon/lndtest"
	"github.com/sluice-ln/sluice/devnet"
	"github.com/sluice-ln/sluice/ledger"
	"github.com/sluice-ln/sluice/rpc/sluicerpc"
	"github.com/sluice-ln/sluice/store"
)

// postgresConf has s run on the PostgreSQL database dsn as instance id.
func (s *sluiced) postgresConf(dsn, id string) {
	s.addConf("db", "db.backend=postgres", "db.postgres.dsn="+dsn,
		"db.instance="+id)
}

// secondSluiced returns another sluiced on the network, not started, with
// its own data directory and API address and first's TLS certificate and
// macaroons, so that one client and one macaroon reach both. first must
// have started once (it makes them).
func (n *network) secondSluiced(first *sluiced) *sluiced {
	n.t.Helper()
	dir := first.dir + "-2"
	if err := os.MkdirAll(dir, 0o700); err != nil {
		n.t.Fatal(err)
	}
	listen := lndtest.FreeAddr(n.t)
	conf, err := n.profile.SluicedConf()
	if err != nil {
		n.t.Fatal(err)
	}
	conf = regexp.MustCompile(`(?m)^datadir=.*$`).ReplaceAllString(conf,
		"datadir="+dir)
	conf = regexp.MustCompile(`(?m)^rpclisten=.*$`).ReplaceAllString(conf,
		"rpclisten="+listen)
	path := filepath.Join(dir, "sluice.conf")
	if err := os.WriteFile(path, []byte(conf), 0o600); err != nil {
		n.t.Fatal(err)
	}

	s := &sluiced{t: n.t, net: n, confPath: path, dir: dir,
		rpcListen: listen, credDir: first.dir}
	s.addConf("Application Options",
		"tlscertpath="+filepath.Join(first.dir, "tls.cert"),
		"tlskeypath="+filepath.Join(first.dir, "tls.key"),
		"macaroondir="+filepath.Join(first.dir, n.profile.Network))
	n.t.Cleanup(func() {
		if s.running() {
			_ = s.cmd.Process.Kill()
			<-s.exited
		}
	})

	return s
}

// agentRun is a `sluice agent run` in the background.
type agentRun struct {
	cmd  *exec.Cmd
	out  bytes.Buffer
	done chan error
}

// startAgent runs `sluice agent run` with the sluice binary bin against s
// for the job, on a busy loop of the given seconds.
func (f *meteredJob) startAgent(t testing.TB, bin string, s *sluiced,
	seconds int) *agentRun {

	t.Helper()
	args := append(s.cliArgs(), "--macaroonpath", f.files.macaroon,
		"agent", "run", "--job", f.job.JobId, "--agentkey",
		f.files.agentKey, "--", "sh", "-c",
		fmt.Sprintf(`timeout %d sh -c 'while :; do :; done'; exit 0`,
			seconds))
	a := &agentRun{cmd: exec.Command(bin, args...),
		done: make(chan error, 1)}
	a.cmd.Stdout = &a.out
	a.cmd.Stderr = &a.out
	if err := a.cmd.Start(); err != nil {
		t.Fatalf("start the agent: %v", err)
	}
	go func() { a.done <- a.cmd.Wait() }()
	t.Cleanup(func() {
		_ = a.cmd.Process.Kill()
	})

	return a
}

// wait waits for the agent to finish and wants a clean exit.
func (a *agentRun) wait(t testing.TB, what string) {
	t.Helper()
	select {
	case err := <-a.done:
		if err != nil {
			t.Fatalf("%s: agent: %v\n%s", what, err, a.out.String())
		}
	case <-time.After(time.Minute):
		t.Fatalf("%s: the agent did not finish\n%s", what,
			a.out.String())
	}
	t.Logf("%s: agent done:\n%s", what, a.out.String())
}

// TestRollingUpgrade runs two sluiced of today's build on one fresh
// PostgreSQL database and replaces them, one at a time, with the newer
// build (the upgradetest tag: one more additive migration and usage batch
// version 2) while the provider's agent meters a funded job:
//
//  1. the agent (today's build) streams to instance 2 while instance 1
//     is replaced: the newer build migrates the shared database to its
//     newest version although instance 2, which does not know it, is
//     live, since it is additive; instance 2 keeps ingesting on it;
//  2. the agent (newer build) streams to the upgraded instance 1, which
//     reads version 2, while instance 2 is replaced;
//  3. the agent streams to the upgraded instance 2, on version 2.
//
// Then: the job's seconds run from seq 1 without a gap, each stored once
// and billed at the rate card (charged = seconds × price, to the msat),
// the newest batches were version 2 (their sent-at time is stored in
// that migration's column), every payout was paid once (the hub's payments
// equal the payouts table and the provider's node got each once) and the
// ledger reconciles with lnd.
// Both instances campaign for the leader lease: the one that leads pays,
// and each replacement hands the lead to the other.
func TestRollingUpgrade(t *testing.T) {
	dsn := newPostgresDB(t)
	net := newNetwork(t)

	s1 := net.newSluiced()
	s1.postgresConf(dsn, "one")
	s1.addConf("leader", "leader.ttl="+leaderTTL.String())
	s1.addConf("metering", fmt.Sprintf("metering.platformfee=%d",
		meteringFee))
	s1.start()

	s2 := net.secondSluiced(s1)
	s2.postgresConf(dsn, "two")
	s2.addConf("leader", "leader.ttl="+leaderTTL.String())
	s2.addConf("metering", fmt.Sprintf("metering.platformfee=%d",
		meteringFee))
	s2.start()

	// Dear enough that instance 1 pays out several times (the minimum
	// is a satoshi), cheap enough that the budget lasts.
	const budget = 10_000_000
	rates := map[string]string{"cpu": "1.3", "mem": "0.07"}
	f := fundMeteredJob(t, net, s1, budget, rates)
	f.storeCfg = store.Config{Backend: store.Postgres, PostgresDSN: dsn}

	version := func() int {
		ctx, cancel := rpcContext(t)
		defer cancel()
		db := rawPostgres(t, dsn)
		var v int
		err := db.QueryRowContext(ctx, "SELECT version FROM "+
			"schema_migrations").Scan(&v)
		if err != nil {
			t.Fatal(err)
		}
		return v
	}
	today, err := store.LatestSchemaVersion(store.Postgres)
	if err != nil {
		t.Fatal(err)
	}
	if v := version(); v != today {
		t.Fatalf("schema at version %d, want today's %d", v, today)
	}

	// 1. Instance 1 is replaced while the agent streams to instance 2.
	a := f.startAgent(t, binaries.sluice, s2, 15)
	s1.stop()
	s1.binary = binaries.newerSluiced
	s1.start()
	if v := version(); v != today+1 {
		t.Fatalf("after the newer instance 1 started: version %d, "+
			"want %d", v, today+1)
	}
	// The old instance 2 goes on taking seconds on the newer schema.
	old2 := s2.clientsWith(readFile(t, f.files.macaroon))
	lastSeq := func() uint64 {
		m, err := old2.metering.GetMeter(f.ctx, connect.NewRequest(
			&sluicerpc.GetMeterRequest{JobId: f.job.JobId}))
		if err != nil {
			t.Fatalf("old instance 2: get meter: %v", err)
		}
		return m.Msg.LastSeq
	}
	migrated := lastSeq()
	eventually(t, time.Minute, "old instance 2 to take seconds on "+
		"the migrated schema", func() error {
		if seq := lastSeq(); seq < migrated+2 {
			return fmt.Errorf("last seq %d, %d at the "+
				"migration", seq, migrated)
		}
		return nil
	})
	a.wait(t, "streaming to old instance 2 while instance 1 upgrades")

	// 2. Instance 2 is replaced while the agent streams to instance 1.
	a = f.startAgent(t, binaries.newerSluice, s1, 8)
	s2.stop()
	s2.binary = binaries.newerSluiced
	s2.start()
	a.wait(t, "streaming to new instance 1 while instance 2 upgrades")

	// 3. Both upgraded: the agent streams to instance 2.
	a = f.startAgent(t, binaries.newerSluice, s2, 4)
	a.wait(t, "streaming to new instance 2")

	// Every second once, at the rate card.
	rows, m := f.checkLedger(t, budget)
	for _, r := range rows {
		if r.BatchHash == "" {
			t.Fatalf("seq %d has no batch", r.Seq)
		}
	}
	ctx, cancel := rpcContext(t)
	defer cancel()
	var sentAt sql.NullInt64
	err = rawPostgres(t, dsn).QueryRowContext(ctx, "SELECT "+
		"last_sent_at_ms FROM usage_meters WHERE job_id = $1",
		f.job.JobId).Scan(&sentAt)
	if err != nil {
		t.Fatal(err)
	}
	if !sentAt.Valid || sentAt.Int64 <= 0 {
		t.Fatalf("no version 2 batch stored its sent-at time: %v",
			sentAt)
	}
	t.Logf("%d seconds over three agent runs; last version 2 batch "+
		"signed at %v", len(rows), time.UnixMilli(sentAt.Int64).UTC())

	// No payout doubled: the hub's payments are the payouts table's.
	book := openBookWith(t, s1, f.storeCfg)
	book.earned[f.providerID] = ledger.MilliSatoshi(m.ChargedMsat -
		m.FeesMsat)
	book.drained(f.providerID)
	book.reconcile(net, map[string]*lndNode{
		f.providerID: net.lnd(devnet.NodeProvider1),
	})
	var paid int
	for _, p := range book.payouts() {
		if p.State == store.PayoutSucceeded {
			paid++
		}
	}
	if paid < 2 {
		t.Fatalf("%d payouts succeeded; the stream should have paid "+
			"out several times", paid)
	}
	s1.wantReconciled(t)
	s2.wantReconciled(t)

	s1.stop()
	s2.stop()
}

// rawPostgres opens dsn with database/sql alone, closed when the test
// ends.
func rawPostgres(t testing.TB, dsn string) *sql.DB {
	t.Helper()
	db, err := sql.Open("pgx/v5", dsn)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })

	return db
}
