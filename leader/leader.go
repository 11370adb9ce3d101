package leader

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/lightningnetwork/lnd/clock"
)

var (
	// ErrNotLeader is wrapped by the error of a leader-only action on an
	// instance that does not hold the lease, or no longer does (a *Fenced
	// error says who does).
	ErrNotLeader = errors.New("not the leader")

	// ErrDeposed is returned by Run when the elector lost the lease it
	// held: another instance holds it, or it could not renew it in time.
	ErrDeposed = errors.New("deposed as leader")
)

// Lease is the election's row as one campaign left it.
type Lease struct {
	// Holder is the id of the instance holding the lease; empty before
	// the first election.
	Holder string

	// Address is the API address the holder advertises.
	Address string

	// Token is the fencing token: raised by one at each change of
	// holder, never reused.
	Token int64

	// Expires is when the lease ends unless renewed, in the database's
	// time (informational: the elector never compares it with its own
	// clock).
	Expires time.Time
}

// Fenced is the error of a write whose token is no longer the lease's: it
// wraps ErrNotLeader and names the current holder.
type Fenced struct {
	// Token is the token the write carried; 0 when this instance never
	// led.
	Token int64

	// Current is the lease as the write found it.
	Current Lease
}

// Error says the instance is not the leader and who is.
func (e *Fenced) Error() string {
	leader := e.Current.Address
	if leader == "" {
		leader = "unknown"
	}
	if e.Token == 0 {
		return fmt.Sprintf("not the leader; the leader is %s", leader)
	}

	return fmt.Sprintf("not the leader; the leader is %s (token %d "+
		"replaced by %d)", leader, e.Token, e.Current.Token)
}

// Unwrap makes a Fenced error an ErrNotLeader.
func (e *Fenced) Unwrap() error {
	return ErrNotLeader
}

// Store holds the lease.
type Store interface {
	// Campaign acquires or renews the lease for holder, for ttl from the
	// database's now, and returns the lease as it stands after the
	// attempt. It renews when holder holds it with token, takes it over
	// with the token raised by one when it has expired, and otherwise
	// leaves it as it is (the returned lease then names another
	// holder). token is 0 for a holder that does not lead.
	Campaign(ctx context.Context, holder, address string, token int64,
		ttl time.Duration) (Lease, error)
}

// Config says how an Elector campaigns.
type Config struct {
	// Store holds the lease.
	Store Store

	// ID names this instance in the lease; unique per process start,
	// so that a restarted instance is a new holder with a new token.
	ID string

	// Address is this instance's API address, stored with the lease so
	// that followers can name the leader.
	Address string

	// TTL is the lease's time to live; the elector campaigns every
	// TTL/3.
	TTL time.Duration

	// Clock is the clock the elector waits on and measures its deadline
	// with.
	Clock clock.Clock

	// Elected is called, from Run's goroutine, once this instance holds
	// the lease, with its token. Run goes on renewing while it runs.
	Elected func(token int64)
}

// Role is this instance's part in the election.
type Role string

const (
	// Follower serves the API and ingests usage; it campaigns for the
	// lease.
	Follower Role = "follower"

	// Leading holds the lease and runs the leader-only work.
	Leading Role = "leader"

	// Deposed has lost the lease and must stop.
	Deposed Role = "deposed"
)

// Status is what an Elector knows of the election.
type Status struct {
	// Role is this instance's.
	Role Role

	// Token is this instance's token while it leads, else 0.
	Token int64

	// Leader is the lease as last seen; Leader.Address names the leader
	// for a follower.
	Leader Lease
}

// Elector campaigns for the lease and keeps it while it leads.
type Elector struct {
	cfg Config

	mu     sync.Mutex
	status Status

	// deadline is when this leader's lease ends on its own clock, if
	// it is not renewed; zero while it does not lead.
	deadline time.Time
}

// New checks cfg and returns an Elector ready to Run.
func New(cfg Config) (*Elector, error) {
	switch {
	case cfg.Store == nil:
		return nil, errors.New("leader: Config.Store is nil")
	case cfg.ID == "":
		return nil, errors.New("leader: Config.ID is empty")
	case cfg.TTL < 3*time.Millisecond:
		return nil, fmt.Errorf("leader: Config.TTL %v is too short",
			cfg.TTL)
	case cfg.Clock == nil:
		return nil, errors.New("leader: Config.Clock is nil")
	}

	return &Elector{cfg: cfg, status: Status{Role: Follower}}, nil
}

// Status returns the election as this instance last saw it.
func (e *Elector) Status() Status {
	e.mu.Lock()
	defer e.mu.Unlock()

	return e.status
}

// Token returns this instance's fencing token while it leads, else 0; it
// is what the store's fenced view checks.
func (e *Elector) Token() int64 {
	return e.Status().Token
}

// Holds returns nil while this instance leads and its lease's deadline,
// on its own clock, has not passed; else an error wrapping ErrNotLeader.
// It is the check right before a call leaves the process with value: a
// leader paused past its deadline (SIGSTOP, a long GC, a frozen VM) finds
// it passed when it wakes, before its renewal loop has run, and sends
// nothing.
func (e *Elector) Holds() error {
	e.mu.Lock()
	st, deadline := e.status, e.deadline
	e.mu.Unlock()

	switch {
	case st.Role != Leading:
		return fmt.Errorf("%w: this instance is %s", ErrNotLeader,
			st.Role)

	case !e.cfg.Clock.Now().Before(deadline):
		return fmt.Errorf("%w: the lease of token %d ended at %v, not "+
			"renewed", ErrNotLeader, st.Token, deadline)
	}

	return nil
}

// setStatus records the election's state.
func (e *Elector) setStatus(role Role, token int64, l Lease) {
	e.mu.Lock()
	e.status = Status{Role: role, Token: token, Leader: l}
	e.mu.Unlock()
}

// Run campaigns every TTL/3 until ctx is done (it then returns ctx's
// error) or, once elected, until it loses the lease: then it returns an
// error wrapping ErrDeposed, which names the new holder when it knows it.
// A follower's failed campaign is only logged; it tries again.
func (e *Elector) Run(ctx context.Context) error {
	var (
		token    int64
		deadline time.Time
		last     Lease
		period   = e.cfg.TTL / 3
	)
	for {
		start := e.cfg.Clock.Now()
		cctx, cancel := context.WithTimeout(ctx, period)
		if token != 0 {
			// A renewal may run at most until the deadline.
			cancel()
			cctx, cancel = context.WithTimeout(ctx,
				max(deadline.Sub(start), 0))
		}
		l, err := e.cfg.Store.Campaign(cctx, e.cfg.ID, e.cfg.Address,
			token, e.cfg.TTL)
		cancel()
		if ctx.Err() != nil {
			return ctx.Err()
		}

		switch {
		case err == nil && l.Holder == e.cfg.ID &&
			(token == 0 || l.Token == token):

			// The lease ends TTL after the database's now, which
			// is after start: start+TTL is within it.
			deadline = start.Add(e.cfg.TTL)
			e.mu.Lock()
			e.deadline = deadline
			e.mu.Unlock()
			last = l
			if token == 0 {
				token = l.Token
				e.setStatus(Leading, token, l)
				log.Infof("Elected leader with token %d (lease "+
					"%v, renewed every %v)", token,
					e.cfg.TTL, period)
				if e.cfg.Elected != nil {
					e.cfg.Elected(token)
				}
			} else {
				e.setStatus(Leading, token, l)
			}

		case err == nil && token != 0:
			e.setStatus(Deposed, 0, l)
			return fmt.Errorf("%w: token %d, now held by %s at %s "+
				"with token %d", ErrDeposed, token, l.Holder,
				l.Address, l.Token)

		case err == nil:
			if l.Holder != last.Holder || l.Token != last.Token {
				log.Infof("Following leader %s at %s (token %d)",
					l.Holder, l.Address, l.Token)
			}
			last = l
			e.setStatus(Follower, 0, l)

		case token != 0:
			log.Warnf("Lease renewal failed: %v", err)

		default:
			log.Warnf("Campaign for the lease failed: %v", err)
		}

		wait := period
		if token != 0 {
			now := e.cfg.Clock.Now()
			if !now.Before(deadline) {
				e.setStatus(Deposed, 0, last)
				return fmt.Errorf("%w: token %d, lease not "+
					"renewed within %v", ErrDeposed, token,
					e.cfg.TTL)
			}
			wait = min(wait, deadline.Sub(now))
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-e.cfg.Clock.TickAfter(wait):
		}
	}
}
