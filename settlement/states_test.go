package settlement

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
)

// allCauses is every declared cause.
var allCauses = []Cause{
	CauseFundingSettled, CauseFundingExpired, CauseAgentStarted,
	CauseRunwayBelowBuffer, CauseEscrowExhausted, CauseTopUpSettled,
	CauseEndedByBuyer, CauseEndedByProvider, CauseEndedByOperator,
}

// TestTransitionTable spells out every allowed transition with its causes.
// Together with TestEveryOtherTransitionRefused it covers every pair of
// states and every cause.
func TestTransitionTable(t *testing.T) {
	started := []Cause{CauseEndedByBuyer, CauseEndedByProvider,
		CauseEndedByOperator, CauseProviderLost}
	ends := []Cause{CauseEndedByBuyer, CauseEndedByProvider,
		CauseEndedByOperator}
	want := map[Transition][]Cause{
		{StateAwaitingFunding, StateFunded}:  {CauseFundingSettled},
		{StateAwaitingFunding, StateExpired}: {CauseFundingExpired},
		{StateAwaitingFunding, StateEnded}:   ends,
		{StateFunded, StateRunning}:          {CauseAgentStarted},
		{StateFunded, StateLowBalance}:       {CauseRunwayBelowBuffer},
		{StateFunded, StateSuspended}:        {CauseEscrowExhausted},
		{StateFunded, StateEnded}:            ends,
		{StateRunning, StateLowBalance}:      {CauseRunwayBelowBuffer},
		{StateRunning, StateSuspended}:       {CauseEscrowExhausted},
		{StateRunning, StateEnded}:           started,
		{StateLowBalance, StateRunning}: {CauseTopUpSettled,
			CauseAgentStarted},
		{StateLowBalance, StateFunded}: {CauseTopUpSettled,
			CausePlacedAgain},
		{StateLowBalance, StateSuspended}: {CauseEscrowExhausted},
		{StateLowBalance, StateEnded}:     started,
		{StateSuspended, StateRunning}:    {CauseTopUpSettled},
		{StateSuspended, StateFunded}:     {CauseTopUpSettled},
		{StateSuspended, StateLowBalance}: {CauseTopUpSettled},
		{StateSuspended, StateEnded}:      started,
	}

	got := Transitions()
	if len(got) != len(want) {
		t.Errorf("%d transitions, want %d", len(got), len(want))
	}
	for tr, causes := range want {
		for _, c := range causes {
			if err := CheckTransition(tr.From, tr.To, c); err != nil {
				t.Errorf("%s → %s (%s): %v", tr.From, tr.To, c,
					err)
			}
		}
		if !slices.Equal(got[tr], causes) {
			t.Errorf("%s → %s: causes %v, want %v", tr.From, tr.To,
				got[tr], causes)
		}
	}
}

// TestEveryOtherTransitionRefused tries every pair of states with every
// cause and checks that what the table does not allow is refused with a
// *TransitionError naming the states, the cause and a reason.
func TestEveryOtherTransitionRefused(t *testing.T) {
	allowed := Transitions()
	for _, from := range States() {
		for _, to := range States() {
			for _, c := range allCauses {
				ok := slices.Contains(
					allowed[Transition{from, to}], c)
				err := CheckTransition(from, to, c)
				if ok {
					continue
				}
				name := fmt.Sprintf("%s→%s(%s)", from, to, c)
				if !errors.Is(err, ErrInvalidTransition) {
					t.Errorf("%s: err = %v, want "+
						"ErrInvalidTransition", name, err)
					continue
				}
				var te *TransitionError
				if !errors.As(err, &te) || te.From != from ||
					te.To != to || te.Cause != c ||
					te.Reason == "" {

					t.Errorf("%s: error %#v", name, err)
				}
			}
		}
	}
}

// TestRefusedTransitionReasons checks the reason given for typical
// refusals, so that the API's message says what is wrong.
func TestRefusedTransitionReasons(t *testing.T) {
	tests := []struct {
		from, to State
		cause    Cause
		reason   string
	}{
		{StateAwaitingFunding, StateRunning, CauseAgentStarted,
			"has not been funded"},
		{StateAwaitingFunding, StateLowBalance, CauseRunwayBelowBuffer,
			"has not been funded"},
		{StateEnded, StateRunning, CauseTopUpSettled, "has ended"},
		{StateEnded, StateEnded, CauseEndedByBuyer, "ended already"},
		{StateExpired, StateFunded, CauseFundingSettled,
			"expired unfunded"},
		{StateRunning, StateFunded, CauseTopUpSettled,
			"does not go back to funded"},
		{StateRunning, StateAwaitingFunding, CauseTopUpSettled,
			"never awaits funding"},
		{StateFunded, StateExpired, CauseFundingExpired,
			"only an unfunded job expires"},
		{StateRunning, StateRunning, CauseAgentStarted,
			"running already"},
		{StateFunded, StateRunning, CauseTopUpSettled,
			"does not cause it"},
		{StateRunning, StateSuspended, CauseRunwayBelowBuffer,
			"does not cause it"},
		{StateSuspended, StateRunning, CauseAgentStarted,
			"does not cause it"},
		{"bogus", StateRunning, CauseAgentStarted, "not a job state"},
		{StateRunning, "bogus", CauseAgentStarted, "not a job state"},
	}
	for _, tc := range tests {
		err := CheckTransition(tc.from, tc.to, tc.cause)
		if err == nil || !strings.Contains(err.Error(), tc.reason) {
			t.Errorf("%s → %s (%s): err = %v, want it to say %q",
				tc.from, tc.to, tc.cause, err, tc.reason)
		}
	}
}

func TestStatePredicates(t *testing.T) {
	tests := []struct {
		s                                   State
		terminal, funded, chargeable, usage bool
	}{
		{StateAwaitingFunding, false, false, false, false},
		{StateFunded, false, true, false, true},
		{StateRunning, false, true, true, true},
		{StateLowBalance, false, true, true, true},
		{StateSuspended, false, true, false, false},
		{StateEnded, true, false, false, false},
		{StateExpired, true, false, false, false},
		{"bogus", false, false, false, false},
	}
	for _, tc := range tests {
		if got := tc.s.Terminal(); got != tc.terminal {
			t.Errorf("%s.Terminal() = %v", tc.s, got)
		}
		if got := tc.s.Funded(); got != tc.funded {
			t.Errorf("%s.Funded() = %v", tc.s, got)
		}
		if got := tc.s.Chargeable(); got != tc.chargeable {
			t.Errorf("%s.Chargeable() = %v", tc.s, got)
		}
		if got := tc.s.TakesUsage(); got != tc.usage {
			t.Errorf("%s.TakesUsage() = %v", tc.s, got)
		}
		if got := tc.s.Known(); got != (tc.s != "bogus") {
			t.Errorf("%s.Known() = %v", tc.s, got)
		}
	}
}

// TestSolvencyMovesAreAllowed checks that every move solvency can ask for
// from a funded state is in the table with the cause solvencyCause gives
// it.
func TestSolvencyMovesAreAllowed(t *testing.T) {
	for _, from := range []State{StateFunded, StateRunning,
		StateLowBalance, StateSuspended} {

		for _, h := range []Health{Healthy, Low, Exhausted} {
			// A job is suspended only after it ran; a funded job
			// has not started.
			started := from != StateFunded
			to := TargetState(h, started)
			if to == from {
				continue
			}
			cause := solvencyCause(from, to)
			if err := CheckTransition(from, to, cause); err != nil {
				t.Errorf("%s with %v health: %v", from, h, err)
			}
		}
	}
}
