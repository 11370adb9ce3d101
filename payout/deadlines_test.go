package payout

import (
	"slices"
	"testing"
	"time"
)

// TestDeadlines: providers come due in time order, each once; a provider
// set twice keeps its earlier time, and one removed never comes due.
func TestDeadlines(t *testing.T) {
	at := func(s int) time.Time { return planBase.Add(time.Duration(s) * time.Second) }
	d := newDeadlines()
	if !d.next().IsZero() {
		t.Fatal("an empty set has a next time")
	}
	d.set("pc", at(3))
	d.set("pa", at(1))
	d.set("pb", at(2))
	d.set("pb", at(5)) // later: keeps 2
	d.set("pc", at(1)) // earlier: now 1
	d.set("pd", at(2))
	d.remove("pd")

	if got := d.next(); !got.Equal(at(1)) {
		t.Fatalf("next %v, want +1s", fmtOffset(got))
	}
	if got := d.popDue(at(0)); len(got) != 0 {
		t.Fatalf("due before any time: %v", got)
	}
	got := d.popDue(at(1))
	slices.Sort(got)
	if !slices.Equal(got, []string{"pa", "pc"}) {
		t.Fatalf("due at +1s: %v, want pa and pc", got)
	}
	if got := d.next(); !got.Equal(at(2)) {
		t.Fatalf("next %v, want +2s", fmtOffset(got))
	}
	if got := d.popDue(at(10)); !slices.Equal(got, []string{"pb"}) {
		t.Fatalf("due at +10s: %v, want pb alone", got)
	}
	if !d.next().IsZero() || len(d.at) != 0 {
		t.Fatalf("left after everything came due: %v", d.at)
	}
}
