package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/sluice-ln/sluice/channels"
	"github.com/sluice-ln/sluice/market"
	"github.com/sluice-ln/sluice/payout"
	"github.com/sluice-ln/sluice/settlement"
	"github.com/sluice-ln/sluice/store/sqlc"
)

// The market's rows (migration 000017) and its read-only view of the
// providers', jobs', usage and payout tables, converted to package market's
// types. This file is where settlement's job states and causes become the
// market's JobTally buckets: the store joins the tables, the market decides
// what each bucket means for a record.

// Compile-time check that the store is what the market needs.
var _ market.Store = (*DB)(nil)

// UpdatePresence runs update on the provider's presence and stores the
// result, in one transaction.
func (d *DB) UpdatePresence(ctx context.Context, providerID string,
	update func(prev market.Presence, found bool) (market.Presence,
		error)) error {

	return d.ExecTx(ctx, TxOptions{}, func(tx *Tx) error {
		if err := linkedProvider(ctx, tx, providerID); err != nil {
			return err
		}
		var (
			prev  market.Presence
			found bool
		)
		row, err := tx.q.GetMarketOffer(ctx, providerID)
		switch {
		case errors.Is(err, sql.ErrNoRows):
		case err != nil:
			return fmt.Errorf("offer of provider %s: %w", providerID,
				mapError(err))
		default:
			prev, found = presenceFromRow(row), true
		}
		next, err := update(prev, found)
		if err != nil {
			return err
		}
		err = tx.q.UpsertMarketOffer(ctx, sqlc.UpsertMarketOfferParams{
			ProviderID:   providerID,
			CpuCoreMs:    int64(next.Offer.CPU),
			MemMib:       int64(next.Offer.Mem),
			Slots:        int64(next.Offer.Slots),
			AgentVersion: next.Offer.Version,
			FirstSeen:    dbTime(next.FirstSeen),
			LastSeen:     dbTime(next.LastSeen),
			CoveredMs:    next.Covered.Milliseconds(),
			Heartbeats:   next.Heartbeats,
		})
		if err != nil {
			return fmt.Errorf("store offer of provider %s: %w",
				providerID, mapError(err))
		}
		return nil
	})
}

// linkedProvider returns nil if the provider exists and is linked, and an
// error wrapping market.ErrNotLinked otherwise.
func linkedProvider(ctx context.Context, tx *Tx, id string) error {
	p, err := tx.Provider(ctx, id)
	switch {
	case errors.Is(err, ErrProviderNotFound):
		return fmt.Errorf("%w: no link created provider %q",
			market.ErrNotLinked, id)
	case err != nil:
		return err
	case p.Status != string(channels.StatusLinked):
		return fmt.Errorf("%w: provider %s is %s", market.ErrNotLinked,
			id, p.Status)
	}
	return nil
}

// presenceFromRow converts a market_offers row.
func presenceFromRow(r sqlc.MarketOffer) market.Presence {
	return market.Presence{
		ProviderID: r.ProviderID,
		Offer: market.Offer{
			CPU:     uint64(r.CpuCoreMs),
			Mem:     uint64(r.MemMib),
			Slots:   uint32(r.Slots),
			Version: r.AgentVersion,
		},
		FirstSeen:  r.FirstSeen.UTC(),
		LastSeen:   r.LastSeen.UTC(),
		Covered:    time.Duration(r.CoveredMs) * time.Millisecond,
		Heartbeats: r.Heartbeats,
	}
}

// MarketFacts returns the market's facts of one linked provider, or of
// every one with providerID empty, in one read-only transaction.
func (d *DB) MarketFacts(ctx context.Context, providerID string) (
	[]market.Facts, error) {

	var out []market.Facts
	err := d.ExecTx(ctx, TxOptions{ReadOnly: true}, func(tx *Tx) error {
		out = nil
		var provs []Provider
		if providerID != "" {
			if err := linkedProvider(ctx, tx, providerID); err != nil {
				return err
			}
			p, err := tx.Provider(ctx, providerID)
			if err != nil {
				return err
			}
			provs = []Provider{p}
		} else {
			all, err := tx.Providers(ctx)
			if err != nil {
				return err
			}
			for _, p := range all {
				if p.Status == string(channels.StatusLinked) {
					provs = append(provs, p)
				}
			}
		}

		facts := make(map[string]*market.Facts, len(provs))
		out = make([]market.Facts, len(provs))
		for i, p := range provs {
			rates, err := tx.ProviderRates(ctx, p.ID)
			if err != nil {
				return err
			}
			card, err := channels.ParseRateCard(rates)
			if err != nil {
				return fmt.Errorf("rates of provider %s: %w", p.ID,
					err)
			}
			out[i] = market.Facts{
				ProviderID: p.ID, Alias: p.Alias, Rates: card,
				Reach: channels.ReachState(p.Reach),
			}
			facts[p.ID] = &out[i]
		}
		return marketCounts(ctx, tx, providerID, facts)
	})
	return out, err
}

// marketCounts fills in the presence and the counts of the providers in
// facts, read by providerID (empty: every provider).
func marketCounts(ctx context.Context, tx *Tx, providerID string,
	facts map[string]*market.Facts) error {

	offers, err := tx.q.ListMarketOffers(ctx, providerID)
	if err != nil {
		return fmt.Errorf("market offers: %w", mapError(err))
	}
	for _, r := range offers {
		if f := facts[r.ProviderID]; f != nil {
			p := presenceFromRow(r)
			f.Presence = &p
		}
	}

	tally, err := tx.q.MarketJobTally(ctx, sqlc.MarketJobTallyParams{
		AwaitingState: string(settlement.StateAwaitingFunding),
		FundedState:   string(settlement.StateFunded),
		EndedState:    string(settlement.StateEnded),
		ProviderID:    providerID,
	})
	if err != nil {
		return fmt.Errorf("market job tally: %w", mapError(err))
	}
	for _, r := range tally {
		if f := facts[r.ProviderID]; f != nil {
			addToTally(&f.Jobs, r)
		}
	}

	active := settlement.States()
	var funded []string
	for _, s := range active {
		if s.Funded() {
			funded = append(funded, string(s))
		}
	}
	if len(funded) != 4 {
		return fmt.Errorf("market: settlement has %d funded states, "+
			"the reservation query takes 4", len(funded))
	}
	reserved, err := tx.q.MarketReserved(ctx, sqlc.MarketReservedParams{
		State1: funded[0], State2: funded[1], State3: funded[2],
		State4: funded[3], ProviderID: providerID,
	})
	if err != nil {
		return fmt.Errorf("market reservations: %w", mapError(err))
	}
	for _, r := range reserved {
		f := facts[r.ProviderID]
		if f == nil || r.Reserved < 0 {
			continue
		}
		switch channels.Resource(r.Resource) {
		case channels.ResourceCPU:
			f.Reserved.CPU = uint64(r.Reserved)
		case channels.ResourceMem:
			f.Reserved.Mem = uint64(r.Reserved)
		}
	}
	for _, f := range facts {
		f.Reserved.Jobs = uint32(min(f.Jobs.Active, market.MaxSlots))
	}

	metered, err := tx.q.MarketMeteredSeconds(ctx, providerID)
	if err != nil {
		return fmt.Errorf("market metered seconds: %w", mapError(err))
	}
	for _, r := range metered {
		if f := facts[r.ProviderID]; f != nil {
			f.MeteredSeconds = r.Seconds
		}
	}

	lapsed, err := tx.q.MarketLapsedPlacements(ctx, providerID)
	if err != nil {
		return fmt.Errorf("market lapsed placements: %w", mapError(err))
	}
	for _, r := range lapsed {
		if f := facts[r.ProviderID]; f != nil {
			f.Jobs.Lapsed = r.Lapsed
		}
	}

	failed, err := tx.q.MarketPayoutFailures(ctx,
		sqlc.MarketPayoutFailuresParams{
			FailedState: string(payout.StateFailed),
			ProviderID:  providerID,
		})
	if err != nil {
		return fmt.Errorf("market payout failures: %w", mapError(err))
	}
	for _, r := range failed {
		if f := facts[r.ProviderID]; f != nil {
			f.PayoutFailures = r.Failures
		}
	}
	return nil
}

// addToTally puts a group of jobs in its JobTally bucket: settlement's
// state and the cause of the end, translated. Jobs awaiting funding and
// expired jobs (never funded) go nowhere, nor do jobs their buyer ended
// before they started.
func addToTally(t *market.JobTally, r sqlc.MarketJobTallyRow) {
	state := settlement.State(r.State)
	cause := settlement.Cause(r.EndCause)
	switch {
	case state.Funded():
		t.Active += r.Jobs
	case state != settlement.StateEnded:
	case r.Started && cause == settlement.CauseEndedByBuyer:
		t.EndedByBuyer += r.Jobs
	case r.Started && cause == settlement.CauseEndedByProvider:
		t.EndedByProvider += r.Jobs
	case r.Started && cause == settlement.CauseEndedByOperator:
		t.EndedByOperator += r.Jobs
	case r.Started && cause == settlement.CauseProviderLost:
		t.Lost += r.Jobs
	case !r.Started && r.Funded && (cause ==
		settlement.CauseEndedByProvider ||
		cause == settlement.CauseEndedByOperator):

		t.NeverStarted += r.Jobs
	}
}
