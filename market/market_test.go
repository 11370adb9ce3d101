package market

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"sync"
	"testing"
	"time"

	"github.com/sluice-ln/sluice/channels"
	"github.com/sluice-ln/sluice/clocktest"
)

// fakeStore keeps facts in memory, as the SQL store would.
type fakeStore struct {
	mu    sync.Mutex
	facts map[string]*Facts
	order []string
}

var _ Store = (*fakeStore)(nil)

func (s *fakeStore) add(f Facts) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.facts == nil {
		s.facts = map[string]*Facts{}
	}
	s.facts[f.ProviderID] = &f
	s.order = append(s.order, f.ProviderID)
}

func (s *fakeStore) UpdatePresence(_ context.Context, id string,
	update func(Presence, bool) (Presence, error)) error {

	s.mu.Lock()
	defer s.mu.Unlock()
	f, ok := s.facts[id]
	if !ok {
		return fmt.Errorf("%w: %s", ErrNotLinked, id)
	}
	var prev Presence
	if f.Presence != nil {
		prev = *f.Presence
	}
	next, err := update(prev, f.Presence != nil)
	if err != nil {
		return err
	}
	f.Presence = &next
	return nil
}

func (s *fakeStore) MarketFacts(_ context.Context, id string) ([]Facts,
	error) {

	s.mu.Lock()
	defer s.mu.Unlock()
	var out []Facts
	for _, p := range s.order {
		if id == "" || id == p {
			f := *s.facts[p]
			if f.Presence != nil {
				pr := *f.Presence
				f.Presence = &pr
			}
			out = append(out, f)
		}
	}
	if id != "" && len(out) == 0 {
		return nil, fmt.Errorf("%w: %s", ErrNotLinked, id)
	}
	return out, nil
}

// TestMarket drives two providers through heartbeats, a timeout and a
// placement: the cheaper one is placed on while online, the dearer one once
// the cheaper one falls silent, and reservations shrink the free capacity.
func TestMarket(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	clk := clocktest.New(time.Date(2026, 7, 1, 12, 0, 0, 0, time.UTC))
	st := &fakeStore{}
	st.add(Facts{ProviderID: "cheap", Rates: card(t, "0.001", "0.001"),
		Reach: channels.ReachReachable})
	st.add(Facts{ProviderID: "dear", Rates: card(t, "0.01", "0.01"),
		Reach:    channels.ReachReachable,
		Jobs:     JobTally{EndedByBuyer: 2, Active: 1},
		Reserved: Capacity{CPU: 1000, Mem: 1024, Jobs: 1}})
	st.add(Facts{ProviderID: "silent", Rates: card(t, "0", "0")})
	m := New(Config{Store: st, Clock: clk, Rand: rand.New(
		rand.NewPCG(1, 1))})
	if m.Timeout() != DefaultTimeout {
		t.Fatalf("timeout %v", m.Timeout())
	}

	offer := Offer{CPU: 4000, Mem: 4096, Slots: 2, Version: "v1"}
	if _, err := m.Heartbeat(ctx, "nobody", offer); !errors.Is(err,
		ErrNotLinked) {

		t.Fatalf("unlinked: %v", err)
	}
	if _, err := m.Heartbeat(ctx, "cheap", Offer{}); !errors.Is(err,
		ErrInvalidOffer) {

		t.Fatalf("bad offer: %v", err)
	}
	for _, id := range []string{"cheap", "dear"} {
		if _, err := m.Heartbeat(ctx, id, offer); err != nil {
			t.Fatal(err)
		}
	}

	ls, err := m.Listings(ctx)
	if err != nil || len(ls) != 3 {
		t.Fatalf("listings %+v, %v", ls, err)
	}
	dear := ls[1]
	if !dear.Online || dear.Free != (Capacity{CPU: 3000, Mem: 3072,
		Jobs: 1}) || dear.Record.Completed != 2 ||
		dear.Record.UptimePPM != 1_000_000 {

		t.Fatalf("dear: %+v", dear)
	}
	if ls[2].Presence != nil || ls[2].Online {
		t.Fatalf("silent: %+v", ls[2])
	}
	cands, err := m.Candidates(ctx)
	if err != nil || len(cands) != 2 {
		t.Fatalf("candidates %+v, %v", cands, err)
	}

	req := Request{Spec: Spec{CPU: 1000, Mem: 512}}
	p, err := m.Place(ctx, req)
	if err != nil || p.Chosen != "cheap" {
		t.Fatalf("placed %+v, %v", p, err)
	}
	// Placed again without cheap: dear, with its card; without both,
	// no fit.
	p, c, err := m.PlaceExcept(ctx, req, []string{"cheap"})
	if err != nil || p.Chosen != "dear" || c.ProviderID != "dear" ||
		c.Rates[channels.ResourceCPU].String() != "0.01" ||
		len(p.Verdicts) != 1 {

		t.Fatalf("placed except cheap %+v %+v, %v", p, c, err)
	}
	_, _, err = m.PlaceExcept(ctx, req, []string{"cheap", "dear"})
	if !errors.Is(err, ErrNoFit) {
		t.Fatalf("placed except both: %v", err)
	}
	seen, ok, err := m.LastSeen(ctx, "dear")
	if err != nil || !ok || !seen.Equal(clk.Now()) {
		t.Fatalf("dear last seen %v %v, %v", seen, ok, err)
	}
	if _, ok, err := m.LastSeen(ctx, "silent"); err != nil || ok {
		t.Fatalf("silent last seen %v, %v", ok, err)
	}

	// Only dear keeps beating; past the timeout cheap is offline.
	clk.Advance(10 * time.Second)
	if _, err := m.Heartbeat(ctx, "dear", offer); err != nil {
		t.Fatal(err)
	}
	clk.Advance(10 * time.Second)
	p, err = m.Place(ctx, req)
	if err != nil || p.Chosen != "dear" {
		t.Fatalf("placed %+v, %v", p, err)
	}
	if p.Verdicts[1].ProviderID != "cheap" ||
		p.Verdicts[1].Reasons[0] != ReasonOffline {

		t.Fatalf("cheap's verdict %+v", p.Verdicts[1])
	}
	// A spec over dear's free capacity: no fit, for capacity.
	_, err = m.Place(ctx, Request{Spec: Spec{CPU: 3500}})
	if !errors.Is(err, ErrNoFit) {
		t.Fatalf("too big: %v", err)
	}

	rec, err := m.Record(ctx, "cheap")
	// cheap was seen once, 20 s ago: nothing covered in 20 s.
	if err != nil || rec.UptimePPM != 0 || !rec.Since.Equal(
		time.Date(2026, 7, 1, 12, 0, 0, 0, time.UTC)) {

		t.Fatalf("cheap's record %+v, %v", rec, err)
	}
	if _, err := m.Record(ctx, "nobody"); !errors.Is(err, ErrNotLinked) {
		t.Fatalf("nobody's record: %v", err)
	}
}
