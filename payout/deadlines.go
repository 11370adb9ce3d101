package payout

import (
	"container/heap"
	"time"
)

// deadlines are providers to look at again, each at one time, earliest
// first. Setting, removing and taking what is due cost the logarithm of
// their number, so that a payout's end costs the scheduler little however
// many providers wait for their interval.
type deadlines struct {
	// at is each watched provider's time.
	at map[string]time.Time

	// order holds the times in a heap; an entry whose time is no longer
	// its provider's (removed, or set earlier since) is dropped when it
	// comes up.
	order deadlineHeap
}

// newDeadlines returns an empty set of deadlines.
func newDeadlines() deadlines {
	return deadlines{at: make(map[string]time.Time)}
}

// set watches provider p until at; a provider already watched keeps the
// earlier of its two times, since looking early costs one read and
// looking late could hold a payout back.
func (d *deadlines) set(p string, at time.Time) {
	if cur, ok := d.at[p]; ok && !at.Before(cur) {
		return
	}
	d.at[p] = at
	heap.Push(&d.order, deadline{providerID: p, at: at})
}

// remove stops watching p; removing one not watched does nothing.
func (d *deadlines) remove(p string) {
	delete(d.at, p)
}

// popDue stops watching, and returns, the providers whose time is not
// after now, earliest first.
func (d *deadlines) popDue(now time.Time) []string {
	var out []string
	for len(d.order) > 0 && !d.order[0].at.After(now) {
		e := heap.Pop(&d.order).(deadline)
		if at, ok := d.at[e.providerID]; ok && at.Equal(e.at) {
			delete(d.at, e.providerID)
			out = append(out, e.providerID)
		}
	}
	return out
}

// next returns the earliest watched time, zero when none is watched.
func (d *deadlines) next() time.Time {
	for len(d.order) > 0 {
		e := d.order[0]
		if at, ok := d.at[e.providerID]; ok && at.Equal(e.at) {
			return e.at
		}
		heap.Pop(&d.order)
	}
	return time.Time{}
}

// deadline is one entry of deadlines' heap.
type deadline struct {
	providerID string
	at         time.Time
}

// deadlineHeap is a min-heap of deadlines by time (container/heap).
type deadlineHeap []deadline

func (h deadlineHeap) Len() int           { return len(h) }
func (h deadlineHeap) Less(i, j int) bool { return h[i].at.Before(h[j].at) }
func (h deadlineHeap) Swap(i, j int)      { h[i], h[j] = h[j], h[i] }

// Push adds x, a deadline.
func (h *deadlineHeap) Push(x any) { *h = append(*h, x.(deadline)) }

// Pop removes and returns the last entry.
func (h *deadlineHeap) Pop() any {
	old := *h
	e := old[len(old)-1]
	*h = old[:len(old)-1]
	return e
}
