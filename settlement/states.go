package settlement

import (
	"fmt"
	"slices"
)

// State is where a job is in its life. docs/jobs.md draws the transitions.
type State string

// The job states.
const (
	// StateAwaitingFunding: created, its funding invoice is open and
	// unpaid.
	StateAwaitingFunding State = "awaiting_funding"

	// StateFunded: escrow holds money, the provider's agent has not
	// reported yet.
	StateFunded State = "funded"

	// StateRunning: the agent has reported and the runway is at least
	// the buffer.
	StateRunning State = "running"

	// StateLowBalance: the runway is below the job's buffer; a top-up
	// invoice is ready for the buyer.
	StateLowBalance State = "low_balance"

	// StateSuspended: the escrow is below one second's price; usage is
	// refused until a top-up lifts it.
	StateSuspended State = "suspended"

	// StateEnded: ended by the buyer, the provider or the operator; what
	// is left in escrow is refunded. Terminal.
	StateEnded State = "ended"

	// StateExpired: the funding invoice expired unpaid. Terminal.
	StateExpired State = "expired"
)

// States returns every state in the order of a job's life.
func States() []State {
	return []State{
		StateAwaitingFunding, StateFunded, StateRunning,
		StateLowBalance, StateSuspended, StateEnded, StateExpired,
	}
}

// Known reports whether s is one of the declared states.
func (s State) Known() bool {
	return slices.Contains(States(), s)
}

// Terminal reports whether no transition leaves s.
func (s State) Terminal() bool {
	return s == StateEnded || s == StateExpired
}

// Funded reports whether a job in s holds (or held) escrow and has not
// ended: funded, running, low on balance or suspended.
func (s State) Funded() bool {
	switch s {
	case StateFunded, StateRunning, StateLowBalance, StateSuspended:
		return true
	}

	return false
}

// Chargeable reports whether usage may be charged to a job in s: only
// while it runs, low on balance or not.
func (s State) Chargeable() bool {
	return s == StateRunning || s == StateLowBalance
}

// TakesUsage reports whether a job in s accepts new usage records: funded
// (its first record starts it), running, or low on balance. A suspended
// job takes none until a top-up lifts it, so that no provider works
// unpaid; a job awaiting funding or ended takes none. Metering asks this
// of every batch.
func (s State) TakesUsage() bool {
	return s == StateFunded || s.Chargeable()
}

// Startable reports whether a job in s that its agent has not started may
// be started: funded, or low on balance (its escrow pays for some seconds,
// fewer than its buffer; metering takes its usage and a top-up invoice
// waits for the buyer). A suspended job is not: its escrow does not pay
// one second. The serving agent picks the unstarted jobs in these states,
// and the sweeper places them again when their provider does not start
// them in time.
func (s State) Startable() bool {
	return s == StateFunded || s == StateLowBalance
}

// Cause is why a job changed state; each transition is recorded with one.
type Cause string

// The causes of transitions.
const (
	// CauseFundingSettled: the job's funding invoice settled.
	CauseFundingSettled Cause = "funding_settled"

	// CauseFundingExpired: the funding invoice expired unpaid.
	CauseFundingExpired Cause = "funding_expired"

	// CauseAgentStarted: the provider's agent reported for the first
	// time (metering calls Start).
	CauseAgentStarted Cause = "agent_started"

	// CauseRunwayBelowBuffer: the runway fell below the buffer.
	CauseRunwayBelowBuffer Cause = "runway_below_buffer"

	// CauseEscrowExhausted: the escrow fell below one second's price.
	CauseEscrowExhausted Cause = "escrow_exhausted"

	// CauseTopUpSettled: a top-up invoice settled and lifted the runway.
	CauseTopUpSettled Cause = "top_up_settled"

	// CauseEndedByBuyer, CauseEndedByProvider and CauseEndedByOperator:
	// EndJob by each of them.
	CauseEndedByBuyer    Cause = "ended_by_buyer"
	CauseEndedByProvider Cause = "ended_by_provider"
	CauseEndedByOperator Cause = "ended_by_operator"

	// CauseProviderLost: the job ran a workload and its provider's
	// serving agent sent no heartbeat for the manager's LostAfter.
	CauseProviderLost Cause = "provider_lost"

	// CausePlacedAgain: the job's provider did not start it in time and
	// the market placed it on another. The state stays, unless the new
	// price lifts a job low on balance to funded (this cause) or drops
	// a funded one to low on balance (runway_below_buffer).
	CausePlacedAgain Cause = "placed_again"
)

// endCauses are the causes that end a job.
var endCauses = []Cause{
	CauseEndedByBuyer, CauseEndedByProvider, CauseEndedByOperator,
}

// startedEndCauses end a job its agent started: endCauses and the loss
// of its provider.
var startedEndCauses = append(slices.Clone(endCauses), CauseProviderLost)

// Transition is one edge of the state machine.
type Transition struct {
	From State
	To   State
}

// transitions is the state machine: each allowed edge and the causes that
// may drive it. Anything else is refused.
var transitions = map[Transition][]Cause{
	{StateAwaitingFunding, StateFunded}:  {CauseFundingSettled},
	{StateAwaitingFunding, StateExpired}: {CauseFundingExpired},
	{StateAwaitingFunding, StateEnded}:   endCauses,

	{StateFunded, StateRunning}:    {CauseAgentStarted},
	{StateFunded, StateLowBalance}: {CauseRunwayBelowBuffer},
	{StateFunded, StateSuspended}:  {CauseEscrowExhausted},
	{StateFunded, StateEnded}:      endCauses,

	{StateRunning, StateLowBalance}: {CauseRunwayBelowBuffer},
	{StateRunning, StateSuspended}:  {CauseEscrowExhausted},
	{StateRunning, StateEnded}:      startedEndCauses,

	{StateLowBalance, StateRunning}: {
		CauseTopUpSettled, CauseAgentStarted,
	},
	{StateLowBalance, StateFunded}: {
		CauseTopUpSettled, CausePlacedAgain,
	},
	{StateLowBalance, StateSuspended}: {CauseEscrowExhausted},
	{StateLowBalance, StateEnded}:     startedEndCauses,

	{StateSuspended, StateRunning}:    {CauseTopUpSettled},
	{StateSuspended, StateFunded}:     {CauseTopUpSettled},
	{StateSuspended, StateLowBalance}: {CauseTopUpSettled},
	{StateSuspended, StateEnded}:      startedEndCauses,
}

// Transitions returns every allowed edge with the causes that drive it,
// for documentation and tests.
func Transitions() map[Transition][]Cause {
	out := make(map[Transition][]Cause, len(transitions))
	for t, causes := range transitions {
		out[t] = slices.Clone(causes)
	}

	return out
}

// CheckTransition returns nil if a job may move from one state to another
// for the cause, and a *TransitionError (errors.Is ErrInvalidTransition)
// saying why not otherwise.
func CheckTransition(from, to State, cause Cause) error {
	refuse := func(format string, args ...any) error {
		return &TransitionError{
			From: from, To: to, Cause: cause,
			Reason: fmt.Sprintf(format, args...),
		}
	}

	switch {
	case !from.Known():
		return refuse("%q is not a job state", from)
	case !to.Known():
		return refuse("%q is not a job state", to)
	case from == to:
		return refuse("the job is %s already", from)
	case from == StateEnded:
		return refuse("the job has ended")
	case from == StateExpired:
		return refuse("the job expired unfunded")
	}

	causes, ok := transitions[Transition{from, to}]
	switch {
	case !ok && from == StateAwaitingFunding:
		return refuse("the job has not been funded")
	case !ok && to == StateAwaitingFunding:
		return refuse("a funded job never awaits funding again")
	case !ok && to == StateExpired:
		return refuse("only an unfunded job expires")
	case !ok && to == StateFunded:
		return refuse("a job the agent has started does not go " +
			"back to funded")
	case !ok:
		return refuse("no such transition")
	case !slices.Contains(causes, cause):
		return refuse("%s does not cause it (only %v)", cause, causes)
	}

	return nil
}
