package market

import (
	"cmp"
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"

	"github.com/shopspring/decimal"
	"github.com/sluice-ln/sluice/channels"
)

// Spec is what a job asks of a machine, in the units of Offer: CPU in
// core-milliseconds per second, memory in MiB. It is the job's most per
// second of each resource, as a job's spec and rate card count them.
type Spec struct {
	CPU uint64
	Mem uint64
}

// amount returns the spec's amount per second of the resource.
func (s Spec) amount(r channels.Resource) uint64 {
	switch r {
	case channels.ResourceCPU:
		return s.CPU
	case channels.ResourceMem:
		return s.Mem
	}
	return 0
}

// Request is what a buyer asks placement for.
type Request struct {
	Spec Spec

	// MaxRates is the most the buyer pays per unit of each resource, in
	// msat per unit as the rate card counts it. A resource missing here
	// has no maximum.
	MaxRates channels.RateCard
}

// Validate checks the request: a spec asking for something, within the
// offer bounds, and maximum rates only for resources a card can price.
func (r Request) Validate() error {
	switch {
	case r.Spec.CPU == 0 && r.Spec.Mem == 0:
		return fmt.Errorf("%w: the spec asks for no cpu and no mem",
			ErrInvalidRequest)
	case r.Spec.CPU > MaxCPU:
		return fmt.Errorf("%w: cpu %d core-ms per second is above %d",
			ErrInvalidRequest, r.Spec.CPU, MaxCPU)
	case r.Spec.Mem > MaxMem:
		return fmt.Errorf("%w: mem %d MiB is above %d",
			ErrInvalidRequest, r.Spec.Mem, MaxMem)
	}
	for res := range r.MaxRates {
		if !slices.Contains(channels.Resources, res) {
			return fmt.Errorf("%w: max rate for unknown resource %q",
				ErrInvalidRequest, res)
		}
	}
	return nil
}

// Candidate is one provider as placement sees it.
type Candidate struct {
	ProviderID string

	// Online is whether its last heartbeat is within the timeout.
	Online bool

	// Offer is its last heartbeat's offer.
	Offer Offer

	// Free is the offer less what its active jobs reserve.
	Free Capacity

	// Rates is its rate card.
	Rates channels.RateCard

	// Reachable is whether the hub's last reach check could pay its node
	// (channels.ReachReachable).
	Reachable bool

	Record Record
}

// Reason is why a candidate was left out. They are listed, and checked, in
// this order; a candidate left out for several has each.
type Reason string

// The reasons.
const (
	ReasonOffline     Reason = "offline"
	ReasonUnreachable Reason = "unreachable"
	ReasonNoCapacity  Reason = "no_capacity"
	ReasonNotPriced   Reason = "not_priced"
	ReasonAboveMax    Reason = "above_max_rate"
)

// reasonOrder is the order reasons are checked and, when two excluded as
// many candidates, the one a no-fit error names: what the buyer cannot
// change (offline, unreachable) before what it can (spec, max rate).
var reasonOrder = []Reason{
	ReasonOffline, ReasonUnreachable, ReasonNoCapacity, ReasonNotPriced,
	ReasonAboveMax,
}

// Err returns the sentinel error of the reason.
func (r Reason) Err() error {
	switch r {
	case ReasonOffline:
		return ErrNoneOnline
	case ReasonUnreachable:
		return ErrUnreachable
	case ReasonNoCapacity:
		return ErrNoCapacity
	case ReasonNotPriced:
		return ErrNotPriced
	case ReasonAboveMax:
		return ErrAboveMaxRate
	}
	return ErrNoFit
}

// Verdict is what placement made of one candidate.
type Verdict struct {
	ProviderID string

	// Taken is true for the one chosen.
	Taken bool

	// Rank is the place among the eligible, from 1; 0 when left out.
	Rank int

	// Reasons are why it was left out, in reasonOrder; empty when it is
	// eligible. Details says each reason in words, one per reason.
	Reasons []Reason
	Details []string

	// Price is what the spec costs per second on its card, msat; zero
	// when the card does not price the spec.
	Price decimal.Decimal

	Record Record
}

// Placement is the outcome of Place.
type Placement struct {
	// Chosen is the provider taken; empty when none fits.
	Chosen string

	// Price is the chosen provider's price of the spec, msat per
	// second.
	Price decimal.Decimal

	// Verdicts has one entry per candidate: the eligible first, in rank
	// order, then the left out in the order given.
	Verdicts []Verdict
}

// Place chooses a provider for the request among the candidates. It keeps
// those online, reachable, with free capacity for the spec and a free job
// slot, whose card prices every resource the spec asks for at or below the
// request's maximum; it ranks them by the price of the spec per second,
// then by record (smaller share of failed and abandoned jobs, more
// completed jobs, fewer payout failures, higher uptime), and breaks ties at
// random: the candidates are shuffled with rnd before a stable sort, so
// each of equals is first equally often. rnd nil keeps the given order
// (for tests that want it fixed).
//
// It returns the placement with a verdict for every candidate. When none
// fits, the placement still holds every verdict, and the error wraps
// ErrNoFit with the sentinel of the constraint that excluded the most
// candidates, each candidate counting once for every constraint it fails
// (ErrNoProviders when there are none); a bad request is
// ErrInvalidRequest.
func Place(req Request, cands []Candidate, rnd *rand.Rand) (Placement,
	error) {

	if err := req.Validate(); err != nil {
		return Placement{}, err
	}
	if len(cands) == 0 {
		return Placement{}, fmt.Errorf("%w: %w", ErrNoFit,
			ErrNoProviders)
	}

	order := make([]int, len(cands))
	for i := range order {
		order[i] = i
	}
	if rnd != nil {
		rnd.Shuffle(len(order), func(i, j int) {
			order[i], order[j] = order[j], order[i]
		})
	}

	var (
		eligible []Verdict
		left     []Verdict
		counts   = map[Reason]int{}
	)
	for _, c := range cands {
		v := judge(req, c)
		if len(v.Reasons) == 0 {
			eligible = append(eligible, v)
			continue
		}
		for _, r := range v.Reasons {
			counts[r]++
		}
		left = append(left, v)
	}

	// Shuffle the eligible by rnd's permutation of the candidates, then
	// sort stably: equals stay in the shuffled order.
	pos := make(map[string]int, len(cands))
	for p, i := range order {
		pos[cands[i].ProviderID] = p
	}
	slices.SortStableFunc(eligible, func(a, b Verdict) int {
		return cmp.Compare(pos[a.ProviderID], pos[b.ProviderID])
	})
	slices.SortStableFunc(eligible, compareVerdicts)

	out := Placement{Verdicts: make([]Verdict, 0, len(cands))}
	for i := range eligible {
		eligible[i].Rank = i + 1
	}
	if len(eligible) > 0 {
		eligible[0].Taken = true
		out.Chosen = eligible[0].ProviderID
		out.Price = eligible[0].Price
	}
	out.Verdicts = append(out.Verdicts, eligible...)
	out.Verdicts = append(out.Verdicts, left...)
	if out.Chosen != "" {
		return out, nil
	}
	return out, noFit(counts, len(cands))
}

// noFit is the error for no eligible candidate: the reason that excluded
// the most, then the others' counts.
func noFit(counts map[Reason]int, total int) error {
	var top Reason
	for _, r := range reasonOrder {
		if counts[r] > counts[top] {
			top = r
		}
	}
	var parts []string
	for _, r := range reasonOrder {
		if counts[r] > 0 {
			parts = append(parts, fmt.Sprintf("%d %s", counts[r], r))
		}
	}
	return fmt.Errorf("%w: %w: %d of %d candidates (%s)", ErrNoFit,
		top.Err(), counts[top], total, strings.Join(parts, ", "))
}

// compareVerdicts orders eligible candidates: cheaper first, then the
// better record.
func compareVerdicts(a, b Verdict) int {
	if c := a.Price.Cmp(b.Price); c != 0 {
		return c
	}
	if c := compareFailureShare(a.Record, b.Record); c != 0 {
		return c
	}
	if c := cmp.Compare(b.Record.Completed, a.Record.Completed); c != 0 {
		return c
	}
	if c := cmp.Compare(a.Record.PayoutFailures,
		b.Record.PayoutFailures); c != 0 {

		return c
	}
	return cmp.Compare(b.Record.UptimePPM, a.Record.UptimePPM)
}

// judge checks one candidate against every constraint.
func judge(req Request, c Candidate) Verdict {
	v := Verdict{ProviderID: c.ProviderID, Record: c.Record}
	leave := func(r Reason, format string, args ...any) {
		v.Reasons = append(v.Reasons, r)
		v.Details = append(v.Details, fmt.Sprintf(format, args...))
	}

	if !c.Online {
		leave(ReasonOffline, "no heartbeat within the timeout")
	}
	if !c.Reachable {
		leave(ReasonUnreachable, "the hub cannot pay its node now")
	}

	var short []string
	if c.Free.Jobs == 0 {
		short = append(short, fmt.Sprintf("no free job slot of %d",
			c.Offer.Slots))
	}
	if req.Spec.CPU > c.Free.CPU {
		short = append(short, fmt.Sprintf("cpu %d free < %d asked",
			c.Free.CPU, req.Spec.CPU))
	}
	if req.Spec.Mem > c.Free.Mem {
		short = append(short, fmt.Sprintf("mem %d MiB free < %d asked",
			c.Free.Mem, req.Spec.Mem))
	}
	if len(short) > 0 {
		leave(ReasonNoCapacity, "%s", strings.Join(short, "; "))
	}

	price := decimal.Zero
	var unpriced, above []string
	for _, res := range channels.Resources {
		amount := req.Spec.amount(res)
		if amount == 0 {
			continue
		}
		rate, ok := c.Rates[res]
		if !ok {
			unpriced = append(unpriced, string(res))
			continue
		}
		if max, ok := req.MaxRates[res]; ok &&
			rate.Decimal().GreaterThan(max.Decimal()) {

			above = append(above, fmt.Sprintf("%s %s > max %s", res,
				rate, max))
		}
		price = price.Add(rate.Decimal().Mul(
			decimal.NewFromUint64(amount)))
	}
	if len(unpriced) > 0 {
		leave(ReasonNotPriced, "its card has no rate for %s",
			strings.Join(unpriced, ", "))
	} else {
		v.Price = price
	}
	if len(above) > 0 {
		leave(ReasonAboveMax, "%s", strings.Join(above, "; "))
	}
	return v
}
