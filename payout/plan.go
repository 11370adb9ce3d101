package payout

import (
	"fmt"
	"time"

	"github.com/lightningnetwork/lnd/routing/route"
	"github.com/sluice-ln/sluice/ledger"
)

// snapshot is everything one scheduling decision looks at: what the store
// held when the scheduler read it, and what the scheduler itself has under
// way. plan reads nothing else, so a scenario file can state a snapshot
// and check what is started.
type snapshot struct {
	// defaults is the policy of providers without an override.
	defaults Policy

	// maxInFlight caps the payouts in progress across providers.
	maxInFlight int

	// pending are the payouts the store holds as pending, oldest first.
	pending []pendingPayout

	// providers are the linked providers with payable above zero,
	// ordered by id.
	providers []providerState

	// busy are the providers with a payout in progress in this process;
	// len(busy) slots of maxInFlight are taken.
	busy map[string]bool

	// nextDue is, per provider, when its interval since the start of
	// its last payout in this process has passed.
	nextDue map[string]time.Time
}

// pendingPayout is a payout a crash or an error left pending.
type pendingPayout struct {
	id         string
	providerID string
}

// providerState is one provider with something payable.
type providerState struct {
	id      string
	node    string
	payable ledger.MilliSatoshi

	// override is the operator's change to the defaults; nil for none.
	override *Override

	// retryAt is when payouts to it may be tried again after failures
	// or a blocked route; zero when they are not held back.
	retryAt time.Time
}

// start is one payout for the loop to start.
type start struct {
	providerID string

	// resume names a pending payout to finish; empty for a new payout
	// of candidate under policy.
	resume    string
	candidate Candidate
	policy    Policy

	// nextDue is the provider's next due time once this payout starts
	// (zero for a resume, which does not count as the provider's turn).
	nextDue time.Time
}

// skip is a provider plan passed over for a fault of its data, for the
// loop to log.
type skip struct {
	providerID string
	err        error
}

// later is a provider plan found waiting for its interval or its retry
// time, and when that passes.
type later struct {
	providerID string
	at         time.Time
}

// decision is what plan says to do now.
type decision struct {
	starts []start

	// waiting are the providers, in plan order, that could go now but
	// found every slot taken: a pending payout to resume, or payable
	// that is due. A payout's end frees a slot for the first of them.
	waiting []string

	// later are the providers waiting for their interval or retry time,
	// for the scheduler to look at again when it passes; next is the
	// earliest of their times, zero when there are none. Payout endings
	// and new payable wake the scheduler on their own.
	later []later
	next  time.Time

	skipped []skip
}

// plan decides which payouts to start at now: first every pending payout
// nobody works on, then a payout for each provider whose interval and
// retry time have passed, that has nothing in progress, and whose payable
// could be paid at least over a route that costs nothing (whether fees
// apply depends on the route, which the executor checks). Each start takes
// one of maxInFlight slots; once they are taken nothing more starts until
// a payout ends, and what could have started is named as waiting for a
// slot. A provider never has two payouts in progress. plan is a pure
// function of its arguments.
func plan(snap snapshot, now time.Time) decision {
	var d decision
	busy := make(map[string]bool, len(snap.busy))
	for p := range snap.busy {
		busy[p] = true
	}
	free := snap.maxInFlight - len(busy)

	for _, p := range snap.pending {
		if busy[p.providerID] {
			continue
		}
		// Its provider gets nothing new before the resume.
		busy[p.providerID] = true
		if free <= 0 {
			d.waiting = append(d.waiting, p.providerID)
			continue
		}
		free--
		d.starts = append(d.starts, start{
			providerID: p.providerID, resume: p.id,
		})
	}

	for _, c := range snap.providers {
		if busy[c.id] {
			continue
		}
		pol := snap.defaults
		if c.override != nil {
			pol = pol.Apply(*c.override)
		}
		if err := pol.Validate(); err != nil {
			d.skipped = append(d.skipped, skip{c.id,
				fmt.Errorf("payout policy: %w", err)})
			continue
		}

		due := dueAt(snap.nextDue[c.id], c.retryAt)
		if now.Before(due) {
			d.later = append(d.later, later{c.id, due})
			d.next = earliest(d.next, due)
			continue
		}
		if _, ok := pol.zeroFee().Plan(c.payable, 0, 0); !ok {
			// Below the minimum: more usage wakes the scheduler.
			continue
		}
		node, err := route.NewVertexFromStr(c.node)
		if err != nil {
			d.skipped = append(d.skipped, skip{c.id,
				fmt.Errorf("node key %q: %w", c.node, err)})
			continue
		}
		if free <= 0 {
			// A payout that ends frees a slot and wakes the
			// scheduler.
			d.waiting = append(d.waiting, c.id)
			continue
		}
		free--
		busy[c.id] = true
		// Its interval is not a deadline to wake for: the
		// payout's end wakes the scheduler, and the plan then
		// says whether the interval has passed.
		d.starts = append(d.starts, start{
			providerID: c.id,
			candidate: Candidate{
				ProviderID: c.id, Node: node, Payable: c.payable,
			},
			policy:  pol,
			nextDue: now.Add(pol.Interval),
		})
	}
	return d
}

// dueAt is when a provider may be paid again: the later of the end of
// its interval and its retry time.
func dueAt(nextDue, retryAt time.Time) time.Time {
	if retryAt.After(nextDue) {
		return retryAt
	}
	return nextDue
}

// earliest is the earlier of two times, a zero time counting as none.
func earliest(a, b time.Time) time.Time {
	if a.IsZero() || (!b.IsZero() && b.Before(a)) {
		return b
	}
	return a
}
