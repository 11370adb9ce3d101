package daemon

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"os"
	"sync"
	"time"

	"github.com/lightningnetwork/lnd/clock"
	"github.com/sluice-ln/sluice/leader"
	"github.com/sluice-ln/sluice/store"
)

// DefaultLeaderTTL is the leader lease's default time to live: a leader
// that dies is replaced within about this long.
const DefaultLeaderTTL = 10 * time.Second

// LeaderConfig holds the leader.* options: the election among several
// sluiced on one PostgreSQL database.
//
//nolint:ll
type LeaderConfig struct {
	TTL       time.Duration `long:"ttl" description:"the leader lease's time to live (PostgreSQL only): the leader renews it every third of it, and a follower takes over once it has run out; a leader that cannot renew it within this time stops (100ms to 10m)"`
	Advertise string        `long:"advertise" description:"the API address (host:port) followers name as this instance's when it leads (default: --rpclisten as the API server bound it)"`
}

// defaultLeaderConfig is the leader.* defaults.
func defaultLeaderConfig() *LeaderConfig {
	return &LeaderConfig{TTL: DefaultLeaderTTL}
}

// validateLeader checks the leader.* options.
func (c *Config) validateLeader() error {
	if c.Leader == nil {
		c.Leader = defaultLeaderConfig()
	}
	l := c.Leader
	if l.TTL < 100*time.Millisecond || l.TTL > 10*time.Minute {
		return invalid("leader.ttl", "%v is outside 100ms to 10m",
			l.TTL)
	}
	if l.Advertise != "" {
		if _, _, err := net.SplitHostPort(l.Advertise); err != nil {
			return invalid("leader.advertise", "%q is not host:port",
				l.Advertise)
		}
	}

	return nil
}

// election is the daemon's part in the leader election. On SQLite there is
// none: the one instance leads from the start (start(0)). On PostgreSQL an
// elector campaigns once the API serves, and start runs the leader-only
// work when it is elected; a deposed leader logs a critical error, which
// stops the daemon (its supervisor restarts it as a follower).
type election struct {
	db *store.DB

	// start runs the leader-only work; it is called once, with the
	// token the work's fenced writes carry.
	start func(token int64) leaderHooks

	// notify wakes the notifier, which tells the leader of the
	// providers in pending.
	notify chan struct{}

	// wg counts the campaign, the notifier and the listener.
	wg sync.WaitGroup

	// deposeOn logs the deposal once.
	deposeOn sync.Once

	// runCtx, ended by runCancel in stop, is the listener's.
	runCtx    context.Context
	runCancel context.CancelFunc

	// mu guards the fields below.
	mu sync.Mutex

	// credited hands credited providers to the leader's payout
	// scheduler: set once the leader-only work runs (at once on
	// SQLite); nil on a follower.
	credited func(providers ...string)

	// pending holds the providers credited on this follower that the
	// notifier has not told the leader of yet.
	pending map[string]bool

	// stopping is set by stop: no leader-only work starts after it.
	stopping bool

	// elector is set once campaigning starts (PostgreSQL).
	elector *leader.Elector

	// cancel ends the campaign and the notifier.
	cancel context.CancelFunc
}

// newElection returns the election of a store; start runs the leader-only
// work.
func newElection(db *store.DB,
	start func(token int64) leaderHooks) *election {

	runCtx, runCancel := context.WithCancel(context.Background())
	return &election{
		db:        db,
		start:     start,
		notify:    make(chan struct{}, 1),
		pending:   make(map[string]bool),
		runCtx:    runCtx,
		runCancel: runCancel,
	}
}

// multi says whether several instances may share the store: PostgreSQL.
func (e *election) multi() bool {
	return e.db.Backend() == store.Postgres
}

// token is the fencing token of this instance's leader-only writes: 0
// when it does not lead (its fenced writes are refused).
func (e *election) token() int64 {
	e.mu.Lock()
	el := e.elector
	e.mu.Unlock()
	if el == nil {
		return 0
	}

	return el.Token()
}

// holds is the guard of the leader-only work's sends: nil while this
// instance leads within its lease's deadline (leader.Elector.Holds).
func (e *election) holds() error {
	e.mu.Lock()
	el := e.elector
	e.mu.Unlock()
	if el == nil {
		return fmt.Errorf("%w: not elected", leader.ErrNotLeader)
	}

	return el.Holds()
}

// status is the election as GetInfo reports it.
func (e *election) status() (role string, token int64, addr string) {
	if !e.multi() {
		return string(leader.Leading), 0, ""
	}
	e.mu.Lock()
	el := e.elector
	e.mu.Unlock()
	if el == nil {
		return string(leader.Follower), 0, ""
	}
	st := el.Status()

	return string(st.Role), st.Token, st.Leader.Address
}

// setCredited routes credits to the leader's payout scheduler from now on.
func (e *election) setCredited(fn func(providers ...string)) {
	e.mu.Lock()
	e.credited = fn
	e.mu.Unlock()
}

// Credited is metering's callback after a commit: on the leader (and on
// SQLite) it wakes the payout scheduler; on a follower it queues the
// providers for the notifier, which tells the leader through PostgreSQL.
// It never blocks.
func (e *election) Credited(providers ...string) {
	e.mu.Lock()
	fn := e.credited
	if fn == nil && e.multi() {
		for _, p := range providers {
			e.pending[p] = true
		}
	}
	e.mu.Unlock()
	if fn != nil {
		fn(providers...)
		return
	}
	select {
	case e.notify <- struct{}{}:
	default:
	}
}

// deposed is the fenced view's callback: a leader-only write was refused
// because another instance took the lease over. It stops the daemon.
func (e *election) deposed(f *leader.Fenced) {
	e.deposeOn.Do(func() {
		log.Criticalf("Deposed as leader: a write with token %d was "+
			"refused, the lease is held by %s at %s with token %d; "+
			"stopping (restart to follow)", f.Token,
			f.Current.Holder, f.Current.Address, f.Current.Token)
	})
}

// leaderHooks is what the leader-only work, once started, offers the
// election: the payout scheduler's Credited and Wake.
type leaderHooks struct {
	credited func(providers ...string)
	wake     func()
}

// run starts the election: on SQLite the leader-only work at once; on
// PostgreSQL the notifier and the campaign, advertising addr (or
// cfg.Advertise).
func (e *election) run(cfg *LeaderConfig, addr string,
	clk clock.Clock) error {

	if !e.multi() {
		hooks := e.start(0)
		e.setCredited(hooks.credited)
		return nil
	}
	if cfg == nil {
		cfg = defaultLeaderConfig()
	}
	if cfg.Advertise != "" {
		addr = cfg.Advertise
	}
	id, err := instanceID()
	if err != nil {
		return err
	}
	el, err := leader.New(leader.Config{
		Store:   e.db,
		ID:      id,
		Address: addr,
		TTL:     cfg.TTL,
		Clock:   clk,
		Elected: func(token int64) { e.elected(token, clk) },
	})
	if err != nil {
		return err
	}

	ctx, cancel := context.WithCancel(context.Background())
	e.mu.Lock()
	e.elector = el
	e.cancel = cancel
	e.mu.Unlock()
	log.Infof("Campaigning for the leader lease as %s (advertising %s, "+
		"lease %v)", id, addr, cfg.TTL)

	e.wg.Add(2)
	go func() {
		defer e.wg.Done()
		e.notifier(ctx)
	}()
	go func() {
		defer e.wg.Done()
		err := el.Run(ctx)
		if !errors.Is(err, leader.ErrDeposed) {
			return
		}
		// Name the leader as the lease says now.
		now := "unknown"
		lctx, cancel := context.WithTimeout(context.Background(),
			cfg.TTL)
		l, lerr := e.db.LeaderLease(lctx)
		cancel()
		if lerr == nil {
			now = fmt.Sprintf("%s at %s with token %d", l.Holder,
				l.Address, l.Token)
		}
		e.deposeOn.Do(func() {
			log.Criticalf("%v; the lease is now held by %s; "+
				"stopping (restart to follow)", err, now)
		})
	}()

	return nil
}

// elected starts the leader-only work with token, routes credits to it and
// listens for the followers' credits.
func (e *election) elected(token int64, clk clock.Clock) {
	// Called on the campaign's goroutine, which stop waits for: once
	// stopping is set, nothing starts.
	e.mu.Lock()
	stopping := e.stopping
	e.mu.Unlock()
	if stopping {
		return
	}

	// Not under e.mu: the fenced view reads the token under it.
	hooks := e.start(token)

	e.mu.Lock()
	e.credited = hooks.credited
	pending := make([]string, 0, len(e.pending))
	for p := range e.pending {
		pending = append(pending, p)
	}
	clear(e.pending)
	e.wg.Add(1)
	e.mu.Unlock()

	if len(pending) > 0 {
		hooks.credited(pending...)
	}
	go func() {
		defer e.wg.Done()
		e.listen(hooks, clk)
	}()
}

// listen hears the followers' credits on PostgreSQL and hands them to the
// payout scheduler, connecting again after a failure; each connection
// begins with a full round, for what was said while none listened.
func (e *election) listen(hooks leaderHooks, clk clock.Clock) {
	ctx := e.runCtx
	for {
		ready := make(chan struct{})
		go func() {
			select {
			case <-ready:
				hooks.wake()
			case <-ctx.Done():
			}
		}()
		err := e.db.ListenCredited(ctx, ready, func(p []string) {
			hooks.credited(p...)
		})
		if ctx.Err() != nil {
			return
		}
		log.Warnf("Listening for the followers' credits: %v; again "+
			"in %v", err, listenRetry)
		select {
		case <-ctx.Done():
			return
		case <-clk.TickAfter(listenRetry):
		}
	}
}

// listenRetry is the wait before listening again after a failure.
const listenRetry = time.Second

// notifier tells the leader, through PostgreSQL, of the providers credited
// on this instance while it follows. A notification lost (this instance
// dies first, or none listens) only delays a payout to the leader's next
// full round.
func (e *election) notifier(ctx context.Context) {
	for {
		select {
		case <-ctx.Done():
			return
		case <-e.notify:
		}
		e.mu.Lock()
		fn := e.credited
		providers := make([]string, 0, len(e.pending))
		for p := range e.pending {
			providers = append(providers, p)
		}
		clear(e.pending)
		e.mu.Unlock()
		if len(providers) == 0 {
			continue
		}
		if fn != nil {
			fn(providers...)
			continue
		}
		if err := e.db.NotifyCredited(ctx, providers); err != nil &&
			ctx.Err() == nil {

			log.Warnf("Telling the leader of %d credited "+
				"providers: %v", len(providers), err)
		}
	}
}

// stop ends the campaign, the notifier and the listener and waits for
// them. The leader-only work is stopped by the daemon after it.
func (e *election) stop() {
	e.mu.Lock()
	e.stopping = true
	cancel := e.cancel
	e.mu.Unlock()
	if cancel != nil {
		cancel()
	}
	e.runCancel()
	e.wg.Wait()
}

// resign ends this instance's lease early, once its leader-only work has
// stopped, so that a follower need not wait for it to run out.
func (e *election) resign(ctx context.Context) {
	e.mu.Lock()
	el := e.elector
	e.mu.Unlock()
	if el == nil {
		return
	}
	st := el.Status()
	if st.Role != leader.Leading || st.Token == 0 {
		return
	}
	if err := e.db.Resign(ctx, st.Leader.Holder, st.Token); err != nil {
		log.Warnf("Resigning the leader lease: %v", err)
		return
	}
	log.Infof("Resigned the leader lease (token %d)", st.Token)
}

// instanceID names this process in the lease: host, pid and a random
// part, so that a restarted instance is a new holder.
func instanceID() (string, error) {
	host, err := os.Hostname()
	if err != nil {
		host = "sluiced"
	}
	var b [4]byte
	if _, err := rand.Read(b[:]); err != nil {
		return "", fmt.Errorf("instance id: %w", err)
	}

	return fmt.Sprintf("%s/%d/%s", host, os.Getpid(),
		hex.EncodeToString(b[:])), nil
}
