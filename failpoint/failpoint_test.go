package failpoint

import (
	"errors"
	"reflect"
	"testing"
)

// TestParse reads good specs and refuses bad ones, each with
// ErrInvalidSpec.
func TestParse(t *testing.T) {
	tests := []struct {
		name string
		spec string
		want map[string]int
		err  bool
	}{
		{name: "empty", spec: "", want: nil},
		{name: "blank", spec: "  ", want: nil},
		{name: "one", spec: "payout-after-intent",
			want: map[string]int{"payout-after-intent": 1}},
		{name: "several with counts and spaces",
			spec: "a-1, b@3 ,c@1",
			want: map[string]int{"a-1": 1, "b": 3, "c": 1}},
		{name: "empty entry", spec: "a,,b", err: true},
		{name: "trailing comma", spec: "a,", err: true},
		{name: "upper case", spec: "Payout", err: true},
		{name: "underscore", spec: "payout_after", err: true},
		{name: "zero count", spec: "a@0", err: true},
		{name: "negative count", spec: "a@-1", err: true},
		{name: "word count", spec: "a@two", err: true},
		{name: "missing count", spec: "a@", err: true},
		{name: "missing name", spec: "@2", err: true},
		{name: "too long",
			spec: "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa",
			err:  true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := parse(tc.spec)
			if tc.err {
				if !errors.Is(err, ErrInvalidSpec) {
					t.Fatalf("parse(%q) = %v, %v; want "+
						"ErrInvalidSpec", tc.spec, got,
						err)
				}
				return
			}
			if err != nil {
				t.Fatalf("parse(%q): %v", tc.spec, err)
			}
			var at map[string]int
			if got != nil {
				at = make(map[string]int)
				for name, p := range got {
					at[name] = p.at
				}
			}
			if !reflect.DeepEqual(at, tc.want) {
				t.Fatalf("parse(%q) = %v, want %v", tc.spec, at,
					tc.want)
			}
		})
	}
}

// arm arms spec for one test, with kill counting instead of killing, and
// restores the state afterwards. It returns the kill counter.
func arm(t *testing.T, spec string) *int {
	t.Helper()
	points, err := parse(spec)
	if err != nil {
		t.Fatal(err)
	}
	oldArmed, oldKill := armed, kill
	kills := new(int)
	armed, kill = points, func() { *kills++ }
	t.Cleanup(func() { armed, kill = oldArmed, oldKill })
	return kills
}

// TestHit fires an armed point on its hit only, never an unarmed one.
func TestHit(t *testing.T) {
	tests := []struct {
		name  string
		spec  string
		hits  []string
		kills int
	}{
		{name: "unarmed", spec: "", hits: []string{"a", "a"}, kills: 0},
		{name: "first hit", spec: "a", hits: []string{"a"}, kills: 1},
		{name: "other point", spec: "a", hits: []string{"b", "b"},
			kills: 0},
		{name: "third hit", spec: "a@3",
			hits: []string{"a", "b", "a"}, kills: 0},
		{name: "third hit reached", spec: "a@3",
			hits: []string{"a", "a", "a", "a"}, kills: 1},
		{name: "two points", spec: "a,b@2",
			hits: []string{"a", "b", "b"}, kills: 2},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			kills := arm(t, tc.spec)
			for _, h := range tc.hits {
				Hit(h)
			}
			if *kills != tc.kills {
				t.Fatalf("%d kills, want %d", *kills, tc.kills)
			}
		})
	}
}

// TestArmed lists the armed points for the daemon's log.
func TestArmed(t *testing.T) {
	arm(t, "b@2,a")
	want := []string{"a@1", "b@2"}
	if got := Armed(); !reflect.DeepEqual(got, want) {
		t.Fatalf("Armed() = %v, want %v", got, want)
	}

	arm(t, "")
	if got := Armed(); len(got) != 0 {
		t.Fatalf("Armed() = %v with nothing armed", got)
	}
}

// BenchmarkHitUnarmed shows what a point costs when nothing is armed.
func BenchmarkHitUnarmed(b *testing.B) {
	old := armed
	armed = nil
	defer func() { armed = old }()
	for b.Loop() {
		Hit("payout-after-send")
	}
}
