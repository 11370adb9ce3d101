package market

import (
	"context"

	"github.com/sluice-ln/sluice/channels"
)

// Facts is what the store knows of one linked provider that the market
// needs: its card and reach from channels, its presence, and the counts its
// record is made of.
type Facts struct {
	ProviderID string
	Alias      string

	// Rates is the provider's rate card.
	Rates channels.RateCard

	// Reach is channels' last reach check of its node.
	Reach channels.ReachState

	// Presence is nil when the provider never sent a heartbeat.
	Presence *Presence

	// Jobs is how its jobs stand.
	Jobs JobTally

	// Reserved is the capacity its active jobs (JobTally.Active) hold:
	// the sum of each job's most CPU and memory per second, and their
	// count.
	Reserved Capacity

	// MeteredSeconds counts the usage records of its jobs.
	MeteredSeconds int64

	// PayoutFailures counts its failed payouts.
	PayoutFailures int64
}

// Store is what the market needs from the store. Errors not named are the
// store's own.
type Store interface {
	// UpdatePresence runs update on the provider's stored presence in
	// one transaction (found false and a zero Presence when it never
	// sent a heartbeat) and stores what update returns. A provider id no
	// link created is an error wrapping ErrNotLinked; an error from
	// update is returned and nothing is stored.
	UpdatePresence(ctx context.Context, providerID string,
		update func(prev Presence, found bool) (Presence, error)) error

	// MarketFacts returns the facts of the provider with the id (an
	// error wrapping ErrNotLinked when there is none), or with id empty
	// of every linked provider, oldest link first.
	MarketFacts(ctx context.Context, providerID string) ([]Facts, error)
}
