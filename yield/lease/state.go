package lease

// State is where a lease is in its life. A lease only moves along the
// transitions CanMoveTo allows; closed, cancelled and failed are final.
//
//	awaiting_payment ──▶ paid ──▶ opening ──▶ active ──▶ expired ──▶ closing ──▶ closed
//	       │              │          │          │                      ▲
//	       ▼              ▼          ▼          └──────────────────────┘ (peer closed early)
//	   cancelled      cancelled    failed
type State string

// The lease states, as the store keeps them and the API shows them.
const (
	// StateAwaitingPayment: the hold invoice is made (or about to be:
	// the lease is stored before it), not paid yet.
	StateAwaitingPayment State = "awaiting_payment"

	// StatePaid: the buyer's payment is held by the hub, not settled;
	// a plan may accept the lease.
	StatePaid State = "paid"

	// StateOpening: a plan's action is opening the channel (recorded
	// before lnd is asked), or its funding is not confirmed yet.
	StateOpening State = "opening"

	// StateActive: the channel is open and the invoice settled; the
	// premium is recognised block by block until the expiry height.
	StateActive State = "active"

	// StateExpired: the expiry height is reached (or the premium was
	// lost); the hub closes the channel.
	StateExpired State = "expired"

	// StateClosing: the closing transaction is published, not confirmed.
	StateClosing State = "closing"

	// StateClosed: the channel closed; its capacity is back in the idle
	// vault. Final.
	StateClosed State = "closed"

	// StateCancelled: the invoice expired unpaid, or a paid lease was
	// not accepted before its payment had to be given back. Final.
	StateCancelled State = "cancelled"

	// StateFailed: lnd refused the open; the payment was given back and
	// the vault took the capital back. Final.
	StateFailed State = "failed"
)

// States lists every state in the order of a lease's life.
var States = []State{
	StateAwaitingPayment, StatePaid, StateOpening, StateActive,
	StateExpired, StateClosing, StateClosed, StateCancelled, StateFailed,
}

// next is each state's allowed next states.
var next = map[State][]State{
	StateAwaitingPayment: {StatePaid, StateCancelled},
	StatePaid:            {StateOpening, StateCancelled},
	StateOpening: {StateActive, StateFailed, StateExpired,
		StateClosing, StateClosed},
	StateActive:  {StateExpired, StateClosing, StateClosed},
	StateExpired: {StateClosing, StateClosed},
	StateClosing: {StateClosed},
}

// Valid reports whether s is one of the states.
func (s State) Valid() bool {
	for _, st := range States {
		if s == st {
			return true
		}
	}
	return false
}

// Final reports whether nothing follows s.
func (s State) Final() bool {
	return s == StateClosed || s == StateCancelled || s == StateFailed
}

// CanMoveTo reports whether a lease in s may be recorded in to. Staying
// in s is allowed (a row's other fields change).
func (s State) CanMoveTo(to State) bool {
	if s == to {
		return s.Valid()
	}
	for _, n := range next[s] {
		if n == to {
			return true
		}
	}
	return false
}

// Holds reports whether a lease in s holds vault capital: from the open
// until the close returned it.
func (s State) Holds() bool {
	switch s {
	case StateOpening, StateActive, StateExpired, StateClosing:
		return true
	}
	return false
}
