package market

import (
	"context"
	crand "crypto/rand"
	"encoding/binary"
	"fmt"
	"math/rand/v2"
	"slices"
	"sync"
	"time"

	"github.com/lightningnetwork/lnd/clock"
	"github.com/sluice-ln/sluice/channels"
)

// DefaultInterval is how often a serving agent heartbeats by default.
const DefaultInterval = 5 * time.Second

// DefaultTimeout is how long after its last heartbeat a provider stays
// online: three intervals, so that one lost or late heartbeat does not
// take a provider offline.
const DefaultTimeout = 3 * DefaultInterval

// Config is the Market's.
type Config struct {
	Store Store

	// Timeout is how long a provider stays online after a heartbeat;
	// DefaultTimeout when zero.
	Timeout time.Duration

	// Clock gives the time; the wall clock when nil.
	Clock clock.Clock

	// Rand breaks placement ties; seeded from crypto/rand when nil.
	Rand *rand.Rand
}

// Market records heartbeats and answers questions about offers, records
// and placement. It is safe for concurrent use.
type Market struct {
	cfg Config

	// randMu guards cfg.Rand, which is not safe for concurrent use.
	randMu sync.Mutex
}

// New returns a Market with cfg's defaults filled in.
func New(cfg Config) *Market {
	if cfg.Timeout <= 0 {
		cfg.Timeout = DefaultTimeout
	}
	if cfg.Clock == nil {
		cfg.Clock = clock.NewDefaultClock()
	}
	if cfg.Rand == nil {
		var seed [16]byte
		_, _ = crand.Read(seed[:])
		cfg.Rand = rand.New(rand.NewPCG(
			binary.LittleEndian.Uint64(seed[:8]),
			binary.LittleEndian.Uint64(seed[8:])))
	}
	return &Market{cfg: cfg}
}

// Timeout is how long a provider stays online after a heartbeat.
func (m *Market) Timeout() time.Duration { return m.cfg.Timeout }

// Heartbeat records that the provider's agent offers offer now, and
// returns the provider's presence after it. ErrInvalidOffer for a bad
// offer, ErrNotLinked for a provider no link created.
func (m *Market) Heartbeat(ctx context.Context, providerID string,
	offer Offer) (Presence, error) {

	if err := offer.Validate(); err != nil {
		return Presence{}, err
	}
	now := m.cfg.Clock.Now().UTC().Truncate(time.Millisecond)
	var out Presence
	err := m.cfg.Store.UpdatePresence(ctx, providerID,
		func(prev Presence, found bool) (Presence, error) {
			if !found {
				prev = Presence{ProviderID: providerID}
				log.Infof("Provider %s offers capacity for "+
					"the first time: %d core-ms/s, %d MiB, "+
					"%d slots (agent %s)", providerID,
					offer.CPU, offer.Mem, offer.Slots,
					offer.Version)
			} else if !prev.Online(now, m.cfg.Timeout) {
				log.Infof("Provider %s is online again after "+
					"%v", providerID, now.Sub(prev.LastSeen))
			}
			out = prev.next(offer, now, m.cfg.Timeout)
			return out, nil
		})
	if err != nil {
		return Presence{}, fmt.Errorf("heartbeat of provider %s: %w",
			providerID, err)
	}
	return out, nil
}

// Listing is one provider's offer as the market shows it.
type Listing struct {
	ProviderID string
	Alias      string

	// Presence is nil when the provider never sent a heartbeat.
	Presence *Presence
	Online   bool

	// Free is the offer less what active jobs reserve; zero offline or
	// without an offer.
	Free     Capacity
	Reserved Capacity

	Rates channels.RateCard
	Reach channels.ReachState

	Record Record
}

// Candidate is the listing as placement sees it.
func (l Listing) Candidate() Candidate {
	c := Candidate{
		ProviderID: l.ProviderID,
		Online:     l.Online,
		Free:       l.Free,
		Rates:      l.Rates,
		Reachable:  l.Reach == channels.ReachReachable,
		Record:     l.Record,
	}
	if l.Presence != nil {
		c.Offer = l.Presence.Offer
	}
	return c
}

// Listings returns every linked provider's listing, with or without an
// offer, oldest link first.
func (m *Market) Listings(ctx context.Context) ([]Listing, error) {
	facts, err := m.cfg.Store.MarketFacts(ctx, "")
	if err != nil {
		return nil, fmt.Errorf("market facts: %w", err)
	}
	now := m.cfg.Clock.Now()
	out := make([]Listing, len(facts))
	for i, f := range facts {
		out[i] = m.listing(f, now)
	}
	return out, nil
}

// Listing returns one provider's listing: ErrNotLinked for an id no link
// created.
func (m *Market) Listing(ctx context.Context, providerID string) (Listing,
	error) {

	facts, err := m.cfg.Store.MarketFacts(ctx, providerID)
	if err != nil {
		return Listing{}, fmt.Errorf("provider %s: %w", providerID, err)
	}
	if len(facts) != 1 {
		return Listing{}, fmt.Errorf("provider %s: %w", providerID,
			ErrNotLinked)
	}
	return m.listing(facts[0], m.cfg.Clock.Now()), nil
}

// Record returns one provider's record: ErrNotLinked for an id no link
// created.
func (m *Market) Record(ctx context.Context, providerID string) (Record,
	error) {

	l, err := m.Listing(ctx, providerID)
	return l.Record, err
}

// listing builds a listing from the store's facts as of now.
func (m *Market) listing(f Facts, now time.Time) Listing {
	l := Listing{
		ProviderID: f.ProviderID,
		Alias:      f.Alias,
		Presence:   f.Presence,
		Reserved:   f.Reserved,
		Rates:      f.Rates,
		Reach:      f.Reach,
		Record: NewRecord(f.Jobs, f.MeteredSeconds, f.PayoutFailures,
			f.Presence, now, m.cfg.Timeout),
	}
	if f.Presence != nil {
		l.Online = f.Presence.Online(now, m.cfg.Timeout)
		if l.Online {
			l.Free = f.Presence.Offer.Capacity().Less(f.Reserved)
		}
	}
	return l
}

// Candidates returns every provider that ever offered capacity, as
// placement sees it now.
func (m *Market) Candidates(ctx context.Context) ([]Candidate, error) {
	ls, err := m.Listings(ctx)
	if err != nil {
		return nil, err
	}
	var out []Candidate
	for _, l := range ls {
		if l.Presence != nil {
			out = append(out, l.Candidate())
		}
	}
	return out, nil
}

// Place places req on the providers as they stand now (Place's rules and
// errors) without making a job: the dry run, and the call job creation
// makes.
func (m *Market) Place(ctx context.Context, req Request) (Placement,
	error) {

	cands, err := m.Candidates(ctx)
	if err != nil {
		return Placement{}, err
	}
	m.randMu.Lock()
	defer m.randMu.Unlock()
	return Place(req, cands, m.cfg.Rand)
}

// PlaceExcept is Place without the providers in exclude: a job placed
// again goes to none its earlier providers let lapse.
func (m *Market) PlaceExcept(ctx context.Context, req Request,
	exclude []string) (Placement, Candidate, error) {

	cands, err := m.Candidates(ctx)
	if err != nil {
		return Placement{}, Candidate{}, err
	}
	cands = slices.DeleteFunc(cands, func(c Candidate) bool {
		return slices.Contains(exclude, c.ProviderID)
	})
	m.randMu.Lock()
	p, err := Place(req, cands, m.cfg.Rand)
	m.randMu.Unlock()
	if err != nil {
		return p, Candidate{}, err
	}
	i := slices.IndexFunc(cands, func(c Candidate) bool {
		return c.ProviderID == p.Chosen
	})
	return p, cands[i], nil
}

// LastSeen is the provider's last heartbeat; false when it never sent one.
// ErrNotLinked for an id no link created.
func (m *Market) LastSeen(ctx context.Context, providerID string) (
	time.Time, bool, error) {

	l, err := m.Listing(ctx, providerID)
	if err != nil || l.Presence == nil {
		return time.Time{}, false, err
	}
	return l.Presence.LastSeen, true, nil
}
