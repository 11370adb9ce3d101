package payout

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/lightningnetwork/lnd/lnwire"
	"github.com/sluice-ln/sluice/ledger"
	"github.com/sluice-ln/sluice/lightning"
)

// StatusState says whether a provider's payouts are held back.
type StatusState string

const (
	// StatusOK is a provider paid as its policy says.
	StatusOK StatusState = "ok"

	// StatusLimited is a provider whose route carries less than its
	// payable: payouts are capped at what it carries, and the rest
	// waits.
	StatusLimited StatusState = "limited"

	// StatusRetrying is a provider whose last payout failed: the next
	// waits for a backoff that grows with each failure in a row.
	StatusRetrying StatusState = "retrying"

	// StatusBlocked is a provider no route can carry even the minimum
	// to: nothing is sent, and the route is checked again at the slow
	// interval (BlockedRetry).
	StatusBlocked StatusState = "blocked"
)

// routeLimit returns the most a payout to c may be so that the hub's route
// carries it, and whether that route is the hub's direct channel to the
// provider at no fee. The whole payable is checked with a route query
// unless the route is known to carry it; when that fails, smaller amounts
// are tried, and the provider's status says the payouts are limited, or
// blocked (ErrRouteBlocked) when not even the minimum goes through. A
// failed check is not repeated before BlockedRetry has passed.
func (e *Executor) routeLimit(ctx context.Context, c Candidate,
	pol Policy) (ledger.MilliSatoshi, bool, error) {

	// The most any payout could be now: all of the payable, as over a
	// direct channel.
	plan, ok := pol.zeroFee().Plan(c.Payable, 0, 0)
	if !ok {
		return 0, false, fmt.Errorf("provider %s has %v payable: %w",
			c.ProviderID, c.Payable, ErrNothingToPay)
	}
	want := plan.Amount

	now := e.now()
	e.mu.Lock()
	info := e.routes[c.ProviderID]
	e.mu.Unlock()

	switch {
	case want <= info.carries:
		return info.carries, info.direct, nil

	case info.limited && now.Before(info.recheckAt):
		if info.carries < pol.Minimum {
			return 0, false, fmt.Errorf("provider %s until %s: %w",
				c.ProviderID, info.recheckAt.Format(
					time.RFC3339), ErrRouteBlocked)
		}
		return info.carries, info.direct, nil
	}

	r, err := e.queryRoute(ctx, c, pol, want)
	switch {
	case err == nil:
		direct := isDirect(r)
		e.setRoute(c.ProviderID, routeInfo{carries: want,
			direct: direct})
		if err := e.routeStatus(ctx, c.ProviderID, StatusOK, "",
			now); err != nil {

			return 0, false, err
		}
		return want, direct, nil

	case !errors.Is(err, lightning.ErrNoRoute):
		return 0, false, fmt.Errorf("route to provider %s: %w",
			c.ProviderID, err)
	}

	// The whole amount does not go through; look for a part that does.
	carries, direct, err := e.probe(ctx, c, pol, want)
	if err != nil {
		return 0, false, err
	}
	recheck := now.Add(e.cfg.BlockedRetry)
	e.setRoute(c.ProviderID, routeInfo{
		carries:   carries,
		direct:    direct,
		limited:   true,
		recheckAt: recheck,
	})

	if carries < pol.Minimum {
		reason := fmt.Sprintf("no route from the hub carries %v "+
			"(the minimum is %v); checking again at %s", want,
			pol.Minimum, recheck.Format(time.RFC3339))
		log.Warnf("Provider %s: %s", c.ProviderID, reason)
		err := e.routeStatus(ctx, c.ProviderID, StatusBlocked, reason,
			now)
		if err != nil {
			return 0, false, err
		}
		return 0, false, fmt.Errorf("provider %s: %w", c.ProviderID,
			ErrRouteBlocked)
	}

	reason := fmt.Sprintf("the hub's route carries at most about %v "+
		"of %v payable; paying that", carries, want)
	log.Infof("Provider %s: %s", c.ProviderID, reason)
	if err := e.routeStatus(ctx, c.ProviderID, StatusLimited, reason,
		now); err != nil {

		return 0, false, err
	}
	return carries, direct, nil
}

// isDirect reports whether a route is the hub's own channel to the
// destination at no fee: a payout over it needs no fee budget.
func isDirect(r lightning.Route) bool {
	return r.Hops == 1 && r.Fee == 0
}

// queryRoute asks whether the hub can pay amt to c within the policy's fee
// cap.
func (e *Executor) queryRoute(ctx context.Context, c Candidate, pol Policy,
	amt ledger.MilliSatoshi) (lightning.Route, error) {

	return e.cfg.Routes.QueryRoute(ctx, c.Node,
		lnwire.MilliSatoshi(amt), lnwire.MilliSatoshi(pol.FeeCap(amt)))
}

// probe looks for an amount below want that the route carries: first what
// the hub's best active direct channel to the provider can send, then
// halves, at most maxRouteProbes queries, none below the minimum. It
// returns zero when none goes through, and whether the route found is
// direct.
func (e *Executor) probe(ctx context.Context, c Candidate, pol Policy,
	want ledger.MilliSatoshi) (ledger.MilliSatoshi, bool, error) {

	try := want / 2
	chans, err := e.cfg.Routes.ChannelsWith(ctx, c.Node)
	if err != nil {
		return 0, false, fmt.Errorf("channels with provider %s: %w",
			c.ProviderID, err)
	}
	var best ledger.MilliSatoshi
	for _, ch := range chans {
		if !ch.Active {
			continue
		}
		local := ledger.MilliSatoshi(
			lnwire.NewMSatFromSatoshis(ch.LocalBalance))
		best = max(best, local)
	}
	if best > 0 && best < want {
		try = best
	}

	for i := 0; i < maxRouteProbes && try >= pol.Minimum && try > 0; i++ {
		r, err := e.queryRoute(ctx, c, pol, try)
		switch {
		case err == nil:
			return try, isDirect(r), nil
		case !errors.Is(err, lightning.ErrNoRoute):
			return 0, false, fmt.Errorf("route to provider %s: %w",
				c.ProviderID, err)
		}
		try /= 2
	}
	return 0, false, nil
}

// setRoute records what the route to a provider carries.
func (e *Executor) setRoute(providerID string, info routeInfo) {
	e.mu.Lock()
	e.routes[providerID] = info
	e.mu.Unlock()
}

// learnRoute notes that amt reached the provider.
func (e *Executor) learnRoute(providerID string, amt ledger.MilliSatoshi) {
	e.mu.Lock()
	info := e.routes[providerID]
	if amt > info.carries {
		info.carries = amt
	}
	e.routes[providerID] = info
	e.mu.Unlock()
}

// forgetRoute drops what is known of the route to a provider, after lnd
// found none for a payout: the next payout checks again.
func (e *Executor) forgetRoute(providerID string) {
	e.mu.Lock()
	delete(e.routes, providerID)
	e.mu.Unlock()
}

// routeStatus records what a route check found in the provider's status,
// when that changes it. A provider that is retrying after failed payouts
// stays so when its route checks out; its next success clears that.
func (e *Executor) routeStatus(ctx context.Context, providerID string,
	state StatusState, reason string, now time.Time) error {

	return e.cfg.DB.ExecPayouts(ctx, false, func(tx TxStore) error {
		cur, ok, err := tx.PayoutStatus(ctx, providerID)
		switch {
		case err != nil:
			return err

		case !ok:
			if state == StatusOK {
				return nil
			}
			cur = StoredStatus{ProviderID: providerID}
		}

		if state == StatusOK && cur.State == StatusRetrying {
			return nil
		}
		if cur.State == state && cur.Reason == reason {
			return nil
		}

		next := cur
		if cur.State != state {
			next.Since = now
		}
		next.State, next.Reason = state, reason
		next.RetryAt = time.Time{}
		if state == StatusBlocked {
			next.RetryAt = now.Add(e.cfg.BlockedRetry)
		}
		next.UpdatedAt = now
		return tx.SetPayoutStatus(ctx, next)
	})
}
