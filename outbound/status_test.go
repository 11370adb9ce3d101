package outbound

import (
	"errors"
	"testing"
)

// TestTransition checks every move between the statuses, and a few that
// name no status: only none → pending and pending → an outcome pass.
func TestTransition(t *testing.T) {
	all := []Status{StatusNone, StatusPending, StatusSucceeded,
		StatusFailed, Status("settled")}
	allowed := map[[2]Status]bool{
		{StatusNone, StatusPending}:      true,
		{StatusPending, StatusSucceeded}: true,
		{StatusPending, StatusFailed}:    true,
	}
	why := map[[2]Status]error{
		{StatusPending, StatusPending}:     ErrIntentExists,
		{StatusSucceeded, StatusPending}:   ErrIntentExists,
		{StatusFailed, StatusPending}:      ErrIntentExists,
		{StatusSucceeded, StatusSucceeded}: ErrAlreadySucceeded,
		{StatusSucceeded, StatusFailed}:    ErrAlreadySucceeded,
		{StatusFailed, StatusSucceeded}:    ErrAlreadyFailed,
		{StatusFailed, StatusFailed}:       ErrAlreadyFailed,
		{Status("settled"), StatusFailed}:  ErrUnknownStatus,
		{StatusPending, Status("settled")}: ErrUnknownStatus,
	}
	for _, from := range all {
		for _, to := range all {
			t.Run(from.String()+"→"+to.String(), func(t *testing.T) {
				err := Transition(from, to)
				if allowed[[2]Status{from, to}] {
					if err != nil {
						t.Fatalf("refused: %v", err)
					}
					return
				}
				if !errors.Is(err, ErrInvalidTransition) {
					t.Fatalf("got %v, want "+
						"ErrInvalidTransition", err)
				}
				want := why[[2]Status{from, to}]
				if want != nil && !errors.Is(err, want) {
					t.Fatalf("got %v, want %v", err, want)
				}
			})
		}
	}
}

// TestParseStatus reads the stored strings back and refuses the others,
// the empty one included: no stored row has no status.
func TestParseStatus(t *testing.T) {
	tests := []struct {
		in   string
		want Status
		ok   bool
	}{
		{"pending", StatusPending, true},
		{"succeeded", StatusSucceeded, true},
		{"failed", StatusFailed, true},
		{"", StatusNone, false},
		{"Pending", StatusNone, false},
		{"in_flight", StatusNone, false},
	}
	for _, tc := range tests {
		got, err := ParseStatus(tc.in)
		if tc.ok != (err == nil) || got != tc.want {
			t.Errorf("ParseStatus(%q) = %v, %v", tc.in, got, err)
		}
		if !tc.ok && !errors.Is(err, ErrUnknownStatus) {
			t.Errorf("ParseStatus(%q): %v, want ErrUnknownStatus",
				tc.in, err)
		}
		if tc.ok && got.Final() != (tc.want != StatusPending) {
			t.Errorf("%v final: %v", got, got.Final())
		}
	}
}
