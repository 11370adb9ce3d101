package market

import (
	"errors"
	"strings"
	"testing"
	"time"
)

func TestOfferValidate(t *testing.T) {
	t.Parallel()
	good := Offer{CPU: 2000, Mem: 4096, Slots: 1, Version: "v0.1.0"}
	cases := []struct {
		name string
		edit func(*Offer)
		want string
	}{
		{"good", func(*Offer) {}, ""},
		{"bounds are inclusive", func(o *Offer) {
			o.CPU, o.Mem, o.Slots = MaxCPU, MaxMem, MaxSlots
		}, ""},
		{"cpu in cores", func(o *Offer) { o.CPU = 8 }, "cpu 8"},
		{"cpu too big", func(o *Offer) { o.CPU = MaxCPU + 1 }, "cpu"},
		{"no mem", func(o *Offer) { o.Mem = 0 }, "mem must"},
		{"mem in bytes", func(o *Offer) { o.Mem = 8 << 30 }, "bytes"},
		{"no slots", func(o *Offer) { o.Slots = 0 }, "slots"},
		{"many slots", func(o *Offer) { o.Slots = MaxSlots + 1 },
			"slots"},
		{"no version", func(o *Offer) { o.Version = "" }, "version"},
		{"long version", func(o *Offer) {
			o.Version = strings.Repeat("v", MaxVersion+1)
		}, "version"},
		{"version with a space", func(o *Offer) {
			o.Version = "v 1"
		}, "printable"},
	}
	for _, tc := range cases {
		o := good
		tc.edit(&o)
		err := o.Validate()
		if tc.want == "" {
			if err != nil {
				t.Errorf("%s: %v", tc.name, err)
			}
			continue
		}
		if !errors.Is(err, ErrInvalidOffer) ||
			!strings.Contains(err.Error(), tc.want) {

			t.Errorf("%s: %v, want %q", tc.name, err, tc.want)
		}
	}
}

func TestCapacityLess(t *testing.T) {
	t.Parallel()
	c := Capacity{CPU: 4000, Mem: 100, Jobs: 2}
	got := c.Less(Capacity{CPU: 1000, Mem: 200, Jobs: 2})
	if got != (Capacity{CPU: 3000}) {
		t.Fatalf("%+v", got)
	}
}

// TestPresence walks heartbeats through a gap and checks covered time and
// uptime.
func TestPresence(t *testing.T) {
	t.Parallel()
	const timeout = 15 * time.Second
	t0 := time.Date(2026, 5, 6, 7, 0, 0, 0, time.UTC)
	o := Offer{CPU: 1000, Mem: 1, Slots: 1, Version: "v"}
	var p Presence
	if p.Online(t0, timeout) || p.UptimePPM(t0, timeout) != 0 {
		t.Fatal("a provider never seen is online or up")
	}
	p = p.next(o, t0, timeout)
	if p.FirstSeen != t0 || p.Covered != 0 ||
		p.UptimePPM(t0, timeout) != 1_000_000 {

		t.Fatalf("first: %+v", p)
	}
	// Every 5 s for a minute: all covered.
	for i := 1; i <= 12; i++ {
		p = p.next(o, t0.Add(time.Duration(i)*5*time.Second), timeout)
	}
	if p.Covered != time.Minute || p.Heartbeats != 13 {
		t.Fatalf("after a minute: %+v", p)
	}
	// 20 s later it is offline; its uptime counts the minute of 80 s.
	at := t0.Add(80 * time.Second)
	if p.Online(at, timeout) {
		t.Fatal("online 20 s after the last heartbeat")
	}
	if got := p.UptimePPM(at, timeout); got != 750_000 {
		t.Fatalf("uptime %d", got)
	}
	// Within the timeout the time since the last heartbeat counts.
	if got := p.UptimePPM(t0.Add(70*time.Second), timeout); got !=
		1_000_000 {

		t.Fatalf("online uptime %d", got)
	}
	// A heartbeat after the gap covers nothing of it.
	p = p.next(o, t0.Add(2*time.Minute), timeout)
	if p.Covered != time.Minute || p.LastSeen != t0.Add(2*time.Minute) {
		t.Fatalf("after the gap: %+v", p)
	}
	// A clock that went back moves nothing.
	back := p.next(o, t0, timeout)
	if back.LastSeen != p.LastSeen || back.Covered != p.Covered {
		t.Fatalf("back: %+v", back)
	}
}

func TestRecord(t *testing.T) {
	t.Parallel()
	r := NewRecord(JobTally{EndedByBuyer: 3, EndedByProvider: 2,
		EndedByOperator: 1, NeverStarted: 4, Lost: 2, Lapsed: 3,
		Active: 5}, 60, 2, nil, time.Now(), time.Minute)
	want := Record{Completed: 5, Failed: 3, Abandoned: 7, Active: 5,
		MeteredSeconds: 60, PayoutFailures: 2}
	if r != want || r.Finished() != 15 {
		t.Fatalf("%+v", r)
	}
	cases := []struct {
		a, b Record
		want int
	}{
		{Record{}, Record{}, 0},
		{Record{Completed: 1}, Record{}, 0},
		{Record{Failed: 1}, Record{}, 1},
		{Record{Completed: 9, Failed: 1}, Record{Completed: 1,
			Abandoned: 1}, -1},
		{Record{Completed: 2, Failed: 1}, Record{Completed: 4,
			Abandoned: 2}, 0},
	}
	for _, tc := range cases {
		if got := compareFailureShare(tc.a, tc.b); got != tc.want {
			t.Errorf("%+v vs %+v: %d, want %d", tc.a, tc.b, got,
				tc.want)
		}
	}
}

// FuzzOfferValidate checks that any offer is either refused with
// ErrInvalidOffer or inside every bound, so that what the store and
// placement get from a heartbeat is always in range.
func FuzzOfferValidate(f *testing.F) {
	f.Add(uint64(2000), uint64(4096), uint32(1), "v0.1.0")
	f.Add(uint64(0), uint64(0), uint32(0), "")
	f.Add(uint64(MaxCPU), uint64(MaxMem), uint32(MaxSlots), "x")
	f.Fuzz(func(t *testing.T, cpu, mem uint64, slots uint32, v string) {
		o := Offer{CPU: cpu, Mem: mem, Slots: slots, Version: v}
		err := o.Validate()
		if err != nil {
			if !errors.Is(err, ErrInvalidOffer) {
				t.Fatalf("%+v: %v is not ErrInvalidOffer", o, err)
			}
			return
		}
		if cpu < MinCPU || cpu > MaxCPU || mem == 0 || mem > MaxMem ||
			slots == 0 || slots > MaxSlots || v == "" ||
			len(v) > MaxVersion || strings.ContainsAny(v, " \t\n") {

			t.Fatalf("%+v accepted", o)
		}
	})
}
