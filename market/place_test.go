package market

import (
	"errors"
	"math/rand/v2"
	"testing"

	"github.com/sluice-ln/sluice/channels"
	"pgregory.net/rapid"
)

// fataler is what the helpers need of *testing.T and *rapid.T.
type fataler interface{ Fatal(args ...any) }

// card builds a rate card from cpu and mem rates; "" leaves one out.
func card(t fataler, cpu, mem string) channels.RateCard {
	in := map[string]string{}
	if cpu != "" {
		in["cpu"] = cpu
	}
	if mem != "" {
		in["mem"] = mem
	}
	c, err := channels.ParseRateCard(in)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// cand is an online, reachable candidate with room for 4 cores and 8 GiB.
func cand(t fataler, id, cpu, mem string) Candidate {
	o := Offer{CPU: 4000, Mem: 8192, Slots: 2, Version: "t"}
	return Candidate{
		ProviderID: id, Online: true, Offer: o, Free: o.Capacity(),
		Rates: card(t, cpu, mem), Reachable: true,
	}
}

func TestPlace(t *testing.T) {
	t.Parallel()

	spec := Spec{CPU: 1000, Mem: 512}
	with := func(c Candidate, f func(*Candidate)) Candidate {
		f(&c)
		return c
	}
	cases := []struct {
		name     string
		req      Request
		cands    []Candidate
		chosen   string
		err      error
		excluded map[string]Reason
	}{{
		name: "cheapest wins",
		req:  Request{Spec: spec},
		cands: []Candidate{
			cand(t, "a", "0.002", "0.01"),
			cand(t, "b", "0.001", "0.01"),
			cand(t, "c", "0.001", "0.02"),
		},
		chosen: "b",
	}, {
		name: "price counts the amounts: cheap cpu, dear mem",
		// a: 1000×0.001 + 512×0.01 = 6.12; b: 1000×0.004 + 512×0.001
		// = 4.512.
		req: Request{Spec: spec},
		cands: []Candidate{
			cand(t, "a", "0.001", "0.01"),
			cand(t, "b", "0.004", "0.001"),
		},
		chosen: "b",
	}, {
		name: "offline, unreachable and full are left out",
		req:  Request{Spec: spec},
		cands: []Candidate{
			with(cand(t, "off", "0", "0"), func(c *Candidate) {
				c.Online = false
			}),
			with(cand(t, "unreach", "0", "0"), func(c *Candidate) {
				c.Reachable = false
			}),
			with(cand(t, "full", "0", "0"), func(c *Candidate) {
				c.Free.Jobs = 0
			}),
			with(cand(t, "small", "0", "0"), func(c *Candidate) {
				c.Free.Mem = 100
			}),
			cand(t, "dear", "1", "1"),
		},
		chosen: "dear",
		excluded: map[string]Reason{
			"off": ReasonOffline, "unreach": ReasonUnreachable,
			"full": ReasonNoCapacity, "small": ReasonNoCapacity,
		},
	}, {
		name: "max rate per resource",
		req: Request{Spec: spec, MaxRates: card(t, "0.002",
			"")},
		cands: []Candidate{
			cand(t, "a", "0.003", "0"),
			cand(t, "b", "0.002", "5"),
		},
		chosen:   "b",
		excluded: map[string]Reason{"a": ReasonAboveMax},
	}, {
		name: "a card without mem cannot price a spec with mem",
		req:  Request{Spec: spec},
		cands: []Candidate{
			cand(t, "a", "0.001", ""),
			cand(t, "b", "0.5", "0.5"),
		},
		chosen:   "b",
		excluded: map[string]Reason{"a": ReasonNotPriced},
	}, {
		name:   "a spec without mem needs no mem rate",
		req:    Request{Spec: Spec{CPU: 10}},
		cands:  []Candidate{cand(t, "a", "0.001", "")},
		chosen: "a",
	}, {
		name: "equal price: fewer failures win over more jobs",
		req:  Request{Spec: spec},
		cands: []Candidate{
			with(cand(t, "flaky", "1", "1"), func(c *Candidate) {
				c.Record = Record{Completed: 90, Failed: 10}
			}),
			with(cand(t, "steady", "1", "1"), func(c *Candidate) {
				c.Record = Record{Completed: 9, Abandoned: 0}
			}),
		},
		chosen: "steady",
	}, {
		name: "equal price and share: more completed wins",
		req:  Request{Spec: spec},
		cands: []Candidate{
			with(cand(t, "new", "1", "1"), func(c *Candidate) {}),
			with(cand(t, "old", "1", "1"), func(c *Candidate) {
				c.Record = Record{Completed: 3}
			}),
		},
		chosen: "old",
	}, {
		name: "then fewer payout failures, then uptime",
		req:  Request{Spec: spec},
		cands: []Candidate{
			with(cand(t, "a", "1", "1"), func(c *Candidate) {
				c.Record = Record{PayoutFailures: 1,
					UptimePPM: 1_000_000}
			}),
			with(cand(t, "b", "1", "1"), func(c *Candidate) {
				c.Record = Record{UptimePPM: 500_000}
			}),
			with(cand(t, "c", "1", "1"), func(c *Candidate) {
				c.Record = Record{UptimePPM: 900_000}
			}),
		},
		chosen: "c",
	}, {
		name: "none: most are offline",
		req:  Request{Spec: spec},
		cands: []Candidate{
			with(cand(t, "a", "1", "1"), func(c *Candidate) {
				c.Online = false
			}),
			with(cand(t, "b", "1", "1"), func(c *Candidate) {
				c.Online = false
			}),
			with(cand(t, "c", "1", "1"), func(c *Candidate) {
				c.Free.CPU = 0
			}),
		},
		err: ErrNoneOnline,
	}, {
		name: "none: max rate below every offer",
		req:  Request{Spec: spec, MaxRates: card(t, "0", "0")},
		cands: []Candidate{
			cand(t, "a", "1", "0"), cand(t, "b", "0", "1"),
		},
		err: ErrAboveMaxRate,
	}, {
		name: "none: a constraint counts every candidate it excludes",
		// a is offline and too dear, b too dear: the max rate
		// excluded two, being offline one.
		req: Request{Spec: spec, MaxRates: card(t, "0.5", "")},
		cands: []Candidate{
			with(cand(t, "a", "1", "0"), func(c *Candidate) {
				c.Online = false
			}),
			cand(t, "b", "1", "0"),
		},
		err: ErrAboveMaxRate,
	}, {
		name: "none: a spec no provider can meet",
		req:  Request{Spec: Spec{CPU: 64_000, Mem: 1}},
		cands: []Candidate{
			cand(t, "a", "1", "0"), cand(t, "b", "0", "1"),
		},
		err: ErrNoCapacity,
	}, {
		name: "none: unpriced",
		req:  Request{Spec: spec},
		cands: []Candidate{cand(t, "a", "1", ""),
			cand(t, "b", "", "1")},
		err: ErrNotPriced,
	}, {
		name: "none: unreachable",
		req:  Request{Spec: spec},
		cands: []Candidate{with(cand(t, "a", "1", "1"),
			func(c *Candidate) { c.Reachable = false })},
		err: ErrUnreachable,
	}, {
		name: "no candidates",
		req:  Request{Spec: spec},
		err:  ErrNoProviders,
	}, {
		name:  "empty spec",
		req:   Request{},
		cands: []Candidate{cand(t, "a", "1", "1")},
		err:   ErrInvalidRequest,
	}, {
		name:  "spec over the bounds",
		req:   Request{Spec: Spec{CPU: MaxCPU + 1}},
		cands: []Candidate{cand(t, "a", "1", "1")},
		err:   ErrInvalidRequest,
	}}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			got, err := Place(tc.req, tc.cands,
				rand.New(rand.NewPCG(1, 2)))
			if tc.err != nil {
				if !errors.Is(err, tc.err) {
					t.Fatalf("error %v, want %v", err, tc.err)
				}
				if !errors.Is(err, ErrInvalidRequest) &&
					!errors.Is(err, ErrNoFit) {

					t.Fatalf("%v is not ErrNoFit", err)
				}
				if got.Chosen != "" {
					t.Fatalf("chose %s with an error", got.Chosen)
				}
				return
			}
			if err != nil || got.Chosen != tc.chosen {
				t.Fatalf("chose %q, %v; want %q", got.Chosen, err,
					tc.chosen)
			}
			if len(got.Verdicts) != len(tc.cands) {
				t.Fatalf("%d verdicts for %d candidates",
					len(got.Verdicts), len(tc.cands))
			}
			for _, v := range got.Verdicts {
				want, out := tc.excluded[v.ProviderID]
				switch {
				case out && (v.Rank != 0 || v.Taken ||
					len(v.Reasons) == 0 ||
					v.Reasons[0] != want):
					t.Errorf("%s: %+v, want left out for %s",
						v.ProviderID, v, want)
				case !out && (v.Rank == 0 ||
					len(v.Reasons) != 0):
					t.Errorf("%s: %+v, want eligible",
						v.ProviderID, v)
				case v.Taken != (v.ProviderID == tc.chosen):
					t.Errorf("%s: taken %v", v.ProviderID,
						v.Taken)
				case len(v.Reasons) != len(v.Details):
					t.Errorf("%s: %d reasons, %d details",
						v.ProviderID, len(v.Reasons),
						len(v.Details))
				}
			}
		})
	}
}

// TestPlaceAllReasons checks that a candidate failing several constraints
// gets each reason, in order, and that the error counts its first.
func TestPlaceAllReasons(t *testing.T) {
	t.Parallel()
	c := cand(t, "a", "5", "")
	c.Online, c.Reachable, c.Free = false, false, Capacity{}
	got, err := Place(Request{Spec: Spec{CPU: 1, Mem: 1},
		MaxRates: card(t, "1", "1")}, []Candidate{c}, nil)
	if !errors.Is(err, ErrNoneOnline) {
		t.Fatalf("error %v", err)
	}
	want := []Reason{ReasonOffline, ReasonUnreachable, ReasonNoCapacity,
		ReasonNotPriced, ReasonAboveMax}
	v := got.Verdicts[0]
	if len(v.Reasons) != len(want) {
		t.Fatalf("reasons %v, want %v", v.Reasons, want)
	}
	for i := range want {
		if v.Reasons[i] != want[i] {
			t.Fatalf("reasons %v, want %v", v.Reasons, want)
		}
	}
}

// TestPlaceTiesAreFair checks that among equal candidates each is chosen,
// and roughly equally often, over many seeds.
func TestPlaceTiesAreFair(t *testing.T) {
	t.Parallel()
	cands := []Candidate{cand(t, "a", "1", "1"), cand(t, "b", "1", "1"),
		cand(t, "c", "1", "1")}
	const runs = 3000
	counts := map[string]int{}
	rnd := rand.New(rand.NewPCG(7, 9))
	for range runs {
		got, err := Place(Request{Spec: Spec{CPU: 1}}, cands, rnd)
		if err != nil {
			t.Fatal(err)
		}
		counts[got.Chosen]++
	}
	for _, id := range []string{"a", "b", "c"} {
		// Each expects 1000; 800 is more than six standard
		// deviations away, so a fair choice never fails here and a
		// biased one (always the first) always does.
		if counts[id] < 800 {
			t.Fatalf("chosen counts %v", counts)
		}
	}
}

// TestPlaceProperties checks, for random candidates: the chosen one is
// eligible and never dearer than another eligible one; every candidate has
// a verdict; the ranks of the eligible are 1..n in price order; no fit is
// ErrNoFit.
func TestPlaceProperties(t *testing.T) {
	t.Parallel()
	rates := []string{"0", "0.001", "0.01", "0.5", "1", "3"}
	rapid.Check(t, func(t *rapid.T) {
		n := rapid.IntRange(0, 8).Draw(t, "n")
		var cands []Candidate
		for i := range n {
			c := cand(t, string(rune('a'+i)),
				rapid.SampledFrom(rates).Draw(t, "cpu"),
				rapid.SampledFrom(append(rates, "")).Draw(t,
					"mem"))
			c.Online = rapid.Bool().Draw(t, "online")
			c.Reachable = rapid.IntRange(0, 4).Draw(t, "r") > 0
			c.Free.CPU = rapid.Uint64Range(0, 4000).Draw(t, "fcpu")
			c.Free.Mem = rapid.Uint64Range(0, 8192).Draw(t, "fmem")
			c.Free.Jobs = uint32(rapid.IntRange(0, 2).Draw(t, "fj"))
			c.Record = Record{
				Completed: rapid.Int64Range(0, 5).Draw(t, "ok"),
				Failed:    rapid.Int64Range(0, 5).Draw(t, "bad"),
			}
			cands = append(cands, c)
		}
		req := Request{Spec: Spec{
			CPU: rapid.Uint64Range(0, 4000).Draw(t, "cpu"),
			Mem: rapid.Uint64Range(1, 8192).Draw(t, "mem"),
		}}
		if rapid.Bool().Draw(t, "max") {
			req.MaxRates = card(t, rapid.SampledFrom(rates).Draw(t,
				"maxcpu"), "")
		}
		seed := rapid.Uint64().Draw(t, "seed")
		got, err := Place(req, cands, rand.New(rand.NewPCG(seed, 1)))
		if n == 0 {
			if !errors.Is(err, ErrNoProviders) {
				t.Fatalf("no candidates: %v", err)
			}
			return
		}
		if len(got.Verdicts) != n {
			t.Fatalf("%d verdicts for %d", len(got.Verdicts), n)
		}
		var eligible []Verdict
		for _, v := range got.Verdicts {
			if len(v.Reasons) == 0 {
				eligible = append(eligible, v)
			}
		}
		if len(eligible) == 0 {
			if !errors.Is(err, ErrNoFit) || got.Chosen != "" {
				t.Fatalf("nothing eligible: %q, %v", got.Chosen,
					err)
			}
			return
		}
		if err != nil || got.Chosen != eligible[0].ProviderID ||
			!eligible[0].Taken {

			t.Fatalf("chosen %q, %v; first eligible %+v", got.Chosen,
				err, eligible[0])
		}
		for i, v := range eligible {
			if v.Rank != i+1 {
				t.Fatalf("rank %d at %d", v.Rank, i)
			}
			if v.Price.LessThan(got.Price) {
				t.Fatalf("%s costs %v, less than the chosen %v",
					v.ProviderID, v.Price, got.Price)
			}
			// The eligible really fit.
			c := byID(cands, v.ProviderID)
			if !c.Online || !c.Reachable || c.Free.Jobs == 0 ||
				c.Free.CPU < req.Spec.CPU ||
				c.Free.Mem < req.Spec.Mem {

				t.Fatalf("%s eligible but %+v", v.ProviderID, c)
			}
			if m, ok := req.MaxRates[channels.ResourceCPU]; ok &&
				req.Spec.CPU > 0 && c.Rates[channels.ResourceCPU].
				Decimal().GreaterThan(m.Decimal()) {

				t.Fatalf("%s above max", v.ProviderID)
			}
		}
	})
}

func byID(cs []Candidate, id string) Candidate {
	for _, c := range cs {
		if c.ProviderID == id {
			return c
		}
	}
	return Candidate{}
}
