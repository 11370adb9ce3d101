package clocktest_test

import (
	"testing"
	"time"

	"github.com/sluice-ln/sluice/clocktest"
)

func TestClock(t *testing.T) {
	start := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	c := clocktest.New(start)
	if !c.Now().Equal(start) {
		t.Fatalf("Now = %v, want %v", c.Now(), start)
	}
	c.Advance(90 * time.Second)
	if want := start.Add(90 * time.Second); !c.Now().Equal(want) {
		t.Fatalf("after Advance: %v, want %v", c.Now(), want)
	}
}

// TestTickAfterIsWallTime checks that a timer fires on the wall clock and
// not on Advance: a timer of an hour does not fire when the date moves a
// day, and one of a millisecond fires with the date untouched.
func TestTickAfterIsWallTime(t *testing.T) {
	start := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	c := clocktest.New(start)

	hour := c.TickAfter(time.Hour)
	c.Advance(24 * time.Hour)
	select {
	case <-hour:
		t.Fatal("an hour's timer fired when the date moved")
	case <-time.After(20 * time.Millisecond):
	}

	select {
	case <-c.TickAfter(time.Millisecond):
	case <-time.After(5 * time.Second):
		t.Fatal("a millisecond's timer did not fire")
	}
	if want := start.Add(24 * time.Hour); !c.Now().Equal(want) {
		t.Fatalf("Now = %v, want %v", c.Now(), want)
	}
}
