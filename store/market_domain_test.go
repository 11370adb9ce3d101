package store_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/sluice-ln/sluice/channels"
	"github.com/sluice-ln/sluice/market"
	"github.com/sluice-ln/sluice/store"
	"github.com/sluice-ln/sluice/store/storetest"
)

// marketJob is a job of provider p1 (testJob's) in a state, with the
// events that brought it there: funded when funded, started when started,
// and its end's cause when it ended.
type marketJob struct {
	id       string
	provider string
	state    string
	funded   bool
	started  bool
	endCause string
}

// TestMarketRows checks, on each backend, heartbeats stored and read back,
// the refusal of an unlinked provider, and every count of the facts a
// record is made of.
func TestMarketRows(t *testing.T) {
	t.Parallel()

	storetest.ForEachBackend(t, func(t *testing.T, cfg store.Config) {
		t.Parallel()
		db := storetest.Open(t, cfg)
		ctx := context.Background()
		at := time.Date(2026, 8, 1, 10, 0, 0, 0, time.UTC)
		addProvider(t, db, "p1", "02"+strings.Repeat("a", 64))
		addProvider(t, db, "p2", "02"+strings.Repeat("b", 64))
		mustTx(t, db, func(ctx context.Context, tx *store.Tx) error {
			return tx.SetProviderRates(ctx, "p1", map[string]string{
				"cpu": "0.001", "mem": "0.25"}, at)
		})

		// No heartbeat yet: facts without a presence.
		facts, err := db.MarketFacts(ctx, "")
		if err != nil || len(facts) != 2 || facts[0].ProviderID != "p1" ||
			facts[0].Presence != nil ||
			facts[0].Rates[channels.ResourceMem].String() != "0.25" ||
			facts[1].Reach != channels.ReachUnknown {

			t.Fatalf("facts %+v, %v", facts, err)
		}

		offer := market.Offer{CPU: 8000, Mem: 16384, Slots: 3,
			Version: "v0.9"}
		put := func(id string, p market.Presence) error {
			return db.UpdatePresence(ctx, id, func(prev market.Presence,
				found bool) (market.Presence, error) {

				return p, nil
			})
		}
		first := market.Presence{ProviderID: "p1", Offer: offer,
			FirstSeen: at, LastSeen: at.Add(time.Minute),
			Covered: 55 * time.Second, Heartbeats: 12}
		if err := put("p1", first); err != nil {
			t.Fatal(err)
		}
		// The update sees what was stored.
		err = db.UpdatePresence(ctx, "p1", func(prev market.Presence,
			found bool) (market.Presence, error) {

			if !found || prev != first {
				return prev, fmt.Errorf("prev %+v, %v", prev,
					found)
			}
			return prev, errors.New("keep it")
		})
		if err == nil || err.Error() != "keep it" {
			t.Fatalf("update's error: %v", err)
		}
		err = db.UpdatePresence(ctx, "p9", func(market.Presence,
			bool) (market.Presence, error) {

			t.Fatal("update called for an unknown provider")
			return market.Presence{}, nil
		})
		if !errors.Is(err, market.ErrNotLinked) {
			t.Fatalf("unknown provider: %v", err)
		}
		if _, err := db.MarketFacts(ctx, "p9"); !errors.Is(err,
			market.ErrNotLinked) {

			t.Fatalf("facts of unknown provider: %v", err)
		}

		// Jobs: one of each kind for p1, one for p2.
		mustTx(t, db, func(ctx context.Context, tx *store.Tx) error {
			return tx.InsertBuyer(ctx, store.Buyer{ID: "b1",
				Name: "alice", CreatedAt: at})
		})
		jobs := []marketJob{
			{"done-buyer", "p1", "ended", true, true,
				"ended_by_buyer"},
			{"done-prov", "p1", "ended", true, true,
				"ended_by_provider"},
			{"done-prov2", "p1", "ended", true, true,
				"ended_by_provider"},
			{"failed", "p1", "ended", true, true,
				"ended_by_operator"},
			{"abandoned", "p1", "ended", true, false,
				"ended_by_provider"},
			{"cancelled", "p1", "ended", true, false,
				"ended_by_buyer"},
			{"unpaid-end", "p1", "ended", false, false,
				"ended_by_operator"},
			{"expired", "p1", "expired", false, false, ""},
			{"waiting", "p1", "awaiting_funding", false, false, ""},
			{"run1", "p1", "running", true, true, ""},
			{"run2", "p1", "suspended", true, true, ""},
			{"other", "p2", "running", true, true, ""},
		}
		mustTx(t, db, func(ctx context.Context, tx *store.Tx) error {
			for _, j := range jobs {
				if err := insertMarketJob(ctx, tx, j,
					at); err != nil {

					return err
				}
			}
			if err := tx.InsertUsageRecords(ctx,
				usageRows("run1", 1, 7)); err != nil {

				return err
			}
			if err := tx.InsertUsageRecords(ctx,
				usageRows("done-buyer", 1, 5)); err != nil {

				return err
			}
			return tx.InsertUsageRecords(ctx,
				usageRows("other", 1, 2))
		})
		node1 := "02" + strings.Repeat("a", 64)
		for n, state := range []string{store.PayoutFailed,
			store.PayoutSucceeded, store.PayoutFailed} {

			mustTx(t, db, func(ctx context.Context,
				tx *store.Tx) error {

				p := testPayout("p1", node1, n+1)
				if err := tx.InsertPayout(ctx, p); err != nil {
					return err
				}
				return tx.ResolvePayout(ctx, store.PayoutUpdate{
					ID: p.ID, State: state,
					ResolvedAt: at.Add(time.Hour)})
			})
		}

		facts, err = db.MarketFacts(ctx, "p1")
		if err != nil || len(facts) != 1 {
			t.Fatalf("facts of p1: %+v, %v", facts, err)
		}
		f := facts[0]
		if f.Presence == nil || *f.Presence != first {
			t.Fatalf("presence %+v, want %+v", f.Presence, first)
		}
		wantJobs := market.JobTally{EndedByBuyer: 1, EndedByProvider: 2,
			EndedByOperator: 1, NeverStarted: 1, Active: 2}
		if f.Jobs != wantJobs {
			t.Fatalf("jobs %+v, want %+v", f.Jobs, wantJobs)
		}
		// testJob reserves 2000 core-ms/s and 512 MiB a job.
		if f.Reserved != (market.Capacity{CPU: 4000, Mem: 1024,
			Jobs: 2}) {

			t.Fatalf("reserved %+v", f.Reserved)
		}
		if f.MeteredSeconds != 12 || f.PayoutFailures != 2 {
			t.Fatalf("metered %d, payout failures %d",
				f.MeteredSeconds, f.PayoutFailures)
		}
		facts, err = db.MarketFacts(ctx, "p2")
		if err != nil || facts[0].Jobs != (market.JobTally{Active: 1}) ||
			facts[0].MeteredSeconds != 2 ||
			facts[0].PayoutFailures != 0 || facts[0].Presence != nil {

			t.Fatalf("facts of p2: %+v, %v", facts, err)
		}
	})
}

// insertMarketJob stores j with its events.
func insertMarketJob(ctx context.Context, tx *store.Tx, j marketJob,
	at time.Time) error {

	job := testJob(j.id, at)
	job.ProviderID, job.State = j.provider, j.state
	if j.started {
		job.StartedAt = at.Add(time.Minute)
	}
	if j.endCause != "" {
		job.EndedAt = at.Add(time.Hour)
	}
	if err := tx.InsertJob(ctx, job); err != nil {
		return err
	}
	events := []store.JobEvent{{From: "", To: "awaiting_funding",
		Cause: "created"}}
	last := "awaiting_funding"
	if j.funded {
		events = append(events, store.JobEvent{From: last, To: "funded",
			Cause: "funding_settled"})
		last = "funded"
	}
	if j.started {
		events = append(events, store.JobEvent{From: last,
			To: "running", Cause: "agent_started"})
		last = "running"
	}
	switch {
	case j.endCause != "":
		events = append(events, store.JobEvent{From: last, To: "ended",
			Cause: j.endCause})
	case j.state == "expired":
		events = append(events, store.JobEvent{From: last,
			To: "expired", Cause: "funding_expired"})
	}
	for _, e := range events {
		e.JobID, e.At = j.id, at
		if _, err := tx.InsertJobEvent(ctx, e); err != nil {
			return err
		}
	}
	return nil
}
