package market

import "errors"

// Bad offers. Each names the field and why in its wrapping message.
var (
	// ErrInvalidOffer is returned for an offer with a field out of its
	// bounds (see Offer.Validate).
	ErrInvalidOffer = errors.New("invalid offer")

	// ErrInvalidRequest is returned by Place for a spec or maximum rate
	// it cannot use: an empty spec, an amount over the offer bounds, a
	// maximum for a resource that is not priced.
	ErrInvalidRequest = errors.New("invalid placement request")
)

// Providers.
var (
	// ErrNotLinked is returned by Heartbeat and Record for a provider id
	// that no link created: a provider serving without a link.
	ErrNotLinked = errors.New("provider is not linked")

	// ErrNoOffer is returned for a linked provider that never sent a
	// heartbeat.
	ErrNoOffer = errors.New("provider has not offered capacity")
)

// No fit. Place returns ErrNoFit wrapped together with the sentinel of the
// constraint that excluded the most candidates, so that errors.Is finds
// both.
var (
	// ErrNoFit is returned by Place when no candidate is eligible.
	ErrNoFit = errors.New("no provider fits")

	// ErrNoProviders: there is no candidate at all (no provider has
	// ever offered capacity).
	ErrNoProviders = errors.New("no provider offers capacity")

	// ErrNoneOnline: the most candidates were offline (no heartbeat
	// within the timeout).
	ErrNoneOnline = errors.New("no provider online")

	// ErrUnreachable: the most candidates were providers whose node the
	// hub cannot pay now (channels' last reach check).
	ErrUnreachable = errors.New("provider's node not reachable for payouts")

	// ErrNoCapacity: the most candidates lacked the free capacity (CPU,
	// memory or a job slot) for the spec.
	ErrNoCapacity = errors.New("no capacity for the spec")

	// ErrNotPriced: the most candidates' rate cards do not price a
	// resource the spec asks for.
	ErrNotPriced = errors.New("resource not priced by the provider")

	// ErrAboveMaxRate: the most candidates charge more than the buyer's
	// maximum rate for some resource.
	ErrAboveMaxRate = errors.New("max rate below the provider's rate")
)
