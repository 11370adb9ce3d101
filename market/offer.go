package market

import (
	"fmt"
	"time"
)

// Offer bounds. A heartbeat comes from outside, so every field is bounded:
// the bounds sit well above the largest single machines sold today (a few
// hundred cores, tens of TiB of memory), keep every sum of offers and
// reservations far inside int64, and catch unit mistakes early: memory sent
// in bytes instead of MiB is over MaxMem, CPU sent in cores instead of
// core-milliseconds per second is under MinCPU.
const (
	// MinCPU is the least CPU an offer may give: a tenth of a core. Less
	// is a unit mistake (cores sent instead of core-ms per second) or a
	// machine not worth placing on.
	MinCPU = 100

	// MaxCPU is the most CPU an offer may give: 4096 cores, in
	// core-milliseconds per second.
	MaxCPU = 4096 * 1000

	// MaxMem is the most memory an offer may give: 64 TiB, in MiB. A
	// byte count of any real machine is far above it.
	MaxMem = 64 << 20

	// MaxSlots is the most jobs an offer may run at once.
	MaxSlots = 1024

	// MaxVersion is the longest agent version string, in bytes.
	MaxVersion = 64
)

// Offer is what a provider's machine can give to Sluice's jobs, as its
// serving agent announces it in each heartbeat.
type Offer struct {
	// CPU is processor capacity in core-milliseconds per second (cores ×
	// 1000): the unit metering counts CPU in (metering.Usage.CPU, the
	// rate card's "cpu"), so a spec's CPU compares with it directly.
	CPU uint64

	// Mem is memory in MiB: what a job may hold resident, the rate card's
	// "mem" per second.
	Mem uint64

	// Slots is how many jobs the agent runs at once.
	Slots uint32

	// Version is the agent's version string, for the operator's views.
	Version string
}

// Validate checks each field against its bounds, naming the field in an
// error that wraps ErrInvalidOffer.
func (o Offer) Validate() error {
	bad := func(format string, args ...any) error {
		return fmt.Errorf("%w: %s", ErrInvalidOffer,
			fmt.Sprintf(format, args...))
	}
	switch {
	case o.CPU < MinCPU:
		return bad("cpu %d core-ms per second is below %d (a tenth "+
			"of a core; cores are counted ×1000)", o.CPU, MinCPU)
	case o.CPU > MaxCPU:
		return bad("cpu %d core-ms per second is above %d (4096 "+
			"cores)", o.CPU, MaxCPU)
	case o.Mem == 0:
		return bad("mem must be positive (MiB)")
	case o.Mem > MaxMem:
		return bad("mem %d MiB is above %d (64 TiB; is it in bytes?)",
			o.Mem, MaxMem)
	case o.Slots == 0:
		return bad("slots must be positive")
	case o.Slots > MaxSlots:
		return bad("slots %d is above %d", o.Slots, MaxSlots)
	case o.Version == "":
		return bad("version is empty")
	case len(o.Version) > MaxVersion:
		return bad("version is %d bytes, at most %d", len(o.Version),
			MaxVersion)
	}
	for _, c := range o.Version {
		if c < 0x21 || c > 0x7e {
			return bad("version %q has a character that is not "+
				"printable ASCII", o.Version)
		}
	}
	return nil
}

// Capacity is an amount of each thing an offer gives: an offer's whole,
// what running jobs reserve, or what is left.
type Capacity struct {
	// CPU in core-milliseconds per second.
	CPU uint64

	// Mem in MiB.
	Mem uint64

	// Jobs is a count of jobs (slots).
	Jobs uint32
}

// Capacity is the offer's whole capacity.
func (o Offer) Capacity() Capacity {
	return Capacity{CPU: o.CPU, Mem: o.Mem, Jobs: o.Slots}
}

// Less returns c less r, each part at least zero: running jobs may reserve
// more than a smaller later offer gives.
func (c Capacity) Less(r Capacity) Capacity {
	sub := func(a, b uint64) uint64 {
		if b >= a {
			return 0
		}
		return a - b
	}
	return Capacity{
		CPU:  sub(c.CPU, r.CPU),
		Mem:  sub(c.Mem, r.Mem),
		Jobs: uint32(sub(uint64(c.Jobs), uint64(r.Jobs))),
	}
}

// Presence is what the market keeps of a provider's heartbeats.
type Presence struct {
	ProviderID string

	// Offer is the last heartbeat's.
	Offer Offer

	// FirstSeen and LastSeen are the first and the last heartbeat.
	FirstSeen time.Time
	LastSeen  time.Time

	// Covered is the time between heartbeats that came within the
	// timeout of each other: the time the provider was seen online. A
	// gap longer than the timeout adds nothing.
	Covered time.Duration

	// Heartbeats counts the heartbeats received.
	Heartbeats int64
}

// Online reports whether the last heartbeat is within timeout of now.
func (p Presence) Online(now time.Time, timeout time.Duration) bool {
	return !p.LastSeen.IsZero() && now.Sub(p.LastSeen) <= timeout
}

// next is p after a heartbeat with offer at now: the gap since the last
// heartbeat counts as covered only when it is within timeout. A clock that
// went back counts nothing and leaves LastSeen where it was.
func (p Presence) next(offer Offer, now time.Time,
	timeout time.Duration) Presence {

	p.Offer = offer
	p.Heartbeats++
	if p.FirstSeen.IsZero() {
		p.FirstSeen, p.LastSeen = now, now
		return p
	}
	gap := now.Sub(p.LastSeen)
	if gap < 0 {
		return p
	}
	if gap <= timeout {
		p.Covered += gap
	}
	p.LastSeen = now
	return p
}

// UptimePPM is the heartbeat uptime in millionths: the covered time over
// the window from the first heartbeat to now, counting the time since the
// last heartbeat as covered while the provider is online. A provider first
// seen now has 1e6; one never seen has 0.
func (p Presence) UptimePPM(now time.Time, timeout time.Duration) uint32 {
	if p.FirstSeen.IsZero() {
		return 0
	}
	window := now.Sub(p.FirstSeen)
	covered := p.Covered
	if p.Online(now, timeout) && now.After(p.LastSeen) {
		covered += now.Sub(p.LastSeen)
	}
	if window <= 0 || covered >= window {
		return 1_000_000
	}
	// Milliseconds keep the product inside int64 for windows of
	// centuries.
	return uint32(covered.Milliseconds() * 1_000_000 /
		max(window.Milliseconds(), 1))
}
