package payout

import (
	"errors"

	"github.com/sluice-ln/sluice/channels"
)

var (
	// ErrInvalidPolicy is returned for a payout policy or override with a
	// value out of range; the message names the field and why.
	ErrInvalidPolicy = errors.New("invalid payout policy")

	// ErrInvalidConfig is returned by NewScheduler for a Config it cannot
	// use; the message names the field.
	ErrInvalidConfig = errors.New("invalid payout config")

	// ErrProviderNotFound is channels' sentinel (channels owns
	// providers), returned wrapped for a provider id that names no
	// linked provider.
	ErrProviderNotFound = channels.ErrProviderNotFound

	// ErrPayoutNotFound is returned for a payout id that names no payout.
	ErrPayoutNotFound = errors.New("payout not found")

	// ErrNothingToPay is returned by Executor.Pay when the provider's
	// payable, under its policy and what its route can carry, makes no
	// payout: nothing payable, or less than the minimum.
	ErrNothingToPay = errors.New("nothing to pay")

	// ErrProviderBusy is returned by Executor.Pay when the provider
	// already has a payout pending: at most one is in flight per
	// provider.
	ErrProviderBusy = errors.New("provider has a payout in flight")

	// ErrRouteBlocked is returned by Executor.Pay when the hub has no
	// route to the provider that carries even the minimum; the
	// provider's payout status says so and until when payouts wait.
	ErrRouteBlocked = errors.New("no route carries the payout")

	// ErrAlreadyStarted is returned by Scheduler.Start on a scheduler
	// that was started before.
	ErrAlreadyStarted = errors.New("payout scheduler already started")
)
