//go:build itest

package itest

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"fmt"
	mrand "math/rand/v2"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/sluice-ln/sluice/daemon/lndtest"
	"github.com/sluice-ln/sluice/devnet"
	"github.com/sluice-ln/sluice/ledger"
	"github.com/sluice-ln/sluice/store"
	"github.com/sluice-ln/sluice/store/storetest"
)

// leaderTTL is the lease of the instances in the leader tests: short, so
// that failovers are quick.
const leaderTTL = 2 * time.Second

// failoverBound is how long after its leader died a new one must be seen:
// the lease runs out within leaderTTL of the last renewal and a follower
// campaigns every leaderTTL/3; the rest is for `sluice getinfo` runs on a
// loaded machine.
const failoverBound = 4 * leaderTTL

// defaultPostgresAdmin is the server the leader tests create their
// database on when SLUICE_TEST_POSTGRES is unset.
const defaultPostgresAdmin = "postgres://postgres@127.0.0.1:5432/" +
	"postgres?sslmode=disable"

// newPostgresDB creates a fresh PostgreSQL database for the test on
// 127.0.0.1:5432, drops it when the test ends, and returns its DSN.
func newPostgresDB(t testing.TB) string {
	t.Helper()
	base := os.Getenv(storetest.EnvPostgres)
	if base == "" {
		base = defaultPostgresAdmin
	}
	u, err := url.Parse(base)
	if err != nil {
		t.Fatalf("%s: %v", storetest.EnvPostgres, err)
	}
	var b [6]byte
	if _, err := rand.Read(b[:]); err != nil {
		t.Fatal(err)
	}
	name := "sluice_itest_" + hex.EncodeToString(b[:])

	admin, err := sql.Open("pgx/v5", base)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if _, err := admin.ExecContext(ctx, "CREATE DATABASE "+name); err != nil {
		admin.Close()
		t.Fatalf("create database %s on %s: %v", name, u.Host, err)
	}
	t.Cleanup(func() {
		defer admin.Close()
		ctx, cancel := context.WithTimeout(context.Background(),
			time.Minute)
		defer cancel()
		_, err := admin.ExecContext(ctx, "DROP DATABASE "+name+
			" WITH (FORCE)")
		if err != nil {
			t.Logf("drop database %s: %v", name, err)
		}
	})

	u.Path = "/" + name
	return u.String()
}

// newSluicedPG returns a sluiced on the network's hub with a data
// directory and API port of its own, on the PostgreSQL database dsn, with
// the leader lease leaderTTL and extra conf lines.
func (n *network) newSluicedPG(name, dsn string, extra ...string) *sluiced {
	n.t.Helper()
	p := *n.profile
	dir := filepath.Join(n.dir, "sluiced-"+name)
	p.Sluiced = devnet.SluicedConfig{
		Dir:        dir,
		ConfigPath: filepath.Join(dir, "sluice.conf"),
		RPCListen:  lndtest.FreeAddr(n.t),
	}
	path, err := p.WriteSluicedConf()
	if err != nil {
		n.t.Fatal(err)
	}
	s := &sluiced{t: n.t, net: n, confPath: path, dir: dir,
		rpcListen: p.Sluiced.RPCListen}
	n.t.Cleanup(func() {
		if s.running() {
			_ = s.cmd.Process.Signal(syscall.SIGCONT)
			_ = s.cmd.Process.Kill()
			<-s.exited
		}
	})
	s.addConf("db", "db.backend=postgres", "db.postgres.dsn="+dsn)
	s.addConf("leader", "leader.ttl="+leaderTTL.String())
	if len(extra) > 0 {
		s.addConf("Application Options", extra...)
	}
	return s
}

// openBookPG is openBook on the PostgreSQL database the instances share.
func openBookPG(t *testing.T, s *sluiced, dsn string) *payoutBook {
	return openBookWith(t, s, store.Config{Backend: store.Postgres,
		PostgresDSN: dsn})
}

// leaderOf waits until exactly one of the running instances says it
// leads with a token above after, and returns it and its token; the
// others must say they follow it. It fails the test after bound.
func leaderOf(t *testing.T, insts []*sluiced, after int64,
	bound time.Duration) (*sluiced, int64) {

	t.Helper()
	var (
		found *sluiced
		token int64
	)
	eventually(t, bound, fmt.Sprintf("a leader with a token above %d",
		after), func() error {

		found, token = nil, 0
		for _, s := range insts {
			if !s.running() {
				continue
			}
			info, err := s.getInfo()
			if err != nil {
				return err
			}
			if info.LeaderRole != "leader" {
				continue
			}
			if found != nil {
				return fmt.Errorf("two leaders: %s (token %d) "+
					"and %s (token %d)", found.rpcListen,
					token, s.rpcListen, info.LeaderToken)
			}
			found, token = s, info.LeaderToken
		}
		switch {
		case found == nil:
			return fmt.Errorf("no leader yet")
		case token <= after:
			return fmt.Errorf("leader %s has token %d, not above "+
				"%d", found.rpcListen, token, after)
		}
		return nil
	})
	return found, token
}

// earnFor credits the providers for d, as running jobs would, in steps of
// 20 to 170 ms.
func earnFor(book *payoutBook, rng *mrand.Rand, d time.Duration) {
	end := time.Now().Add(d)
	for time.Now().Before(end) {
		book.earn("provider1",
			ledger.MilliSatoshi(5_000+rng.IntN(30_000)))
		if rng.IntN(2) == 0 {
			book.earn("provider2",
				ledger.MilliSatoshi(1_000+rng.IntN(9_000)))
		}
		time.Sleep(time.Duration(20+rng.IntN(150)) * time.Millisecond)
	}
}

// TestLeaderFailover runs three sluiced on one PostgreSQL database while
// two providers keep earning and are paid every 100 ms, kills the leader
// with SIGKILL at random times ten times and restarts it (it comes back as
// a follower): each time a new leader, with a higher token, is seen within
// failoverBound. It then pauses the leader (SIGSTOP) until another took
// over and resumes it: it must exit, deposed, without a write or a payment
// of its own. At the end every payout succeeded exactly once in the hub's
// lnd, the books equal what lnd paid to the millisatoshi, and nothing
// earned was lost.
func TestLeaderFailover(t *testing.T) {
	const kills = 10

	net := newNetwork(t)
	dsn := newPostgresDB(t)
	insts := []*sluiced{
		net.newSluicedPG("a", dsn),
		net.newSluicedPG("b", dsn),
		net.newSluicedPG("c", dsn),
	}
	for _, s := range insts {
		s.addConf("payout", "payout.interval=100ms")
	}
	book := openBookPG(t, insts[0], dsn)
	nodes := map[string]*lndNode{
		"provider1": net.lnd(devnet.NodeProvider1),
		"provider2": net.lnd(devnet.NodeProvider2),
	}
	for id, node := range nodes {
		book.addProvider(id, node)
	}

	seed := uint64(time.Now().UnixNano())
	t.Logf("seed %d", seed)
	rng := mrand.New(mrand.NewPCG(seed, seed))

	for _, s := range insts {
		s.start()
	}
	_, token := leaderOf(t, insts, 0, failoverBound)

	t.Run("kills", func(t *testing.T) {
		for i := 0; i < kills; i++ {
			ldr, tok := leaderOf(t, insts, token-1, failoverBound)
			token = tok
			earnFor(book, rng, time.Duration(200+rng.IntN(1800))*
				time.Millisecond)
			ldr.kill()
			next, tok := leaderOf(t, insts, token, failoverBound)
			t.Logf("kill %d: leader %s (token %d) killed, %s "+
				"leads with token %d", i+1, ldr.rpcListen, token,
				next.rpcListen, tok)
			token = tok
			ldr.start()
			info, err := ldr.getInfo()
			if err != nil {
				t.Fatal(err)
			}
			if info.LeaderRole != "follower" {
				t.Fatalf("restarted %s is %q, want follower",
					ldr.rpcListen, info.LeaderRole)
			}
		}
	})

	t.Run("fencing", func(t *testing.T) {
		old, oldToken := leaderOf(t, insts, token-1, failoverBound)
		// Stop it while payouts are under way.
		earnFor(book, rng, time.Duration(300+rng.IntN(700))*
			time.Millisecond)
		if err := old.cmd.Process.Signal(syscall.SIGSTOP); err != nil {
			t.Fatal(err)
		}
		next, tok := leaderOf(t, without(insts, old), oldToken,
			failoverBound)
		token = tok
		t.Logf("%s (token %d) paused, %s leads with token %d",
			old.rpcListen, oldToken, next.rpcListen, tok)
		earnFor(book, rng, time.Second)

		if err := old.cmd.Process.Signal(syscall.SIGCONT); err != nil {
			t.Fatal(err)
		}
		select {
		case <-old.exited:
		case <-time.After(sluicedStopTimeout):
			t.Fatalf("the deposed leader did not exit\n%s",
				old.tail())
		}
		out, err := os.ReadFile(old.logPath())
		if err != nil {
			t.Fatal(err)
		}
		if !strings.Contains(string(out), "eposed") {
			t.Fatalf("the deposed leader's output does not say it "+
				"was deposed\n%s", old.tail())
		}
		old.start()
	})

	// Drain on the last leader, then stop them all and check the books
	// against lnd: no payment twice, none the books do not hold, no msat
	// lost.
	book.drained("provider1", "provider2")
	for _, s := range insts {
		if s.running() {
			s.stop()
		}
	}
	book.reconcile(net, nodes)
	leftToken := token
	t.Logf("%d failovers, last token %d", kills+1, leftToken)
}

// without returns insts less s.
func without(insts []*sluiced, s *sluiced) []*sluiced {
	var out []*sluiced
	for _, i := range insts {
		if i != s {
			out = append(out, i)
		}
	}
	return out
}

// TestLeaderRefusesOtherHub: an instance pointed at another lnd than the
// store's hub refuses to start on the shared database and says why.
func TestLeaderRefusesOtherHub(t *testing.T) {
	net := newNetwork(t)
	dsn := newPostgresDB(t)
	a := net.newSluicedPG("a", dsn)
	a.start()

	other := net.lnd(devnet.NodeProvider1)
	b := net.newSluicedPG("b", dsn)
	b.addConf("lnd", "lnd.host="+other.RPCHost,
		"lnd.tlspath="+other.TLSCertPath,
		"lnd.macaroonpath="+other.AdminMacaroonPath)
	b.launch()
	select {
	case <-b.exited:
	case <-time.After(sluicedStartTimeout):
		t.Fatalf("sluiced on another hub did not exit\n%s", b.tail())
	}
	if b.err == nil {
		t.Fatal("sluiced on another hub exited with status 0")
	}
	if !strings.Contains(b.tail(), "belongs to another hub") {
		t.Fatalf("sluiced on another hub did not say why\n%s", b.tail())
	}
	a.stop()
}
